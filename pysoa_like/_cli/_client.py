"""The client side of the commands: a client for any service, one guarded call, readable errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attr

from pysoa_like._cli._common import EXIT_FAILED, EXIT_TRANSPORT, CommandError, Output
from pysoa_like._cli._target import Target, mask_url
from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError, CallJobError, ImproperlyConfigured
from pysoa_like.common.errors import Error
from pysoa_like.common.settings import SettingsError
from pysoa_like.common.transport.errors import MessageReceiveTimeout, PySOATransportError

__all__ = [
    "AnyServiceClient",
    "body_of",
    "errors_as_dicts",
    "failed_exit",
    "guarded",
    "parse_pairs",
    "report_errors",
    "timeout_problem",
]

_T = TypeVar("_T")


class AnyServiceClient(Client):
    """A :class:`Client` that finds the settings of each service it is asked to call in a :class:`Target`.

    Invalid settings of a service raise :class:`CommandError` (exit 2) naming the service.

    Args:
        target: Where the services are.
    """

    def __init__(self, target: Target) -> None:
        super().__init__({})
        self.target = target

    def _get_handler(self, service_name: str) -> Any:
        if isinstance(service_name, str) and service_name not in self.settings:
            try:
                self.settings[service_name] = self._validate(self.target.settings_for(service_name))
            except (ImproperlyConfigured, SettingsError) as exc:
                # Named here: a command calling several services at once (services) cannot tell whose they were.
                raise CommandError(f"the client settings of {service_name!r} are invalid: {exc}") from exc
        return super()._get_handler(service_name)


def parse_pairs(items: Iterable[str], what: str) -> dict[str, Any]:
    """A dict from a JSON object and/or ``key=value`` items (values typed as JSON where they parse).

    ``n=7`` gives ``{"n": 7}``, ``ok=true`` ``{"ok": True}``, ``ids=[1,2]`` a list, and ``name=Ann``
    the string ``"Ann"`` (``name='"7"'`` forces a string). A ``{...}`` item is merged as a whole.

    Raises:
        CommandError: An item is neither a JSON object nor ``key=value``.
    """
    result: dict[str, Any] = {}
    for item in items:
        if item.lstrip().startswith("{"):
            try:
                value = json.loads(item)
            except ValueError as exc:
                raise CommandError(f"the {what} {item!r} is not valid JSON: {exc}") from exc
            if not isinstance(value, dict):
                raise CommandError(f"the {what} must be a JSON object, got {item!r}")
            result.update(value)
            continue
        key, separator, text = item.partition("=")
        if not separator or not key:
            raise CommandError(f"expected a JSON object or key=value for the {what}, got {item!r}")
        try:
            result[key] = json.loads(text)
        except ValueError:
            result[key] = text
    return result


def _error_line(error: Error, verbose: bool) -> str:
    field = f" (field {error.field})" if error.field else ""
    line = f"  {error.code}{field}: {error.message}"
    if verbose and error.traceback:
        line += "\n    " + error.traceback.rstrip().replace("\n", "\n    ")
    return line


def report_errors(output: Output, service: str, exc: CallActionError | CallJobError, verbose: bool) -> None:
    """Write a service's job or action errors readably to stderr."""
    if isinstance(exc, CallJobError):
        output.problem(f"Error: the job on {service} failed:")
        for error in exc.errors:
            output.problem(_error_line(error, verbose))
        return
    for action in exc.actions:
        output.problem(f"Error: {service}.{action.action} failed:")
        for error in action.errors:
            output.problem(_error_line(error, verbose))
    if not verbose and any(e.traceback for a in exc.actions for e in a.errors):
        output.problem("(the server sent a traceback: --verbose shows it)")


def errors_as_dicts(errors: Iterable[Error]) -> list[dict[str, Any]]:
    """Errors as plain dicts (empty values left out), for ``--json`` output."""
    return [
        {key: value for key, value in attr.asdict(error).items() if value not in (None, [], {})} for error in errors
    ]


def timeout_problem(target: Target, service: str, timeout: float, exc: MessageReceiveTimeout) -> str:
    """What to tell of a call that got no reply in time: asks whether the service runs only when it may not.

    A worker that took the request (the transport found the queue empty: ``exc.queue_length == 0``) shows the
    service runs (its action was slower than the timeout); a request nobody took, or a timeout the transport
    could not explain, may mean that no server of the service runs there.
    """
    head = f"no response from service {service!r} within {timeout:g} s ({target.describe()})"
    if exc.queue_length == 0:
        return f"{head}: a worker took the request but did not reply in time (a longer --timeout may help)"
    if exc.queue_length:
        head = f"{head}: no worker took the request"
    return f"{head}; is it running? `pysoa-like services` shows the request queues"


def guarded(target: Target, service: str, timeout: float, call: Callable[[], _T]) -> _T:
    """Run ``call`` and turn settings and transport failures into :class:`CommandError` with exit codes.

    Job and action errors (``CallJobError``, ``CallActionError``) pass through for the caller to report.

    Raises:
        CommandError: Exit 2 for bad settings or an unknown service, 3 for transport errors and timeouts.
    """
    try:
        return call()
    except MessageReceiveTimeout as exc:
        raise CommandError(timeout_problem(target, service, timeout, exc), EXIT_TRANSPORT) from exc
    except PySOATransportError as exc:
        raise CommandError(
            f"cannot reach service {service!r} over {target.describe()}: {mask_url(str(exc))}", EXIT_TRANSPORT
        ) from exc
    except (ImproperlyConfigured, SettingsError) as exc:
        raise CommandError(f"the client settings of {service!r} are invalid: {exc}") from exc


def failed_exit(output: Output, service: str, exc: CallActionError | CallJobError, verbose: bool) -> int:
    """Report job or action errors and return the exit code for them."""
    report_errors(output, service, exc, verbose)
    return EXIT_FAILED


def body_of(value: Any) -> Mapping[str, Any]:
    """An action response body (a mapping), or an empty dict."""
    return value if isinstance(value, Mapping) else {}
