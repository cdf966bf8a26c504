"""A local certificate authority that issues server certificates for the emulators.

The CA is generated once per data directory (``ca.pem`` / ``ca-key.pem``) and reused, so a
client that trusts ``ca.pem`` keeps trusting every emulator started with the same directory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import ipaddress
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_NAME = "ca.pem"
CA_KEY_NAME = "ca-key.pem"
DEFAULT_HOSTNAMES = ("127.0.0.1", "localhost")
_VALIDITY = dt.timedelta(days=825)


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename (safe against concurrent writers)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "provider-emulators"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA stored in ``data_dir``; ``ca_path`` is the PEM file clients should trust."""

    data_dir: Path
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def ca_path(self) -> Path:
        return self.data_dir / CA_CERT_NAME

    @property
    def key_path(self) -> Path:
        return self.data_dir / CA_KEY_NAME

    def issue_server_cert(self, hostnames: list[str]) -> tuple[Path, Path]:
        """Issue a server certificate for ``hostnames`` (plus 127.0.0.1 and localhost).

        Returns ``(cert_path, key_path)``; the certificate file holds the leaf then the CA.
        """
        hosts = list(dict.fromkeys([*hostnames, *DEFAULT_HOSTNAMES]))
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(hosts[0]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key()),
                critical=False,
            )
            .sign(self.private_key, hashes.SHA256())
        )
        # A unique name per issue: concurrent servers never overwrite each other's key pair.
        stem = f"server-{hashlib.sha256(','.join(hosts).encode()).hexdigest()[:8]}-{secrets.token_hex(4)}"
        cert_path = self.data_dir / f"{stem}.pem"
        key_path = self.data_dir / f"{stem}-key.pem"
        pem = cert.public_bytes(serialization.Encoding.PEM) + self.certificate.public_bytes(
            serialization.Encoding.PEM
        )
        _atomic_write(key_path, _private_pem(key), mode=0o600)
        _atomic_write(cert_path, pem)
        return cert_path, key_path


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _generate_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = _name("provider-emulators local CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Serialise CA creation between processes sharing ``data_dir``."""
    with open(data_dir / ".ca.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_ca(data_dir: Path) -> CertificateAuthority:
    """Load the CA in ``data_dir``, generating it on first use."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = data_dir / CA_CERT_NAME, data_dir / CA_KEY_NAME
    with _locked(data_dir):
        if cert_path.exists() and key_path.exists():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"unsupported CA key type in {key_path}")
            return CertificateAuthority(data_dir, cert, key)
        cert, key = _generate_ca()
        _atomic_write(key_path, _private_pem(key), mode=0o600)
        _atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return CertificateAuthority(data_dir, cert, key)
