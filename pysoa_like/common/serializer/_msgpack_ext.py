"""The MessagePack extension types of the PySOA wire format (PROTOCOL.md section 9.1).

All integers are big-endian. The layouts are fixed by what PySOA 1.4.9 peers send and read; the
differences from PySOA are in exactness and in refusing values that PySOA silently mangled.
"""

from __future__ import annotations

import datetime
import decimal
import struct
from collections.abc import Callable
from typing import Any

# msgpack ships no type information.
import msgpack  # type: ignore[import-untyped,unused-ignore]

from pysoa_like.common._extras import install_extra
from pysoa_like.common.serializer.errors import InvalidField, InvalidMessage

__all__ = [
    "EXT_AMOUNT",
    "EXT_DATE",
    "EXT_DATETIME",
    "EXT_DATETIME_UTC",
    "EXT_DECIMAL",
    "EXT_TIME",
    "decode_ext",
    "encode_default",
    "import_amount_class",
]

EXT_DATETIME = 1  # naive datetime: int64 microseconds since 1970-01-01T00:00:00
EXT_AMOUNT = 2  # currint.Amount: 3 ASCII bytes of currency code + int64 minor units
EXT_DATE = 3  # date: uint16 year, uint8 month, uint8 day
EXT_TIME = 4  # naive time: uint8 hour, uint8 minute, uint8 second, uint32 microsecond
EXT_DECIMAL = 5  # Decimal: uint16 length + str(value) as UTF-8
EXT_DATETIME_UTC = 10  # UTC datetime: int64 microseconds since the UTC epoch

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
DECIMAL_TEXT_MAX_BYTES = 2**16 - 1

_INT64 = struct.Struct("!q")
_DATE = struct.Struct("!HBB")
_TIME = struct.Struct("!BBBI")
_LENGTH = struct.Struct("!H")
_AMOUNT = struct.Struct("!3sq")

_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_ZERO = datetime.timedelta(0)

_CURRINT_MISSING = (
    "Cannot decode a currint Amount (MessagePack extension type 2) because currint is not installed; "
    f"install the extra with: {install_extra('currint')}"
)


def import_amount_class() -> type[Any] | None:
    """Return ``currint.Amount``, or None when the optional currint package cannot be imported."""
    try:
        from currint import Amount
    except ImportError:
        return None
    return Amount  # type: ignore[no-any-return]


# Read at call time (not bound into closures) so tests can simulate a missing currint.
AMOUNT_CLASS = import_amount_class()


def _micros_since_epoch(value: datetime.datetime) -> int:
    # Integer arithmetic: PySOA's float path loses a microsecond on about 1% of values.
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _encode_datetime(value: datetime.datetime) -> msgpack.ExtType:
    offset = value.utcoffset()
    if offset is None:
        return msgpack.ExtType(EXT_DATETIME, _INT64.pack(_micros_since_epoch(value)))
    if offset == _ZERO:
        return msgpack.ExtType(EXT_DATETIME_UTC, _INT64.pack(_micros_since_epoch(value.replace(tzinfo=None))))
    raise InvalidField(
        f"Cannot encode a date-time with UTC offset {offset} to MessagePack; only naive and UTC date-times are "
        f"supported, so convert it to UTC first with value.astimezone(datetime.timezone.utc)"
    )


def _encode_date(value: datetime.date) -> msgpack.ExtType:
    return msgpack.ExtType(EXT_DATE, _DATE.pack(value.year, value.month, value.day))


def _encode_time(value: datetime.time) -> msgpack.ExtType:
    if value.tzinfo is not None:
        raise InvalidField(
            "Cannot encode time zone-aware times to MessagePack (the wire format has no offset for times); "
            "send a naive time or a UTC datetime instead"
        )
    return msgpack.ExtType(EXT_TIME, _TIME.pack(value.hour, value.minute, value.second, value.microsecond))


def _encode_decimal(value: decimal.Decimal) -> msgpack.ExtType:
    text = str(value).encode("utf-8")
    if len(text) > DECIMAL_TEXT_MAX_BYTES:
        raise InvalidField(
            f"Cannot encode a Decimal whose text is {len(text)} bytes long to MessagePack; "
            f"the limit is {DECIMAL_TEXT_MAX_BYTES} bytes"
        )
    return msgpack.ExtType(EXT_DECIMAL, _LENGTH.pack(len(text)) + text)


def _encode_amount(value: Any) -> msgpack.ExtType:
    currency = value.currency
    if currency is None:
        raise InvalidField("Cannot encode a currint Amount without a currency (the zero amount) to MessagePack")
    code = str(currency.code).upper()
    if len(code) != 3 or not code.isascii():
        raise InvalidField(f"Cannot encode a currint Amount with currency code {code!r}; it must be 3 ASCII letters")
    minor = value.value
    if not INT64_MIN <= minor <= INT64_MAX:
        raise InvalidField(f"Cannot encode a currint Amount of {minor} minor units; it must fit in a signed 64-bit int")
    return msgpack.ExtType(EXT_AMOUNT, _AMOUNT.pack(code.encode("ascii"), minor))


_Encoder = Callable[[Any], msgpack.ExtType]

# Exact-type dispatch first (the common case); isinstance checks below handle subclasses.
_ENCODERS: dict[type[Any], _Encoder] = {
    datetime.datetime: _encode_datetime,
    datetime.date: _encode_date,
    datetime.time: _encode_time,
    decimal.Decimal: _encode_decimal,
}
if AMOUNT_CLASS is not None:
    _ENCODERS[AMOUNT_CLASS] = _encode_amount


def _find_encoder(value: Any) -> _Encoder:
    # datetime before date: datetime is a subclass of date.
    if isinstance(value, datetime.datetime):
        return _encode_datetime
    if isinstance(value, datetime.date):
        return _encode_date
    if isinstance(value, datetime.time):
        return _encode_time
    if isinstance(value, decimal.Decimal):
        return _encode_decimal
    if AMOUNT_CLASS is not None and isinstance(value, AMOUNT_CLASS):
        return _encode_amount
    if isinstance(value, int):
        raise InvalidField(f"Integer value {value} is out of the MessagePack range [-2**63, 2**64 - 1]")
    if isinstance(value, set | frozenset):
        raise InvalidField("Cannot encode sets to MessagePack; convert the set to a list")
    raise InvalidField(f"Cannot encode values of type {type(value).__qualname__} to MessagePack")


def encode_default(value: Any) -> msgpack.ExtType:
    """The packer's ``default`` hook: encode a value msgpack has no native format for.

    Args:
        value: A value that msgpack could not pack by itself.

    Returns:
        The extension type carrying it.

    Raises:
        InvalidField: If the value has no wire representation.
    """
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        encoder = _find_encoder(value)
    return encoder(value)


def _decode_datetime(data: bytes) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(microseconds=_INT64.unpack(data)[0])


def _decode_datetime_utc(data: bytes) -> datetime.datetime:
    return _EPOCH_UTC + datetime.timedelta(microseconds=_INT64.unpack(data)[0])


def _decode_date(data: bytes) -> datetime.date:
    return datetime.date(*_DATE.unpack(data))


def _decode_time(data: bytes) -> datetime.time:
    return datetime.time(*_TIME.unpack(data))


def _decode_decimal(data: bytes) -> decimal.Decimal:
    (length,) = _LENGTH.unpack_from(data)
    if len(data) - _LENGTH.size != length:
        raise InvalidMessage(
            f"Invalid Decimal (MessagePack extension type 5): the length prefix says {length} bytes "
            f"but {len(data) - _LENGTH.size} follow"
        )
    return decimal.Decimal(data[_LENGTH.size :].decode("utf-8"))


def _decode_amount(data: bytes) -> Any:
    amount_class = AMOUNT_CLASS
    if amount_class is None:
        raise InvalidMessage(_CURRINT_MISSING)
    code, minor = _AMOUNT.unpack(data)
    return amount_class.from_code_and_minor(code.decode("ascii"), minor)


_DECODERS: dict[int, Callable[[bytes], Any]] = {
    EXT_DATETIME: _decode_datetime,
    EXT_AMOUNT: _decode_amount,
    EXT_DATE: _decode_date,
    EXT_TIME: _decode_time,
    EXT_DECIMAL: _decode_decimal,
    EXT_DATETIME_UTC: _decode_datetime_utc,
}


def decode_ext(code: int, data: bytes) -> Any:
    """The unpacker's ``ext_hook``: decode one extension value.

    Args:
        code: The extension type code.
        data: The extension payload.

    Returns:
        The decoded Python value.

    Raises:
        InvalidMessage: If the code is unknown or the payload is malformed.
    """
    decoder = _DECODERS.get(code)
    if decoder is None:
        raise InvalidMessage(f"Unknown MessagePack extension type code {code}")
    try:
        return decoder(data)
    except InvalidMessage:
        raise
    except Exception as exc:
        raise InvalidMessage(
            f"Invalid payload for MessagePack extension type {code} ({len(data)} bytes): {exc}"
        ) from exc
