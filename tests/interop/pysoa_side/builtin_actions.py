"""PySOA 1.4.9's built-in ``introspect`` and ``status`` answers; runs INSIDE the PySOA venv (never imports pysoa_like).

Reads ``{}`` from stdin and prints one JSON line: ``{"introspect": <body>, "status": <body>}`` for a
service with no actions of its own, called through PySOA's local transport.
"""

from __future__ import annotations

import json
import sys

from pysoa.client.client import Client  # type: ignore[import-not-found,unused-ignore]
from pysoa.server.server import Server  # type: ignore[import-not-found,unused-ignore]


class EmptyServer(Server):  # type: ignore[misc]
    """A service with only the built-in actions."""

    service_name = "empty"
    action_class_map: dict[str, object] = {}


def main() -> None:
    json.load(sys.stdin)
    transport = {
        "path": "pysoa.common.transport.local:LocalClientTransport",
        "kwargs": {"server_class": EmptyServer, "server_settings": {}},
    }
    client = Client({"empty": {"transport": transport}})
    bodies = {name: client.call_action("empty", name, {}).body for name in ("introspect", "status")}
    print(json.dumps(bodies))


if __name__ == "__main__":
    main()
