"""The :class:`Server`: the base class of every service.

A service subclasses :class:`Server`, sets :attr:`Server.service_name` and
:attr:`Server.action_class_map`, and runs with :meth:`Server.run` (one job at a time). This module
holds what a service sees and overrides: the class attributes, the constructor and the hooks. The
machinery lives beside it: one request's cycle (receive, validate, middleware, actions, respond) in
:mod:`pysoa_like.server._request_cycle`, the worker loop and its process concerns (signals,
harakiri, heartbeat and readiness files, outages) in :mod:`pysoa_like.server._worker_loop`, and the
fleet features (registry, events, periodic tasks) in :mod:`pysoa_like.server._fleet_server`.
"""

from __future__ import annotations

import logging
import time  # noqa: F401  # a module attribute PySOA-era tests patch: pysoa_like.server.server.time.sleep
from collections.abc import Mapping
from typing import Any, ClassVar

from pysoa_like.client.client import Client
from pysoa_like.common._bounded_logs import LogThrottle
from pysoa_like.common.fields import build_configured
from pysoa_like.common.logging import RecursivelyCensoredDictWrapper
from pysoa_like.common.metrics import MetricsRecorder, NoOpMetricsRecorder, records_nothing, substitute_fork_id
from pysoa_like.common.transport.base import ServerTransport
from pysoa_like.server._delivery import DeliveryMixin
from pysoa_like.server._event_loop import AsyncEventLoopThread
from pysoa_like.server._fleet_server import FleetServerMixin
from pysoa_like.server._harakiri import Harakiri, HarakiriInterrupt
from pysoa_like.server._heartbeat import HeartbeatFile, ReadinessFile
from pysoa_like.server._nested_clients import NestedClientsMixin
from pysoa_like.server._request_cycle import RequestCycleMixin
from pysoa_like.server._request_logging import RequestLogger, log_level
from pysoa_like.server._worker_loop import WorkerLoopMixin, receive_slice_kwargs
from pysoa_like.server.action.status import BaseStatusAction
from pysoa_like.server.coroutine import CoroutineMiddleware
from pysoa_like.server.middleware import JobHandler, ServerMiddleware, check_coroutine_hooks
from pysoa_like.server.settings import ServerSettings
from pysoa_like.server.types import EnrichedActionRequest, EnrichedJobRequest

__all__ = ["HarakiriInterrupt", "Server"]


class Server(WorkerLoopMixin, RequestCycleMixin, NestedClientsMixin, FleetServerMixin, DeliveryMixin):
    """Base class of services.

    Args:
        settings: A :class:`~pysoa_like.server.settings.ServerSettings` (or whatever
            :attr:`settings_class` is) or a plain dict, validated with :attr:`settings_class`.
        forked_process_id: The worker's fork id (1-based), or ``None`` when not forked.

    Raises:
        AttributeError: The subclass did not set :attr:`service_name`.
        ValueError: The settings are invalid (``Settings.ImproperlyConfigured``).

    Beside PySOA's attributes, a service may declare ``service_version`` and mark actions
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
    # The class of the job the job middleware receives (the request cycle cannot import it: server.types imports
    # the cycle's module).
    _job_request_class: ClassVar[type[EnrichedJobRequest]] = EnrichedJobRequest
    #: The client class for ``request.client`` (``pysoa_like.client.client.Client``).
    client_class: ClassVar[Any] = Client
    #: The client class for ``request.async_client`` (``None``: ``pysoa_like.client.async_client.AsyncClient``).
    async_client_class: ClassVar[Any] = None
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
        self.forked_process_id = forked_process_id
        #: Set to stop :meth:`run` after the job in hand (signals and harakiri set it).
        self.shutting_down = False
        #: The status :meth:`main` exits the process with: 0, or an :mod:`~pysoa_like.server.exit_codes` value
        #: when :meth:`run` gave up.
        self.exit_code = 0
        # Read by the fleet companion thread for the registry; plain attributes keep the request path as fast.
        self._in_flight = 0
        self._jobs_handled = 0
        # Jobs answered with errors (counted on the error path only).
        self._jobs_failed = 0
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
        self.metrics = (
            metrics_config["object"](**substitute_fork_id(metrics_config.get("kwargs") or {}, forked_process_id))
            if metrics_config
            else NoOpMetricsRecorder()
        )
        self.transport: ServerTransport = build_configured(
            settings["transport"], self.service_name, self.metrics, instance_index=forked_process_id or 1
        )
        self._receive_kwargs = receive_slice_kwargs(self.transport)
        self.enable_delivery()
        harakiri = settings.get("harakiri") or {}
        self._harakiri = Harakiri(
            harakiri.get("timeout", 0), harakiri.get("shutdown_grace", 0), self._on_harakiri, self.logger
        )
        self._heartbeat: HeartbeatFile | None = None
        self._readiness: ReadinessFile | None = None
        self.middleware: list[ServerMiddleware] = [build_configured(m) for m in settings.get("middleware") or ()]
        for middleware in self.middleware:
            check_coroutine_hooks(middleware)
        #: How many jobs this worker runs at once (the ``concurrency`` setting).
        self.concurrency: int = settings.get("concurrency", 1)
        if self.concurrency > 1 and self.use_django:
            raise ValueError(
                f"{type(self).__name__} uses Django (use_django), whose database connections belong to one thread "
                "and one job at a time: set concurrency to 1 and scale with --fork"
            )
        self.warn_unguarded_private_actions()
        coroutine_middleware: list[CoroutineMiddleware] = [
            build_configured(m) for m in settings.get("coroutine_middleware") or ()
        ]
        self._async_event_loop_thread = AsyncEventLoopThread(coroutine_middleware)
        self._coroutine_runner = self._async_event_loop_thread.run_in_context
        self._coroutine_factories = {}
        execute: JobHandler = self.execute_job
        self._job_stack = self.make_middleware_stack([m.job for m in self.middleware], execute)
        self._default_status_action_class: type[BaseStatusAction] | None = None
        self._validated_client_routing = None

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

    @property
    def metrics(self) -> MetricsRecorder:
        """The metrics recorder: the settings' ``metrics``, else the no-op recorder (it may be replaced)."""
        return self._metrics

    @metrics.setter
    def metrics(self, recorder: MetricsRecorder) -> None:
        self._metrics = recorder
        # Decided once per recorder: the plain no-op recorder's per-job instruments are never asked for.
        self._counting = not records_nothing(recorder)

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
        ``SOA_SERVER_SETTINGS`` and ``-s`` sets ``DJANGO_SETTINGS_MODULE``. A mistake found before the
        server starts (no settings, a settings module that cannot be loaded, invalid settings, an action
        schema that cannot check a body) is one line on stderr and exit code 2, as with ``simple_main``.

        Args:
            forked_process_id: The worker's fork id when run by the standalone supervisor.

        Raises:
            SystemExit: 2 for such a mistake; the server's non-zero exit code when it gave up.
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
        if self._counting:
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
        client = self.client_class(self._client_routing(kwargs), context=new_context, **kwargs)
        if isinstance(client, Client):
            # Each call is bounded by the deadline of the job it is made in, even when the client is kept and
            # shared by jobs running at once (a make_client that caches it).
            client.job_deadline_margin = self.nested_call_margin_seconds
        return client

    def make_async_client(
        self, context: Mapping[str, Any], extra_context: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """The asyncio client for nested calls made while handling one job (``request.async_client``).

        Args:
            context: The job's context; it is copied, so the client never changes the request.
            extra_context: Keys to add to (or override in) the copied context.
            kwargs: More arguments for :attr:`async_client_class`.

        Returns:
            An :attr:`async_client_class` over ``client_routing`` whose base context is the copied context plus
            ``calling_service`` = this service's name, as :meth:`make_client` does for ``request.client``.
        """
        from pysoa_like.client.async_client import AsyncClient

        new_context = dict(context)
        if extra_context:
            new_context.update(extra_context)
        new_context["calling_service"] = self.service_name
        client_class = type(self).async_client_class or AsyncClient
        client = client_class(self._client_routing(kwargs, client_class, AsyncClient), context=new_context, **kwargs)
        if isinstance(client, AsyncClient):
            # As for make_client: each call is bounded by the deadline of the job (the task) it is made in, even
            # when the client is kept and shared by jobs running at once (a make_async_client that caches it).
            client.job_deadline_margin = self.nested_call_margin_seconds
        return client

    def close(self) -> None:
        """Stop the event loop thread behind ``run_coroutine`` (waiting briefly for pending coroutines)."""
        self._async_event_loop_thread.stop()
        self.close_event_publisher()
