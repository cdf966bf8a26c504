"""The service's JWT signing key (EdDSA / Ed25519 preferred) and its JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

SigningPrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class SigningKey:
    def __init__(self, private_key: SigningPrivateKey) -> None:
        self._key = private_key
        self.algorithm, self._public_jwk = self._describe(private_key)
        self.kid = self._thumbprint(self._public_jwk)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError("AUTH_SIGNING_KEY_PEM must be an Ed25519, EC P-256 or RSA private key")
        return cls(key)

    @staticmethod
    def _describe(key: SigningPrivateKey) -> tuple[str, dict[str, Any]]:
        public = key.public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            return "EdDSA", OKPAlgorithm.to_jwk(public, as_dict=True)
        if isinstance(public, ec.EllipticCurvePublicKey):
            return "ES256", ECAlgorithm.to_jwk(public, as_dict=True)
        return "RS256", RSAAlgorithm.to_jwk(public, as_dict=True)

    @staticmethod
    def _thumbprint(jwk: dict[str, Any]) -> str:
        """RFC 7638 thumbprint: a kid that changes exactly when the key does."""
        required = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}
        members = {name: jwk[name] for name in required[jwk["kty"]]}
        digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self._public_jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}]}

    def sign(self, claims: dict[str, Any], *, now: datetime, ttl: timedelta) -> str:
        body = {
            **claims,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(body, self._key, algorithm=self.algorithm, headers={"kid": self.kid})
