"""The local stack's secrets are made once per state dir and kept: a restarted auth signs with
the same key, so the tokens it issued before its restart stay valid."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from devstack.stack import Secrets


def test_the_signing_key_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    first = Secrets.load_or_create(path)
    key = serialization.load_pem_private_key(first.signing_key_pem.encode(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert Secrets.load_or_create(path).signing_key_pem == first.signing_key_pem


def test_a_state_dir_from_before_gets_a_signing_key_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    old = {"operator_key": "op", "encryption_key": "enc", "service_clients": {"appointments": "s"}}
    path.write_text(json.dumps(old))
    loaded = Secrets.load_or_create(path)
    assert (loaded.operator_key, loaded.service_clients) == ("op", {"appointments": "s"})
    assert loaded.signing_key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert Secrets.load_or_create(path).signing_key_pem == loaded.signing_key_pem
