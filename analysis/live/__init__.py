"""The mitmproxy addon's live session (``session``) and the scrubbing of the flows mitmproxy keeps (``scrub``):
front-end code shared by ``addons/maildetour.py``, which calls only their public methods."""
