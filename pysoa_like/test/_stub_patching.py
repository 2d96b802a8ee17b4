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
and mixed jobs never see each other's responses.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Generator, Sequence
from typing import Any, Protocol

import attr

from pysoa_like.client._service_handler import ServiceHandler
from pysoa_like.client.client import Client
from pysoa_like.client.errors import ImproperlyConfigured
from pysoa_like.common.errors import Error
from pysoa_like.common.transport.base import ClientTransport, ReceivedMessage
from pysoa_like.common.types import ActionRequest, ActionResponse, JobRequest, JobResponse
from pysoa_like.core.headers import suppress_response_requested

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


_lock = threading.RLock()
_active: list[StubbedAction] = []
_originals: dict[str, Any] = {}
_plans: weakref.WeakKeyDictionary[ServiceHandler, dict[Any, _Plan]] = weakref.WeakKeyDictionary()
_stub_only_handlers: weakref.WeakKeyDictionary[Client, dict[str, ServiceHandler]] = weakref.WeakKeyDictionary()


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


def _plans_of(handler: ServiceHandler) -> dict[Any, _Plan]:
    plans = _plans.get(handler)
    if plans is None:
        with _lock:
            plans = _plans.setdefault(handler, {})
    return plans


def _send_request(
    self: ServiceHandler,
    job_request: JobRequest,
    message_expiry_in_seconds: float | None = None,
    claimed: bool = False,
) -> int:
    actions: Sequence[ActionRequest] = job_request.actions
    stubs = {i: stub for i, a in enumerate(actions) if (stub := _lookup(self.service_name, a.action)) is not None}
    original = _originals["send_request"]
    if not stubs:
        return original(self, job_request, message_expiry_in_seconds, claimed)  # type: ignore[no-any-return]

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
    if plan.real_indexes:
        real_job = attr.evolve(job_request, actions=[actions[i] for i in plan.real_indexes])
        request_id = original(self, real_job, message_expiry_in_seconds, claimed)
    else:
        request_id = self._next_request_id()
        if not claimed:
            plan.thread = threading.get_ident()
    if not suppress_response_requested(job_request.control):
        _plans_of(self)[request_id] = plan
    return request_id  # type: ignore[no-any-return]


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


def _get_handler(self: Client, service_name: str) -> ServiceHandler:
    try:
        return _originals["_get_handler"](self, service_name)  # type: ignore[no-any-return]
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


_PATCHES: tuple[tuple[type, str, Any], ...] = (
    (ServiceHandler, "send_request", _send_request),
    (ServiceHandler, "get_response", _get_response),
    (ServiceHandler, "get_all_responses", _get_all_responses),
    (Client, "_get_handler", _get_handler),
)


def _install() -> None:
    for owner, name, replacement in _PATCHES:
        _originals[name] = owner.__dict__[name]
        setattr(owner, name, replacement)


def _uninstall() -> None:
    for owner, name, _replacement in _PATCHES:
        setattr(owner, name, _originals.pop(name))
    _plans.clear()
    _stub_only_handlers.clear()
