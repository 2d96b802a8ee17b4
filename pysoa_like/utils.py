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

    Two dicts that are equal (``==``) give equal results, whatever the order of their keys; two dicts that are not
    give different results. Inside, a dict (any mapping) is compared by its items regardless of order, a list and a
    tuple by their items in order (a list never equals a tuple, as in Python), a set or frozenset by its members;
    other values must be hashable already. As in PySOA, the result is a frozenset of ``(key, value)`` pairs.

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
    return frozenset((key, _frozen(value, f"[{key!r}]")) for key, value in d.items())


# Every container is frozen to (kind, items), so that no two different values freeze alike: a list, a tuple or a
# dict's frozen form differs from a plain tuple or frozenset inside the data, which is frozen with its own kind.
# Sets and frozensets share a kind because Python holds them equal ({1} == frozenset({1})).
_MAPPING, _LIST, _TUPLE, _SET = "mapping", "list", "tuple", "set"


def _frozen(value: Any, where: str) -> Hashable:
    """``value`` as a hashable value; ``where`` is its path from the top dict, for the error message."""
    if isinstance(value, Mapping):
        return _MAPPING, frozenset((key, _frozen(item, f"{where}[{key!r}]")) for key, item in value.items())
    if isinstance(value, list):
        return _LIST, tuple(_frozen(item, f"{where}[{index}]") for index, item in enumerate(value))
    if isinstance(value, tuple):
        return _TUPLE, tuple(_frozen(item, f"{where}[{index}]") for index, item in enumerate(value))
    if isinstance(value, (set, frozenset)):
        return _SET, frozenset(value)  # the members of a set are hashable already
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"dict_to_hashable(): the value at {where} is a {type(value).__name__}, which is not hashable "
            "(only dicts, lists, tuples and sets are converted)"
        ) from None
    return value  # type: ignore[no-any-return]


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
