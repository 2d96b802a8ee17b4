"""Server.main, the standalone runner's flags, the pysoa-like command and the reloader helpers."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pysoa_like.cli import load_server_class, make_parser
from pysoa_like.common import fields
from pysoa_like.common.schema import resolve_schema
from pysoa_like.server import standalone
from pysoa_like.server._main import check_server_class, load_settings_module, server_main
from pysoa_like.server.action import Action
from pysoa_like.server.autoreload import FileWatcher, reloader_command
from pysoa_like.server.exit_codes import EXIT_CONFIGURATION
from pysoa_like.server.server import Server
from tests.functional.mistaken_servers import FieldClassSchemaServer

_REPO = Path(__file__).resolve().parents[3]
_SETTINGS = "tests.unit.server._settings_module"


class RecordingServer(Server):
    """Records how it was built and run instead of serving."""

    service_name = "recording"
    runs: ClassVar[list[Any]] = []

    def run(self) -> None:
        type(self).runs.append((type(self).__name__, self.forked_process_id, self.settings["transport"]["path"]))


def test_main_loads_the_settings_module_and_runs_the_initialized_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """-s names a module whose SOA_SERVER_SETTINGS build the server; initialize may swap the class."""
    monkeypatch.setattr("logging.config.dictConfig", lambda config: None)

    class Patched(RecordingServer):
        pass

    monkeypatch.setattr(RecordingServer, "initialize", classmethod(lambda cls, settings: Patched))
    RecordingServer.runs.clear()
    server_main(RecordingServer, 2, ["-s", "tests.unit.server._settings_module", "--fork", "3"])
    assert RecordingServer.runs == [("Patched", 2, "tests.unit.server._helpers:QueueServerTransport")]


class FieldClassSchemaRecordingServer(RecordingServer):
    """Serves an action whose request schema holds a field class where its instance belongs."""

    service_name = "field_class_schema"
    action_class_map: ClassVar[dict[str, Any]] = dict(FieldClassSchemaServer.action_class_map)


@pytest.mark.parametrize(
    ("server", "arguments", "message"),
    [
        (RecordingServer, [], "no settings: pass -s/--settings MODULE (a module defining SOA_SERVER_SETTINGS)"),
        (
            RecordingServer,
            ["-s", "tests.unit.server.no_such_settings"],
            "cannot import the settings module 'tests.unit.server.no_such_settings': No module named "
            "'tests.unit.server.no_such_settings'",
        ),
        (
            RecordingServer,
            ["-s", "tests.functional.mistaken_settings"],
            "settings module 'tests.functional.mistaken_settings': Invalid ServerSettings:\n"
            "  - transport.kwargs.backend_layer_kwargs.hosts: expected a list",
        ),
        (
            FieldClassSchemaRecordingServer,
            ["-s", _SETTINGS],
            "FieldClassSchemaRecordingServer (service 'field_class_schema'), action 'add': request_schema['number'] "
            "is the class Integer, not a field: write Integer() (an instance of it)",
        ),
    ],
)
def test_server_main_reports_a_startup_mistake_in_one_line_and_exits_2(
    server: type[Server],
    arguments: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Server.main says what is wrong on stderr (one line; invalid settings a line per key) and exits 2, as
    simple_main and pysoa-like serve do (it raised the error: a traceback and exit 1, which a supervisor restarts)."""
    RecordingServer.runs.clear()
    monkeypatch.setattr(sys, "argv", ["my_service", *arguments])
    with pytest.raises(SystemExit) as raised:
        server.main()
    assert raised.value.code == EXIT_CONFIGURATION
    stderr = capsys.readouterr().err
    assert stderr.startswith(f"my_service: error: {message}") and "Traceback" not in stderr
    assert RecordingServer.runs == []


def test_settings_module_needs_a_settings_dict() -> None:
    """A module with neither SOA_SERVER_SETTINGS nor settings is refused with a clear message."""
    with pytest.raises(ValueError, match="neither SOA_SERVER_SETTINGS nor settings"):
        load_settings_module("tests.unit.server.test_main")


def test_standalone_parser_accepts_pysoa_flags() -> None:
    """-f/--fork-processes/--fork, --no-respawn and --use-file-watcher [mods] parse as in PySOA."""
    parser = standalone.make_standalone_parser()
    args = parser.parse_args(["-f", "4", "--no-respawn", "--use-file-watcher", "a,b", "-s", "m", "-d"])
    assert (args.fork, args.no_respawn, args.use_file_watcher, args.settings, args.daemon) == (
        4,
        True,
        "a,b",
        "m",
        True,
    )
    assert parser.parse_args(["--fork-processes", "2", "--use-file-watcher"]).use_file_watcher == ""
    assert parser.parse_args([]).use_file_watcher is None


@pytest.mark.parametrize("fork", ["-1", "1.5", "many"])
def test_standalone_parser_refuses_a_fork_count_that_is_not_a_whole_number_from_0(
    fork: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The standalone runner's -f/--fork is a usage error (exit 2) unless it is a whole number, 0 or more."""
    with pytest.raises(SystemExit) as raised:
        standalone.make_standalone_parser().parse_args(["--fork", fork])
    assert raised.value.code == 2
    assert "expected a whole number of worker processes, 0 or more" in capsys.readouterr().err


def test_fork_count_is_capped(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """More than 5 x CPU workers are capped, with a warning."""
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert standalone._worker_count(50) == 10
    assert "Capping --fork 50 at 10" in caplog.text


def test_unforked_runner_runs_main_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """--fork 0 or 1 runs Server.main() in this process with no fork id."""
    calls: list[Any] = []
    monkeypatch.setattr(
        RecordingServer, "main", classmethod(lambda cls, forked_process_id=None: calls.append(forked_process_id))
    )
    assert standalone.run_standalone(lambda: RecordingServer, ["--fork", "1", "-s", _SETTINGS]) == 0
    assert calls == [None]


@pytest.mark.parametrize("entry_point", [standalone.simple_main, standalone.django_main])
def test_entry_points_return_after_a_clean_stop(monkeypatch: pytest.MonkeyPatch, entry_point: Any) -> None:
    """simple_main and django_main return (no SystemExit) when the service stops cleanly, as in PySOA."""
    calls: list[Any] = []
    monkeypatch.setattr(
        RecordingServer, "main", classmethod(lambda cls, forked_process_id=None: calls.append(forked_process_id))
    )
    monkeypatch.setattr(sys, "argv", ["/path/to/service/standalone.py", "-s", _SETTINGS])
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    assert entry_point(lambda: RecordingServer) is None
    assert calls == [None]


def test_entry_points_exit_with_a_failure_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """A service that failed (non-zero exit code) still makes simple_main exit with that code."""
    monkeypatch.setattr(standalone, "run_standalone", lambda server_getter, django=False: 3)
    with pytest.raises(SystemExit) as info:
        standalone.simple_main(lambda: RecordingServer)
    assert info.value.code == 3


def test_running_standalone_by_path_exits_99() -> None:
    """`python .../standalone.py` is refused with exit code 99 (the double-import trap)."""
    result = subprocess.run(
        [sys.executable, str(_REPO / "pysoa_like/server/standalone.py")], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 99
    assert "imports your service twice" in result.stderr


def test_cli_parses_serve() -> None:
    """`pysoa-like serve module:Class --settings m --fork 2 --reload` parses."""
    args = make_parser().parse_args(["serve", "a.b:C", "--settings", "m", "--fork", "2", "--reload"])
    assert (args.server, args.settings, args.fork, args.reload) == ("a.b:C", "m", 2, "")


def test_cli_loads_server_classes_and_refuses_other_objects() -> None:
    """module:Class must name a Server subclass."""
    assert load_server_class("tests.unit.server.test_main:RecordingServer") is RecordingServer
    with pytest.raises(ValueError, match="not a Server subclass"):
        load_server_class("tests.unit.server.test_main:_REPO")
    with pytest.raises(ValueError, match="Expected module:ClassName"):
        load_server_class("nodots")


def test_python_dash_m_pysoa_like_shows_help() -> None:
    """`python -m pysoa_like serve --help` runs the command."""
    result = subprocess.run(
        [sys.executable, "-m", "pysoa_like", "serve", "--help"], capture_output=True, text=True, timeout=20, cwd=_REPO
    )
    assert result.returncode == 0 and "--reload" in result.stdout


def test_reloader_command_uses_the_wrapper_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """PYSOA_RELOADER_WRAPPER_BIN replaces the interpreter command; else the interpreter restarts the same way."""
    monkeypatch.setenv("PYSOA_RELOADER_WRAPPER_BIN", "/usr/bin/env python3 -X dev")
    assert reloader_command(["serve", "x:Y"]) == ["/usr/bin/env", "python3", "-X", "dev", "serve", "x:Y"]
    monkeypatch.delenv("PYSOA_RELOADER_WRAPPER_BIN")
    assert reloader_command(["a"])[0] == sys.executable and reloader_command(["a"])[-1] == "a"


def test_file_watcher_reports_a_changed_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loaded module whose source mtime changes is reported; modules outside the prefixes are not watched."""
    source = tmp_path / "watched_module_xyz.py"
    source.write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("watched_module_xyz")
    try:
        watcher = FileWatcher(["watched_module_xyz"])
        assert watcher.check() is None
        other = FileWatcher(["no_such_prefix"])
        other.check()
        stamp = time.time() + 5
        import os

        os.utime(source, (stamp, stamp))
        assert watcher.check() == str(source)
        assert other.check() is None
    finally:
        sys.modules.pop("watched_module_xyz", None)


class _RequestSchemaOnEachAction(Action):
    """Computes its request schema for each action (a property), as some PySOA services do."""

    @property
    def request_schema(self) -> Any:  # type: ignore[override]
        return fields.Dictionary({"number": fields.Integer()})

    def run(self, request: Any) -> dict[str, Any]:
        return {}


class _RequestSchemaCachedOnEachAction(_RequestSchemaOnEachAction):
    """Computes its request schema once for each action (functools.cached_property)."""

    @functools.cached_property
    def request_schema(self) -> Any:  # type: ignore[override]
        return fields.Dictionary({"number": fields.Integer()})


@pytest.mark.parametrize("action_class", [_RequestSchemaOnEachAction, _RequestSchemaCachedOnEachAction])
def test_a_schema_computed_for_each_action_is_not_checked_at_startup(action_class: type[Action]) -> None:
    """A property (or any descriptor) on the action class is not a schema: the server starts (it was refused as
    'request_schema is a property, not a field'), and each action validates with what the property gives."""
    action_class_map = {"a": action_class}
    server_class = type("PropertySchemaServer", (Server,), {"service_name": "p", "action_class_map": action_class_map})
    check_server_class(server_class)
    action = action_class()
    assert resolve_schema(action.request_schema).errors({"number": 1}) == []


_SYSLOG_SERVICE = '''
import logging

from pysoa_like.server.server import Server


class SysloggingServer(Server):
    """Logs one line instead of serving."""

    service_name = "syslogged"

    def run(self) -> None:
        logging.getLogger("syslogged").info("started")


if __name__ == "__main__":
    SysloggingServer.main()
'''


def _run_syslogging_server(tmp_path: Path, logging_setting: str) -> subprocess.CompletedProcess[str]:
    """Run Server.main of a server that logs one INFO line, in a process of its own (dictConfig changes the
    process's logging), with settings whose ``logging`` is ``logging_setting``."""
    (tmp_path / "syslogging_service.py").write_text(_SYSLOG_SERVICE)
    (tmp_path / "syslogging_settings.py").write_text(
        "SOA_SERVER_SETTINGS = {\n"
        "    'transport': {'path': 'tests.unit.server._helpers:QueueServerTransport'},\n"
        f"    'logging': {logging_setting},\n"
        "}\n"
    )
    return subprocess.run(
        [sys.executable, str(tmp_path / "syslogging_service.py"), "-s", "syslogging_settings"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=_REPO,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(_REPO)])},
        check=False,
    )


def test_pysoa_settings_moving_the_default_syslog_handler_log_there(tmp_path: Path) -> None:
    """PySOA settings that give the default ``syslog`` handler an address and attach it start the server, whose log
    lines reach that address in PySOA's syslog format (they passed the settings check, then every worker died in
    dictConfig: the handler had no class)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(30)
        port = receiver.getsockname()[1]
        result = _run_syslogging_server(
            tmp_path,
            f"{{'handlers': {{'syslog': {{'address': ['127.0.0.1', {port}]}}}}, "
            "'root': {'handlers': ['console', 'syslog']}}",
        )
        assert (result.returncode, "Traceback" in result.stderr) == (0, False), result.stderr
        datagram = receiver.recv(65536)
    # LOCAL7 (23) and INFO (6): priority 23 * 8 + 6
    assert datagram.startswith(b"<190>syslogged_service: syslogged INFO syslogging_service ")
    assert b" started" in datagram
    assert "started" in result.stderr  # (the console too)


def test_pysoa_settings_attaching_the_default_syslog_handler_start(tmp_path: Path) -> None:
    """``"root": {"handlers": ["console", "syslog"]}`` with PySOA's default syslog handler starts the server (it was
    refused: "references handler syslog, which is not configured")."""
    result = _run_syslogging_server(tmp_path, "{'root': {'handlers': ['console', 'syslog']}}")
    assert (result.returncode, "Traceback" in result.stderr) == (0, False), result.stderr
    assert "started" in result.stderr


@pytest.mark.parametrize(
    ("logging_setting", "built"),
    [
        (None, False),
        ({"handlers": {"syslog": {"address": ["127.0.0.1", 5514]}}}, False),
        ({"loggers": {"audit": {"handlers": ["syslog"]}}}, True),
        (
            {"handlers": {"buffer": {"class": "logging.handlers.MemoryHandler", "capacity": 9, "target": "syslog"}}},
            True,
        ),
    ],
    ids=["the defaults", "moved, not attached", "a logger's", "a handler's target"],
)
def test_the_default_syslog_handler_is_built_only_when_used(
    logging_setting: dict[str, Any] | None, built: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dictConfig builds every handler it is given, and a syslog handler opens its socket when built: the server
    gives it the default ``syslog`` handler only when a logger or another handler names it."""
    configured: list[dict[str, Any]] = []
    monkeypatch.setattr("logging.config.dictConfig", configured.append)
    settings: dict[str, Any] = {"transport": {"path": "tests.unit.server._helpers:QueueServerTransport"}}
    if logging_setting is not None:
        settings["logging"] = logging_setting
    module = f"syslog_use_settings_{tmp_path.name}"  # (one module per case: imported modules stay imported)
    (tmp_path / f"{module}.py").write_text(f"SOA_SERVER_SETTINGS = {settings!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    server_main(RecordingServer, None, ["-s", module])
    (config,) = configured
    assert ("syslog" in config["handlers"], "console" in config["handlers"]) == (built, True)
