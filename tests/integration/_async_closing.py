"""Closing an AsyncClient while something it started is under way: how that ended, and how long after the close."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Coroutine
from typing import Any

from pysoa_like.client.async_client import AsyncClient


async def closed_while_under_way(
    client: AsyncClient, under_way: Coroutine[Any, Any, Any], after: float
) -> tuple[BaseException | None, float]:
    """``client`` closed ``after`` seconds into ``under_way`` (which must still be under way then): the exception
    ``under_way`` ended with (``None`` if it did not end within 10 s of the close: it is cancelled then), and the
    seconds from the close to its end. Garbage is collected before returning, so that asyncio has reported any
    exception never retrieved to the loop's exception handler."""
    task = asyncio.ensure_future(under_way)
    await asyncio.sleep(after)
    assert not task.done()
    started = time.monotonic()
    await client.aclose()
    await asyncio.wait([task], timeout=10)
    ended = time.monotonic() - started
    if not task.done():
        task.cancel()
        return None, ended
    gc.collect()
    return task.exception(), ended
