"""A client introspecting a migrated service sees the built-in actions' API exactly as PySOA 1.4.9 gave it.

Documentation text is written in our own words, so only the shapes are compared: every key, every
schema node type and option, with the ``description``/``documentation`` texts and version strings
replaced by placeholders.
"""

from __future__ import annotations

from typing import Any

from pysoa_like.client.client import Client
from pysoa_like.server.server import Server
from pysoa_like.test.server import close_client, local_client_settings
from tests.interop._harness import PySOAScripts

_TEXT_KEYS = frozenset({"description", "documentation"})


class EmptyServer(Server):
    """A service with only the built-in actions."""

    service_name = "empty"
    action_class_map: dict[str, Any] = {}


def _shape(value: Any, key: str | None = None) -> Any:
    """``value`` with documentation texts and version numbers replaced by their type."""
    if isinstance(value, dict):
        return {k: _shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    if key in _TEXT_KEYS or key in {"conformity", "pysoa", "python", "version"}:
        return f"<{type(value).__name__}>"
    return value


def _ours() -> dict[str, Any]:
    client = Client(local_client_settings(EmptyServer, {}))
    try:
        return {name: client.call_action("empty", name, {}).body for name in ("introspect", "status")}
    finally:
        close_client(client)


def test_introspection_of_the_builtin_actions_has_pysoas_shape(pysoa_scripts: PySOAScripts) -> None:
    """introspect describes introspect and status with PySOA's schema shapes, key for key."""
    theirs = pysoa_scripts.run("builtin_actions.py", {})
    assert _shape(_ours()["introspect"]) == _shape(theirs["introspect"])


def test_status_answers_with_pysoas_keys_and_types(pysoa_scripts: PySOAScripts) -> None:
    """status answers with PySOA's keys, each a string (conformity included, with or without Conformity)."""
    theirs = pysoa_scripts.run("builtin_actions.py", {})
    ours = _ours()["status"]
    assert _shape(ours) == _shape(theirs["status"])
    assert all(isinstance(ours[key], str) for key in ("conformity", "pysoa", "python", "version"))
