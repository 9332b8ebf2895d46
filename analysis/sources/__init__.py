"""mitmproxy as a source: flow files (``mitm``), the one converter to Flow records (``mitmflows``, shared with
the live addon's session in ``analysis.live``) and the canary search in what clients sent (``mitmcanary``)."""
