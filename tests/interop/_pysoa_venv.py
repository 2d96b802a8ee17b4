"""Build (once) and find the private virtualenv holding the real PySOA 1.4.9 for the interop tests.

The venv lives in ``<repo>/.interop-venv/<python version>/`` (git-ignored; one per interpreter, so
runs on several Pythons side by side never rebuild each other's). It is built with the interpreter
that runs the tests (``sys.executable -m venv``) and ``pip install --require-hashes`` of
``pysoa-requirements.txt``: PySOA 1.4.9 with its own pins (redis 3.5.x, msgpack 0.6.x, attrs 21.x,
conformity, pymetrics, currint, pytz, six) locked to exact releases, plus setuptools on Python 3.12+
(redis 3.5.3 needs its distutils shim). A marker file written last records that the build finished,
for which PySOA, Python and requirements; a venv without a matching marker is deleted and rebuilt.
An exclusive file lock (in the temp directory) makes parallel test workers wait for one build
instead of racing.

Nothing here skips: when the venv cannot be built, :func:`ensure_pysoa_venv` raises
:class:`PySOAVenvError` whose message holds the failing command and its full output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = [
    "PYSOA_REQUIREMENT",
    "PYSOA_VERSION",
    "REQUIREMENTS_FILE",
    "PySOAVenv",
    "PySOAVenvError",
    "default_venv_dir",
    "ensure_pysoa_venv",
    "venv_is_complete",
]

PYSOA_VERSION = "1.4.9"
PYSOA_REQUIREMENT = f"pysoa=={PYSOA_VERSION}"
# The locked install (from pysoa-requirements.in by `make lock`): every release pinned, with its hashes.
REQUIREMENTS_FILE = Path(__file__).with_name("pysoa-requirements.txt")
# Bump when the build recipe changes, so stale venvs are rebuilt.
_RECIPE = 3
_MARKER_NAME = ".pysoa-interop-complete.json"
# Generous: a cold pip install with a source build of msgpack 0.6 can take a minute or two.
_COMMAND_TIMEOUT_SECONDS = 600
# What the scripts under pysoa_side/ import; checked after install so a broken venv fails the build.
_IMPORT_CHECK = (
    "import json, pysoa, pysoa.client.client, pysoa.server.server, redis, msgpack, pytz, currint;"
    "from pysoa.common.transport.redis_gateway.client import RedisClientTransport;"
    "print(json.dumps({'pysoa': pysoa.__version__, 'redis': redis.__version__,"
    " 'msgpack': '.'.join(map(str, msgpack.version))}))"
)


class PySOAVenvError(RuntimeError):
    """The PySOA venv could not be built; the message holds the failing command and its output."""


@dataclasses.dataclass(frozen=True)
class PySOAVenv:
    """A complete PySOA venv.

    Attributes:
        directory: The venv root.
        python: Its interpreter.
        versions: Versions of the key packages inside (``pysoa``, ``redis``, ``msgpack``).
        build_seconds: How long the build took (when it was built), from the marker.
        built_now: Whether this call built it (``False``: reused from the cache).
    """

    directory: Path
    python: Path
    versions: dict[str, str]
    build_seconds: float
    built_now: bool


def default_venv_dir() -> Path:
    """``<repo>/.interop-venv/<python version>``, the cached location (git-ignored)."""
    return Path(__file__).resolve().parents[2] / ".interop-venv" / _python_tag()


def _python_tag() -> str:
    return "{}.{}.{}".format(*sys.version_info[:3])


def _requirements_digest() -> str:
    return hashlib.sha256(REQUIREMENTS_FILE.read_bytes()).hexdigest()[:16]


def _venv_python(directory: Path) -> Path:
    return directory / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _expected_marker() -> dict[str, object]:
    return {"recipe": _RECIPE, "pysoa": PYSOA_VERSION, "python": _python_tag(), "requirements": _requirements_digest()}


def _read_marker(directory: Path) -> dict[str, object] | None:
    try:
        data = json.loads((directory / _MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def venv_is_complete(directory: Path | None = None) -> bool:
    """Whether ``directory`` holds a finished build for this PySOA version and this Python.

    Args:
        directory: The venv root; ``None`` means :func:`default_venv_dir`.

    Returns:
        ``True`` if the marker matches and the interpreter exists.
    """
    directory = directory or default_venv_dir()
    marker = _read_marker(directory)
    if marker is None or not _venv_python(directory).exists():
        return False
    return all(marker.get(key) == value for key, value in _expected_marker().items())


def _lock_path(directory: Path) -> Path:
    # In the temp dir, not the repo: a rebuild deletes the venv, and the repo should stay clean.
    digest = hashlib.sha256(str(directory.resolve()).encode("utf-8")).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"pysoa-interop-venv-{digest}.lock"


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _run(command: Sequence[str], log: list[str]) -> str:
    log.append("$ " + " ".join(command))
    # Keep the user's pip configuration (indexes, certificates) but never a parent venv's.
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    try:
        completed = subprocess.run(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            timeout=_COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.append(f"failed to run: {exc!r}")
        raise PySOAVenvError("\n".join(log)) from exc
    log.append(completed.stdout)
    if completed.returncode != 0:
        log.append(f"exit status {completed.returncode}")
        raise PySOAVenvError("\n".join(log))
    return completed.stdout


def _build(directory: Path) -> PySOAVenv:
    started = time.monotonic()
    log = [f"Building the PySOA {PYSOA_VERSION} interop venv in {directory} with {sys.executable}"]
    shutil.rmtree(directory, ignore_errors=True)
    _run([sys.executable, "-m", "venv", str(directory)], log)
    python = str(_venv_python(directory))
    install = [python, "-m", "pip", "install", "--disable-pip-version-check", "--require-hashes", "--no-deps"]
    _run([*install, "-r", str(REQUIREMENTS_FILE)], log)
    versions = json.loads(_run([python, "-c", _IMPORT_CHECK], log).strip().splitlines()[-1])
    build_seconds = round(time.monotonic() - started, 2)
    freeze = _run([python, "-m", "pip", "freeze"], log).split()
    marker = dict(_expected_marker(), versions=versions, build_seconds=build_seconds, freeze=freeze)
    # Written last: its presence means the build finished.
    (directory / _MARKER_NAME).write_text(json.dumps(marker, indent=2), encoding="utf-8")
    return PySOAVenv(directory, Path(python), versions, build_seconds, built_now=True)


def ensure_pysoa_venv(directory: Path | None = None) -> PySOAVenv:
    """Return the PySOA venv, building it first if the cache is missing, incomplete or stale.

    Args:
        directory: The venv root; ``None`` means :func:`default_venv_dir`.

    Returns:
        The venv.

    Raises:
        PySOAVenvError: If building it failed; the message holds every command run and its output.
    """
    directory = directory or default_venv_dir()
    with _exclusive_lock(_lock_path(directory)):
        if venv_is_complete(directory):
            marker = _read_marker(directory) or {}
            versions = marker.get("versions")
            build_seconds = marker.get("build_seconds")
            return PySOAVenv(
                directory,
                _venv_python(directory),
                dict(versions) if isinstance(versions, dict) else {},
                float(build_seconds) if isinstance(build_seconds, (int, float)) else 0.0,
                built_now=False,
            )
        return _build(directory)


if __name__ == "__main__":
    venv = ensure_pysoa_venv()
    print(json.dumps(dataclasses.asdict(venv), default=str, indent=2))
