"""The Redis Gateway protocol's rules in one import: a re-export of the sans-I/O core (:mod:`pysoa_like.core`).

Every rule about keys and bytes lives in the core, which does no I/O; the drivers (``client.py``,
``server.py``) move bytes and call these functions for everything else, so the same rules serve sync and
async drivers and are tested against PROTOCOL.md's byte vectors.

Sending one message::

    envelope, redis_expiry = envelope_to_send(request_id, meta, body, time.time(), settings_expiry, explicit_expiry)
    payload = serializer.dict_to_blob(envelope)
    messages, oversized, chunked = frame_for_sending(
        payload, serializer.mime_type, version, maximum, log_threshold, chunk_threshold
    )  # the framed message (or a server's chunks); whether to log the oversized WARNING
    host = choose_host_index(key, host_count, backend_cycle)
    # EVALSHA SEND_MESSAGE_LUA_SCRIPT per message; on QUEUE_FULL_ERROR sleep queue_full_backoff_seconds(i)

Receiving one message::

    parsed = parse_message(raw)               # then reject_chunked_request(parsed) on a server
    if parsed.is_chunk:
        reassembler = ChunkReassembler(parsed)
        while not reassembler.complete:
            reassembler.add(parse_message(pop_again()))
        payload = reassembler.payload()
    message = serializers[parsed.content_type].blob_to_dict(payload)
    received = check_envelope(message, time.time(), service)  # a reply, on a client
    request = read_request(message, payload, mime_type, time.time(), service)  # a request, on a server

A server does all of it in one call of the core, ``decode_request(raw, serializers, time.time(), service)``.
"""

from __future__ import annotations

from pysoa_like.core.chunks import split_into_chunks
from pysoa_like.core.constants import UnsupportedProtocolVersionError
from pysoa_like.core.framing import frame_message, validate_header_value
from pysoa_like.core.keys import (
    MAXIMUM_REPLY_TO_LENGTH,
    choose_host_index,
    make_reply_to,
    make_request_host_cycle,
    new_client_id,
    queue_key,
    queue_name_of,
    reply_address,
    reply_key_host_index,
    reply_to_problem,
    request_queue_key,
    request_queue_name,
    validate_service_name,
)
from pysoa_like.core.message import (
    CLIENT_VERSION_META_KEY,
    DEFAULT_CLIENT_VERSION,
    EXPIRY_META_KEY,
    MESSAGE_TOO_LARGE_TEXT,
    ChunkReassembler,
    FramedMessage,
    OutgoingMessage,
    ParsedMessage,
    ReceivedRequest,
    check_envelope,
    envelope_to_send,
    frame_for_sending,
    is_expired,
    parse_client_version,
    parse_client_version_checked,
    parse_message,
    read_request,
    reject_chunked_request,
    validate_chunk_settings,
)
from pysoa_like.core.push_outcomes import (
    queue_full_backoff_seconds,
    queue_full_come_back_seconds,
    queue_full_error_message,
)
from pysoa_like.core.scripts import QUEUE_FULL_ERROR, SEND_MESSAGE_LUA_SCRIPT

__all__ = [
    "CLIENT_VERSION_META_KEY",
    "DEFAULT_CLIENT_VERSION",
    "EXPIRY_META_KEY",
    "MAXIMUM_REPLY_TO_LENGTH",
    "MESSAGE_TOO_LARGE_TEXT",
    "QUEUE_FULL_ERROR",
    "SEND_MESSAGE_LUA_SCRIPT",
    "ChunkReassembler",
    "FramedMessage",
    "OutgoingMessage",
    "ParsedMessage",
    "ReceivedRequest",
    "UnsupportedProtocolVersionError",
    "check_envelope",
    "choose_host_index",
    "envelope_to_send",
    "frame_for_sending",
    "frame_message",
    "is_expired",
    "make_reply_to",
    "make_request_host_cycle",
    "new_client_id",
    "parse_client_version",
    "parse_client_version_checked",
    "parse_message",
    "queue_full_backoff_seconds",
    "queue_full_come_back_seconds",
    "queue_full_error_message",
    "queue_key",
    "queue_name_of",
    "read_request",
    "reject_chunked_request",
    "reply_address",
    "reply_key_host_index",
    "reply_to_problem",
    "request_queue_key",
    "request_queue_name",
    "split_into_chunks",
    "validate_chunk_settings",
    "validate_header_value",
    "validate_service_name",
]
