"""The code blocks of the README and of every page in ``docs/``, with how each one is tested.

A block is a ``.. code-block:: LANG`` directive or a ``::`` literal block. How the test suite checks
it is said by an RST comment on the line before the block (invisible in the rendered page)::

    .. doc-test: KIND [ARGUMENT]

Without a comment, a ``python`` block is ``run`` and a ``shell``/``console`` block is ``commands``;
any other block must carry a comment, or the test that every block is handled fails. The kinds are
listed in :data:`KINDS` and described in ``docs/development.rst`` (*Code blocks are tested*).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.rst", *sorted((ROOT / "docs").glob("*.rst"))]

#: kind -> what it does (the documentation of the mechanism, checked against docs/development.rst).
KINDS = {
    "run": "Python, executed in the page's namespace (shared by the page's blocks, in order)",
    "raises": "Python that must raise the named exception; its message is the output",
    "output": "the output of the page's previous block (stdout, or the raised message); '...' matches anything",
    "commands": "shell commands, each checked: pysoa-like and runner options parsed, make targets, pip forms",
    "settings": "a settings fragment (dict items), placed at ARGUMENT (server|client[:key.path]) and validated",
    "json": "JSON lines (log lines), each parsed",
    "doctest": "a '>>>' session, run by doctest in the page's namespace",
    "pytest": "a pytest module, run by pytest (real Redis where it asks for one)",
    "conformity": "Python needing Conformity, run by tests/conformity (its own environment) after the setup code",
    "imports": "'old -> new' import lines: each new import is executed and is the old one renamed",
    "acl": "Redis ACL rules, each line run as ACL SETUSER on a throwaway Redis",
    "dockerfile": "Dockerfile lines; the command after CMD is checked as a shell command",
    "text": "no code: a table, a diagram or an excerpt of a report; ARGUMENT says what it is",
}

_DIRECTIVE = re.compile(r"^(\s*)\.\. (?:code-block|code|sourcecode)::\s*(\S*)\s*$")
_OTHER_DIRECTIVE = re.compile(r"^\s*\.\. [\w:-]+::")
_MARKER = re.compile(r"^\s*\.\. doc-test:\s*(\S+)\s*(.*?)\s*$")
_DEFAULT_KIND = {"python": "run", "shell": "commands", "console": "commands", "bash": "commands"}


@dataclass(frozen=True)
class Block:
    """One code block of a page."""

    page: str
    line: int
    language: str
    body: str
    kind: str | None
    argument: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def page_blocks(path: Path) -> list[Block]:
    """Every code block of one page, in order."""
    lines = path.read_text().splitlines()
    name = str(path.relative_to(ROOT))
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = _DIRECTIVE.match(line)
        literal = (
            not directive
            and line.rstrip().endswith("::")
            and not line.lstrip().startswith("..")
            and not _OTHER_DIRECTIVE.match(line)
        )
        if not (directive or literal):
            index += 1
            continue
        indent = _indent(line)
        end = index + 1
        while directive and end < len(lines) and lines[end].strip().startswith(":"):
            end += 1
        while end < len(lines) and not lines[end].strip():
            end += 1
        if end >= len(lines) or _indent(lines[end]) <= indent:
            index = end
            continue
        start, body_indent, body = end, _indent(lines[end]), []
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) >= body_indent):
            body.append(lines[end][body_indent:])
            end += 1
        while body and not body[-1].strip():
            body.pop()
        marker = _marker_before(lines, index, literal)
        language = directive.group(2) if directive else "literal"
        kind, argument = marker if marker else (_DEFAULT_KIND.get(language), "")
        blocks.append(Block(name, start + 1, language, "\n".join(body), kind, argument))
        index = end
    return blocks


def _marker_before(lines: list[str], index: int, literal: bool) -> tuple[str, str] | None:
    """The ``.. doc-test:`` comment above a block (above its paragraph, for a paragraph ending with ``::``)."""
    previous = index - 1
    if literal and lines[index].strip() != "::":
        while previous >= 0 and lines[previous].strip():
            previous -= 1
    while previous >= 0 and not lines[previous].strip():
        previous -= 1
    match = _MARKER.match(lines[previous]) if previous >= 0 else None
    return (match.group(1), match.group(2)) if match else None


def all_blocks() -> list[Block]:
    """The blocks of the README and of every docs page."""
    return [block for page in PAGES for block in page_blocks(page)]
