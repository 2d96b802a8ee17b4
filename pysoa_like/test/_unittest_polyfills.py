"""unittest's ``assert*`` and ``fail*`` methods for plain pytest test classes (``PyTestServerTestCase``).

Most methods delegate to a private :class:`unittest.TestCase`, so their failure messages are
unittest's. The exception and warning helpers are pytest's, as in PySOA: used as context managers,
``assertRaises`` gives pytest's ``ExceptionInfo`` (``.value``, also ``.exception`` after the block)
and ``assertWarns`` gives pytest's warnings checker (``.list``, also ``.warning`` after the block);
a block that raises or warns nothing fails the test as ``pytest.raises`` and ``pytest.warns`` do.
The old aliases (``assertEquals``, ``failUnless``, ...) exist on every Python version and warn
that they are deprecated.
"""

from __future__ import annotations

import unittest
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pytest

__all__ = ["UnitTestAssertions"]

# Deprecated alias -> the method it stands for (unittest dropped these in Python 3.12; PySOA kept them).
_DEPRECATED_ALIASES = {
    "assertEquals": "assertEqual",
    "failUnlessEqual": "assertEqual",
    "assertNotEquals": "assertNotEqual",
    "failIfEqual": "assertNotEqual",
    "assertAlmostEquals": "assertAlmostEqual",
    "failUnlessAlmostEqual": "assertAlmostEqual",
    "assertNotAlmostEquals": "assertNotAlmostEqual",
    "failIfAlmostEqual": "assertNotAlmostEqual",
    "failUnless": "assertTrue",
    "assert_": "assertTrue",
    "failIf": "assertFalse",
    "assertRegexpMatches": "assertRegex",
    "assertNotRegexpMatches": "assertNotRegex",
    "failUnlessRaises": "assertRaises",
    "assertRaisesRegexp": "assertRaisesRegex",
}

if TYPE_CHECKING:
    _AssertionBase = unittest.TestCase
else:
    _AssertionBase = object


class _RaisesContext:
    """``pytest.raises`` whose ``ExceptionInfo`` also has unittest's ``exception`` name after the block."""

    def __init__(self, expected: Any, kwargs: dict[str, Any]) -> None:
        self._raises = pytest.raises(expected, **kwargs)
        self._info: pytest.ExceptionInfo[BaseException] | None = None

    def __enter__(self) -> pytest.ExceptionInfo[BaseException]:
        self._info = self._raises.__enter__()
        return self._info

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        suppressed: bool = self._raises.__exit__(exc_type, exc, tb)
        if suppressed and self._info is not None:
            self._info.exception = self._info.value  # type: ignore[attr-defined]
        return suppressed


class _WarnsContext:
    """``pytest.warns`` whose checker also has unittest's ``warning``, ``filename`` and ``lineno`` after the block."""

    def __init__(self, expected: Any, kwargs: dict[str, Any]) -> None:
        self._expected = expected
        self._checker = pytest.warns(expected, **kwargs)

    def __enter__(self) -> Any:
        return self._checker.__enter__()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._checker.__exit__(exc_type, exc, tb)
        checker: Any = self._checker
        for record in checker.list:
            if issubclass(record.category, self._expected):
                checker.warning, checker.filename, checker.lineno = record.message, record.filename, record.lineno
                break


class UnitTestAssertions(_AssertionBase):
    """unittest's ``assert*``/``fail*`` methods for plain (pytest) classes."""

    maxDiff: int | None = 80 * 8
    longMessage: bool = True

    def _unittest_case(self) -> unittest.TestCase:
        case: unittest.TestCase | None = self.__dict__.get("_pysoa_unittest_case")
        if case is None:
            case = self.__dict__["_pysoa_unittest_case"] = unittest.TestCase()
        case.maxDiff = self.maxDiff
        case.longMessage = self.longMessage
        return case

    def assertRaises(self, expected_exception: Any, *args: Any, **kwargs: Any) -> Any:
        """Assert that a call raises ``expected_exception``; without a callable, a ``pytest.raises`` context.

        Args:
            expected_exception: An exception class or a tuple of them.
            *args: A callable and its positional arguments (optional).
            **kwargs: The callable's keyword arguments; without a callable, ``pytest.raises`` arguments
                (``match``; unittest's ``msg`` is ignored).

        Returns:
            ``None`` for the call form; else a context manager yielding pytest's ``ExceptionInfo``.
        """
        return _raises(expected_exception, args, kwargs, {})

    def assertRaisesRegex(self, expected_exception: Any, expected_regex: Any, *args: Any, **kwargs: Any) -> Any:
        """:meth:`assertRaises` whose exception's text must also match ``expected_regex``."""
        return _raises(expected_exception, args, kwargs, {"match": expected_regex})

    def assertWarns(self, expected_warning: Any, *args: Any, **kwargs: Any) -> Any:
        """Assert that a call warns ``expected_warning``; without a callable, a ``pytest.warns`` context.

        Returns:
            ``None`` for the call form; else a context manager yielding pytest's checker (``.list``).
        """
        return _warns(expected_warning, args, kwargs, {})

    def assertWarnsRegex(self, expected_warning: Any, expected_regex: Any, *args: Any, **kwargs: Any) -> Any:
        """:meth:`assertWarns` whose warning's text must also match ``expected_regex``."""
        return _warns(expected_warning, args, kwargs, {"match": expected_regex})


def _raises(expected: Any, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Any:
    return _expect(pytest.raises, _RaisesContext, expected, args, kwargs, options)


def _warns(expected: Any, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Any:
    return _expect(pytest.warns, _WarnsContext, expected, args, kwargs, options)


def _expect(
    check: Callable[..., Any],
    context: Callable[[Any, dict[str, Any]], Any],
    expected: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    options: dict[str, Any],
) -> Any:
    """Call form (a callable in ``args``): run it under ``check`` and return ``None``; else a context manager."""
    if args:
        with check(expected, **options):
            args[0](*args[1:], **kwargs)
        return None
    kwargs.pop("msg", None)  # unittest's failure message argument; pytest's contexts have none
    return context(expected, {**kwargs, **options})


def _delegate(name: str) -> Callable[..., Any]:
    def method(self: UnitTestAssertions, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._unittest_case(), name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = getattr(unittest.TestCase, name).__doc__
    return method


def _deprecated(alias: str, name: str) -> Callable[..., Any]:
    def method(self: UnitTestAssertions, *args: Any, **kwargs: Any) -> Any:
        warnings.warn(f"{alias} is deprecated; use {name} instead", DeprecationWarning, stacklevel=2)
        return getattr(self, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = alias
    method.__doc__ = f"Deprecated alias of :meth:`{name}`."
    return method


def _install() -> None:
    own = vars(UnitTestAssertions)
    for name in dir(unittest.TestCase):
        wanted = name.startswith(("assert", "fail")) and name != "failureException"
        if wanted and name not in own and name not in _DEPRECATED_ALIASES:
            setattr(UnitTestAssertions, name, _delegate(name))
    for alias, name in _DEPRECATED_ALIASES.items():
        setattr(UnitTestAssertions, alias, _deprecated(alias, name))


_install()
