"""RS256 signing key, JWKS, and the id/access tokens the identity platform issues."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from provider_emulators.microsoft.state import App, User


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SigningKey:
    """One RSA key per emulator instance, published in the JWKS."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = base64.urlsafe_b64encode(hashlib.sha1(public_der).digest()).rstrip(b"=").decode()  # noqa: S324 -- a key id, as Entra derives it
        self.pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def jwk(self, issuer: str) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "issuer": issuer,
        }

    def sign(self, claims: dict[str, Any]) -> str:
        # the key object, not the PEM: jwt would parse (and check) the PEM again per token, ~70 ms
        return jwt.encode(
            claims, self.private_key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"}
        )

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def pairwise_sub(user: User, client_id: str) -> str:
    """The v2.0 ``sub``: stable per user and application."""
    digest = hashlib.sha256(f"{user.id}:{client_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:32]).rstrip(b"=").decode()[:43]


def id_token_claims(
    user: User, app: App, issuer: str, nonce: str | None, issued: dt.datetime, lifetime_s: int = 3600
) -> dict[str, Any]:
    iat = int(issued.timestamp())
    claims: dict[str, Any] = {
        "ver": "2.0",
        "iss": issuer,
        "aud": app.client_id,
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime_s,
        "sub": pairwise_sub(user, app.client_id),
        "oid": user.id,
        "tid": user.tenant_id,
        "name": user.name,
        "preferred_username": user.email,
        "email": user.email,
        "uti": secrets.token_urlsafe(16),
        "rh": "0.A" + secrets.token_urlsafe(12),
        "aio": secrets.token_urlsafe(24),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    return claims


def access_token_claims(
    user: User, app: App, scopes: list[str], issued: dt.datetime, lifetime_s: int
) -> dict[str, Any]:
    """Claims in the shape of a Graph access token (v1 issuer, Graph's application id as audience)."""
    iat = int(issued.timestamp())
    return {
        "aud": "00000003-0000-0000-c000-000000000000",
        "iss": f"https://sts.windows.net/{user.tenant_id}/",
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime_s,
        "appid": app.client_id,
        "app_displayname": app.name,
        "name": user.name,
        "oid": user.id,
        "scp": " ".join(scopes),
        "tid": user.tenant_id,
        "upn": user.email,
        "unique_name": user.email,
        "uti": str(uuid.uuid4()),
        "ver": "1.0",
    }


def client_info(user: User) -> str:
    """The ``client_info`` blob MSAL asks for (``uid`` and ``utid``), base64url encoded."""
    raw = json.dumps({"uid": user.id, "utid": user.tenant_id}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def verify_pkce(verifier: str | None, challenge: str, method: str | None) -> bool:
    """Check a PKCE verifier against the challenge (``plain`` when no method was given)."""
    if not verifier:
        return False
    if (method or "plain") == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return secrets.compare_digest(expected, challenge)
    return secrets.compare_digest(verifier, challenge)


__all__ = [
    "SigningKey",
    "access_token_claims",
    "client_info",
    "id_token_claims",
    "pairwise_sub",
    "verify_pkce",
]
