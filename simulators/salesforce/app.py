"""The Salesforce core simulator app (Order Management, Service Cloud): OAuth's refresh-token
grant at /services/oauth2/token, the REST API under /services/data/vXX.X, and an admin API under
/_admin for tests (seed the org, ship a fulfillment order as the warehouse would, set stock,
change settings, read the state and the request log).

Every API answer carries Sforce-Limit-Info (api-usage=USED/MAX); past the daily allocation, or
while `limit_exceeded_burst` lasts, calls get 403 REQUEST_LIMIT_EXCEEDED. A Composite request
counts as one call.
"""

from __future__ import annotations

import base64
import json
import secrets
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common import FaultConfig, add_fault_injection

from .core import VERSIONS, ApiError, Org, Settings, create, dispatch, present

DEFAULT_CREDENTIALS = {"client_id": "sf-client-id", "client_secret": "sf-client-secret",
                       "refresh_token": "sf-refresh-token"}


def _json(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value) if value != value.to_integral() else int(value)
        raise TypeError(type(value).__name__)

    content = b"" if body is None else json.dumps(body, default=default).encode()
    return Response(content, status_code=status, headers=headers,
                    media_type="application/json" if body is not None else None)


def _error(exc: ApiError, headers: dict | None = None) -> Response:
    return _json(exc.body(), exc.status, headers)


def create_app(settings: dict | None = None) -> Starlette:
    org = Org(Settings(**(settings or {})))

    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            form.setdefault("client_id", cid)
            form.setdefault("client_secret", secret)
        s = org.settings
        org.requests.append({"method": "POST", "path": "/services/oauth2/token",
                             "grant_type": form.get("grant_type")})
        if form.get("grant_type") != "refresh_token":
            return _json({"error": "unsupported_grant_type", "error_description": "grant type not supported"}, 400)
        if form.get("client_id") != s.client_id or form.get("client_secret") != s.client_secret:
            return _json({"error": "invalid_client", "error_description": "invalid client credentials"}, 400)
        if form.get("refresh_token") != s.refresh_token:
            return _json({"error": "invalid_grant", "error_description": "expired access/refresh token"}, 400)
        access = "00D" + secrets.token_hex(20)
        org.tokens.add(access)
        instance = s.instance_url or f"{request.url.scheme}://{request.url.netloc}"
        # Salesforce's answer has no expires_in; the session lasts the org's timeout (2 h by default).
        return _json({"access_token": access, "instance_url": instance, "id": f"{instance}/id/00D000000000001/005000000000001",
                      "token_type": "Bearer", "issued_at": "0", "signature": "c2lt", "scope": "api refresh_token"})

    async def api(request: Request) -> Response:
        version, path = request.path_params["version"], "/" + request.path_params["path"]
        raw = await request.body()
        with org.lock:
            org.requests.append({"method": request.method, "path": path, "query": dict(request.query_params),
                                 "body": json.loads(raw) if raw.strip() else None})
            s = org.settings
            limit = {"Sforce-Limit-Info": f"api-usage={org.api_usage}/{s.daily_limit}"}
            if version not in VERSIONS:
                return _json([{"errorCode": "NOT_FOUND", "message": f"API version {version} is not supported"}], 404)
            auth = request.headers.get("authorization", "")
            token_value = auth[7:] if auth.lower().startswith("bearer ") else ""
            if s.expire_tokens and token_value in org.tokens:
                org.tokens.discard(token_value)
                s.expire_tokens = False
            if token_value not in org.tokens:
                return _json([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401)
            if s.limit_exceeded_burst > 0 or org.api_usage >= s.daily_limit:
                s.limit_exceeded_burst = max(0, s.limit_exceeded_burst - 1)
                return _json([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                             403, limit)
            org.api_usage += 1
            limit = {"Sforce-Limit-Info": f"api-usage={org.api_usage}/{s.daily_limit}"}
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                return _error(ApiError(400, "JSON_PARSER_ERROR", "The request body is not JSON"), limit)
            try:
                status, answer = dispatch(org, request.method, path, dict(request.query_params), body)
            except ApiError as exc:
                return _error(exc, limit)
            return _json(answer, status, limit)

    # ---------------------------------------------------------------- admin
    async def admin_state(request: Request) -> Response:
        with org.lock:
            out = {obj: [present(org, obj, r) for r in recs.values()] for obj, recs in org.records.items()}
            out["api_usage"] = org.api_usage
            return _json(out)

    async def admin_config(request: Request) -> Response:
        values = await request.json()
        with org.lock:
            for key, value in values.items():
                if key == "api_usage":
                    continue
                if not hasattr(org.settings, key):
                    return _json({"error": f"unknown setting {key!r}"}, 400)
                setattr(org.settings, key, value)
            if "api_usage" in values:
                org.api_usage = int(values["api_usage"])
            return _json(org.settings.__dict__)

    async def admin_seed(request: Request) -> Response:
        """{products: [{sku, name, price}], locations: [{name, type, external_reference?}],
        stock: [{sku, location, quantity}], delivery_methods: [{name, reference}], accounts: [...]}"""
        spec = await request.json()
        with org.lock:
            book = next(iter(org.records.get("Pricebook2", {}).values()), None) or \
                org.insert("Pricebook2", {"Name": "Standard Price Book", "IsStandard": True, "IsActive": True})
            products = {}
            for p in spec.get("products", []):
                product = org.insert("Product2", {"Name": p.get("name") or p["sku"], "StockKeepingUnit": p["sku"],
                                                  "ProductCode": p["sku"], "IsActive": True})
                org.insert("PricebookEntry", {"Pricebook2Id": book["Id"], "Product2Id": product["Id"], "IsActive": True,
                                              "UnitPrice": Decimal(str(p.get("price", "0")))})
                products[p["sku"]] = product["Id"]
            locations = {}
            for loc in spec.get("locations", []):
                record = org.insert("Location", {"Name": loc["name"], "LocationType": loc.get("type", "Warehouse"),
                                                 "IsInventoryLocation": True,
                                                 "ExternalReference": loc.get("external_reference")},
                                    rid=loc.get("id"))
                locations[loc["name"]] = record["Id"]
            for method in spec.get("delivery_methods", []):
                org.insert("OrderDeliveryMethod", {"Name": method["name"], "ReferenceNumber": method["reference"],
                                                   "IsActive": True})
            for row in spec.get("stock", []):
                product_id = products.get(row["sku"]) or next(
                    (p["Id"] for p in org.find("Product2", StockKeepingUnit=row["sku"])), None)
                location_id = locations.get(row["location"], row["location"])
                org.insert("ProductItem", {"Product2Id": product_id, "LocationId": location_id,
                                           "QuantityOnHand": Decimal(str(row["quantity"]))})
            for account in spec.get("accounts", []):
                create(org, "Account", account)
            return _json({"pricebook_id": book["Id"], "products": products, "locations": locations})

    async def admin_stock(request: Request) -> Response:
        """{sku, location_id, quantity}: the warehouse's count changed."""
        spec = await request.json()
        with org.lock:
            product = org.find("Product2", StockKeepingUnit=spec["sku"])[0]
            rows = org.find("ProductItem", Product2Id=product["Id"], LocationId=spec["location_id"])
            if rows:
                org.touch(rows[0], {"QuantityOnHand": Decimal(str(spec["quantity"]))})
            else:
                org.insert("ProductItem", {"Product2Id": product["Id"], "LocationId": spec["location_id"],
                                           "QuantityOnHand": Decimal(str(spec["quantity"]))})
            return _json({"ok": True})

    async def admin_route(request: Request) -> Response:
        """{order_summary_id, location_id}: what the org's routing does, through the Connect action:
        every product item of the summary to one fulfillment order at the location."""
        spec = await request.json()
        with org.lock:
            items = [i for i in org.find("OrderItemSummary", OrderSummaryId=spec["order_summary_id"])
                     if i.get("Type") == "Order Product"]
            group = items[0]["OrderDeliveryGroupSummaryId"] if items else None
            try:
                status, answer = dispatch(org, "POST", "/commerce/fulfillment/fulfillment-orders", {}, {
                    "orderSummaryId": spec["order_summary_id"], "orderDeliveryGroupSummaryId": group,
                    "fulfillmentGroups": [{"fulfilledFromLocationId": spec["location_id"], "fulfillmentType": "Warehouse",
                                           "orderItemSummaries": [{"orderItemSummaryId": i["Id"], "quantity": i["Quantity"]}
                                                                  for i in items]}]})
            except ApiError as exc:
                return _error(exc)
            return _json(answer, status)

    async def admin_ship(request: Request) -> Response:
        """{fulfillment_order_id, tracking_number, provider, lines?: {sku: quantity}}: the warehouse
        ships (part of) a fulfillment order: a Shipment with its items."""
        spec = await request.json()
        with org.lock:
            fo = org.get(spec["fulfillment_order_id"])
            if fo is None:
                return _json({"error": "no such fulfillment order"}, 404)
            shipment = org.insert("Shipment", {
                "FulfillmentOrderId": fo["Id"], "OrderSummaryId": fo["OrderSummaryId"], "Status": "Shipped",
                "TrackingNumber": spec["tracking_number"], "Provider": spec.get("provider"),
                "ShipToName": fo.get("FulfilledToName")})
            wanted = spec.get("lines")
            for line in org.find("FulfillmentOrderLineItem", FulfillmentOrderId=fo["Id"]):
                sku = (org.get(line.get("Product2Id")) or {}).get("StockKeepingUnit")
                quantity = line["Quantity"] if wanted is None else Decimal(str(wanted.get(sku, 0)))
                if quantity:
                    org.insert("ShipmentItem", {"ShipmentId": shipment["Id"], "FulfillmentOrderLineItemId": line["Id"],
                                                "Product2Id": line.get("Product2Id"), "Quantity": quantity})
            org.touch(fo, {"Status": "Fulfilled", "StatusCategory": "Fulfilled"})
            return _json({"shipment_id": shipment["Id"]})

    async def admin_requests(request: Request) -> Response:
        return _json({"requests": org.requests})

    async def admin_requests_clear(request: Request) -> Response:
        org.requests.clear()
        return _json({"ok": True})

    app = Starlette(routes=[
        Route("/services/oauth2/token", token, methods=["POST"]),
        Route("/services/data/v{version}/{path:path}", api, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        Route("/_admin/state", admin_state),
        Route("/_admin/config", admin_config, methods=["POST"]),
        Route("/_admin/seed", admin_seed, methods=["POST"]),
        Route("/_admin/stock", admin_stock, methods=["POST"]),
        Route("/_admin/route", admin_route, methods=["POST"]),
        Route("/_admin/ship", admin_ship, methods=["POST"]),
        Route("/_admin/requests", admin_requests),
        Route("/_admin/requests/clear", admin_requests_clear, methods=["POST"]),
    ])
    app.state.org = org
    # Salesforce answers a server fault 503 and throttling (an org over its concurrency) 503 too;
    # 429 is what its edge answers, with Retry-After.
    add_fault_injection(
        app, FaultConfig(),
        lambda: _json([{"errorCode": "SERVER_UNAVAILABLE", "message": "Server unavailable"}], 503),
        lambda retry: _json([{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "Too many requests"}], 429,
                            {"Retry-After": str(max(1, int(retry)))}))
    return app


