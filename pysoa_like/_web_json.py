"""The JSON answer of the ``web`` extra's applications (the gateway, the dashboard): any string written safely."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

__all__ = ["JSONAnswer"]


class JSONAnswer(JSONResponse):
    """A JSON answer that any string can be written into.

    Starlette writes JSON as UTF-8, which has no form for a lone UTF-16 surrogate (``"\\ud800"`` in JSON text):
    such strings reach the applications legally, in request bodies (as JSON escapes), in replies (MessagePack
    carries them, as PySOA writes them) and in the registry's records of them. An answer holding one is written
    with every non-ASCII character as a JSON escape instead, which any JSON parser reads back to the same strings.
    """

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")
