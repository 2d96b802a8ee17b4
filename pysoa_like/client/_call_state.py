"""What the blocking client's stock ``send_request`` and ``get_all_responses`` must know of a thread's calls.

A call method sends its job through the public ``Client.send_request`` and collects its reply through the public
``Client.get_all_responses`` (so that a subclass or a test replacing either sees every call, as in PySOA); the
thread's :class:`CallState` tells the stock methods that the job or the reply is a call method's own, and keeps the
replies a replaced ``get_all_responses`` yielded for other requests while a call waited (:func:`kept_then`).
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from pysoa_like.common.types import JobResponse

if TYPE_CHECKING:
    from pysoa_like.client.client import CallOptions

__all__ = ["CallState", "kept_then"]


class CallState(threading.local):
    """What the stock :meth:`Client.send_request` and :meth:`Client.get_all_responses` must know of this thread's call.

    Attributes:
        sending: The options of the call method sending its job now: the request is the call's own (claimed), not
            open, its keywords were checked when the options were read, and it awaits a reply as they say.
        receive_follows: While a blocking call sends its job, the timeout of the receive that follows at once
            (``0.0``: the transport's default), for the transport to start the wait with the send.
        collecting: ``(service, request_id)`` of the reply a call method is collecting now.
        kept: Replies a replaced ``get_all_responses`` yielded while a call waited for another one, by
            ``(service, request_id)``, for their own callers (the stock one yields them first).
    """

    sending: CallOptions | None = None
    receive_follows: float | None = None
    collecting: tuple[str, Any] | None = None

    def __init__(self) -> None:
        self.kept: dict[tuple[str, Any], JobResponse] = {}


def kept_then(
    kept: dict[tuple[str, Any], JobResponse], service_name: str, then: Generator[tuple[Any, JobResponse], None, None]
) -> Generator[tuple[Any, JobResponse], None, None]:
    """The replies kept for ``service_name``'s open requests (removed as they are yielded), then ``then``'s."""
    for key in [key for key in kept if key[0] == service_name]:
        response = kept.pop(key, None)
        if response is not None:
            yield key[1], response
    yield from then
