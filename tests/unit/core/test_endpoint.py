"""The core's reading of connection settings, the handshake it plans and what the replies to it mean."""

from __future__ import annotations

import pytest

from pysoa_like.core.endpoint import Endpoint, TlsSettings, endpoint_of, handshake_refusal
from pysoa_like.core.redis_protocol import RespError


def test_a_url_gives_address_credentials_database_and_tls() -> None:
    """rediss:// turns TLS on; user, password (percent-decoded) and database come from the URL."""
    endpoint = endpoint_of("rediss://svc:p%40ss@redis.internal:6380/4", {"ssl_ca_certs": "/ca.pem"})
    assert (endpoint.host, endpoint.port, endpoint.path) == ("redis.internal", 6380, None)
    assert (endpoint.username, endpoint.password, endpoint.db) == ("svc", "p@ss", 4)
    assert endpoint.tls == TlsSettings(ca_certs="/ca.pem")
    assert str(endpoint) == "redis.internal:6380"


def test_url_query_values_are_read_with_their_types() -> None:
    """Query values of the keys the transports use are read as redis-py reads them (numbers, flags)."""
    endpoint = endpoint_of("redis://h?db=3&socket_timeout=2.5&protocol=3&socket_keepalive=yes", {})
    assert (endpoint.db, endpoint.socket_timeout, endpoint.protocol, endpoint.keepalive) == (3, 2.5, 3, True)
    with pytest.raises(ValueError, match="socket_timeout"):
        endpoint_of("redis://h?socket_timeout=soon", {})
    with pytest.raises(ValueError, match="warp"):
        endpoint_of("redis://h?warp=9", {})


def test_a_unix_socket_url_has_a_path_and_no_tls_or_keepalive() -> None:
    endpoint = endpoint_of("unix:///run/redis.sock?db=2", {"ssl": True, "socket_keepalive": True})
    assert (endpoint.host, endpoint.path, endpoint.db, endpoint.tls, endpoint.keepalive) == (
        None,
        "/run/redis.sock",
        2,
        None,
        False,
    )
    assert str(endpoint) == "unix:///run/redis.sock"


def test_tls_checks_the_host_name_unless_told_not_to() -> None:
    """The secure default: certificates required and the host name checked; both can be turned off."""
    assert endpoint_of(("h", 1), {"ssl": True}).tls == TlsSettings(cert_reqs="required", check_hostname=True)
    relaxed = endpoint_of(("h", 1), {"ssl": True, "ssl_check_hostname": False, "ssl_cert_reqs": "NONE"}).tls
    assert relaxed is not None and not relaxed.check_hostname and not relaxed.verifies
    assert endpoint_of(("h", 1), {"ssl": True, "ssl_cert_reqs": None}).tls == TlsSettings(cert_reqs="none")
    with pytest.raises(ValueError, match="ssl_cert_reqs"):
        endpoint_of(("h", 1), {"ssl": True, "ssl_cert_reqs": "sometimes"})


def test_an_unknown_key_is_refused_by_name_and_redis_py_tuning_is_ignored() -> None:
    with pytest.raises(ValueError, match="ssl_warp_drive"):
        endpoint_of(("h", 1), {"ssl_warp_drive": True})
    assert endpoint_of(("h", 1), {"retry_on_timeout": True, "health_check_interval": 3}) == Endpoint("h", 1)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, []),
        ({"password": ""}, []),  # an empty password is no password: Redis without one refuses any AUTH
        ({"password": "pw"}, [("AUTH", "pw")]),
        ({"username": "svc"}, [("AUTH", "svc", "")]),
        ({"username": "svc", "password": "pw"}, [("AUTH", "svc", "pw")]),
        (
            {"password": "pw", "protocol": 3, "db": 5, "client_name": "orders"},
            [("AUTH", "pw"), ("HELLO", 3), ("SELECT", 5), ("CLIENT", "SETNAME", "orders")],
        ),
        ({"db": 0, "client_name": ""}, []),
    ],
)
def test_the_handshake(kwargs: dict[str, object], expected: list[tuple[object, ...]]) -> None:
    assert endpoint_of(("h", 1), kwargs).handshake() == expected


def test_handshake_replies_accepted_or_the_first_refusal_named() -> None:
    """All accepted: None; else the first refused command, flagged when it refused the credentials."""
    commands = [("AUTH", "svc", "pw"), ("SELECT", 99)]
    assert handshake_refusal(commands, [b"OK", b"OK"]) is None
    wrong_password = RespError("WRONGPASS invalid username-password pair or user is disabled.")
    refusal = handshake_refusal(commands, [wrong_password, RespError("NOAUTH Authentication required.")])
    assert refusal is not None and refusal.authentication and refusal.command == "AUTH"
    assert "WRONGPASS" in str(refusal)
    bad_database = handshake_refusal(commands, [b"OK", RespError("ERR DB index is out of range")])
    assert bad_database is not None and not bad_database.authentication and bad_database.command == "SELECT"
    old_server = handshake_refusal([("AUTH", "pw")], [RespError("ERR invalid password")])
    assert old_server is not None and old_server.authentication


def test_the_password_is_not_shown() -> None:
    """An endpoint's repr (in logs and tracebacks) leaves the passwords out."""
    endpoint = endpoint_of("rediss://svc:s3cret@h:1", {"ssl_password": "k3y"})
    assert "s3cret" not in repr(endpoint) and "k3y" not in repr(endpoint)


def test_keepalive_options_that_are_not_a_dict_are_refused_naming_the_key() -> None:
    """``socket_keepalive_options`` given as a list is a ValueError naming it (it was a bare AttributeError, from
    the settings check of a FleetRedis or of a transport's ``connection_kwargs``)."""
    with pytest.raises(
        ValueError, match=r"^socket_keepalive_options must be a dict of TCP keepalive options .* got list \[1\]$"
    ):
        endpoint_of(("localhost", 6379), {"socket_keepalive_options": [1]})
