"""``MsgpackSerializer``: the default serializer, MessagePack with PySOA's extension types."""

from __future__ import annotations

import datetime
import functools
import re
import struct
import threading
from collections.abc import Callable
from typing import Any, ClassVar

# msgpack ships no type information.
import msgpack  # type: ignore[import-untyped,unused-ignore]

from pysoa_like.common.serializer import _msgpack_ext
from pysoa_like.common.serializer._msgpack_ext import (
    INT64_MIN,
    UINT64_MAX,
    decode_ext,
    encode_default,
)
from pysoa_like.common.serializer._paths import encoding_error, locate_unencodable
from pysoa_like.common.serializer.base import Serializer, not_a_dict
from pysoa_like.common.serializer.errors import InvalidField, InvalidMessage

__all__ = ["MsgpackSerializer"]

# Roughly where msgpack (and Python) give up on nesting; deeper failures fall back to a generic message.
_PACK_NESTING_LIMIT = 1000

# msgpack.Packer is not thread-safe, and creating one per call costs about as much as packing a small
# message, so each thread keeps its own. Its buffer keeps the capacity of the largest message it packed, so a
# packer that packed (or failed to pack) more than this is dropped: one 200 MB body refused as too large must not
# leave its thread 200 MB bigger.
_THREAD_STATE = threading.local()
_KEEP_PACKER_BELOW_BYTES = 1024 * 1024


def _new_packer(unicode_errors: str | None) -> msgpack.Packer:
    return msgpack.Packer(
        default=encode_default,
        use_bin_type=True,
        unicode_errors=unicode_errors,
        # Never msgpack's Timestamp extension (-1): PySOA peers cannot read it.
        datetime=False,
        autoreset=True,
        # Start small (msgpack's default is 256 KiB per packer, so per thread); it grows as needed.
        buf_size=4096,
    )


def _thread_packer() -> msgpack.Packer:
    # Strict UTF-8: msgpack's fast path. It writes the same bytes as "surrogatepass" for every string
    # without a lone surrogate and raises on the rare one that has them (see _surrogate_packer).
    packer = _THREAD_STATE.packer = _new_packer(None)
    return packer


def _drop_packers() -> None:
    # The thread's packers, and any memory their buffers grew to, go; the next pack makes a new small one.
    state = _THREAD_STATE.__dict__
    state.pop("packer", None)
    state.pop("surrogate_packer", None)


def _surrogate_packer() -> msgpack.Packer:
    # PySOA 1.4.5+ writes lone surrogates; we write them the same way (and can also read them back).
    # This packer encodes every string through the codec machinery, about 40% slower on small messages.
    try:
        packer: msgpack.Packer = _THREAD_STATE.surrogate_packer
    except AttributeError:
        packer = _THREAD_STATE.surrogate_packer = _new_packer("surrogatepass")
    return packer


class MsgpackSerializer(Serializer):
    """Serializes messages to and from MessagePack, the default wire format.

    Natively: None, bool, int (-2**63 to 2**64-1), float (as float64), str, bytes (bin), dict (any key
    type) and list; tuples are sent as lists. Extension types (PROTOCOL.md 9.1): naive ``datetime``
    (1), UTC ``datetime`` (10, any tzinfo whose offset is zero), ``date`` (3), naive ``time`` (4),
    ``Decimal`` (5) and ``currint.Amount`` (2, when currint is installed). It takes no constructor
    arguments and is safe to share between threads.

    The class constants ``EXT_*`` (the extension type codes), ``STRUCT_*`` (their binary layouts) and
    ``EPOCH``/``EPOCH_UTC`` have PySOA's names and values; they describe the wire format and changing
    them in a subclass does not change it. A subclass adds extension types as with PySOA: it overrides
    ``_default`` (return a ``msgpack.ExtType`` for its own types, else ``super()._default(value)``)
    and ``_ext_hook`` (decode its own codes, else ``super()._ext_hook(code, data)``). Such a
    subclass's overridden hooks take a slower path (a packer made per call; received views are copied).
    """

    mime_type = "application/msgpack"

    #: Extension type code of naive ``datetime`` values.
    EXT_DATETIME: ClassVar[int] = _msgpack_ext.EXT_DATETIME
    #: Extension type code of ``currint.Amount`` values.
    EXT_CURRINT: ClassVar[int] = _msgpack_ext.EXT_AMOUNT
    #: Extension type code of ``date`` values.
    EXT_DATE: ClassVar[int] = _msgpack_ext.EXT_DATE
    #: Extension type code of naive ``time`` values.
    EXT_TIME: ClassVar[int] = _msgpack_ext.EXT_TIME
    #: Extension type code of ``Decimal`` values.
    EXT_DECIMAL: ClassVar[int] = _msgpack_ext.EXT_DECIMAL
    #: Extension type code of UTC ``datetime`` values.
    EXT_DATETIME_UTC: ClassVar[int] = _msgpack_ext.EXT_DATETIME_UTC

    #: ``currint.Amount``: the 3-letter currency code, then the signed 64-bit minor value.
    STRUCT_CURRINT: ClassVar[struct.Struct] = struct.Struct("!3sq")
    #: ``date``: unsigned 16-bit year, 8-bit month, 8-bit day.
    STRUCT_DATE: ClassVar[struct.Struct] = struct.Struct("!HBB")
    #: Both ``datetime`` types: signed 64-bit microseconds since :attr:`EPOCH` (or :attr:`EPOCH_UTC`).
    STRUCT_DATETIME: ClassVar[struct.Struct] = struct.Struct("!q")
    #: ``Decimal``: the unsigned 16-bit length of the text that follows.
    STRUCT_DECIMAL_LENGTH: ClassVar[struct.Struct] = struct.Struct("!H")
    #: ``time``: 8-bit hour, minute and second, then unsigned 32-bit microseconds.
    STRUCT_TIME: ClassVar[struct.Struct] = struct.Struct("!3BL")

    #: The origin of naive date-times on the wire.
    EPOCH: ClassVar[datetime.datetime] = datetime.datetime(1970, 1, 1)
    #: The origin of UTC date-times on the wire.
    EPOCH_UTC: ClassVar[datetime.datetime] = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

    def _default(self, value: Any) -> msgpack.ExtType:
        """Encode a value msgpack cannot pack natively (PySOA's extension point; see the class docstring).

        Args:
            value: The value.

        Returns:
            The extension value carrying it.

        Raises:
            InvalidField: If the value has no wire representation.
        """
        return encode_default(value)

    def _ext_hook(self, code: int, data: bytes) -> Any:
        """Decode one extension value (PySOA's extension point; see the class docstring).

        Args:
            code: The extension type code.
            data: Its payload.

        Returns:
            The decoded value.

        Raises:
            InvalidMessage: If the code is unknown or the payload malformed.
        """
        return decode_ext(code, data)

    def dict_to_blob(self, message_dict: dict[Any, Any]) -> bytes:
        """Encode a message dict to MessagePack bytes.

        Args:
            message_dict: The message to encode.

        Returns:
            The encoded message.

        Raises:
            ValueError: If ``message_dict`` is not a dict.
            InvalidField: If a value cannot be encoded; the message starts with the dotted path of the
                value, e.g. ``body.actions.0.body.when: Cannot encode time zone-aware times ...``.
        """
        if type(message_dict) is not dict and not isinstance(message_dict, dict):
            raise not_a_dict(message_dict)
        try:
            packer: msgpack.Packer = _THREAD_STATE.packer
        except AttributeError:
            packer = _thread_packer()
        try:
            blob: bytes = packer.pack(message_dict)
        except UnicodeEncodeError:
            packer.reset()
            packer = _surrogate_packer()
        except Exception as exc:
            _drop_packers()
            raise _encoding_error(message_dict, exc) from exc
        else:
            if len(blob) >= _KEEP_PACKER_BELOW_BYTES:
                _drop_packers()
            return blob
        try:
            blob = packer.pack(message_dict)
        except Exception as exc:
            _drop_packers()
            raise _encoding_error(message_dict, exc) from exc
        if len(blob) >= _KEEP_PACKER_BELOW_BYTES:
            _drop_packers()
        return blob

    def blob_to_dict(self, blob: bytes | bytearray | memoryview) -> dict[Any, Any]:
        """Decode MessagePack bytes into a message dict.

        Args:
            blob: The encoded message (``bytes``, ``bytearray`` or ``memoryview``).

        Returns:
            The decoded message. Strings are ``str``, bin values ``bytes``, arrays ``list``.

        Raises:
            InvalidMessage: If the bytes are not one complete MessagePack map, hold invalid UTF-8 or an
                unknown or malformed extension type (including msgpack's Timestamp, type -1).
        """
        data: bytes | bytearray | memoryview
        scan: bytes | bytearray
        if type(blob) is bytes or type(blob) is bytearray:
            data = scan = blob
        elif isinstance(blob, memoryview) and type(blob.obj) in _SCANNABLE and blob.contiguous and blob.format == "B":
            # A view into a received message (after its framing): read in place. The scan for 0xFF bytes
            # covers the whole message; its framing is ASCII, so the answer is the same.
            data, scan = blob, blob.obj  # type: ignore[assignment]  # checked just above
        else:
            data = scan = _as_bytes(blob)
        try:
            result = msgpack.unpackb(
                data,
                raw=False,
                ext_hook=decode_ext,
                strict_map_key=False,
                unicode_errors="surrogatepass",
            )
        except InvalidMessage:
            raise
        except Exception as exc:
            raise InvalidMessage(f"Could not decode MessagePack message: {exc}") from exc
        if b"\xff" in scan:  # reject_timestamps' own first test, inlined: it runs on every message (it is below, in
            # this module, so that a message with a 0xFF byte does not take the decoding into another one)
            reject_timestamps(scan, result)
        if type(result) is not dict:
            raise InvalidMessage(f"MessagePack message decoded to a {type(result).__name__}, not a map")
        return result

    #: :meth:`blob_to_dict` itself, which reads a view in place (no copy; see :meth:`Serializer.buffer_to_dict`):
    #: the transports decode each received message with one call. (Its argument is named ``blob``.)
    buffer_to_dict = blob_to_dict  # type: ignore[assignment]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "blob_to_dict" in cls.__dict__ and "buffer_to_dict" not in cls.__dict__:
            # A subclass's own blob_to_dict may expect bytes, as the base contract promises: it gets a copy.
            cls.buffer_to_dict = Serializer.buffer_to_dict  # type: ignore[assignment]
        # PySOA's extension pattern: the hooks a subclass overrides are used (this class's own methods keep
        # their module-level hooks, so they pay nothing for it).
        if cls._default is not MsgpackSerializer._default and cls.dict_to_blob is MsgpackSerializer.dict_to_blob:
            cls.dict_to_blob = _dict_to_blob_with_hooks  # type: ignore[method-assign]
        if cls._ext_hook is not MsgpackSerializer._ext_hook and cls.blob_to_dict is MsgpackSerializer.blob_to_dict:
            cls.blob_to_dict = cls.buffer_to_dict = _blob_to_dict_with_hooks  # type: ignore[method-assign]


def _dict_to_blob_with_hooks(self: MsgpackSerializer, message_dict: dict[Any, Any]) -> bytes:
    """:meth:`MsgpackSerializer.dict_to_blob` for a subclass with its own ``_default``."""
    if not isinstance(message_dict, dict):
        raise not_a_dict(message_dict)
    default = self._default
    try:
        try:
            blob: bytes = msgpack.packb(message_dict, default=default, use_bin_type=True, datetime=False)
        except UnicodeEncodeError:
            blob = msgpack.packb(
                message_dict, default=default, use_bin_type=True, datetime=False, unicode_errors="surrogatepass"
            )
    except Exception as exc:
        raise _encoding_error(message_dict, exc, default) from exc
    return blob


def _blob_to_dict_with_hooks(self: MsgpackSerializer, blob: bytes | bytearray | memoryview) -> dict[Any, Any]:
    """:meth:`MsgpackSerializer.blob_to_dict` for a subclass with its own ``_ext_hook`` (views are copied)."""
    data = blob if type(blob) is bytes or type(blob) is bytearray else _as_bytes(blob)
    try:
        result = msgpack.unpackb(
            data, raw=False, ext_hook=self._ext_hook, strict_map_key=False, unicode_errors="surrogatepass"
        )
    except InvalidMessage:
        raise
    except Exception as exc:
        raise InvalidMessage(f"Could not decode MessagePack message: {exc}") from exc
    reject_timestamps(data, result)
    if not isinstance(result, dict):
        raise InvalidMessage(f"MessagePack message decoded to a {type(result).__name__}, not a map")
    return result


_SCANNABLE = (bytes, bytearray)


def _as_bytes(blob: object) -> bytes:
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise InvalidMessage(f"Cannot decode a message from a {type(blob).__name__}; expected bytes")
    return bytes(blob)


_Default = Callable[[Any], Any]


def _leaf_problem(value: Any, default: _Default = encode_default) -> str | None:
    if value is None or isinstance(value, bool | float | str | bytes | bytearray | memoryview):
        return None
    if isinstance(value, int) and INT64_MIN <= value <= UINT64_MAX:
        return None
    try:
        default(value)
    except InvalidField as exc:
        return str(exc)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _key_problem(key: Any, default: _Default = encode_default) -> str | None:
    if isinstance(key, tuple):
        leaf, key_check = _checks(default)
        found = locate_unencodable(key, leaf, key_check, _PACK_NESTING_LIMIT)
        return None if found is None else found[1]
    return _leaf_problem(key, default)


def _checks(default: _Default) -> tuple[Callable[[Any], str | None], Callable[[Any], str | None]]:
    if default is encode_default:
        return _leaf_problem, _key_problem
    return functools.partial(_leaf_problem, default=default), functools.partial(_key_problem, default=default)


def _encoding_error(message: Any, exc: Exception, default: _Default = encode_default) -> InvalidField:
    leaf, key_check = _checks(default)
    return encoding_error(message, exc, leaf, key_check, _PACK_NESTING_LIMIT, "MessagePack")


# msgpack decodes extension type -1 (its Timestamp) itself, without calling the ext hook, and only
# with a payload of 4, 8 or 12 bytes (any other length fails to decode): the headers that can carry one
# are fixext4 and fixext8, and ext8, ext16 and ext32 with one of those lengths. The pattern starts at the
# 0xFF type byte and looks back for such a header, so the regex engine skips ahead with a literal scan.
_TIMESTAMP_TYPE = re.compile(
    rb"\xff(?:(?<=[\xd6\xd7]\xff)|(?<=\xc7[\x04\x08\x0c]\xff)|(?<=\xc8\x00[\x04\x08\x0c]\xff)"
    rb"|(?<=\xc9\x00\x00\x00[\x04\x08\x0c]\xff))"
)
# After this many 0xFF bytes that are not a Timestamp header, the rest is left to the regex (binary data).
_FIND_LIMIT = 16


def might_hold_timestamp(blob: bytes | bytearray) -> bool:
    """Whether ``blob`` has a byte sequence that could be the header of a msgpack Timestamp.

    A true answer can be wrong (the bytes may sit inside a string); a false one never is. Text-like
    payloads cost a ``memchr`` per 0xFF byte; the regex takes over on binary data with many of them.
    """
    find = blob.find
    position = find(b"\xff")
    for _ in range(_FIND_LIMIT):
        if position < 0:
            return False
        if _TIMESTAMP_TYPE.match(blob, position) is not None:
            return True
        position = find(b"\xff", position + 1)
    return position >= 0 and _TIMESTAMP_TYPE.search(blob, position) is not None


def reject_timestamps(blob: bytes | bytearray, result: Any) -> None:
    """Refuse a decoded message that contains msgpack's own Timestamp extension (type -1).

    PySOA peers cannot read that type, so it is never valid on the wire. The byte scan makes the
    common case (no 0xFF byte at all) cost one ``memchr``, and a big message with a few of them
    little more; only a message with a possible Timestamp header has its decoded values walked.

    Args:
        blob: The raw message.
        result: What msgpack decoded it to.

    Raises:
        InvalidMessage: If ``result`` holds a ``msgpack.Timestamp``.
    """
    if not might_hold_timestamp(blob):
        return
    stack = [result]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
        elif isinstance(value, msgpack.Timestamp):
            raise InvalidMessage(
                "Unsupported MessagePack extension type code -1 (msgpack Timestamp); PySOA peers send "
                "date-times as extension types 1 and 10"
            )
