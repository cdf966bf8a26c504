"""SafeText / SafeMultilineText: what free text may hold."""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, StringConstraints, ValidationError

from visitor_common.text import SAFE_TEXT, SafeMultilineText, SafeText


class Form(BaseModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20), SAFE_TEXT]
    plain: SafeText = "x"
    notes: SafeMultilineText = ""


def refusal(**fields: str) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(ValidationError) as excinfo:
        Form(**fields)  # type: ignore[arg-type]
    error = excinfo.value.errors()[0]
    return error["loc"], error["type"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Visit\r\nX-Injected: 1", "text_control_character"),
        ("Visit\nNext", "text_control_character"),
        ("a\x00b", "text_control_character"),
        ("a\x1b[31mred", "text_control_character"),
        ("a\x7fb", "text_control_character"),
        ("a\x85b", "text_control_character"),  # C1 NEL
        ("a\tb", "text_control_character"),
        ("a\u2028b", "text_control_character"),
        ("invoice\u202egnp.exe", "text_bidi_control"),
        ("a\u2066b\u2069", "text_bidi_control"),
        ("\u200b\u200b", "text_invisible"),
        ("\ufeff\u2060", "text_invisible"),
        ("\u3164", "text_invisible"),
        ("\u0301\u0301", "text_invisible"),
    ],
)
def test_one_line_text_refuses_what_can_hurt_and_names_the_field(text: str, kind: str) -> None:
    assert refusal(title=text) == (("title",), kind)
    assert refusal(title="ok", plain=text) == (("plain",), kind)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("a\x00b", "text_control_character"),
        ("a\x1bb", "text_control_character"),
        ("a\u202eb", "text_bidi_control"),
        ("\u200b\n\u200b", "text_invisible"),
        (" \n\t ", "text_invisible"),
    ],
)
def test_multiline_text_refuses_the_same_but_keeps_line_breaks(text: str, kind: str) -> None:
    assert refusal(title="ok", notes=text) == (("notes",), kind)


def test_lone_surrogates_are_refused() -> None:
    # pydantic's own str check catches some; ours catches the rest (e.g. SafeText alone).
    assert refusal(title="ok", plain="a\ud800b")[1] in {"text_surrogate", "string_unicode"}
    assert refusal(title="a\udfffb")[1] in {"text_surrogate", "string_unicode"}
    # FastAPI decodes bodies with the standard json module, which lets a lone "\ud800" through.
    body = json.loads('{"title": "ok", "notes": "a\\ud800b"}')
    with pytest.raises(ValidationError, match=r"surrogate|unicode"):
        Form.model_validate(body)


def test_multiline_text_keeps_lf_and_tab_and_turns_crlf_into_lf() -> None:
    assert Form(title="ok", notes="line 1\r\nline 2\rline 3\n\tindented").notes == (
        "line 1\nline 2\nline 3\n\tindented"
    )


@pytest.mark.parametrize(
    "text",
    ["Sato Hanako", "佐藤 花子", "株式会社アクメ", "مرحبا\u200f", "Zoë", "emoji 🎉", "a\u200db", "A\u00a0B"],
)
def test_ordinary_text_of_every_script_passes(text: str) -> None:
    assert Form(title=text, plain=text).plain == unicodedata.normalize("NFC", text)


def test_text_is_normalized_to_nfc() -> None:
    decomposed = "Cafe\u0301"
    form = Form(title=decomposed, plain=decomposed, notes=decomposed)
    assert form.title == form.plain == form.notes == "Caf\u00e9"


def test_the_empty_string_is_left_to_the_fields_own_min_length() -> None:
    assert Form(title="ok", plain="", notes="").plain == ""
    assert refusal(title="   ")[1] == "string_too_short"


@given(st.text(max_size=40))
def test_whatever_passes_is_nfc_printable_and_has_something_to_see(text: str) -> None:
    try:
        value = Form(title="ok", plain=text).plain
    except ValidationError:
        return
    assert value == unicodedata.normalize("NFC", value)
    value.encode("utf-8")  # raises on a lone surrogate
    assert not any(unicodedata.category(c) == "Cc" for c in value)
    assert value == "" or any(not c.isspace() and unicodedata.category(c)[0] not in "ZCM" for c in value)
