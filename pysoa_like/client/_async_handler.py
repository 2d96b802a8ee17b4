"""AsyncServiceHandler: one AsyncClient's link to one service (asyncio transport, middleware, metrics).

The asyncio twin of :class:`~pysoa_like.client.client.ServiceHandler`, built from the same settings.
Replies are routed by request id in the transport (:class:`~pysoa_like.common.transport.base.AsyncClientTransport`),
so a send registers the call and :meth:`AsyncServiceHandler.get_response` waits for that request's reply alone.

Client middleware wraps the asyncio transport's send and receive with its coroutine hooks
(``async_request``/``async_response``); a middleware with only the plain hooks a ``Client`` runs is adapted
(``client/_async_middleware.py``): it sees and may change every request and reply, the I/O happening after its
send chain has returned and before its receive chain runs (see ``docs/asyncio.rst``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from pysoa_like.client._async_middleware import async_receive_chain, async_send_chain
from pysoa_like.client._call_metrics import action_label, count_call_errors, metrics_of
from pysoa_like.client._service_link import middleware_of
from pysoa_like.client.client import deprecation_warnings
from pysoa_like.client.errors import ImproperlyConfigured
from pysoa_like.client.middleware import AsyncGetResponseCallable, AsyncSendRequestCallable, ClientMiddleware
from pysoa_like.common.metrics import MetricsRecorder, records_nothing
from pysoa_like.common.transport.base import AsyncClientTransport
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.types import JobRequest, JobResponse, job_request_to_dict, job_response_from_dict
from pysoa_like.core.message import suppress_response_requested
from pysoa_like.version import __version_info__

if TYPE_CHECKING:
    from pysoa_like.client._aio_versions import AsyncVersionsReader
    from pysoa_like.client._fleet import VersionGate
    from pysoa_like.client._resilience import ServicePolicies

__all__ = ["AsyncServiceHandler", "asyncio_transport_of"]

_CLIENT_VERSION: tuple[int, ...] = tuple(__version_info__)
_logger = logging.getLogger("pysoa_like.client")


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _timed(
    metrics: MetricsRecorder, name: str, step: Callable[_P, Awaitable[_R]]
) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """``step`` (a transport's I/O) timed as ``name`` on each call."""

    async def timed(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with metrics.timer(name):
            return await step(*args, **kwargs)

    return timed


def asyncio_transport_of(
    service_name: str, transport_config: Mapping[str, Any], metrics: MetricsRecorder
) -> AsyncClientTransport:
    """The asyncio transport for a service's (validated) ``transport`` settings: the configured class's twin.

    Raises:
        ImproperlyConfigured: The configured transport has no asyncio twin.
    """
    transport_class = transport_config["object"]
    factory = getattr(transport_class, "asyncio_transport", None)
    transport = factory(service_name, metrics, **(transport_config.get("kwargs") or {})) if factory else None
    if not isinstance(transport, AsyncClientTransport):
        name = f"{transport_class.__module__}:{transport_class.__qualname__}"
        raise ImproperlyConfigured(
            f"The transport of service {service_name} ({name}) has no asyncio driver, so an AsyncClient cannot use "
            "it: use the Redis or the local transport, a Client (in a worker thread), or give the transport class "
            "an asyncio_transport() that returns an AsyncClientTransport"
        )
    return transport


class AsyncServiceHandler:
    """Sends job requests to one service and waits for their replies, for an AsyncClient.

    Args:
        service_name: The service this handler calls.
        settings: That service's client settings, validated (``transport``, ``middleware``, ``metrics``, ...).

    Raises:
        ImproperlyConfigured: The configured transport has no asyncio twin.
    """

    def __init__(self, service_name: str, settings: Mapping[str, Any]) -> None:
        self.service_name = service_name
        self.metrics: MetricsRecorder = metrics_of(settings)
        transport_config = settings["transport"]
        with self.metrics.timer("client.transport.initialize"):
            self.transport: AsyncClientTransport = asyncio_transport_of(service_name, transport_config, self.metrics)
        self.middleware: list[ClientMiddleware] = middleware_of(settings, self.metrics)
        # next() on a count is atomic: ids stay unique when threads (each with its loop) share this handler.
        self._request_ids = itertools.count(random.randint(1, 1_000_000))
        api_token = settings.get("api_token")
        #: Context keys every request to this service carries under the call's own (the ``api_token`` setting).
        self.base_context: dict[str, Any] | None = {"api_token": api_token} if api_token else None
        self.version_gate: VersionGate | None = None
        self._versions: AsyncVersionsReader | None = None
        minimum_version = settings.get("minimum_version")
        if minimum_version:
            from pysoa_like.client._aio_versions import AsyncVersionsReader
            from pysoa_like.client._fleet import VersionGate

            self._versions = AsyncVersionsReader(service_name, self.transport, transport_config)
            self.version_gate = VersionGate(service_name, minimum_version, None)
        from pysoa_like.client._resilience import ServicePolicies

        #: The service's breakers, bulkhead, retries and fallbacks (``None`` when its settings configure none).
        self.policies: ServicePolicies | None = ServicePolicies.from_settings(service_name, settings, self.metrics)
        self._measured = not records_nothing(self.metrics)
        # Built once; the innermost steps are the transport's I/O (timed with a recorder only).
        send: AsyncSendRequestCallable = self._transport_send
        receive: AsyncGetResponseCallable = self._transport_receive
        if self._measured:
            send = _timed(self.metrics, "client.send.excluding_middleware", send)
            receive = _timed(self.metrics, "client.receive.excluding_middleware", receive)
        # (Its innermost step also takes a job in its wire form: see takes_messages.)
        self._send_stack: Callable[[int, dict[str, Any], Any, float | None], Awaitable[None]] = async_send_chain(
            self.middleware, send
        )
        self._receive_stack = async_receive_chain(self.middleware, receive)
        # request id -> (client.call timer, action label), with a recorder only.
        self._calls: dict[Any, tuple[Any, str]] = {}
        # The middleware's optional no_reply(request_id, exception) hooks: told of each call that ends without its
        # reply (a plain receive chain runs for replies only), such as the tracing middleware ending the call's span.
        self._no_reply_hooks: list[Any] = [
            hook for hook in (getattr(m, "no_reply", None) for m in self.middleware) if callable(hook)
        ]

    async def aclose(self) -> None:
        """Close the transport's connections and tasks, and the version check's (of the running loop)."""
        await self.transport.aclose()
        if self._versions is not None:
            await self._versions.aclose()

    def next_request_id(self) -> int:
        """A request id no other request of this handler has (safe from any thread)."""
        return next(self._request_ids)

    def make_policies(self) -> ServicePolicies:
        """The service's resilience policies, made now (empty) if its settings configure none: a call's own policy."""
        if self.policies is None:
            from pysoa_like.client._resilience import ServicePolicies

            self.policies = ServicePolicies(self.service_name, {}, self.metrics)
        return self.policies

    async def _transport_send(
        self,
        request_id: int,
        meta: dict[str, Any],
        job_request: JobRequest | dict[str, Any],
        message_expiry_in_seconds: float | None = None,
    ) -> None:
        body = job_request_to_dict(job_request) if isinstance(job_request, JobRequest) else job_request
        await self.transport.send_request_message(request_id, meta, body, message_expiry_in_seconds)

    async def _transport_receive(
        self, request_id: int, receive_timeout_in_seconds: float | None = None
    ) -> tuple[Any, JobResponse | None]:
        received = await self.transport.receive_response_message(request_id, receive_timeout_in_seconds or None)
        if received.body is None:
            raise MessageReceiveTimeout(
                f"No response from service {self.service_name} for request {request_id}: the transport has none"
            )
        return received.request_id, job_response_from_dict(received.body)

    def takes_messages(self) -> bool:
        """Whether :meth:`send_request` may be given a job in its wire form: no middleware would see the
        ``JobRequest``, and ``send_request`` is this class's (a replaced one, as ``stub_action``'s, reads it)."""
        return not self.middleware and type(self).send_request is _SEND_REQUEST and "send_request" not in vars(self)

    async def send_request(
        self, job_request: JobRequest | dict[str, Any], message_expiry_in_seconds: float | None = None
    ) -> int:
        """Send a job request through the middleware; its reply is awaited with :meth:`get_response`.

        Args:
            job_request: The job to send; or, when :meth:`takes_messages`, its wire form (see
                :func:`~pysoa_like.common.types.job_message`).
            message_expiry_in_seconds: How long the request may wait for a server; ``None`` for the transport's
                default.

        Returns:
            The request id.

        Raises:
            PySOATransportError: The transport could not send the message.
            InvalidField: The job could not be serialized.
            ServiceVersionError: The settings' ``minimum_version`` is not met by any live instance.
        """
        if self.version_gate is not None:
            assert self._versions is not None
            await self.version_gate.check_async(self._versions)
        request_id = self.next_request_id()
        meta: dict[str, Any] = {"client_version": list(_CLIENT_VERSION)}
        timer = including = None
        if self._measured:
            label = action_label(job_request)
            timer = self.metrics.timer("client.call", service=self.service_name, action=label)
            timer.start()
            including = self.metrics.timer("client.send.including_middleware")
            including.start()
        try:
            await self._send_stack(request_id, meta, job_request, message_expiry_in_seconds)
        except BaseException as exc:
            if timer is not None:
                timer.stop()
                count_call_errors(self.metrics, self.service_name, label, None, exc)
                self.metrics.publish_all()
            if self._no_reply_hooks:
                self._no_reply(request_id, exc)
            raise
        finally:
            if including is not None:
                including.stop()
        if timer is not None:
            if suppress_response_requested(
                job_request["control"] if isinstance(job_request, dict) else job_request.control
            ):
                timer.stop()
                self.metrics.publish_all()
            else:
                self._calls[request_id] = (timer, label)
        return request_id

    async def get_response(self, request_id: int, receive_timeout_in_seconds: float | None = None) -> JobResponse:
        """Wait for the reply to one request sent with :meth:`send_request`.

        Args:
            request_id: The id :meth:`send_request` returned.
            receive_timeout_in_seconds: The most seconds to wait; ``None`` or ``0`` for the transport's default.

        Raises:
            MessageReceiveTimeout: The reply did not arrive in time. The request is then forgotten, as it is when
                the wait is cancelled: a late reply is dropped.
            PySOATransportError: The transport failed while receiving.
        """
        response: JobResponse | None = None
        error: BaseException | None = None
        including = None
        try:
            if self._measured:
                including = self.metrics.timer("client.receive.including_middleware")
                including.start()
            _received_id, response = await self._receive_stack(request_id, receive_timeout_in_seconds)
            if response is None:
                raise MessageReceiveTimeout(
                    f"No response from service {self.service_name} for request {request_id}: middleware gave none"
                )
            return deprecation_warnings(self.service_name, response)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if including is not None:
                including.stop()
            if self._calls:
                self._call_ended(request_id, response, error)
            if error is not None and response is None and self._no_reply_hooks:
                self._no_reply(request_id, error)

    def _call_ended(self, request_id: Any, response: JobResponse | None, error: BaseException | None) -> None:
        entry = self._calls.pop(request_id, None)
        if entry is not None:
            entry[0].stop()
            count_call_errors(self.metrics, self.service_name, entry[1], response, error)
            self.metrics.publish_all()

    def _no_reply(self, request_id: Any, error: BaseException) -> None:
        for hook in self._no_reply_hooks:
            try:
                hook(request_id, error)
            except Exception:
                _logger.exception("The no_reply hook %r failed", hook)

    def forget(self, request_id: int) -> None:
        """Stop waiting for a request (its call gave up before waiting); a reply that still comes is dropped."""
        self.transport.forget(request_id)
        entry = self._calls.pop(request_id, None)
        if entry is not None:
            entry[0].stop()
        if self._no_reply_hooks:
            self._no_reply(request_id, asyncio.CancelledError("the call gave up before waiting for its reply"))


# The stock send_request (see AsyncServiceHandler.takes_messages).
_SEND_REQUEST = AsyncServiceHandler.send_request
