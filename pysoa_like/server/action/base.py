"""The ``Action`` base class: validate the request, run, validate the response."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from pysoa_like.common.errors import Error
from pysoa_like.common.schema import resolve_schema
from pysoa_like.common.types import ActionResponse, Body
from pysoa_like.server.errors import ActionError, ResponseValidationError
from pysoa_like.server.types import EnrichedActionRequest

__all__ = ["Action"]


class Action(abc.ABC):
    """Base class for actions; subclass it and implement :meth:`run`.

    A new instance is built for every call, with the server settings. Calling it:

    1. checks the request body against ``request_schema``; failures raise :class:`ActionError`
       with one error per problem (the schema's code, ``field`` = the dotted pointer, caller errors);
    2. calls :meth:`validate` for checks a schema cannot express;
    3. calls :meth:`run`, which returns the response body (``None`` means ``{}``);
    4. checks that body against ``response_schema``; failures raise
       :class:`ResponseValidationError`, which the server reports as ``SERVER_ERROR``.

    ``request_schema`` and ``response_schema`` may be ``None``, a Conformity field, a field from
    :mod:`pysoa_like.common.fields`, a pydantic model class or a TypedDict (see
    :func:`pysoa_like.common.schema.resolve_schema`).

    Args:
        settings: The server settings (may be ``None`` in tests).
    """

    description: ClassVar[str | None] = None
    request_schema: ClassVar[Any] = None
    response_schema: ClassVar[Any] = None
    #: Marks the action deprecated, with a message saying what to use instead (or ``True``). Introspection shows
    #: it, callers get a :class:`~pysoa_like.client.errors.DeprecatedActionWarning`, the server logs it once.
    deprecated: ClassVar[str | bool | None] = None
    #: Marks the action private; only callers with a valid API token may run it, once the server lists
    #: :class:`~pysoa_like.auth.ApiTokenMiddleware` in its middleware (see ``docs/auth.rst``).
    private: ClassVar[bool] = False
    #: Scopes the caller's API token must grant (the action is then private too).
    required_scopes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    def validate(self, request: EnrichedActionRequest) -> None:  # noqa: B027 - an optional hook, not abstract
        """Extra request checks after the schema passed; raise :class:`ActionError` to reject the request.

        Args:
            request: The request.
        """

    @abc.abstractmethod
    def run(self, request: EnrichedActionRequest) -> Body | None:
        """Do the work.

        Args:
            request: The validated request.

        Returns:
            The response body (``None`` for an empty body).

        Raises:
            ActionError: To return errors for this action.
            JobError: To fail the whole job.
        """

    def __call__(self, action_request: EnrichedActionRequest) -> ActionResponse:
        """Validate, run and check the action; see the class docstring."""
        if self.request_schema is not None:
            problems = resolve_schema(self.request_schema).errors(action_request.body)
            if problems:
                raise ActionError(
                    [Error(code=p.code, message=p.message, field=p.pointer, is_caller_error=True) for p in problems]
                )
        self.validate(action_request)
        body = self.run(action_request)
        if body is None:
            return ActionResponse(action=action_request.action, body={})
        if self.response_schema is not None:
            problems = resolve_schema(self.response_schema).errors(body)
            if problems:
                raise ResponseValidationError(action_request.action, problems)
        return ActionResponse(action=action_request.action, body=body)
