"""Every public module's ``__all__`` is complete and importable, at PySOA's paths."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import pysoa_like


def _public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(pysoa_like.__path__, "pysoa_like."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts):
            continue
        # Optional integrations import their extra at module import time.
        if ".django" in info.name or info.name.startswith("pysoa_like.test.plugins"):
            continue
        names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", _public_modules())
def test_module_all_names_exist(module_name: str) -> None:
    """Each name listed in a public module's __all__ can be imported from it."""
    module = importlib.import_module(module_name)
    for name in getattr(module, "__all__", []):
        assert hasattr(module, name), f"{module_name}.__all__ lists missing name {name!r}"


def test_top_level_exports() -> None:
    """The top-level package re-exports the names users touch most."""
    from pysoa_like.client.client import Client
    from pysoa_like.server.action import Action
    from pysoa_like.server.server import Server

    assert pysoa_like.Client is Client
    assert pysoa_like.Server is Server
    assert pysoa_like.BaseServer is Server
    assert pysoa_like.Action is Action
    assert set(pysoa_like.__all__) <= set(dir(pysoa_like))
    with pytest.raises(AttributeError):
        _ = pysoa_like.NoSuchThing  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("module_name", "name"),
    [
        ("pysoa_like.client.client", "Client"),
        ("pysoa_like.client.client", "ServiceHandler"),
        ("pysoa_like.client.client", "ClientBase"),
        ("pysoa_like.client.client", "FutureSOAResponse"),
        ("pysoa_like.client.middleware", "ClientMiddleware"),
        ("pysoa_like.client.expander", "ExpansionConverter"),
        ("pysoa_like.client.settings", "ClientSettings"),
        ("pysoa_like.client.errors", "CallActionError"),
        ("pysoa_like.common.types", "JobRequest"),
        ("pysoa_like.common.errors", "Error"),
        ("pysoa_like.common.constants", "ERROR_CODE_SERVER_ERROR"),
        ("pysoa_like.common.compatibility", "ContextVar"),
        ("pysoa_like.common.compatibility", "set_running_loop"),
        ("pysoa_like.common.logging", "PySOALogContextFilter"),
        ("pysoa_like.common.logging", "RecursivelyCensoredDictWrapper"),
        ("pysoa_like.common.serializer", "MsgpackSerializer"),
        ("pysoa_like.common.serializer.base", "Serializer"),
        ("pysoa_like.common.serializer.msgpack_serializer", "MsgpackSerializer"),
        ("pysoa_like.common.serializer.json_serializer", "JSONSerializer"),
        ("pysoa_like.common.settings", "SOASettings"),
        ("pysoa_like.common.transport.base", "ClientTransport"),
        ("pysoa_like.common.transport.errors", "MessageReceiveTimeout"),
        ("pysoa_like.common.transport.local", "LocalClientTransport"),
        ("pysoa_like.common.transport.local", "LocalServerTransport"),
        ("pysoa_like.server", "BaseServer"),
        ("pysoa_like.server.server", "Server"),
        ("pysoa_like.server.action", "Action"),
        ("pysoa_like.server.action.status", "BaseStatusAction"),
        ("pysoa_like.server.action.status", "StatusActionFactory"),
        ("pysoa_like.server.action.introspection", "IntrospectionAction"),
        ("pysoa_like.server.action.switched", "SwitchedAction"),
        ("pysoa_like.server.types", "EnrichedActionRequest"),
        ("pysoa_like.server.types", "EnrichedJobRequest"),
        ("pysoa_like.server.types", "Client"),
        ("pysoa_like.server.types", "ERROR_CODE_UNKNOWN"),
        ("pysoa_like.server.types", "ERROR_CODE_SERVER_ERROR"),
        ("pysoa_like.server.internal.types", "RequestSwitchSet"),
        ("pysoa_like.server.middleware", "ServerMiddleware"),
        ("pysoa_like.server.coroutine", "CoroutineMiddleware"),
        ("pysoa_like.server.errors", "ActionError"),
        ("pysoa_like.server.schemas", "JobRequestSchema"),
        ("pysoa_like.server.settings", "ServerSettings"),
        ("pysoa_like.utils", "dict_to_hashable"),
        ("pysoa_like.utils", "get_python_interpreter_arguments"),
    ],
)
def test_pysoa_paths(module_name: str, name: str) -> None:
    """A PySOA import path with 'pysoa' renamed to 'pysoa_like' finds the same public name."""
    assert hasattr(importlib.import_module(module_name), name)


def test_client_base_is_importable_with_the_client() -> None:
    """``ClientBase``, the blocking and asyncio clients' base class, is importable from the client's module."""
    from pysoa_like.client.async_client import AsyncClient
    from pysoa_like.client.client import Client, ClientBase

    assert issubclass(Client, ClientBase)
    assert issubclass(AsyncClient, ClientBase)
