"""The ``Action`` base class: validate the request, run, validate the response."""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable
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

    :meth:`run` may be a coroutine function (``async def run``): calling the action then returns a
    coroutine that does the same four steps, awaiting :meth:`run`. A server with ``concurrency`` above
    1 awaits it on its event loop; a server running one job at a time runs it to completion on its
    event loop thread (see ``docs/asyncio.rst``).

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
    #: Running the action twice for one request is safe (at-least-once delivery then runs it again after its
    #: worker died). Left false, a server with ``delivery: "at_least_once"`` claims each job with this action by
    #: request id: it never runs it twice for one request, and answers a redelivered request with the reply kept
    #: from its first run (see ``docs/delivery.rst``).
    idempotent: ClassVar[bool] = False

    #: Whether :meth:`run` is a coroutine function (set for each subclass when it is defined).
    is_coroutine_action: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.is_coroutine_action = inspect.iscoroutinefunction(cls.run)

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    def validate(self, request: EnrichedActionRequest) -> None:  # noqa: B027 - an optional hook, not abstract
        """Extra request checks after the schema passed; raise :class:`ActionError` to reject the request.

        Args:
            request: The request.
        """

    @abc.abstractmethod
    def run(self, request: EnrichedActionRequest) -> Body | Awaitable[Body | None] | None:
        """Do the work (a plain method, or ``async def``).

        Args:
            request: The validated request.

        Returns:
            The response body (``None`` for an empty body).

        Raises:
            ActionError: To return errors for this action.
            JobError: To fail the whole job.
        """

    def __call__(self, action_request: EnrichedActionRequest) -> ActionResponse:
        """Validate, run and check the action; see the class docstring.

        With an ``async def run``, the returned value is a coroutine of the response instead.
        """
        if self.is_coroutine_action:
            return self._call_coroutine(action_request)  # type: ignore[return-value]  # awaited by the server
        if self.request_schema is not None:
            self._check_request(action_request)
        elif type(self).validate is not _NO_VALIDATION:
            self.validate(action_request)
        body: Any = self.run(action_request)
        if body is None:
            return ActionResponse(action=action_request.action, body={})
        if self.response_schema is not None:
            return self._response(action_request, body)
        return ActionResponse(action=action_request.action, body=body)

    async def _call_coroutine(self, action_request: EnrichedActionRequest) -> ActionResponse:
        self._check_request(action_request)
        run: Any = self.run
        body = await run(action_request)
        return self._response(action_request, body)

    def _check_request(self, action_request: EnrichedActionRequest) -> None:
        if self.request_schema is not None:
            problems = resolve_schema(self.request_schema).errors(action_request.body)
            if problems:
                raise ActionError(
                    [Error(code=p.code, message=p.message, field=p.pointer, is_caller_error=True) for p in problems]
                )
        self.validate(action_request)

    def _response(self, action_request: EnrichedActionRequest, body: Body | None) -> ActionResponse:
        if body is None:
            return ActionResponse(action=action_request.action, body={})
        if self.response_schema is not None:
            problems = resolve_schema(self.response_schema).errors(body)
            if problems:
                raise ResponseValidationError(action_request.action, problems)
        return ActionResponse(action=action_request.action, body=body)


# The base class's validate hook, which checks nothing: an action that keeps it skips the call.
_NO_VALIDATION = Action.validate
