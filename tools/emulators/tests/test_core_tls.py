"""The local CA: generated once, reused, and issuing certificates clients accept."""

from __future__ import annotations

import ipaddress
import ssl
import threading
from pathlib import Path

from cryptography import x509

from provider_emulators.core.tls import ensure_ca


def test_ca_is_generated_once_and_reused(tmp_path: Path) -> None:
    first = ensure_ca(tmp_path)
    assert first.ca_path == tmp_path / "ca.pem"
    assert first.ca_path.exists()
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    second = ensure_ca(tmp_path)
    assert second.certificate == first.certificate
    assert second.ca_path.read_bytes() == first.ca_path.read_bytes()
    constraints = first.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True


def test_concurrent_creation_yields_one_ca(tmp_path: Path) -> None:
    results = []
    threads = [threading.Thread(target=lambda: results.append(ensure_ca(tmp_path))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.certificate.fingerprint(r.certificate.signature_hash_algorithm) for r in results}) == 1  # type: ignore[arg-type]


def test_server_cert_has_sans_and_chains_to_ca(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path)
    cert_path, key_path = ca.issue_server_cert(["emulator.local"])
    leaf = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {"emulator.local", "localhost"}
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    leaf.verify_directly_issued_by(ca.certificate)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_path, key_path)  # key matches the certificate
    client_context = ssl.create_default_context(cafile=str(ca.ca_path))
    assert client_context.verify_mode == ssl.CERT_REQUIRED


def test_each_issue_writes_distinct_files(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path)
    assert ca.issue_server_cert(["127.0.0.1"]) != ca.issue_server_cert(["127.0.0.1"])
