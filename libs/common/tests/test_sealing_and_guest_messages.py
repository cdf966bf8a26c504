"""Sealed secrets in guest messages, the guest-message and reception event contracts, and the
reception-device principal."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from visitor_common.events import (
    AppointmentSnapshot,
    AppointmentStatus,
    CandidateSlot,
    Guest,
    GuestCheckedIn,
    GuestConfirmationRequested,
    GuestInvitationRequested,
    new_event,
    parse_event,
    serialize_event,
)
from visitor_common.logging import redact
from visitor_common.sealing import MailSealSettings, SealedSecret, Sealer, SealError, seal_context
from visitor_common.security import JwksSource, JwtVerifier, PrincipalKind, TokenInvalid
from visitor_common.settings import ServiceSettings
from visitor_common.topics import GUEST_MESSAGES, all_topics, dead_letter_topic
from visitor_common.web import ProblemError, require_employee, require_reception

URL = "https://visit.example/v1/guest/appointments/Zt7bQ2kqVhH3nR8sW1yX4cE6"


def sealer(kid: str = "k1") -> Sealer:
    return Sealer.from_config({kid: Sealer.generate_key()})


def snapshot(version: int = 1) -> AppointmentSnapshot:
    start = datetime(2030, 4, 1, 1, 0, tzinfo=UTC)
    return AppointmentSnapshot(
        appointment_id="a1",
        tenant_id="t1",
        version=version,
        host_employee_id="e1",
        host_email="host@example.com",
        title="Kickoff",
        guests=(Guest(name="Guest", email="guest@example.org"),),
        duration_minutes=60,
        status=AppointmentStatus.PROPOSED,
        candidates=(CandidateSlot(slot_id="s1", start=start, end=start + timedelta(hours=1)),),
    )


def test_a_sealed_value_opens_only_in_its_place() -> None:
    s = sealer()
    sealed = s.seal("123456", seal_context("a1", "reception_code"))
    assert "123456" not in sealed.model_dump_json()
    assert s.open(sealed, seal_context("a1", "reception_code")) == "123456"
    with pytest.raises(SealError):
        s.open(sealed, seal_context("a2", "reception_code"))  # copied onto another appointment
    with pytest.raises(SealError):
        s.open(sealed, seal_context("a1", "guest_url"))
    tampered = sealed.model_copy(update={"ciphertext": sealed.ciphertext[:-4] + "AAAA"})
    with pytest.raises(SealError):
        s.open(tampered, seal_context("a1", "reception_code"))


def test_keys_rotate_old_kid_still_opens_unknown_kid_refused() -> None:
    old_key, new_key = Sealer.generate_key(), Sealer.generate_key()
    before = Sealer.from_config({"k1": old_key})
    sealed = before.seal("secret", "ctx")
    after = Sealer.from_config({"k1": old_key, "k2": new_key}, "k2")
    assert after.open(sealed, "ctx") == "secret"
    assert after.seal("x", "ctx").kid == "k2"
    with pytest.raises(SealError, match="no seal key"):
        Sealer.from_config({"k2": new_key}).open(sealed, "ctx")


def test_bad_key_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="16, 24 or 32"):
        Sealer.from_config({"k": "c2hvcnQ="})
    with pytest.raises(ValueError, match="active key id"):
        Sealer.from_config({"k": Sealer.generate_key()}, "other")


class _Settings(MailSealSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SEALTEST_", extra="ignore")


def test_seal_settings_read_json_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Sealer.generate_key()
    monkeypatch.setenv("SEALTEST_MAIL_SEAL_KEYS", json.dumps({"k9": key}))
    settings = _Settings()
    found = settings.mail_sealer()
    assert found is not None and found.active_kid == "k9"
    assert key not in repr(settings)
    monkeypatch.delenv("SEALTEST_MAIL_SEAL_KEYS")
    assert _Settings().mail_sealer() is None
    with pytest.raises(ValidationError):
        _Settings(mail_seal_keys={"k": "c2hvcnQ="})


def test_guest_messages_round_trip_with_ciphertext_only() -> None:
    s = sealer()
    invitation = GuestInvitationRequested(
        appointment=snapshot(), host_name="Hana", guest_url=s.seal(URL, seal_context("a1", "guest_url"))
    )
    event = new_event(invitation, source="/services/appointments", subject="a1", tenant_id="t1")
    wire = serialize_event(event)
    assert URL.encode() not in wire and b"Zt7bQ2kq" not in wire
    parsed = parse_event(wire)
    assert isinstance(parsed.data, GuestInvitationRequested)
    assert s.open(parsed.data.guest_url, seal_context("a1", "guest_url")) == URL
    assert parsed.type == "jp.visitor-scheduling.guest-message.invitation-requested.v1"

    code = GuestConfirmationRequested(
        appointment=snapshot(2), reception_code=s.seal("654321", seal_context("a1", "reception_code"))
    )
    wire = serialize_event(new_event(code, source="/s", subject="a1", tenant_id="t1"))
    assert b"654321" not in wire
    assert isinstance(parse_event(wire).data, GuestConfirmationRequested)


def test_a_plain_secret_is_not_accepted_in_place_of_a_sealed_one() -> None:
    with pytest.raises(ValidationError):
        GuestInvitationRequested(appointment=snapshot(), guest_url=URL)  # type: ignore[arg-type]


def test_guest_checked_in_round_trips() -> None:
    slot = snapshot().candidates[0]
    data = GuestCheckedIn(
        appointment_id="a1",
        tenant_id="t1",
        appointment_version=3,
        title="Kickoff",
        host_employee_id="e1",
        host_email="host@example.com",
        guests=snapshot().guests,
        slot=slot,
        checked_in_at=datetime(2030, 4, 1, 0, 55, tzinfo=UTC),
        device_id="d1",
    )
    parsed = parse_event(serialize_event(new_event(data, source="/s", subject="a1", tenant_id="t1")))
    assert parsed.data == data
    assert parsed.type == "jp.visitor-scheduling.appointment.guest-checked-in.v1"


def test_guest_message_topic_is_registered_with_retry_and_dead_letter() -> None:
    names = {t.name for t in all_topics(3)}
    assert {GUEST_MESSAGES, dead_letter_topic(GUEST_MESSAGES)} <= names


def test_sealed_values_are_harmless_in_logs() -> None:
    sealed = sealer().seal("123456", "ctx")
    assert "123456" not in json.dumps(redact(sealed.model_dump()))
    assert isinstance(SealedSecret.model_validate(sealed.model_dump()), SealedSecret)


# --- the reception principal ---------------------------------------------------------------------

KEY = Ed25519PrivateKey.generate()
JWK = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(KEY.public_key())) | {"kid": "k1", "alg": "EdDSA"}


def mint(**claims: object) -> str:
    now = int(time.time())
    body = {"iss": "i", "aud": "a", "sub": "dev-1", "iat": now, "exp": now + 300} | claims
    return jwt.encode(body, KEY, algorithm="EdDSA", headers={"kid": "k1"})


async def test_reception_tokens_pass_require_reception_and_nothing_employee() -> None:
    verifier = JwtVerifier(JwksSource(static={"keys": [JWK]}), issuer="i", audience="a")
    principal = await verifier.verify(mint(typ="reception", tid="t1", role="reception"))
    assert principal.kind is PrincipalKind.RECEPTION and principal.device_id == "dev-1"
    assert require_reception(principal) is principal
    with pytest.raises(ProblemError) as refused:
        require_employee(principal)
    assert refused.value.problem.status == 403
    employee = await verifier.verify(mint(sub="e1", tid="t1", role="admin"))
    with pytest.raises(ProblemError) as not_reception:
        require_reception(employee)
    assert not_reception.value.problem.code == "reception_token_required"
    with pytest.raises(TokenInvalid):
        await verifier.verify(mint(typ="reception", role="reception"))  # no tenant
