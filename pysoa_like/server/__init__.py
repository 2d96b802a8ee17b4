"""The server side: :class:`~pysoa_like.server.server.Server` (also exported as ``BaseServer``).

``Server`` is imported lazily on first access, so importing a submodule such as
``pysoa_like.server.errors`` does not pull in the whole server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pysoa_like.server.server import Server

    BaseServer = Server

__all__ = ["BaseServer", "Server"]


def __getattr__(name: str) -> Any:
    if name in ("Server", "BaseServer"):
        from pysoa_like.server.server import Server

        return Server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
