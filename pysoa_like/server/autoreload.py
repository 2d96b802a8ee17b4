"""Development auto-reload: restart the server when a source file changes.

The process started by the user becomes a small *reloader* that runs the real server as a child
process (the same command, with ``PYSOA_RELOADER_RUN_MAIN=true`` in its environment) and starts it
again whenever it exits with :data:`NEED_RELOAD_EXIT_CODE`. In the child, a thread polls the
modification time of every loaded module's source file once a second (optionally only modules
whose names start with given prefixes). On a change it prints ``File change detected; reloading
server process``, sends itself SIGTERM (so the server, or the supervisor and its workers, shut down
gracefully) and the child exits with code 3. Any other exit code passes through the reloader.

The command is ``$PYSOA_RELOADER_WRAPPER_BIN`` (split like a shell would) followed by the original
arguments if that variable is set, else the interpreter, its ``-W`` options, and ``-m <module>``
or the script path, as the process was started.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

from pysoa_like.server.exit_codes import EXIT_RELOAD

__all__ = [
    "NEED_RELOAD_EXIT_CODE",
    "RELOADER_RUN_MAIN_ENV",
    "RELOADER_WRAPPER_BIN_ENV",
    "FileWatcher",
    "reloader_command",
    "run_with_reloader",
]

#: The child's exit code asking the reloader for a restart.
NEED_RELOAD_EXIT_CODE = EXIT_RELOAD
#: Set to ``true`` in the child's environment.
RELOADER_RUN_MAIN_ENV = "PYSOA_RELOADER_RUN_MAIN"
#: Overrides the command that starts the child.
RELOADER_WRAPPER_BIN_ENV = "PYSOA_RELOADER_WRAPPER_BIN"

# How long the child waits for a graceful shutdown after a change before it exits anyway.
_RELOAD_GRACE_SECONDS = 15.0


def _source_file(path: str) -> str:
    if path.endswith((".pyc", ".pyo")):
        return path[:-1]
    return path


class FileWatcher:
    """Polls loaded modules' source files for changes.

    Args:
        module_prefixes: Watch only modules whose names start with one of these (``None``: all).
        interval: Seconds between polls.
    """

    def __init__(self, module_prefixes: Sequence[str] | None = None, interval: float = 1.0) -> None:
        self.module_prefixes = tuple(module_prefixes) if module_prefixes else None
        self.interval = interval
        self._mtimes: dict[str, float] = {}
        self.changed_file: str | None = None

    def _files(self) -> set[str]:
        files: set[str] = set()
        for name, module in list(sys.modules.items()):
            if self.module_prefixes is not None and not name.startswith(self.module_prefixes):
                continue
            path = getattr(module, "__file__", None)
            if isinstance(path, str):
                files.add(_source_file(path))
        return files

    def check(self) -> str | None:
        """Poll once: the first file whose mtime changed since it was first seen, else ``None``."""
        for path in self._files():
            try:
                mtime = os.stat(path).st_mtime
            except OSError:
                continue
            previous = self._mtimes.setdefault(path, mtime)
            if mtime != previous:
                self.changed_file = path
                return path
        return None

    def watch(self, on_change: Callable[[str], None], stop: threading.Event) -> None:
        """Poll until a change (then call ``on_change`` once) or until ``stop`` is set."""
        self.check()
        while not stop.wait(self.interval):
            path = self.check()
            if path is not None:
                on_change(path)
                return


def reloader_command(argv: Sequence[str] | None = None) -> list[str]:
    """The command that starts the child server process, with the original arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    wrapper = os.environ.get(RELOADER_WRAPPER_BIN_ENV)
    if wrapper:
        return [*shlex.split(wrapper), *args]
    command = [sys.executable, *(f"-W{option}" for option in sys.warnoptions)]
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        name = spec.name
        command += ["-m", name[: -len(".__main__")] if name.endswith(".__main__") else name]
    else:
        command.append(sys.argv[0])
    return command + args


def _run_child(main: Callable[[], int | None], module_prefixes: Sequence[str] | None) -> int:
    watcher = FileWatcher(module_prefixes)
    stop = threading.Event()
    reloading = threading.Event()

    def on_change(path: str) -> None:
        print(f"File change detected; reloading server process ({path})", flush=True)
        reloading.set()
        os.kill(os.getpid(), signal.SIGTERM)
        # Whatever happens to the graceful shutdown, the reloader must get its exit code.
        if not stop.wait(_RELOAD_GRACE_SECONDS):
            os._exit(NEED_RELOAD_EXIT_CODE)

    thread = threading.Thread(target=watcher.watch, args=(on_change, stop), name="pysoa-like-reloader", daemon=True)
    thread.start()
    code: int | None = 1
    try:
        code = main()
    finally:
        stop.set()
    return NEED_RELOAD_EXIT_CODE if reloading.is_set() else (code or 0)


def _run_reloader(command: Sequence[str]) -> int:
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, frame: FrameType | None) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            child = subprocess.Popen(list(command), env=dict(os.environ, **{RELOADER_RUN_MAIN_ENV: "true"}))
            code = child.wait()
            if code != NEED_RELOAD_EXIT_CODE:
                return 128 - code if code < 0 else code
            time.sleep(0.1)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_with_reloader(
    main: Callable[[], int | None],
    module_prefixes: Sequence[str] | None = None,
    argv: Sequence[str] | None = None,
) -> int:
    """Run ``main`` under the reloader (in the parent) or under a file watcher (in the child).

    Args:
        main: Runs the server (or the supervisor) and returns an exit code.
        module_prefixes: Module name prefixes to watch (``None``: every loaded module).
        argv: The arguments to restart the child with (``sys.argv[1:]`` by default).

    Returns:
        The exit code for the process.
    """
    if os.environ.get(RELOADER_RUN_MAIN_ENV) == "true":
        return _run_child(main, module_prefixes)
    return _run_reloader(reloader_command(argv))
