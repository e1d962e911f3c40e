"""The Rithum (ChannelAdvisor) REST API simulator: OAuth refresh-token grant at /oauth2/token, the
OData v4 API under /v1, its limits, and an admin API under /_admin (no auth, no limit).

Layering, outermost first: the gate (request log, bearer token, the per-profile requests-per-minute
window and the per-integration concurrency cap, both answered with 429 and the OData error body),
then the routes. Facts: shared/platforms/commercetools-salesforce-rithum.md, section 4.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from simulators.common import ADMIN_PREFIX, FaultConfig, add_fault_injection
from simulators.shopify.values import JSONResponse

from .odata import ODataError, compile_filter, shape
from .state import ITEM_MONEY, ORDER_MONEY, PRODUCT_DIMENSIONS, PRODUCT_MONEY, Account, ApiError

DEFAULT_CREDENTIALS = {
    "application_id": "rithum-sandbox-app",
    "shared_secret": "rithum-sandbox-secret",
    "refresh_token": "rithum-sandbox-refresh",
}
DENIED = "Authorization has been denied for this request."


def error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    """4.2: {"error": {"code", "message"}}."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


class Limits:
    """4.3: 2,000 requests per minute per profile (a sliding window) and 5 concurrent requests per
    integration. A refused request is not counted against the window (UNCONFIRMED)."""

    def __init__(self, account: Account, clock: Callable[[], float]) -> None:
        self.account, self.clock = account, clock
        self.window: collections.deque[float] = collections.deque()
        self.in_flight = 0

    def enter(self) -> str | None:
        settings, now = self.account.settings, self.clock()
        while self.window and self.window[0] <= now - settings.window_seconds:
            self.window.popleft()
        if self.in_flight >= settings.max_concurrent:
            return "concurrency"
        if len(self.window) >= settings.requests_per_minute:
            return "rate"
        self.window.append(now)
        self.in_flight += 1
        stats = self.account.stats
        stats["peak_concurrency"] = max(stats["peak_concurrency"], self.in_flight)
        return None

    def leave(self) -> None:
        self.in_flight -= 1

    def reset(self) -> None:
        self.window.clear()


class RithumGate:
    def __init__(self, app: ASGIApp, account: Account, limits: Limits, clock: Callable[[], float]) -> None:
        self.app, self.account, self.limits, self.clock = app, account, limits, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX) or path == "/oauth2/token":
            await self.app(scope, receive, send)
            return
        seen = {"status": 0}

        async def recording_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        try:
            await self._dispatch(scope, receive, recording_send)
        finally:
            self._record(scope, seen["status"])

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        account = self.account
        headers = Headers(scope=scope)
        token = None
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        else:  # 4.1: the token may also come as ?access_token=
            token = dict(parse_qsl(scope.get("query_string", b"").decode())).get("access_token")
        expiry = account.tokens.get(token or "")
        if expiry is None or expiry <= self.clock():
            account.stats["unauthorized"] += 1
            # UNCONFIRMED: the exact 401 body; the C# client looks for this sentence in it.
            await JSONResponse({"Message": DENIED}, status_code=401)(scope, receive, send)
            return
        refused = self.limits.enter()
        if refused is not None:
            account.stats["throttled"] += 1
            account.stats[f"throttled_{refused}"] += 1
            message = ("Too many concurrent requests: at most "
                       f"{account.settings.max_concurrent} at a time per integration."
                       if refused == "concurrency" else
                       f"Request limit of {account.settings.requests_per_minute} requests per minute exceeded.")
            await error(429, "TooManyRequests", message,
                        {"Retry-After": str(account.settings.retry_after_seconds)})(scope, receive, send)
            return
        try:
            if account.settings.latency_seconds > 0:
                await asyncio.sleep(account.settings.latency_seconds)
            await self.app(scope, receive, send)
        finally:
            self.limits.leave()

    def _record(self, scope: Scope, status: int) -> None:
        stats = self.account.stats
        stats["requests"] += 1
        self.account.requests.append({"method": scope["method"], "path": scope["path"],
                                      "query": scope.get("query_string", b"").decode("latin-1"), "status": status})


# -- helpers -------------------------------------------------------------------------------------

def account_of(request: Request) -> Account:
    return request.app.state.account


DECIMAL_FIELDS = frozenset(PRODUCT_MONEY + PRODUCT_DIMENSIONS + ORDER_MONEY + ITEM_MONEY + (
    "ItemAdjustment", "TaxAdjustment", "ShippingAdjustment", "ShippingTaxAdjustment", "ShippingCost",
    "InsuranceCost", "TaxCost"))


def _string_decimals(value: Any) -> str | None:
    """The first Edm.Decimal property written as a JSON string, if any."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in DECIMAL_FIELDS and isinstance(item, str):
                return key
            found = _string_decimals(item)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _string_decimals(item)
            if found:
                return found
    return None


async def body_of(request: Request) -> Any:
    """The JSON body. OData v4 JSON writes Edm.Decimal as a number; a client may send decimals as
    strings only when its Content-Type says IEEE754Compatible=true (OData JSON format, 3.2).
    UNCONFIRMED that Rithum honours the parameter; the simulator holds clients to the standard."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        data = json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise ApiError(400, "InvalidRequest", "The request body is not valid JSON.") from None
    if "ieee754compatible=true" not in request.headers.get("content-type", "").replace(" ", "").lower():
        field = _string_decimals(data)
        if field:
            raise ApiError(400, "InvalidValue", f"Cannot convert the literal of property '{field}' to the expected "
                                               "type 'Edm.Decimal' (send numbers, or IEEE754Compatible=true).")
    return data


def key_of(request: Request, name: str = "id") -> int:
    try:
        return int(request.path_params[name])
    except (KeyError, ValueError):
        raise ApiError(400, "InvalidKey", "The key segment must be an integer.") from None


def navigator(account: Account) -> Callable[[str, dict], dict]:
    def nav(kind: str, record: dict) -> dict:
        if kind == "Product":
            ident = record["ID"]
            children = sorted((p for p in account.products.values() if p["ParentProductID"] == ident),
                              key=lambda p: p["ID"])
            return {
                "Attributes": ("Attribute", account.attributes.get(ident, [])),
                "Images": ("Image", account.images.get(ident, [])),
                "DCQuantities": ("DCQuantity", [q for (pid, _), q in sorted(account.dc_quantities.items())
                                                if pid == ident]),
                # UNCONFIRMED: the real navigation lists ProductChild link rows (ParentProductID,
                # ChildProductID); here the child products themselves, so one read gives a
                # parent with its variations.
                "Children": ("Product", children),
            }
        if kind == "Order":
            ident = record["ID"]
            return {"Items": ("OrderItem", account.order_items(ident)),
                    "Fulfillments": ("Fulfillment", account.order_fulfillments(ident)),
                    "Adjustments": ("OrderAdjustment", account.order_adjustments(ident)),
                    "CustomFields": ("CustomField", [])}
        if kind == "OrderItem":
            return {"Promotions": ("Promotion", []), "Adjustments": ("OrderAdjustment",
                    [a for a in account.adjustments.values() if a["OrderItemID"] == record["ID"]])}
        if kind == "Fulfillment":
            return {"Items": ("FulfillmentItem", record.get("Items") or [])}
        return {}
    return nav


def _plain(record: dict, kind: str) -> dict:
    """Navigation collections kept inside a stored record (a fulfillment's Items) are not properties."""
    return {k: v for k, v in record.items() if not (kind == "Fulfillment" and k == "Items")}


def collection(request: Request, entity_set: str, kind: str, records: list[dict], page_size: int) -> Response:
    """An OData collection answer: filtered, ordered by ID, one page of at most `page_size`
    (or $top), with @odata.nextLink carrying $skip for the next page (4.2)."""
    params = dict(request.query_params)
    unknown = [k for k in params if k.startswith("$") and k not in
               ("$filter", "$select", "$expand", "$orderby", "$top", "$skip", "$count")]
    if unknown:
        raise ODataError(f"The query parameter '{unknown[0]}' is not supported.")
    predicate = compile_filter(params.get("$filter"))
    account = account_of(request)
    nav = navigator(account)
    if predicate is not None:
        # A filter may look into a navigation collection (DCQuantities/any(...)).
        records = [r for r in records
                   if predicate({**_plain(r, kind), **{name: items for name, (_, items) in nav(kind, r).items()}})]
    order = params.get("$orderby")
    if order:
        name, _, direction = order.strip().partition(" ")
        records = sorted(records, key=lambda r: (r.get(name) is None, r.get(name)),
                         reverse=direction.strip().lower() == "desc")
    try:
        skip = int(params.get("$skip", 0))
        top = int(params["$top"]) if "$top" in params else None
    except ValueError:
        raise ODataError("$skip and $top take integers.") from None
    size = min(page_size, top) if top is not None else page_size
    page = records[skip:skip + size]
    body: dict[str, Any] = {"@odata.context": f"{request.base_url}v1/$metadata#{entity_set}"}
    if params.get("$count") == "true":
        body["@odata.count"] = len(records)
    body["value"] = [shape(_plain(r, kind), kind, params, nav) for r in page]
    remaining = len(records) - (skip + len(page))
    if top is not None:
        remaining = min(remaining, top - len(page))
    if remaining > 0 and page:
        query = {k: v for k, v in params.items() if k != "$skip"}
        if top is not None:
            query["$top"] = str(top - len(page))
        query["$skip"] = str(skip + len(page))
        body["@odata.nextLink"] = f"{str(request.url).split('?')[0]}?{urlencode(query)}"
    return JSONResponse(body)


def single(request: Request, kind: str, record: dict) -> Response:
    params = dict(request.query_params)
    body = {"@odata.context": f"{request.base_url}v1/$metadata#{kind}s/$entity",
            **shape(_plain(record, kind), kind, params, navigator(account_of(request)))}
    return JSONResponse(body)


# -- OAuth ---------------------------------------------------------------------------------------

async def token(request: Request) -> Response:
    """4.1 POST /oauth2/token: HTTP Basic applicationId:sharedSecret, form grant_type=refresh_token.
    The refresh token is long-lived and not rotated."""
    account = account_of(request)
    auth = request.headers.get("authorization", "")
    try:
        app_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":") if auth.startswith("Basic ") \
            else ("", "", "")
    except ValueError:
        app_id, secret = "", ""
    if app_id != account.application_id or secret != account.shared_secret:
        return JSONResponse({"error": "invalid_client"}, status_code=401)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    if form.get("grant_type") != "refresh_token":
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
    if form.get("refresh_token") != account.refresh_token:
        return JSONResponse({"error": "invalid_grant"}, status_code=400)
    return JSONResponse(account.grant(request.app.state.clock()))


# -- products and distribution centers ------------------------------------------------------------

async def products(request: Request) -> Response:
    account = account_of(request)
    if request.method == "POST":
        created = account.create_product(await body_of(request))
        return JSONResponse(shape(created, "Product", {}, navigator(account)), status_code=201)
    return collection(request, "Products", "Product", list(account.products.values()),
                      account.settings.product_page_size)


async def product(request: Request) -> Response:
    account = account_of(request)
    ident = key_of(request)
    if request.method == "PUT":
        account.update_product(ident, await body_of(request))
        return Response(status_code=204)
    if request.method == "DELETE":
        account.product(ident)
        del account.products[ident]
        return Response(status_code=204)
    return single(request, "Product", account.product(ident))


async def product_nav(request: Request) -> Response:
    """GET Products({id})/DCQuantities and the product's other collections."""
    account = account_of(request)
    record = account.product(key_of(request))
    name = request.path_params["nav"]
    found = navigator(account)("Product", record).get(name)
    if found is None:
        raise ApiError(404, "NotFound", f"No resource '{name}' on Product.")
    return collection(request, f"Products({record['ID']})/{name}", found[0], found[1], 100)


async def update_quantity(request: Request) -> Response:
    account_of(request).update_quantity(key_of(request), await body_of(request))
    return Response(status_code=204)


async def distribution_centers(request: Request) -> Response:
    account = account_of(request)
    return collection(request, "DistributionCenters", "DistributionCenter", list(account.dcs.values()), 100)


# -- orders -------------------------------------------------------------------------------------

async def orders(request: Request) -> Response:
    account = account_of(request)
    if request.method == "POST":
        created = account.create_order(await body_of(request))
        return JSONResponse(shape(created, "Order", {"$expand": "Items"}, navigator(account)), status_code=201)
    exported = request.query_params.get("exported")
    records = list(account.orders.values())
    if exported is not None:
        if exported not in ("true", "false"):
            raise ApiError(400, "InvalidValue", "exported takes true or false.")
        want = exported == "true"
        records = [o for o in records if (o["ID"] in account.exported) == want]
    return collection(request, "Orders", "Order", records, account.settings.order_page_size)


async def order(request: Request) -> Response:
    account = account_of(request)
    return single(request, "Order", account.order(key_of(request)))


async def order_export(request: Request) -> Response:
    account_of(request).export(key_of(request), request.method == "POST")
    return Response(status_code=204)


async def order_ship(request: Request) -> Response:
    account_of(request).ship(key_of(request), await body_of(request))
    return Response(status_code=204)


async def order_adjust(request: Request) -> Response:
    # UNCONFIRMED: the answer of Adjust; the created adjustments are returned so a caller can keep their ids.
    return JSONResponse(account_of(request).adjust(key_of(request), await body_of(request)))


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error(exc.status, exc.code, exc.message)


async def _odata_error(request: Request, exc: Exception) -> Response:
    return error(400, "InvalidQuery", str(exc))


def create_app(*, application_id: str = DEFAULT_CREDENTIALS["application_id"],
               shared_secret: str = DEFAULT_CREDENTIALS["shared_secret"],
               refresh_token: str = DEFAULT_CREDENTIALS["refresh_token"],
               clock: Callable[[], float] = time.monotonic, **settings: Any) -> Starlette:
    from . import admin

    account = Account(application_id=application_id, shared_secret=shared_secret, refresh_token=refresh_token)
    account.settings.update(settings)
    limits = Limits(account, clock)
    key = r"{id:int}"
    routes = [
        Route("/oauth2/token", token, methods=["POST"]),
        Route("/v1/Products", products, methods=["GET", "POST"]),
        Route(f"/v1/Products({key})", product, methods=["GET", "PUT", "DELETE"]),
        Route(f"/v1/Products({key})/UpdateQuantity", update_quantity, methods=["POST"]),
        Route(f"/v1/Products({key})/{{nav}}", product_nav, methods=["GET"]),
        Route("/v1/DistributionCenters", distribution_centers, methods=["GET"]),
        Route("/v1/Orders", orders, methods=["GET", "POST"]),
        Route(f"/v1/Orders({key})", order, methods=["GET"]),
        Route(f"/v1/Orders({key})/Export", order_export, methods=["POST", "DELETE"]),
        Route(f"/v1/Orders({key})/Ship", order_ship, methods=["POST"]),
        Route(f"/v1/Orders({key})/Adjust", order_adjust, methods=["POST"]),
        *admin.ROUTES,
    ]
    app = Starlette(routes=routes, exception_handlers={ApiError: _api_error, ODataError: _odata_error})
    app.add_middleware(RithumGate, account=account, limits=limits, clock=clock)
    app.state.account = account
    app.state.limits = limits
    app.state.clock = clock
    app.state.settings_defaults = dict(settings)
    add_fault_injection(app, FaultConfig(), lambda: error(503, "ServiceUnavailable", "The service is unavailable"),
                        lambda retry: error(429, "TooManyRequests", "Too many requests",
                                            {"Retry-After": str(max(1, int(retry)))}))
    return app
