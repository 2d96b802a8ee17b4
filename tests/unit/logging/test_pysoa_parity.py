"""Logging behaves as PySOA 1.4.9's does where PySOA's own tests pin it down."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Iterator

import pytest

from pysoa_like.common._syslog import discover_path_mtu
from pysoa_like.common.logging import PySOALogContextFilter, RecursivelyCensoredDictWrapper, SyslogHandler

MASK = "**********"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"passwords": ["a", "b"]}, {"passwords": [MASK, MASK]}),
        ({"credit_card_numbers": ("4111", 4242)}, {"credit_card_numbers": (MASK, MASK)}),
        ({"creditCardNumbers": ["4111"]}, {"creditCardNumbers": [MASK]}),
        ({"card-securities": {"x": "123"}}, {"card-securities": {"x": MASK}}),
        ({"pins": {1234, 5678}}, {"pins": {MASK}}),
        ({"cvvs": [[123], (456,)]}, {"cvvs": [[MASK], (MASK,)]}),
        ({"ids": [1, 2], "status": "ok", "addresses": ["x"]}, {"ids": [1, 2], "status": "ok", "addresses": ["x"]}),
    ],
)
def test_sensitive_values_inside_lists_tuples_and_sets_are_masked(message: dict, expected: dict) -> None:
    """Plural and camelCase sensitive keys mask every value of the containers under them; other keys do not."""
    assert str(RecursivelyCensoredDictWrapper(message)) == repr(expected)


def test_censoring_constants_have_pysoas_names_and_meaning() -> None:
    """``CENSORED_STRING`` and ``CENSOR_TYPES`` exist as in PySOA; bool is never masked although it is an int."""
    assert RecursivelyCensoredDictWrapper.CENSORED_STRING == MASK
    assert {str, int} <= set(RecursivelyCensoredDictWrapper.CENSOR_TYPES)
    assert str(RecursivelyCensoredDictWrapper({"password": "p", "pin": 12, "token": True})) == (
        f"{{'password': '{MASK}', 'pin': '{MASK}', 'token': True}}"
    )


def test_subclasses_changing_the_censoring_constants_are_honoured() -> None:
    """A PySOA-style subclass with its own mask text and censored types changes what its messages show."""

    class Redacting(RecursivelyCensoredDictWrapper):
        __slots__ = ()
        CENSORED_STRING = "[redacted]"
        CENSOR_TYPES = (str, float)

    message = {"password": "p", "pin": 1234, "secret": 1.5, "name": "n", "tokens": ["t", 2.5, 7]}
    assert str(Redacting(message)) == (
        "{'password': '[redacted]', 'pin': 1234, 'secret': '[redacted]', 'name': 'n', "
        "'tokens': ['[redacted]', '[redacted]', 7]}"
    )
    # The stock class is unaffected, and a class changed after its first use follows the change.
    assert str(RecursivelyCensoredDictWrapper({"secret": 1.5})) == "{'secret': 1.5}"

    class Later(RecursivelyCensoredDictWrapper):
        __slots__ = ()

    assert str(Later({"secret": 1.5})) == "{'secret': 1.5}"
    Later.CENSOR_TYPES = (float,)
    assert str(Later({"secret": 1.5})) == f"{{'secret': '{MASK}'}}"


@pytest.fixture
def filtered() -> Iterator[logging.LogRecord]:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    yield record


def test_correlation_id_placeholder_is_dashes(filtered: logging.LogRecord) -> None:
    """Outside a request, and in a request without one, the correlation id is '--' (never None)."""
    PySOALogContextFilter().filter(filtered)
    assert (filtered.correlation_id, filtered.request_id) == ("--", "--")  # type: ignore[attr-defined]
    PySOALogContextFilter.set_logging_request_context(request_id=5)
    try:
        PySOALogContextFilter().filter(filtered)
    finally:
        PySOALogContextFilter.clear_logging_request_context()
    assert (filtered.correlation_id, filtered.request_id) == ("--", 5)  # type: ignore[attr-defined]


@pytest.fixture
def syslog_server() -> Iterator[socket.socket]:
    """A UDP socket on a free loopback port standing in for a syslog server."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    yield server
    server.close()


def _received(server: socket.socket) -> list[bytes]:
    datagrams = []
    server.settimeout(5)
    while True:
        try:
            datagrams.append(server.recv(1 << 17))
        except TimeoutError:
            return datagrams
        server.settimeout(0.2)


def test_udp_maximum_length_is_the_path_mtu_less_headers(syslog_server: socket.socket) -> None:
    """Over UDP, maximum_length comes from the route's MTU (IP and UDP headers off), learned without sending."""
    host, port = syslog_server.getsockname()
    SyslogHandler._MINIMUM_MTU_CACHE.pop(host, None)
    handler = SyslogHandler((host, port))
    try:
        mtu, headers = discover_path_mtu(host, port)
        assert handler.maximum_length == mtu - headers
        if sys.platform.startswith("linux"):
            with open("/sys/class/net/lo/mtu") as lo_mtu:
                assert mtu == min(int(lo_mtu.read()), 65535)  # the loopback route's MTU, at most an IP packet
    finally:
        handler.close()
    syslog_server.settimeout(0.2)
    with pytest.raises(TimeoutError):
        syslog_server.recv(1)


def test_stream_sockets_truncate_at_one_mebibyte() -> None:
    """Over TCP or a UNIX socket, records are truncated at 1 MiB, as in PySOA."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        handler = SyslogHandler(listener.getsockname(), socket_type=socket.SOCK_STREAM)
        try:
            assert handler.maximum_length == 1024 * 1024
            assert handler.overflow == SyslogHandler.OVERFLOW_BEHAVIOR_TRUNCATE
        finally:
            handler.close()
    finally:
        listener.close()


def test_fragments_each_carry_priority_tag_preamble_and_nul(syslog_server: socket.socket) -> None:
    """Every fragment is a complete syslog record: <priority>, log tag, preamble, text, trailing NUL."""
    handler = SyslogHandler(syslog_server.getsockname(), maximum_length=300)
    handler.ident = "shop: "
    handler.setFormatter(logging.Formatter("%(levelname)s [%(name)s] %(message)s"))
    logger = logging.getLogger("parity.syslog")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("é" * 400)
    finally:
        logger.removeHandler(handler)
        handler.close()
    datagrams = _received(syslog_server)
    assert len(datagrams) > 2
    for index, datagram in enumerate(datagrams):
        assert len(datagram) <= 300
        assert datagram.startswith(b"<12>shop: WARNING [parity.syslog] ")
        assert datagram.endswith(b"\x00")
        assert (b"(cont'd #%d) ..." % (index + 1) in datagram) == (index > 0)
        datagram.decode("utf-8")  # no character was cut in two
    text = b"".join(
        d[len(b"<12>shop: WARNING [parity.syslog] ") : -1].split(b") ...", 1)[-1].removesuffix(b"... (cont'd)")
        for d in datagrams
    )
    assert text.decode("utf-8") == "é" * 400


def test_truncation_keeps_the_nul_and_whole_characters() -> None:
    """A truncated record still ends with NUL and never ends inside a UTF-8 character."""
    handler = SyslogHandler(maximum_length=130, overflow=SyslogHandler.OVERFLOW_BEHAVIOR_TRUNCATE)
    try:
        (datagram,) = handler.split_message(b"<14>", b"", "é".encode() * 100)
    finally:
        handler.close()
    assert len(datagram) <= 130 and datagram.endswith(b"\x00")
    datagram[4:-1].decode("utf-8")
