"""What a newcomer meets first: ``pysoa-like --version``, and ``serve`` refusing a mistake before it forks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pysoa_like.server.exit_codes import EXIT_CONFIGURATION
from pysoa_like.test.redis import pick_free_port
from pysoa_like.version import __version__
from tests.functional.conftest import REPO_ROOT

_SERVER = "tests.functional.service:FunctionalServer"


def _pysoa_like(
    *arguments: str, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pysoa_like", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def test_version_prints_the_version_and_exits_0() -> None:
    """``pysoa-like --version`` prints the package version (and Python's) on stdout."""
    result = _pysoa_like("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"pysoa-like {__version__} (Python ")


@pytest.mark.parametrize("fork", ["0", "3"])
def test_a_settings_mistake_is_one_message_naming_the_key_and_exit_2(fork: str) -> None:
    """Checked before forking: one short message naming the key, no traceback, not once per worker, exit 2."""
    started = time.monotonic()
    result = _pysoa_like("serve", _SERVER, "--settings", "tests.functional.mistaken_settings", "--fork", fork)
    assert result.returncode == EXIT_CONFIGURATION
    assert time.monotonic() - started < 15  # no worker was started, let alone respawned
    assert result.stdout == ""
    assert result.stderr == (
        "pysoa-like serve: error: settings module 'tests.functional.mistaken_settings': Invalid ServerSettings:\n"
        "  - transport.kwargs.backend_layer_kwargs.hosts: expected a list whose items are each either a tuple "
        "(string, integer), a list of exactly 2 items or a string, got a string\n"
    )


@pytest.mark.parametrize(
    ("backend_layer_kwargs", "problem"),
    [
        (
            '{"hosts": ["http://127.0.0.1:1/0"]}',
            "hosts.0: unsupported URL scheme 'http' in a Redis host (use redis://, rediss:// or unix://)",
        ),
        (
            '{"hosts": ["redis://127.0.0.1:1/0"], "connection_kwargs": {"pasword": "x"}}',
            "connection_kwargs: pasword: not supported by the Redis transports; did you mean 'password'?",
        ),
    ],
)
def test_a_host_or_connection_keyword_the_transport_cannot_use_is_one_message_and_exit_2(
    tmp_path: Path, backend_layer_kwargs: str, problem: str
) -> None:
    """An http:// host (it was retried for ever as a host name) or a misspelt connection keyword (a worker's
    traceback at its first receive): one settings message naming the key, exit 2, nothing started."""
    (tmp_path / "host_settings.py").write_text(
        "SOA_SERVER_SETTINGS = {'transport': {\n"
        "    'path': 'pysoa_like.common.transport.redis_gateway.server:RedisServerTransport',\n"
        f"    'kwargs': {{'backend_type': 'redis.standard', 'backend_layer_kwargs': {backend_layer_kwargs}}}}}}}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    result = _pysoa_like("serve", _SERVER, "--settings", "host_settings", "--fork", "2", timeout=15, env=env)
    assert (result.returncode, result.stderr) == (
        EXIT_CONFIGURATION,
        "pysoa-like serve: error: settings module 'host_settings': Invalid ServerSettings:\n"
        f"  - transport.kwargs.backend_layer_kwargs.{problem}\n",
    )


def test_a_logging_class_that_cannot_be_imported_is_one_message_naming_the_key_and_exit_2(tmp_path: Path) -> None:
    """A handler class of the ``logging`` setting in a package that is not installed: one settings message naming
    the key, exit 2, nothing started (it was dictConfig's traceback in every worker, each respawned)."""
    (tmp_path / "logging_settings.py").write_text(
        "SOA_SERVER_SETTINGS = {'transport': {\n"
        "    'path': 'pysoa_like.common.transport.redis_gateway.server:RedisServerTransport',\n"
        "    'kwargs': {'backend_type': 'redis.standard', 'backend_layer_kwargs': {'hosts': ['redis://127.0.0.1:1/0']}}},\n"
        "  'logging': {'version': 1, 'handlers': {'remote': {'class': 'no_such_logging_package.Handler'}},\n"
        "    'root': {'handlers': ['remote']}}}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    result = _pysoa_like("serve", _SERVER, "--settings", "logging_settings", "--fork", "2", timeout=15, env=env)
    assert (result.returncode, result.stderr) == (
        EXIT_CONFIGURATION,
        "pysoa-like serve: error: settings module 'logging_settings': Invalid ServerSettings:\n"
        "  - logging.handlers.remote.class: cannot import 'no_such_logging_package.Handler': no module named "
        "'no_such_logging_package'\n",
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            [_SERVER, "--settings", "tests.functional.no_such_settings"],
            "pysoa-like serve: error: cannot import the settings module 'tests.functional.no_such_settings': "
            "No module named 'tests.functional.no_such_settings'\n",
        ),
        (
            [_SERVER],
            "pysoa-like serve: error: no settings: pass -s/--settings MODULE (a module defining SOA_SERVER_SETTINGS)\n",
        ),
        (
            [_SERVER, "--settings", "tests.functional.comma_settings"],
            "pysoa-like serve: error: SOA_SERVER_SETTINGS in settings module 'tests.functional.comma_settings' must be "
            "a dict, got tuple (a trailing comma after the closing brace makes a tuple)\n",
        ),
        (
            ["tests.functional.service:NoSuchServer", "--settings", "tests.functional.service"],
            "pysoa-like serve: error: cannot load the server class 'tests.functional.service:NoSuchServer': "
            "module 'tests.functional.service' has no attribute 'NoSuchServer'\n",
        ),
        (
            ["json:JSONDecoder", "--settings", "tests.functional.service"],
            "pysoa-like serve: error: cannot load the server class 'json:JSONDecoder': 'json:JSONDecoder' is not a "
            "Server subclass\n",
        ),
        (
            [_SERVER, "--settings", "tests.functional.service", "--metrics-port", "99999"],
            "pysoa-like serve: error: --metrics-port must be between 0 and 65535, got 99999\n",
        ),
    ],
)
def test_usage_mistakes_of_serve_are_one_line_and_exit_2(arguments: list[str], message: str) -> None:
    """A missing settings module, no settings at all, a wrong server class or a metrics port out of range: one
    line on stderr, exit 2."""
    result = _pysoa_like("serve", *arguments, "--fork", "2")
    assert (result.returncode, result.stderr) == (EXIT_CONFIGURATION, message)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--fork", "-1"], "argument -f/--fork: expected a whole number of worker processes, 0 or more, got '-1'"),
        (["--fork", "two"], "argument -f/--fork: expected a whole number of worker processes, 0 or more, got 'two'"),
        (
            ["--metrics-textfile", "{tmp}/metrics.prom", "--metrics-interval", "0"],
            "argument --metrics-interval: expected a number of seconds more than 0, got '0'",
        ),
        (
            ["--metrics-textfile", "{tmp}/metrics.prom", "--metrics-interval", "nan"],
            "argument --metrics-interval: expected a number of seconds more than 0, got 'nan'",
        ),
    ],
)
def test_an_option_out_of_range_is_a_usage_error(arguments: list[str], message: str, tmp_path: Path) -> None:
    """A --fork that is not a whole number from 0 (a negative one ran one process as if 0 were given) or a
    --metrics-interval that is not above 0 (the textfile was rewritten in a busy loop): refused before anything
    starts, exit 2, naming the option."""
    # Were the option taken, the service would serve a Redis nobody listens on, never the default one.
    env = {**os.environ, "FUNCTIONAL_REDIS_URL": f"redis://127.0.0.1:{pick_free_port()}/0"}
    arguments = [argument.format(tmp=tmp_path) for argument in arguments]
    result = _pysoa_like("serve", _SERVER, "--settings", "tests.functional.service", *arguments, timeout=15, env=env)
    assert result.returncode == EXIT_CONFIGURATION
    assert result.stderr.splitlines()[-1] == f"pysoa-like serve: error: {message}"


@pytest.mark.parametrize(
    ("server", "message"),
    [
        (
            "tests.functional.mistaken_servers:NamelessServer",
            "NamelessServer must set the class attribute service_name (the name clients call it by), got None",
        ),
        (
            "tests.functional.mistaken_servers:MismappedServer",
            "MismappedServer.action_class_map['echo'] must be an Action subclass (or a callable returning an action, "
            "or an async function), got 'tests.functional.service.EchoAction'",
        ),
        (
            "tests.functional.mistaken_servers:InstanceMappedServer",
            "InstanceMappedServer.action_class_map['echo'] must be an Action subclass, not an instance of it: map "
            "'echo' to EchoAction (an action is built from the class for every call)",
        ),
        (
            "tests.functional.mistaken_servers:FieldClassSchemaServer",
            "FieldClassSchemaServer (service 'field_class_schema'), action 'add': request_schema['number'] is the "
            "class Integer, not a field: write Integer() (an instance of it)",
        ),
        (
            "tests.functional.mistaken_servers:PlainTypeSchemaServer",
            "PlainTypeSchemaServer (service 'plain_type_schema'), action 'add[DEFAULT]': response_schema['numbers']"
            ".contents is the type int, not a field: write fields.Integer()",
        ),
        (
            "tests.functional.mistaken_servers:DictSchemaServer",
            "DictSchemaServer (service 'dict_schema'), action 'add': request_schema is a dict, not a field: wrap it "
            "in fields.Dictionary({...}), with a field for each key",
        ),
    ],
)
def test_a_server_class_without_a_name_or_with_an_action_that_is_not_callable_is_one_line_and_exit_2(
    server: str, message: str
) -> None:
    """Checked before forking: a missing service_name was an AttributeError traceback from every worker, an action
    mapped to a non-callable was served until the first call of that action failed, and so was an action whose
    schema holds a field class, a plain type or a dict where a field belongs (each call a SERVER_ERROR)."""
    env = {**os.environ, "FUNCTIONAL_REDIS_URL": f"redis://127.0.0.1:{pick_free_port()}/0"}
    result = _pysoa_like("serve", server, "--settings", "tests.functional.service", "--fork", "2", timeout=15, env=env)
    assert (result.returncode, result.stderr) == (EXIT_CONFIGURATION, f"pysoa-like serve: error: {message}\n")


# A module's source that raises while imported (a missing environment variable, a missing dependency) and the start
# of the error it is reported with.
_FAILING_SOURCES = [
    ('import os\n\nURL = os.environ["PYSOA_LIKE_TEST_UNSET_VARIABLE"]\n', "KeyError: 'PYSOA_LIKE_TEST_UNSET_VARIABLE'"),
    ("import no_such_dependency_of_the_module\n", "ModuleNotFoundError: No module named 'no_such_dependency_of"),
]


@pytest.mark.parametrize(("source", "failure"), _FAILING_SOURCES)
@pytest.mark.parametrize(
    ("module", "arguments", "what"),
    [
        (
            "failing_settings",
            ("serve", _SERVER, "--settings", "failing_settings", "--fork", "2"),
            "the settings module 'failing_settings'",
        ),
        (
            "failing_server",
            ("serve", "failing_server:Server", "--settings", "tests.functional.service"),
            "the server class 'failing_server:Server'",
        ),
    ],
)
def test_a_module_whose_code_fails_is_one_line_with_where_and_exit_2(
    tmp_path: Path, module: str, arguments: tuple[str, ...], what: str, source: str, failure: str
) -> None:
    """A settings module, or the server class's module, that raises while imported: one line with the error and the
    module-level line that failed, exit 2, checked once before forking (it was the import's traceback and exit 1,
    which a supervisor restarts; a missing dependency did not say where it was imported)."""
    (tmp_path / f"{module}.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    result = _pysoa_like(*arguments, timeout=15, env=env)
    assert result.returncode == EXIT_CONFIGURATION
    assert result.stderr.startswith(f"pysoa-like serve: error: importing {what} failed: {failure}")
    line = 3 if "environ" in source else 1
    assert result.stderr.endswith(f"({tmp_path / f'{module}.py'}, line {line})\n")
    assert result.stderr.count("\n") == 1


def test_a_server_module_failing_in_a_function_it_calls_names_the_line_that_raised(tmp_path: Path) -> None:
    """The server module's module-level code calls a function (of another module) that raises: the one line names
    the line that raised too, not only the module-level call (a bug's own line was hidden with its traceback)."""
    (tmp_path / "failing_helpers.py").write_text("def build_urls(hosts):\n    return len(hosts)\n")
    (tmp_path / "failing_server.py").write_text("from failing_helpers import build_urls\n\nURLS = build_urls(None)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    result = _pysoa_like("serve", "failing_server:Server", "--settings", "tests.functional.service", env=env)
    assert result.returncode == EXIT_CONFIGURATION
    assert result.stderr.startswith(
        "pysoa-like serve: error: importing the server class 'failing_server:Server' failed: TypeError: "
    )
    assert f"{tmp_path / 'failing_server.py'}, line 3" in result.stderr
    assert f"{tmp_path / 'failing_helpers.py'}, line 2" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("broken", ["settings", "server"])
def test_a_module_that_is_not_valid_python_is_one_line_naming_where_and_exit_2(tmp_path: Path, broken: str) -> None:
    """A syntax error in the settings module or the server's module: one line with the file, line, column and
    what is wrong, exit 2 (it was the import's traceback)."""
    (tmp_path / "broken_module.py").write_text("SOA_SERVER_SETTINGS = (\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    if broken == "settings":
        result = _pysoa_like("serve", _SERVER, "--settings", "broken_module", env=env)
        prefix = "the settings module 'broken_module' is not valid Python"
    else:
        result = _pysoa_like("serve", "broken_module:Server", "--settings", "tests.functional.service", env=env)
        prefix = "cannot load the server class 'broken_module:Server': not valid Python"
    assert (result.returncode, result.stderr) == (
        EXIT_CONFIGURATION,
        f"pysoa-like serve: error: {prefix}: {tmp_path / 'broken_module.py'}, line 1, column 23: '(' was never "
        "closed\n",
    )


def test_the_standalone_entry_point_checks_the_settings_the_same_way() -> None:
    """``python -m my_service.standalone -s ...`` (PySOA's simple_main) reports the mistake the same way."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pysoa_like.server.standalone import simple_main; "
            "from tests.functional.service import FunctionalServer; sys.argv[0] = 'standalone'; "
            "simple_main(lambda: FunctionalServer)",
            "-s",
            "tests.functional.mistaken_settings",
            "-f",
            "2",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == EXIT_CONFIGURATION
    assert result.stderr.startswith("standalone: error: settings module 'tests.functional.mistaken_settings'")
    assert "Traceback" not in result.stderr


def test_a_service_standalone_module_run_by_file_path_says_how_to_run_it(tmp_path: Path) -> None:
    """``python my_service/standalone.py``: Python puts ``my_service/`` on the import path instead of the current
    directory, so the server getter's import fails. One line with the import error and the way to run it, exit 2
    (it was the import's traceback and exit 1, which a supervisor restarts for ever)."""
    result = _run_standalone_by_path(
        tmp_path, "    from by_path_service.server import Server\n    return Server\n", dict(os.environ)
    )
    assert result.returncode == EXIT_CONFIGURATION
    assert result.stderr.startswith(
        "standalone.py: error: the server getter failed: ModuleNotFoundError: No module named 'by_path_service' ("
    )
    assert "python -m by_path_service.standalone" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_service_standalone_run_by_path_missing_a_dependency_is_not_told_to_run_it_as_a_module(
    tmp_path: Path,
) -> None:
    """Run by file path with its package importable (``PYTHONPATH=.``), the server getter fails on a dependency that
    is not installed: the one line names it, and does not say to run the module instead (that would not help)."""
    result = _run_standalone_by_path(
        tmp_path,
        "    import no_such_dependency_of_the_service\n    return no_such_dependency_of_the_service.Server\n",
        {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])},
    )
    assert result.returncode == EXIT_CONFIGURATION
    assert result.stderr.startswith(
        "standalone.py: error: the server getter failed: ModuleNotFoundError: No module named "
        "'no_such_dependency_of_the_service' ("
    )
    assert "python -m" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_service_standalone_run_by_path_with_its_package_importable_is_not_refused(tmp_path: Path) -> None:
    """Run by file path with its package importable (``PYTHONPATH=.``), a service's standalone.py imports the runner
    and reaches its server getter: it is not refused with exit code 99 on import, as PySOA's
    ``pysoa.server.standalone`` refused every program run by file path (see migrating.rst)."""
    result = _run_standalone_by_path(
        tmp_path,
        "    print('the server getter ran', flush=True)\n    raise SystemExit(0)\n",
        {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])},
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "the server getter ran\n", "")


def _run_standalone_by_path(tmp_path: Path, getter_body: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``python by_path_service/standalone.py`` (by file path) whose ``get_server`` runs ``getter_body``."""
    package = tmp_path / "by_path_service"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "standalone.py").write_text(
        "from pysoa_like.server.standalone import simple_main\n\n\n"
        f"def get_server():\n{getter_body}\n\n"
        'if __name__ == "__main__":\n'
        "    simple_main(get_server)\n"
    )
    return subprocess.run(
        [sys.executable, str(package / "standalone.py"), "-s", "by_path_service.settings"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
