"""The RESP reply types and the general parser (``pysoa_like.core.resp_replies``), also importable from
``pysoa_like.core.redis_protocol``; the parsing itself is tested through ``RespParser``
(test_redis_protocol_resp_parser.py)."""

from __future__ import annotations

import pytest

from pysoa_like.core import redis_protocol, resp_replies
from pysoa_like.core.redis_protocol import NEED_DATA, RespParser
from pysoa_like.core.resp_replies import GeneralRespParser, RespError


@pytest.mark.parametrize("name", resp_replies.__all__)
def test_every_reply_name_is_the_same_object_from_redis_protocol(name: str) -> None:
    """Code importing the reply types from redis_protocol (where they were defined) gets the same objects."""
    assert getattr(redis_protocol, name) is getattr(resp_replies, name)
    assert name in redis_protocol.__all__


def test_an_error_reply_is_split_into_its_code_and_text() -> None:
    """A RespError keeps Redis' whole text and its first word as the code."""
    error = RespError("NOSCRIPT No matching script. Please use EVAL.")
    assert (error.code, error.text) == ("NOSCRIPT", "NOSCRIPT No matching script. Please use EVAL.")


def test_a_reply_received_into_the_general_buffer_comes_out_of_the_parser_built_on_it() -> None:
    """Bytes received through the general parser's buffer (recv_buffer, received) are the replies RespParser hands
    out, a reply cut in two waiting for its rest."""
    parser = RespParser()
    assert isinstance(parser, GeneralRespParser)
    data = b"%1\r\n$1\r\nk\r\n:1\r\n"  # a RESP3 map: the general parser's, not the small replies' shortcut
    for piece in (data[:7], data[7:]):
        buffer = parser.recv_buffer()
        buffer[: len(piece)] = piece
        parser.received(len(piece))
        if piece is data[:7]:
            assert parser.next_reply() is NEED_DATA
    assert parser.next_reply() == {b"k": 1}
    assert not parser.has_buffered
