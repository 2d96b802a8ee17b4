"""The routing of the clients a server makes for nested calls (``request.client``, ``request.async_client``).

:class:`NestedClientsMixin` is a base of :class:`~pysoa_like.server.server.Server`, whose ``make_client`` and
``make_async_client`` build those clients over the server's ``client_routing`` setting, validated once per server
here rather than by every client a job makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pysoa_like.client.client import Client
from pysoa_like.common.settings import copy_containers

__all__ = ["NestedClientsMixin"]


def _builds_like_stock_client(client_class: Any, stock: Any) -> bool:
    """Whether ``client_class`` is the stock client or a subclass keeping its constructor and validation."""
    try:
        return bool(
            issubclass(client_class, stock)
            and client_class.__init__ is stock.__init__
            and client_class._validate is stock._validate
        )
    except TypeError:  # not a class
        return False


class NestedClientsMixin:
    """The validated ``client_routing`` of a server's nested-call clients."""

    client_class: ClassVar[Any]
    settings: Any
    #: (client settings class, copy of ``client_routing``, validated routing): see :meth:`_client_routing`.
    _validated_client_routing: tuple[Any, Any, dict[str, Any]] | None = None

    def _client_routing(
        self, client_kwargs: Mapping[str, Any], client_class: Any = None, stock: Any = Client
    ) -> Mapping[str, Any]:
        """``client_routing`` for :meth:`make_client`, with each service's settings validated once per server.

        The stock client takes settings objects of its ``settings_class`` as they are, so a job's
        client no longer validates every routed service's settings again (tens of microseconds
        each). The validated copy is reused while ``client_routing`` still equals what it was made
        from. Any other client class (its own constructor or validation, or a ``settings_class``
        argument) gets the raw dict, as do settings that fail validation, so the client raises the
        same error it always did. ``client_class`` and ``stock`` name another client (the
        ``AsyncClient`` of ``request.async_client``); by default :attr:`client_class` and ``Client``.
        """
        routing: Mapping[str, Any] = self.settings["client_routing"]
        if not routing or "settings_class" in client_kwargs:
            return routing
        if client_class is None:
            client_class = self.client_class
        if not _builds_like_stock_client(client_class, stock):
            return routing
        settings_class = client_class.settings_class
        cached = self._validated_client_routing
        if cached is not None and cached[0] is settings_class:
            try:
                unchanged = bool(cached[1] == routing)
            except Exception:
                unchanged = False
            if unchanged:
                return cached[2]
        try:
            validated = {
                name: value if isinstance(value, settings_class) else settings_class(value)
                for name, value in routing.items()
            }
        except Exception:
            return routing
        self._validated_client_routing = (settings_class, copy_containers(routing), validated)
        return validated
