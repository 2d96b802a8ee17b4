"""The :class:`Server`: the base class of every service.

A service subclasses :class:`Server`, sets :attr:`Server.service_name` and
:attr:`Server.action_class_map`, and runs with :meth:`Server.run` (one job at a time). Each job goes
through validation, the job middleware, then each action through the action middleware; see
:mod:`pysoa_like.server._job` for the pipeline and PROTOCOL.md for the wire shapes.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import time  # also a module attribute: tests patch pysoa_like.server.server.time.sleep
from collections.abc import Mapping
from typing import Any, ClassVar

from pysoa_like.common._bounded_logs import LogThrottle, log_bounded
from pysoa_like.common._header_rules import parse_client_version_checked
from pysoa_like.common.constants import ERROR_CODE_RESPONSE_NOT_SERIALIZABLE, ERROR_CODE_RESPONSE_TOO_LARGE
from pysoa_like.common.errors import Error
from pysoa_like.common.fields import build_configured
from pysoa_like.common.logging import PySOALogContextFilter, RecursivelyCensoredDictWrapper
from pysoa_like.common.metrics import MetricsRecorder, NoOpMetricsRecorder, records_nothing, substitute_fork_id
from pysoa_like.common.serializer.errors import InvalidField, SerializationError
from pysoa_like.common.settings import SettingsError, copy_containers
from pysoa_like.common.transport.base import ServerTransport
from pysoa_like.common.transport.errors import (
    MessageReceiveTimeout,
    MessageTooLarge,
    PySOATransportError,
    TransientPySOATransportError,
)
from pysoa_like.common.types import JobResponse, job_response_to_dict
from pysoa_like.server._event_loop import AsyncEventLoopThread
from pysoa_like.server._fleet_server import FleetServerMixin
from pysoa_like.server._harakiri import Harakiri, HarakiriInterrupt
from pysoa_like.server._heartbeat import HeartbeatFile, ReadinessFile
from pysoa_like.server._job import JobPipelineMixin
from pysoa_like.server._request_logging import RequestLogger, log_level
from pysoa_like.server._responses import correlation_context, suppress_response_requested
from pysoa_like.server._worker_loop import WorkerLoopMixin
from pysoa_like.server.action.status import BaseStatusAction
from pysoa_like.server.coroutine import CoroutineMiddleware
from pysoa_like.server.middleware import JobHandler, ServerMiddleware
from pysoa_like.server.settings import ServerSettings
from pysoa_like.server.types import EnrichedActionRequest

__all__ = ["HarakiriInterrupt", "Server"]

# The longest a receive may block, so a shutdown signal is noticed within about a second.
_RECEIVE_SLICE_SECONDS = 1


class _LazyClass:
    """A class attribute resolved on first access (``module:attr``), to avoid an import cycle."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._value: type | None = None

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if self._value is None:
            module_name, _, attr_name = self._path.partition(":")
            self._value = getattr(importlib.import_module(module_name), attr_name)
        return self._value


def _bounded_receive_kwargs(transport: ServerTransport) -> dict[str, Any]:
    """``{"receive_timeout_in_seconds": <= 1}`` if the transport's receive accepts it, else ``{}``."""
    try:
        parameters = inspect.signature(transport.receive_request_message).parameters
    except (TypeError, ValueError):
        return {}
    if "receive_timeout_in_seconds" not in parameters:
        return {}
    configured = getattr(transport, "receive_timeout_in_seconds", None)
    if isinstance(configured, int | float) and 0 < configured < _RECEIVE_SLICE_SECONDS:
        return {"receive_timeout_in_seconds": configured}
    return {"receive_timeout_in_seconds": _RECEIVE_SLICE_SECONDS}


def _builds_like_stock_client(client_class: Any, stock: Any) -> bool:
    """Whether ``client_class`` is the stock client or a subclass keeping its constructor and validation."""
    try:
        return bool(
            issubclass(client_class, stock)
            and client_class.__init__ is stock.__init__
            and client_class._validate is stock._validate
        )
    except TypeError:  # not a class
        return False


class Server(WorkerLoopMixin, JobPipelineMixin, FleetServerMixin):
    """Base class of services.

    Args:
        settings: A :class:`~pysoa_like.server.settings.ServerSettings` (or whatever
            :attr:`settings_class` is) or a plain dict, validated with :attr:`settings_class`.
        forked_process_id: The worker's fork id (1-based), or ``None`` when not forked.

    Raises:
        AttributeError: The subclass did not set :attr:`service_name`.
        ValueError: The settings are invalid (``Settings.ImproperlyConfigured``).

    Beside PySOA's attributes, a service may declare :attr:`service_version` and mark actions
    deprecated (a ``deprecated`` attribute on the action class); see ``docs/service_registry.rst``.
    """

    #: The name clients use to reach this service (required).
    service_name: ClassVar[str | None] = None
    #: Action name -> action class (anything called with the settings that returns a callable).
    action_class_map: ClassVar[Mapping[str, Any]] = {}
    #: Validates and fills in the settings.
    settings_class: ClassVar[type[ServerSettings]] = ServerSettings
    #: The class of the request objects actions receive.
    request_class: ClassVar[type[EnrichedActionRequest]] = EnrichedActionRequest
    #: The client class for ``request.client`` (``pysoa_like.client.client.Client``).
    client_class: ClassVar[Any] = _LazyClass("pysoa_like.client.client:Client")
    #: Read settings from Django's ``SOA_SERVER_SETTINGS`` and run Django's database and cache
    #: housekeeping around requests (needs the ``django`` extra).
    use_django: ClassVar[bool] = False
    #: A callable taking the server that returns the ``introspect`` action (``None``: the built-in one).
    introspection_action: ClassVar[Any] = None
    #: Optional service documentation for introspection (else the class docstring).
    description: ClassVar[str | None] = None

    def __init__(self, settings: Mapping[str, Any], forked_process_id: int | None = None) -> None:
        if not type(self).service_name:
            raise AttributeError(f"{type(self).__name__} must set the class attribute service_name")
        if not isinstance(settings, self.settings_class):
            settings = self.settings_class(settings)
        self.settings = settings
        registry = settings["registry"]
        if registry["ttl_seconds"] <= registry["refresh_interval_seconds"]:
            raise SettingsError(
                "Invalid ServerSettings:\n  - registry.ttl_seconds: must be more than "
                f"registry.refresh_interval_seconds (got {registry['ttl_seconds']} and "
                f"{registry['refresh_interval_seconds']}), or every entry would expire between two refreshes"
            )
        self.forked_process_id = forked_process_id
        self.shutting_down = False
        # Read by the fleet companion thread for the registry; plain attributes keep the request path as fast.
        self._in_flight = 0
        self._jobs_handled = 0
        self._fleet_runtime = None
        self._event_publisher = None
        # Deprecated actions, marked in each response that ran one (empty for most services: one falsy check).
        self._deprecated: dict[str, str] = dict(self.deprecated_actions)
        self.check_event_handlers()
        self.check_periodic_tasks()
        self.logger = logging.getLogger("pysoa_like.server")
        # Peers decide how often some lines are logged (a malformed client_version): a few a minute at most.
        self._log_throttle = LogThrottle()
        self.job_logger = logging.getLogger("pysoa_like.server.job")

        metrics_config = settings.get("metrics")
        self.metrics: MetricsRecorder = (
            metrics_config["object"](**substitute_fork_id(metrics_config.get("kwargs") or {}, forked_process_id))
            if metrics_config
            else NoOpMetricsRecorder()
        )
        self.transport: ServerTransport = build_configured(
            settings["transport"], self.service_name, self.metrics, instance_index=forked_process_id or 1
        )
        self._receive_kwargs = _bounded_receive_kwargs(self.transport)
        harakiri = settings.get("harakiri") or {}
        self._harakiri = Harakiri(
            harakiri.get("timeout", 0), harakiri.get("shutdown_grace", 0), self._on_harakiri, self.logger
        )
        self._heartbeat: HeartbeatFile | None = None
        self._readiness: ReadinessFile | None = None
        self.middleware: list[ServerMiddleware] = [build_configured(m) for m in settings.get("middleware") or ()]
        coroutine_middleware: list[CoroutineMiddleware] = [
            build_configured(m) for m in settings.get("coroutine_middleware") or ()
        ]
        self._async_event_loop_thread = AsyncEventLoopThread(coroutine_middleware)
        execute: JobHandler = self.execute_job
        self._job_stack = self.make_middleware_stack([m.job for m in self.middleware], execute)
        self._default_status_action_class: type[BaseStatusAction] | None = None
        # (client settings class, copy of client_routing, validated routing): see _client_routing.
        self._validated_client_routing: tuple[Any, Any, dict[str, Any]] | None = None

        wrapper = RecursivelyCensoredDictWrapper.with_extra_fields(settings.get("extra_fields_to_redact")).limited_to(
            settings.get("request_log_max_length")
        )
        self.logging_dict_wrapper_class = wrapper
        self._request_logger = RequestLogger(
            self.job_logger,
            log_level(settings.get("request_log_success_level", "INFO")),
            log_level(settings.get("request_log_error_level", "INFO")),
            wrapper,
        )

    @classmethod
    def initialize(cls, settings: Mapping[str, Any]) -> type[Server]:
        """Hook called before the server is built; may return a different (patched) class.

        Args:
            settings: The settings the server will be built with.

        Returns:
            The class to instantiate (``cls`` by default).
        """
        return cls

    @classmethod
    def pre_fork(cls) -> None:
        """Hook run once in the supervising parent before it forks the workers (not on respawns)."""

    @classmethod
    def main(cls, forked_process_id: int | None = None) -> None:
        """Run this server from the command line (``-s/--settings`` module, ``-d/--daemon``).

        The settings module's ``SOA_SERVER_SETTINGS`` (or ``settings``) dict is validated, logging
        is configured from it, :meth:`initialize` picks the class, and the server runs until it is
        told to stop. With :attr:`use_django`, the settings come from Django's
        ``SOA_SERVER_SETTINGS`` and ``-s`` sets ``DJANGO_SETTINGS_MODULE``.

        Args:
            forked_process_id: The worker's fork id when run by the standalone supervisor.
        """
        from pysoa_like.server._main import server_main

        server_main(cls, forked_process_id)

    def setup(self) -> None:
        """Hook run once before the server starts handling requests (call ``super().setup()``)."""

    def teardown(self) -> None:
        """Hook run once when the server stops (call ``super().teardown()``)."""

    def perform_pre_request_actions(self) -> None:
        """Hook run before each job: publishes metrics; with Django, resets the query log and old connections.

        Overrides should call ``super().perform_pre_request_actions()``.
        """
        self.metrics.publish_all()
        if self.use_django:
            from pysoa_like.server.django.database import (
                django_close_old_database_connections,
                django_reset_database_queries,
            )

            django_reset_database_queries()
            django_close_old_database_connections()

    def perform_post_request_actions(self) -> None:
        """Hook run after each job (also a failed one): Django DB and cache cleanup, heartbeat.

        Overrides should call ``super().perform_post_request_actions()``.
        """
        if self.use_django:
            from pysoa_like.server._django_hooks import close_django_caches
            from pysoa_like.server.django.database import django_close_old_database_connections

            django_close_old_database_connections()
            close_django_caches(self.logger)
        if self._heartbeat is not None:
            self._heartbeat.beat()

    def perform_idle_actions(self) -> None:
        """Hook run when a receive times out with no request: Django DB cleanup, heartbeat.

        Overrides should call ``super().perform_idle_actions()``.
        """
        if self.use_django:
            from pysoa_like.server.django.database import django_close_old_database_connections

            django_close_old_database_connections()
        if self._heartbeat is not None:
            self._heartbeat.beat()

    def make_client(
        self, context: Mapping[str, Any], extra_context: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """The client for nested calls made while handling one job (``request.client``).

        Args:
            context: The job's context; it is copied, so the client never changes the request.
            extra_context: Keys to add to (or override in) the copied context.
            kwargs: More arguments for :attr:`client_class`.

        Returns:
            A :attr:`client_class` over ``client_routing`` whose base context is the copied context
            plus ``calling_service`` = this service's name.
        """
        new_context = dict(context)
        if extra_context:
            new_context.update(extra_context)
        new_context["calling_service"] = self.service_name
        return self.client_class(self._client_routing(kwargs), context=new_context, **kwargs)

    def _client_routing(self, client_kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
        """``client_routing`` for :meth:`make_client`, with each service's settings validated once per server.

        The stock client takes settings objects of its ``settings_class`` as they are, so a job's
        client no longer validates every routed service's settings again (tens of microseconds
        each). The validated copy is reused while ``client_routing`` still equals what it was made
        from. Any other client class (its own constructor or validation, or a ``settings_class``
        argument) gets the raw dict, as do settings that fail validation, so the client raises the
        same error it always did.
        """
        routing: Mapping[str, Any] = self.settings["client_routing"]
        if not routing or "settings_class" in client_kwargs:
            return routing
        client_class: Any = self.client_class
        if not _builds_like_stock_client(client_class, Server.client_class):
            return routing
        settings_class = client_class.settings_class
        cached = self._validated_client_routing
        if cached is not None and cached[0] is settings_class:
            try:
                unchanged = bool(cached[1] == routing)
            except Exception:
                unchanged = False
            if unchanged:
                return cached[2]
        try:
            validated = {
                name: value if isinstance(value, settings_class) else settings_class(value)
                for name, value in routing.items()
            }
        except Exception:
            return routing
        self._validated_client_routing = (settings_class, copy_containers(routing), validated)
        return validated

    def close(self) -> None:
        """Stop the event loop thread behind ``run_coroutine`` (waiting briefly for pending coroutines)."""
        self._async_event_loop_thread.stop()
        self.close_event_publisher()

    def handle_next_request(self) -> None:
        """Receive one request, process it and send the response.

        A receive timeout runs :meth:`perform_idle_actions`. A message that cannot be received
        (malformed, undecodable) is logged and skipped. Anything raised while handling a request is
        logged and, where possible, answered with an error; only transient transport errors propagate
        (:meth:`run` backs off on them).

        Raises:
            TransientPySOATransportError: The transport failed in a way a retry may fix.
        """
        metrics = self.metrics
        # The default recorder records nothing: its instruments are skipped, not called.
        counting = not records_nothing(metrics)
        idle_timer = metrics.timer("server.idle_time") if counting else None
        if idle_timer is not None:
            idle_timer.start()
        try:
            request_id, meta, job_request = self.transport.receive_request_message(**self._receive_kwargs)
        except MessageReceiveTimeout:
            if idle_timer is not None:
                idle_timer.stop()
            self.perform_idle_actions()
            return
        except TransientPySOATransportError:
            raise
        except (PySOATransportError, SerializationError) as exc:
            metrics.counter("server.error.invalid_message").increment()
            self.logger.error("Skipping a request message that could not be received: %s", exc, exc_info=exc)
            return
        finally:
            if idle_timer is not None:
                idle_timer.stop()
        if request_id is None and meta is None and job_request is None:
            return
        job_timer = None
        self._in_flight = 1
        self._jobs_handled += 1
        if counting:
            metrics.gauge("server.worker.busy").set(1)
            job_timer = metrics.timer("server.job")
            job_timer.start()
        context = correlation_context(job_request)
        PySOALogContextFilter.set_logging_request_context(request_id=request_id, **context)
        try:
            self._handle_request(request_id, meta if isinstance(meta, dict) else {}, job_request, context)
        except TransientPySOATransportError:
            raise
        except Exception as exc:
            metrics.counter("server.error.unknown").increment()
            self.logger.error("Unexpected error while handling request %r: %s", request_id, exc, exc_info=exc)
        finally:
            try:
                self.perform_post_request_actions()
            except Exception as exc:
                self.logger.error("perform_post_request_actions failed: %s", exc, exc_info=exc)
            finally:
                PySOALogContextFilter.clear_logging_request_context()
                self._in_flight = 0
                if job_timer is not None:
                    job_timer.stop()
                    metrics.gauge("server.worker.busy").set(0)

    def _handle_request(self, request_id: Any, meta: dict[str, Any], job_request: Any, context: dict[str, Any]) -> None:
        started = time.perf_counter()
        client_version, problem = parse_client_version_checked(meta)
        if problem is not None:
            log_bounded(
                self.logger,
                logging.WARNING,
                self._log_throttle,
                "client_version",
                "Ignoring a malformed client_version (treating the client as 0.40.0): %s",
                problem,
            )
        try:
            self.perform_pre_request_actions()
            self._request_logger.log_request(job_request)
            job_response = self.process_job(job_request)
            response_dict = job_response_to_dict(job_response, client_version)
        except Exception as exc:
            # Hooks, logging or response conversion failed: still answer, with a job-level SERVER_ERROR.
            self.metrics.counter("server.error.response_conversion_failure").increment()
            job_response = self.handle_unhandled_exception(exc, JobResponse)
            job_response.context.update(context)
            response_dict = job_response_to_dict(job_response, client_version)
        if not suppress_response_requested(job_request):
            response_dict = self._send_response(request_id, meta, job_request, response_dict, client_version, context)
        self._request_logger.log_response(job_request, response_dict, time.perf_counter() - started)

    def _send_response(
        self,
        request_id: Any,
        meta: dict[str, Any],
        job_request: Any,
        response_dict: dict[str, Any],
        client_version: tuple[int, ...],
        context: dict[str, Any],
    ) -> dict[str, Any]:
        try:
            self.transport.send_response_message(request_id, meta, response_dict)
            return response_dict
        except MessageTooLarge as exc:
            self.metrics.counter("server.error.response_too_large").increment()
            code, message = ERROR_CODE_RESPONSE_TOO_LARGE, "Could not send the response because it was too large"
            cause: Exception = exc
        except InvalidField as exc:
            self.metrics.counter("server.error.response_not_serializable").increment()
            code, message = (
                ERROR_CODE_RESPONSE_NOT_SERIALIZABLE,
                "Could not send the response because it failed to serialize",
            )
            cause = exc
        wrap = self._request_logger.wrap
        try:
            error_response = self.handle_job_error_code(
                code, message, wrap(job_request), wrap(response_dict), extra={"exc_info": cause}
            )
        finally:
            # The exception's traceback holds this frame, which holds the exception: a cycle that would keep
            # the refused reply (any size) alive until the cycle collector happens to run.
            del cause
        error_response.context.update(context)
        error_dict = job_response_to_dict(error_response, client_version)
        try:
            self.transport.send_response_message(request_id, meta, error_dict)
        except TransientPySOATransportError:
            raise
        except Exception as exc:
            self.logger.error("Could not send the %s error response either: %s", code, exc, exc_info=exc)
        return error_dict

    def handle_job_error_code(
        self,
        code: str,
        message: str,
        request_for_logging: Any,
        response_for_logging: Any,
        extra: Mapping[str, Any] | None = None,
    ) -> JobResponse:
        """Log a job-level failure and build a response with one job error.

        Args:
            code: The error code (``RESPONSE_TOO_LARGE``, ``RESPONSE_NOT_SERIALIZABLE``, ...).
            message: The error message.
            request_for_logging: The request, wrapped for censored logging.
            response_for_logging: The response that failed, wrapped for censored logging.
            extra: More keyword arguments for the log call (``exc_info``, ``extra``, ...).

        Returns:
            A job response holding one non-caller error.
        """
        self.job_logger.error(
            "%s. Request: %s Response: %s", message, request_for_logging, response_for_logging, **dict(extra or {})
        )
        return JobResponse(errors=[Error(code=code, message=message, is_caller_error=False)])
