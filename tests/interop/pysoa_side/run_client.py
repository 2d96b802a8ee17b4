"""A PySOA 1.4.9 client for the interop tests; runs INSIDE the PySOA venv (never imports pysoa_like).

Reads one JSON document from stdin::

    {"services": {"<service name>": {...RedisClientTransport kwargs...}, ...},
     "calls": [{"method": "call_action", "kwargs": <tagged kwargs>}, ...]}

builds one ``pysoa.client.client.Client`` for all services, runs the calls in order and prints
``{"outcomes": [...]}`` (see :mod:`calls`) as one JSON line on stdout. ``hosts`` may be JSON lists
``[host, port]`` and ``default_serializer_config`` ``"json"`` or ``"msgpack"``, as for
``run_server.py``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import calls  # type: ignore[import-not-found,unused-ignore]
from pysoa.client.client import Client  # type: ignore[import-not-found,unused-ignore]
from run_server import transport_settings  # type: ignore[import-not-found,unused-ignore]


def main() -> None:
    spec = json.loads(sys.stdin.read())
    config: dict[str, Any] = {}
    for service_name, transport_kwargs in spec["services"].items():
        transport = transport_settings(transport_kwargs)
        transport["path"] = "pysoa.common.transport.redis_gateway.client:RedisClientTransport"
        config[service_name] = {"transport": transport}
    client = Client(config)
    outcomes = calls.run_calls(client, spec["calls"])
    sys.stdout.write(json.dumps({"outcomes": outcomes}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
