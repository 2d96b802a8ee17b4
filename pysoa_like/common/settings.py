"""Settings: a dict in, a validated read-only mapping out (PySOA's and Conformity's semantics).

A settings class declares ``schema`` (key to field) and ``defaults``. Both are merged down the
class hierarchy as Conformity does: the bases' entries first (the leftmost base wins among them),
then the class's own. The data given to the constructor is deep-merged over the defaults (nested
mappings merge; lists and other values replace), every schema key must then be present, unknown
keys are rejected and every value is validated. Class configurations come out normalised as
``{"path", "kwargs", "object"}``. The input is never mutated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pysoa_like.common.errors import PySOAError
from pysoa_like.common.fields import ClassConfigurationSchema, List
from pysoa_like.common.fields._base import normalize_with
from pysoa_like.common.fields._describe import describe_expected, explain_errors, suggest_keys

__all__ = ["SOASettings", "Settings", "SettingsError", "copy_containers", "merge_settings"]


def _conformity_errors() -> tuple[type[Exception], ...]:
    """Conformity's settings error, when Conformity is installed, so PySOA-era ``except`` clauses catch ours."""
    try:
        from conformity.settings import Settings as ConformitySettings
    except ImportError:
        return ()
    return (ConformitySettings.ImproperlyConfigured,)


_SETTINGS_ERROR_DOC = """Settings failed validation; the message names each key path and what was expected.

    Also available as ``Settings.ImproperlyConfigured`` (Conformity's name). When Conformity is installed
    it is also a ``conformity.settings.Settings.ImproperlyConfigured``, so code written for PySOA that
    catches Conformity's exception catches it too.
    """

if TYPE_CHECKING:

    class SettingsError(PySOAError, ValueError):
        __doc__ = _SETTINGS_ERROR_DOC

else:
    SettingsError = type(
        "SettingsError",
        (PySOAError, ValueError, *_conformity_errors()),
        {"__doc__": _SETTINGS_ERROR_DOC, "__module__": __name__},
    )


def copy_containers(value: Any) -> Any:
    """Copy dicts, lists, tuples and sets recursively; other objects (classes, clients) are shared."""
    if isinstance(value, Mapping):
        return {key: copy_containers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_containers(item) for item in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(copy_containers(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return type(value)(value)
    return value


def merge_settings(data: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``data`` over ``defaults`` into a new dict (copies; neither input is changed).

    Nested mappings present on both sides are merged; any other value in ``data`` replaces the
    default (lists are not concatenated). A class configuration given as ``{"object": cls}`` does not take
    the default's ``path``.
    """
    merged = {key: copy_containers(item) for key, item in defaults.items()}
    for key, item in data.items():
        default = merged.get(key)
        if isinstance(item, Mapping) and isinstance(default, Mapping):
            if item.get("object") is not None and "path" not in item and "path" in default:
                # A class configuration given as a class: the default's path must not replace it.
                default = {k: v for k, v in default.items() if k != "path"}
            merged[key] = merge_settings(item, default)
        else:
            merged[key] = copy_containers(item)
    return merged


class Settings(Mapping[str, Any]):
    """The base of every settings class: validates at construction, then behaves as a read-only mapping.

    Args:
        data: The settings given by the user (a mapping); merged over ``defaults``.

    Raises:
        SettingsError: (``Settings.ImproperlyConfigured``) a key is unknown or missing, or a value
            is invalid. The message lists every problem in plain words, one line each, naming its key path:
            ``key.path: expected ..., got ...``.
    """

    schema: ClassVar[dict[str, Any]] = {}
    defaults: ClassVar[dict[str, Any]] = {}

    ImproperlyConfigured = SettingsError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        bases = [base for base in cls.__bases__ if issubclass(base, Settings)]
        schema: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        for base in reversed(bases):
            schema.update(base.schema)
            defaults.update(base.defaults)
        schema.update(cls.__dict__.get("schema", {}))
        defaults.update(cls.__dict__.get("defaults", {}))
        cls.schema = schema
        cls.defaults = defaults

    def __init__(self, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise self.ImproperlyConfigured(
                f"Invalid {type(self).__name__}: expected a mapping of settings, got {type(data).__name__}"
            )
        merged = merge_settings(data, self.defaults)
        problems: list[str] = []
        allowed = sorted(self.schema)
        for key in merged:
            if key not in self.schema:
                problems.append(
                    f"{key}: unknown setting (allowed settings: {', '.join(allowed)}){suggest_keys(key, allowed)}"
                )
        validated: dict[str, Any] = {}
        for key, field in self.schema.items():
            if key not in merged:
                problems.append(f"{key}: missing (expected {describe_expected(field.introspect())})")
                continue
            value = merged[key]
            errors = field.errors(value)
            if errors:
                problems.extend(explain_errors(field, value, errors, [key]))
            elif not problems:
                validated[key] = normalize_with(field, value)
        if problems:
            details = "".join(f"\n  - {problem}" for problem in problems)
            raise self.ImproperlyConfigured(f"Invalid {type(self).__name__}:{details}")
        self._data = validated

    def set(self, data: Mapping[str, Any]) -> None:
        """Validate ``data`` (merged over the defaults) and make it these settings' contents, as Conformity's does.

        Args:
            data: The new settings.

        Raises:
            SettingsError: (``Settings.ImproperlyConfigured``) the data is invalid; the contents are then unchanged.
        """
        self._data = type(self)(data)._data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"


class SOASettings(Settings):
    """Settings shared by clients and servers: ``transport``, ``middleware`` and ``metrics``."""

    schema = {
        "transport": ClassConfigurationSchema(description="The transport class and its constructor kwargs"),
        "middleware": List(
            ClassConfigurationSchema(),
            description="The middleware applied to every request, outermost first",
        ),
        "metrics": ClassConfigurationSchema(
            description="The metrics recorder class (pymetrics-compatible) and its constructor kwargs",
        ),
    }

    defaults = {
        "middleware": [],
        "metrics": {"path": "pysoa_like.common.metrics:NoOpMetricsRecorder"},
    }
