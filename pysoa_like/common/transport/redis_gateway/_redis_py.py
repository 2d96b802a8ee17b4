"""The one place that uses a private part of redis-py: the socket of a connection.

A lane writes through redis-py's public ``Connection.send_packed_command`` and lets redis-py open the
connection (TCP, unix sockets, TLS, AUTH, HELLO, SELECT, ...), but reads the replies itself, straight from the
socket into the core's RESP parser: that is what receives a big reply in place (a message of 1 MiB costs about
a third less CPU to receive than through redis-py's readers, which copy it at least twice). redis-py has no
public accessor for the socket, so its ``_sock`` attribute is read here and nowhere else;
``tests/integration/redis_transport/test_redis_py_contract.py`` checks the contract on the installed
redis-py, and ``pyproject.toml`` bounds redis-py below the next major release.
"""

from __future__ import annotations

import operator
import socket
from collections.abc import Callable
from typing import Any

__all__ = ["connection_socket"]

#: ``connection_socket(connection)``: the socket of an open redis-py connection, or None when it is not
#: connected (an attribute getter: it is called before every read).
connection_socket: Callable[[Any], socket.socket | None] = operator.attrgetter("_sock")
