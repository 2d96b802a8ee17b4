"""A service for the concurrent-worker tests, run by ``pysoa-like serve`` (or ``python -m`` this module).

Actions: ``nap`` (``async def run``: awaits ``seconds`` of I/O), ``doze`` (a plain action: ``time.sleep``),
``nap_function`` (a coroutine function in ``action_class_map``), ``where`` (where it ran: thread, deadline,
identity of the running job), ``stuck_async`` (awaits an hour), ``stuck_blocking`` (sleeps ``seconds`` in its
thread, cannot be interrupted), ``hog_loop`` (an ``async def`` that blocks the loop with ``time.sleep``),
``relay`` (calls ``context_echo`` of this same service through ``request.async_client``).

Environment: ``FUNCTIONAL_REDIS_URL`` (the Redis), ``CONCURRENCY`` (default 50), ``HARAKIRI_TIMEOUT`` and
``HARAKIRI_GRACE`` (seconds; default 0 and 5), ``CONCURRENT_MIDDLEWARE`` (``plain``: a middleware with plain hooks
only, which puts every job in the thread pool; ``coroutine``: one with both kinds of hooks; ``auth``: the API
token middleware, whose verifier names the thread it ran in as the token's subject, for the private ``secret``),
``HEARTBEAT_FILE`` (the ``heartbeat_file`` setting).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Any

from pysoa_like.auth import current_identity
from pysoa_like.common.types import ActionResponse
from pysoa_like.server.action.base import Action
from pysoa_like.server.middleware import (
    ActionHandler,
    AsyncActionHandler,
    ServerMiddleware,
)
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

_URL = os.environ.get("FUNCTIONAL_REDIS_URL", "redis://127.0.0.1:6379/0")
_logger = logging.getLogger("concurrent_service")


def _where(request: EnrichedActionRequest) -> dict[str, Any]:
    remaining = request.time_remaining()
    return {
        "thread": threading.current_thread().name,
        "deadline": request.deadline,
        "remaining": remaining,
        "tag": request.body.get("tag"),
        "marked": request.context.get("marked_by"),
    }


class NapAction(Action):
    """Awaits ``seconds`` (I/O on the loop), then says where it ran."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        await asyncio.sleep(float(request.body.get("seconds", 0)))
        return _where(request)


class DozeAction(Action):
    """Sleeps ``seconds`` in its thread (blocking code), then says where it ran."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        time.sleep(float(request.body.get("seconds", 0)))
        return _where(request)


async def nap_function(request: EnrichedActionRequest) -> dict[str, Any]:
    """A coroutine function in ``action_class_map``: awaits ``seconds``, returns where it ran."""
    await asyncio.sleep(float(request.body.get("seconds", 0)))
    return _where(request)


class StuckAsyncAction(Action):
    """Awaits an hour, logging when it is cancelled."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            _logger.info("stuck_async %s cancelled", request.body.get("tag"))
            raise
        return {}


class StuckBlockingAction(Action):
    """Sleeps ``seconds`` in its thread (nothing can interrupt it), logging when it is done."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        time.sleep(float(request.body.get("seconds", 3600)))
        _logger.info("stuck_blocking %s finished", request.body.get("tag"))
        return {"finished": True}


class HogLoopAction(Action):
    """An ``async def`` that blocks the event loop for ``seconds`` (a bug the time limit must still answer)."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        time.sleep(float(request.body.get("seconds", 0)))
        return {}


class SecretAction(Action):
    """A private coroutine action: answers with the subject of the caller's token."""

    private = True

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        await asyncio.sleep(0)
        identity = current_identity()
        return {"subject": identity.subject if identity else None}


def thread_verifier(token: str) -> dict[str, Any] | None:
    """Accepts the token ``open-sesame``; its subject is the name of the thread the check ran in."""
    return {"subject": threading.current_thread().name} if token == "open-sesame" else None


class RelayAction(Action):
    """Calls this service's ``nap`` through ``request.async_client`` and answers with what the nested job saw."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        body = {"seconds": request.body.get("seconds", 0), "tag": request.body.get("tag")}
        response = await request.async_client.call_action("concurrent", "context_echo", body)
        return {"nested": response.body, "outer_deadline": request.deadline}


class ContextEchoAction(Action):
    """Awaits ``seconds``, then answers with its request's context, deadline and ``tag``."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        await asyncio.sleep(float(request.body.get("seconds", 0)))
        return {"context": dict(request.context), "deadline": request.deadline, "tag": request.body.get("tag")}


class PlainMarker(ServerMiddleware):
    """Marks the context of each action's request (plain hooks only)."""

    def action(self, process_action: ActionHandler) -> ActionHandler:
        def handler(request: EnrichedActionRequest) -> ActionResponse:
            request.context["marked_by"] = "plain"
            response = process_action(request)
            response.body["middleware_thread"] = threading.current_thread().name
            return response

        return handler


class CoroutineMarker(ServerMiddleware):
    """Marks the context of each action's request, with a coroutine hook for the loop."""

    def action(self, process_action: ActionHandler) -> ActionHandler:
        def handler(request: EnrichedActionRequest) -> ActionResponse:
            request.context["marked_by"] = "plain"
            return process_action(request)

        return handler

    def async_action(self, process_action: AsyncActionHandler) -> AsyncActionHandler:
        async def handler(request: EnrichedActionRequest) -> ActionResponse:
            request.context["marked_by"] = "coroutine"
            response = await process_action(request)
            response.body["middleware_thread"] = threading.current_thread().name
            return response

        return handler


class ConcurrentServer(Server):
    """The concurrent-worker test service."""

    service_name = "concurrent"
    action_class_map = {
        "nap": NapAction,
        "doze": DozeAction,
        "nap_function": nap_function,
        "stuck_async": StuckAsyncAction,
        "stuck_blocking": StuckBlockingAction,
        "hog_loop": HogLoopAction,
        "secret": SecretAction,
        "relay": RelayAction,
        "context_echo": ContextEchoAction,
    }


_MIDDLEWARE = {
    "plain": [{"path": "tests.functional.concurrent_service:PlainMarker"}],
    "coroutine": [{"path": "tests.functional.concurrent_service:CoroutineMarker"}],
    "auth": [
        {
            "path": "pysoa_like.auth:ApiTokenMiddleware",
            "kwargs": {"verifier": "tests.functional.concurrent_service:thread_verifier"},
        }
    ],
}

SOA_SERVER_SETTINGS: dict[str, Any] = {
    "transport": {
        "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
        "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [_URL]}},
    },
    "concurrency": int(os.environ.get("CONCURRENCY", "50")),
    "harakiri": {
        "timeout": int(os.environ.get("HARAKIRI_TIMEOUT", "0")),
        "shutdown_grace": int(os.environ.get("HARAKIRI_GRACE", "5")),
    },
    "middleware": _MIDDLEWARE.get(os.environ.get("CONCURRENT_MIDDLEWARE", ""), []),
    "registry": {"enabled": False},
    "heartbeat_file": os.environ.get("HEARTBEAT_FILE") or None,
    # Nested calls (``relay``) go back to this service.
    "client_routing": {
        "concurrent": {
            "transport": {
                "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
                "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [_URL]}},
            }
        }
    },
}
