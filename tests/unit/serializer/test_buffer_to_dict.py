"""Serializer.buffer_to_dict: transports decode views into received messages; only msgpack reads them in place."""

from __future__ import annotations

from typing import Any

import msgpack  # type: ignore[import-untyped,unused-ignore]
import pytest

from pysoa_like.common.serializer import JSONSerializer, MsgpackSerializer
from pysoa_like.common.serializer.errors import InvalidMessage
from pysoa_like.core.framing import frame_message
from pysoa_like.core.message import parse_message

_MESSAGE = {"request_id": 7, "body": {"data": "x" * 70_000, "raw": b"\xff\xd6\xff"}}


def test_msgpack_decodes_a_view_into_a_framed_message() -> None:
    """A view of the payload after the framing decodes to the same dict as a copy would."""
    serializer = MsgpackSerializer()
    raw = frame_message(serializer.dict_to_blob(_MESSAGE), serializer.mime_type)
    parsed = parse_message(raw, view=True)
    assert isinstance(parsed.payload, memoryview)
    assert parsed.payload.obj is raw
    assert serializer.buffer_to_dict(parsed.payload) == _MESSAGE


def test_msgpack_view_with_a_timestamp_is_still_refused() -> None:
    """The Timestamp check also covers a view (it scans the message the view points into)."""
    blob = msgpack.packb({"v": msgpack.Timestamp(5, 0)})
    raw = frame_message(blob, "application/msgpack")
    with pytest.raises(InvalidMessage, match="extension type code -1"):
        MsgpackSerializer().buffer_to_dict(parse_message(raw, view=True).payload)


def test_msgpack_view_over_a_bytearray_is_copied_and_decoded() -> None:
    """A view over something other than bytes still works (through a copy)."""
    blob = bytearray(MsgpackSerializer().dict_to_blob(_MESSAGE))
    assert MsgpackSerializer().buffer_to_dict(memoryview(blob)) == _MESSAGE


def test_json_serializer_gets_bytes_from_buffer_to_dict() -> None:
    """Serializers written for bytes get a bytes copy of a view."""
    raw = frame_message(JSONSerializer().dict_to_blob({"a": 1}), JSONSerializer.mime_type)
    assert JSONSerializer().buffer_to_dict(parse_message(raw, view=True).payload) == {"a": 1}


def test_msgpack_subclass_overriding_blob_to_dict_gets_bytes() -> None:
    """A MsgpackSerializer subclass with its own blob_to_dict is given bytes, as the base contract promises."""
    seen: list[type] = []

    class Recording(MsgpackSerializer):
        def blob_to_dict(self, blob: Any) -> dict[Any, Any]:
            seen.append(type(blob))
            return super().blob_to_dict(blob)

    raw = frame_message(MsgpackSerializer().dict_to_blob({"a": 1}), "application/msgpack")
    assert Recording().buffer_to_dict(parse_message(raw, view=True).payload) == {"a": 1}
    assert seen == [bytes]


def test_parse_message_without_view_copies() -> None:
    """The default payload is bytes, as before."""
    raw = frame_message(b"\x80", "application/msgpack")
    payload = parse_message(raw).payload
    assert type(payload) is bytes and payload == b"\x80"
