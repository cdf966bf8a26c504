"""Refresh-token encryption (AES-GCM, key ids, rotation), JWT signing (EdDSA, JWKS) and password
hashing (argon2id)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from argon2 import extract_parameters as argon2_extract_parameters
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from auth_service.adapters import passwords
from auth_service.adapters.crypto import TokenCipher, TokenCipherError
from auth_service.adapters.signing import SigningKey
from visitor_common.security import JwksSource, JwtVerifier, PrincipalKind

K1 = base64.b64encode(b"1" * 32).decode()
K2 = base64.b64encode(b"2" * 32).decode()


def test_seal_and_open_round_trip_without_plaintext_at_rest() -> None:
    cipher = TokenCipher.from_config({"k1": K1}, "k1")
    sealed = cipher.seal("1//refresh-token-value", context="conn-1")
    assert sealed.kid == "k1"
    assert "refresh-token-value" not in sealed.model_dump_json()
    assert cipher.open(sealed, context="conn-1") == "1//refresh-token-value"


def test_ciphertext_is_bound_to_its_connection() -> None:
    cipher = TokenCipher.from_config({"k1": K1}, "k1")
    sealed = cipher.seal("secret", context="conn-1")
    with pytest.raises(TokenCipherError):
        cipher.open(sealed, context="conn-2")


def test_tampering_is_detected() -> None:
    cipher = TokenCipher.from_config({"k1": K1}, "k1")
    sealed = cipher.seal("secret", context="c")
    data = bytearray(base64.urlsafe_b64decode(sealed.ciphertext))
    data[0] ^= 1
    forged = sealed.model_copy(update={"ciphertext": base64.urlsafe_b64encode(bytes(data)).decode()})
    with pytest.raises(TokenCipherError):
        cipher.open(forged, context="c")


def test_key_rotation_old_tokens_still_open_new_ones_use_the_active_key() -> None:
    old = TokenCipher.from_config({"k1": K1}, "k1").seal("secret", context="c")
    rotated = TokenCipher.from_config({"k1": K1, "k2": K2}, "k2")
    assert rotated.open(old, context="c") == "secret"
    assert rotated.needs_rotation(old)
    assert rotated.seal("secret", context="c").kid == "k2"
    with pytest.raises(TokenCipherError):
        TokenCipher.from_config({"k2": K2}, "k2").open(old, context="c")


def test_bad_key_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="16, 24 or 32"):
        TokenCipher.from_config({"k1": base64.b64encode(b"short").decode()}, "k1")
    with pytest.raises(ValueError, match="not among"):
        TokenCipher.from_config({"k1": K1}, "k9")


NOW = datetime.now(UTC)
CLAIMS = {
    "iss": "iss",
    "aud": "aud",
    "sub": "e1",
    "tid": "t1",
    "role": "admin",
    "email": "a@x.jp",
    "typ": "employee",
}


async def test_eddsa_token_verifies_through_the_shared_verifier() -> None:
    key = SigningKey.generate()
    assert key.algorithm == "EdDSA"
    token = key.sign(CLAIMS, now=NOW, ttl=timedelta(minutes=15))
    assert jwt.get_unverified_header(token)["kid"] == key.kid
    verifier = JwtVerifier(JwksSource(static=key.jwks()), issuer="iss", audience="aud")
    principal = await verifier.verify(token)
    assert principal.kind is PrincipalKind.EMPLOYEE
    assert (principal.subject, principal.tenant_id, principal.role) == ("e1", "t1", "admin")


async def test_key_from_pem_keeps_its_kid() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert SigningKey.from_pem(pem).kid == SigningKey.from_pem(pem).kid
    assert SigningKey.from_pem(pem).kid != SigningKey.generate().kid


async def test_ec_keys_work_too() -> None:
    key = SigningKey(ec.generate_private_key(ec.SECP256R1()))
    token = key.sign(CLAIMS, now=NOW, ttl=timedelta(minutes=5))
    verifier = JwtVerifier(JwksSource(static=key.jwks()), issuer="iss", audience="aud")
    assert (await verifier.verify(token)).tenant_id == "t1"


@pytest.mark.production_cost
def test_passwords_are_hashed_with_argon2id_at_rfc_9106_cost() -> None:
    stored = passwords.hash_password("correct horse battery staple")
    parameters = argon2_extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert (parameters.time_cost, parameters.memory_cost) >= (3, 64 * 1024)
    assert passwords.verify_password(stored, "correct horse battery staple")
    assert not passwords.verify_password(stored, "wrong")
    assert not passwords.verify_password(None, "correct horse battery staple")
