"""The sans-I/O core is enough for an asyncio driver: a request and its reply over asyncio streams, no redis-py.

What ``docs/internals.rst`` says an asyncio driver will do (issue 15), done here with nothing but the core and
``asyncio``: encode the commands the blocking lanes send, parse Redis' replies from the bytes a stream gives,
and read them with the core's meanings (the push went through; the queue is full; the popped message is the
request, framed and enveloped as a PySOA peer expects).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlparse

import redis

from pysoa_like.common.serializer import MsgpackSerializer
from pysoa_like.core.constants import ProtocolVersion
from pysoa_like.core.framing import frame_message
from pysoa_like.core.keys import queue_key, request_queue_name
from pysoa_like.core.message import check_envelope, envelope_to_send, parse_message
from pysoa_like.core.push_outcomes import PushVerdict, push_outcome
from pysoa_like.core.redis_protocol import NEED_DATA, RespParser, pack_commands, push_commands, script_command


class _Connection:
    """The smallest asyncio driver: one stream, replies read in command order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.parser = reader, writer, RespParser()

    async def send(self, commands: list[tuple[Any, ...]]) -> None:
        self.writer.writelines(pack_commands(commands))
        await self.writer.drain()

    async def reply(self) -> Any:
        while (reply := self.parser.next_reply()) is NEED_DATA:
            data = await self.reader.read(65536)
            assert data, "Redis closed the connection"
            self.parser.feed(data)
        return reply


async def _call_through_the_core(host: str, port: int) -> tuple[list[PushVerdict], dict[str, Any]]:
    connection = _Connection(*await asyncio.open_connection(host, port))
    serializer = MsgpackSerializer()
    key = queue_key(request_queue_name("echo"))
    envelope, redis_expiry = envelope_to_send(7, {"reply_to": "service.echo.c!t"}, {"actions": []}, time.time(), 60)
    message = frame_message(serializer.dict_to_blob(envelope), serializer.mime_type, ProtocolVersion.VERSION_3)
    item = (key, [message], redis_expiry)
    try:
        # A fresh connection has not loaded the script: EVALSHA answers NOSCRIPT, and EVAL loads it.
        await connection.send(push_commands(item, 1, transaction=False))
        verdicts = [push_outcome(await connection.reply())]
        await connection.send([script_command(True, item, 1)])
        verdicts.append(push_outcome(await connection.reply()))
        # The list now holds one message: a capacity of 1 refuses the next push.
        await connection.send(push_commands(item, 1, transaction=False))
        verdicts.append(push_outcome(await connection.reply()))
        await connection.send([("BLPOP", key, 1.0)])
        popped_key, raw = await connection.reply()
        assert popped_key == key.encode()
        parsed = parse_message(raw)
        received = check_envelope(serializer.blob_to_dict(parsed.payload), time.time(), "echo")
        return verdicts, {"request_id": received.request_id, "meta": received.meta, "version": parsed.version}
    finally:
        connection.writer.close()
        await connection.writer.wait_closed()


def test_a_request_goes_through_redis_with_the_core_and_asyncio_alone(redis_url: str, raw_redis: redis.Redis) -> None:
    address = urlparse(redis_url)
    assert address.hostname is not None and address.port is not None
    raw_redis.script_flush()
    verdicts, received = asyncio.run(_call_through_the_core(address.hostname, address.port))
    assert verdicts == [PushVerdict.PUSH_AGAIN, PushVerdict.PUSHED, PushVerdict.QUEUE_FULL]
    assert received["request_id"] == 7 and received["meta"]["reply_to"] == "service.echo.c!t"
    assert received["version"] is ProtocolVersion.VERSION_3
    assert raw_redis.llen("pysoa:service.echo") == 0
