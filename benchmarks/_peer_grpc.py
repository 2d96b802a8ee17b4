"""gRPC's side of ``benchmarks.peers``: a ``grpc.aio`` unary ``Square`` service and its client.

The messages are protobuf messages, as a gRPC user's would be, but described at run time
(:func:`message_classes` builds the file descriptor that ``protoc`` would have compiled), so nothing needs
``protoc`` or generated code; the method handlers and the client's callable are what generated stubs make.

The server runs as ``python -m benchmarks._peer_grpc server`` in a process of its own: one ``grpc.aio`` server
on an event loop, listening on a free port of 127.0.0.1, which it prints as ``READY <pid> <port>``. It stops
on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from benchmarks._procs import announce_ready

__all__ = ["METHOD", "GrpcCalls", "message_classes"]

#: The full method name, as a ``.proto`` file with ``package bench; service Squarer { rpc Square ... }`` names it.
METHOD = "/bench.Squarer/Square"


def message_classes() -> tuple[Any, Any]:
    """``(SquareRequest, SquareReply)``: proto3 messages with one ``int64`` field each (``number``, ``square``)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(name="bench_square.proto", package="bench", syntax="proto3")
    for message, field in (("SquareRequest", "number"), ("SquareReply", "square")):
        described = proto.message_type.add(name=message)
        described.field.add(
            name=field,
            number=1,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.SquareRequest")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.SquareReply")),
    )


class GrpcCalls:
    """One ``grpc.aio`` channel to the server and the unary ``Square`` callable on it (make it inside the loop)."""

    def __init__(self, port: int) -> None:
        import grpc

        request_class, reply_class = message_classes()
        self._request = request_class
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self._square = self._channel.unary_unary(
            METHOD, request_serializer=request_class.SerializeToString, response_deserializer=reply_class.FromString
        )

    async def square(self, number: int) -> int:
        """One unary call: ``number`` squared by the server."""
        reply = await self._square(self._request(number=number))
        result: int = reply.square
        return result

    async def aclose(self) -> None:
        """Close the channel."""
        await self._channel.close()


async def _serve() -> None:
    import grpc

    request_class, reply_class = message_classes()

    async def square(request: Any, context: Any) -> Any:
        return reply_class(square=request.number * request.number)

    handler = grpc.unary_unary_rpc_method_handler(
        square, request_deserializer=request_class.FromString, response_serializer=reply_class.SerializeToString
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Squarer", {"Square": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    announce_ready(str(port))
    await stop.wait()
    await server.stop(grace=1)


if __name__ == "__main__":
    asyncio.run(_serve())
