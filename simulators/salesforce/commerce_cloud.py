"""Salesforce B2C Commerce (SCAPI Admin APIs) simulator: Account Manager's client-credentials
grant with the tenant scope, product search (masters with their variants, variation attributes,
images and price book prices), product inventory records, and orders with their export, status
and shipping status. Facts: shared/platforms/commercetools-salesforce-rithum.md, part 2.

Errors are RFC 7807 problem documents; lists page by offset with {limit, offset, total}.
UNCONFIRMED (marked in the connector too): the inventory records' path and the price book
fields on a product.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common import FaultConfig, add_fault_injection

DEFAULT_CREDENTIALS = {
    "organization_id": "f_ecom_zzxy_prd", "short_code": "kv7kzm78", "site_id": "RefArch",
    "am_client_id": "am-client-id", "am_client_password": "am-client-password",
    "shop_client_id": "shop-client-id", "shop_client_password": "shop-client-password",
    "ocapi_client_id": "ocapi-client-id",
}
ORDER_STATUS = ("created", "new", "completed", "cancelled", "failed", "failed_with_reopen")
EXPORT_STATUS = ("not_exported", "ready", "exported", "failed")
SHIPPING_STATUS = ("not_shipped", "part_shipped", "shipped")


def _json(body: Any, status: int = 200) -> Response:
    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value)
        raise TypeError(type(value).__name__)

    if body is None:
        return Response(status_code=status)
    return Response(json.dumps(body, default=default), status_code=status, media_type="application/json")


def problem(status: int, title: str, detail: str, kind: str) -> Response:
    return Response(json.dumps({"type": f"https://api.commercecloud.salesforce.com/documentation/error/v1/errors/{kind}",
                                "title": title, "detail": detail}),
                    status_code=status, media_type="application/problem+json")


def catalog(count: int, image_host: str, currency: str = "USD") -> list[dict]:
    """Master products with colour x size variants, as product search returns them."""
    products = []
    for n in range(1, count + 1):
        colors, sizes = ["navy", "sand"][: 1 + n % 2], ["S", "M", "L"]
        variants = [{"productId": f"SFCC-{n:03d}-{c[:1].upper()}{s}", "variationValues": {"color": c, "size": s},
                     "orderable": True,
                     "c_channelSku": f"TT-{n:03d}-{c[:1].upper()}{s}" if n == 1 else None,
                     "prices": {"usd-list-prices": Decimal(f"{40 + n}.00"),
                                "usd-sale-prices": Decimal(f"{34 + n}.99")}}
                    for c in colors for s in sizes]
        products.append({
            "id": f"SFCC-{n:03d}", "name": {"default": f"Harbor Rain Shell {n}"},
            "longDescription": {"default": f"<p>Rain shell {n}: taped seams, packable hood.</p>"},
            "brand": "Harbor & Pine", "type": {"master": True}, "primaryCategoryId": "outerwear",
            "c_weightGrams": 480 + n, "currency": currency,
            "variationAttributes": [
                {"id": "color", "name": {"default": "Color"},
                 "values": [{"value": c, "name": {"default": c.title()}} for c in colors]},
                {"id": "size", "name": {"default": "Size"},
                 "values": [{"value": s, "name": {"default": s}} for s in sizes]}],
            "variants": variants,
            "imageGroups": [{"viewType": "large", "images": [
                {"absUrl": f"{image_host}/sfcc/{n}/{i}.jpg", "alt": {"default": f"Shell {n} view {i}"}}
                for i in (1, 2)]}],
            "lastModified": "2026-11-01T10:00:00.000Z",
        })
    return products


@dataclass
class Store:
    creds: dict = field(default_factory=lambda: dict(DEFAULT_CREDENTIALS))
    products: list[dict] = field(default_factory=list)
    inventory: dict[str, dict[str, dict]] = field(default_factory=dict)  # list id -> SKU -> record
    orders: dict[str, dict] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    page_cap: int = 200


def create_app(products: list[dict] | None = None, inventory: dict | None = None) -> Starlette:
    store = Store(products=products or [])
    for list_id, rows in (inventory or {}).items():
        for sku, amount in rows.items():
            store.inventory.setdefault(list_id, {})[sku] = _record(sku, amount)
    tenant = "SALESFORCE_COMMERCE_API:" + store.creds["organization_id"][len("f_ecom_"):]

    def authorized(request: Request) -> Response | None:
        store.requests.append({"method": request.method, "path": request.url.path, "query": dict(request.query_params)})
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        if store.tokens.get(token, 0) < time.time():
            return problem(401, "Unauthorized", "The request is unauthorized: the access token is invalid or expired.",
                           "unauthorized")
        if request.path_params.get("org") != store.creds["organization_id"]:
            return problem(404, "Organization Not Found", f"No organization {request.path_params.get('org')!r}.",
                           "organization-not-found")
        return None

    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        auth = request.headers.get("authorization", "")
        cid, _, password = base64.b64decode(auth[6:]).decode().partition(":") if auth.lower().startswith("basic ") \
            else ("", "", "")
        store.requests.append({"method": "POST", "path": "/dwsso/oauth2/access_token", "scope": form.get("scope")})
        if form.get("grant_type") != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        if cid != store.creds["am_client_id"] or password != store.creds["am_client_password"]:
            return _json({"error": "invalid_client", "error_description": "Client authentication failed"}, 401)
        scopes = (form.get("scope") or "").split()
        if tenant not in scopes:
            return _json({"error": "invalid_scope", "error_description": f"the scope must hold {tenant}"}, 400)
        access = secrets.token_hex(24)
        store.tokens[access] = time.time() + 1799
        return _json({"access_token": access, "token_type": "Bearer", "expires_in": 1799,
                      "scope": " ".join(scopes)})

    async def product_search(request: Request) -> Response:
        if (refused := authorized(request)) is not None:
            return refused
        if request.query_params.get("siteId") != store.creds["site_id"]:
            return problem(400, "Invalid Site", "siteId is missing or unknown.", "invalid-site")
        body = json.loads(await request.body() or b"{}")
        offset, limit = int(body.get("offset", 0)), min(int(body.get("limit", 25)), store.page_cap)
        hits = store.products[offset:offset + limit]
        return _json({"limit": limit, "offset": offset, "total": len(store.products), "hits": hits})

    async def inventory_records(request: Request) -> Response:
        if (refused := authorized(request)) is not None:
            return refused
        lists = [i for i in (request.query_params.get("inventoryListIds") or "").split(",") if i]
        skus = {i for i in (request.query_params.get("productIds") or "").split(",") if i}
        lists = lists or sorted(store.inventory)  # UNCONFIRMED: no list named reads every list
        rows = [{**r, "inventoryListId": list_id} for list_id in lists
                for sku, r in sorted(store.inventory.get(list_id, {}).items()) if not skus or sku in skus]
        offset, limit = int(request.query_params.get("offset", 0)), int(request.query_params.get("limit", 50))
        return _json({"limit": limit, "offset": offset, "total": len(rows), "data": rows[offset:offset + limit]})

    async def orders(request: Request) -> Response:
        if (refused := authorized(request)) is not None:
            return refused
        wanted = request.query_params.get("exportStatus")
        found = [o for o in store.orders.values() if not wanted or o["exportStatus"] == wanted]
        return _json({"data": found[: int(request.query_params.get("limit", 100))]})

    async def order_status(request: Request) -> Response:
        if (refused := authorized(request)) is not None:
            return refused
        order = store.orders.get(request.path_params["order_no"])
        if order is None:
            return problem(404, "Order Not Found", "No such order.", "order-not-found")
        what = request.path_params["what"]
        allowed = {"status": ORDER_STATUS, "export-status": EXPORT_STATUS, "shipping-status": SHIPPING_STATUS}.get(what)
        value = json.loads(await request.body() or b"{}").get("status")
        if allowed is None or value not in allowed:
            return problem(400, "Invalid Status", f"{what} takes one of {', '.join(allowed or ())}.", "invalid-status")
        order[{"status": "status", "export-status": "exportStatus", "shipping-status": "shippingStatus"}[what]] = value
        return _json(None, 204)

    # -- admin
    async def admin_state(request: Request) -> Response:
        return _json({"products": store.products, "inventory": store.inventory, "orders": store.orders,
                      "requests": store.requests})

    async def admin_inventory(request: Request) -> Response:
        spec = await request.json()
        store.inventory.setdefault(spec["list_id"], {})[spec["sku"]] = _record(spec["sku"], spec["amount"])
        return _json({"ok": True})

    async def admin_orders(request: Request) -> Response:
        spec = await request.json()
        order = {"orderNo": spec["orderNo"], "status": "new", "exportStatus": "ready", "shippingStatus": "not_shipped",
                 "confirmationStatus": "confirmed", "paymentStatus": "paid", "siteId": store.creds["site_id"],
                 **spec}
        store.orders[order["orderNo"]] = order
        return _json(order, 201)

    org = "/organizations/{org}"
    app = Starlette(routes=[
        Route("/dwsso/oauth2/access_token", token, methods=["POST"]),
        Route(f"/product/products/v1{org}/product-search", product_search, methods=["POST"]),
        Route(f"/product/inventory/v1{org}/product-inventory-records", inventory_records),
        Route(f"/checkout/orders/v1{org}/orders", orders),
        Route(f"/checkout/orders/v1{org}/orders/{{order_no}}/{{what}}", order_status, methods=["PUT"]),
        Route("/_admin/state", admin_state),
        Route("/_admin/inventory", admin_inventory, methods=["POST"]),
        Route("/_admin/orders", admin_orders, methods=["POST"]),
    ])
    add_fault_injection(app, FaultConfig(),
                        lambda: problem(503, "Service Unavailable", "The service is unavailable.", "service-unavailable"),
                        lambda retry: problem(429, "Too Many Requests", "The request limit was exceeded.",
                                              "too-many-requests"))
    return app


def _record(sku: str, amount: Any) -> dict:
    return {"productId": sku, "allocation": {"amount": Decimal(str(amount)), "resetDate": "2026-11-01T00:00:00.000Z"},
            "ats": Decimal(str(amount)), "stockLevel": Decimal(str(amount)), "perpetual": False,
            "lastModified": "2026-11-01T00:00:00.000Z"}
