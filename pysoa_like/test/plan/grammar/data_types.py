"""The data types of fixture values (PySOA's ``pysoa.test.plan.grammar.data_types``).

A directive's optional TYPE (``input int:``, ``expect decimal:``) says how its VALUE text is
converted; without one the value is text. Conversion happens when the fixture is parsed, except for
values holding a ``[[…]]`` substitution token, which stay text until the test runs.

Date and time keywords (``now``, ``utc_now``, ``midnight``, ``utc_midnight``, ``today``,
``utc_today``) are computed at parse time too, on the parse clock: the real clock, or the instant a
``freeze time`` directive earlier in the same test case (or action case) froze it to.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import re
from typing import Any

import pyparsing as pp

from pysoa_like.test.plan.errors import DataTypeConversionError
from pysoa_like.test.plan.grammar.tools import has_substitution

__all__ = [
    "AnyValue",
    "DataTypeGrammar",
    "RegexValue",
    "data_type_descriptions",
    "freeze_parse_clock",
    "get_all_data_type_names",
    "get_parsed_data_type_value",
    "get_typed_value",
    "unfreeze_parse_clock",
]

#: Every data type name, with what its VALUE means.
data_type_descriptions: dict[str, str] = {
    "base64_bytes": "bytes decoded from base64 text (characters outside the alphabet are ignored)",
    "bool": "True when the value is 'true' in any letter case, else False",
    "bytes": "the UTF-8 encoding of the value",
    "date": "'today', 'utc_today', or year,month,day",
    "datetime": (
        "'now', 'utc_now', 'midnight' or 'utc_midnight' with an optional delta 'days,hours,minutes,seconds,"
        "microseconds' (e.g. 'now -1,2'), or year,month,day[,hour[,minute[,second[,microsecond]]]]"
    ),
    "decimal": "a decimal.Decimal",
    "emptydict": "an empty dict (the value is ignored)",
    "emptylist": "an empty list (the value is ignored)",
    "emptystr": "an empty string (the value is ignored)",
    "encoded_ascii": "ASCII text in which backslash escapes (\\n, \\x0b, \\u00e9) are decoded",
    "encoded_unicode": "text in which backslash escapes (\\n, \\x0b, \\u00e9) are decoded",
    "float": "a float",
    "int": "an integer",
    "None": "None (the value is ignored)",
    "none": "None (the value is ignored)",
    "not regex": "expectations only: text that does not match the pattern (re.match, anchored at the start)",
    "regex": "expectations only: text that matches the pattern (re.match, anchored at the start)",
    "str": "the text as written (the default)",
    "time": (
        "'now', 'utc_now' or 'midnight' with an optional delta (as for datetime; days have no effect), or "
        "hour[,minute[,second[,microsecond]]]"
    ),
}


def get_all_data_type_names() -> list[str]:
    """Every data type name, sorted."""
    return sorted(data_type_descriptions)


#: The optional TYPE of a directive, captured as ``data_type``.
DataTypeGrammar: pp.ParserElement = pp.one_of(get_all_data_type_names())("data_type").set_name("data type")

_DATETIME_TEXT_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
_DATE_TEXT_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_KEYWORD_RE = re.compile(r"^([A-Za-z_]+)(?:\s+(.*)|\s*([+-].*))?$", re.DOTALL)
_DELTA_FIELDS = ("days", "hours", "minutes", "seconds", "microseconds")


class _Matcher:
    """An expected value that decides for itself what it equals."""

    __hash__ = object.__hash__

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __copy__(self) -> _Matcher:
        raise NotImplementedError

    def __deepcopy__(self, memo: dict[int, Any]) -> _Matcher:
        return self.__copy__()


class AnyValue(_Matcher):
    """An expected value that equals any value of one data type (``expect any int: …``).

    ``int`` also accepts booleans (as in PySOA); ``datetime`` also accepts text such as
    ``2024-05-01T10:00:00Z`` and ``date`` text such as ``2024-05-01``; ``None`` matches only with
    ``permit_none`` (or for the ``none`` type).

    Args:
        data_type: A data type name.
        permit_none: Whether ``None`` matches too.
    """

    def __init__(self, data_type: str, permit_none: bool = False) -> None:
        self.data_type = data_type
        self.permit_none = permit_none

    def __eq__(self, other: object) -> bool:
        if other is None:
            return self.permit_none or self.data_type in ("none", "None")
        return _is_of_type(self.data_type, other)

    def __repr__(self) -> str:
        return f"<any {self.data_type}{' or None' if self.permit_none else ''}>"

    def __copy__(self) -> AnyValue:
        return AnyValue(self.data_type, self.permit_none)


def _is_of_type(data_type: str, value: object) -> bool:
    if data_type in ("str", "encoded_ascii", "encoded_unicode", "regex", "not regex"):
        return isinstance(value, str)
    if data_type in ("bytes", "base64_bytes"):
        return isinstance(value, bytes)
    if data_type == "datetime":
        return isinstance(value, datetime.datetime) or (
            isinstance(value, str) and _DATETIME_TEXT_RE.match(value) is not None
        )
    if data_type == "date":
        return (isinstance(value, datetime.date) and not isinstance(value, datetime.datetime)) or (
            isinstance(value, str) and _DATE_TEXT_RE.match(value) is not None
        )
    simple: dict[str, Any] = {
        "int": int,
        "float": float,
        "decimal": decimal.Decimal,
        "bool": bool,
        "time": datetime.time,
        # Internal: the wildcards of expected errors.
        "dict": dict,
        "list": list,
    }
    if data_type in simple:
        return isinstance(value, simple[data_type])
    empty: dict[str, Any] = {"emptystr": "", "emptylist": [], "emptydict": {}}
    if data_type in empty:
        return type(value) is type(empty[data_type]) and value == empty[data_type]
    return False


class RegexValue(_Matcher):
    """An expected value that equals text matching (or, negated, not matching) a pattern with ``re.match``.

    Args:
        pattern: The regular expression (matched at the start of the text).
        negate: Whether the text must *not* match.

    Raises:
        re.error: The pattern is invalid.
    """

    def __init__(self, pattern: str, negate: bool = False) -> None:
        self.pattern = pattern
        self.negate = negate
        self._compiled = re.compile(pattern)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return False
        return (self._compiled.match(other) is None) == self.negate

    def __repr__(self) -> str:
        return f"<{'not ' if self.negate else ''}regex {self.pattern!r}>"

    def __copy__(self) -> RegexValue:
        return RegexValue(self.pattern, self.negate)


# The parse clock: frozen naive UTC instants by owner (the most recent wins); none means the real clock.
_frozen_instants: dict[int, datetime.datetime] = {}


def freeze_parse_clock(owner: object, instant: datetime.datetime | None) -> datetime.datetime:
    """Freeze the parse clock for date and time keywords, on behalf of ``owner`` (a test or action case).

    While frozen, keywords follow freezegun's view of a frozen clock: local time is UTC.

    Args:
        owner: Who froze it (unfrozen with :func:`unfreeze_parse_clock`).
        instant: Naive UTC; ``None`` means now.

    Returns:
        The frozen instant.
    """
    frozen = instant if instant is not None else _utc_now().replace(tzinfo=None)
    _frozen_instants.pop(id(owner), None)
    _frozen_instants[id(owner)] = frozen
    return frozen


def unfreeze_parse_clock(owner: object | None = None) -> None:
    """Undo ``owner``'s freeze of the parse clock (``None``: every freeze)."""
    if owner is None:
        _frozen_instants.clear()
    else:
        _frozen_instants.pop(id(owner), None)


def _frozen() -> datetime.datetime | None:
    return next(reversed(_frozen_instants.values()), None)


def _utc_now() -> datetime.datetime:
    frozen = _frozen()
    if frozen is not None:
        return frozen.replace(tzinfo=datetime.timezone.utc)
    return datetime.datetime.now(datetime.timezone.utc)


def _local_now() -> datetime.datetime:
    frozen = _frozen()
    return frozen if frozen is not None else datetime.datetime.now()


def _ints(value: str, what: str, minimum: int, maximum: int) -> list[int]:
    parts = [part.strip() for part in value.split(",")]
    if not minimum <= len(parts) <= maximum:
        expected = f"{minimum} to {maximum}" if minimum != maximum else str(minimum)
        raise DataTypeConversionError(f"{what} needs {expected} comma-separated integers, got {value!r}")
    try:
        return [int(part) for part in parts]
    except ValueError:
        raise DataTypeConversionError(f"{what} needs comma-separated integers, got {value!r}") from None


def _delta(text: str | None) -> datetime.timedelta:
    if not text or not text.strip():
        return datetime.timedelta()
    parts = [part.strip() for part in text.split(",")][: len(_DELTA_FIELDS)]
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        raise DataTypeConversionError(
            f"a delta is up to five comma-separated integers (days,hours,minutes,seconds,microseconds), got {text!r}"
        ) from None
    return datetime.timedelta(**dict(zip(_DELTA_FIELDS, numbers, strict=False)))


def _keyword(value: str, keywords: tuple[str, ...]) -> tuple[str, datetime.timedelta] | None:
    match = _KEYWORD_RE.match(value)
    if not match or not value[:1].isalpha():
        return None
    word = match.group(1)
    if word not in keywords:
        raise DataTypeConversionError(f"unknown keyword {word!r}; expected one of {', '.join(keywords)} or numbers")
    return word, _delta(match.group(2) if match.group(2) is not None else match.group(3))


def _datetime_value(value: str) -> datetime.datetime:
    keyword = _keyword(value, ("now", "utc_now", "midnight", "utc_midnight"))
    if keyword is not None:
        word, delta = keyword
        utc = datetime.timezone.utc
        base = {
            "now": lambda: _local_now(),
            "utc_now": lambda: _utc_now(),
            "midnight": lambda: datetime.datetime.combine(_local_now().date(), datetime.time()),
            "utc_midnight": lambda: datetime.datetime.combine(_utc_now().date(), datetime.time(), tzinfo=utc),
        }[word]()
        return base.replace(microsecond=0) + delta
    datetime_value = _construct(datetime.datetime, _ints(value, "a datetime", 3, 7), value)
    assert isinstance(datetime_value, datetime.datetime)
    return datetime_value


def _time_value(value: str) -> datetime.time:
    keyword = _keyword(value, ("now", "utc_now", "midnight"))
    if keyword is not None:
        word, delta = keyword
        base = {
            "now": lambda: _local_now(),
            "utc_now": lambda: _utc_now(),
            "midnight": lambda: datetime.datetime(2000, 1, 1),
        }[word]()
        return (base + delta).time().replace(microsecond=0)
    time_value = _construct(datetime.time, _ints(value, "a time", 1, 4), value)
    assert isinstance(time_value, datetime.time)
    return time_value


def _date_value(value: str) -> datetime.date:
    if value in ("today", "utc_today"):
        return _local_now().date() if value == "today" else _utc_now().date()
    if value[:1].isalpha():
        raise DataTypeConversionError(f"unknown keyword {value!r}; expected today, utc_today or year,month,day")
    date_value = _construct(datetime.date, _ints(value, "a date", 3, 3), value)
    assert isinstance(date_value, datetime.date)
    return date_value


def _construct(kind: Any, numbers: list[int], value: str) -> Any:
    try:
        return kind(*numbers)
    except (ValueError, OverflowError) as exc:
        raise DataTypeConversionError(f"invalid {kind.__name__} {value!r}: {exc}") from None


def _decode_escapes(value: str, ascii_only: bool) -> str:
    if ascii_only:
        try:
            value.encode("ascii")
        except UnicodeEncodeError as exc:
            raise DataTypeConversionError(f"encoded_ascii values must be ASCII: {exc}") from None
    try:
        # Non-ASCII characters become escapes first, so they survive the escape decoding unchanged.
        return value.encode("ascii", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError as exc:
        raise DataTypeConversionError(f"invalid escape sequence in {value!r}: {exc.reason}") from None


def _base64(value: str) -> bytes:
    try:
        return base64.b64decode(value)
    except (binascii.Error, ValueError) as exc:
        raise DataTypeConversionError(f"invalid base64 {value!r}: {exc}") from None


def _number(kind: Any, value: str, empty: Any) -> Any:
    if not value:
        return empty
    try:
        return kind(value)
    except (ValueError, ArithmeticError):
        raise DataTypeConversionError(f"{value!r} is not a valid {kind.__name__}") from None


def _required(convert: Any, type_name: str) -> Any:
    def checked(value: str) -> Any:
        if not value:
            raise DataTypeConversionError(f"a {type_name} value cannot be empty")
        return convert(value)

    return checked


def _regex(value: str, negate: bool) -> RegexValue:
    try:
        return RegexValue(value, negate)
    except re.error as exc:
        raise DataTypeConversionError(f"invalid regular expression {value!r}: {exc}") from None


_CONVERTERS: dict[str, Any] = {
    "str": lambda value: value,
    "int": lambda value: _number(int, value, 0),
    "float": lambda value: _number(float, value, 0.0),
    "decimal": lambda value: _number(decimal.Decimal, value, decimal.Decimal("0.0")),
    "bool": lambda value: value.lower() == "true",
    "bytes": lambda value: value.encode("utf-8"),
    "base64_bytes": _base64,
    "encoded_ascii": lambda value: _decode_escapes(value, ascii_only=True),
    "encoded_unicode": lambda value: _decode_escapes(value, ascii_only=False),
    "emptystr": lambda value: "",
    "emptylist": lambda value: [],
    "emptydict": lambda value: {},
    "none": lambda value: None,
    "None": lambda value: None,
    "date": _required(_date_value, "date"),
    "time": _required(_time_value, "time"),
    "datetime": _required(_datetime_value, "datetime"),
    "regex": lambda value: _regex(value, negate=False),
    "not regex": lambda value: _regex(value, negate=True),
}


def get_typed_value(type_name: str, value: str) -> Any:
    """Convert ``value`` (text from a fixture) to the data type ``type_name``.

    Raises:
        DataTypeConversionError: The type is unknown or the value is not valid for it.
    """
    try:
        convert = _CONVERTERS[type_name]
    except KeyError:
        raise DataTypeConversionError(
            f"unknown data type {type_name!r}; expected one of {', '.join(get_all_data_type_names())}"
        ) from None
    return convert(value)


def get_parsed_data_type_value(parse_result: Any, value: str) -> Any:
    """Convert ``value`` to the type a directive line declared (its ``data_type`` capture; default text).

    A value holding a ``[[…]]`` substitution token is returned unconverted: it is resolved when the
    test runs.

    Raises:
        DataTypeConversionError: The value is not valid for the type.
    """
    if isinstance(value, str) and has_substitution(value):
        return value
    data_type = parse_result.get("data_type") if hasattr(parse_result, "get") else None
    return get_typed_value(str(data_type or "str"), value)
