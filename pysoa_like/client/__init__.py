"""The client side: :class:`Client` calls actions on services; :class:`AsyncClient` is its asyncio twin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pysoa_like.client.client import Client

if TYPE_CHECKING:
    from pysoa_like.client.async_client import AsyncClient

__all__ = ["AsyncClient", "Client"]


def __getattr__(name: str) -> Any:
    # Imported on first use: a process that never uses asyncio does not import it for the client.
    if name == "AsyncClient":
        from pysoa_like.client.async_client import AsyncClient

        return AsyncClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
