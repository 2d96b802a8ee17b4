"""The one seam between the gateway and the client that makes its calls.

The app sees only :class:`ServiceCaller`: one coroutine that runs a job and returns its
:class:`~pysoa_like.common.types.JobResponse` (job and action errors included, never raised), and
one that releases the client. :func:`make_caller` picks the implementation: :class:`AsyncClientCaller`,
the :class:`~pysoa_like.client.async_client.AsyncClient`, whose calls are coroutines of the gateway's
event loop (no thread per call; replies routed by request id, so any number of calls share its
connections).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.common.types import JobResponse

__all__ = ["AsyncClientCaller", "ServiceCaller", "make_caller"]


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


class AsyncClientCaller:
    """A :class:`ServiceCaller` over an :class:`~pysoa_like.client.async_client.AsyncClient`.

    Args:
        client_settings: Service name -> client settings (as for ``AsyncClient``; every transport needs an
            asyncio twin, as the Redis and local transports have).
    """

    def __init__(self, client_settings: Mapping[str, Any]) -> None:
        self.client = AsyncClient(client_settings)

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
        """Run the job as a coroutine of the running loop (see :class:`ServiceCaller`)."""
        response: JobResponse = await self.client.call_actions(
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
        return response

    async def aclose(self) -> None:
        """Close the client's connections (those of the running loop)."""
        await self.client.aclose()


def make_caller(client_settings: Mapping[str, Any]) -> ServiceCaller:
    """The caller the gateway uses (the one line to change to switch clients)."""
    return AsyncClientCaller(client_settings)
