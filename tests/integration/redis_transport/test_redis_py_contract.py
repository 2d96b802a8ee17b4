"""The one private part of redis-py the transport relies on (see ``redis_gateway/_redis_py.py``).

If a redis-py release changes it, this fails before any call does.
"""

from __future__ import annotations

import socket

import redis

from pysoa_like.common.transport.redis_gateway._redis_py import connection_socket


def test_a_connection_exposes_its_open_socket_and_none_once_closed(redis_url: str) -> None:
    connection = redis.Redis.from_url(redis_url).connection_pool.make_connection()
    assert connection_socket(connection) is None
    connection.connect()
    try:
        sock = connection_socket(connection)
        assert isinstance(sock, socket.socket)
        # Replies can be read from it directly: nothing of the handshake is left in redis-py's reader.
        connection.send_command("PING")
        assert sock.recv(64) == b"+PONG\r\n"
    finally:
        connection.disconnect()
    assert connection_socket(connection) is None
