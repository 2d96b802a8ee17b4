"""What every command of ``pysoa-like`` shares: exit codes, the error for user mistakes, and output.

Exit codes (the same for every command)::

    0  success (health: SERVING)
    1  the service answered with job or action errors (health: NOT_SERVING)
    2  usage error: bad arguments, settings that cannot be loaded, an unknown service
    3  transport error: Redis unreachable, no reply in time
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import json
import math
import os
import sys
import uuid
from collections.abc import Mapping
from typing import IO, Any

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_TRANSPORT",
    "EXIT_USAGE",
    "CommandError",
    "Output",
    "positive_seconds",
    "to_json",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TRANSPORT = 3


class CommandError(Exception):
    """A problem to report in one line (no traceback) and the exit code to leave with.

    Args:
        message: What went wrong and, where possible, what to do about it.
        exit_code: :data:`EXIT_USAGE` by default.
    """

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def positive_seconds(text: str) -> float:
    """An argparse ``type`` for a duration option: a finite number of seconds above 0.

    Raises:
        argparse.ArgumentTypeError: ``text`` is not a number, or is 0, negative, NaN or infinite (argparse
            reports it as a usage error naming the option, exit 2).
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds more than 0, got {text!r}")
    return value


def _json_default(value: Any) -> Any:
    """JSON for the non-JSON values a response may hold (datetimes, decimals, bytes, sets, amounts)."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return repr(bytes(value))
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def to_json(value: Any, pretty: bool) -> str:
    """``value`` as JSON: indented when ``pretty``, else one compact line."""
    if pretty:
        return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


_COLOURS = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}


class Output:
    """Where a command writes: results to stdout, problems and progress to stderr.

    Colour and progress lines only appear on a terminal (and colour never with ``NO_COLOR`` set).

    Args:
        stdout: The result stream (``sys.stdout``).
        stderr: The diagnostics stream (``sys.stderr``).
    """

    def __init__(self, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.interactive = _isatty(self.stdout)
        self.colour = self.interactive and not os.environ.get("NO_COLOR")
        self.progress_enabled = _isatty(self.stderr)

    def paint(self, text: str, colour: str) -> str:
        """``text`` in ``colour`` on a colour terminal, else unchanged."""
        if not self.colour:
            return text
        return f"\033[{_COLOURS[colour]}m{text}\033[0m"

    def line(self, text: str = "") -> None:
        """Write one line of the result."""
        self.stdout.write(text + "\n")

    def json(self, value: Any, pretty: bool | None = None) -> None:
        """Write ``value`` as JSON: pretty on a terminal, compact otherwise (unless ``pretty`` says)."""
        self.line(to_json(value, self.interactive if pretty is None else pretty))

    def problem(self, text: str) -> None:
        """Write a line to stderr (in red on a colour terminal)."""
        painted = f"\033[31m{text}\033[0m" if self.colour and _isatty(self.stderr) else text
        self.stderr.write(painted + "\n")

    def progress(self, text: str) -> None:
        """Write a progress note to stderr, only when it is a terminal."""
        if self.progress_enabled:
            self.stderr.write(text + "\n")
            self.stderr.flush()

    def table(self, headers: list[str], rows: list[list[str]]) -> None:
        """Write rows as an aligned text table under ``headers``."""
        widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
        header = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
        self.line(self.paint(header, "bold"))
        for row in rows:
            self.line("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
