"""The built-in ``status`` action: versions plus optional health checks.

Response keys and schemas are PySOA's: ``conformity``, ``pysoa``, ``python``, ``version``, and
optionally ``build`` and ``healthcheck``. ``pysoa`` holds the pysoa_like version (the library that
plays PySOA's part); ``conformity`` holds the installed Conformity version when the extra is
installed, else the pysoa_like version too (its ``pysoa_like.common.fields`` plays Conformity's
part), so the value is always a string, as PySOA's schema says.
"""

from __future__ import annotations

import abc
import functools
import importlib.metadata
import platform
import sys
from collections.abc import Iterable
from typing import Any, NamedTuple

from pysoa_like.common import fields
from pysoa_like.common.types import Body
from pysoa_like.server.action.base import Action
from pysoa_like.server.types import EnrichedActionRequest
from pysoa_like.version import __version__

__all__ = [
    "BaseStatusAction",
    "CheckMethodReturn",
    "CheckMethodStatus",
    "StatusActionFactory",
    "make_default_status_action_class",
]


class CheckMethodStatus(NamedTuple):
    """One problem reported by a ``check_*`` method.

    Args:
        is_error: ``True`` for an error, ``False`` for a warning.
        code: A stable code, such as ``"MYSQL_FAILURE"``.
        description: A readable explanation.
    """

    is_error: bool
    code: str
    description: str


#: What a ``check_*`` method of a status action returns: ``None``, or problems as ``(is_error, code, description)``.
CheckMethodReturn = Iterable[CheckMethodStatus | tuple[bool, str, str]] | None
"""What a ``check_*`` method returns: problems, or a false value when all is well."""


@functools.cache
def _conformity_version() -> str:
    try:
        return importlib.metadata.version("conformity")
    except importlib.metadata.PackageNotFoundError:
        return __version__


_PROBLEM = fields.Tuple(
    fields.UnicodeString(description="The stable problem code"),
    fields.UnicodeString(description="The readable problem description"),
)


class BaseStatusAction(Action):
    """Base of status actions: reports versions and runs every ``check_*`` method.

    It is abstract (``TypeError`` on instantiation) until ``_version`` is given: subclass it (or use
    :func:`StatusActionFactory`), set ``_version`` (and optionally ``_build``) and
    add methods named ``check_<something>(self, request)`` returning :data:`CheckMethodReturn`. They
    may also put extra data in ``self.diagnostics``. With ``verbose: false`` in the request, checks
    are skipped and ``healthcheck`` is left out. In a running worker with a fleet, the health check's
    ``diagnostics`` also hold ``registry`` (this service's live instances, versions, request queue depth
    and jobs in flight) and ``dependencies`` (when declared), with a ``DEPENDENCY_UNAVAILABLE`` warning per
    required service that is not available: the response keys stay PySOA's. To call ``status`` on every service in
    ``client_routing`` as a check, add ``check_client_settings = BaseStatusAction._check_client_settings``.
    """

    #: Reading status has no effect: safe to run again for a redelivered request.
    idempotent = True
    description = (
        "Returns the versions of the service, Python, pysoa_like (as `pysoa`) and Conformity (pysoa_like's "
        "when Conformity is not installed), plus the service build if it has one. Unless `verbose` is false, it "
        "also runs the service's health checks and returns their results in `healthcheck`."
    )

    request_schema = fields.Dictionary(
        {
            "verbose": fields.Boolean(
                description="False skips the health checks and leaves `healthcheck` out (defaults to true)."
            )
        },
        optional_keys=("verbose",),
    )

    response_schema = fields.Dictionary(
        {
            "build": fields.UnicodeString(description="The service build, if it has one."),
            "conformity": fields.UnicodeString(
                description="The installed Conformity version (pysoa_like's when Conformity is not installed)."
            ),
            "healthcheck": fields.Dictionary(
                {
                    "warnings": fields.List(_PROBLEM, description="Warnings found by the health checks."),
                    "errors": fields.List(_PROBLEM, description="Errors found by the health checks."),
                    "diagnostics": fields.SchemalessDictionary(
                        key_type=fields.UnicodeString(), description="Extra data from the health checks."
                    ),
                },
                optional_keys=("warnings", "errors", "diagnostics"),
                description="The results of the health checks.",
            ),
            "pysoa": fields.UnicodeString(description="The pysoa_like version."),
            "python": fields.UnicodeString(description="The Python version."),
            "version": fields.UnicodeString(description="The service version."),
        },
        optional_keys=("build", "healthcheck"),
    )

    @property
    @abc.abstractmethod
    def _version(self) -> str:
        """The service version; a subclass must provide it (a class attribute will do)."""

    _build: Any = None

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        self.diagnostics: dict[str, Any] = {}

    def run(self, request: EnrichedActionRequest) -> Body:
        """Collect the versions and, unless ``verbose`` is false, the health check results."""
        status: Body = {
            "conformity": _conformity_version(),
            "pysoa": __version__,
            "python": platform.python_version(),
            "version": self._version,
        }
        if self._build:
            status["build"] = self._build
        if not request.body or request.body.get("verbose", True) is True:
            errors: list[tuple[str, str]] = []
            warnings: list[tuple[str, str]] = []
            self.diagnostics = {}
            for name in sorted(dir(self)):
                if not name.startswith("check_"):
                    continue
                for is_error, code, text in getattr(self, name)(request) or ():
                    (errors if is_error else warnings).append((code, text))
            # A running worker with a fleet adds its registry view (and dependency problems) to the health check.
            fleet_status = getattr(getattr(request, "_server", None), "fleet_status", None)
            if fleet_status is not None:
                fleet_diagnostics, fleet_warnings = fleet_status()
                self.diagnostics.update(fleet_diagnostics)
                warnings.extend(fleet_warnings)
            status["healthcheck"] = {"errors": errors, "warnings": warnings, "diagnostics": self.diagnostics}
        return status

    def _check_client_settings(self, request: EnrichedActionRequest) -> CheckMethodReturn:
        """Call ``status`` (``verbose: false``) on every configured service and report failures."""
        client = request.client
        routing = getattr(client, "settings", None) if client is not None else None
        if not routing:
            return None
        self.diagnostics["services"] = {}
        service_names = list(routing)
        try:
            responses = client.call_jobs_parallel(
                [
                    {"service_name": name, "actions": [{"action": "status", "body": {"verbose": False}}]}
                    for name in service_names
                ],
                timeout=2,
                catch_transport_errors=True,
                raise_job_errors=False,
                raise_action_errors=False,
            )
        except Exception as exc:
            return [CheckMethodStatus(True, "CHECK_SERVICES_UNKNOWN_ERROR", str(exc))]
        problems: list[CheckMethodStatus] = []
        for name, response in zip(service_names, responses, strict=False):
            prefix = name.upper()
            if isinstance(response, Exception):
                problems.append(CheckMethodStatus(True, f"{prefix}_TRANSPORT_ERROR", str(response)))
            elif isinstance(response, list) or response.errors:
                errors = response if isinstance(response, list) else response.errors
                problems.append(CheckMethodStatus(True, f"{prefix}_CALL_ERROR", str(errors)))
            elif response.actions[0].errors:
                problems.append(CheckMethodStatus(True, f"{prefix}_STATUS_ERROR", str(response.actions[0].errors)))
            else:
                self.diagnostics["services"][name] = response.actions[0].body
        return problems


def StatusActionFactory(
    version: str, build: str | None = None, base_class: type[BaseStatusAction] = BaseStatusAction
) -> type[BaseStatusAction]:
    """Build a ``StatusAction`` class reporting the given service version and build.

    Args:
        version: The service version.
        build: The service build, if any.
        base_class: The class to extend (a :class:`BaseStatusAction` subclass with extra checks).

    Returns:
        A new class named ``StatusAction``.
    """
    return type("StatusAction", (base_class,), {"_version": version, "_build": build})


def make_default_status_action_class(server_class: type) -> type[BaseStatusAction]:
    """The status action served when a server's ``action_class_map`` has no ``status``.

    The version is the server class's ``service_version`` if set, else the ``__version__`` of its
    top-level package (``'unknown'`` if absent); the build is that package's ``__build__`` (if set).

    Args:
        server_class: The server class.
    """
    package = sys.modules.get(server_class.__module__.split(".")[0])
    declared = getattr(server_class, "service_version", None)
    version = (
        str(declared) if isinstance(declared, str) and declared else str(getattr(package, "__version__", "unknown"))
    )
    build = str(getattr(package, "__build__", "") or "") or None
    return StatusActionFactory(version, build)
