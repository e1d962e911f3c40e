"""create_app: wires state, the endpoint table, the request checks and the envelope together."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common import FaultConfig, FaultInjector, WebhookFaults

from . import (
    admin,
    aftersales,
    catalog,
    fulfillment,
    gateway,
    inventory,
    media,
    orders,
    products,
    shops,
    tokens,
)
from . import webhooks as webhook_api
from .errors import (
    BAD_CONTENT_TYPE,
    INTERNAL,
    INVALID_PARAM,
    RATE_LIMITED,
    ApiError,
    envelope,
    error_response,
)
from .requestlog import RequestLog
from .routing import Ctx, Router
from .state import Credentials, SimState

log = logging.getLogger(__name__)

DEFAULT_CREDENTIALS = {
    "app_key": "sandbox-app-key",
    "app_secret": "sandbox-app-secret",
    "access_token": "sandbox-access-token",
    "refresh_token": "sandbox-refresh-token",
    "shop_cipher": "ROW_sandboxcipher",
    "shop_id": "7495540735365777507",
    "region": "US",
}

# Each module declares its own endpoints; patterns are anchored, so the order does not matter.
ROUTES = (shops.ROUTES + products.ROUTES + inventory.ROUTES + catalog.ROUTES + media.ROUTES + orders.ROUTES
          + fulfillment.ROUTES + aftersales.ROUTES + webhook_api.ROUTES)
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _parse_body(raw: bytes, content_type: str) -> object:
    media_type = _media_type(content_type)
    if not raw.strip() or media_type == "multipart/form-data":
        return None
    if media_type not in ("application/json", ""):
        raise ApiError(BAD_CONTENT_TYPE, "Content-Type must be application/json or multipart/form-data")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(INVALID_PARAM, f"Invalid params: the body is not valid JSON ({exc})") from exc


class _HardDrop:
    """Turns the fault injector's ConnectionAbortedError into a cut connection.

    Raised before any response bytes, uvicorn would answer a plain 500; starting the response
    first makes it close the socket mid-reply, which is what a client sees on a real drop.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        started = False

        async def watch(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except ConnectionAbortedError:
            if not started:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")]})
            raise


class TikTokShopApp(Starlette):
    """Starlette app whose request log and fault injector sit outside Starlette's own error
    middleware, so a simulated dropped connection reaches the server as a closed socket instead
    of being turned into a 500 page."""

    sim: SimState
    faults: FaultConfig

    def build_middleware_stack(self):
        inner = super().build_middleware_stack()
        sim = self.state.sim

        def server_error() -> Response:
            return envelope(INTERNAL, "Internal error, please retry", sim.ids.request_id(sim.clock()), status=503)

        def throttled(retry_after: float) -> Response:
            return envelope(RATE_LIMITED, "Too many requests", sim.ids.request_id(sim.clock()), status=429,
                            headers={"Retry-After": str(max(1, math.ceil(retry_after)))})

        return _HardDrop(RequestLog(FaultInjector(inner, self.state.faults, server_error, throttled), sim))


def create_app(
    *,
    seed: int = 0,
    app_key: str = DEFAULT_CREDENTIALS["app_key"],
    app_secret: str = DEFAULT_CREDENTIALS["app_secret"],
    access_token: str = DEFAULT_CREDENTIALS["access_token"],
    refresh_token: str = DEFAULT_CREDENTIALS["refresh_token"],
    shop_cipher: str = DEFAULT_CREDENTIALS["shop_cipher"],
    shop_id: str = DEFAULT_CREDENTIALS["shop_id"],
    region: str = DEFAULT_CREDENTIALS["region"],
    rate_limit_per_second: float = 50.0,
    audit_delay_seconds: float = 0.0,
    clock: Callable[[], float] = time.time,
    auto_deliver_webhooks: bool = False,
    sale_tax_rate: str | Decimal | None = None,
    package_weight_read_unit: str | None = None,
) -> Starlette:
    """`sale_tax_rate`: tax included in buyer prices on top of the seller's tax-exclusive price
    (e.g. "0.2" for 20% VAT); None takes the region's default from data/defaults.yaml (0).

    `package_weight_read_unit`: None reads package_weight back as written (KILOGRAM or POUND, as
    in the 202309 sample and the reference); "GRAM" reads it back in whole grams, for testing a
    reader against a unit other than the one it wrote (UNCONFIRMED which shops read GRAM)."""
    if package_weight_read_unit not in (None, "GRAM"):
        raise ValueError(f"package_weight_read_unit must be None or 'GRAM', got {package_weight_read_unit!r}")
    creds = Credentials(app_key, app_secret, access_token, refresh_token, shop_cipher, shop_id, region)
    rate = None
    if sale_tax_rate is not None:
        try:
            rate = Decimal(str(sale_tax_rate))
        except InvalidOperation as exc:
            raise ValueError(f"sale_tax_rate must be a decimal, got {sale_tax_rate!r}") from exc
        if not rate.is_finite() or rate < 0:
            raise ValueError(f"sale_tax_rate must be 0 or more, got {sale_tax_rate!r}")
    sim = SimState(seed=seed, creds=creds, clock=clock, audit_delay_seconds=audit_delay_seconds,
                   rate_limit_per_second=rate_limit_per_second, sale_tax_rate=rate,
                   weight_read_unit=package_weight_read_unit)
    faults = FaultConfig(seed=seed)
    dispatcher = webhook_api.WebhookDispatcher(sim, auto_deliver_webhooks, WebhookFaults(faults))
    router = Router(ROUTES)

    async def api(request: Request) -> Response:
        request_id = sim.ids.request_id(sim.clock())
        path = request.url.path
        if path in tokens.TOKEN_PATHS:
            return tokens.handle(sim, request, request_id)
        try:
            endpoint, params = router.resolve(request.method, path)
            raw = await request.body()
            content_type = request.headers.get("content-type", "")
            query = dict(request.query_params)
            gateway.check(sim, endpoint, path, query, raw, content_type, request.headers.get("x-tts-access-token"))
            products.settle_audits(sim)  # audits finish lazily, on the first request after they are due
            ctx = Ctx(sim, request, params, query, raw, _parse_body(raw, content_type), content_type)
            data = endpoint.handler(ctx)
        except ApiError as err:
            return error_response(err, request_id)
        except Exception as exc:  # a simulator bug must still answer in the platform's shape
            log.exception("tiktok simulator handler failed")
            return envelope(INTERNAL, f"Internal error: {type(exc).__name__}: {exc}", request_id, status=500)
        return envelope(0, "Success", request_id, data)

    routes = admin.routes(sim, faults, dispatcher) + [Route("/{path:path}", api, methods=ALL_METHODS)]
    app = TikTokShopApp(routes=routes)
    app.state.sim = sim
    app.state.faults = faults
    app.state.webhooks = dispatcher
    return app
