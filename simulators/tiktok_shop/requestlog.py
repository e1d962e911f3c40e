"""Outermost middleware: records every non-admin request with its HTTP status and envelope code.

It sits outside the fault injector, so injected 503s, 429s and dropped connections are counted
too (a dropped connection is logged with status 0).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .state import SimState

ADMIN_PREFIX = "/_admin"


class RequestLog:
    def __init__(self, app: ASGIApp, sim: SimState) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        entry = {"method": scope["method"], "path": scope["path"],
                 "query": dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
                 "status": 0, "code": None}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except ConnectionAbortedError:  # cut before a whole answer left: the client got none
            entry["status"] = 0
            raise
        finally:
            try:
                entry["code"] = json.loads(b"".join(chunks)).get("code")
            except (ValueError, AttributeError):
                pass
            self.sim.requests.append(entry)
