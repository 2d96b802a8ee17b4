"""``MsgpackSerializer``'s PySOA-compatible class constants and its extension pattern for subclasses."""

from __future__ import annotations

import datetime
import decimal
import struct
import uuid
from typing import Any

# msgpack ships no type information.
import msgpack  # type: ignore[import-untyped,unused-ignore]
import pytest

from pysoa_like.common.serializer import MsgpackSerializer
from pysoa_like.common.serializer.errors import InvalidField, InvalidMessage

_EXT_UUID = 20


def test_class_constants_have_pysoas_names_and_values() -> None:
    """EXT_*, STRUCT_* and EPOCH* hold PySOA 1.4.9's values (copied from its MsgpackSerializer)."""
    codes = {name: getattr(MsgpackSerializer, name) for name in dir(MsgpackSerializer) if name.startswith("EXT_")}
    assert codes == {
        "EXT_CURRINT": 2,
        "EXT_DATE": 3,
        "EXT_DATETIME": 1,
        "EXT_DATETIME_UTC": 10,
        "EXT_DECIMAL": 5,
        "EXT_TIME": 4,
    }
    layouts = {name: getattr(MsgpackSerializer, name) for name in dir(MsgpackSerializer) if name.startswith("STRUCT_")}
    assert {name: layout.format for name, layout in layouts.items()} == {
        "STRUCT_CURRINT": "!3sq",
        "STRUCT_DATE": "!HBB",
        "STRUCT_DATETIME": "!q",
        "STRUCT_DECIMAL_LENGTH": "!H",
        "STRUCT_TIME": "!3BL",
    }
    assert all(isinstance(layout, struct.Struct) for layout in layouts.values())
    epochs = (MsgpackSerializer.EPOCH, MsgpackSerializer.EPOCH_UTC)
    assert epochs == (datetime.datetime(1970, 1, 1), datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc))


def test_the_constants_describe_the_bytes_on_the_wire() -> None:
    """A date-time encodes as ext EXT_DATETIME carrying STRUCT_DATETIME microseconds since EPOCH."""
    when = datetime.datetime(2021, 3, 4, 5, 6, 7, 890123)
    blob = MsgpackSerializer().dict_to_blob({"w": when})
    ext = msgpack.unpackb(blob, raw=False)["w"]
    assert ext.code == MsgpackSerializer.EXT_DATETIME
    (micros,) = MsgpackSerializer.STRUCT_DATETIME.unpack(ext.data)
    assert MsgpackSerializer.EPOCH + datetime.timedelta(microseconds=micros) == when


class UUIDSerializer(MsgpackSerializer):
    """A subclass written as for PySOA: it overrides _default and _ext_hook and defers to super() otherwise."""

    mime_type = "application/x-test-msgpack-uuid"

    def _default(self, obj: Any) -> msgpack.ExtType:
        if isinstance(obj, uuid.UUID):
            return msgpack.ExtType(_EXT_UUID, obj.bytes)
        return super()._default(obj)

    def _ext_hook(self, code: int, data: bytes) -> Any:
        if code == _EXT_UUID:
            return uuid.UUID(bytes=data)
        return super()._ext_hook(code, data)


def test_a_pysoa_style_subclass_adds_an_extension_type() -> None:
    """The subclass's hooks encode and decode its type; the stock types still round-trip through super()."""
    serializer = UUIDSerializer()
    message = {
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "when": datetime.datetime(2020, 1, 2, 3, 4, 5, 6),
        "amount": decimal.Decimal("1.50"),
        "ids": [uuid.UUID(int=1)],
    }
    blob = serializer.dict_to_blob(message)
    assert msgpack.unpackb(blob, raw=False)["id"] == msgpack.ExtType(_EXT_UUID, message["id"].bytes)
    assert serializer.blob_to_dict(blob) == message
    assert serializer.buffer_to_dict(memoryview(blob)) == message
    # The stock serializer does not know the new type, either way.
    with pytest.raises(InvalidMessage, match="Unknown MessagePack extension type code 20"):
        MsgpackSerializer().blob_to_dict(blob)
    with pytest.raises(InvalidField):
        MsgpackSerializer().dict_to_blob({"id": message["id"]})


def test_a_subclass_still_names_the_value_it_cannot_encode() -> None:
    """Errors keep their dotted path, and a value the subclass's hook handles is not blamed for another's failure."""
    with pytest.raises(InvalidField, match=r"^b\.1: Cannot encode values of type object"):
        UUIDSerializer().dict_to_blob({"a": uuid.UUID(int=2), "b": [uuid.UUID(int=3), object()]})


def test_a_subclass_still_refuses_what_the_stock_serializer_refuses() -> None:
    """Non-dict messages, non-map blobs and msgpack Timestamps are refused as by the base class."""
    serializer = UUIDSerializer()
    with pytest.raises(ValueError):
        serializer.dict_to_blob([1])  # type: ignore[arg-type]
    with pytest.raises(InvalidMessage, match="not a map"):
        serializer.blob_to_dict(msgpack.packb([1]))
    with pytest.raises(InvalidMessage, match="Timestamp"):
        serializer.blob_to_dict(msgpack.packb({"t": msgpack.Timestamp(1)}))
    assert serializer.dict_to_blob({"s": "\ud800"}) == MsgpackSerializer().dict_to_blob({"s": "\ud800"})
