"""The one seam between the gateway and the client that makes its calls.

The app sees only :class:`ServiceCaller`: one coroutine that runs a job and returns its
:class:`~pysoa_like.common.types.JobResponse` (job and action errors included, never raised), and
one that releases the client. :func:`make_caller` picks the implementation: today
:class:`ThreadedCaller`, the blocking :class:`~pysoa_like.client.client.Client` run in worker
threads (it is thread-safe: replies are routed by request id).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Protocol

import anyio.to_thread

from pysoa_like.client.client import Client
from pysoa_like.common.types import JobResponse

__all__ = ["ServiceCaller", "ThreadedCaller", "make_caller"]


class ServiceCaller(Protocol):
    """Runs jobs for the gateway."""

    async def call_job(
        self,
        service: str,
        actions: list[dict[str, Any]],
        *,
        continue_on_error: bool,
        timeout: float,
        switches: list[int],
        correlation_id: str,
        context: Mapping[str, Any],
    ) -> JobResponse:
        """Run one job and return its response; transport failures and timeouts are raised."""
        ...

    async def aclose(self) -> None:
        """Release the client's connections."""
        ...


class ThreadedCaller:
    """A :class:`ServiceCaller` over the blocking client, each call in a worker thread.

    Args:
        client_settings: Service name -> client settings (as for :class:`Client`).
        max_concurrent_calls: Worker threads (and so calls in flight) at most.
    """

    def __init__(self, client_settings: Mapping[str, Any], max_concurrent_calls: int) -> None:
        self.client = Client(client_settings)
        self._max = max_concurrent_calls
        self._limiter: anyio.CapacityLimiter | None = None

    async def call_job(
        self,
        service: str,
        actions: list[dict[str, Any]],
        *,
        continue_on_error: bool,
        timeout: float,
        switches: list[int],
        correlation_id: str,
        context: Mapping[str, Any],
    ) -> JobResponse:
        """Run the job in a worker thread (see :class:`ServiceCaller`)."""
        if self._limiter is None:  # made in the event loop that uses it
            self._limiter = anyio.CapacityLimiter(self._max)
        call = functools.partial(
            self.client.call_actions,
            service,
            actions,
            raise_job_errors=False,
            raise_action_errors=False,
            continue_on_error=continue_on_error,
            timeout=timeout,
            switches=switches,
            correlation_id=correlation_id,
            context=dict(context),
        )
        response: JobResponse = await anyio.to_thread.run_sync(call, limiter=self._limiter)
        return response

    async def aclose(self) -> None:
        """Nothing to release: the blocking client's connections close with the process."""


def make_caller(client_settings: Mapping[str, Any], max_concurrent_calls: int) -> ServiceCaller:
    """The caller the gateway uses (the one line to change to switch clients)."""
    return ThreadedCaller(client_settings, max_concurrent_calls)
