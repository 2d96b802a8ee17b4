"""Client settings: one per service in the ``Client`` configuration (PySOA's ``ClientSettings``)."""

from __future__ import annotations

from pysoa_like.common.fields import ClassConfigurationSchema, List, Nullable, UnicodeString
from pysoa_like.common.settings import SOASettings

__all__ = ["ClientSettings"]

# Where the default transport lives; it is only imported when a settings object is built.
DEFAULT_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"


class ClientSettings(SOASettings):
    """The settings of a client for one service.

    Keys: ``transport`` (a ``ClientTransport`` class configuration, default the Redis client
    transport), ``middleware`` (``ClientMiddleware`` class configurations, default ``[]``),
    ``metrics`` (default the no-op recorder), ``minimum_version`` (default ``None``): calls are
    refused with ``ServiceVersionError`` while no live instance of the service, in the service registry,
    has at least this version, and ``api_token`` (default ``None``): the API token sent in the context of
    every request to the service, for its private actions (a call's own ``context`` wins). Base classes
    are named lazily (as strings), so this module imports neither the transports nor the client.
    """

    schema = {
        "transport": ClassConfigurationSchema(
            base_class="pysoa_like.common.transport.base:ClientTransport",
            default_path=DEFAULT_CLIENT_TRANSPORT,
            description="The client transport class and its constructor kwargs",
        ),
        "middleware": List(
            ClassConfigurationSchema(base_class="pysoa_like.client.middleware:ClientMiddleware"),
            description="The client middleware applied to every request, outermost first",
        ),
        "minimum_version": Nullable(
            UnicodeString(description="Refuse calls while no live instance of the service has this version or later")
        ),
        "api_token": Nullable(
            UnicodeString(description="The API token sent in the context of every request (for private actions)")
        ),
    }

    defaults = {
        "transport": {"path": DEFAULT_CLIENT_TRANSPORT},
        "minimum_version": None,
        "api_token": None,
    }
