"""Test cases that call a service's actions through its whole server pipeline, in-process.

Set :attr:`~BaseServerTestCase.server_class` (and optionally
:attr:`~BaseServerTestCase.server_settings`) on a subclass of :class:`PyTestServerTestCase` (also
exported as :class:`ServerTestCase`) or :class:`UnitTestServerTestCase`; each test gets
``self.client``, a client whose service runs on the local transport (requests and responses are
round-tripped through msgpack, middleware runs, ``request.run_coroutine`` works), and
``self.call_action(action, body)``. The ``assertActionRunsWith*`` helpers check the errors an
action returns and say exactly which expected errors were missing and which were unexpected.
"""

from __future__ import annotations

import importlib
import os
import unittest
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from pysoa_like.common.errors import Error
from pysoa_like.common.types import ActionResponse
from pysoa_like.test._error_matching import describe_success, error_codes_mismatch, fail, field_errors_mismatch
from pysoa_like.test._unittest_polyfills import UnitTestAssertions

if TYPE_CHECKING:
    from pysoa_like.server.server import Server

__all__ = [
    "SETTINGS_MODULE_ENV_VAR",
    "BaseServerTestCase",
    "PyTestServerTestCase",
    "ServerSettingsNotFound",
    "ServerTestCase",
    "UnitTestServerTestCase",
    "local_client_settings",
    "server_settings_from_environment",
]

#: The environment variable naming the module that holds ``SOA_SERVER_SETTINGS`` (or ``settings``).
SETTINGS_MODULE_ENV_VAR = "PYSOA_SETTINGS_MODULE"
_LOCAL_TRANSPORT_PATH = "pysoa_like.common.transport.local:LocalClientTransport"


class ServerSettingsNotFound(RuntimeError, AssertionError):
    """No server settings could be found for a test case.

    Both a ``RuntimeError`` and, as PySOA raised, an ``AssertionError``.
    """


def server_settings_from_environment(server_class: type[Server]) -> Mapping[str, Any]:
    """The settings a test should run ``server_class`` with when none are given explicitly.

    With ``server_class.use_django``: Django's ``settings.SOA_SERVER_SETTINGS``. Otherwise the module
    named by ``$PYSOA_SETTINGS_MODULE``, attribute ``SOA_SERVER_SETTINGS`` (or ``settings``).

    Raises:
        ServerSettingsNotFound: The variable is not set, or the module or attribute cannot be found.
    """
    if getattr(server_class, "use_django", False):
        # Imported by name: Django is an optional extra without type information.
        django_settings = importlib.import_module("django.conf").settings
        return django_settings.SOA_SERVER_SETTINGS  # type: ignore[no-any-return]
    module_name = os.environ.get(SETTINGS_MODULE_ENV_VAR)
    if not module_name:
        raise ServerSettingsNotFound(
            f"No server settings for {server_class.__name__}: set server_settings on the test case (or define a "
            f"server_settings fixture), or set the environment variable {SETTINGS_MODULE_ENV_VAR} to a module "
            "with SOA_SERVER_SETTINGS"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ServerSettingsNotFound(f"Could not import {SETTINGS_MODULE_ENV_VAR}={module_name!r}: {exc}") from exc
    for name in ("SOA_SERVER_SETTINGS", "settings"):
        value = getattr(module, name, None)
        if isinstance(value, Mapping):
            return value
    raise ServerSettingsNotFound(
        f"Module {module_name!r} ({SETTINGS_MODULE_ENV_VAR}) defines neither SOA_SERVER_SETTINGS nor settings"
    )


def local_client_settings(server_class: type[Server], server_settings: Mapping[str, Any]) -> dict[str, Any]:
    """Client settings that reach ``server_class`` through the local transport, as ``{service_name: {...}}``."""
    return {
        str(server_class.service_name): {
            "transport": {
                "path": _LOCAL_TRANSPORT_PATH,
                "kwargs": {"server_class": server_class, "server_settings": server_settings},
            }
        }
    }


def close_client(client: Client) -> None:
    """Close the transports of ``client`` that can be closed (tears local servers down, stops their event loops)."""
    for handler in list(client.handlers.values()):
        close = getattr(handler.transport, "close", None)
        if callable(close):
            close()


class BaseServerTestCase:
    """The shared part of the server test cases; use :class:`PyTestServerTestCase` or :class:`UnitTestServerTestCase`.

    :attr:`server_class` and :attr:`server_settings` are read from the instance, so a test (or its
    ``setup_method``) may set them on ``self`` before calling :meth:`setup_pysoa`.

    Attributes:
        server_class: The :class:`~pysoa_like.server.server.Server` subclass under test (required).
        server_settings: Its settings; ``None`` means :func:`server_settings_from_environment`.
        service_name: Set by :meth:`setup_pysoa`: the service name of :attr:`server_class`.
        client: Set by :meth:`setup_pysoa`: a client reaching the service through the local transport.
    """

    server_class: type[Server] | None = None
    server_settings: Mapping[str, Any] | None = None
    failureException: type[BaseException] = AssertionError
    service_name: str
    client: Client

    def setup_pysoa(self) -> None:
        """Build :attr:`client` for :attr:`server_class` and set :attr:`service_name` (called before each test).

        Raises:
            TypeError: :attr:`server_class` is not set, is not a ``Server`` subclass, has no ``service_name``, or
                has an action whose ``request_schema`` or ``response_schema`` cannot check a body (the message
                is the one a server refusing to start gives).
            ServerSettingsNotFound: No settings could be found (see :func:`server_settings_from_environment`).
        """
        from pysoa_like.server.server import Server

        server_class = self.server_class
        name = type(self).__name__
        if server_class is None:
            raise TypeError(f"{name} must set server_class to the Server subclass under test")
        if not (isinstance(server_class, type) and issubclass(server_class, Server)):
            raise TypeError(f"{name}.server_class must be a Server subclass, got {server_class!r}")
        if not server_class.service_name:
            raise TypeError(f"{name}.server_class ({server_class.__name__}) must set service_name")
        from pysoa_like.server._main import StartupError, check_action_schemas

        try:
            check_action_schemas(server_class)  # as at startup: a schema that fails every call fails here
        except StartupError as exc:
            raise TypeError(str(exc)) from None
        self.service_name = server_class.service_name
        settings = self.server_settings
        if settings is None:
            settings = server_settings_from_environment(server_class)
        self.client = Client(local_client_settings(server_class, settings))

    def teardown_pysoa(self) -> None:
        """Tear the in-process server down (called after each test)."""
        client = getattr(self, "client", None)
        if client is not None:
            close_client(client)

    def call_action(
        self, action: str, body: dict[str, Any] | None = None, service_name: str | None = None, **kwargs: Any
    ) -> ActionResponse:
        """Call ``action`` of the service under test (or of ``service_name``) and return the response.

        Args:
            action: The action.
            body: Its request body.
            service_name: Another service configured in :attr:`client` (default: the one under test).
            **kwargs: More :meth:`Client.call_action` arguments.

        Raises:
            CallActionError: The action returned errors (unless ``raise_action_errors=False``).
        """
        return self.client.call_action(service_name or self.service_name, action, body=body, **kwargs)

    def _subject(self, action: str, kwargs: Mapping[str, Any]) -> str:
        return f"Action {action!r} of service {kwargs.get('service_name') or self.service_name!r}"

    def assertActionRunsWithAndReturnErrors(
        self, action: str, body: dict[str, Any] | None, **kwargs: Any
    ) -> list[Error]:
        """Call the action, expecting it to fail, and return its errors.

        Raises:
            ErrorsMismatch: The action ran without errors (the message shows its response body); like
                ``pytest.fail``, and also an ``AssertionError``.
        """
        try:
            response = self.call_action(action, body, **kwargs)
        except CallActionError as exc:
            return list(exc.actions[0].errors) if exc.actions else []
        fail(describe_success(self._subject(action, kwargs), getattr(response, "body", response)))

    def assertActionRunsWithFieldErrors(
        self,
        action: str,
        body: dict[str, Any] | None,
        field_errors: Mapping[str, str | Iterable[str]],
        only: bool = False,
        **kwargs: Any,
    ) -> None:
        """Assert that the action fails with every ``{field: code(s)}`` error (with ``only``: and no other).

        Raises:
            ErrorsMismatch: The action succeeded, or the message lists the missing and unexpected errors.
        """
        errors = self.assertActionRunsWithAndReturnErrors(action, body, **kwargs)
        problem = field_errors_mismatch(errors, field_errors, only, self._subject(action, kwargs))
        if problem:
            fail(problem)

    def assertActionRunsWithOnlyFieldErrors(
        self, action: str, body: dict[str, Any] | None, field_errors: Mapping[str, str | Iterable[str]], **kwargs: Any
    ) -> None:
        """:meth:`assertActionRunsWithFieldErrors` with ``only=True``."""
        self.assertActionRunsWithFieldErrors(action, body, field_errors, only=True, **kwargs)

    def assertActionRunsWithErrorCodes(
        self,
        action: str,
        body: dict[str, Any] | None,
        error_codes: str | Iterable[str],
        only: bool = False,
        **kwargs: Any,
    ) -> None:
        """Assert that the action fails with every code, on errors without a field (with ``only``: and no other).

        Raises:
            ErrorsMismatch: The action succeeded, or the message lists the missing and unexpected errors.
        """
        errors = self.assertActionRunsWithAndReturnErrors(action, body, **kwargs)
        problem = error_codes_mismatch(errors, error_codes, only, self._subject(action, kwargs))
        if problem:
            fail(problem)

    def assertActionRunsWithOnlyErrorCodes(
        self, action: str, body: dict[str, Any] | None, error_codes: str | Iterable[str], **kwargs: Any
    ) -> None:
        """:meth:`assertActionRunsWithErrorCodes` with ``only=True``."""
        self.assertActionRunsWithErrorCodes(action, body, error_codes, only=True, **kwargs)


class PyTestServerTestCase(BaseServerTestCase, UnitTestAssertions):
    """A pytest test class for a service: :meth:`setup_pysoa` runs in ``setup_method``.

    It also offers unittest's ``assert*`` and ``fail`` methods (``assertRaises`` and ``assertWarns`` are
    pytest's, as in PySOA: see ``pysoa_like.test._unittest_polyfills``), ``addCleanup``/``doCleanups``, and calls
    legacy ``setUpClass``/``setUp``/``tearDown``/``tearDownClass`` methods (with a ``DeprecationWarning``;
    use pytest's ``setup_method`` and friends instead). Those four exist here as no-ops, so an override may call
    ``super()``; only an override is called and warned about.
    """

    @classmethod
    def setUpClass(cls) -> None:
        """Do nothing (but run a mixin's, later in the bases): a legacy override may call ``super().setUpClass()``."""
        _next_legacy(super(), "setUpClass")

    @classmethod
    def tearDownClass(cls) -> None:
        """Do nothing (but run a mixin's): a legacy override may call ``super().tearDownClass()``."""
        _next_legacy(super(), "tearDownClass")

    def setUp(self) -> None:
        """Do nothing (but run a mixin's): a legacy override may call ``super().setUp()``."""
        _next_legacy(super(), "setUp")

    def tearDown(self) -> None:
        """Do nothing (but run a mixin's): a legacy override may call ``super().tearDown()``."""
        _next_legacy(super(), "tearDown")

    @classmethod
    def setup_class(cls) -> None:
        """Run a legacy ``setUpClass``, if the class defines one."""
        _call_legacy(cls, "setUpClass", "setup_class")

    @classmethod
    def teardown_class(cls) -> None:
        """Run a legacy ``tearDownClass``, if the class defines one."""
        _call_legacy(cls, "tearDownClass", "teardown_class")

    def setup_method(self, method: Any = None) -> None:
        """Build :attr:`client`, then run a legacy ``setUp``."""
        self._pysoa_cleanups: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self.setup_pysoa()
        _call_legacy(self, "setUp", "setup_method")

    def teardown_method(self, method: Any = None) -> None:
        """Run a legacy ``tearDown``, the cleanups (last added first), then tear the server down."""
        try:
            _call_legacy(self, "tearDown", "teardown_method")
        finally:
            try:
                self.doCleanups()
            finally:
                self.teardown_pysoa()

    def addCleanup(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Call ``function(*args, **kwargs)`` after the test (cleanups run last added first)."""
        self._pysoa_cleanups.append((function, args, kwargs))

    def doCleanups(self) -> None:
        """Run the pending cleanups now, last added first; the first error is raised after all ran."""
        first_error: BaseException | None = None
        while self._pysoa_cleanups:
            function, args, kwargs = self._pysoa_cleanups.pop()
            try:
                function(*args, **kwargs)
            except Exception as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error


def _call_legacy(target: Any, name: str, replacement: str) -> None:
    """Call ``target.<name>()`` with a ``DeprecationWarning`` if a subclass overrides the base no-op."""
    if not _overrides_legacy(target if isinstance(target, type) else type(target), name):
        return
    legacy = getattr(target, name)
    warnings.warn(
        f"{name} is deprecated on PyTestServerTestCase subclasses; use pytest's {replacement} instead",
        DeprecationWarning,
        stacklevel=3,
    )
    legacy()


def _overrides_legacy(cls: type, name: str) -> bool:
    """Whether a class of ``cls``'s MRO other than :class:`PyTestServerTestCase` (a subclass, or a mixin after it
    in the bases) defines ``name``."""
    return any(name in vars(klass) for klass in cls.__mro__ if klass is not PyTestServerTestCase)


def _next_legacy(proxy: Any, name: str) -> None:
    """Call the legacy hook ``name`` of the class after :class:`PyTestServerTestCase` in the MRO, if one has it."""
    hook = getattr(proxy, name, None)
    if hook is not None:
        hook()


#: PySOA's name for :class:`PyTestServerTestCase`.
ServerTestCase = PyTestServerTestCase


class UnitTestServerTestCase(BaseServerTestCase, unittest.TestCase):
    """A :class:`unittest.TestCase` for a service: ``setUp`` calls :meth:`setup_pysoa` (call ``super().setUp()``)."""

    def setUp(self) -> None:
        """Build :attr:`client`; the server is torn down by a cleanup."""
        super().setUp()
        self.setup_pysoa()
        self.addCleanup(self.teardown_pysoa)
