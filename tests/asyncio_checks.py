"""Checks for asyncio code shared by the tests: that nothing is handed to a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

_T = TypeVar("_T")


class NoWorkerThreads(ThreadPoolExecutor):
    """A default executor that fails whatever is handed to it (``asyncio.to_thread``, ``run_in_executor(None)``)."""

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        raise AssertionError(f"{getattr(fn, '__qualname__', fn)!r} was handed to a worker thread")


def forbid_worker_threads() -> None:
    """Make the running loop refuse to hand work to its default executor."""
    asyncio.get_running_loop().set_default_executor(NoWorkerThreads(max_workers=1))
