"""The server's side of at-least-once delivery: the ``delivery`` setting, and which actions are idempotent.

The transport does the work (the Redis transport's ``enable_at_least_once``); the server tells it the settings
and, per action name, whether running the action twice for one request is safe (``idempotent = True`` on the
action class). See ``docs/delivery.rst``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pysoa_like.common.transport.base import ServerTransport
from pysoa_like.core.delivery import AT_LEAST_ONCE, DeliveryOptions

__all__ = ["DeliveryMixin"]


class DeliveryMixin:
    """Wires the ``delivery`` setting to the transport; see :class:`~pysoa_like.server.server.Server`."""

    action_class_map: ClassVar[Mapping[str, Any]]
    settings: Any
    transport: ServerTransport

    def action_is_idempotent(self, action_name: str) -> bool:
        """Whether running the named action twice for one request is safe (its class says ``idempotent = True``).

        An unknown name counts as idempotent: the job is answered ``UNKNOWN`` without running anything. So do the
        built-in ``status`` and ``introspect`` actions unless the service maps those names to its own classes.

        Args:
            action_name: The action's name in a job request.
        """
        action_class = self.action_class_map.get(action_name)
        if action_class is None:
            return True
        return getattr(action_class, "idempotent", False) is True

    def enable_delivery(self) -> None:
        """Turn at-least-once delivery on in the transport when the settings ask for it (called by the constructor).

        Raises:
            ValueError: ``delivery`` is ``at_least_once`` but the transport cannot deliver at least once (only the
                Redis transport can), or the service name cannot be used with it.
        """
        if self.settings.get("delivery") != AT_LEAST_ONCE:
            return
        enable = getattr(self.transport, "enable_at_least_once", None)
        if enable is None:
            raise ValueError(
                f"Invalid server settings: delivery is {AT_LEAST_ONCE!r}, which needs the Redis transport; "
                f"{type(self.transport).__name__} delivers at most once (set delivery to 'at_most_once')"
            )
        options = self.settings["at_least_once"]
        enable(
            DeliveryOptions(
                max_deliveries=options["max_deliveries"],
                worker_ttl_seconds=options["worker_ttl_seconds"],
                idempotency_window_seconds=options["idempotency_window_seconds"],
                dead_letter_max_length=options["dead_letter_max_length"],
            ),
            self.action_is_idempotent,
        )

    def stop_delivery(self) -> None:
        """Acknowledge what was answered, give back the rest and stop advertising the worker (when it stops)."""
        stop = getattr(self.transport, "stop_at_least_once", None)
        if stop is not None:
            stop()
