"""A service with private actions behind the API token middleware, logging everything at DEBUG."""

from __future__ import annotations

import os
from typing import Any

from pysoa_like.auth import current_identity
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

#: The static token of the "reports" subject (the tests send it, and look for it in the logs).
REPORTS_TOKEN = "reports-secret-token-4f1c9a77"
#: The HS256 signing key the service accepts signed tokens of.
SIGNING_KEY = "functional-signing-key-" + "0" * 16


class SecretAction(Action):
    """Private: says who called."""

    private = True

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        identity = current_identity()
        return {"subject": identity.subject if identity else None}


class CrashAction(Action):
    """Private, and fails with an unexpected exception (a SERVER_ERROR with a traceback)."""

    private = True

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise RuntimeError("the private action failed on purpose")


class AuthServer(Server):
    """The service of the auth functional tests."""

    service_name = "auth_functional"
    action_class_map = {"secret": SecretAction, "crash": CrashAction}


SOA_SERVER_SETTINGS: dict[str, Any] = {
    "transport": {
        "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
        "kwargs": {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {"hosts": [os.environ.get("FUNCTIONAL_REDIS_URL", "redis://127.0.0.1:6379/0")]},
            "receive_timeout_in_seconds": 1,
        },
    },
    "middleware": [
        {
            "path": "pysoa_like.auth:ApiTokenMiddleware",
            "kwargs": {"tokens": {"reports": REPORTS_TOKEN}, "signing_keys": {"main": SIGNING_KEY}},
        }
    ],
    "request_log_success_level": "DEBUG",
    "logging": {
        "version": 1,
        "formatters": {"plain": {"format": "%(process)d %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"handlers": ["stderr"], "level": "DEBUG"},
        "disable_existing_loggers": False,
    },
}
