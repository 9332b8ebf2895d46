"""Run one lab server in its own process: ``python -m analysis.lab.service CONFIG.json``.

The config names the kind (``dns``, ``submission`` or ``vendor``) and its settings; the process prints
``ready`` on stdout once it listens and runs until SIGTERM. Passwords come from the environment variable
the config names, never from the file.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path


def _serve(config: dict) -> object:
    kind = config["kind"]
    if kind == "dns":
        from analysis.lab.dnsserver import DnsServer

        server = DnsServer(config["address"], config["port"], config["hosts"], config["log_path"])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
    if kind == "submission":
        from analysis.lab.smtpserver import start_submission

        password = os.environ.get(config["password_env"], "")
        if not password:
            raise SystemExit(f"lab submission server: ${config['password_env']} is not set")
        controller = start_submission(
            config["address"], config["port"], Path(config["cert"]), Path(config["key"]), config["username"],
            password, Path(config["log_path"]), Path(config["spool"]), config["hostname"],
        )

        class Closer:
            def close(self) -> None:
                controller.stop()

        return Closer()
    if kind == "vendor":
        from analysis.lab.vendor import VendorConfig, VendorServer

        fields = {k: v for k, v in config.items() if k != "kind"}
        server = VendorServer(VendorConfig(**fields))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
    raise SystemExit(f"unknown lab service kind {kind!r}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m analysis.lab.service CONFIG.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        config = json.load(fh)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    server = _serve(config)
    print("ready", flush=True)
    done.wait()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
