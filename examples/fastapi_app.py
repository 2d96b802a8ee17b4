"""A FastAPI app calling the example services through AsyncClient, without blocking its event loop.

The app's lifespan owns one :class:`~pysoa_like.client.async_client.AsyncClient` (made at startup, closed at
shutdown) and every endpoint shares it: calls from concurrent requests are in flight together on its
connections, and the loop keeps serving other requests meanwhile (``/ping`` answers at once while slow calls
wait). Run it beside the example services (``make demo`` starts them; see ``examples/settings.py`` for the
Redis URL, ``PYSOA_LIKE_DEMO_REDIS_URL``)::

    uvicorn examples.fastapi_app:app --port 8000
    curl http://127.0.0.1:8000/square/7              # {"square": 49}
    curl 'http://127.0.0.1:8000/sum_of_squares?numbers=1&numbers=2&numbers=3'
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request

from examples.settings import client_settings
from pysoa_like import AsyncClient
from pysoa_like.client.errors import CallActionError
from pysoa_like.common.transport.errors import MessageReceiveTimeout, PySOATransportError

# Each call waits at most this long for its service.
CALL_TIMEOUT_SECONDS = 5


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the app's AsyncClient at startup and close it (its connections) at shutdown."""
    async with AsyncClient(client_settings()) as client:
        app.state.services = client
        yield


app = FastAPI(title="pysoa_like example", lifespan=lifespan)


def _services(request: Request) -> AsyncClient:
    client: AsyncClient = request.app.state.services
    return client


async def _call(request: Request, service: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """Call ``action`` through the app's AsyncClient; its body, or the HTTP error its failure stands for.

    The service's caller errors are HTTP 400 (with the service's errors), a timeout 504, other failures 502.
    """
    try:
        response = await _services(request).call_action(service, action, body, timeout=CALL_TIMEOUT_SECONDS)
    except CallActionError as exc:
        errors = [{"code": e.code, "message": e.message, "field": e.field} for a in exc.actions for e in a.errors]
        raise HTTPException(status_code=400, detail=errors) from exc
    except MessageReceiveTimeout as exc:
        raise HTTPException(status_code=504, detail="The service did not answer in time") from exc
    except PySOATransportError as exc:
        raise HTTPException(status_code=502, detail=f"The service could not be reached: {exc}") from exc
    body_out: dict[str, Any] = response.body
    return body_out


@app.get("/square/{number}")
async def square(number: int, request: Request) -> dict[str, Any]:
    """The square of ``number``, from the calculator service."""
    return {"square": (await _call(request, "calculator", "square", {"number": number}))["square"]}


@app.get("/sum_of_squares")
async def sum_of_squares(request: Request, numbers: list[int] = Query(...)) -> dict[str, Any]:  # noqa: B008
    """The sum of the squares of ``numbers``: the report service, which calls the calculator for each."""
    body = await _call(request, "report", "sum_of_squares", {"numbers": numbers})
    return {"sum_of_squares": body["sum_of_squares"]}


@app.get("/add")
async def add(request: Request, numbers: list[int] = Query(default=[])) -> dict[str, Any]:  # noqa: B008
    """The sum of ``numbers`` (none is the calculator's caller error: HTTP 400)."""
    return {"sum": (await _call(request, "calculator", "add", {"numbers": numbers}))["sum"]}


@app.get("/ping")
async def ping() -> dict[str, bool]:
    """Answers at once, whatever the calls in flight."""
    return {"pong": True}
