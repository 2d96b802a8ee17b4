"""pysoa_like: services and clients over Redis lists, a drop-in successor of PySOA 1.4.9.

The names users touch most are re-exported here (imported lazily on first access, so
``import pysoa_like`` stays cheap); every public name also lives at its PySOA module path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pysoa_like.version import __version__, __version_info__

if TYPE_CHECKING:
    from pysoa_like.client.async_client import AsyncClient
    from pysoa_like.client.client import Client
    from pysoa_like.common.errors import Error, PySOAError
    from pysoa_like.common.types import ActionRequest, ActionResponse, JobRequest, JobResponse
    from pysoa_like.server.action import Action
    from pysoa_like.server.errors import ActionError, JobError
    from pysoa_like.server.server import Server

    BaseServer = Server

__all__ = [
    "Action",
    "ActionError",
    "ActionRequest",
    "ActionResponse",
    "AsyncClient",
    "BaseServer",
    "Client",
    "Error",
    "JobError",
    "JobRequest",
    "JobResponse",
    "PySOAError",
    "Server",
    "__version__",
    "__version_info__",
]

_LAZY = {
    "Action": ("pysoa_like.server.action", "Action"),
    "ActionError": ("pysoa_like.server.errors", "ActionError"),
    "ActionRequest": ("pysoa_like.common.types", "ActionRequest"),
    "ActionResponse": ("pysoa_like.common.types", "ActionResponse"),
    "AsyncClient": ("pysoa_like.client.async_client", "AsyncClient"),
    "BaseServer": ("pysoa_like.server.server", "Server"),
    "Client": ("pysoa_like.client.client", "Client"),
    "Error": ("pysoa_like.common.errors", "Error"),
    "JobError": ("pysoa_like.server.errors", "JobError"),
    "JobRequest": ("pysoa_like.common.types", "JobRequest"),
    "JobResponse": ("pysoa_like.common.types", "JobResponse"),
    "PySOAError": ("pysoa_like.common.errors", "PySOAError"),
    "Server": ("pysoa_like.server.server", "Server"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(importlib.import_module(module_name), attribute)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
