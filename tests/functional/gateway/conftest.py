"""The ``shop`` service running on the functional tests' Redis, and gateways in front of it.

The service runs under ``pysoa-like serve`` (three workers, so a slow call does not hold up the
others) for the whole package. Each gateway is the real ASGI app served by uvicorn on a free loopback
port in a thread of the test process, called over HTTP with httpx.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
import uvicorn

from pysoa_like.client.client import Client
from pysoa_like.gateway import create_app
from pysoa_like.test.redis import RedisServerProcess
from tests.functional.conftest import Runner, kill_runners, spawn_runner, wait_for
from tests.functional.gateway import shop

CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"


@pytest.fixture(scope="package")
def shop_redis_url(redis_server: RedisServerProcess) -> str:
    """The functional Redis, flushed once for the gateway tests."""
    redis_server.flush()
    return redis_server.url


def shop_client_settings(redis_url: str, **extra: Any) -> dict[str, Any]:
    """Client settings of the shop service on ``redis_url`` (``extra``: resilience settings)."""
    kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}}
    return {"shop": {"transport": {"path": CLIENT_TRANSPORT, "kwargs": kwargs}, **extra}}


def _answers(client: Client) -> bool:
    try:
        client.call_action("shop", "status", {"verbose": False}, timeout=1)
        return True
    except Exception:
        return False


@pytest.fixture(scope="package")
def shop_service(shop_redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """The shop service under the runner with three workers, until the package's tests are done."""
    log = tmp_path_factory.mktemp("shop") / "shop.log"
    command = [sys.executable, "-m", "pysoa_like", "serve", "tests.functional.gateway.shop:ShopServer"]
    command += ["--settings", "tests.functional.gateway.shop", "--fork", "3"]
    runner = spawn_runner(command, {"GATEWAY_SHOP_REDIS_URL": shop_redis_url}, log)
    try:
        client = Client(shop_client_settings(shop_redis_url))
        wait_for(lambda: _answers(client), timeout=30)
        yield runner
    finally:
        if runner.process.poll() is None:
            with contextlib.suppress(Exception):
                runner.terminate(15)
        kill_runners([runner])


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY, as serve() does
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="gateway-under-test", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


GatewayFactory = Callable[..., httpx.Client]


@pytest.fixture
def make_gateway(shop_service: Runner, shop_redis_url: str) -> Iterator[GatewayFactory]:
    """Start a gateway in front of the shop with these settings; returns an httpx client of it.

    Keywords: the gateway settings (``expose`` defaults to the shop's), and ``client_settings``.
    """
    stack = contextlib.ExitStack()

    def make(client_settings: Mapping[str, Any] | None = None, **settings: Any) -> httpx.Client:
        settings.setdefault("expose", shop.GATEWAY_SETTINGS["expose"])
        app = create_app(client_settings or shop_client_settings(shop_redis_url), settings)
        url = stack.enter_context(serving(app))
        return stack.enter_context(httpx.Client(base_url=url, timeout=30))

    with stack:
        yield make


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> httpx.Client:
    """An httpx client of a gateway with the shop's gateway settings."""
    return make_gateway(timeout=5)
