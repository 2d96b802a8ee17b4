"""``pysoa_like.dashboard.serve`` (uvicorn) and the stop signals: a clean stop, whenever the signal comes."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from pysoa_like.dashboard import serve


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that only answers the lifespan protocol."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_as_soon_as_the_address_is_announced_stops_serving_cleanly(stop: signal.Signals) -> None:
    """A signal that comes right after the announcement (before uvicorn catches signals itself) makes serve()
    return: it neither kills the process nor is lost (the server then served for ever), and the handlers found
    before are put back."""
    before = signal.getsignal(stop)
    serve(_app, host="127.0.0.1", port=0, ready=lambda url: os.kill(os.getpid(), stop))
    assert signal.getsignal(stop) is before
