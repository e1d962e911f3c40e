"""The Shopify Admin REST simulator app: version routing, auth, the call-limit bucket, the envelope.

Layering, outermost first: the gate (request log, version, access token, leaky bucket,
`X-Shopify-Shop-Api-Call-Limit` on every answer), then the fault injector, then the routes.
Injected faults therefore still cost a call and still carry the call-limit header.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulators.common import ADMIN_PREFIX, FaultConfig, FaultInjector, WebhookFaults

from . import admin, catalog, customers, fulfillment, graphql, inventory, orders, refunds, webhooks
from .bucket import LeakyBucket
from .errors import ApiError
from .graphql_bulk import BULK_PREFIX
from .state import ShopState
from .values import JSONResponse

DEFAULT_CREDENTIALS = {
    "shop": "sandbox-shop",
    "shop_domain": "sandbox-shop.myshopify.com",
    "access_token": "shpat_sandbox",
    "api_version": "2025-01",
    "webhook_secret": "sandbox-webhook-secret",
}
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
API_PATH = re.compile(r"^/admin/api/([^/]+)/")


def throttled_response(leak_per_second: float, retry_after: float) -> Response:
    message = (
        f"Exceeded {leak_per_second:g} calls per second for api client. "
        "Reduce request rates to resume uninterrupted service."
    )
    return JSONResponse({"errors": message}, status_code=429, headers={"Retry-After": f"{retry_after:.1f}"})


def unavailable_response() -> Response:
    return JSONResponse({"errors": "Service Unavailable"}, status_code=503)


class ShopifyGate:
    """Everything Shopify does before a route runs, and the call log tests count."""

    def __init__(
        self,
        app: ASGIApp,
        state: ShopState,
        bucket: LeakyBucket,
        access_token: str,
        pump: webhooks.WebhookPump | None,
    ) -> None:
        self.app = app
        self.state = state
        self.bucket = bucket
        self.access_token = access_token
        self.pump = pump

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith((ADMIN_PREFIX, BULK_PREFIX)):
            await self.app(scope, receive, send)
            return
        seen = {"status": 0}
        if scope["path"].endswith("/graphql.json"):  # its own cost bucket, no call-limit header
            async def send_seen(message: Message) -> None:
                if message["type"] == "http.response.start":
                    seen["status"] = message["status"]
                await send(message)

            try:
                await self._dispatch_graphql(scope, receive, send_seen)
            finally:
                self._record(scope, seen["status"])
            return

        async def send_with_limit(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                MutableHeaders(scope=message)["X-Shopify-Shop-Api-Call-Limit"] = self.bucket.header()
            await send(message)

        try:
            await self._dispatch(scope, receive, send_with_limit)
        finally:
            self._record(scope, seen["status"])

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = API_PATH.match(scope["path"])
        if match is None or match.group(1) != self.state.api_version:
            await JSONResponse({"errors": "Not Found"}, status_code=404)(scope, receive, send)
            return
        if Headers(scope=scope).get("x-shopify-access-token") != self.access_token:
            await JSONResponse({"errors": INVALID_TOKEN}, status_code=401)(scope, receive, send)
            return
        wait = self.bucket.take()
        if wait is not None:
            await throttled_response(self.bucket.leak_per_second, wait)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _dispatch_graphql(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = API_PATH.match(scope["path"])
        if match is None or not graphql.supported(match.group(1)):
            await JSONResponse({"errors": "Not Found"}, status_code=404)(scope, receive, send)
            return
        if Headers(scope=scope).get("x-shopify-access-token") != self.access_token:
            await JSONResponse({"errors": "[API] Invalid API key or access token (unrecognized login or wrong "
                                "password)"}, status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _record(self, scope: Scope, status: int) -> None:
        state = self.state
        state.stats["requests"] += 1
        if status == 429:
            state.stats["throttled"] += 1
        state.requests.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "status": status,
            }
        )
        if self.pump is not None and self.pump.enabled and webhooks.pending(state):
            self.pump.kick()


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse({"errors": exc.errors}, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    text = "Not Found" if exc.status_code == 404 else exc.detail
    return JSONResponse({"errors": text}, status_code=exc.status_code)


def create_app(
    *,
    seed: int = 0,
    shop: str = DEFAULT_CREDENTIALS["shop"],
    access_token: str = DEFAULT_CREDENTIALS["access_token"],
    api_version: str = DEFAULT_CREDENTIALS["api_version"],
    webhook_secret: str = DEFAULT_CREDENTIALS["webhook_secret"],
    bucket_size: int = 40,
    leak_per_second: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    auto_deliver_webhooks: bool = False,
) -> Starlette:
    state = ShopState(seed=seed, shop=shop, api_version=api_version, webhook_secret=webhook_secret)
    bucket = LeakyBucket(bucket_size, leak_per_second, clock)
    faults = FaultConfig(seed=seed)
    pump = webhooks.WebhookPump(state, enabled=auto_deliver_webhooks, faults=WebhookFaults(faults))  # POST /_admin/webhooks/point enables it
    api_routes = [
        *catalog.ROUTES,
        *inventory.ROUTES,
        *orders.ROUTES,
        *fulfillment.ROUTES,
        *refunds.ROUTES,
        *customers.ROUTES,
        *webhooks.ROUTES,
        *graphql.ROUTES,
    ]
    app = Starlette(
        routes=[*admin.ROUTES, *graphql.ADMIN_ROUTES, Mount("/admin/api/{version}", routes=api_routes)],
        middleware=[
            Middleware(ShopifyGate, state=state, bucket=bucket, access_token=access_token, pump=pump),
            Middleware(
                FaultInjector,
                config=faults,
                server_error=unavailable_response,
                throttled=lambda retry: throttled_response(bucket.leak_per_second, retry),
            ),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    app.state.sim = state
    app.state.faults = faults
    app.state.bucket = bucket
    app.state.bucket_defaults = {"size": bucket_size, "leak_per_second": leak_per_second}
    app.state.fault_defaults = faults.as_dict()
    app.state.webhook_pump = pump
    return app
