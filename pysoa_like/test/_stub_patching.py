"""The machinery behind :class:`~pysoa_like.test.stub_service.stub_action`: stubbing at the service handler.

Every client call (blocking, future, parallel, expansion, ``request.client`` inside actions) goes
through :meth:`ServiceHandler.send_request` and :meth:`ServiceHandler.get_response` (or
:meth:`ServiceHandler.get_all_responses`), so while any stub is active those three methods, and
``Client._get_handler`` (for services that exist only as stubs), are replaced on the classes.

Sending a job that contains stubbed actions:

1. the stubs are called in action order, at send time (like a server working through the job);
   calling stops at the first stub failure unless the job has ``continue_on_error``;
2. the job's other actions before that point are sent to the real transport as one job (same
   control and context headers), so they really run;
3. the request id (the real one, or a fresh one for a fully stubbed job) maps to a *plan*, and
   collecting that id merges the real response with the stubbed ones in the original order, then
   cuts the actions after the first error unless ``continue_on_error`` (as a server stops).

Stubbed replies therefore take the same request-id routing as real ones: futures, parallel calls
and mixed jobs never see each other's responses. The asyncio client's handler
(:class:`~pysoa_like.client._async_handler.AsyncServiceHandler`: ``send_request`` and ``get_response``, both
coroutines) are replaced the same way (``_get_handler`` is the two clients' common one), with the same plans.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Generator, Sequence
from typing import Any, Protocol

import attr

from pysoa_like.client._async_handler import AsyncServiceHandler
from pysoa_like.client._client_base import ClientBase
from pysoa_like.client.client import ServiceHandler
from pysoa_like.client.errors import ImproperlyConfigured
from pysoa_like.common.errors import Error
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.base import AsyncClientTransport, ClientTransport, ReceivedMessage
from pysoa_like.common.types import ActionRequest, ActionResponse, JobRequest, JobResponse
from pysoa_like.core.message import suppress_response_requested

__all__ = ["StubOutcome", "StubbedAction", "activate", "deactivate", "is_active"]


@attr.s(slots=True)
class StubOutcome:
    """What one call of a stubbed action produced.

    Args:
        response: The action's response (``None`` when the stub failed the job or the receive).
        job_errors: Job-level errors the stub raised (``JobError``) or returned (a ``JobResponse``).
        receive_error: A transport error to raise when the reply is collected.
    """

    response: ActionResponse | None = attr.ib(default=None)
    job_errors: list[Error] = attr.ib(factory=list)
    receive_error: BaseException | None = attr.ib(default=None)


class StubbedAction(Protocol):
    """What the handler patch needs from an active stub."""

    service: str
    action: str

    def run_stub(self, request: ActionRequest) -> StubOutcome:
        """Call the stub for one action request."""


class _Plan:
    """How to build the response of one sent job that contains stubbed actions."""

    __slots__ = ("continue_on_error", "job_errors", "real_indexes", "receive_error", "stubbed", "thread")

    def __init__(self, continue_on_error: bool) -> None:
        self.continue_on_error = continue_on_error
        self.stubbed: dict[int, ActionResponse] = {}
        self.real_indexes: list[int] = []
        self.job_errors: list[Error] = []
        self.receive_error: BaseException | None = None
        # The thread that sent a fully stubbed job through send_request (its get_all_responses yields it).
        self.thread: int | None = None

    def merge(self, real: JobResponse | None) -> JobResponse:
        """The job response: real and stubbed actions in request order, as one server would answer.

        Raises:
            PySOATransportError: The receive error a stub raised.
        """
        if self.receive_error is not None:
            raise self.receive_error
        slots: dict[int, ActionResponse] = dict(self.stubbed)
        errors = list(self.job_errors)
        if real is not None:
            errors = list(real.errors) + errors
            slots.update(zip(self.real_indexes, real.actions, strict=False))
        # A fully stubbed job has no server to echo the context: its response context is empty, as in PySOA.
        context = real.context if real is not None else {}
        if errors:
            return JobResponse(errors=errors, context=context)
        actions: list[ActionResponse] = []
        for index in sorted(slots):
            actions.append(slots[index])
            if slots[index].errors and not self.continue_on_error:
                break
        return JobResponse(context=context, actions=actions)


class _UnroutedTransport(ClientTransport):
    """The transport of a service a client has no settings for, used only to reach its stubbed actions."""

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: float | None = None,
    ) -> None:
        actions = [a.get("action") for a in body.get("actions", ())]
        raise ImproperlyConfigured(
            f'Unrecognized service name "{self.service_name}": actions {actions} of this service are not stubbed '
            "and the client has no settings for it"
        )

    def receive_response_message(self, receive_timeout_in_seconds: float | None = None) -> ReceivedMessage:
        return ReceivedMessage(None, None, None)

    @classmethod
    def asyncio_transport(
        cls, service_name: str, metrics: MetricsRecorder | None = None, **kwargs: Any
    ) -> AsyncClientTransport:
        return _AsyncUnroutedTransport(service_name, metrics)


class _AsyncUnroutedTransport(AsyncClientTransport):
    """The asyncio twin of :class:`_UnroutedTransport`."""

    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: float | None = None,
    ) -> None:
        _UnroutedTransport(self.service_name).send_request_message(request_id, meta, body)

    async def receive_response_message(
        self, request_id: int, receive_timeout_in_seconds: float | None = None
    ) -> ReceivedMessage:
        return ReceivedMessage(None, None, None)


_lock = threading.RLock()
_active: list[StubbedAction] = []
_originals: dict[str, Any] = {}
# Per handler (a ServiceHandler or an AsyncServiceHandler): request id -> plan.
_plans: weakref.WeakKeyDictionary[Any, dict[Any, _Plan]] = weakref.WeakKeyDictionary()
# Per client (a Client or an AsyncClient): the handlers of services that exist only as stubs.
_stub_only_handlers: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def is_active(stub: StubbedAction) -> bool:
    """Whether ``stub`` is currently active."""
    return any(s is stub for s in _active)


def activate(stub: StubbedAction) -> None:
    """Make ``stub`` answer its action on every client; the latest active stub of an action wins."""
    with _lock:
        if not _active:
            _install()
        _active.append(stub)


def deactivate(stub: StubbedAction) -> None:
    """Stop ``stub``; when no stub is left the classes get their original methods back."""
    with _lock:
        for index in range(len(_active) - 1, -1, -1):
            if _active[index] is stub:
                del _active[index]
                break
        if not _active and _originals:
            _uninstall()


def _lookup(service: str, action: str) -> StubbedAction | None:
    for stub in reversed(_active):
        if stub.action == action and stub.service == service:
            return stub
    return None


def _plans_of(handler: Any) -> dict[Any, _Plan]:
    plans = _plans.get(handler)
    if plans is None:
        with _lock:
            plans = _plans.setdefault(handler, {})
    return plans


def _plan_for(service_name: str, job_request: JobRequest) -> tuple[_Plan, Any] | None:
    """Call the stubs of a job's stubbed actions: its plan, and the job of its real actions (``None``: none left).

    Returns ``None`` when the job has no stubbed action.
    """
    actions: Sequence[ActionRequest] = job_request.actions
    stubs = {i: stub for i, a in enumerate(actions) if (stub := _lookup(service_name, a.action)) is not None}
    if not stubs:
        return None
    plan = _Plan(bool(job_request.control.get("continue_on_error")))
    cutoff = len(actions)
    for index, stub in stubs.items():
        outcome = stub.run_stub(actions[index])
        if outcome.response is not None:
            plan.stubbed[index] = outcome.response
        plan.job_errors.extend(outcome.job_errors)
        plan.receive_error = outcome.receive_error
        failed = outcome.response is None or bool(outcome.response.errors)
        if outcome.job_errors or outcome.receive_error is not None or (failed and not plan.continue_on_error):
            cutoff = index
            break
    plan.real_indexes = [i for i in range(cutoff) if i not in stubs]
    real_job = attr.evolve(job_request, actions=[actions[i] for i in plan.real_indexes]) if plan.real_indexes else None
    return plan, real_job


def _send_request(
    self: ServiceHandler,
    job_request: JobRequest,
    message_expiry_in_seconds: float | None = None,
    claimed: bool = False,
    receive_follows: float | None = None,
    awaits_reply: bool | None = None,
) -> int:
    original = _originals["send_request"]
    planned = _plan_for(self.service_name, job_request)
    if planned is None:
        return original(  # type: ignore[no-any-return]
            self, job_request, message_expiry_in_seconds, claimed, receive_follows, awaits_reply
        )
    plan, real_job = planned
    if real_job is not None:
        request_id = original(self, real_job, message_expiry_in_seconds, claimed, receive_follows, awaits_reply)
    else:
        request_id = self._next_request_id()
        if not claimed:
            plan.thread = threading.get_ident()
    if not suppress_response_requested(job_request.control):
        _plans_of(self)[request_id] = plan
    return request_id  # type: ignore[no-any-return]


async def _async_send_request(
    self: AsyncServiceHandler, job_request: JobRequest, message_expiry_in_seconds: float | None = None
) -> int:
    original = _originals["async_send_request"]
    planned = _plan_for(self.service_name, job_request)
    if planned is None:
        return await original(self, job_request, message_expiry_in_seconds)  # type: ignore[no-any-return]
    plan, real_job = planned
    if real_job is not None:
        request_id: int = await original(self, real_job, message_expiry_in_seconds)
    else:
        request_id = self.next_request_id()
    if not suppress_response_requested(job_request.control):
        _plans_of(self)[request_id] = plan
    return request_id


def _get_response(
    self: ServiceHandler, request_id: Any, receive_timeout_in_seconds: float | None = None
) -> JobResponse:
    original = _originals["get_response"]
    plans = _plans.get(self)
    plan = plans.get(request_id) if plans else None
    if plan is None or plans is None:
        return original(self, request_id, receive_timeout_in_seconds)  # type: ignore[no-any-return]
    real = None
    if plan.real_indexes:
        # A timeout keeps the plan, so a future's retry still merges the late reply.
        real = original(self, request_id, receive_timeout_in_seconds)
    plans.pop(request_id, None)
    return plan.merge(real)


def _get_all_responses(
    self: ServiceHandler, receive_timeout_in_seconds: float | None = None
) -> Generator[tuple[Any, JobResponse], None, None]:
    plans: dict[Any, _Plan] = _plans.get(self) or {}
    me = threading.get_ident()
    for request_id, plan in list(plans.items()):
        if plan.thread == me and plans.pop(request_id, None) is not None:
            yield request_id, plan.merge(None)
    for request_id, response in _originals["get_all_responses"](self, receive_timeout_in_seconds):
        pending = plans.pop(request_id, None)
        yield request_id, (response if pending is None else pending.merge(response))


async def _async_get_response(
    self: AsyncServiceHandler, request_id: int, receive_timeout_in_seconds: float | None = None
) -> JobResponse:
    original = _originals["async_get_response"]
    plans = _plans.get(self)
    plan = plans.get(request_id) if plans else None
    if plan is None or plans is None:
        return await original(self, request_id, receive_timeout_in_seconds)  # type: ignore[no-any-return]
    try:
        real = await original(self, request_id, receive_timeout_in_seconds) if plan.real_indexes else None
    finally:
        plans.pop(request_id, None)
    return plan.merge(real)


def _get_handler(self: ClientBase[Any], service_name: str) -> Any:
    try:
        return _originals["_get_handler"](self, service_name)
    except ImproperlyConfigured:
        if not any(stub.service == service_name for stub in _active):
            raise
    with _lock:
        handlers = _stub_only_handlers.setdefault(self, {})
        handler = handlers.get(service_name)
        if handler is None:
            settings = {"transport": {"object": _UnroutedTransport, "kwargs": {}}, "middleware": []}
            handler = handlers[service_name] = self.handler_class(service_name, settings)
    return handler


# (class, method, replacement, key of the original in _originals)
_PATCHES: tuple[tuple[type, str, Any, str], ...] = (
    (ServiceHandler, "send_request", _send_request, "send_request"),
    (ServiceHandler, "get_response", _get_response, "get_response"),
    (ServiceHandler, "get_all_responses", _get_all_responses, "get_all_responses"),
    (ClientBase, "_get_handler", _get_handler, "_get_handler"),
    (AsyncServiceHandler, "send_request", _async_send_request, "async_send_request"),
    (AsyncServiceHandler, "get_response", _async_get_response, "async_get_response"),
)


# The keys of the originals that were inherited (the patch is then deleted rather than the original put back).
_inherited: set[str] = set()


def _install() -> None:
    for owner, name, replacement, key in _PATCHES:
        original = owner.__dict__.get(name)
        if original is None:
            original = getattr(owner, name)
            _inherited.add(key)
        _originals[key] = original
        setattr(owner, name, replacement)


def _uninstall() -> None:
    for owner, name, _replacement, key in _PATCHES:
        original = _originals.pop(key)
        if key in _inherited:
            _inherited.discard(key)
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _plans.clear()
    _stub_only_handlers.clear()
