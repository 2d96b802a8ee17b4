"""MsgpackSerializer refuses what it cannot encode (InvalidField, with a path) or decode (InvalidMessage)."""

from __future__ import annotations

import collections
import datetime
import decimal
import enum
import re
import sys
from typing import Any

import currint
import msgpack  # type: ignore[import-untyped,unused-ignore]
import pytest

from pysoa_like.common.serializer import JSONSerializer, MsgpackSerializer, Serializer, _msgpack_ext, msgpack_serializer
from pysoa_like.common.serializer.errors import InvalidField, InvalidMessage

_PREFIX = bytes.fromhex("81a176")


class _Color(enum.Enum):
    RED = 1


def _encode_error(message: Any) -> str:
    with pytest.raises(InvalidField) as info:
        MsgpackSerializer().dict_to_blob(message)
    assert info.value.__cause__ is not None
    return str(info.value)


def _decode_error(blob: Any) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as info:
        MsgpackSerializer().blob_to_dict(blob)
    return info.value


def test_aware_time_names_its_path() -> None:
    """A time zone-aware time is refused with the dotted path of the value."""
    when = datetime.time(1, 2, tzinfo=datetime.timezone.utc)
    message = {"body": {"actions": [{"action": "a", "body": {"when": when}}]}}
    assert _encode_error(message).startswith("body.actions.0.body.when: Cannot encode time zone-aware times")


def test_non_utc_datetime_says_to_convert_to_utc() -> None:
    """A datetime with a non-zero UTC offset is refused with advice to convert it to UTC."""
    value = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    error = _encode_error({"a": [{"b": value}]})
    assert error.startswith("a.0.b: Cannot encode a date-time with UTC offset 2:00:00")
    assert "convert it to UTC" in error


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({1, 2}, "Cannot encode sets to MessagePack; convert the set to a list"),
        (frozenset(), "Cannot encode sets to MessagePack; convert the set to a list"),
        (object(), "Cannot encode values of type object to MessagePack"),
        (_Color.RED, "Cannot encode values of type _Color to MessagePack"),
        (2**64, "Integer value 18446744073709551616 is out of the MessagePack range"),
        (-(2**63) - 1, "Integer value -9223372036854775809 is out of the MessagePack range"),
        (decimal.Decimal("9" * 65536), "Cannot encode a Decimal whose text is 65536 bytes long"),
        (
            currint.Amount.from_code_and_minor("USD", 2**63),
            "Cannot encode a currint Amount of 9223372036854775808 minor units",
        ),
        (currint.Amount(currint.Currency("ABCD", 1), 1), "Cannot encode a currint Amount with currency code 'ABCD'"),
        (currint.amount._ZeroAmount(), "Cannot encode a currint Amount without a currency"),
    ],
    # No memory address in an id: pytest-xdist's workers must collect the same ids.
    ids=lambda value: re.sub(r" at 0x[0-9a-f]+", "", repr(value))[:30],
)
def test_unencodable_values_name_path_and_reason(value: Any, reason: str) -> None:
    """Each kind of unencodable value gives InvalidField with its path and a specific reason."""
    error = _encode_error({"body": {"items": [1, (2, {"bad": value})]}})
    assert error.startswith(f"body.items.1.1.bad: {reason}")


def test_unencodable_dict_key_names_the_dict() -> None:
    """An unencodable dict key is reported against the dict that holds it."""
    error = _encode_error({"outer": {frozenset({1}): 1}})
    assert error.startswith("outer: Cannot encode dict key frozenset({1}): Cannot encode sets")


def test_unencodable_value_inside_a_tuple_key_is_reported() -> None:
    """A tuple key is packed as an array, so an unencodable item inside it is reported."""
    error = _encode_error({"outer": {(1, object()): 1}})
    assert error.startswith("outer: Cannot encode dict key (1, <object")


def test_int_map_keys_appear_in_the_path() -> None:
    """Non-string keys appear in the path as their str()."""
    assert _encode_error({3: {"x": {1}}}).startswith("3.x: Cannot encode sets")


def test_circular_reference_is_reported() -> None:
    """A container that includes itself is refused with InvalidField naming where the cycle closes."""
    looped: list[Any] = [1]
    looped.append(looped)
    assert _encode_error({"a": looped}).startswith("a.1: Circular reference")


@pytest.mark.parametrize("serializer", [MsgpackSerializer(), JSONSerializer()], ids=["msgpack", "json"])
@pytest.mark.parametrize("message", ["text", ["a", "list"], 42, True, None, {1, 2}, ("a",)])
def test_a_message_that_is_not_a_dict_is_a_value_error(serializer: Serializer, message: Any) -> None:
    """Both serializers encode only dicts; anything else raises ValueError naming its type, as PySOA does."""
    with pytest.raises(ValueError, match=f"Input must be a dict.*not a {type(message).__name__}") as info:
        serializer.dict_to_blob(message)
    assert not isinstance(info.value, InvalidField)


def test_dict_subclasses_are_messages() -> None:
    """A dict subclass (an OrderedDict, a defaultdict) is still a message."""
    assert MsgpackSerializer().dict_to_blob(collections.OrderedDict(a=1)) == bytes.fromhex("81a16101")
    assert JSONSerializer().dict_to_blob(collections.defaultdict(int, a=1)) == b'{"a": 1}'


def test_packer_is_clean_after_a_failure() -> None:
    """After an encoding failure, the next message on the same thread encodes without leftover bytes."""
    serializer = MsgpackSerializer()
    with pytest.raises(InvalidField):
        serializer.dict_to_blob({"a": "x" * 1000, "b": {1}})
    assert serializer.dict_to_blob({"a": 1}) == bytes.fromhex("81a16101")


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\xc1",
        _PREFIX,
        _PREFIX + bytes.fromhex("d70100059b1f7226f3"),
        _PREFIX + bytes.fromhex("a3ab"),
        bytes.fromhex("81a16101") + b"\x00",
        _PREFIX + bytes.fromhex("a1ff"),
        bytes.fromhex("81") + bytes.fromhex("91 01") + bytes.fromhex("01"),
    ],
    ids=[
        "empty",
        "never-used byte",
        "missing value",
        "truncated ext",
        "truncated str",
        "extra data",
        "invalid UTF-8",
        "unhashable map key",
    ],
)
def test_garbage_and_truncated_bytes_raise_invalid_message(blob: bytes) -> None:
    """Malformed bytes raise InvalidMessage chained to the underlying error."""
    assert _decode_error(blob).__cause__ is not None


@pytest.mark.parametrize("blob", [b"\x01", b"\x90", b"\xa1a", b"\xc0"], ids=["int", "array", "str", "nil"])
def test_top_level_non_map_raises_invalid_message(blob: bytes) -> None:
    """A well-formed message that is not a map is not a message."""
    assert "not a map" in str(_decode_error(blob))


@pytest.mark.parametrize("blob", ["a str", 12, None], ids=["str", "int", "None"])
def test_non_bytes_input_raises_invalid_message(blob: Any) -> None:
    """blob_to_dict refuses input that is not bytes-like with InvalidMessage."""
    assert "expected bytes" in str(_decode_error(blob))


@pytest.mark.parametrize(
    "ext_hex",
    ["d4 07 00", "d4 00 00", "c7 00 7f", "d4 0b 00"],
    ids=["code 7", "code 0", "code 127", "code 11"],
)
def test_unknown_extension_codes_raise_invalid_message(ext_hex: str) -> None:
    """An extension type code outside 1-5 and 10 raises InvalidMessage naming the code."""
    error = _decode_error(_PREFIX + bytes.fromhex(ext_hex))
    assert "Unknown MessagePack extension type code" in str(error)


@pytest.mark.parametrize(
    "ext_hex",
    [
        "d6 ff 00000001",
        "d7 ff 0000000400000001",
        "c7 0c ff 000000010000000000000001",
        "c7 04 ff 00000001",
        "c7 08 ff 0000000400000001",
        "c8 0004 ff 00000001",
        "c8 0008 ff 0000000400000001",
        "c8 000c ff 000000010000000000000001",
        "c9 00000004 ff 00000001",
        "c9 00000008 ff 0000000400000001",
        "c9 0000000c ff 000000010000000000000001",
    ],
    ids=[
        "fixext4",
        "fixext8",
        "ext8 96-bit",
        "ext8 32-bit",
        "ext8 64-bit",
        "ext16 32-bit",
        "ext16 64-bit",
        "ext16 96-bit",
        "ext32 32-bit",
        "ext32 64-bit",
        "ext32 96-bit",
    ],
)
def test_msgpack_timestamp_extension_raises_invalid_message(ext_hex: str) -> None:
    """msgpack's own Timestamp extension (-1), which PySOA cannot read, is refused on decode."""
    for blob in (_PREFIX + bytes.fromhex(ext_hex), bytes.fromhex("81 a176 91 81 01") + bytes.fromhex(ext_hex)):
        assert "extension type code -1" in str(_decode_error(blob))


@pytest.mark.parametrize("noise", [0, 15, 16, 17, 5000], ids=lambda n: f"{n} 0xFF bytes first")
def test_timestamp_found_after_many_ff_bytes_in_a_big_message(noise: int) -> None:
    """A Timestamp after many harmless 0xFF bytes (binary data: the regex takes over) is still refused."""
    message = {"data": b"\xff" * noise + b"x" * 100_000, "v": msgpack.Timestamp(1, 0)}
    blob = msgpack.packb(message, use_bin_type=True)
    assert "extension type code -1" in str(_decode_error(blob))


@pytest.mark.parametrize("noise", [1, 16, 17, 5000], ids=lambda n: f"{n} 0xFF bytes")
def test_big_message_with_ff_bytes_but_no_timestamp_decodes(noise: int) -> None:
    """0xFF bytes that look like a Timestamp header inside a string or bin value are not refused."""
    lookalike = bytes.fromhex("d6ff c70cff c80008ff c900000004ff")
    message = {"data": (b"\xff" + lookalike) * noise + b"y" * 100_000, "s": "\u00ff" * 10}
    assert MsgpackSerializer().blob_to_dict(msgpack.packb(message, use_bin_type=True)) == message


@pytest.mark.parametrize(
    ("hex_bytes", "expected"),
    [
        ("", False),
        ("ff", False),
        ("00 ff ff ff", False),
        ("d5 ff", False),
        ("c7 05 ff", False),
        ("d6 ff", True),
        ("d7 ff", True),
        ("c7 08 ff", True),
        ("c8 000c ff", True),
        ("c9 00000004 ff", True),
        ("c9 01000004 ff", False),
        (("ff" * 20) + "d6 ff", True),
        (("ff" * 20) + "c7 05 ff", False),
    ],
)
def test_might_hold_timestamp(hex_bytes: str, expected: bool) -> None:
    """The byte scan finds every Timestamp header form, before and after its switch to the regex."""
    assert msgpack_serializer.might_hold_timestamp(bytes.fromhex(hex_bytes)) is expected


def test_encoder_never_emits_the_timestamp_extension() -> None:
    """Aware datetimes never go out as msgpack Timestamps, even though msgpack could pack them."""
    blob = MsgpackSerializer().dict_to_blob({"v": datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)})
    assert blob[3:5] == bytes.fromhex("d70a")
    assert not isinstance(msgpack.unpackb(blob, raw=False)["v"], msgpack.Timestamp)


@pytest.mark.parametrize(
    "ext_hex",
    [
        "d4 01 00",
        "d7 01 7fffffffffffffff",
        "d7 0a 8000000000000000",
        "c7 03 03 07e401",
        "d6 03 07e40d01",
        "d6 03 00000101",
        "c7 06 04 010203 000000",
        "c7 07 04 180000 00000000",
        "c7 07 04 010203 000f4240",
        "c7 05 05 0004 313233",
        "c7 04 05 0001 3132",
        "c7 05 05 0003 78797a",
        "c7 05 05 0003 ffffff",
        "d4 05 00",
        "c7 0b 02 585851 00000000000004d2",
        "c7 0b 02 ffffff 00000000000004d2",
        "c7 0a 02 555344 000000000004d2",
    ],
    ids=[
        "datetime short",
        "datetime overflow",
        "UTC datetime underflow",
        "date short",
        "date month 13",
        "date year 0",
        "time short",
        "time hour 24",
        "time microsecond 1000000",
        "decimal length too long",
        "decimal length too short",
        "decimal not a number",
        "decimal not UTF-8",
        "decimal without length",
        "amount unknown currency",
        "amount non-ASCII code",
        "amount short",
    ],
)
def test_malformed_extension_payloads_raise_invalid_message(ext_hex: str) -> None:
    """A known extension code with a malformed payload raises InvalidMessage naming the code."""
    error = _decode_error(_PREFIX + bytes.fromhex(ext_hex))
    assert "extension type" in str(error)


def test_amount_decoding_without_currint_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without currint importable, decoding an Amount raises InvalidMessage naming the pip extra."""
    monkeypatch.setitem(sys.modules, "currint", None)
    amount_class = _msgpack_ext.import_amount_class()
    assert amount_class is None
    monkeypatch.setattr(_msgpack_ext, "AMOUNT_CLASS", amount_class)
    error = _decode_error(_PREFIX + bytes.fromhex("c70b02555344 00000000000004d2"))
    # From pysoa_like's checkout or wheel: it is not on PyPI, where its name would find nothing (or someone else's).
    assert "pip install '/path/to/pysoa_like[currint]' (its checkout or wheel: pysoa_like is not on PyPI)" in str(error)
    # Everything else still decodes.
    assert MsgpackSerializer().blob_to_dict(_PREFIX + bytes.fromhex("d60307e40102")) == {"v": datetime.date(2020, 1, 2)}
