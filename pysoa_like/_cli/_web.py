"""What the web commands (``dashboard``, ``gateway``) share: the extra check, host names, serving until stopped."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from pysoa_like._cli._common import EXIT_OK, CommandError, Output
from pysoa_like.common._extras import install_extra

__all__ = ["check_web_command", "loopback_names", "serve_until_stopped"]


def check_web_command(command: str, port: int) -> None:
    """Refuse to start without the ``web`` extra or with a port out of range.

    Raises:
        CommandError: Either problem, in one line.
    """
    if importlib.util.find_spec("starlette") is None or importlib.util.find_spec("uvicorn") is None:
        raise CommandError(f"the {command} needs the web extra: {install_extra('web')}")
    if not 0 <= port <= 65535:
        raise CommandError(f"--port must be between 0 and 65535, got {port}")


def loopback_names(host: str) -> list[str] | None:
    """The host names a page listening on ``host`` answers by default: loopback names, or any (``None``)."""
    if host in ("localhost", "::1") or host.startswith("127."):
        return ["localhost", "127.0.0.1", "::1", "[::1]", host]
    return None


def serve_until_stopped(app: Any, host: str, port: int, output: Output, announce: Callable[[str], str]) -> int:
    """Serve ``app`` until SIGINT or SIGTERM; ``announce(url)`` is written to stderr once it listens.

    Raises:
        CommandError: The address cannot be listened on.
    """
    from pysoa_like._asgi import serve

    def ready(url: str) -> None:
        output.stderr.write(announce(url) + "\n")
        output.stderr.flush()

    try:
        serve(app, host=host, port=port, ready=ready)
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return EXIT_OK
