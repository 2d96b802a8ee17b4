"""The API reference renders what it promises (the build itself, with -n -W, is `make docs`)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
from sphinx.pycode import ModuleAnalyzer

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("module_name", ["pysoa_like.common.constants", "pysoa_like.server.exit_codes"])
def test_every_constant_has_the_doc_comment_autodoc_renders(module_name: str) -> None:
    """Each public constant carries a ``#:`` comment, so its autodoc section is not empty (it rendered empty)."""
    module = importlib.import_module(module_name)
    documented = {name for (_, name) in ModuleAnalyzer.for_module(module_name).find_attr_docs()}
    assert set(module.__all__) - documented == set()


def test_the_error_codes_section_documents_the_constants_module() -> None:
    """docs/errors.rst's "Error codes" section is the constants module with its members."""
    text = (DOCS / "errors.rst").read_text()
    section = text[text.index("Error codes\n-----------") : text.index("Exceptions\n----------")]
    assert ".. automodule:: pysoa_like.common.constants\n   :members:" in section


def test_the_api_reference_is_in_the_table_of_contents() -> None:
    """The API reference page is reachable from the index."""
    assert "\n   api\n" in (DOCS / "index.rst").read_text()


def _client_modules() -> list[str]:
    import pysoa_like.client

    return [info.name for info in pkgutil.iter_modules(pysoa_like.client.__path__, "pysoa_like.client.")]


@pytest.mark.parametrize("module_name", _client_modules())
def test_a_function_named_without_its_module_is_the_modules_own(module_name: str) -> None:
    """A ``:func:`` reference without a module path, in a client module, names a function of that module (one that
    moved elsewhere is referenced by its full path)."""
    module = importlib.import_module(module_name)
    source = inspect.getsource(module)
    bare = {target for target in re.findall(r":func:`~?([\w.]+)`", source) if "." not in target}
    assert {name for name in bare if not callable(getattr(module, name, None))} == set()


def _defined_names() -> set[str]:
    """Every function, class, attribute and module name the package defines."""
    package = DOCS.parent / "pysoa_like"
    names = {path.stem for path in package.rglob("*.py")} | {path.name for path in package.rglob("*") if path.is_dir()}
    pattern = re.compile(r"(?:def|class)\s+(\w+)|(?:self\.|^\s*)(\w+)\s*(?::[^=\n]*)?=", re.MULTILINE)
    for path in package.rglob("*.py"):
        for match in pattern.finditer(path.read_text()):
            names.add(match.group(1) or match.group(2))
    return names


def test_the_private_names_internals_mentions_exist() -> None:
    """Each private function, method, attribute or module docs/internals.rst names (``_name`` or
    ``Class._name``) is still in the package: the page follows the code when it moves."""
    mentioned = set(re.findall(r"``(?:\w+\.)*(_[A-Za-z]\w*)(?:\(\))?``", (DOCS / "internals.rst").read_text()))
    assert mentioned - _defined_names() == set()
