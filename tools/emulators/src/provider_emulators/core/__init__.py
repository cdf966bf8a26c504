"""Provider-independent emulator machinery: TLS, HTTPS server, fault injection, control API."""

from provider_emulators.core.faults import FaultInjector, FaultMiddleware, FaultRule
from provider_emulators.core.server import EmulatorServer, serve_forever
from provider_emulators.core.tls import CertificateAuthority, ensure_ca

__all__ = [
    "CertificateAuthority",
    "EmulatorServer",
    "FaultInjector",
    "FaultMiddleware",
    "FaultRule",
    "ensure_ca",
    "serve_forever",
]
