"""How each kind of docs code block is run or checked (see ``_blocks.py``); used by ``_run_page.py``."""

from __future__ import annotations

import contextlib
import doctest
import importlib.util
import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

from pysoa_like.cli import make_parser
from pysoa_like.client.settings import ClientSettings
from pysoa_like.server.settings import ServerSettings
from pysoa_like.server.standalone import make_standalone_parser
from pysoa_like.version import __version__
from tests.docs._blocks import ROOT, Block
from tests.docs._services import DocServices

DOCS_REDIS_URL = "redis://127.0.0.1:6379/0"
# Never reached from a test: a block still naming it after the substitution fails instead.
_REAL_REDIS = re.compile(r"localhost|127\.0\.0\.1:6379")
# The extras of pyproject.toml (read without tomllib, which Python 3.10 lacks).
_OPTIONAL = (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[1].split("\n[")[0]
_EXTRAS = set(re.findall(r"^([\w-]+) = \[", _OPTIONAL, re.M))
_MAKE_TARGETS = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"
_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"


class Page:
    """What the blocks of one page share: their namespace and the last output."""

    def __init__(self, block_page: str, redis_url: str, tmp_dir: Path) -> None:
        self.services = DocServices(redis_url)
        # serve() and REDIS_URL are for the setup code of block comments.
        self.namespace: dict[str, Any] = {
            "__name__": f"docs_{Path(block_page).stem}",
            "serve": self.services.serve,
            "start": self.services.start,
            "REDIS_URL": redis_url,
        }
        self.output = ""
        #: The code run so far (setup and blocks), which a ``pytest`` block's module starts with.
        self.sources: list[str] = []
        self.redis_url = redis_url
        self.tmp_dir = tmp_dir

    def source(self, block: Block) -> str:
        # The example Redis becomes the throwaway one, the example port a free one.
        source = block.body.replace(DOCS_REDIS_URL, self.redis_url).replace("port=8050", "port=0")
        assert not _REAL_REDIS.search(source), f"{block.where}: write {DOCS_REDIS_URL} for the Redis of an example"
        return source

    def execute(self, block: Block, code: str | None = None) -> None:
        self.sources.append(self.source(block) if code is None else code)
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            exec(compile(self.source(block) if code is None else code, block.where, "exec"), self.namespace)
        self.output = captured.getvalue()


def _check_run(page: Page, block: Block) -> None:
    if block.argument:  # setup the reader does not need to see (serve() and REDIS_URL are at hand)
        setup = block.argument.replace("\\n", "\n")
        page.sources.append(setup)
        exec(compile(setup, f"{block.where} (setup)", "exec"), page.namespace)
    page.execute(block)


def _check_raises(page: Page, block: Block) -> None:
    try:
        page.execute(block)
    except Exception as exc:
        assert type(exc).__name__ == block.argument, f"{block.where}: raised {exc!r}"
        page.output = str(exc)
    else:
        raise AssertionError(f"{block.where}: did not raise {block.argument}")


def _check_output(page: Page, block: Block) -> None:
    pattern = ".*".join(re.escape(part) for part in block.body.strip().split("..."))
    actual = "\n".join(line.rstrip() for line in page.output.strip().splitlines())
    assert re.fullmatch(pattern, actual, re.S), (
        f"{block.where}: the docs show\n{block.body}\nbut the code gives\n{actual}"
    )


def _commands(body: str) -> list[str]:
    lines = [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    prompted = [line[2:] for line in lines if line.startswith("$ ")]
    return prompted if prompted else lines


def _split(command: str) -> list[list[str]]:
    """The simple commands of a shell line (split on ``;``, ``&&``, ``|``), comments left out."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in (";", "&&", "|", "||", "&"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [words for words in commands if words]


def _check_pip_argument(argument: str, where: str) -> None:
    requirement, _, url = argument.partition(" @ ")
    extras = re.search(r"\[([\w,-]+)\]", requirement)
    if extras:
        unknown = set(extras.group(1).split(",")) - _EXTRAS
        assert not unknown, f"{where}: no such extra {sorted(unknown)} in pyproject.toml"
    wheel = re.search(r"pysoa_like-([^-]+)-py3-none-any\.whl", url or argument)
    if wheel:
        assert wheel.group(1) == __version__, f"{where}: the wheel is pysoa_like-{__version__}-py3-none-any.whl"
    assert requirement.split("[")[0].rstrip("/").endswith("pysoa_like") or wheel, f"{where}: what is {argument!r}?"


def check_command(words: list[str], where: str) -> None:
    """Check one simple command against what it names (options, targets, modules, extras)."""
    while words and re.fullmatch(r"\w+=.*", words[0]):
        words = words[1:]  # environment assignments
    program, arguments = words[0], words[1:]
    if program.endswith("python") and arguments[:1] == ["-m"]:
        program, arguments = arguments[1], arguments[2:]
    if program in ("pysoa-like", "pysoa_like"):
        try:
            make_parser().parse_args(arguments)
        except SystemExit as exc:
            assert exc.code == 0, f"{where}: pysoa-like refuses {arguments}"
    elif program.endswith(".standalone"):
        make_standalone_parser().parse_args(arguments)
    elif program == "make":
        targets = [word for word in arguments if "=" not in word]
        assert set(targets) <= _MAKE_TARGETS, f"{where}: no make target {sorted(set(targets) - _MAKE_TARGETS)}"
    elif program == "pip":
        assert arguments[0] in ("install", "wheel"), where
        for argument in arguments[1:]:
            if not argument.startswith("-") and argument != "dist":
                _check_pip_argument(argument, where)
    elif program in ("export", "echo", "cd", "pytest"):
        pass
    else:
        assert "." in program and importlib.util.find_spec(program), f"{where}: nobody checks the command {words}"


def _check_commands(page: Page, block: Block) -> None:
    for line in _commands(block.body):
        for words in _split(line):
            check_command(words, block.where)


def _settings_fragment(body: str) -> dict[str, Any]:
    text = re.sub(r"^\w+ = ", "", body.strip()).rstrip(",")  # "settings = {...}" is the dict itself
    # "...," stands for the rest of the settings (the base the fragment is placed in).
    text = "\n".join(line for line in text.splitlines() if line.strip() not in ("...", "...,"))
    value = eval("{" + text + "}" if not text.startswith("{") else text)
    assert isinstance(value, dict)
    return value


def _check_settings(page: Page, block: Block) -> None:
    side, _, path = block.argument.partition(":")
    fragment = _settings_fragment(page.source(block))
    transport = _SERVER_TRANSPORT if side == "server" else _CLIENT_TRANSPORT
    backend = {"hosts": [page.redis_url]}
    settings: dict[str, Any] = {
        "transport": {"path": transport, "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": backend}}
    }
    target = settings
    for key in filter(None, path.split(".")):
        target = target.setdefault(key, {})
    target.update(fragment)
    (ServerSettings if side == "server" else ClientSettings)(settings)


def _check_json(page: Page, block: Block) -> None:
    assert isinstance(json.loads(block.body), dict), block.where


def _check_doctest(page: Page, block: Block) -> None:
    test = doctest.DocTestParser().get_doctest(block.body, page.namespace, block.where, block.page, block.line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    with contextlib.redirect_stdout(io.StringIO()) as report:
        runner.run(test)
    assert runner.failures == 0, report.getvalue()


def _check_pytest(page: Page, block: Block) -> None:
    # The module: the comment's imports and fixtures, then the block; with a leading "+", the page's code so
    # far first (the block continues it).
    continues = block.argument.startswith("+")
    fixtures = block.argument.removeprefix("+").replace("\\n", "\n")
    # serve() and start() of earlier setup code: the page's servers already run.
    prelude = f"REDIS_URL = {page.redis_url!r}\nserve = start = lambda *args, **kwargs: None"
    module = "\n\n".join([prelude, *(page.sources if continues else []), fixtures, page.source(block)])
    path = page.tmp_dir / f"test_{Path(block.page).stem}_{block.line}.py"
    path.write_text(module)
    # A pytest of its own, with the repository's examples/ importable as in the docs.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", path.name],
        cwd=page.tmp_dir,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0 and " passed" in summary, f"{block.where}:\n{result.stdout}\n{result.stderr}"


def _check_conformity(page: Page, block: Block) -> None:
    # Run by tests/conformity/test_docs_blocks.py in Conformity's environment; here it must at least compile.
    compile(block.argument + "\n" + block.body, block.where, "exec")
    assert (ROOT / "tests" / "conformity" / "test_docs_blocks.py").exists()


def _check_imports(page: Page, block: Block) -> None:
    pending = ""  # an old import whose "-> new" is on the next line
    for line in block.body.splitlines():
        if "->" not in line:
            pending = line.strip()
            continue
        old, new = (side.strip() for side in line.split("->"))
        renamed = re.sub(r"\bpysoa\b", "pysoa_like", old or pending)
        shown = new[:-3].strip() if new.endswith("...") else new
        assert renamed.startswith(shown), f"{block.where}: {new!r} is not {old or pending!r} renamed"
        page.execute(block, renamed)


def _check_acl(page: Page, block: Block) -> None:
    with redis.Redis.from_url(page.redis_url) as client:
        for number, line in enumerate(block.body.splitlines()):
            words = line.split()
            words = words[2:] if words[:2] == ["ACL", "SETUSER"] else [f"doc-user-{number}", *words]
            assert client.execute_command("ACL", "SETUSER", *words) in (b"OK", "OK", True), block.where


def _check_dockerfile(page: Page, block: Block) -> None:
    for line in block.body.splitlines():
        if " CMD " in f" {line} ":
            for words in _split(line.split("CMD", 1)[1]):
                check_command(words, block.where)


CHECKS = {
    "run": _check_run,
    "raises": _check_raises,
    "output": _check_output,
    "commands": _check_commands,
    "settings": _check_settings,
    "json": _check_json,
    "doctest": _check_doctest,
    "pytest": _check_pytest,
    "conformity": _check_conformity,
    "imports": _check_imports,
    "acl": _check_acl,
    "dockerfile": _check_dockerfile,
    "text": lambda page, block: None,
}
