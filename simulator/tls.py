"""The served world's own TLS: a local CA and the loopback server certificate it signs.

Every client of the served world — httpx, ``requests`` inside azure-core, the Azure device SDK's paho-mqtt — checks
the server's certificate: it must chain to a CA the client trusts and name the host the client dialled
(the device SDK sets ``check_hostname=True``; azure-core checks that the SAN matches ``base_url``). So the
served world carries a small PKI of its own:

* the **local CA** — a P-256 self-signed CA named ``sphere-harness local CA``. It has nothing to do with the Sphere
  PKI (root, policy and tenant CAs live in :mod:`simulator.pki` and sign *device* certificates); it only vouches for
  the loopback servers. Clients trust it through ``ca.pem`` (``verify=``, ``connection_verify=``,
  ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``, ``server_verification_cert=`` …);
* the **server certificate** — a P-256 leaf with ``subjectAltName`` ``IP:127.0.0.1`` and ``DNS:localhost`` (plus
  any extra host names or addresses asked for, e.g. ``127.0.0.2`` for a second world that also needs port 8883).
  Host names such as ``contoso.azureiotcentral.com`` do not resolve to loopback, so clients dial ``127.0.0.1``.

The files are written to a directory and reused: the first world of a process generates them, the next ones load
them (a server certificate is re-issued only when a new name is needed or it nears expiry)::

    tls = local_tls("/tmp/world")                  # ca.pem, ca.key.pem, server.pem, server.key.pem
    context = tls.server_context()                 # ssl.SSLContext for a listener
    httpx.get("https://127.0.0.1:8443/", verify=tls.client_context())

Dates follow the *real* clock, never the world's fake clock: OpenSSL checks them against system time
(the world's clock judges them later, ``dps.tls_validity_clock``), and a travelled world must still be reachable.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import ssl
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from simulator.pki.profiles import key_usage

CA_COMMON_NAME = "sphere-harness local CA"
ORGANIZATION = "sphere-harness (offline simulator, not Azure)"
DEFAULT_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost")
CA_LIFETIME = timedelta(days=3650)
SERVER_LIFETIME = timedelta(days=397)
RENEW_BEFORE = timedelta(days=30)
BACKDATE = timedelta(days=1)

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca.key.pem"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server.key.pem"


@dataclass(frozen=True)
class LocalTls:
    """The PEM files of one directory's local CA and server certificate, and contexts built from them."""

    directory: Path
    ca_pem: Path
    server_cert_pem: Path
    server_key_pem: Path
    names: frozenset[str]

    def server_context(self) -> ssl.SSLContext:
        """A fresh TLS ≥ 1.2 server context presenting the server certificate (no client certificates asked)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.server_cert_pem, self.server_key_pem)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only the local CA and checks host names (what real clients do)."""
        return ssl.create_default_context(cafile=str(self.ca_pem))

    def covers(self, name: str) -> bool:
        """Whether the server certificate names ``name`` (a host name or an IP address)."""
        return _normalise(name) in self.names


_lock = threading.Lock()
_cache: dict[Path, LocalTls] = {}
_default_dir: Path | None = None


def default_directory() -> Path:
    """A per-process temporary directory for the local CA, so every world of this process shares one CA."""
    global _default_dir
    with _lock:
        if _default_dir is None:
            _default_dir = Path(tempfile.mkdtemp(prefix="sphere-harness-tls-"))
            atexit.register(shutil.rmtree, _default_dir, ignore_errors=True)
        return _default_dir


def local_tls(directory: str | os.PathLike[str] | None = None, names: Iterable[str] = ()) -> LocalTls:
    """The local CA and a server certificate in ``directory`` covering ``127.0.0.1``, ``localhost`` and ``names``.

    Existing files are reused when they still fit: the CA is kept for its whole life (clients may already trust
    it), the server certificate is re-issued by that CA when a name is missing or it expires within 30 days.
    Thread-safe; results are cached per directory for the life of the process.
    """
    folder = Path(directory) if directory is not None else default_directory()
    folder = folder.resolve()
    wanted = frozenset(_normalise(n) for n in (*DEFAULT_NAMES, *names))
    now = datetime.now(UTC)
    with _lock:
        cached = _cache.get(folder)
        if cached is not None and wanted <= cached.names and _fresh(cached.server_cert_pem, now):
            return cached
        folder.mkdir(parents=True, exist_ok=True)
        ca_cert, ca_key = _load_or_make_ca(folder, now)
        server = folder / SERVER_CERT_FILE
        names_now = _server_names(server, ca_cert, now)
        if names_now is None or not wanted <= names_now:
            names_now = wanted | (names_now or frozenset())
            _issue_server(folder, ca_cert, ca_key, names_now, now)
        tls = LocalTls(folder, folder / CA_FILE, server, folder / SERVER_KEY_FILE, names_now)
        _cache[folder] = tls
        return tls


# -- internals -------------------------------------------------------------------------------------------------


def _normalise(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower().rstrip(".")


def _fresh(cert_file: Path, now: datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - RENEW_BEFORE > now


def _write_atomic(path: Path, data: bytes, *, private: bool = False) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if private:
            os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_or_make_ca(folder: Path, now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_file, key_file = folder / CA_FILE, folder / CA_KEY_FILE
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc - RENEW_BEFORE > now:
            return cert, key
    except (OSError, ValueError):
        pass
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            key_usage(digital_signature=True, cert_sign=True),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_atomic(key_file, _key_pem(key), private=True)
    _write_atomic(cert_file, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _server_names(cert_file: Path, ca_cert: x509.Certificate, now: datetime) -> frozenset[str] | None:
    """The SAN names of an existing server certificate that the current CA signed and that is fresh, else None."""
    if not (cert_file.exists() and (cert_file.parent / SERVER_KEY_FILE).exists()) or not _fresh(cert_file, now):
        return None
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    if cert.issuer != ca_cert.subject:
        return None
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return None
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    names += san.get_values_for_type(x509.DNSName)
    return frozenset(_normalise(n) for n in names)


def _issue_server(
    folder: Path,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: frozenset[str],
    now: datetime,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in sorted(names):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sphere-harness loopback server")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + SERVER_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_atomic(folder / SERVER_KEY_FILE, _key_pem(key), private=True)
    _write_atomic(folder / SERVER_CERT_FILE, cert.public_bytes(serialization.Encoding.PEM))
