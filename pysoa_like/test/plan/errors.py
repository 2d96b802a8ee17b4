"""The errors of the test-plan system (PySOA's ``pysoa.test.plan.errors``).

::

    Exception
     +-- DataTypeConversionError   a value could not be converted to its declared data type
     +-- DirectiveError            the directive registry is unusable (none registered, a hook missing)
     +-- FixtureLoadError          a fixture directory or file is missing, unreadable, or has no test cases
     +-- StatusError               a run-time state problem: an unresolvable [[substitution]], a fixture not set
     |                             up, a duplicated plan test name
     +-- SyntaxError
          +-- FixtureSyntaxError   a line of a fixture file is not valid, with the file, line and reason

Importing this module imports nothing of the optional ``test-plans`` extra.
"""

from __future__ import annotations

__all__ = [
    "DataTypeConversionError",
    "DirectiveError",
    "FixtureLoadError",
    "FixtureSyntaxError",
    "StatusError",
]


class DataTypeConversionError(Exception):
    """A fixture value could not be converted to its data type (the parser reports it as a syntax error)."""


class DirectiveError(Exception):
    """No directive is registered, or a directive class lacks a hook the runner calls."""


class FixtureLoadError(Exception):
    """A fixture directory or file is missing or unreadable, matches no files, or holds no test cases."""


class StatusError(Exception):
    """A test plan reached a state it cannot continue from (for example, a substitution that does not resolve)."""


def _read_line(file_name: str, line_number: int) -> str | None:
    try:
        with open(file_name, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if number == line_number:
                    return line.rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return None
    return None


class FixtureSyntaxError(SyntaxError):
    """A fixture file has a syntax or meaning error; ``str()`` names the file, the line and what is wrong.

    It carries the standard :class:`SyntaxError` attributes: ``msg``, ``filename``, ``lineno``,
    ``offset`` (1-based column) and ``text`` (the line).

    Args:
        message: What is wrong and, where it helps, what was expected instead.
        file_name: The fixture file.
        line_number: The 1-based line number (0 when unknown).
        offset: The 1-based column the problem starts at (0: unknown; with a line but no text, the
            line's length).
        line_text: The line; when empty and ``line_number`` is given, it is read from the file.
    """

    def __init__(
        self, message: str, file_name: str, line_number: int = 0, offset: int = 0, line_text: str = ""
    ) -> None:
        if line_number and not line_text:
            found = _read_line(file_name, line_number)
            line_text = found.strip() if found is not None else ""
            offset = offset or len(line_text)
        super().__init__(message, (file_name, line_number, offset, line_text))

    def __str__(self) -> str:
        where = f"{self.filename}, line {self.lineno}" if self.lineno else str(self.filename)
        text = f"{where}: {self.msg}"
        if self.text:
            text += f"\n    {self.text}"
            if self.offset and 0 < self.offset <= len(self.text) + 1:
                text += "\n    " + " " * (self.offset - 1) + "^"
        return text
