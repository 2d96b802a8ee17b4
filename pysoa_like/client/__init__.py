"""The client side: :class:`Client` calls actions on services."""

from __future__ import annotations

from pysoa_like.client.client import Client

__all__ = ["Client"]
