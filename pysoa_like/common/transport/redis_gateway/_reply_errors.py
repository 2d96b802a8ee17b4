"""What Redis' error replies mean to a lane: redis-py's exception for each, and what a push's reply says of it.

A lane's reader returns error replies as redis-py's public exception classes (:func:`redis_error`); a push's reply is
judged by the core (:func:`~pysoa_like.core.push_outcomes.push_outcome`) and turned here into what the transport
acts on: nothing (pushed), :class:`QueueFullError`, or Redis' error, of which :func:`must_push_again` says whether
the push is to be made again with the script's text.
"""

from __future__ import annotations

import re
from typing import Any

import redis
from redis import exceptions

from pysoa_like.core.redis_protocol import PushItem, PushVerdict, RespError, push_outcome

__all__ = [
    "PushRefusedBeforeWait",
    "QueueFullError",
    "TransactionAbortedError",
    "must_push_again",
    "push_error",
    "redis_error",
    "script_error",
]

# Error codes and the redis-py exception each one is (the code is then left out of the message, as redis-py
# does). Those that are connection errors (BusyLoadingError, AuthenticationError) are raised by the reader.
_ERROR_CLASSES: dict[str, type[redis.RedisError]] = {
    "NOSCRIPT": exceptions.NoScriptError,
    "READONLY": exceptions.ReadOnlyError,
    "OOM": exceptions.OutOfMemoryError,
    "EXECABORT": exceptions.ExecAbortError,
    "NOPERM": exceptions.NoPermissionError,
    "LOADING": exceptions.BusyLoadingError,
    "NOAUTH": exceptions.AuthenticationError,
    "WRONGPASS": exceptions.AuthenticationError,
    "MASTERDOWN": exceptions.MasterDownError,
}

# Redis 6.2 reports a command that a script's redis.pcall could not run (OOM, ...) as
# "@user_script: <line>: -OOM command not allowed ...": the error code behind the script's location. Redis 7 and
# later answer "OOM command not allowed ...", so it is removed for every version to read alike.
_SCRIPT_LOCATION = re.compile(r"\A@user_script: ?\d+: -(?=[A-Z]+ )")


def redis_error(error: RespError) -> redis.RedisError:
    """The redis-py exception for an error reply (``NOSCRIPT ...`` -> ``NoScriptError``, else ``ResponseError``)."""
    text = _SCRIPT_LOCATION.sub("", error.text, count=1)
    code = text.split(" ", 1)[0]
    error_class = _ERROR_CLASSES.get(code)
    if error_class is None:
        return redis.ResponseError(text)
    return error_class(text[len(code) + 1 :])


class QueueFullError(Exception):
    """The send script refused the message because the list is at capacity."""


class PushRefusedBeforeWait(Exception):
    """The push written with a wait for the reply (:meth:`Lane.push_and_pop`) was refused: no reply will come.

    The wait went with the connection (closed); ``error`` is the push's (:class:`QueueFullError` or Redis').
    """

    def __init__(self, item: PushItem, error: Exception) -> None:
        super().__init__(str(error))
        self.item = item
        self.error = error


class TransactionAbortedError(redis.ResponseError):
    """Redis discarded a push's transaction (a command was refused when queued): nothing ran.

    The push is made again with the send script, whose answer is then the outcome (the send script checks
    the capacity before anything else, so a full list still answers ``queue full``).
    """


def must_push_again(error: Exception) -> bool:
    """Whether a push's error means that Redis ran nothing and the push should be made with the script text."""
    return isinstance(error, TransactionAbortedError) or (
        isinstance(error, redis.ResponseError) and push_outcome(error) is PushVerdict.PUSH_AGAIN
    )


def push_error(verdict: PushVerdict, reply: Any) -> Exception | None:
    """The error a push's outcome stands for: None when pushed, :class:`QueueFullError`, or Redis' error."""
    if verdict is PushVerdict.PUSHED:
        return None
    if verdict is PushVerdict.QUEUE_FULL:
        return QueueFullError(str(reply))
    return reply  # type: ignore[no-any-return]


def script_error(reply: Any) -> Exception | None:
    """What a send script's reply means: None when pushed, else :func:`push_error`'s error."""
    if not isinstance(reply, Exception):
        return None  # pushed
    return push_error(push_outcome(reply), reply)
