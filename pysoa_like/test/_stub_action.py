"""``stub_action``: fake one action of one service, as a decorator, context manager or start/stop object."""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar, cast
from unittest import mock

from pysoa_like.common.constants import ERROR_CODE_SERVER_ERROR
from pysoa_like.common.errors import Error
from pysoa_like.common.transport.errors import InvalidMessageError, MessageReceiveError, MessageReceiveTimeout
from pysoa_like.common.types import ActionRequest, ActionResponse, JobResponse
from pysoa_like.server.errors import ActionError, JobError
from pysoa_like.test import _stub_patching
from pysoa_like.test._stub_patching import StubOutcome

__all__ = [
    "StubActionMock",
    "get_stubbed_requests",
    "get_stubbed_responses",
    "reset_stubbed_contracts",
    "stub_action",
    "to_errors",
]

_F = TypeVar("_F", bound=Callable[..., Any])

# Raised by a stub, these surface when the reply is collected rather than when the request is sent.
_RECEIVE_ERRORS = (MessageReceiveError, MessageReceiveTimeout, InvalidMessageError)

# MagicMock's own side_effect property, which StubActionMock's wraps.
_MOCK_SIDE_EFFECT: property = mock.NonCallableMock.side_effect

_ERROR_KEYS = frozenset(a.name for a in Error.__attrs_attrs__)

_contracts_lock = threading.Lock()
_stubbed_requests: list[dict[str, Any]] = []
_stubbed_responses: list[dict[str, Any]] = []


def get_stubbed_requests() -> list[dict[str, Any]]:
    """Every request body a stub received so far, as ``{"service", "action", "body"}`` dicts (a copy).

    Stubs made with ``register_request_schema_contract=False`` are left out. Use the list to derive
    or check the request schemas your code relies on (contract tests).
    """
    with _contracts_lock:
        return list(_stubbed_requests)


def get_stubbed_responses() -> list[dict[str, Any]]:
    """Every successful response body a stub returned so far, as ``{"service", "action", "body"}`` dicts.

    Stubs made with ``register_response_schema_contract=False`` are left out.
    """
    with _contracts_lock:
        return list(_stubbed_responses)


def reset_stubbed_contracts() -> None:
    """Empty the lists behind :func:`get_stubbed_requests` and :func:`get_stubbed_responses`."""
    with _contracts_lock:
        _stubbed_requests.clear()
        _stubbed_responses.clear()


def to_errors(errors: Iterable[Any] | None) -> list[Error]:
    """``Error`` objects from ``Error`` objects or dicts (``code`` required; ``message`` defaults to the code).

    Raises:
        TypeError: An item is neither an ``Error`` nor a dict with a ``code``.
    """
    result = []
    for item in errors or ():
        if isinstance(item, Error):
            result.append(item)
        elif isinstance(item, Mapping) and "code" in item:
            known = {k: v for k, v in item.items() if k in _ERROR_KEYS}
            known.setdefault("message", str(item["code"]))
            result.append(Error(**known))
        else:
            raise TypeError(f"A stubbed error must be an Error or a dict with a 'code', got {item!r}")
    return result


class _SideEffect:
    """A stub's ``side_effect``, applied to each call as PySOA documents it.

    A callable is called with the request body; an exception (instance or class) is raised; an iterable
    gives one item per call, and each item is handled the same way (a callable item is called with the
    body, an exception item is raised, anything else is the result); a dict alone is returned on every
    call. ``JobError`` and ``ActionError`` classes, which need errors to be built, are raised with one
    ``SERVER_ERROR`` error naming the stub.
    """

    __slots__ = ("given", "items", "label")

    def __init__(self, given: Any, label: str) -> None:
        self.given = given
        self.label = label
        iterable = not callable(given) and not _is_exception(given) and not isinstance(given, Mapping)
        self.items: Iterator[Any] | None = iter(given) if iterable else None

    def __call__(self, body: Any) -> Any:
        effect = self.given if self.items is None else next(self.items)
        if _is_exception(effect):
            raise self._exception(effect)
        if callable(effect):
            return effect(body)
        return effect

    def _exception(self, effect: Any) -> BaseException:
        if isinstance(effect, type) and issubclass(effect, (JobError, ActionError)):
            message = f"{effect.__name__} raised by the side effect of stub {self.label}"
            return effect([Error(code=ERROR_CODE_SERVER_ERROR, message=message)])
        return effect() if isinstance(effect, type) else effect  # type: ignore[no-any-return]


def _is_exception(value: Any) -> bool:
    return isinstance(value, BaseException) or (isinstance(value, type) and issubclass(value, BaseException))


class StubActionMock(mock.MagicMock):
    """The mock behind a stubbed action; it is called with each request body.

    Everything ``MagicMock`` offers works (``return_value``, ``side_effect``, ``call_count``,
    ``assert_called_once_with(body)``), plus :attr:`call_body` and :attr:`call_bodies`. A
    ``side_effect`` list may mix response bodies, responses, exceptions (instances or classes, including
    ``JobError`` and ``ActionError`` classes) and callables taking the request body.
    """

    @property
    def call_body(self) -> Any:
        """The request body of the last call, or ``None`` if the stub was not called."""
        return self.call_args[0][0] if self.called else None

    @property
    def call_bodies(self) -> tuple[Any, ...]:
        """The request bodies of every call, in order."""
        return tuple(call[0][0] for call in self.call_args_list)

    @property
    def side_effect(self) -> Any:
        """What each call does instead of returning ``return_value`` (see the class docstring).

        Set it to anything ``MagicMock`` accepts; reading it gives the callable that applies it.
        """
        return _MOCK_SIDE_EFFECT.__get__(self, type(self))

    @side_effect.setter
    def side_effect(self, value: Any) -> None:
        wrapped = None if value is None else _SideEffect(value, self._mock_name or "")
        _MOCK_SIDE_EFFECT.__set__(self, wrapped)

    def _get_child_mock(self, /, **kw: Any) -> mock.MagicMock:
        return mock.MagicMock(**kw)


class stub_action:
    """Stub one action of one service on every client in this process until stopped.

    While active, calls of ``action`` on ``service`` (from any client, including ``request.client``
    inside actions under test) never reach a transport: the stub's mock is called with the request
    body and its result becomes the action response. Other actions of the same job go to the real
    service, and the responses are merged in request order; a failing stub ends the job early unless
    ``continue_on_error`` is set, as a server would.

    What the mock may return or raise:

    * a dict: the response body (``None`` or anything else: an empty body);
    * an :class:`ActionResponse`: used as is; a :class:`JobResponse`: its errors become job errors,
      its first action the action response;
    * raise :class:`ActionError` (action errors) or :class:`JobError` (job errors, the job fails);
    * raise ``MessageReceiveError`` or ``MessageReceiveTimeout``: raised to the caller when it
      collects the response; any other exception is raised at once from the call.

    Use it as a decorator of test methods or classes (the mock is passed as an extra positional
    argument; stacked decorators, including ``mock.patch``, pass them bottom-up), as a context
    manager (``with stub_action(...) as stub:``), or with :meth:`start` and :meth:`stop`.

    Args:
        service: The service name.
        action: The action name.
        body: The response body (default ``{}``).
        errors: Errors to return instead (``Error`` objects or dicts with ``code``, ``message``, ``field``).
        side_effect: Set as the mock's ``side_effect`` (a callable taking the body, an exception, or an
            iterable of bodies/exceptions/responses).
        register_response_schema_contract: Record successful response bodies for :func:`get_stubbed_responses`.
        register_request_schema_contract: Record request bodies for :func:`get_stubbed_requests`.
    """

    # mock.patch's decorator protocol: a positional mock argument, no keyword argument.
    attribute_name: str | None = None
    new: Any = mock.DEFAULT

    def __init__(
        self,
        service: str,
        action: str,
        body: Mapping[str, Any] | None = None,
        errors: Iterable[Any] | None = None,
        side_effect: Any = None,
        register_response_schema_contract: bool = True,
        register_request_schema_contract: bool = True,
    ) -> None:
        if not isinstance(service, str) or not isinstance(action, str):
            raise TypeError(f"The service and action names must be strings, got {service!r} and {action!r}")
        self.service = service
        self.action = action
        self.body = dict(body or {})
        self.errors = to_errors(errors)
        self.side_effect = side_effect
        self.register_response_schema_contract = register_response_schema_contract
        self.register_request_schema_contract = register_request_schema_contract
        self._mock: StubActionMock | None = None

    def __repr__(self) -> str:
        return f"<stub_action {self.service}.{self.action}{' (active)' if self.enabled else ''}>"

    @property
    def enabled(self) -> bool:
        """Whether the stub is active."""
        return self._mock is not None

    def copy(self) -> stub_action:
        """A new, inactive stub with the same arguments."""
        return type(self)(
            self.service, self.action, self.body, self.errors, self.side_effect,
            self.register_response_schema_contract, self.register_request_schema_contract,
        )  # fmt: skip

    # Activation

    def start(self) -> StubActionMock:
        """Activate the stub (if not active yet) and return its mock."""
        if self._mock is not None:
            return self._mock
        stub_mock = StubActionMock(name=f"{self.service}.{self.action}")
        if self.body or self.errors:
            stub_mock.return_value = ActionResponse(action=self.action, errors=self.errors, body=self.body)
        if self.side_effect is not None:
            stub_mock.side_effect = self.side_effect
        self._mock = stub_mock
        _stub_patching.activate(self)
        return stub_mock

    def stop(self) -> None:
        """Deactivate the stub; does nothing if it is not active."""
        if self._mock is None:
            return
        _stub_patching.deactivate(self)
        self._mock = None

    def __enter__(self) -> StubActionMock:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        """Deactivate the stub; the arguments are optional, so ``addCleanup(stub.__exit__)`` works."""
        self.stop()

    # Running (called by the handler patch)

    def run_stub(self, request: ActionRequest) -> StubOutcome:
        """Call the mock with ``request.body`` and turn what it returns or raises into an outcome.

        Raises:
            Exception: Whatever the mock raised, other than the action, job and receive errors it may raise.
        """
        stub_mock = self._mock
        if stub_mock is None:  # stopped by another thread between lookup and call
            raise RuntimeError(f"{self!r} was stopped while a request was being sent")
        body = request.body if request.body is not None else {}
        if self.register_request_schema_contract:
            with _contracts_lock:
                _stubbed_requests.append({"service": self.service, "action": self.action, "body": body})
        try:
            result = stub_mock(body)
        except ActionError as exc:
            return StubOutcome(response=ActionResponse(action=self.action, errors=exc.errors))
        except JobError as exc:
            return StubOutcome(job_errors=list(exc.errors))
        except _RECEIVE_ERRORS as exc:
            return StubOutcome(receive_error=exc)
        outcome = self._outcome(result)
        if self.register_response_schema_contract and outcome.response is not None and not outcome.response.errors:
            with _contracts_lock:
                _stubbed_responses.append(
                    {"service": self.service, "action": self.action, "body": outcome.response.body}
                )
        return outcome

    def _outcome(self, result: Any) -> StubOutcome:
        if isinstance(result, ActionResponse):
            return StubOutcome(response=result)
        if isinstance(result, JobResponse):
            if result.errors:
                return StubOutcome(job_errors=list(result.errors))
            first = result.actions[0] if result.actions else ActionResponse(action=self.action)
            return StubOutcome(response=first)
        body = result if isinstance(result, dict) else {}
        return StubOutcome(response=ActionResponse(action=self.action, body=body))

    # Decoration (mock.patch's protocol, so parameterized.expand and friends can re-apply stubs)

    @property
    def is_local(self) -> bool:
        """Whether the stub is active (``mock.patch``'s name, read by some decorator libraries)."""
        return self.enabled

    def __call__(self, target: _F) -> _F:
        """Decorate a test function, method or class (every ``test*`` method of it)."""
        if isinstance(target, type):
            return cast(_F, self.decorate_class(target))
        if inspect.iscoroutinefunction(target):
            return self.decorate_async_callable(target)
        return self.decorate_callable(target)

    def decorate_class(self, cls: type) -> type:
        """Stub every ``test*`` method of ``cls`` (each with its own copy of this stub) and return ``cls``."""
        for name in dir(cls):
            if not name.startswith(mock.patch.TEST_PREFIX):
                continue
            raw = inspect.getattr_static(cls, name)
            if isinstance(raw, (staticmethod, classmethod, type)) or not callable(raw):
                continue
            setattr(cls, name, self.copy()(getattr(cls, name)))
        return cls

    def decorate_callable(self, func: _F) -> _F:
        """Wrap a (non-async) function so the stub is active while it runs and its mock is passed last.

        A function already decorated by a stub or ``mock.patch`` gets this stub added to its list, so one
        wrapper enters every patch in order (the decorator nearest the function gives the first mock).
        """
        patchings = getattr(func, "patchings", None)
        if isinstance(patchings, list):
            patchings.append(self)
            return func

        @functools.wraps(func)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with _entered(wrapped.patchings, args, kwargs) as (new_args, new_kwargs):  # type: ignore[attr-defined]
                return func(*new_args, **new_kwargs)

        wrapped.patchings = [self]  # type: ignore[attr-defined]
        return cast(_F, wrapped)

    def decorate_async_callable(self, func: _F) -> _F:
        """:meth:`decorate_callable` for a coroutine function: the stub is active while it is awaited."""
        patchings = getattr(func, "patchings", None)
        if isinstance(patchings, list):
            patchings.append(self)
            return func

        @functools.wraps(func)
        async def async_wrapped(*args: Any, **kwargs: Any) -> Any:
            with _entered(async_wrapped.patchings, args, kwargs) as (new_args, new_kwargs):  # type: ignore[attr-defined]
                return await func(*new_args, **new_kwargs)

        async_wrapped.patchings = [self]  # type: ignore[attr-defined]
        return cast(_F, async_wrapped)


@contextlib.contextmanager
def _entered(
    patchings: list[Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Enter every patching (stubs and ``mock.patch`` objects) in order and build the call's arguments."""
    extra: list[Any] = []
    with contextlib.ExitStack() as stack:
        for patching in patchings:
            value = stack.enter_context(patching)
            if patching.attribute_name is not None:
                kwargs.update(value)
            elif patching.new is mock.DEFAULT:
                extra.append(value)
        yield args + tuple(extra), kwargs
