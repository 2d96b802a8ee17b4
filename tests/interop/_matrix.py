"""The interop matrix: which client talks to which server, how, and the calls each combination runs.

Every combination runs ALL its scenarios in one batch (one client, one PySOA subprocess at most),
cached for the session; each test then checks one scenario's outcomes. The two cross directions are
the point; the same-implementation paths (PySOA to PySOA, pysoa_like to pysoa_like) run the same
checks as references, proving the expectations are PySOA's own behaviour.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
from collections.abc import Callable, Collection
from typing import Any

import pytest
from currint import Amount

from tests.interop._harness import JSON_SERVICES, MSGPACK_SERVICES, Deployment

__all__ = [
    "BIG_SIZE",
    "COMBOS",
    "CORRELATION_ID",
    "CROSS_PATHS",
    "PARALLEL_BIG_SIZE",
    "PATHS",
    "RING_SCENARIOS",
    "TYPES_BODY",
    "TYPES_EXPECTED",
    "BatchRunner",
    "Combo",
    "Path",
    "error",
    "matrix_cases",
    "run_batch",
    "scenario_calls",
]

UTC = datetime.timezone.utc
BIG_SIZE = 3 * 1024 * 1024
PARALLEL_BIG_SIZE = 1024 * 1024
CORRELATION_ID = "interop-cid-1"
ECHO_BODY: dict[str, Any] = {
    "text": "h\u00e9llo \u2603",
    "n": 42,
    "nested": {"list": [1, 2.5, None, True], "deep": {7: "int key"}},
}
TYPES_BODY: dict[str, Any] = {
    "naive": datetime.datetime(2020, 1, 2, 3, 4, 5, 6),
    "utc": datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    "date": datetime.date(2020, 1, 2),
    "time": datetime.time(1, 2, 3, 4),
    "decimal": decimal.Decimal("-12.3400"),
    "bytes": b"\x00\xffbin",
    "amount": Amount.from_code_and_minor("USD", 1234),
    "nested": {"when": [datetime.date(1999, 12, 31), decimal.Decimal("1E+3")], 5: b"k"},
}
TYPES_EXPECTED = {
    "naive": "datetime/naive",
    "utc": "datetime/utc",
    "date": "date",
    "time": "time",
    "decimal": "Decimal",
    "bytes": "bytes",
    "amount": "Amount",
    "nested": "dict",
}


def error(code: str, message: str, field: str | None, is_caller_error: bool) -> dict[str, Any]:
    """An Error as a client sees it, every key present (as PySOA 1.4.9 servers send them)."""
    return {
        "code": code,
        "message": message,
        "field": field,
        "traceback": None,
        "variables": None,
        "denied_permissions": None,
        "is_caller_error": is_caller_error,
    }


@dataclasses.dataclass(frozen=True)
class Path:
    """Who calls whom: the client's and the server's implementation (``"pysoa"`` or ``"like"``)."""

    client: str
    server: str

    @property
    def id(self) -> str:
        return f"{self.client}-client-to-{self.server}-server"


@dataclasses.dataclass(frozen=True)
class Combo:
    """How the client speaks: serializer and protocol version."""

    serializer: str
    version: int

    @property
    def id(self) -> str:
        return f"{self.serializer}-v{self.version}"

    @property
    def services(self) -> tuple[str, str]:
        # Protocol v1 carries no content-type: JSON v1 needs servers whose default serializer is JSON.
        return JSON_SERVICES if (self.serializer, self.version) == ("json", 1) else MSGPACK_SERVICES


CROSS_PATHS = (Path("pysoa", "like"), Path("like", "pysoa"))
PATHS = (*CROSS_PATHS, Path("pysoa", "pysoa"), Path("like", "like"))
# The ring adds up to one server receive timeout per request (workers poll one master at a time), so it
# runs the scenarios that exercise routing: request round-robin, reply hashing, chunks, several services.
RING_SCENARIOS = frozenset(
    {"single_call", "whoami", "caller_error", "parallel_calls", "multi_service_jobs", "big_response", "after_big"}
)
COMBOS = tuple(Combo(serializer, version) for serializer in ("msgpack", "json") for version in (1, 2, 3))


def _call(method: str, **kwargs: Any) -> dict[str, Any]:
    return {"method": method, "kwargs": kwargs}


def scenario_calls(combo: Combo) -> dict[str, list[dict[str, Any]]]:
    """The calls of every scenario for ``combo`` (plain kwargs; the harness tags them)."""
    main, other = combo.services
    scenarios: dict[str, list[dict[str, Any]]] = {
        "single_call": [_call("call_action", service_name=main, action="echo", body=ECHO_BODY)],
        "whoami": [_call("call_action", service_name=main, action="whoami")],
        "serial_calls": [
            _call("call_action", service_name=main, action="square", body={"number": n}) for n in (1, 2, 3)
        ],
        "serial_job": [
            _call(
                "call_actions",
                service_name=main,
                actions=[
                    {"action": "echo", "body": {"step": 1}},
                    {"action": "square", "body": {"number": 3}},
                    {"action": "whoami"},
                ],
                correlation_id=CORRELATION_ID,
                switches=[3, 5],
                context={"locale": "fr_FR"},
            )
        ],
        "parallel_calls": [
            _call(
                "call_actions_parallel",
                service_name=main,
                actions=[{"action": "square", "body": {"number": n}} for n in range(1, 7)],
            )
        ],
        "multi_service_jobs": [
            _call(
                "call_jobs_parallel",
                jobs=[
                    {
                        "service_name": main,
                        "actions": [{"action": "whoami"}, {"action": "square", "body": {"number": 4}}],
                    },
                    {"service_name": other, "actions": [{"action": "whoami"}]},
                    {"service_name": other, "actions": [{"action": "echo", "body": {"job": 3}}]},
                ],
            )
        ],
        "caller_error": [_call("call_action", service_name=main, action="fail", body={"caller": True})],
        "server_error": [
            _call("call_action", service_name=main, action="fail", body={"caller": False}, raise_action_errors=False)
        ],
        "unknown_action": [_call("call_action", service_name=main, action="nope", raise_action_errors=False)],
        "stop_on_error": [
            _call(
                "call_actions",
                service_name=main,
                actions=[{"action": "fail", "body": {"caller": True}}, {"action": "square", "body": {"number": 2}}],
                raise_action_errors=False,
            )
        ],
        "continue_on_error": [
            _call(
                "call_actions",
                service_name=main,
                actions=[{"action": "fail", "body": {"caller": False}}, {"action": "square", "body": {"number": 2}}],
                continue_on_error=True,
                raise_action_errors=False,
            )
        ],
        # No suppress_response here: PySOA 1.4.9 clients count a suppressed request as outstanding and
        # then wait for it (PYSOA_FEATURES.md known bug 3); test_wire_bytes checks the servers instead.
        "send_and_collect": [
            _call("send_request", service_name=main, actions=[{"action": "square", "body": {"number": 6}}]),
            _call("get_all_responses", service_name=main),
        ],
        "call_with_timeout": [_call("call_action", service_name=main, action="square", body={"number": 11}, timeout=5)],
        "big_response": [_call("call_action", service_name=main, action="big", body={"size": BIG_SIZE})],
        # Two chunked replies in flight on one reply queue (one server worker: sent one after the other).
        "parallel_big": [
            _call(
                "call_actions_parallel",
                service_name=main,
                actions=[{"action": "big", "body": {"size": PARALLEL_BIG_SIZE}} for _ in range(2)],
                raise_job_errors=False,
            )
        ],
        # A small call right after the big ones: the reply queue must be clean.
        "after_big": [_call("call_action", service_name=main, action="square", body={"number": 12})],
    }
    if combo.serializer == "msgpack":
        scenarios["types"] = [_call("call_action", service_name=main, action="types", body=TYPES_BODY)]
    else:
        scenarios["json_refuses_types"] = [
            _call("call_action", service_name=main, action="echo", body={"when": TYPES_BODY["naive"]})
        ]
    return scenarios


BatchRunner = Callable[..., dict[str, list[dict[str, Any]]]]
"""``get(path, combo, topology)``: the cached outcomes of one combination, by scenario name."""


def run_batch(
    deployment: Deployment, path: Path, combo: Combo, only: Collection[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Run the scenarios of ``combo`` (all, or those named in ``only``) with a ``path.client`` client.

    Returns:
        The outcomes by scenario name.
    """
    scenarios = {name: calls for name, calls in scenario_calls(combo).items() if only is None or name in only}
    main, other = combo.services
    services = {main: (combo.serializer, combo.version), other: (combo.serializer, combo.version)}
    flat = [call for calls in scenarios.values() for call in calls]
    outcomes = deployment.call(path.client, services, flat)
    by_scenario, start = {}, 0
    for name, calls in scenarios.items():
        by_scenario[name] = outcomes[start : start + len(calls)]
        start += len(calls)
    return by_scenario


def matrix_cases(paths: tuple[Path, ...], combos: tuple[Combo, ...], **only: Any) -> list[Any]:
    """``pytest.param(path, combo)`` for every pair, with readable ids; ``only`` filters combos by field."""
    return [
        pytest.param(path, combo, id=f"{path.id}-{combo.id}")
        for path in paths
        for combo in combos
        if all(getattr(combo, key) in values for key, values in only.items())
    ]
