"""Tests for the job a service handler sends: the context and control headers, the correlation id, the wire form."""

from __future__ import annotations

import enum
import time
import uuid
from typing import Any

import pytest

from pysoa_like.client import client as client_module
from pysoa_like.client.client import job_of, make_context_header, make_control_header, new_correlation_id
from pysoa_like.common.types import ActionRequest, JobRequest, job_request_to_dict


class Switch(enum.Enum):
    BETA = 7


class IntLike:
    def __int__(self) -> int:
        return 9


def test_context_keeps_base_keys_and_adds_correlation_id_and_switches() -> None:
    """The base context's keys are copied and a correlation id and switch list are always present."""
    header = make_context_header({"auth": "tok"})
    assert header["auth"] == "tok"
    assert header["switches"] == []
    assert isinstance(header["correlation_id"], str) and len(header["correlation_id"]) == 32


def test_explicit_correlation_id_wins_over_base_context() -> None:
    """An explicit correlation id overrides the base context's."""
    assert make_context_header({"correlation_id": "base"}, correlation_id="mine")["correlation_id"] == "mine"


def test_base_context_correlation_id_is_inherited() -> None:
    """Without an explicit id, the base context's correlation id is used."""
    assert make_context_header({"correlation_id": "base"})["correlation_id"] == "base"


def test_new_correlation_ids_differ_per_request() -> None:
    """A fresh correlation id is generated for every request that has none."""
    assert make_context_header({})["correlation_id"] != make_context_header({})["correlation_id"]


def test_switches_are_the_union_of_all_three_sources_as_ints() -> None:
    """Switches from the base context, the argument and context['switches'] are merged without duplicates."""
    header = make_context_header({"switches": [1, 2]}, switches=[2, Switch.BETA], context={"switches": [3, IntLike()]})
    assert header["switches"] == [1, 2, 7, 3, 9]
    assert all(type(s) is int for s in header["switches"])


def test_context_argument_is_never_mutated() -> None:
    """The caller's context dict, including its switches, is left untouched (PySOA bug 5)."""
    caller = {"switches": [5], "locale": "fr"}
    header = make_context_header({}, context=caller)
    assert caller == {"switches": [5], "locale": "fr"}
    assert header["locale"] == "fr" and header["switches"] == [5]


def test_base_context_is_never_mutated() -> None:
    """Building a header does not change the client's base context."""
    base = {"switches": [1], "correlation_id": "c"}
    make_context_header(base, switches=[2], context={"switches": [3], "x": 1})
    assert base == {"switches": [1], "correlation_id": "c"}


@pytest.mark.parametrize("switch", ["beta", True, None])
def test_invalid_switch_is_rejected(switch: Any) -> None:
    """A switch that is not int-like (a bool included) raises TypeError, as the server's get_switch does."""
    with pytest.raises(TypeError, match="not a switch"):
        make_context_header({}, switches=[switch])


def test_control_has_both_flags() -> None:
    """The control header always carries continue_on_error and suppress_response."""
    assert make_control_header() == {"continue_on_error": False, "suppress_response": False}
    assert make_control_header(True, True) == {"continue_on_error": True, "suppress_response": True}


def test_control_extra_is_merged_and_may_override() -> None:
    """control_extra keys are added and override the flags."""
    control = make_control_header(False, False, {"foo": 1, "continue_on_error": True})
    assert control == {"continue_on_error": True, "suppress_response": False, "foo": 1}


def test_timeout_is_added_rounded_up_to_whole_seconds() -> None:
    """A timeout is sent as control.timeout, floats rounded up to an int."""
    assert make_control_header(timeout=5)["timeout"] == 5
    assert make_control_header(timeout=2.5)["timeout"] == 3


def test_control_extra_timeout_is_kept() -> None:
    """A timeout set in control_extra is not replaced by the call's timeout."""
    assert make_control_header(control_extra={"timeout": 30}, timeout=5)["timeout"] == 30


def test_new_correlation_ids_are_uuid1_hex() -> None:
    """Generated correlation ids are version-1 UUIDs as 32 hex digits, like PySOA's."""
    import uuid

    from pysoa_like.client.client import new_correlation_id

    value = new_correlation_id()
    assert len(value) == 32 and uuid.UUID(hex=value).version == 1


def test_correlation_id_is_the_standard_uuid1_for_the_same_clock_and_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-built id is exactly uuid.uuid1(node=getnode(), clock_seq=...).hex for the same clock reading."""
    # Given a pinned clock (later than any timestamp used so far) and a pinned clock sequence
    now_ns = time.time_ns() + 10**15
    monkeypatch.setattr(time, "time_ns", lambda: now_ns)
    monkeypatch.setattr(client_module, "_time_ns", lambda: now_ns)
    monkeypatch.setattr(client_module, "_getrandbits", lambda bits: 0x2ABC)
    monkeypatch.setattr(client_module, "_last_timestamp", 0)
    monkeypatch.setattr(uuid, "_last_timestamp", None)
    # When an id is made, Then it is the standard library's uuid1 for the same inputs
    expected = uuid.uuid1(node=uuid.getnode(), clock_seq=0x2ABC)
    assert new_correlation_id() == expected.hex
    assert expected.version == 1 and expected.variant == uuid.RFC_4122


@pytest.mark.parametrize("clock_seq", [0, 1, 0x1234, 0x3FFF])
def test_correlation_ids_are_valid_uuid1s_with_this_node(monkeypatch: pytest.MonkeyPatch, clock_seq: int) -> None:
    """Every id parses as a version-1, RFC 4122 UUID carrying the machine's node and the clock sequence."""
    monkeypatch.setattr(client_module, "_getrandbits", lambda bits: clock_seq)
    parsed = uuid.UUID(hex=new_correlation_id())
    assert (parsed.version, parsed.variant, parsed.node, parsed.clock_seq) == (
        1,
        uuid.RFC_4122,
        uuid.getnode(),
        clock_seq,
    )
    assert abs(parsed.time - (time.time_ns() // 100 + 0x01B21DD213814000)) < 10**8  # within 10 s of now


def test_correlation_ids_keep_increasing_when_the_clock_stands_still(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like uuid1(), ids made within one clock tick get strictly increasing timestamps, so they never repeat."""
    frozen = time.time_ns() + 10**15
    monkeypatch.setattr(client_module, "_time_ns", lambda: frozen)
    monkeypatch.setattr(client_module, "_getrandbits", lambda bits: 7)
    times = [uuid.UUID(hex=new_correlation_id()).time for _ in range(3)]
    assert times == [times[0], times[0] + 1, times[0] + 2]


def test_context_key_order_is_base_correlation_extras_then_switches() -> None:
    """The header's keys come in a stable order, with or without switches to merge."""
    plain = make_context_header({"auth": "t"}, context={"locale": "fr"})
    assert list(plain) == ["auth", "correlation_id", "locale", "switches"]
    assert plain["switches"] == []
    merged = make_context_header({"auth": "t", "switches": [2]}, switches=[1], context={"locale": "fr"})
    assert list(merged) == ["auth", "switches", "correlation_id", "locale"]
    assert merged["switches"] == [2, 1]


def test_header_switch_list_is_a_new_list() -> None:
    """The header's switch list is never the base context's own list, even when nothing is merged."""
    base: dict[str, Any] = {"switches": []}
    header = make_context_header(base)
    header["switches"].append(1)
    assert base == {"switches": []}


_JOB_CASES: list[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]] = [
    ({}, None, {}),
    ({}, None, {"message_expiry_in_seconds": 2.5, "suppress_response": True}),
    ({"auth": ("t", 1)}, {"api_token": "k"}, {"switches": [2], "context": {"tags": {"a"}, "switches": (3,)}}),
    ({}, None, {"control_extra": {"trace": ("x",), "timeout": 4}, "continue_on_error": 1}),
]


@pytest.mark.parametrize(("base", "service", "keywords"), _JOB_CASES)
def test_a_job_built_in_its_wire_form_is_the_wire_form_of_the_job_request(
    base: dict[str, Any], service: dict[str, Any] | None, keywords: dict[str, Any]
) -> None:
    """A job built for a handler without middleware is what the JobRequest built otherwise becomes on the wire."""
    keywords = {"correlation_id": "c1", **keywords}
    actions = [ActionRequest("a", {"t": (1, 2)}), {"action": "b"}]
    message = job_of(base, service, actions, **keywords, as_message=True)
    request = job_of(base, service, actions, **keywords)
    assert isinstance(request, JobRequest)
    assert message == job_request_to_dict(request)


def test_a_job_in_its_wire_form_shares_nothing_mutable_with_the_callers_values() -> None:
    """The caller's context values are copied into the wire form, so changing it never changes them."""
    base = {"roles": ["admin"]}
    context = {"ids": [1]}
    message = job_of(base, None, [ActionRequest("a", {"items": [1]})], context=context, as_message=True)
    assert isinstance(message, dict)
    message["context"]["roles"].append("x")
    message["context"]["ids"].append(2)
    message["actions"][0]["body"]["items"].append(2)
    assert base == {"roles": ["admin"]} and context == {"ids": [1]}
