"""PySOA's two small helpers, kept so that code importing ``pysoa.utils`` migrates unchanged.

Compatibility only: pysoa_like itself uses neither.

- :func:`dict_to_hashable`: a nested dict as an immutable, hashable value, for a cache key.
- :func:`get_python_interpreter_arguments`: how the interpreter was started, up to the script, ``-m module`` or
  ``-c command`` (what PySOA's double-import guard looked at).
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Mapping
from typing import Any

__all__ = ["dict_to_hashable", "get_python_interpreter_arguments"]


def dict_to_hashable(d: Mapping[Any, Any]) -> frozenset[tuple[Any, Hashable]]:
    """An immutable, hashable form of a dict, nested dicts and lists included, for use as a cache key.

    The result is PySOA's, value for value: a frozenset of ``(key, value)`` pairs in which a nested dict is itself
    such a frozenset, a list becomes a tuple and any other value stays as it is. So two equal dicts (``==``) give
    equal results whatever the order of their keys, and, as in PySOA, data differing only in its containers' kinds
    gives equal results too (a list and a tuple of the same items, a dict and the frozenset of its pairs).

    Where PySOA raised ``TypeError`` (an unhashable value inside a list or tuple, a set), this goes on: the items of
    lists and tuples are frozen the same way and a set becomes a frozenset.

    Args:
        d: The dict; its keys are hashable, as every dict's are.

    Returns:
        A frozenset of ``(key, frozen value)`` pairs.

    Raises:
        TypeError: ``d`` is not a mapping, or a value inside it is neither hashable nor a dict, list, tuple or set
            (the message says where it is).
    """
    if not isinstance(d, Mapping):
        raise TypeError(f"dict_to_hashable() takes a dict, got {type(d).__name__}")
    return _frozen_mapping(d, "")


def _frozen_mapping(mapping: Mapping[Any, Any], where: str) -> frozenset[tuple[Any, Hashable]]:
    return frozenset((key, _frozen(value, f"{where}[{key!r}]")) for key, value in mapping.items())


def _frozen(value: Any, where: str) -> Hashable:
    """``value`` as a hashable value (PySOA's form); ``where`` is its path from the top dict, for the error message."""
    if isinstance(value, dict):
        return _frozen_mapping(value, where)
    if isinstance(value, list):
        return tuple(_frozen(item, f"{where}[{index}]") for index, item in enumerate(value))
    try:
        hash(value)
    except TypeError:
        pass
    else:
        return value  # type: ignore[no-any-return]
    # Unhashable: PySOA failed here; freeze what has a frozen form.
    if isinstance(value, Mapping):
        return _frozen_mapping(value, where)
    if isinstance(value, tuple):
        return tuple(_frozen(item, f"{where}[{index}]") for index, item in enumerate(value))
    if isinstance(value, (set, frozenset)):
        return frozenset(value)  # the members of a set are hashable already
    raise TypeError(
        f"dict_to_hashable(): the value at {where} is a {type(value).__name__}, which is not hashable "
        "(only dicts, lists, tuples and sets are converted)"
    )


def get_python_interpreter_arguments() -> list[str]:
    """The command line that started the interpreter, up to and including what it runs, without that program's own
    arguments: the interpreter's path, its options, then the script's path, ``-m`` and the module, or ``-c`` and the
    command.

    ``python -X dev -m my_service.standalone -f 4`` gives ``['python', '-X', 'dev', '-m', 'my_service.standalone']``
    and ``python worker.py --fork 4`` gives ``['python', 'worker.py']``, as PySOA's version did (it read the same
    command line through ctypes; this reads ``sys.orig_argv``).

    The program's arguments are told apart by their number, ``len(sys.argv) - 1``, so a program that adds to or
    removes from ``sys.argv`` shifts the result, as it did in PySOA. An embedded interpreter with no command line
    gives ``[]``.

    Returns:
        The leading part of ``sys.orig_argv``, as a new list.
    """
    command_line = list(sys.orig_argv)
    program_arguments = max(len(sys.argv) - 1, 0)
    return command_line[: max(len(command_line) - program_arguments, min(len(command_line), 1))]
