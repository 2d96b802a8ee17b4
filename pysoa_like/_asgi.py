"""Serving an ASGI application of the ``web`` extra (the dashboard, the gateway) with uvicorn."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import Any

__all__ = ["check_allowed_hosts", "serve"]


def check_allowed_hosts(hosts: Any, name: str) -> list[str]:
    """The host names a page may be asked for (``Host``, without the port), checked before anything is served.

    Each is a name (``api.example.com``, ``127.0.0.1``, ``::1``), a wildcard of subdomains (``*.example.com``)
    or ``*`` (any). Starlette's host check would refuse another wildcard only when the first request comes in,
    with an ``AssertionError`` that stopped the server after it announced its address.

    Args:
        hosts: The names.
        name: The setting or option they come from, for the message (``allowed_hosts``, ``--allowed-host``).

    Returns:
        The names, as a list (a generator given is read once, here).

    Raises:
        ValueError: Not a list of such names, or an empty one (which would refuse every request); the message
            starts with ``name``.
    """
    if isinstance(hosts, str) or not isinstance(hosts, Iterable):
        raise ValueError(f"{name} must be a list of host names, got {hosts!r}")
    names = list(hosts)
    if not names:
        # Answering to no host name at all would refuse every request: never what was meant.
        raise ValueError(
            f'{name} must name at least one host (or "*" for any), got an empty list: list the host names the page '
            "is reached by (api.example.com, *.example.com), or leave the setting out to answer any"
        )
    for host in names:
        wildcard = isinstance(host, str) and host.startswith("*.")
        rest = host[2:] if wildcard else host
        if host != "*" and (
            not isinstance(host, str) or not rest or "*" in rest or any(c.isspace() or c in "/?#@" for c in rest)
        ):
            raise ValueError(f"{name}: {host!r} is not a host name (api.example.com), a wildcard (*.example.com) or *")
    return names


def serve(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8050,
    ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve an ASGI application with uvicorn until SIGINT or SIGTERM.

    Args:
        app: The application (the dashboard's or the gateway's ``create_app``).
        host: The address to listen on.
        port: The port (0: a free one).
        ready: Called with the page's URL once the address is listened on.
        log_level: uvicorn's log level.

    Raises:
        OSError: The address cannot be listened on (in use, not this host's, no permission).
    """
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, so asyncio sets TCP_NODELAY on accepted connections (it checks the proto; with 0 every
    # answer written in two parts waited for the client's delayed ACK: 40 ms a request on a kept-alive connection).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    try:
        # Stop signals are taken from before the address is announced: one that comes before uvicorn catches
        # them itself stops it as soon as it starts.
        with _stop_signals_stop(server):
            if ready is not None:
                ready(f"http://{shown_host}:{bound_port}/")
            server.run(sockets=[sock])
    finally:
        sock.close()


@contextlib.contextmanager
def _stop_signals_stop(server: Any) -> Iterator[None]:
    """Have SIGINT and SIGTERM stop ``server`` (a ``uvicorn.Server``) gracefully, whenever they come.

    uvicorn catches both signals only while it serves: after it has stopped it puts back the handlers it found
    and raises the signal again for them. With the default handlers, that killed the process after a clean stop
    (status -15 for SIGTERM) or raised ``KeyboardInterrupt`` (Ctrl-C), and a signal that came before uvicorn
    caught them killed it at once. With these, a stop signal at any time makes uvicorn stop gracefully (or not
    start serving), and the command returns and exits 0.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(number: int, frame: FrameType | None) -> None:
        server.should_exit = True

    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, stop) for number in stops}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
