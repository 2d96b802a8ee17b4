"""The ``pysoa-like`` command (also ``python -m pysoa_like``).

``pysoa-like serve module:ServerClass --settings module [--fork N] [--no-respawn] [--reload]
[--daemon]`` runs a service with the standalone runner. The current directory is put on the
import path first, so ``my_service.server:MyServer`` resolves as it would for ``python -m``.

The other commands (``call``, ``shell``, ``services``, ``status``, ``health``, ``introspect``,
``show-config``, ``dashboard``, ``gateway``) live in :mod:`pysoa_like._cli`; they exit with 0 (success), 1 (the service
answered with errors), 2 (usage error) or 3 (transport error or timeout); ``serve`` exits with the
codes of :mod:`pysoa_like.server.exit_codes` (2 for a settings mistake, found before any worker starts).
``pysoa-like --version`` prints the version.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pysoa_like.version import __version__

if TYPE_CHECKING:
    from pysoa_like.server.server import Server

__all__ = ["load_server_class", "main", "make_parser"]

_EXAMPLES = """\
examples:
  pysoa-like serve my_service.server:MyServer --settings my_service.settings --fork 4
  pysoa-like services --redis-url redis://127.0.0.1:6379/0
  pysoa-like call calculator square number=7 --redis-url redis://127.0.0.1:6379/0
  pysoa-like health calculator --settings my_service.settings
  pysoa-like dashboard --redis-url redis://127.0.0.1:6379/0 --port 8050
  pysoa-like gateway --settings my_app.settings --port 8080

`pysoa-like COMMAND --help` shows each command's options and examples.
"""


def make_parser() -> argparse.ArgumentParser:
    """The parser of the ``pysoa-like`` command."""
    parser = argparse.ArgumentParser(
        prog="pysoa-like",
        description="pysoa_like command line tools",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"pysoa-like {__version__} (Python {platform.python_version()})"
    )
    from pysoa_like.server.standalone import worker_processes

    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="Run a service")
    serve.add_argument("server", help="The server class as module:ClassName")
    serve.add_argument("-s", "--settings", help="The settings module (Django's settings module for use_django servers)")
    serve.add_argument(
        "-f", "--fork", type=worker_processes, default=0, help="Worker processes (0/1: run in this process)"
    )
    serve.add_argument("--no-respawn", action="store_true", help="Do not restart workers that exit")
    serve.add_argument(
        "--reload",
        nargs="?",
        const="",
        default=None,
        metavar="MODULES",
        help="Restart on source changes (optionally only under these comma-separated module prefixes)",
    )
    serve.add_argument("-d", "--daemon", action="store_true", help="Run in the background (prints PID=<pid>)")
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="json: every log line as one JSON object (request id, correlation id, service, action, duration, "
        "outcome); text: as the settings say (default)",
    )
    from pysoa_like._cli import add_commands
    from pysoa_like._cli._serve_metrics import add_serve_metrics_arguments

    add_serve_metrics_arguments(serve)

    add_commands(commands)
    return parser


def load_server_class(path: str) -> type[Server]:
    """Import ``module:ClassName`` (``module.ClassName`` works too).

    Raises:
        ValueError: The path is malformed or does not name a Server subclass.
    """
    from pysoa_like.server.server import Server

    module_name, _, attribute = path.partition(":") if ":" in path else path.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"Expected module:ClassName, got {path!r}")
    value = getattr(importlib.import_module(module_name), attribute)
    if not (isinstance(value, type) and issubclass(value, Server)):
        raise ValueError(f"{path!r} is not a Server subclass")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pysoa-like`` command.

    Args:
        argv: The arguments (``sys.argv[1:]`` by default).

    Returns:
        The exit code.
    """
    original_argv = list(sys.argv[1:] if argv is None else argv)
    args = make_parser().parse_args(original_argv)
    if getattr(args, "run", None) is not None:
        return _run_command(args)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if args.log_format:
        from pysoa_like.server._overrides import LOG_FORMAT_ENV

        os.environ[LOG_FORMAT_ENV] = args.log_format
    from pysoa_like.server._main import import_failure_text, raised_by_module_code, syntax_error_text
    from pysoa_like.server.exit_codes import EXIT_CONFIGURATION

    try:
        server_class = load_server_class(args.server)
    except SyntaxError as exc:
        problem = f"not valid Python: {syntax_error_text(exc)}"
        print(f"pysoa-like serve: error: cannot load the server class {args.server!r}: {problem}", file=sys.stderr)
        return EXIT_CONFIGURATION
    except Exception as exc:
        if raised_by_module_code(exc):  # the module's own code (a missing environment variable or dependency)
            message = f"importing the server class {args.server!r} failed: {import_failure_text(exc)}"
        elif isinstance(exc, (ImportError, AttributeError, ValueError)):
            message = f"cannot load the server class {args.server!r}: {exc}"
        else:
            raise
        print(f"pysoa-like serve: error: {message}", file=sys.stderr)
        return EXIT_CONFIGURATION
    from pysoa_like._cli._common import CommandError
    from pysoa_like._cli._serve_metrics import start_serve_metrics
    from pysoa_like.server.standalone import run_standalone

    try:
        exposition = start_serve_metrics(args, server_class)
    except CommandError as exc:
        print(f"pysoa-like serve: error: {exc}", file=sys.stderr)
        return exc.exit_code

    runner_argv: list[str] = ["--fork", str(args.fork)]
    if args.settings:
        runner_argv += ["--settings", args.settings]
    if args.no_respawn:
        runner_argv.append("--no-respawn")
    if args.daemon:
        runner_argv.append("--daemon")
    if args.reload is not None:
        runner_argv += ["--use-file-watcher", args.reload] if args.reload else ["--use-file-watcher"]
    # Server.main parses sys.argv itself (PySOA's contract): give it the runner's form of the flags.
    sys.argv = [sys.argv[0], *runner_argv]
    return run_standalone(
        lambda: server_class,
        runner_argv,
        django=server_class.use_django,
        reload_argv=original_argv,
        on_worker_exit=exposition.worker_exited if exposition is not None else None,
        prog="pysoa-like serve",
    )


def _run_command(args: argparse.Namespace) -> int:
    """Run one of the commands of :mod:`pysoa_like._cli`: its problems as one line on stderr, no traceback."""
    from pysoa_like._cli._common import CommandError, Output

    output = Output()
    try:
        code: int = args.run(args, output)
    except CommandError as exc:
        output.problem(f"pysoa-like {args.command}: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        output.problem(f"pysoa-like {args.command}: interrupted")
        return 130
    finally:
        with contextlib.suppress(OSError, ValueError):
            output.stdout.flush()
    return code
