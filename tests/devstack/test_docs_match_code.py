"""The README documents every setting exactly as the code defines it."""

from __future__ import annotations

from pathlib import Path

from devstack import configdoc

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_is_generated_from_the_settings() -> None:
    text = README.read_text()
    assert configdoc.render_into(text) == text, "run `make docs` to refresh the README table"


def test_every_service_documents_its_broker_and_store_settings() -> None:
    names = {env for _, env, _, _ in configdoc.rows()}
    for prefix in ("AUTH_", "APPOINTMENTS_", "CALENDAR_GOOGLE_", "CALENDAR_OUTLOOK_"):
        assert {f"{prefix}KAFKA_BOOTSTRAP_SERVERS", f"{prefix}MONGODB_URI", f"{prefix}SQLITE_PATH"} <= names
