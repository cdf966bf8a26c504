"""Free text that cannot hurt: one pydantic type for every free-text field of every service.

``SafeText`` (titles, names, companies, reasons: one line) and ``SafeMultilineText`` (notes:
line breaks and tabs kept) normalize to Unicode NFC and refuse, with a 422 naming the field:

- C0 and C1 control characters (NUL, ESC, CR/LF in one-line text, DEL, U+0080–U+009F), and
  the line/paragraph separators U+2028/U+2029 in one-line text — they split headers, log lines
  and calendar descriptions (``Guest: Visit\\r\\nX-Injected: 1``);
- bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which
  make text display in another order than it is stored ("Trojan Source"); the plain marks
  U+200E/U+200F/U+061C stay allowed, real right-to-left text needs them;
- lone surrogates (a JSON ``\\ud800`` escape), which cannot be encoded as UTF-8 later;
- a non-empty string with no visible character: only spaces, zero-width or other format
  characters, combining marks, or the "blank letters" (Hangul fillers, braille blank).

The empty string passes (whether a field may be empty is its own ``min_length``); in
multi-line text CR LF and lone CR become LF, since browsers send text areas with CR LF.

Use with constraints, the constraints first (so stripping and lengths run before, with
pydantic's usual messages): ``Annotated[str, StringConstraints(max_length=200), SAFE_TEXT]``;
without constraints ``SafeText`` / ``SafeMultilineText``.
Validate at the edge (request bodies): stored documents and events written before may hold
older values, and must keep loading.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LINE_SEPARATORS = frozenset("\u2028\u2029")
MULTILINE_ALLOWED = frozenset("\n\t")
# Letters and symbols that render as nothing; a name made only of them is a blank name.
BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _refuse(kind: str, message: str, char: str) -> PydanticCustomError:
    return PydanticCustomError(
        f"text_{kind}", "{message} (U+{codepoint})", {"message": message, "codepoint": f"{ord(char):04X}"}
    )


def _visible(char: str) -> bool:
    category = unicodedata.category(char)
    return not (category[0] in "ZCM" or char.isspace() or char in BLANK_CHARACTERS)


def _check(value: str, allowed_controls: frozenset[str]) -> str:
    for char in value:
        category = unicodedata.category(char)
        if char in BIDI_CONTROLS:
            raise _refuse(
                "bidi_control", "bidirectional override or isolate characters are not allowed", char
            )
        if category == "Cs":
            raise _refuse("surrogate", "unpaired surrogates are not allowed", char)
        if (category == "Cc" or char in LINE_SEPARATORS) and char not in allowed_controls:
            raise _refuse("control_character", "control characters are not allowed", char)
    if value and not any(_visible(char) for char in value):
        raise PydanticCustomError("text_invisible", "the text has no visible character")
    return value


def safe_text(value: str) -> str:
    """One line of text, NFC-normalized; raises ``PydanticCustomError`` when unsafe."""
    return _check(unicodedata.normalize("NFC", value), frozenset())


def safe_multiline_text(value: str) -> str:
    """Text that keeps line breaks (LF) and tabs, NFC-normalized; CR LF / CR become LF."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _check(unicodedata.normalize("NFC", value), MULTILINE_ALLOWED)


SAFE_TEXT = AfterValidator(safe_text)
SAFE_MULTILINE_TEXT = AfterValidator(safe_multiline_text)
SafeText = Annotated[str, SAFE_TEXT]
SafeMultilineText = Annotated[str, SAFE_MULTILINE_TEXT]
