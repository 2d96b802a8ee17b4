"""End-to-end interop over one real Redis: every client calls every server, in both directions.

Parametrized over the paths (PySOA client to pysoa_like server, pysoa_like client to PySOA server,
plus both same-implementation references) and over serializer (msgpack, JSON) and protocol version
(1, 2, 3). See ``_matrix.py`` for the scenarios.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop._matrix import (
    BIG_SIZE,
    COMBOS,
    CORRELATION_ID,
    ECHO_BODY,
    PARALLEL_BIG_SIZE,
    PATHS,
    TYPES_BODY,
    TYPES_EXPECTED,
    BatchRunner,
    Combo,
    Path,
    error,
    matrix_cases,
)
from tests.interop.pysoa_side import tagged

ALL = matrix_cases(PATHS, COMBOS)
FAILED_CALLER = error("FAILED", "It failed on purpose", "number", True)
FAILED_SERVER = error("FAILED", "It failed on purpose", "number", False)


def _result(outcome: dict[str, Any]) -> Any:
    assert "result" in outcome, f"expected a result, got {outcome}"
    return outcome["result"]


def _action(name: str, body: dict[str, Any] | None = None, errors: list[Any] | None = None) -> dict[str, Any]:
    return {"action": name, "errors": errors or [], "body": body if body is not None else {}}


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_single_call_round_trips_the_body(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """A single echo call returns the request body unchanged (unicode and nested int keys included)."""
    (outcome,) = matrix_batches(path, combo)["single_call"]
    response = _result(outcome)
    expected_body = ECHO_BODY
    if combo.serializer == "json":
        # JSON turns int keys into strings.
        expected_body = {**ECHO_BODY, "nested": {**ECHO_BODY["nested"], "deep": {"7": "int key"}}}
    assert response["action"] == "echo"
    assert response["errors"] == []
    assert tagged.same(response["body"], expected_body), response["body"]


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_call_reaches_the_other_implementation(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """The answering server is the implementation the path names (the test really crosses over)."""
    (outcome,) = matrix_batches(path, combo)["whoami"]
    implementation = "pysoa" if path.server == "pysoa" else "pysoa_like"
    assert _result(outcome)["body"] == {"service": combo.services[0], "implementation": implementation}


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_serial_calls_return_in_order(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """Three calls in a row on one client each get their own answer."""
    outcomes = matrix_batches(path, combo)["serial_calls"]
    assert [_result(outcome)["body"] for outcome in outcomes] == [{"square": 1}, {"square": 4}, {"square": 9}]


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_serial_job_runs_actions_in_order_and_echoes_the_correlation_id(
    matrix_batches: BatchRunner, path: Path, combo: Combo
) -> None:
    """A three-action job answers each action in order, and the context carries only the correlation id."""
    (outcome,) = matrix_batches(path, combo)["serial_job"]
    job = _result(outcome)
    implementation = "pysoa" if path.server == "pysoa" else "pysoa_like"
    assert job == {
        "errors": [],
        "context": {"correlation_id": CORRELATION_ID},
        "actions": [
            _action("echo", {"step": 1}),
            _action("square", {"square": 9}),
            _action("whoami", {"service": combo.services[0], "implementation": implementation}),
        ],
    }


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_parallel_calls_answer_each_action(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """``call_actions_parallel`` returns one response per action, in input order."""
    (outcome,) = matrix_batches(path, combo)["parallel_calls"]
    assert _result(outcome) == [_action("square", {"square": n * n}) for n in range(1, 7)]


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_multi_service_parallel_jobs(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """``call_jobs_parallel`` across two services returns every job's actions, in input order."""
    (outcome,) = matrix_batches(path, combo)["multi_service_jobs"]
    main, other = combo.services
    implementation = "pysoa" if path.server == "pysoa" else "pysoa_like"
    jobs = _result(outcome)
    assert [job["errors"] for job in jobs] == [[], [], []]
    assert [job["actions"] for job in jobs] == [
        [_action("whoami", {"service": main, "implementation": implementation}), _action("square", {"square": 16})],
        [_action("whoami", {"service": other, "implementation": implementation})],
        [_action("echo", {"job": 3})],
    ]


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_caller_action_error_raises_call_action_error(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """An ActionError flagged as the caller's fault reaches the client as CallActionError, is_caller_error true."""
    (outcome,) = matrix_batches(path, combo)["caller_error"]
    assert "exception" in outcome, outcome
    exception = outcome["exception"]
    assert exception["type"] == "CallActionError"
    assert exception["actions"] == [_action("fail", errors=[FAILED_CALLER])]


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_server_action_error_has_is_caller_error_false(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """An ActionError that is not the caller's fault arrives with is_caller_error false and every Error key."""
    (outcome,) = matrix_batches(path, combo)["server_error"]
    assert _result(outcome) == _action("fail", errors=[FAILED_SERVER])


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_unknown_action_error(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """Calling an action the server lacks gives PySOA's exact UNKNOWN error."""
    (outcome,) = matrix_batches(path, combo)["unknown_action"]
    message = 'The action "nope" was not found on this server.'
    assert _result(outcome) == _action("nope", errors=[error("UNKNOWN", message, "action", True)])


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_job_stops_at_the_first_action_error(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """Without continue_on_error the job answers up to the failed action and no further."""
    (outcome,) = matrix_batches(path, combo)["stop_on_error"]
    job = _result(outcome)
    assert job["errors"] == []
    assert job["actions"] == [_action("fail", errors=[FAILED_CALLER])]


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_job_continues_after_an_action_error(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """With continue_on_error the job answers every action, the failed one with its error."""
    (outcome,) = matrix_batches(path, combo)["continue_on_error"]
    assert _result(outcome)["actions"] == [_action("fail", errors=[FAILED_SERVER]), _action("square", {"square": 4})]


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_send_request_and_get_all_responses(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """A request sent without waiting is collected by get_all_responses under its request id."""
    sent, collected = matrix_batches(path, combo)["send_and_collect"]
    request_id = _result(sent)
    assert isinstance(request_id, int)
    assert _result(collected) == [
        [
            request_id,
            {
                "errors": [],
                "context": {"correlation_id": _correlation_id(collected)},
                "actions": [_action("square", {"square": 36})],
            },
        ]
    ]


def _correlation_id(outcome: dict[str, Any]) -> Any:
    return outcome["result"][0][1]["context"].get("correlation_id")


@pytest.mark.parametrize(("path", "combo"), ALL)
def test_call_with_timeout(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """A call with an explicit timeout (control timeout and message expiry) is answered normally."""
    (outcome,) = matrix_batches(path, combo)["call_with_timeout"]
    assert _result(outcome) == _action("square", {"square": 121})


@pytest.mark.parametrize(("path", "combo"), matrix_cases(PATHS, COMBOS, version=(3,)))
def test_multi_megabyte_response_arrives_chunked(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """A 3 MiB response to a v3 request is chunked by the server and reassembled by the client."""
    batch = matrix_batches(path, combo)
    response = _result(batch["big_response"][0])
    assert response["errors"] == []
    data = response["body"]["data"]
    assert len(data) == BIG_SIZE
    assert set(data) == {"x"}
    assert _result(batch["after_big"][0])["body"] == {"square": 144}


@pytest.mark.parametrize(("path", "combo"), matrix_cases(PATHS, COMBOS, version=(3,)))
def test_parallel_chunked_responses(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """Two 1 MiB responses requested in parallel are both reassembled from their chunks."""
    (outcome,) = matrix_batches(path, combo)["parallel_big"]
    responses = _result(outcome)
    assert [len(response["body"]["data"]) for response in responses] == [PARALLEL_BIG_SIZE] * 2
    assert [response["errors"] for response in responses] == [[], []]


@pytest.mark.parametrize(("path", "combo"), matrix_cases(PATHS, COMBOS, version=(1, 2)))
def test_multi_megabyte_response_to_v1_v2_is_response_too_large(
    matrix_batches: BatchRunner, path: Path, combo: Combo
) -> None:
    """A response needing chunks for a v1/v2 request becomes a RESPONSE_TOO_LARGE job error the client can read."""
    batch = matrix_batches(path, combo)
    (outcome,) = batch["big_response"]
    assert "exception" in outcome, f"expected CallJobError, got a result of {len(str(outcome))} characters"
    exception = outcome["exception"]
    assert exception["type"] == "CallJobError"
    assert exception["errors"] == [
        error("RESPONSE_TOO_LARGE", "Could not send the response because it was too large", None, False)
    ]
    assert _result(batch["after_big"][0])["body"] == {"square": 144}


@pytest.mark.parametrize(("path", "combo"), matrix_cases(PATHS, COMBOS, serializer=("msgpack",)))
def test_special_types_survive_both_ways(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """datetime (naive, UTC), date, time, Decimal, bytes and Amount reach the server typed and come back equal."""
    (outcome,) = matrix_batches(path, combo)["types"]
    body = _result(outcome)["body"]
    assert body["types"] == TYPES_EXPECTED
    assert tagged.same(body["received"], TYPES_BODY), body["received"]


@pytest.mark.parametrize(("path", "combo"), matrix_cases(PATHS, COMBOS, serializer=("json",)))
def test_json_clients_refuse_to_send_special_types(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """Both JSON clients refuse a datetime in a body before sending, with InvalidField."""
    (outcome,) = matrix_batches(path, combo)["json_refuses_types"]
    assert "exception" in outcome, outcome
    assert outcome["exception"]["type"] == "InvalidField"
