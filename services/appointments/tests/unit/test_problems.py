"""The API's mapping of domain errors to problem documents (the domain knows no HTTP)."""

from __future__ import annotations

import inspect

from appointments_service.api.problems import HTTP_STATUS, problem_of
from appointments_service.domain import errors
from appointments_service.domain.errors import (
    DomainError,
    InvalidAppointment,
    PreconditionFailed,
    Violation,
)


def test_every_domain_error_has_an_http_status() -> None:
    kinds = [k for _, k in inspect.getmembers(errors, inspect.isclass) if issubclass(k, DomainError)]
    assert set(kinds) - set(HTTP_STATUS) == {DomainError}


def test_violations_become_validation_errors_located_in_the_body() -> None:
    error = InvalidAppointment(
        [Violation(("candidates", 2, "start"), "the slot must start in the future", "slot_in_past")]
    )
    assert problem_of(error).model_dump(exclude_none=True) == {
        "type": "about:blank",
        "title": "The request is not valid",
        "status": 422,
        "detail": "One or more fields break a scheduling rule; see errors.",
        "code": "validation_failed",
        "errors": [
            {
                "loc": ["body", "candidates", 2, "start"],
                "msg": "the slot must start in the future",
                "type": "slot_in_past",
            }
        ],
    }


def test_context_becomes_extension_members_without_overriding_the_standard_ones() -> None:
    error = PreconditionFailed("stale", current_version=4, status=200, code="x")
    assert problem_of(error).model_dump(exclude_none=True) == {
        "type": "about:blank",
        "title": "The appointment changed since you read it",
        "status": 412,
        "detail": "stale",
        "code": "precondition_failed",
        "current_version": 4,
    }
