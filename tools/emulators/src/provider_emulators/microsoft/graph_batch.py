"""Graph ``POST /v1.0/$batch``: JSON batching, at most 20 requests, each run as if sent alone
with the batch's ``Authorization``; answers in the request order (Graph promises no order). The
change notifications of the batch's writes go out together, one POST per subscriber URL."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from provider_emulators.core.batch import run_inside
from provider_emulators.microsoft.context import Emulator
from provider_emulators.microsoft.errors import GraphError
from provider_emulators.microsoft.graph_common import authenticate, json_body

MAX_REQUESTS = 20


def build_router(emu: Emulator) -> APIRouter:
    router = APIRouter()

    @router.post("/v1.0/$batch")
    async def batch(request: Request) -> JSONResponse:
        authenticate(emu, request)
        body = await json_body(request)
        items = body.get("requests")
        if not isinstance(items, list) or not items:
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(items) > MAX_REQUESTS:
            raise GraphError(400, "BadRequest", f"The number of batch requests exceeds {MAX_REQUESTS}.")
        for item in items:  # every item checked before any runs: a bad batch changes nothing
            _check(item)
        with emu.notifier.gathered():
            answers = [await _one(request, item) for item in items]
        return JSONResponse({"responses": answers})

    return router


def _check(item: Any) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("url"), str) or not item.get("method"):
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if not isinstance(item.get("headers") or {}, dict):
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")


async def _one(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    headers["Authorization"] = request.headers["authorization"]
    content = b"" if item.get("body") is None else json.dumps(item["body"]).encode()
    if content:
        headers.setdefault("Content-Type", "application/json")
    url = str(item["url"])
    target = "/v1.0" + (url if url.startswith("/") else "/" + url)
    base = f"{request.url.scheme}://{request.url.netloc}"
    inner = await run_inside(request.app, base, str(item["method"]).upper(), target, headers, content)
    answer: dict[str, Any] = {
        "id": str(item.get("id")),
        "status": inner.status,
        "headers": {k: v for k, v in inner.headers if k.lower() in ("content-type", "retry-after", "etag")},
    }
    if inner.content:
        try:
            answer["body"] = json.loads(inner.content)
        except ValueError:
            answer["body"] = inner.content.decode("utf-8", "replace")
    return answer
