"""Apps on a shared phone: the iOS App Privacy Report, attribution of flows to apps, and the report per app.

- ``privacyreport``: reads the App Privacy Report (NDJSON) into per-app domain and access rows;
- ``attribute``: gives capture flows the app that reported their names (never over PCAPdroid's record);
- ``scope``: splits the flows by ``--app``, lists the other apps, and a verdict line per mail-capable app;
- ``domainverdict``: the domain-level verdict from the App Privacy Report alone (no capture);
- ``table``: the report's ``app_report`` (per app: domains with hits, times, owners; resource accesses);
- ``analyze``: ``maildetour analyze`` with ``--app`` and ``--app-report``, over the pipeline's public parts.
"""
