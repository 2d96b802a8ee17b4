"""Throwaway TLS material (a CA, a server and a client certificate) for TLS Redis test servers.

The ``openssl`` command-line tool is used when it is on ``PATH``, else the ``cryptography``
package when it is importable. The certificates are valid for ``127.0.0.1`` and ``localhost``
for two days, which is all a test run needs.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import ipaddress
import shutil
import subprocess
from pathlib import Path
from typing import Any

import attr

from pysoa_like.test._redis_errors import RedisTlsUnavailableError

__all__ = ["TlsFiles", "make_tls_files"]

# Generous, because a loaded CI machine can be slow to fork openssl several times.
_OPENSSL_TIMEOUT_SECONDS = 30.0
_VALID_DAYS = 2
_CA_NAME = "pysoa_like throwaway test CA"

_SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""
_CLIENT_EXTENSIONS = _SERVER_EXTENSIONS.replace("serverAuth", "clientAuth")


@attr.s(frozen=True, slots=True)
class TlsFiles:
    """Paths of the PEM files that make up a throwaway TLS setup.

    Args:
        ca_cert: The CA certificate that signed both the server and the client certificate.
        cert: The server certificate (valid for ``127.0.0.1`` and ``localhost``).
        key: The server's private key.
        client_cert: A client certificate, for servers that authenticate clients.
        client_key: The client certificate's private key.
    """

    ca_cert: str = attr.ib()
    cert: str = attr.ib()
    key: str = attr.ib()
    client_cert: str = attr.ib()
    client_key: str = attr.ib()

    def client_kwargs(self, *, with_client_certificate: bool = False) -> dict[str, Any]:
        """Return redis-py connection kwargs that trust this CA.

        Args:
            with_client_certificate: Also present the client certificate (for ``tls-auth-clients yes``).

        Returns:
            A dict such as ``{"ssl": True, "ssl_ca_certs": ...}`` for ``redis.Redis(**kwargs)``.
        """
        kwargs: dict[str, Any] = {"ssl": True, "ssl_ca_certs": self.ca_cert, "ssl_cert_reqs": "required"}
        if with_client_certificate:
            kwargs["ssl_certfile"] = self.client_cert
            kwargs["ssl_keyfile"] = self.client_key
        return kwargs


def _openssl(openssl: str, *args: str, cwd: Path) -> None:
    try:
        subprocess.run(
            [openssl, *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_OPENSSL_TIMEOUT_SECONDS,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        output = (exc.stdout + exc.stderr).decode("utf-8", "replace")
        raise RedisTlsUnavailableError(f"`openssl {' '.join(args)}` failed:\n{output}") from exc
    except subprocess.TimeoutExpired as exc:
        raise RedisTlsUnavailableError(f"`openssl {' '.join(args)}` did not finish in time") from exc


def _make_with_openssl(openssl: str, directory: Path) -> TlsFiles:
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        openssl,
        "req", "-x509", *ec_key, "-keyout", "ca.key", "-out", "ca.crt", "-days", str(_VALID_DAYS),
        "-subj", f"/CN={_CA_NAME}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    for name, extensions in (("server", _SERVER_EXTENSIONS), ("client", _CLIENT_EXTENSIONS)):
        (directory / f"{name}.ext").write_text(extensions)
        _openssl(
            openssl, "req", *ec_key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
            cwd=directory,
        )  # fmt: skip
        _openssl(
            openssl,
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", str(_VALID_DAYS), "-extfile", f"{name}.ext",
            cwd=directory,
        )  # fmt: skip
    return _files_in(directory)


def _make_with_cryptography(directory: Path) -> TlsFiles:
    # Imported dynamically: cryptography is optional and has no place in our type-checked dependencies.
    x509: Any = importlib.import_module("cryptography.x509")
    oid: Any = importlib.import_module("cryptography.x509.oid")
    hashes: Any = importlib.import_module("cryptography.hazmat.primitives.hashes")
    serialization: Any = importlib.import_module("cryptography.hazmat.primitives.serialization")
    ec: Any = importlib.import_module("cryptography.hazmat.primitives.asymmetric.ec")

    now = datetime.datetime.now(datetime.timezone.utc)

    def key_usage(*, cert_sign: bool) -> Any:
        return x509.KeyUsage(
            digital_signature=not cert_sign,
            content_commitment=False,
            key_encipherment=not cert_sign,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=cert_sign,
            crl_sign=cert_sign,
            encipher_only=False,
            decipher_only=False,
        )

    def builder(subject: Any, issuer: Any, public_key: Any) -> Any:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )

    def name(common_name: str) -> Any:
        return x509.Name([x509.NameAttribute(oid.NameOID.COMMON_NAME, common_name)])

    def write(stem: str, certificate: Any, key: Any) -> None:
        (directory / f"{stem}.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (directory / f"{stem}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        builder(name(_CA_NAME), name(_CA_NAME), ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(key_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write("ca", ca_cert, ca_key)
    alt_names = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    for stem, usage in (
        ("server", oid.ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", oid.ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            builder(name(stem), name(_CA_NAME), key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(alt_names, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        write(stem, certificate, key)
    return _files_in(directory)


def _files_in(directory: Path) -> TlsFiles:
    return TlsFiles(
        ca_cert=str(directory / "ca.crt"),
        cert=str(directory / "server.crt"),
        key=str(directory / "server.key"),
        client_cert=str(directory / "client.crt"),
        client_key=str(directory / "client.key"),
    )


def _cryptography_importable() -> bool:
    try:
        return importlib.util.find_spec("cryptography") is not None
    except (ImportError, ValueError):
        return False


def make_tls_files(directory: str | Path) -> TlsFiles:
    """Create a throwaway CA plus server and client certificates in ``directory``.

    Args:
        directory: An existing, private directory to write the PEM files into.

    Returns:
        The paths of the files written.

    Raises:
        RedisTlsUnavailableError: If neither the ``openssl`` tool nor the ``cryptography`` package is
            available, or certificate generation fails.
    """
    path = Path(directory)
    openssl = shutil.which("openssl")
    if openssl is not None:
        return _make_with_openssl(openssl, path)
    if _cryptography_importable():
        return _make_with_cryptography(path)
    raise RedisTlsUnavailableError(
        "Cannot make a TLS certificate for the test Redis: neither the `openssl` command-line tool is on PATH "
        "nor the `cryptography` package is importable. Install one of them (for example `apt-get install "
        "openssl` or `pip install cryptography`)."
    )
