"""PySOA 1.4.9's serializers as a filter; runs INSIDE the PySOA venv (never imports pysoa_like).

Reads one JSON document from stdin and prints one JSON line on stdout:

- ``{"op": "encode", "serializer": "msgpack"|"json", "values": [<tagged>, ...]}`` encodes each
  ``{"value": v}`` with PySOA's serializer: ``{"results": [{"hex": "..."} | {"error": "..."}]}``.
- ``{"op": "decode", "serializer": ..., "hexes": ["..."], "expected": [<tagged>, ...]}`` decodes each
  message with PySOA's serializer and compares its ``"value"`` with the expected value, types included:
  ``{"results": [{"decoded": <tagged>, "same": bool} | {"error": "..."}]}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import tagged  # type: ignore[import-not-found,unused-ignore]
from pysoa.common.serializer import JSONSerializer, MsgpackSerializer  # type: ignore[import-not-found,unused-ignore]

_SERIALIZERS = {"json": JSONSerializer, "msgpack": MsgpackSerializer}


def _error(exc: Exception) -> dict[str, str]:
    return {"error": f"{type(exc).__name__}: {exc}"}


def encode_all(serializer: Any, values: list[Any]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for value in values:
        try:
            results.append({"hex": serializer.dict_to_blob({"value": tagged.decode(value)}).hex()})
        except Exception as exc:
            results.append(_error(exc))
    return results


def decode_all(serializer: Any, hexes: list[str], expected: list[Any]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for blob_hex, want in zip(hexes, expected, strict=True):
        try:
            decoded = serializer.blob_to_dict(bytes.fromhex(blob_hex))["value"]
            results.append({"decoded": tagged.encode(decoded), "same": tagged.same(decoded, tagged.decode(want))})
        except Exception as exc:
            results.append(_error(exc))
    return results


def main() -> None:
    spec = json.loads(sys.stdin.read())
    serializer = _SERIALIZERS[spec["serializer"]]()
    if spec["op"] == "encode":
        results = encode_all(serializer, spec["values"])
    else:
        results = decode_all(serializer, spec["hexes"], spec["expected"])
    sys.stdout.write(json.dumps({"results": results}) + "\n")


if __name__ == "__main__":
    main()
