"""Graph's JSON batching (``POST /v1.0/$batch``) for event writes issued together.

Request: ``{"requests": [{"id", "method", "url", "headers", "body"}]}`` with ``url`` relative to
the version root; the batch's own ``Authorization`` applies to every request in it. Answer:
``{"responses": [{"id", "status", "headers", "body"}]}`` in any order; at most 20 requests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from calendar_sync.adapters.batching import PartAnswer

WRITES = frozenset({"POST", "PATCH", "DELETE"})
JSON = "application/json"
MISSING = PartAnswer(
    502,
    [("content-type", JSON)],
    b'{"error":{"code":"BatchItemMissing","message":"No answer for this request in the batch."}}',
)


class GraphBatchCodec:
    max_requests = 20

    def __init__(self, root: str) -> None:
        """``root``: the Graph version root, ``https://graph.microsoft.com/v1.0``."""
        self._root = httpx.URL(root.rstrip("/") + "/")

    def batchable(self, request: httpx.Request) -> bool:
        url = request.url
        return (
            request.method in WRITES
            and url.host == self._root.host
            and url.port == self._root.port
            and url.path.startswith(self._root.path + "me/events")
        )

    def encode(self, requests: Sequence[httpx.Request]) -> httpx.Request:
        items = [self._item(str(n), request) for n, request in enumerate(requests)]
        first = requests[0]
        headers = {"Authorization": first.headers["authorization"], "Content-Type": JSON}
        return httpx.Request(
            "POST",
            self._root.join("$batch"),
            headers=headers,
            content=json.dumps({"requests": items}).encode(),
        )

    def _item(self, item_id: str, request: httpx.Request) -> dict[str, Any]:
        relative = request.url.raw_path.decode("ascii")[len(self._root.path) - 1 :]
        item: dict[str, Any] = {"id": item_id, "method": request.method, "url": relative}
        headers = {k: v for k, v in request.headers.items() if k.lower() == "prefer"}
        if request.content:
            headers["Content-Type"] = JSON
            item["body"] = json.loads(request.content)
        if headers:
            item["headers"] = headers
        return item

    def decode(self, requests: Sequence[httpx.Request], answer: httpx.Response) -> list[PartAnswer]:
        by_id = {str(r.get("id")): r for r in answer.json().get("responses", [])}
        parts: list[PartAnswer] = []
        for n in range(len(requests)):
            found = by_id.get(str(n))
            if found is None:  # Graph left it out: the caller sees a failure it may retry
                parts.append(MISSING)
                continue
            headers = [(str(k), str(v)) for k, v in (found.get("headers") or {}).items()]
            body = found.get("body")
            content = b"" if body is None else json.dumps(body).encode()
            if body is not None and not any(k.lower() == "content-type" for k, _ in headers):
                headers.append(("content-type", JSON))
            parts.append(PartAnswer(int(found.get("status", 502)), headers, content))
        return parts
