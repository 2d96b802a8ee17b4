"""The settings the fleet test services share (the Redis from ``FLEET_REDIS_URL``, plain log lines)."""

from __future__ import annotations

import os
from typing import Any

REDIS_URL = os.environ.get("FLEET_REDIS_URL", "redis://127.0.0.1:6379/0")


def service_settings(**extra: Any) -> dict[str, Any]:
    """Server settings over the Redis transport on ``REDIS_URL`` (1 s receive timeout), with ``extra`` keys.

    ``FLEET_CONCURRENCY`` (default 1) sets ``concurrency``: above 1 the service runs the concurrent worker.
    ``FLEET_SENTINEL`` (``host:port`` of a Sentinel) makes the transport's (and so the fleet's) Redis the Sentinel
    backend's, its services discovered (no ``sentinel_services``); the handlers still record on ``REDIS_URL``.
    """
    backend: dict[str, Any] = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [REDIS_URL]}}
    if os.environ.get("FLEET_SENTINEL"):
        backend = {"backend_type": "redis.sentinel", "backend_layer_kwargs": {"hosts": [os.environ["FLEET_SENTINEL"]]}}
    return {
        "concurrency": int(os.environ.get("FLEET_CONCURRENCY", "1")),
        "transport": {
            "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
            "kwargs": {
                **backend,
                "receive_timeout_in_seconds": 1,
            },
        },
        "logging": {
            "version": 1,
            "formatters": {"plain": {"format": "%(process)d %(threadName)s %(levelname)s %(name)s: %(message)s"}},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
            "root": {"handlers": ["stderr"], "level": "INFO"},
            "disable_existing_loggers": False,
        },
        **extra,
    }
