"""Error codes that servers put in :class:`~pysoa_like.common.errors.Error` records.

The values are the exact strings PySOA 1.4.9 (and Conformity) put on the wire.
"""

from __future__ import annotations

__all__ = [
    "ERROR_CODE_ACCESS_DENIED",
    "ERROR_CODE_ACTION_TIMEOUT",
    "ERROR_CODE_AUTH_INVALID",
    "ERROR_CODE_AUTH_REQUIRED",
    "ERROR_CODE_DEADLINE_EXCEEDED",
    "ERROR_CODE_DEAD_LETTERED",
    "ERROR_CODE_INVALID",
    "ERROR_CODE_JOB_TIMEOUT",
    "ERROR_CODE_MISSING",
    "ERROR_CODE_NOT_AUTHORIZED",
    "ERROR_CODE_NOT_FOUND",
    "ERROR_CODE_OVERLOADED",
    "ERROR_CODE_RESPONSE_NOT_SERIALIZABLE",
    "ERROR_CODE_RESPONSE_TOO_LARGE",
    "ERROR_CODE_SERVER_ERROR",
    "ERROR_CODE_UNKNOWN",
    "ERROR_CODE_WORKER_DIED",
]

#: The caller may not do this; services use it, and so does the API token middleware when a valid token lacks a
#: scope the action requires (pysoa_like.auth; HTTP 403).
ERROR_CODE_ACCESS_DENIED = "ACCESS_DENIED"
#: A private action was called with an API token that is malformed, unknown, badly signed or expired (HTTP 401).
ERROR_CODE_AUTH_INVALID = "AUTH_INVALID"
#: A private action was called without an API token in the request context (HTTP 401).
ERROR_CODE_AUTH_REQUIRED = "AUTH_REQUIRED"
#: The request was delivered ``at_least_once.max_deliveries`` times and each delivery ended without a reply (its
#: worker died, or could not answer); it was put in the service's dead-letter list instead of being delivered again
#: (at-least-once delivery, Redis transport). Not the caller's error, but retrying the same request will not help.
ERROR_CODE_DEAD_LETTERED = "DEAD_LETTERED"
#: The job's deadline (its request's expiry, when its caller stops waiting) passed before this action could start,
#: so the server did not run it (nor any later action of the job).
ERROR_CODE_DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
#: Harakiri interrupted an action that ran for too long.
ERROR_CODE_ACTION_TIMEOUT = "ACTION_TIMEOUT"
#: A value failed validation (also used by introspection for an unknown action name).
ERROR_CODE_INVALID = "INVALID"
#: Harakiri interrupted job middleware that ran for too long.
ERROR_CODE_JOB_TIMEOUT = "JOB_TIMEOUT"
#: A required key is missing.
ERROR_CODE_MISSING = "MISSING"
#: For services to use; the library itself never emits it.
ERROR_CODE_NOT_AUTHORIZED = "NOT_AUTHORIZED"
#: For services to use; the library itself never emits it.
ERROR_CODE_NOT_FOUND = "NOT_FOUND"
#: The service was too busy to take the job (it did not run); the response context's ``retry_after_ms`` says when
#: to come back (server pushback, PushBackError).
ERROR_CODE_OVERLOADED = "OVERLOADED"
#: The response could not be serialized.
ERROR_CODE_RESPONSE_NOT_SERIALIZABLE = "RESPONSE_NOT_SERIALIZABLE"
#: The response was larger than the transport allows (or would need chunking for an old client).
ERROR_CODE_RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"
#: An unhandled exception happened on the server.
ERROR_CODE_SERVER_ERROR = "SERVER_ERROR"
#: An unknown action, or unexpected keys.
ERROR_CODE_UNKNOWN = "UNKNOWN"
#: The worker handling the request died before replying (told to clients that watch workers, and by at-least-once
#: servers to callers of a job whose actions are not idempotent, which is then not run again; Redis transport).
ERROR_CODE_WORKER_DIED = "WORKER_DIED"
