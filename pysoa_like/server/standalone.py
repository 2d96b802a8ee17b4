"""The standalone runner: PySOA's ``simple_main`` / ``django_main`` entry points.

A service's ``standalone.py`` looks like::

    from pysoa_like.server.standalone import simple_main

    def get_server():
        from my_service.server import MyServer
        return MyServer

    if __name__ == "__main__":
        simple_main(get_server)

Flags (besides ``Server.main``'s ``-s/--settings`` and ``-d/--daemon``):

- ``-f/--fork-processes/--fork N``: run N workers (fork ids 1..N) under a supervising parent; 0 or
  1 runs the server in this process. Capped at 5 x the CPU count, with a warning.
- ``--no-respawn``: do not restart workers that exit.
- ``--use-file-watcher [mod1,mod2]``: restart on source changes (all loaded modules, or modules
  under the given comma-separated prefixes).

Run it with ``python -m my_service.standalone`` or an entry point. Run by file path
(``python my_service/standalone.py``), Python puts ``my_service/`` on the import path instead of the
current directory: ``get_server`` then cannot import the service, and the runner says how to run it
(exit 2). This module itself, run by file path, would import the service twice under two names, so
it refuses that with exit code 99.
"""

from __future__ import annotations

import sys

#: The exit code when this module is run by file path (the double-import trap).
DOUBLE_IMPORT_EXIT_CODE = 99  # exit_codes.EXIT_RUN_BY_PATH; a literal, since run by path nothing may be imported

# Refused before any other import: run by path, sys.path[0] is this package folder, whose types.py
# would shadow the standard library's `types` (argparse -> re -> enum -> types fails on most Pythons).
if __name__ == "__main__" and globals().get("__spec__") is None:
    print(
        "Do not run pysoa_like's standalone.py by file path: that imports your service twice under two names.\n"
        "Run your service's standalone module with `python -m my_service.standalone`, through an entry point,\n"
        "or with `pysoa-like serve my_service.server:MyServer --settings my_service.settings`.",
        file=sys.stderr,
    )
    sys.exit(DOUBLE_IMPORT_EXIT_CODE)

import argparse
import logging
import os
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pysoa_like.server.server import Server

__all__ = ["django_main", "make_standalone_parser", "run_standalone", "simple_main", "worker_processes"]

_logger = logging.getLogger("pysoa_like.server.standalone")

ServerGetter = Callable[[], "type[Server]"]


def worker_processes(text: str) -> int:
    """An argparse ``type`` for ``-f/--fork``: a whole number of worker processes, 0 or more.

    Raises:
        argparse.ArgumentTypeError: ``text`` is not a whole number, or is negative (argparse reports it as a
            usage error naming the option, exit 2).
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of worker processes, 0 or more, got {text!r}")
    return value


def make_standalone_parser(django: bool = False) -> argparse.ArgumentParser:
    """The parser of the runner's flags (``-s/--settings`` and ``-d/--daemon`` included)."""
    parser = argparse.ArgumentParser(description="Run a pysoa_like service")
    parser.add_argument(
        "-s",
        "--settings",
        help="Django settings module (DJANGO_SETTINGS_MODULE)" if django else "The server settings module",
    )
    parser.add_argument("-d", "--daemon", action="store_true", help="Run in the background (prints PID=<pid>)")
    parser.add_argument(
        "-f",
        "--fork-processes",
        "--fork",
        dest="fork",
        type=worker_processes,
        default=0,
        help="Worker processes (0/1: none)",
    )
    parser.add_argument("--no-respawn", action="store_true", help="Do not restart workers that exit")
    parser.add_argument(
        "--use-file-watcher",
        nargs="?",
        const="",
        default=None,
        metavar="MODULES",
        help="Restart on source changes (optionally only under these comma-separated module prefixes)",
    )
    return parser


def _worker_count(requested: int) -> int:
    cap = 5 * (os.cpu_count() or 1)
    if requested > cap:
        _logger.warning("Capping --fork %d at %d worker processes (5 x the CPU count)", requested, cap)
        return cap
    return requested


def _start_worker(server_class: type[Server], fork_id: int) -> int:
    from pysoa_like.server._supervisor import reset_signals_in_worker

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        reset_signals_in_worker()
        server_class.main(forked_process_id=fork_id)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        # Never return into the parent's code (its finally blocks, atexit functions, the supervisor loop).
        os._exit(code)


def _serve(
    server_class: type[Server], fork: int, respawn: bool, on_worker_exit: Callable[[int, bool], None] | None = None
) -> int:
    workers = _worker_count(fork)
    if workers <= 1:
        try:
            server_class.main()
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return 0
    from pysoa_like.server._supervisor import WorkerSupervisor

    server_class.pre_fork()
    supervisor = WorkerSupervisor(
        lambda fid: _start_worker(server_class, fid), workers, respawn, _logger, on_exit=on_worker_exit
    )
    return supervisor.run()


def run_standalone(
    server_getter: ServerGetter,
    argv: Sequence[str] | None = None,
    django: bool = False,
    reload_argv: Sequence[str] | None = None,
    on_worker_exit: Callable[[int, bool], None] | None = None,
    prog: str | None = None,
) -> int:
    """Run a service as the command line says (fork, respawn, file watcher) and return the exit code.

    The settings are checked first, before any worker is forked: a mistake is reported as one message on
    stderr naming the key, and the exit code is 2.

    Args:
        server_getter: Returns the server class (imported lazily, after the flags are parsed).
        argv: The arguments (``sys.argv[1:]`` by default); ``Server.main`` re-reads ``sys.argv``.
        django: Whether ``-s`` names Django's settings module.
        reload_argv: The arguments the file watcher restarts the process with (default: ``argv``).
        on_worker_exit: Told ``(pid, respawned)`` after each forked worker exits (``--fork`` 2 or more).
        prog: The program name that starts an error message (the script's name by default).

    Returns:
        The process exit code (:mod:`pysoa_like.server.exit_codes`).
    """
    parser = make_standalone_parser(django)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if django and args.settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = args.settings
    from pysoa_like.server._main import StartupError, resolve_server_settings
    from pysoa_like.server.exit_codes import EXIT_CONFIGURATION

    try:
        server_class = server_getter()
    except ImportError as exc:
        from pysoa_like.server._main import import_failure_text

        message = f"the server getter failed: {import_failure_text(exc)}{_run_by_path_hint(exc)}"
        print(f"{prog or parser.prog}: error: {message}", file=sys.stderr)
        return EXIT_CONFIGURATION
    try:
        # Checked once here, before any fork: a mistake is one message, not a traceback per worker.
        resolve_server_settings(server_class, args.settings, setup_django=False)
    except StartupError as exc:
        print(f"{prog or parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_CONFIGURATION

    def serve() -> int:
        return _serve(server_class, args.fork, not args.no_respawn, on_worker_exit)

    if args.use_file_watcher is None:
        return serve()
    from pysoa_like.server.autoreload import run_with_reloader

    prefixes = [p.strip() for p in args.use_file_watcher.split(",") if p.strip()] or None
    return run_with_reloader(serve, prefixes, argv if reload_argv is None else reload_argv)


def _run_by_path_hint(exc: ImportError) -> str:
    """How to run the service's standalone module when it was run by file path (whose folder then stands on the
    import path instead of the current directory) and ``exc`` is its own package that could not be imported; else
    nothing (a missing dependency is not found by running the module instead)."""
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if main is None or getattr(main, "__spec__", None) is not None or not main_file:
        return ""
    script = os.path.abspath(main_file)
    parts = [os.path.splitext(os.path.basename(script))[0]]
    folder = os.path.dirname(script)
    while os.path.exists(os.path.join(folder, "__init__.py")):
        parts.insert(0, os.path.basename(folder))
        folder = os.path.dirname(folder)
    if len(parts) == 1 or (exc.name or "").split(".")[0] != parts[0]:
        return ""
    return (
        f"; run it as a module from {folder}: `python -m {'.'.join(parts)}` (run by file path, Python puts the "
        "script's folder on the import path instead of the current directory)"
    )


def _exit_on_failure(code: int) -> None:
    """Return after a clean stop, as PySOA's entry points do; exit with ``code`` when it says the service failed."""
    if code:
        sys.exit(code)


def simple_main(server_getter: ServerGetter) -> None:
    """The entry point of a non-Django service; returns when the service stops cleanly.

    Args:
        server_getter: Returns the server class.

    Raises:
        SystemExit: With the non-zero exit code, when the service failed (so a supervisor sees it).
    """
    _exit_on_failure(run_standalone(server_getter))


def django_main(server_getter: ServerGetter) -> None:
    """The entry point of a Django service (``-s`` sets ``DJANGO_SETTINGS_MODULE``); returns on a clean stop.

    Args:
        server_getter: Returns the server class (with ``use_django = True``).

    Raises:
        SystemExit: With the non-zero exit code, when the service failed.
    """
    _exit_on_failure(run_standalone(server_getter, django=True))
