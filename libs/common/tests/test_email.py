"""``visitor_common.email.EmailStr``: pydantic's address check, remembered per address."""

from __future__ import annotations

import pydantic
import pytest
from pydantic import BaseModel

from visitor_common.email import EmailStr, _normalized


class Ours(BaseModel):
    address: EmailStr


class Theirs(BaseModel):
    address: pydantic.EmailStr


@pytest.mark.parametrize("typed", ["Host@Example.COM", "guest+tag@sub.example.org", "名前@example.jp"])
def test_the_same_normalized_address_as_pydantic(typed: str) -> None:
    assert Ours(address=typed).address == Theirs(address=typed).address


@pytest.mark.parametrize("typed", ["no-at-sign", "a@", "@example.com", "a@@example.com", ""])
def test_the_same_refusals_as_pydantic_every_time(typed: str) -> None:
    for _ in range(2):  # a refusal is not remembered as an answer
        with pytest.raises(pydantic.ValidationError):
            Ours(address=typed)


def test_the_same_schema_as_pydantic() -> None:
    assert Ours.model_json_schema()["properties"] == Theirs.model_json_schema()["properties"]


def test_an_address_is_checked_once() -> None:
    _normalized.cache_clear()
    for _ in range(3):
        Ours(address="host@example.com")
    assert _normalized.cache_info().hits == 2
