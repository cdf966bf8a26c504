"""E-mail address fields: pydantic's ``EmailStr`` with its check remembered per address.

The check (``email-validator``: syntax, IDNA, normalization) is a pure function of the string
and costs about as much as the rest of a small model's validation; our services validate the
same few addresses over and over (each stored appointment loaded, each snapshot event built, each
event read). Under load that was 9 % of the appointments service's CPU (issue 14's profile).
Same validation, same normalized result, same schema (``format: email``) as ``pydantic.EmailStr``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import pydantic
from pydantic.networks import validate_email

CACHED_ADDRESSES = 16_384

if TYPE_CHECKING:
    EmailStr = str
else:

    class EmailStr(pydantic.EmailStr):
        @classmethod
        def _validate(cls, input_value: str, /) -> str:
            return _normalized(input_value)


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def _normalized(value: str) -> str:
    # A refused address raises, and exceptions are not cached: it is checked again next time.
    return validate_email(value)[1]  # what pydantic.EmailStr returns
