"""The structure of fixture files: cases, comments, globals, and syntax errors that say where and what."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pysoa_like.test.plan.errors import FixtureLoadError, FixtureSyntaxError
from pysoa_like.test.plan.grammar.directive import TestFixture as PlanFixture
from pysoa_like.test.plan.parser import ServiceTestPlanFixtureParser

Parse = Callable[..., PlanFixture]


def test_cases_are_blocks_separated_by_blank_lines(parse: Parse, tmp_path: Path) -> None:
    """Each block is one case, in file order, with its name, description (+ file), lines and start line."""
    fixture = parse(
        """
        # A comment before the first case

        # The first case
        test name: first
        test description: The first case
        get_book: input int: book_id: 1
        \t

        test name: second
        test description:   Spaces around   are trimmed\t
        # comments may sit anywhere
        get_book: input: title: Dune # not a comment
        """
    )
    path = str(tmp_path / "plan.pysoa")
    assert [case["name"] for case in fixture] == ["first", "second"]
    first, second = fixture
    assert first["description"] == f"The first case\n{path}"
    assert first["line_number"] == 4
    assert first["source"] == [
        "# The first case",
        "test name: first",
        "test description: The first case",
        "get_book: input int: book_id: 1",
    ]
    assert second["description"] == f"Spaces around   are trimmed\n{path}"
    assert second["line_number"] == 9
    assert second["get_book.0"] == {"inputs": {"title": "Dune # not a comment"}}
    assert first["fixture_name"] == "plan" and first["fixture_file_name"] == path
    assert first["fixture_source"] is second["fixture_source"]
    assert first["fixture_source"][6] == ""  # a line of spaces and tabs is blank


def test_action_paths_and_indices(parse: Parse) -> None:
    """Lines with one action path add to one action case; cases run in order of first appearance."""
    (case,) = parse(
        """
        test name: indices
        test description: d
        lend_book.1: input int: book_id: 2
        lend_book: input int: book_id: 1
        return_book.01: input: loan_id: a
        lend_book.1: input: member_id: m
        inputs_check: input: a: b
        """
    )
    assert case["actions"] == ["lend_book.1", "lend_book.0", "return_book.01", "inputs_check.0"]
    assert case["lend_book.1"] == {"inputs": {"book_id": 2, "member_id": "m"}}


def test_whitespace_between_tokens_is_free_and_tabs_are_kept_in_values(parse: Parse) -> None:
    """Spaces and tabs may surround tokens; a tab inside a value stays a tab; CRLF endings leave no \\r."""
    (case,) = parse(
        "test name: ws\r\ntest description: d\r\nget_book . 1 :input int:book_id: 5\r\n"
        "get_book.1:\tinput:\ttitle:\ta\tb\r\n"
    )
    assert case["get_book.1"] == {"inputs": {"book_id": 5, "title": "a\tb"}}
    assert case["description"].startswith("d\n")


def test_inputs_job_control_and_job_context(parse: Parse) -> None:
    """The three input forms fill the body, the control header and the context header."""
    (case,) = parse(
        """
        test name: inputs
        test description: d
        lend_book: input int: book_id: 311
        lend_book: input: member.name: Ada Lovelace
        lend_book: input emptylist: holds:
        lend_book: job context input int: switches.0: 12
        lend_book: job context input: locale: en_GB
        lend_book: job control input bool: dry_run: true
        """
    )
    assert case["lend_book.0"] == {
        "inputs": {"book_id": 311, "member": {"name": "Ada Lovelace"}, "holds": []},
        "job_context_inputs": {"switches": [12], "locale": "en_GB"},
        "job_control_inputs": {"dry_run": True},
    }


def test_skip(parse: Parse) -> None:
    """test skip sets a reason; an empty reason means not skipped; the global form skips every later case."""
    fixture = parse(
        """
        test name: a
        test description: d
        test skip: broken
        x: input: a: b

        test name: b
        test description: d
        test skip:
        x: input: a: b

        test name: c
        test description: d
        x: input: a: b
        test skip global: all from here

        test name: d
        test description: d
        x: input: a: b
        """
    )
    assert [case.get("skip") for case in fixture] == ["broken", "", "all from here", "all from here"]


def test_global_directives_merge_leaf_by_leaf_into_later_cases(parse: Parse) -> None:
    """Globals apply to the cases ending after them, as defaults of action cases those cases declare."""
    fixture = parse(
        """
        test name: before
        test description: Globals defined later do not apply here
        get_book: input int: book_id: 1

        get_book: global job context input: locale: en_GB
        get_book: global input: tags.0: a
        get_book: global input: tags.1: b
        get_book: global input emptydict: extra:

        test name: uses_globals
        test description: d
        get_book: input: tags.0: c
        get_book: input int: book_id: 2

        test name: without_get_book
        test description: The get_book globals do not add an action
        search_books: input: query: dune

        test name: redefines
        test description: d
        get_book: global job context input: locale: fr_FR
        get_book: input int: book_id: 3
        """
    )
    before, uses, without, redefines = fixture
    assert before["get_book.0"] == {"inputs": {"book_id": 1}}
    assert uses["get_book.0"] == {
        "inputs": {"tags": ["c", "b"], "extra": {}, "book_id": 2},
        "job_context_inputs": {"locale": "en_GB"},
    }
    assert without["actions"] == ["search_books.0"]
    assert without["get_book.0"]["job_context_inputs"] == {"locale": "en_GB"}
    assert redefines["get_book.0"]["job_context_inputs"] == {"locale": "fr_FR"}


def test_globals_merge_stub_and_mock_configurations(parse: Parse) -> None:
    """Merging works on any key, so stubs and un-pathed mock expectations work after a global (PySOA broke here)."""
    (case,) = parse(
        """
        get_book: global expect: no errors

        test name: stubbed
        test description: d
        stub action: catalog: check_stock: body int: available: 2
        mock: library.logic.audit: expect not called:
        get_book: input int: book_id: 2
        """
    )
    assert case["stubbed_actions"] == {("catalog", "check_stock"): {"body": {"available": 2}}}
    assert case["mock_patches"]["library.logic.audit"]["expectations"] == {None: {"not_called": True}}
    assert case["get_book.0"]["expects_no_errors"] is True


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("test name: a\ntest description: d\nx: input: a: b\ntest name: b\n", 4, "Duplicate test name 'b'.*blank line"),
        ("test name: a\ntest description: d\ntest description: e\nx: input: a: b\n", 3, "Duplicate test description"),
        ("test description: d\nx: input: a: b\n\n", 2, "ending at line 2 has no 'test name:'"),
        ("test name: a\nx: input: a: b\n", 2, "ending at line 2 has no 'test description:'"),
        ("test name: a\ntest description: d\n\n", 2, "'a' .* has no action directive"),
        ("x: global input: a: b\n\ntest name: a\ntest description: d\n", 4, "'a' .* has no action directive"),
        ("test name: a\n  test description: d\n", 2, "must start in column 1"),
        ("test name: a\ntest skip globl: x\n", 2, "Expected ':' at column 11"),
        ("test name: a\ntest  name: b\n", 2, "no directive matches it"),
        ("test name: a\n\t# comment\n", 2, "must start in column 1"),
        ("test name: a b\n", 1, r"Expected end of line at column 14 \(found 'b'\)"),
        ("test name: a\ntest description: d\nx: input int: a: one\n", 3, "Data type conversion error: 'one' is not"),
        ("test name: a\ntest description: d\nx: input datetime: a: 2021,2,30\n", 3, "day is out of range"),
        ("test name: a\ntest description: d\nx: input: a: 1\nx: input: a.b: 2\n", 4, "Invalid path: .*'a' already"),
        ("test name: a\ntest description: d\nx.y: input: a: 1\n", 3, "Expected action index at column 3"),
        ("test name: a\ntest description: d\ninput: a: 1\n", 3, "no directive matches it"),
        ("test name: a\ntest description: d\nx: inptu: a: 1\n", 3, "Expected 'input', 'expect', .*'freeze time'"),
    ],
)
def test_syntax_errors_name_the_file_the_line_and_what_is_wrong(
    parse: Parse, tmp_path: Path, text: str, line: int, message: str
) -> None:
    """Every syntax error is a FixtureSyntaxError with the file, line, line text, and what was expected."""
    with pytest.raises(FixtureSyntaxError, match=message) as caught:
        parse(text)
    error = caught.value
    assert error.filename == str(tmp_path / "plan.pysoa")
    assert error.lineno == line
    assert str(error).startswith(f"{tmp_path / 'plan.pysoa'}, line {line}: ")
    assert error.text == text.splitlines()[line - 1].strip() or error.text == text.splitlines()[line - 1]


def test_unparseable_line_report_marks_the_column(parse: Parse) -> None:
    """The report repeats the line and puts a caret under the column where matching stopped."""
    with pytest.raises(FixtureSyntaxError) as caught:
        parse("test name: a\ntest description: d\nget_book: expect: eror: code=X\n")
    assert caught.value.offset == 19
    assert str(caught.value).splitlines()[1:] == [
        "    get_book: expect: eror: code=X",
        "                      ^",
    ]
    assert "Expected 'error', 'no errors' or 'attribute value'" in str(caught.value)


def test_files_without_cases_and_unreadable_files_are_load_errors(parse: Parse, tmp_path: Path) -> None:
    """No test case at all, a missing file and undecodable bytes are FixtureLoadErrors naming the file."""
    with pytest.raises(FixtureLoadError, match="holds no test cases"):
        parse("# only a comment\n\nx: global input: a: b\n")
    with pytest.raises(FixtureLoadError, match=r"Could not read fixture file .*missing\.pysoa"):
        ServiceTestPlanFixtureParser(str(tmp_path / "missing.pysoa"), "missing").parse_test_fixture()
    (tmp_path / "bad.pysoa").write_bytes(b"test name: \xff\n")
    with pytest.raises(FixtureLoadError, match=r"bad\.pysoa"):
        ServiceTestPlanFixtureParser(str(tmp_path / "bad.pysoa"), "bad").parse_test_fixture()


def test_syntax_error_reads_the_line_from_the_file_when_not_given(tmp_path: Path) -> None:
    """Given only a line number, the error reads that line (trimmed); offset defaults to its length."""
    path = tmp_path / "f.pysoa"
    path.write_text("one\n   two  \n", encoding="utf-8")
    error = FixtureSyntaxError("bad", str(path), 2)
    assert (error.msg, error.filename, error.lineno, error.text, error.offset) == ("bad", str(path), 2, "two", 3)
    assert FixtureSyntaxError("bad", str(path), 9).text == ""
    assert FixtureSyntaxError("bad", str(tmp_path / "nope"), 1).text == ""
    assert str(FixtureSyntaxError("bad", "f.pysoa")) == "f.pysoa: bad"
    assert isinstance(error, SyntaxError)
