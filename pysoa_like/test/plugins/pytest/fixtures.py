"""pytest fixtures for testing a service: a client of it, action stubs, and throwaway Redis.

Installed with pysoa_like and registered by the ``pytest11`` entry point ``pysoa_like``, so the
fixtures are available in every test without configuration. Supply the service under test as a
``server_class`` fixture of module (or wider) scope, e.g. in your ``conftest.py``::

    @pytest.fixture(scope="module")
    def server_class():
        return MyServer

    def test_square(service_client):
        assert service_client.call_action("square", {"number": 3}).body == {"square": 9}

Fixtures (scope):

* ``server_settings`` (module): ``SOA_SERVER_SETTINGS`` (or ``settings``) of the module named by
  ``$PYSOA_SETTINGS_MODULE`` (Django's ``settings.SOA_SERVER_SETTINGS`` when
  ``server_class.use_django``); override it to give settings directly.
* ``service_client_settings`` (module): client settings reaching ``server_class`` on the local transport.
* ``service_client_class`` (module): a ``Client`` subclass whose ``call_action(action, body=None,
  service_name=None, **kwargs)`` defaults to the service under test.
* ``service_client`` (module): an instance of it; its in-process server is torn down after the module.
* ``async_service_client_class`` and ``async_service_client`` (module): the same for
  :class:`~pysoa_like.client.async_client.AsyncClient` (``await async_service_client.call_action("square",
  {...})``). They are plain fixtures holding an ``AsyncClient``, so they work with any way of running
  async tests (pytest-asyncio, anyio's plugin, or ``asyncio.run`` in a plain test) and from any event loop.
* ``action_stubber`` (function): ``action_stubber(service, action, body=None, errors=None,
  side_effect=None, ...)`` starts a :class:`~pysoa_like.test.stub_service.stub_action` and returns its
  mock; every stub is stopped after the test.
* ``event_bus`` (function): the process's in-memory
  :class:`~pysoa_like.events.testing.LocalEventBus`, emptied first: what clients and servers on the
  local transport published (``event_bus.assert_published("user.created", {"id": 1})``), and
  ``event_bus.deliver(server)`` to run a server's handlers on it.
* ``pysoa_redis_server`` (session), ``pysoa_redis_url`` and ``pysoa_redis_client`` (function, flushed
  first): a throwaway ``redis-server`` from :mod:`pysoa_like.test.redis`.
* ``pysoa_redis_service_client`` (function): runs ``server_class`` in a thread over the Redis transport
  on the throwaway Redis and returns a ``service_client_class`` client that calls it over Redis.
* ``pysoa_redis_async_service_client`` (function): the same server, and an ``async_service_client_class``
  client calling it over Redis with the asyncio driver.

The Redis fixtures import :mod:`pysoa_like.test.redis` only when used, and fail with a clear message
if that module or a ``redis-server`` binary is not available.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import redis

    from pysoa_like.client.async_client import AsyncClient
    from pysoa_like.client.client import Client
    from pysoa_like.events.testing import LocalEventBus
    from pysoa_like.server.server import Server
    from pysoa_like.test.redis import RedisServerProcess
    from pysoa_like.test.stub_service import StubActionMock

__all__ = [
    "action_stubber",
    "async_service_client",
    "async_service_client_class",
    "event_bus",
    "pysoa_redis_async_service_client",
    "pysoa_redis_client",
    "pysoa_redis_server",
    "pysoa_redis_service_client",
    "pysoa_redis_url",
    "server_class",
    "server_settings",
    "service_client",
    "service_client_class",
    "service_client_settings",
]

_REDIS_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"
_REDIS_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
# How long a server thread blocks per receive: the most a fixture teardown waits for it to notice shutdown.
_SERVER_RECEIVE_TIMEOUT_SECONDS = 0.25


@pytest.fixture(scope="module")
def server_class() -> type[Server]:
    """The service under test; this default fails, telling you to define your own."""
    pytest.fail(
        "Define a 'server_class' fixture (scope='module' or wider) returning the Server subclass under test, "
        "e.g. in conftest.py:\n\n    @pytest.fixture(scope='module')\n    def server_class():\n        return MyServer",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def server_settings(server_class: type[Server]) -> Mapping[str, Any]:
    """The settings of the service under test, found through ``$PYSOA_SETTINGS_MODULE`` (or Django)."""
    from pysoa_like.test.server import server_settings_from_environment

    try:
        return server_settings_from_environment(server_class)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def service_client_settings(server_class: type[Server], server_settings: Mapping[str, Any]) -> dict[str, Any]:
    """Client settings that reach the service under test through the local transport.

    Fails the tests of the module, as a server refuses to start, when an action's schema cannot check a body.
    """
    from pysoa_like.server._main import StartupError, check_action_schemas
    from pysoa_like.test.server import local_client_settings

    try:
        check_action_schemas(server_class)
    except StartupError as exc:
        pytest.fail(str(exc), pytrace=False)
    return local_client_settings(server_class, server_settings)


def _make_client_class(service_name: str) -> type[Client]:
    from pysoa_like.client.client import Client
    from pysoa_like.common.types import ActionResponse

    class ServiceClient(Client):
        """A client whose ``call_action`` calls the service under test unless ``service_name`` is given."""

        def call_action(  # type: ignore[override]
            self, action: str, body: dict[str, Any] | None = None, service_name: str | None = None, **kwargs: Any
        ) -> ActionResponse:
            return super().call_action(service_name or service_name_default, action, body=body, **kwargs)

    service_name_default = service_name
    return ServiceClient


@pytest.fixture(scope="module")
def service_client_class(server_class: type[Server]) -> type[Client]:
    """A ``Client`` subclass whose ``call_action(action, body=None, service_name=None)`` calls the tested service."""
    return _make_client_class(str(server_class.service_name))


@pytest.fixture(scope="module")
def service_client(service_client_class: type[Client], service_client_settings: Mapping[str, Any]) -> Iterator[Client]:
    """A client of the service under test (in-process); the server is torn down after the module."""
    from pysoa_like.test.server import close_client

    client = service_client_class(service_client_settings)
    yield client
    close_client(client)


def _make_async_client_class(service_name: str) -> type[AsyncClient]:
    from pysoa_like.client.async_client import AsyncClient
    from pysoa_like.common.types import ActionResponse

    class AsyncServiceClient(AsyncClient):
        """An AsyncClient whose ``call_action`` calls the service under test unless ``service_name`` is given."""

        async def call_action(  # type: ignore[override]
            self, action: str, body: dict[str, Any] | None = None, service_name: str | None = None, **kwargs: Any
        ) -> ActionResponse:
            return await super().call_action(service_name or service_name_default, action, body=body, **kwargs)

    service_name_default = service_name
    return AsyncServiceClient


def _close_async_client(client: AsyncClient) -> None:
    """Close an AsyncClient from a fixture's teardown (no event loop runs there)."""
    import asyncio

    asyncio.run(client.aclose())


@pytest.fixture(scope="module")
def async_service_client_class(server_class: type[Server]) -> type[AsyncClient]:
    """An ``AsyncClient`` subclass whose ``call_action(action, body=None, service_name=None)`` calls this service."""
    return _make_async_client_class(str(server_class.service_name))


@pytest.fixture(scope="module")
def async_service_client(
    async_service_client_class: type[AsyncClient], service_client_settings: Mapping[str, Any]
) -> Iterator[AsyncClient]:
    """An AsyncClient of the service under test (in-process, in a worker thread); closed after the module."""
    client = async_service_client_class(service_client_settings)
    yield client
    _close_async_client(client)


@pytest.fixture
def event_bus() -> LocalEventBus:
    """The process-wide in-memory event bus (local transport), emptied before the test."""
    from pysoa_like.events.testing import reset_local_event_bus

    return reset_local_event_bus()


@pytest.fixture
def action_stubber() -> Iterator[Callable[..., StubActionMock]]:
    """A factory of ``stub_action`` stubs (same arguments); returns each mock and stops every stub after the test."""
    from pysoa_like.test.stub_service import stub_action

    started: list[stub_action] = []

    def stub(*args: Any, **kwargs: Any) -> StubActionMock:
        stubber = stub_action(*args, **kwargs)
        started.append(stubber)
        return stubber.start()

    yield stub
    for stubber in reversed(started):
        stubber.stop()


def _redis_module() -> Any:
    try:
        from pysoa_like.test import redis as redis_helpers
    except ImportError as exc:  # the Redis helpers ship separately in some versions
        pytest.fail(f"The throwaway Redis fixtures need pysoa_like.test.redis, which cannot be imported: {exc}")
    return redis_helpers


@pytest.fixture(scope="session")
def pysoa_redis_server() -> Iterator[RedisServerProcess]:
    """A throwaway ``redis-server`` for the whole session (stopped and removed at the end)."""
    helpers = _redis_module()
    try:
        server = helpers.RedisServerProcess().start()
    except helpers.RedisProcessError as exc:
        pytest.fail(f"Could not start a throwaway redis-server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pysoa_redis_url(pysoa_redis_server: RedisServerProcess) -> str:
    """The URL of the session's throwaway Redis, flushed before the test."""
    pysoa_redis_server.flush()
    return pysoa_redis_server.url


@pytest.fixture
def pysoa_redis_client(pysoa_redis_server: RedisServerProcess) -> Iterator[redis.Redis]:
    """A redis-py client of the session's throwaway Redis, flushed before the test."""
    pysoa_redis_server.flush()
    with pysoa_redis_server.client() as client:
        yield client


def _client_served_over_redis(
    server_class: type[Server],
    server_settings: Mapping[str, Any],
    redis_url: str,
    make_client: Callable[[dict[str, Any]], Any],
    close_client: Callable[[Any], None],
) -> Iterator[Any]:
    """A client made by ``make_client`` from the settings reaching the service under test, which serves over Redis
    in a thread until the client is closed with ``close_client``."""
    transport_kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}}
    settings = dict(server_settings)
    settings["transport"] = {
        "path": _REDIS_SERVER_TRANSPORT,
        "kwargs": dict(transport_kwargs, receive_timeout_in_seconds=_SERVER_RECEIVE_TIMEOUT_SECONDS),
    }
    server = server_class(settings)
    # The client (and the modules it imports) is made before the server's thread starts: CPython 3.11 before
    # 3.11.8 may fail to compile a module while another thread compiles one ("SystemError: AST constructor recursion
    # depth mismatch"), and pytest compiles this package's modules itself when it first imports them (it rewrites
    # the asserts of a plugin's whole distribution).
    client = make_client(
        {str(server_class.service_name): {"transport": {"path": _REDIS_CLIENT_TRANSPORT, "kwargs": transport_kwargs}}}
    )
    thread = threading.Thread(target=server.run, name=f"pysoa-like-test-{server_class.service_name}", daemon=True)
    thread.start()
    try:
        yield client
    finally:
        close_client(client)
        server.shutting_down = True
        thread.join(timeout=10)


@pytest.fixture
def pysoa_redis_service_client(
    server_class: type[Server],
    server_settings: Mapping[str, Any],
    service_client_class: type[Client],
    pysoa_redis_url: str,
) -> Iterator[Client]:
    """A client calling the service under test over real Redis, with the server running in a thread."""
    from pysoa_like.test.server import close_client

    yield from _client_served_over_redis(
        server_class, server_settings, pysoa_redis_url, service_client_class, close_client
    )


@pytest.fixture
def pysoa_redis_async_service_client(
    server_class: type[Server],
    server_settings: Mapping[str, Any],
    async_service_client_class: type[AsyncClient],
    pysoa_redis_url: str,
) -> Iterator[AsyncClient]:
    """An AsyncClient calling the service under test over real Redis (asyncio driver), the server in a thread."""
    yield from _client_served_over_redis(
        server_class, server_settings, pysoa_redis_url, async_service_client_class, _close_async_client
    )
