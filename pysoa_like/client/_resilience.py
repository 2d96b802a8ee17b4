"""The clients' resilience: breakers, bulkheads, retries and fallbacks around every call.

The rules are the pure state machines of :mod:`pysoa_like.core.breaker` and :mod:`pysoa_like.core.retry`;
this module gives them the clock, a lock per service (a client may be shared by threads), the waits, the
log lines and the metrics. :func:`call_guarded` is what ``Client._call`` runs instead of a plain call
when the service has any of these configured or the call gives a ``fallback``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

from pysoa_like.client._deadline import SHORTEST_WAIT_SECONDS
from pysoa_like.client._waiting_line import WaitingLine
from pysoa_like.client.errors import (
    BulkheadFullError,
    CallActionError,
    CallJobError,
    CircuitOpenError,
    DeadlineExceededError,
)
from pysoa_like.client.fallbacks import fallback_response, has_fallback, takes_caller_errors
from pysoa_like.common._bounded_logs import LogThrottle, log_bounded
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.errors import (
    MessageReceiveTimeout,
    MessageTooLarge,
    PySOATransportError,
    QueueFullSendError,
)
from pysoa_like.common.types import JobResponse
from pysoa_like.core.breaker import BreakerPolicy, BreakerState, Bulkhead, CircuitBreaker
from pysoa_like.core.retry import (
    Failure,
    RetryBudget,
    RetryPolicy,
    backoff_delay,
    may_retry,
    pushback_of,
    retry_policy_of,
)

if TYPE_CHECKING:
    from pysoa_like.client.client import CallOptions, Client

__all__ = [
    "ATTEMPT",
    "FINISH",
    "RESULT",
    "SLEEP",
    "ServicePolicies",
    "action_name",
    "call_guarded",
    "caller_errors_fall_back",
    "guarded_steps",
    "has_errors",
    "response_error",
    "server_failed",
]

_logger = logging.getLogger("pysoa_like.client")

# Substrings of the send errors of a request that never reached Redis (refused connection, full queue).
_NOT_SENT_TEXTS = ("connecting to", "was full after")


def server_failed(response: JobResponse) -> bool:
    """Whether a reply reports a failure of the service: an error that is not the caller's."""
    for error in response.errors:
        if not error.is_caller_error:
            return True
    for action in response.actions:
        for error in action.errors:
            if not error.is_caller_error:
                return True
    return False


class ServicePolicies:
    """One service's circuit breakers, bulkhead, retry policy and budget, and fallbacks, for one client.

    Args:
        service_name: The service.
        settings: Its client settings (``circuit_breaker``, ``bulkhead``, ``retry``, ``fallbacks``).
        metrics: The service's metrics recorder.
    """

    def __init__(self, service_name: str, settings: Mapping[str, Any], metrics: MetricsRecorder) -> None:
        self.service_name = service_name
        self.metrics = metrics
        # Reentrant: a future dropped without its result closes its steps (which leave the breaker and bulkhead)
        # wherever the last reference goes, possibly in this thread while it holds the lock.
        self._lock = threading.RLock()
        self._room = threading.Condition(self._lock)
        # AsyncClient calls waiting for a place (they cannot block on the condition): served in order.
        self._line = WaitingLine(self._lock)
        # Refusals come in floods while a service is down: a few log lines a minute at most.
        self._log_throttle = LogThrottle()
        breaker = settings.get("circuit_breaker")
        self.breaker_policy = (
            BreakerPolicy(**{key: value for key, value in breaker.items() if key != "per_action"}) if breaker else None
        )
        self.per_action = bool(breaker and breaker.get("per_action"))
        self._breakers: dict[str | None, CircuitBreaker] = {}
        bulkhead = settings.get("bulkhead")
        self.bulkhead = Bulkhead(bulkhead["max_in_flight"]) if bulkhead else None
        self.bulkhead_waits = bool(bulkhead and bulkhead.get("wait"))
        retry = settings.get("retry")
        self.retry: RetryPolicy | None = None
        self.budget: RetryBudget | None = None
        if retry:
            self.retry = retry_policy_of(dict(retry))
            self.budget = RetryBudget(
                self.retry.budget_ratio, self.retry.budget_minimum, self.retry.budget_window_seconds
            )
        #: Action name (or ``"*"``) -> the fallback of the ``fallbacks`` setting.
        self.fallbacks: dict[str, Any] = dict(settings.get("fallbacks") or {})

    @classmethod
    def from_settings(
        cls, service_name: str, settings: Mapping[str, Any], metrics: MetricsRecorder
    ) -> ServicePolicies | None:
        """The policies of a service, or ``None`` when its settings configure none (calls then go straight)."""
        if not any(settings.get(key) for key in ("circuit_breaker", "bulkhead", "retry", "fallbacks")):
            return None
        return cls(service_name, settings, metrics)

    # Breakers

    def _breaker(self, action: str) -> CircuitBreaker | None:
        policy = self.breaker_policy
        if policy is None:
            return None
        key = action if self.per_action else None
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = CircuitBreaker(policy)
        return breaker

    def _changed(self, action: str, state: BreakerState) -> None:
        """Log and count a breaker's move to ``state`` (the lock is held)."""
        label = action if self.per_action else "*"
        level = logging.WARNING if state is BreakerState.OPEN else logging.INFO
        _logger.log(level, "Circuit breaker of service %s (action %s) is now %s", self.service_name, label, state.value)
        self.metrics.counter(
            "client.breaker.state_change", service=self.service_name, action=label, state=state.value
        ).increment()

    def _refused(self, action: str, retry_after: float) -> CircuitOpenError:
        label = action if self.per_action else "*"
        self.metrics.counter("client.breaker.rejected", service=self.service_name, action=label).increment()
        self.metrics.publish_all()
        log_bounded(
            _logger,
            logging.INFO,
            self._log_throttle,
            "breaker refused",
            "Circuit breaker of service %s (action %s) is open: call refused (%.1f s before a probe)",
            self.service_name,
            label,
            retry_after,
        )
        return CircuitOpenError(self.service_name, action if self.per_action else None, retry_after)

    # One attempt: enter, leave

    def enter(self, action: str, wait_until: float | None, holding_place: bool = False) -> int | None:
        """Admit one attempt of a call of ``action``; leave with :meth:`leave`, giving it what this returned.

        Args:
            action: The call's action label (its actions, joined with commas).
            wait_until: Monotonic time up to which a waiting bulkhead may hold the call.
            holding_place: The call holds a place in the bulkhead already (:meth:`wait_for_place`); it is given
                back if the breaker refuses the call.

        Returns:
            The breaker's generation the attempt was admitted in (``None`` without a breaker).

        Raises:
            CircuitOpenError: The breaker refuses the call.
            BulkheadFullError: The bulkhead is full (and does not wait, or stayed full until ``wait_until``).
        """
        now = time.monotonic()
        generation = None
        with self._lock:
            breaker = self._breaker(action)
            if breaker is not None:
                admitted, changed = breaker.admit(now)
                generation = breaker.generation
                if changed is not None:
                    self._changed(action, changed)
                if not admitted:
                    retry_after = breaker.retry_after(now)
                    refused = True
                else:
                    refused = False
            else:
                refused = False
            if refused and holding_place:
                self._free_place()
            if (
                not refused
                and not holding_place
                and self.bulkhead is not None
                and not self._entered_bulkhead(wait_until, breaker, generation)
            ):
                if breaker is not None:
                    breaker.cancel(generation)
                self.metrics.counter("client.bulkhead.rejected", service=self.service_name).increment()
                self.metrics.publish_all()
                log_bounded(
                    _logger,
                    logging.INFO,
                    self._log_throttle,
                    "bulkhead refused",
                    "Bulkhead of service %s is full (%d calls in flight): call refused",
                    self.service_name,
                    self.bulkhead.max_in_flight,
                )
                raise BulkheadFullError(self.service_name, self.bulkhead.max_in_flight)
        if refused:
            raise self._refused(action, retry_after)
        return generation

    def _entered_bulkhead(
        self, wait_until: float | None, breaker: CircuitBreaker | None, generation: int | None
    ) -> bool:
        """Take a place in the bulkhead (the lock is held), waiting for one if configured; whether one was taken.

        An interrupted wait gives the breaker's admission back before it propagates.
        """
        try:
            return self._enter_bulkhead(wait_until)
        except BaseException:
            if breaker is not None:
                breaker.cancel(generation)
            raise

    def _enter_bulkhead(self, wait_until: float | None) -> bool:
        """Take a place in the bulkhead (the lock is held), waiting for one if configured; whether one was taken."""
        bulkhead = self.bulkhead
        assert bulkhead is not None
        if bulkhead.try_enter():
            return True
        if not self.bulkhead_waits or wait_until is None:
            return False
        while True:
            left = wait_until - time.monotonic()
            if left <= 0:
                return False
            self._room.wait(left)
            if bulkhead.try_enter():
                return True

    async def wait_for_place(self, wait_until: float) -> bool:
        """Take a place in the bulkhead, waiting on the event loop in line (first come, first served) until one is
        handed over or ``wait_until`` (monotonic) passes; whether one was taken (give it to :meth:`enter`).

        A cancelled wait takes no place (one handed over meanwhile goes on to the next in line).
        """
        bulkhead = self.bulkhead
        assert bulkhead is not None
        return await self._line.wait(bulkhead.try_enter, self._free_place, wait_until)

    def _free_place(self) -> None:
        """A place in the bulkhead frees (the lock is held): to the first AsyncClient call in line, else to all."""
        if not self._line.hand_on():
            assert self.bulkhead is not None
            self.bulkhead.leave()
            self._room.notify()

    def leave(self, action: str, failed: bool | None, generation: int | None = None) -> None:
        """End an attempt admitted by :meth:`enter`: its outcome (``None``: none, it was not really made).

        ``generation``: what :meth:`enter` returned (the outcome of an attempt admitted before the breaker last
        changed state is not taken for a probe's).
        """
        now = time.monotonic()
        with self._lock:
            breaker = self._breaker(action)
            if breaker is not None:
                if failed is None:
                    breaker.cancel(generation)
                else:
                    changed = breaker.record(now, failed, generation)
                    if changed is not None:
                        self._changed(action, changed)
            if self.bulkhead is not None:
                self._free_place()

    # Retries

    def policy_for(self, options: CallOptions) -> RetryPolicy | None:
        """The retry policy of a call: its own (``False``: none), else the service's."""
        if options.retry is None:
            return self.retry
        return options.retry or None

    def idempotent(self, action_names: list[str], options: CallOptions) -> bool:
        """Whether a call may be retried after a timeout or a server error (the call says, else its policy)."""
        if options.idempotent is not None:
            return options.idempotent
        policy = self.policy_for(options)
        return bool(policy and action_names and all(name in policy.idempotent_actions for name in action_names))

    def retry_delay(
        self,
        retry_number: int,
        failure: Failure,
        options: CallOptions,
        idempotent: bool,
        left: float | None,
        pushback: float | None = None,
    ) -> float | None:
        """The wait before retry ``retry_number`` (the server's pushback, else the backoff), or ``None``: no retry."""
        policy = self.policy_for(options)
        if policy is None or retry_number >= policy.attempts or not may_retry(failure, idempotent):
            return None
        with self._lock:
            if self.budget is None:  # a call's own policy on a service with none: the first one's budget
                self.budget = RetryBudget(policy.budget_ratio, policy.budget_minimum, policy.budget_window_seconds)
            budget = self.budget
        delay = pushback if pushback is not None else backoff_delay(policy, retry_number, random.random())
        if left is not None and delay >= left:
            return None
        with self._lock:
            spent = budget.try_spend(time.monotonic())
        if not spent:
            self.metrics.counter("client.retry.budget_exhausted", service=self.service_name).increment()
            return None
        self.metrics.counter("client.retry", service=self.service_name, reason=failure.value).increment()
        return delay

    def called(self) -> None:
        """Count a call in the retry budget."""
        if self.budget is not None:
            with self._lock:
                self.budget.called(time.monotonic())


def _failure_of(error: BaseException, sent: bool) -> Failure | None:
    """What a call's exception means for retries, or ``None`` when it is no failure of the service.

    A request too big to send (``MessageTooLarge``) is the caller's error: not counted against the service's
    breaker, never retried.
    """
    if isinstance(error, BulkheadFullError | CircuitOpenError | DeadlineExceededError | MessageTooLarge):
        return None
    if isinstance(error, MessageReceiveTimeout):
        return Failure.TIMEOUT
    if isinstance(error, QueueFullSendError):
        return Failure.NOT_SENT
    if isinstance(error, PySOATransportError):
        if not sent and any(text in str(error) for text in _NOT_SENT_TEXTS):
            return Failure.NOT_SENT
        return Failure.TIMEOUT
    return None


#: A step of :func:`guarded_steps`: make one attempt with these options (``sent[0]`` is set once it is sent).
ATTEMPT = "attempt"
#: A step of :func:`guarded_steps`: wait this many seconds (a backoff).
SLEEP = "sleep"
#: A step of :func:`guarded_steps` (not ``blocking``): ``(PLACE, wait_until, policies)``, take a place in the waiting
#: bulkhead (``await policies.wait_for_place(wait_until)``) and send the generator whether one was taken.
PLACE = "place"
#: A guarded call's end: ``(FINISH, response)`` is a reply to finish (raise its errors, expand it) ...
FINISH = "finish"
#: ... and ``(RESULT, value)`` is what the call returns as it is (a fallback's response, or ``None``).
RESULT = "result"

#: What :func:`guarded_steps` yields: ``(ATTEMPT, options, sent)``, ``(SLEEP, seconds, None)`` or
#: ``(PLACE, wait_until, policies)``.
Step = tuple[str, Any, Any]


def guarded_steps(
    service_name: str,
    actions: list[Any],
    options: CallOptions,
    policies: ServicePolicies | None,
    default_wait: float | None,
    blocking: bool = True,
    wait_for_room: bool = True,
) -> Generator[Step, Any, tuple[str, Any]]:
    """One call through the service's breaker, bulkhead and retry policy, with its fallback, as steps (no I/O).

    The driver (:func:`call_guarded` for the blocking client, the asyncio client's own) makes each step: for
    ``(ATTEMPT, options, sent)`` it sends the job and waits for its reply, and sends the generator the reply
    (``None`` without one) or throws the attempt's exception into it; for ``(SLEEP, seconds, None)`` it
    waits; for ``(PLACE, wait_until, policies)`` (``blocking`` false) it waits for a place in the bulkhead.
    The generator returns ``(FINISH, response)`` or ``(RESULT, value)``, or raises the call's error.

    Args:
        service_name: The service.
        actions: The call's actions (:class:`ActionRequest` or dicts).
        options: The call's options.
        policies: The service's policies (``None``: only the call's ``fallback``).
        default_wait: The transport's default wait (how long a waiting bulkhead may hold a call without a
            timeout; 5 seconds when unknown).
        blocking: Whether a waiting bulkhead may block the driver's thread on its condition; False asks the
            driver to wait for a place with a ``PLACE`` step (an event loop must never block).
        wait_for_room: False: a full bulkhead refuses the call at once even if it is configured to wait (a
            parallel call's jobs, which would wait for each other).
    """
    names = [action_name(action) for action in actions]
    label = ",".join(names)
    timeout = options.timeout
    ends = time.monotonic() + timeout if timeout else None
    # How long a waiting bulkhead may hold the call: its deadline, else its transport's default wait.
    wait_until = ends if ends is not None else time.monotonic() + (default_wait or 5.0)
    retry_number = 0
    if policies is not None:
        policies.called()
    while True:
        sent = [False]
        entered = False
        generation = None
        try:
            if policies is not None:
                holding = False
                if not blocking and wait_for_room and policies.bulkhead_waits and policies.bulkhead is not None:
                    holding = yield PLACE, wait_until, policies
                generation = policies.enter(label, wait_until if blocking and wait_for_room else None, holding)
                entered = True
            attempt_options = options
            if ends is not None and retry_number:
                attempt_options = options.with_timeout(max(ends - time.monotonic(), SHORTEST_WAIT_SECONDS))
            response = yield ATTEMPT, attempt_options, sent
        except PySOATransportError as exc:
            failure = _failure_of(exc, sent[0])
            if entered:
                assert policies is not None
                policies.leave(label, None if failure is None else True, generation)
            if failure is not None and policies is not None:
                # A full queue says when to come back (its pushback); other failures back off as the policy says.
                # Waited for within the deadline; without a timeout, at most the transport's default wait.
                come_back = exc.retry_after if isinstance(exc, QueueFullSendError) else None
                retry_ends = ends if ends is not None or come_back is None else wait_until
                delay = _retry_delay(policies, retry_number + 1, failure, names, options, retry_ends, come_back)
                if delay is not None:
                    retry_number += 1
                    yield SLEEP, delay, None
                    continue
            if isinstance(exc, DeadlineExceededError):
                raise
            return RESULT, _fall_back(service_name, names, options, policies, exc)
        except BaseException:
            if entered:
                assert policies is not None
                policies.leave(label, None, generation)
            raise
        failed = response is not None and server_failed(response)
        if policies is not None:
            policies.leave(label, failed, generation)
        if failed:
            assert response is not None
            if policies is not None:
                pushback = pushback_of(response.context)
                failure = Failure.SERVER_ERROR if pushback is None else Failure.PUSHED_BACK
                # A server's pushback is waited for within the call's deadline; a call without a timeout waits at
                # most its transport's default wait (the server may ask for any time: an hour, or forever).
                retry_ends = ends if ends is not None or pushback is None else wait_until
                delay = _retry_delay(policies, retry_number + 1, failure, names, options, retry_ends, pushback)
                if delay is not None:
                    retry_number += 1
                    yield SLEEP, delay, None
                    continue
            if _has_any_fallback(options, policies, names):
                return RESULT, _fall_back(service_name, names, options, policies, response_error(response))
        elif response is not None and has_errors(response) and caller_errors_fall_back(options, policies, names):
            return RESULT, _fall_back(service_name, names, options, policies, response_error(response))
        return (RESULT, None) if response is None else (FINISH, response)


def call_guarded(
    client: Client,
    service_name: str,
    actions: list[Any],
    options: CallOptions,
    policies: ServicePolicies | None,
    attempt: Callable[[CallOptions, list[bool]], JobResponse | None],
) -> Any:
    """Make one blocking call through the service's breaker, bulkhead and retry policy, with its fallback.

    Drives :func:`guarded_steps` with blocking waits.

    Args:
        client: The client.
        service_name: The service.
        actions: The call's actions (:class:`ActionRequest` or dicts).
        options: The call's options.
        policies: The service's policies (``None``: only the call's ``fallback``).
        attempt: Sends the job and waits for its reply (``None`` without one); sets ``sent[0]`` once sent.

    Returns:
        What the plain call returns, or the fallback's response.
    """
    steps = guarded_steps(service_name, actions, options, policies, client._default_wait(service_name))
    outcome: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = steps.send(outcome) if error is None else steps.throw(error)
        except StopIteration as stop:
            kind, value = stop.value
            return client._finish(value, options) if kind is FINISH else value
        finally:
            error = outcome = None
        kind, argument, sent = step
        if kind is SLEEP:
            time.sleep(argument)
            continue
        try:
            outcome = attempt(argument, sent)
        except BaseException as exc:
            error = exc


def has_errors(response: JobResponse) -> bool:
    """Whether a reply has any error, the job's or an action's."""
    return bool(response.errors) or any(action.errors for action in response.actions)


def caller_errors_fall_back(options: CallOptions, policies: ServicePolicies | None, names: list[str]) -> bool:
    """Whether the call's fallback also replaces caller errors (``Fallback(..., caller_errors=True)``)."""
    return takes_caller_errors(options.fallback, policies.fallbacks if policies is not None else {}, names)


def response_error(response: JobResponse) -> Exception:
    """The exception a failed reply stands for (what a fallback receives)."""
    if response.errors:
        return CallJobError(response.errors)
    return CallActionError([action for action in response.actions if action.errors])


def _has_any_fallback(options: CallOptions, policies: ServicePolicies | None, names: list[str]) -> bool:
    return options.fallback is not None or (policies is not None and has_fallback(policies.fallbacks, names))


def _retry_delay(
    policies: ServicePolicies,
    retry_number: int,
    failure: Failure,
    names: list[str],
    options: CallOptions,
    ends: float | None,
    pushback: float | None = None,
) -> float | None:
    left = None if ends is None else ends - time.monotonic()
    return policies.retry_delay(retry_number, failure, options, policies.idempotent(names, options), left, pushback)


def _fall_back(
    service_name: str, names: list[str], options: CallOptions, policies: ServicePolicies | None, error: Exception
) -> Any:
    """The fallback's response for a call that failed with ``error``, or ``error`` raised again when it has none."""
    fallback = options.fallback
    settings_fallbacks = policies.fallbacks if policies is not None else {}
    if isinstance(error, MessageTooLarge) or not _has_any_fallback(options, policies, names):
        raise error  # a request too big to send is the caller's error: it gets no fallback
    if policies is not None:
        policies.metrics.counter("client.fallback", service=service_name, reason=type(error).__name__).increment()
        policies.metrics.publish_all()
    return fallback_response(fallback, settings_fallbacks, names, error)


def action_name(action: Any) -> str:
    """The name of an action argument (an :class:`ActionRequest` or a dict)."""
    return str(action.get("action") if isinstance(action, dict) else getattr(action, "action", action))
