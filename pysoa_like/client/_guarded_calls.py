"""The blocking client's futures and parallel calls through the resilience steps, sent now and waited for later.

:func:`~pysoa_like.client._resilience.guarded_steps` decides what a call does (breaker, bulkhead, retries,
fallback); a blocking call (``call_guarded``) makes its steps in one go. A future cannot: its job must be sent
when the future is made and its reply waited for when its result is asked for. :class:`GuardedCall` makes the
steps in those two halves: up to the first attempt's send when made (a refusal, or a send that fails for good,
raises there and then, unless a fallback takes its place), then, in :meth:`GuardedCall.wait`, the wait for each
attempt's reply, the backoffs, the retries and the fallback. :class:`GuardedJobs` does it for each job of a
parallel call, their first sends pushed together as the plain parallel call pushes them.

A call made this way holds its place in the service's bulkhead (and its breaker's admission) from its send
until its outcome is known; a future dropped without its result gives them back when it is collected (its
steps are closed), and a parallel call's jobs never wait for room (they would wait for each other).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pysoa_like.client._deadline import SHORTEST_WAIT_SECONDS
from pysoa_like.client._parallel import batching_handlers, flush_batches
from pysoa_like.client._resilience import SLEEP, ServicePolicies, guarded_steps
from pysoa_like.common.transport.errors import MessageReceiveTimeout, PySOATransportError

if TYPE_CHECKING:
    from pysoa_like.client._future_calls import FutureCalls
    from pysoa_like.client.client import CallOptions

__all__ = ["GuardedCall", "GuardedJobs"]


class GuardedCall:
    """One job of a blocking client, through its service's resilience steps: sent when made, finished by :meth:`wait`.

    Args:
        client: The client.
        service_name: The service.
        actions: The job's actions.
        options: The call's options.
        policies: The service's policies (``None``: only the call's ``fallback``).
        wait_for_room: Whether a full bulkhead configured to wait holds the call (False: refused at once).

    Raises:
        PySOATransportError: The call is refused (open breaker, full bulkhead) or its job cannot be sent, after any
            retries, and it has no fallback.
    """

    def __init__(
        self,
        client: FutureCalls,
        service_name: str,
        actions: list[Any],
        options: CallOptions,
        policies: ServicePolicies | None,
        wait_for_room: bool = True,
    ) -> None:
        self.client = client
        self.service_name = service_name
        self.actions = actions
        self._steps = guarded_steps(
            service_name, actions, options, policies, client._default_wait(service_name), wait_for_room=wait_for_room
        )
        self._ends = time.monotonic() + options.timeout if options.timeout else None
        # The attempt waiting for its reply: request id, its options, when it was sent, its "sent" flag.
        self._attempt: tuple[Any, CallOptions, float, list[bool]] | None = None
        #: ``(FINISH, response)`` or ``(RESULT, value)`` once the call has ended (see ``guarded_steps``).
        self.outcome: tuple[str, Any] | None = None
        self._advance(None, None)

    def _advance(self, response: Any, error: BaseException | None) -> None:
        """Give the steps the last attempt's outcome and make them until an attempt waits for its reply or the call
        ends (:attr:`outcome`).

        Raises:
            BaseException: The call's error.
        """
        self._attempt = None
        steps = self._steps
        while True:
            try:
                step = steps.send(response) if error is None else steps.throw(error)
            except StopIteration as stop:
                self.outcome = stop.value
                return
            response = error = None
            kind, argument, sent = step
            if kind is SLEEP:
                time.sleep(argument)
                continue
            started = time.monotonic()
            try:
                request_id = self.client._send(self.service_name, self.actions, argument)
            except BaseException as exc:
                error = exc
                continue
            sent[0] = True
            # Even a job that waits for no reply stays the attempt until wait(): its push, held back in a batch,
            # may still fail (send_failed).
            self._attempt = (request_id, argument, started, sent)
            return

    @property
    def waiting_for(self) -> Any:
        """The request id of the attempt in flight (``None`` when none is)."""
        return None if self._attempt is None else self._attempt[0]

    def send_failed(self, error: PySOATransportError) -> None:
        """The attempt's job, held back to be pushed with others, could not be pushed: as if its send had failed.

        Raises:
            PySOATransportError: The call's error (no retry, no fallback).
        """
        attempt = self._attempt
        assert attempt is not None
        attempt[3][0] = False
        self.client._forget(self.service_name, attempt[0])
        self._advance(None, error)

    def wait(self, timeout: float | None = None) -> tuple[str, Any]:
        """Wait until the call ends: each attempt's reply, then its retries or its fallback.

        Args:
            timeout: The most seconds to wait now (a future's ``result(timeout)``); ``None``: until the call's
                deadline (or, without one, the transport's default wait for each attempt).

        Returns:
            :attr:`outcome`.

        Raises:
            MessageReceiveTimeout: No reply within a ``timeout`` shorter than the call's time left: the call goes on
                (ask again), nothing is decided.
            BaseException: The call's error.
        """
        while self.outcome is None:
            attempt = self._attempt
            assert attempt is not None
            request_id, options, started, _sent = attempt
            if not options.expects_reply:
                self._advance(None, None)
                continue
            polling = timeout is not None and (
                self._ends is None or time.monotonic() + timeout < self._ends - SHORTEST_WAIT_SECONDS
            )
            wait = timeout if polling else options.wait_left(started)
            try:
                response = self.client._wait(self.service_name, request_id, wait)
            except MessageReceiveTimeout as exc:
                if polling:
                    raise
                self.client._forget(self.service_name, request_id)
                self._advance(None, exc)
            except BaseException as exc:
                self.client._forget(self.service_name, request_id)
                self._advance(None, exc)
            else:
                self._advance(response, None)
        return self.outcome

    def abandon(self) -> None:
        """Give the call up: its request forgotten, its place in the bulkhead and its breaker's admission given back."""
        if self._attempt is not None:
            self.client._forget(self.service_name, self._attempt[0])
            self._attempt = None
        self._steps.close()


class GuardedJobs:
    """The jobs of a parallel call, each a :class:`GuardedCall`, sent together, collected in input order.

    Args:
        client: The client.
        jobs: ``(service, actions)`` per job.
        options: The call's options.
        policies_of: The policies of a service for this call.

    Raises:
        PySOATransportError: A job is refused or cannot be sent (it has no fallback) and the call does not catch
            transport errors; the other jobs are then given up.
    """

    def __init__(
        self,
        client: FutureCalls,
        jobs: Sequence[tuple[str, list[Any]]],
        options: CallOptions,
        policies_of: Callable[[str], ServicePolicies | None],
    ) -> None:
        self._catch = options.catch_transport_errors
        self._items: list[GuardedCall | PySOATransportError] = []
        self._results: dict[int, Any] = {}
        batching = batching_handlers(client, dict.fromkeys(service for service, _actions in jobs))
        try:
            try:
                for service_name, actions in jobs:
                    try:
                        item: GuardedCall | PySOATransportError = GuardedCall(
                            client, service_name, actions, options, policies_of(service_name), wait_for_room=False
                        )
                    except PySOATransportError as exc:
                        if not self._catch:
                            raise
                        item = exc
                    self._items.append(item)
            finally:
                failed = flush_batches(batching)
            for index, item in enumerate(self._items):
                if isinstance(item, GuardedCall) and item.waiting_for is not None:
                    error = failed.get((item.service_name, item.waiting_for))
                    if error is not None:
                        self._send_failed(index, item, error)
        except BaseException:
            self.abandon()
            raise

    def _send_failed(self, index: int, item: GuardedCall, error: PySOATransportError) -> None:
        try:
            item.send_failed(error)
        except PySOATransportError as exc:
            if not self._catch:
                raise
            self._items[index] = exc

    def collect(self, timeout: float | None = None) -> list[Any]:
        """Wait for every job's end, all within ``timeout`` (``None``: the call's deadline), in input order.

        Each place holds the job's reply, its fallback's response, ``None`` (no reply asked for) or, with
        ``catch_transport_errors``, its transport error.

        Raises:
            MessageReceiveTimeout: ``timeout`` ran out before the call's deadline: ask again.
            PySOATransportError: A job failed (without fallback) and the call does not catch transport errors; the
                other jobs are then given up.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for index, item in enumerate(self._items):
            if index in self._results:
                continue
            if not isinstance(item, GuardedCall):
                self._results[index] = item
                continue
            wait = None if deadline is None else max(deadline - time.monotonic(), SHORTEST_WAIT_SECONDS)
            try:
                self._results[index] = item.wait(wait)[1]
            except PySOATransportError as exc:
                if isinstance(exc, MessageReceiveTimeout) and item.waiting_for is not None:
                    raise  # only this wait ran out: the call goes on
                if not self._catch:
                    self.abandon()
                    raise
                self._results[index] = exc
            except BaseException:
                self.abandon()
                raise
        return [self._results[index] for index in range(len(self._items))]

    def abandon(self) -> None:
        """Give up every job not finished yet."""
        for index, item in enumerate(self._items):
            if isinstance(item, GuardedCall) and index not in self._results:
                item.abandon()
