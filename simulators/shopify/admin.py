"""Test and benchmark controls under /_admin: no auth, no rate limit, never faulted."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common import ADMIN_PREFIX

from .catalog import render_product
from .errors import ApiError
from .http import body_json, sim
from .seed import seed
from .values import JSONResponse
from .webhooks import deliver


async def _body(request: Request) -> dict:
    data = await body_json(request)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiError(400, "expected a JSON object")
    return data


async def reset(request: Request) -> Response:
    app_state = request.app.state
    sim(request).reset()
    app_state.bucket.configure(app_state.bucket_defaults)
    app_state.bucket.reset()
    if getattr(app_state, "graphql_bucket", None) is not None:
        app_state.graphql_bucket.reset()
    app_state.graphql_hold = {}
    app_state.faults.update({k: v for k, v in app_state.fault_defaults.items()})
    return JSONResponse({"ok": True})


async def seed_shop(request: Request) -> Response:
    return JSONResponse(seed(sim(request), await _body(request)))


def order_counts(state, note_attribute: str | None = None) -> dict:  # noqa: ANN001
    """How many orders bear each name and each note attribute value (every attribute, or just the
    one named), and the names and values held by more than one order: a cheap check that each
    marketplace order became exactly one Shopify order. Cancelled and closed orders count too."""
    by_name: dict[str, int] = {}
    by_attribute: dict[str, dict[str, int]] = {}
    for order in state.db.orders.values():
        by_name[order["name"]] = by_name.get(order["name"], 0) + 1
        for attr in order["note_attributes"]:
            if note_attribute is None or attr["name"] == note_attribute:
                values = by_attribute.setdefault(str(attr["name"]), {})
                values[str(attr["value"])] = values.get(str(attr["value"]), 0) + 1
    return {
        "total": len(state.db.orders),
        "by_name": by_name,
        "by_note_attribute": by_attribute,
        "duplicate_names": sorted(n for n, c in by_name.items() if c > 1),
        "duplicate_note_attributes": {name: sorted(v for v, c in values.items() if c > 1)
                                      for name, values in by_attribute.items() if any(c > 1 for c in values.values())},
    }


async def orders_counts(request: Request) -> Response:
    """GET /_admin/orders/counts[?note_attribute=NAME]: see order_counts."""
    return JSONResponse(order_counts(sim(request), request.query_params.get("note_attribute")))


async def state_dump(request: Request) -> Response:
    state = sim(request)
    dump = state.dump()
    dump["order_counts"] = order_counts(state)
    dump["products"] = [render_product(state, p) for p in state.db.products.values()]
    dump["bucket"] = request.app.state.bucket.as_dict()
    dump["faults"] = request.app.state.faults.as_dict()
    return JSONResponse(dump)


async def faults(request: Request) -> Response:
    if request.method == "GET":  # the knobs and every fault injected so far
        return JSONResponse(request.app.state.faults.report())
    try:
        request.app.state.faults.update(await _body(request))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, str(exc)) from None
    return JSONResponse(request.app.state.faults.as_dict())


async def config(request: Request) -> Response:
    settings = sim(request).settings
    try:
        settings.update(await _body(request))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, str(exc)) from None
    return JSONResponse(asdict(settings))


async def requests_log(request: Request) -> Response:
    return JSONResponse({"requests": sim(request).requests})


async def clear_requests(request: Request) -> Response:
    sim(request).requests.clear()
    return JSONResponse({"ok": True})


async def bucket(request: Request) -> Response:
    target = request.app.state.bucket
    if request.method == "POST":
        try:
            target.configure(await _body(request))
        except (ValueError, TypeError) as exc:
            raise ApiError(400, str(exc)) from None
    return JSONResponse(target.as_dict())


async def stats(request: Request) -> Response:
    return JSONResponse(dict(sim(request).stats))


async def deliver_webhooks(request: Request) -> Response:
    return JSONResponse(await deliver(sim(request), request.app.state.webhook_pump.faults))


async def point_webhooks(request: Request) -> Response:
    """Body {"url": BASE}: deliver as changes happen, to BASE + each subscription's path; null stops pointing."""
    url = (await _body(request)).get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise ApiError(400, "url must be an http(s) base URL or null")
    state, pump = sim(request), request.app.state.webhook_pump
    state.webhook_base = url
    if url:
        pump.enabled = True
        pump.kick()
    return JSONResponse({"url": url, "automatic": pump.enabled})


ROUTES = [
    Route(f"{ADMIN_PREFIX}/reset", reset, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/seed", seed_shop, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/state", state_dump, methods=["GET"]),
    Route(f"{ADMIN_PREFIX}/orders/counts", orders_counts, methods=["GET"]),
    Route(f"{ADMIN_PREFIX}/faults", faults, methods=["GET", "POST"]),
    Route(f"{ADMIN_PREFIX}/config", config, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/requests", requests_log, methods=["GET"]),
    Route(f"{ADMIN_PREFIX}/requests/clear", clear_requests, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/bucket", bucket, methods=["GET", "POST"]),
    Route(f"{ADMIN_PREFIX}/stats", stats, methods=["GET"]),
    Route(f"{ADMIN_PREFIX}/webhooks/deliver", deliver_webhooks, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/webhooks/point", point_webhooks, methods=["POST"]),
]
