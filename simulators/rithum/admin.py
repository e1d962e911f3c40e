"""Test controls under /_admin: no auth, no limit.

| call | body | answer |
|---|---|---|
| `POST /_admin/reset` | | `{ok}`: an empty account with its two distribution centers, default settings |
| `POST /_admin/config` | `Settings` fields (state.py), e.g. `{"requests_per_minute": 60, "latency_seconds": 0.05}` | the settings |
| `POST /_admin/seed` | `{"products": [native product, with "Children": [...] for a parent]}` | `{"products": [ids]}` |
| `POST /_admin/orders` | a POST /v1/Orders body | the order |
| `POST /_admin/orders/{id}/ship`, `.../adjust` | the API's body | as the API |
| `POST /_admin/tokens/revoke` | | every access token answers 401 from now on |
| `GET /_admin/state` | | everything, orders with Items, Fulfillments, Adjustments and the export flag |
| `GET /_admin/stats`, `GET /_admin/requests`, `POST /_admin/requests/clear` | | counters (requests, throttled, peak_concurrency, ...) and the request log |
"""

from __future__ import annotations

import json
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common import ADMIN_PREFIX
from simulators.shopify.values import JSONResponse

from .state import Account, ApiError


def _account(request: Request) -> Account:
    return request.app.state.account


async def _body(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    from decimal import Decimal

    data = json.loads(raw, parse_float=Decimal)
    if not isinstance(data, dict):
        raise ApiError(400, "InvalidRequest", "expected a JSON object")
    return data


async def reset(request: Request) -> Response:
    account = _account(request)
    account.reset()
    account.settings = type(account.settings)()
    account.settings.update(request.app.state.settings_defaults)
    request.app.state.limits.reset()
    return JSONResponse({"ok": True})


async def config(request: Request) -> Response:
    settings = _account(request).settings
    try:
        settings.update(await _body(request))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "InvalidValue", str(exc)) from None
    if "requests_per_minute" in (await _body(request)) or "window_seconds" in (await _body(request)):
        request.app.state.limits.reset()
    return JSONResponse(asdict(settings))


async def seed(request: Request) -> Response:
    """Products in the API's own shape; a parent lists its variations under Children. A product the
    API would refuse (a duplicate or missing Sku) is left out and listed under `refused`."""
    account = _account(request)
    ids, refused = [], []
    for data in (await _body(request)).get("products") or []:
        children = data.pop("Children", None) or []
        try:
            parent = account.create_product({**data, "IsParent": bool(children) or data.get("IsParent", False)})
        except ApiError as exc:
            refused.append({"Sku": data.get("Sku"), "error": exc.message})
            continue
        ids.append(parent["ID"])
        for child in children:
            try:
                ids.append(account.create_product({**child, "ParentProductID": parent["ID"]})["ID"])
            except ApiError as exc:
                refused.append({"Sku": child.get("Sku"), "error": exc.message})
    return JSONResponse({"products": ids, "refused": refused})


async def create_order(request: Request) -> Response:
    return JSONResponse(_account(request).create_order(await _body(request)))


async def ship(request: Request) -> Response:
    _account(request).ship(int(request.path_params["id"]), await _body(request))
    return JSONResponse({"ok": True})


async def adjust(request: Request) -> Response:
    return JSONResponse(_account(request).adjust(int(request.path_params["id"]), await _body(request)))


async def revoke_tokens(request: Request) -> Response:
    """Every access token stops working (as when access is revoked or a token expires early)."""
    _account(request).tokens.clear()
    return JSONResponse({"ok": True})


async def state(request: Request) -> Response:
    return JSONResponse(_account(request).dump())


async def stats(request: Request) -> Response:
    return JSONResponse(dict(_account(request).stats))


async def requests_log(request: Request) -> Response:
    return JSONResponse({"requests": _account(request).requests})


async def clear_requests(request: Request) -> Response:
    account = _account(request)
    account.requests.clear()
    for key in account.stats:
        account.stats[key] = 0
    return JSONResponse({"ok": True})


ROUTES = [
    Route(f"{ADMIN_PREFIX}/reset", reset, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/config", config, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/seed", seed, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/orders", create_order, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/orders/{{id:int}}/ship", ship, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/orders/{{id:int}}/adjust", adjust, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/tokens/revoke", revoke_tokens, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/state", state, methods=["GET"]),
    Route(f"{ADMIN_PREFIX}/stats", stats, methods=["GET"]),
    Route(f"{ADMIN_PREFIX}/requests", requests_log, methods=["GET"]),
    Route(f"{ADMIN_PREFIX}/requests/clear", clear_requests, methods=["POST"]),
]
