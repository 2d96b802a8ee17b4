"""Redis Cluster's redirections for the fleet's redis-py clients: what an error means (:func:`redirect_of`), and a
client that sends ``ASKING`` before each command (:func:`asking_client`), how the fleet follows ``ASK``.

While a slot migrates, its old master answers ``ASK <slot> <node>`` for a key already moved (or not there): that
command, and only it, must go to the named node right after ``ASKING`` on the same connection. The fleet's work
is redis-py calls of every kind (commands, scripts, non-transactional pipelines), so the client given to an
operation after an ``ASK`` prefixes every command it sends: a single command is preceded by ``ASKING`` on the
client's own connection, and a pipeline gets one ``ASKING`` before each of its commands (their replies dropped).
It lives for one operation: :func:`asking_client` takes a connection from the node's pool and ``close()`` gives it
back.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.client import Pipeline
from redis.exceptions import AskError, MovedError

from pysoa_like.core.cluster import Redirect, parse_redirect

__all__ = ["asking_client", "redirect_of"]

# What redis-py puts before the error of a pipeline's command.
_PIPELINE_ERROR = "caused error: "


def redirect_of(error: redis.ResponseError) -> Redirect | None:
    """The ``MOVED``/``ASK`` answer ``error`` is, or None.

    redis-py 6 and later raise ``MovedError``/``AskError`` (with the slot and node as attributes; a pipeline
    rewords the message), redis-py 5 a plain ``ResponseError`` whose text holds the answer (after the pipeline's
    ``caused error:``).
    """
    if isinstance(error, (MovedError, AskError)):
        return Redirect(isinstance(error, AskError), int(error.slot_id), (str(error.host), int(error.port)))
    text = str(error)
    return parse_redirect(text.split(_PIPELINE_ERROR, 1)[1] if _PIPELINE_ERROR in text else text)


class _AskingPipeline(Pipeline):
    """A non-transactional pipeline whose every command goes after ``ASKING``."""

    def pipeline_execute_command(self, *args: Any, **options: Any) -> Any:
        super().pipeline_execute_command("ASKING")
        return super().pipeline_execute_command(*args, **options)

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        return list(super().execute(raise_on_error))[1::2]


class _AskingRedis(redis.Redis):
    """A client on one connection of its own, sending ``ASKING`` before each command."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        connection = self.connection
        assert connection is not None  # single_connection_client
        connection.send_command("ASKING")  # type: ignore[no-untyped-call, unused-ignore]
        connection.read_response()
        return super().execute_command(*args, **options)  # type: ignore[no-untyped-call, unused-ignore]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        if transaction:
            raise ValueError("A transaction cannot follow an ASK redirection here (use transaction=False)")
        return _AskingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


def asking_client(node: redis.Redis) -> redis.Redis:
    """A client of ``node`` (the node an ``ASK`` answer named) that sends ``ASKING`` before each command.

    Close it when the operation is over (its connection goes back to ``node``'s pool).
    """
    return _AskingRedis(connection_pool=node.connection_pool, single_connection_client=True)
