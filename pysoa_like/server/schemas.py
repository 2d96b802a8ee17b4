"""The schemas every incoming job request is validated against (PySOA's exact rules and messages).

``validate_job_request`` is what the server calls on a request that fails the handful of exact type
checks of ``looks_valid_job_request`` (run on every request by the request cycle, which defines it;
:mod:`pysoa_like.server.types` and this module re-export it): only such a request is run through the
detailed fields, which produce Conformity's codes, messages and pointers (for example ``MISSING``,
``"Missing key: correlation_id"``, ``context.correlation_id``).
"""

from __future__ import annotations

from typing import Any

from pysoa_like.common.fields import Boolean, Dictionary, Integer, List, SchemalessDictionary, UnicodeString
from pysoa_like.common.schema import FieldError
from pysoa_like.server.types import looks_valid_job_request

__all__ = [
    "ActionRequestSchema",
    "ContextHeaderSchema",
    "ControlHeaderSchema",
    "JobRequestSchema",
    "looks_valid_job_request",
    "validate_job_request",
]

ActionRequestSchema = Dictionary(
    {
        "action": UnicodeString(description="The name of the action to call"),
        "body": SchemalessDictionary(key_type=UnicodeString(), description="The action's request body"),
    },
    optional_keys=("body",),
    description="One action of a job",
)

ControlHeaderSchema = Dictionary(
    {
        "continue_on_error": Boolean(description="Whether to run the remaining actions after one fails"),
        "suppress_response": Boolean(description="Whether to run the job without sending a response"),
    },
    optional_keys=("suppress_response",),
    allow_extra_keys=True,
    description="How the server should process the job (suppress_response, timeout, custom keys)",
)

ContextHeaderSchema = Dictionary(
    {
        # PySOA's key order: Conformity reports errors in this order, and clients may read errors[0].
        "caller": UnicodeString(description="Free-form description of the caller"),
        "calling_service": UnicodeString(description="The service making the call, set on nested calls"),
        "correlation_id": UnicodeString(description="The id that ties together the requests of one operation"),
        "switches": List(Integer(), description="The switches active for this request"),
    },
    optional_keys=("caller", "calling_service"),
    allow_extra_keys=True,
    description="Request context passed along to nested calls (caller, calling_service, custom keys)",
)

#: PySOA's schema of a job request (control, context, actions); servers validate every request with it.
JobRequestSchema = Dictionary(
    {
        "control": ControlHeaderSchema,
        "context": ContextHeaderSchema,
        "actions": List(ActionRequestSchema, min_length=1, description="The actions to run, in order"),
    },
    description="A job request: control header, context header and at least one action",
)


def validate_job_request(value: Any) -> list[FieldError]:
    """Validate a job request body as PySOA's ``JobRequestSchema`` does.

    Args:
        value: The request body (the ``body`` of the envelope).

    Returns:
        An empty list when valid; otherwise the errors in Conformity's order, with its codes,
        messages and dotted pointers.
    """
    if looks_valid_job_request(value):
        return []
    return JobRequestSchema.errors(value)
