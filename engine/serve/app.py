"""The HTTP side of `connector serve`: POST /webhooks/<merchant>/<connection>, GET /healthz,
GET /metrics (a Starlette app; the server runs it with uvicorn)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.serve.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from engine.serve.server import Server

log = logging.getLogger(__name__)


class _TooLarge(Exception):
    pass


def _json(status: int, body: dict) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json")


async def _read(request: Request, limit: int) -> bytes:
    """The body, never reading more than `limit` bytes of it (a body without a Content-Length
    is read chunk by chunk and refused as soon as it passes the limit)."""
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(server: Server) -> Starlette:
    metrics = server.metrics

    async def webhook(request: Request) -> Response:
        started = time.perf_counter()
        merchant, connection = request.path_params["merchant"], request.path_params["connection"]
        found = server.endpoint(merchant, connection)
        if found is None:
            metrics.refused.labels("", "", "unknown_endpoint").inc()
            return _json(404, {"error": "no webhook endpoint here"})
        service, endpoint = found
        if server.stopping.is_set():
            metrics.refused.labels(merchant, connection, "unavailable").inc()
            return _json(503, {"error": "the server is stopping; send it again"})
        declared = endpoint.too_large(request.headers.get("content-length"))
        if declared is None:
            metrics.refused.labels(merchant, connection, "bad_request").inc()
            return _json(400, {"error": "bad Content-Length"})
        try:
            if declared:
                raise _TooLarge
            raw = await _read(request, endpoint.max_body_bytes)
        except _TooLarge:
            metrics.refused.labels(merchant, connection, "too_large").inc()
            return _json(413, {"error": f"the body is larger than {endpoint.max_body_bytes} bytes"})
        headers = {k.lower(): v for k, v in reversed(request.headers.items())}  # the first of a repeated name
        verdict = endpoint.check(raw, headers)
        if verdict.status != 200:
            metrics.refused.labels(merchant, connection, verdict.reason).inc()
            log.info("%s / %s: refused a delivery (%s)", merchant, connection, verdict.reason)
            return _json(verdict.status, {"error": "stale delivery" if verdict.reason == "stale"
                                          else "signature missing or invalid"})
        try:
            new = await asyncio.wrap_future(service.writer.submit(verdict.event))
        except Exception as exc:  # noqa: BLE001  (not stored, so not acknowledged: the platform resends)
            metrics.refused.labels(merchant, connection, "unavailable").inc()
            log.error("%s / %s: could not store an event: %s", merchant, connection, exc)
            return _json(503, {"error": "could not store the event; send it again"})
        (metrics.received if new else metrics.duplicates).labels(merchant, connection).inc()
        server.health.event_received(merchant, connection)
        metrics.ack_seconds.labels(merchant, connection).observe(time.perf_counter() - started)
        return _json(200, {"ok": True, "duplicate": not new})

    async def healthz(request: Request) -> Response:
        healthy, report = await to_thread.run_sync(server.health_report)
        return _json(200 if healthy else 503, report)

    async def metrics_text(request: Request) -> Response:
        text = await to_thread.run_sync(metrics.text)
        return Response(text, media_type=CONTENT_TYPE)

    from engine.ui import serve_routes  # the operations page under /ui (engine/ui)

    return Starlette(routes=[
        Route("/webhooks/{merchant}/{connection}", webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
        *serve_routes(server),
    ])
