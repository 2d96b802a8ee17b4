"""``Server.main``: run one server process from the command line (PySOA's entry point).

Parses ``-s/--settings`` (a module whose ``SOA_SERVER_SETTINGS`` or ``settings`` is the server
settings dict) and ``-d/--daemon`` with ``parse_known_args``, so they combine with the standalone
runner's flags; loads and validates the settings (from Django's settings for ``use_django``
servers); configures logging; then builds the server through ``initialize`` and runs it.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging.config
import os
import sys
import sysconfig
import traceback
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pysoa_like.common.logging import PySOALogContextFilter
from pysoa_like.common.schema import schema_mistake
from pysoa_like.common.settings import SettingsError
from pysoa_like.server._overrides import apply_log_format, apply_metrics

if TYPE_CHECKING:
    from pysoa_like.server.server import Server

__all__ = [
    "SettingsModuleFailed",
    "StartupError",
    "check_action_schemas",
    "check_server_class",
    "load_settings_module",
    "logging_to_configure",
    "make_main_parser",
    "module_settings",
    "resolve_server_settings",
    "server_main",
    "syntax_error_text",
]


def make_main_parser(description: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``Server.main``'s own flags."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "-s",
        "--settings",
        help="The settings module (its SOA_SERVER_SETTINGS or settings dict); for Django, DJANGO_SETTINGS_MODULE",
    )
    parser.add_argument("-d", "--daemon", action="store_true", help="Run in the background (prints PID=<pid>)")
    return parser


# The handler that the default logging defines, as PySOA's does, for settings to attach to a logger. dictConfig builds
# every handler it is given, and a syslog handler opens its socket (and learns the path MTU) when built: it is given
# this one only when something uses it.
_DEFAULT_SYSLOG_HANDLER = "syslog"


def _handlers_in_use(config: Mapping[str, Any]) -> set[str]:
    """The handler names that the root logger, the loggers and the handlers (a ``MemoryHandler``'s ``target``, a
    ``QueueHandler``'s ``handlers``) of a dictConfig dictionary name."""
    users: list[Any] = [config.get("root"), *dict(config.get("loggers") or {}).values()]
    users.extend(dict(config.get("handlers") or {}).values())
    names: set[str] = set()
    for user in users:
        if isinstance(user, Mapping):
            listed = user.get("handlers")
            if isinstance(listed, (list, tuple)):
                names.update(name for name in listed if isinstance(name, str))
            if isinstance(user.get("target"), str):
                names.add(user["target"])
    return names


def logging_to_configure(logging_setting: Mapping[str, Any]) -> dict[str, Any]:
    """The ``logging`` setting as the server hands it to :func:`logging.config.dictConfig`.

    The default ``syslog`` handler (with the settings' changes to it) is left out while nothing names it, so a server
    opens no syslog socket unless the settings attach the handler; ``--log-format`` is then applied
    (:func:`~pysoa_like.server._overrides.apply_log_format`).
    """
    config = dict(logging_setting)
    handlers = config.get("handlers")
    unused = _DEFAULT_SYSLOG_HANDLER not in _handlers_in_use(config)
    if isinstance(handlers, Mapping) and _DEFAULT_SYSLOG_HANDLER in handlers and unused:
        config["handlers"] = {name: entry for name, entry in handlers.items() if name != _DEFAULT_SYSLOG_HANDLER}
    return apply_log_format(config)


class SettingsModuleFailed(Exception):
    """Importing a settings module raised an error of its own code (kept in :attr:`failure`)."""

    def __init__(self, failure: Exception) -> None:
        super().__init__(f"{type(failure).__name__}: {failure}")
        self.failure = failure


def module_settings(module: Any, *names: str) -> Mapping[str, Any] | None:
    """The first of ``names`` that ``module`` defines as a dict (``None``: none of them).

    A ``SOA_...`` name is meant for settings only, so it holding something other than a dict (or ``None``) is a
    mistake, often a trailing comma that made the dict a tuple; ``settings`` may be anything else (Django's).

    Raises:
        ValueError: A ``SOA_...`` name holds something other than a dict or ``None``; the message names it.
    """
    for name in names:
        value = getattr(module, name, None)
        if isinstance(value, Mapping):
            return value
        if value is not None and name.startswith("SOA_"):
            comma = " (a trailing comma after the closing brace makes a tuple)" if isinstance(value, tuple) else ""
            raise ValueError(
                f"{name} in settings module {module.__name__!r} must be a dict, got {type(value).__name__}{comma}"
            )
    return None


def load_settings_module(module_name: str) -> Mapping[str, Any]:
    """The settings dict of a settings module: ``SOA_SERVER_SETTINGS``, else ``settings``.

    Raises:
        ModuleNotFoundError: The module, or one it imports, is missing.
        SyntaxError: The module is not valid Python.
        SettingsModuleFailed: Its code raised anything else while it was imported.
        ValueError: The module defines neither, or ``SOA_SERVER_SETTINGS`` is not a dict.
    """
    try:
        module = importlib.import_module(module_name)
    except (ModuleNotFoundError, SyntaxError):
        raise
    except Exception as exc:
        raise SettingsModuleFailed(exc) from exc
    value = module_settings(module, "SOA_SERVER_SETTINGS", "settings")
    if value is not None:
        return value
    raise ValueError(f"Settings module {module_name!r} defines neither SOA_SERVER_SETTINGS nor settings (a dict)")


def _import_failure(module_name: str, exc: BaseException) -> str:
    """One line for a settings module whose import raised ``exc``: what, and the module-level line that failed."""
    return f"importing the settings module {module_name!r} failed: {import_failure_text(exc)}"


def import_failure_text(exc: BaseException) -> str:
    """``Error: message (file, line N)`` for an import that raised ``exc``, with the module-level line that failed,
    and the line that raised when it is in a function that line called (``...; raised in f at file, line M``)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return f"{type(exc).__name__}: {exc}"
    # The module-level line that failed (the imported module's, or a module it imports), not the library's.
    top_level = [i for i, frame in enumerate(frames) if frame.name == "<module>"] or [len(frames) - 1]
    failed = frames[top_level[-1]]
    where = f"{failed.filename}, line {failed.lineno}"
    # The innermost line of code of its own (not the standard library's) the module-level line led to: where a
    # bug in a function it called is, which a one-line report would otherwise hide with the traceback.
    raised = [frame for frame in frames[top_level[-1] + 1 :] if not _standard_library(frame.filename)]
    if raised:
        where += f"; raised in {raised[-1].name} at {raised[-1].filename}, line {raised[-1].lineno}"
    return f"{type(exc).__name__}: {exc} ({where})"


def _standard_library(filename: str) -> bool:
    """Whether ``filename`` is the standard library's (a frozen module, ``<frozen os>``, included)."""
    if filename.startswith("<"):
        return True
    stdlib = sysconfig.get_paths()["stdlib"]
    return os.path.abspath(filename).startswith(os.path.join(stdlib, "")) and "site-packages" not in filename


def raised_by_module_code(exc: BaseException) -> bool:
    """Whether ``exc`` came out of the module-level code of a module being imported (not from finding it)."""
    return any(frame.name == "<module>" for frame in traceback.extract_tb(exc.__traceback__))


def syntax_error_text(error: SyntaxError) -> str:
    """Where a syntax error is and what it is, in one line: ``path, line 3, column 5: '(' was never closed``."""
    where = f"{error.filename or '<unknown file>'}, line {error.lineno}"
    if error.offset:
        where += f", column {error.offset}"
    return f"{where}: {error.msg}"


def _daemonize() -> None:
    pid = os.fork()
    if pid:
        print(f"PID={pid}", flush=True)
        os._exit(0)
    os.setsid()


class StartupError(ValueError):
    """A usage or settings mistake found before the server starts: one message, no traceback wanted."""


def check_server_class(server_class: type[Server]) -> None:
    """Check what a server class must declare, before any worker builds it (each would fail the same way).

    Raises:
        StartupError: ``service_name`` is not a non-empty string, or ``action_class_map`` is not a mapping of
            action names to callables (action classes, factories or coroutine functions), or maps one to an
            ``Action`` instance instead of its class, or an action's ``request_schema`` or ``response_schema``
            could not check a body (:func:`check_action_schemas`).
    """
    name = server_class.__name__
    service_name = getattr(server_class, "service_name", None)
    if not isinstance(service_name, str) or not service_name:
        raise StartupError(
            f"{name} must set the class attribute service_name (the name clients call it by), got {service_name!r}"
        )
    actions = getattr(server_class, "action_class_map", None)
    if not isinstance(actions, Mapping):
        raise StartupError(f"{name}.action_class_map must be a dict of action names to Action classes")
    from pysoa_like.server.action import Action

    for action, factory in actions.items():
        if isinstance(factory, Action):  # callable, but called with the settings it would run them as a request
            raise StartupError(
                f"{name}.action_class_map[{action!r}] must be an Action subclass, not an instance of it: map "
                f"{action!r} to {type(factory).__name__} (an action is built from the class for every call)"
            )
        if not isinstance(action, str) or not callable(factory):
            raise StartupError(
                f"{name}.action_class_map[{action!r}] must be an Action subclass (or a callable returning an "
                f"action, or an async function), got {factory!r}"
            )
    check_action_schemas(server_class)


def check_action_schemas(server_class: type[Server]) -> None:
    """Check that every action's ``request_schema`` and ``response_schema`` can check a body (the entries of a
    switched action too; a factory's actions are known only once it is called, and a schema a property or other
    descriptor computes for each action only then: neither is checked).

    PySOA checked nothing here, and every call of such an action failed with ``SERVER_ERROR``: a field class given
    for its instance, a plain type or a dict inside a field, a type no installed pydantic can adapt.

    Raises:
        StartupError: One names the service, the action, where in the schema the mistake is and what to write.
    """
    for action, action_class in _served_action_classes(server_class.action_class_map):
        for attribute in ("request_schema", "response_schema"):
            mistake = schema_mistake(_class_schema(action_class, attribute))
            if mistake is not None:
                raise StartupError(
                    f"{server_class.__name__} (service {server_class.service_name!r}), action {action!r}: "
                    f"{attribute}{mistake}"
                )


def _class_schema(action_class: type, attribute: str) -> Any:
    """The schema ``action_class`` sets in ``attribute``, or ``None`` when it is known only on an action: a
    property, a ``functools.cached_property`` or any other descriptor gives each action what it computes, which is
    not checked."""
    schema = inspect.getattr_static(action_class, attribute, None)
    return None if hasattr(type(schema), "__get__") else schema


def _served_action_classes(actions: Mapping[str, Any]) -> Iterator[tuple[str, type]]:
    """The classes ``actions`` maps names to, each with its name: a switched action's entries by theirs."""
    from pysoa_like.server.action.switched import SwitchedAction

    for action, factory in actions.items():
        if not isinstance(factory, type):
            continue
        if issubclass(factory, SwitchedAction):
            entries = factory.iterate_switched_actions(action)
            yield from ((name, entry) for name, entry in entries if isinstance(entry, type))
        else:
            yield action, factory


def resolve_server_settings(
    server_class: type[Server], settings_module: str | None, setup_django: bool = True
) -> Mapping[str, Any]:
    """The validated settings a server of ``server_class`` runs with.

    Args:
        server_class: The server class (its ``settings_class`` validates; ``use_django`` says where the
            settings come from).
        settings_module: The ``-s/--settings`` module (Django's settings module for ``use_django`` servers).
        setup_django: Whether to run ``django.setup()`` first (the check before forking reads Django's settings
            without it).

    Returns:
        The settings object.

    Raises:
        StartupError: The class lacks a ``service_name`` or maps an action to something not callable
            (:func:`check_server_class`); no settings were given, the settings module cannot be imported (is
            missing, or is not valid Python) or defines no settings, or the settings are invalid (the message
            names every bad key).
    """
    check_server_class(server_class)
    if server_class.use_django:
        from pysoa_like.server._django_hooks import django_server_settings, django_setup

        if settings_module:
            os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
        try:
            if setup_django:
                django_setup()
            raw_settings: Mapping[str, Any] = django_server_settings()
        except ValueError as exc:
            raise StartupError(str(exc)) from exc
        except SyntaxError as exc:
            raise StartupError(f"a Django settings module is not valid Python: {syntax_error_text(exc)}") from exc
        where = f"Django settings module {os.environ.get('DJANGO_SETTINGS_MODULE')!r}"
    elif settings_module:
        try:
            raw_settings = load_settings_module(settings_module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (settings_module == exc.name or settings_module.startswith(exc.name + ".")):
                raise StartupError(_import_failure(settings_module, exc)) from exc  # a module it imports is missing
            raise StartupError(f"cannot import the settings module {settings_module!r}: {exc}") from exc
        except ValueError as exc:
            raise StartupError(str(exc)) from exc
        except SyntaxError as exc:
            problem = syntax_error_text(exc)
            raise StartupError(f"the settings module {settings_module!r} is not valid Python: {problem}") from exc
        except SettingsModuleFailed as exc:
            # The module's own code failed (a missing environment variable, ...): where and what, in one line.
            raise StartupError(_import_failure(settings_module, exc.failure)) from exc
        where = f"settings module {settings_module!r}"
    else:
        raise StartupError("no settings: pass -s/--settings MODULE (a module defining SOA_SERVER_SETTINGS)")
    try:
        return server_class.settings_class(apply_metrics(raw_settings, server_class.service_name))
    except SettingsError as exc:
        raise StartupError(f"{where}: {exc}") from exc


def server_main(
    server_class: type[Server], forked_process_id: int | None = None, argv: Sequence[str] | None = None
) -> None:
    """Parse the command line, build the server and run it until it shuts down.

    Args:
        server_class: The server class.
        forked_process_id: The worker's fork id, when run by the standalone supervisor.
        argv: The arguments (``sys.argv[1:]`` by default).

    Raises:
        SystemExit: With 2 (:data:`~pysoa_like.server.exit_codes.EXIT_CONFIGURATION`) after one line on stderr
            for a mistake found before the server starts (no settings, settings that cannot be loaded or are
            invalid, a server class that cannot serve: :func:`resolve_server_settings`), as the standalone runner
            and ``pysoa-like serve`` exit; with the server's non-zero
            :attr:`~pysoa_like.server.server.Server.exit_code` when it gave up (see
            :mod:`pysoa_like.server.exit_codes`).
    """
    parser = make_main_parser(server_class.__doc__)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = resolve_server_settings(server_class, args.settings)
    except StartupError as exc:
        from pysoa_like.server.exit_codes import EXIT_CONFIGURATION

        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIGURATION) from None
    PySOALogContextFilter.set_service_name(server_class.service_name)
    if settings.get("logging"):
        logging.config.dictConfig(logging_to_configure(settings["logging"]))
    if args.daemon:
        _daemonize()
    actual_class = server_class.initialize(settings)
    server = actual_class(settings, forked_process_id)
    server.run()
    if server.exit_code:
        raise SystemExit(server.exit_code)
