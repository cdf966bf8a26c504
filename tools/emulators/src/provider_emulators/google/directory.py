"""Admin SDK Directory API: calendar resources and buildings (read-only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from provider_emulators.google.context import GoogleEmulator
from provider_emulators.google.errors import GoogleApiError, invalid
from provider_emulators.google.tokens import DIRECTORY_SCOPES, require_scope

PREFIX = "/admin/directory/v1/customer/{customer}/resources"
DEFAULT_PAGE = 100
MAX_PAGE = 500
AuthHeader = Annotated[str | None, Header()]
MaxResults = Annotated[int | None, Query(alias="maxResults")]
PageToken = Annotated[str | None, Query(alias="pageToken")]


def forbidden() -> GoogleApiError:
    return GoogleApiError(403, "forbidden", "Not Authorized to access this resource/api")


def resource_not_found(kind: str) -> GoogleApiError:
    return GoogleApiError(404, "notFound", f"Resource Not Found: {kind}")


def paginate(
    items: list[dict[str, Any]], max_results: int | None, page_token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    size = DEFAULT_PAGE if max_results is None else max_results
    if not 1 <= size <= MAX_PAGE:
        raise invalid(
            f"Invalid value '{size}'. Values must be within the range: [1, {MAX_PAGE}]", "maxResults"
        )
    offset = 0
    if page_token is not None:
        if not page_token.isdigit() or int(page_token) > len(items):
            raise invalid("Invalid Input: pageToken", "pageToken")
        offset = int(page_token)
    end = offset + size
    return items[offset:end], (str(end) if end < len(items) else None)


def build_directory_router(emu: GoogleEmulator) -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    state = emu.state

    def customer_id(authorization: str | None, customer: str) -> str:
        access = emu.tokens.authenticate(authorization)
        require_scope(access, DIRECTORY_SCOPES)
        user = state.users[access.email]
        own = state.customer_of(user)
        if own is None or not user.directory_permission or customer not in ("my_customer", own):
            raise forbidden()
        return own

    def listing(
        kind: str, items_key: str, items: list[dict[str, Any]], size: int | None, token: str | None
    ) -> dict[str, Any]:
        page, next_token = paginate(items, size, token)
        body: dict[str, Any] = {"kind": kind, "etag": f'"dir{state.change_seq}"', items_key: page}
        if next_token is not None:
            body["nextPageToken"] = next_token
        return body

    @router.get("/buildings")
    async def buildings(
        customer: str,
        authorization: AuthHeader = None,
        max_results: MaxResults = None,
        page_token: PageToken = None,
    ) -> dict[str, Any]:
        cid = customer_id(authorization, customer)
        items = [b.resource for b in state.buildings.values() if b.customer_id == cid]
        return listing(
            "admin#directory#resources#buildings#buildingsList", "buildings", items, max_results, page_token
        )

    @router.get("/buildings/{building_id}")
    async def building(customer: str, building_id: str, authorization: AuthHeader = None) -> dict[str, Any]:
        cid = customer_id(authorization, customer)
        found = state.buildings.get(building_id)
        if found is None or found.customer_id != cid:
            raise resource_not_found("building")
        return found.resource

    @router.get("/calendars")
    async def calendars(
        customer: str,
        authorization: AuthHeader = None,
        max_results: MaxResults = None,
        page_token: PageToken = None,
    ) -> dict[str, Any]:
        cid = customer_id(authorization, customer)
        items = [r.resource for r in state.rooms.values() if r.customer_id == cid]
        return listing(
            "admin#directory#resources#calendars#calendarResourcesList",
            "items",
            items,
            max_results,
            page_token,
        )

    @router.get("/calendars/{resource_id}")
    async def calendar_resource(
        customer: str, resource_id: str, authorization: AuthHeader = None
    ) -> dict[str, Any]:
        cid = customer_id(authorization, customer)
        found = next((r for r in state.rooms.values() if r.resource["resourceId"] == resource_id), None)
        if found is None or found.customer_id != cid:
            raise resource_not_found("calendar")
        return found.resource

    return router
