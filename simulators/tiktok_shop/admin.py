"""Admin API under /_admin: no auth, never faulted. Drives the buyer/platform side and inspects state."""

from __future__ import annotations

import copy
import json

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from simulators.common import FaultConfig

from . import aftersales, generator, orders, products
from .products import new_product
from .state import SimState
from .tokens import issue_auth_code
from .webhooks import WebhookDispatcher, outbox


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict:
    raw = await request.body()
    return json.loads(raw) if raw.strip() else {}


def seed_product(sim: SimState, spec: dict) -> dict:
    """Plant a product as if it had been listed and approved (no validation, no audit)."""
    product, _ = new_product(sim, spec, draft=True, product_id=spec.get("id"))
    status = spec.get("status", "ACTIVATE")
    product.update(status=status, passed_once=status == "ACTIVATE",
                   audit={"status": "PASSED" if status == "ACTIVATE" else "", "pre_approved_reasons": []})
    for image in spec.get("main_images") or []:
        uri = image.get("uri")
        if uri and uri not in sim.images:
            sim.images[uri] = {"uri": uri, "url": f"https://p16-oec-va.ibyteimg.com/{uri}", "width": 1000,
                               "height": 1000, "use_case": "MAIN_IMAGE"}
    return product


def dump(sim: SimState, faults: FaultConfig) -> dict:
    products.settle_audits(sim)
    t = sim.tokens
    return {
        "shop": {"shop_id": sim.creds.shop_id, "shop_cipher": sim.creds.shop_cipher, "region": sim.creds.region,
                 "app_key": sim.creds.app_key, **sim.shop},
        "tokens": {"access_token": t.access_token, "access_token_expire_in": t.access_expires,
                   "refresh_token": t.refresh_token, "refresh_token_expire_in": t.refresh_expires},
        "warehouses": list(sim.warehouses.values()),
        "categories": list(sim.categories.values()),
        "brands": list(sim.brands.values()),
        "images": list(sim.images.values()),
        "files": list(sim.files.values()),
        "products": list(sim.products.values()),
        "orders": [{k: v for k, v in o.items() if k != "_history"} | {"history": o["_history"]}
                   for o in sim.orders.values()],
        "packages": list(sim.packages.values()),
        "cancellations": list(sim.cancellations.values()),
        "returns": list(sim.returns.values()),
        "webhooks": {
            "subscriptions": [dict(event_type=k, **v) for k, v in sim.webhooks.items()],
            "events": [{"event_type": e["event_type"], "status": e["status"], "attempts": e["attempts"],
                        "event": json.loads(e["body"])} for e in sim.events],
            "deliveries": sim.deliveries,
        },
        "idempotency_keys": [f"{scope}:{key}" for scope, key in sim.idempotency],
        "faults": faults.as_dict(),
    }


def routes(sim: SimState, faults: FaultConfig, dispatcher: WebhookDispatcher) -> list[Route]:
    fault_defaults = FaultConfig(seed=faults.seed).as_dict()

    async def reset(request: Request) -> JSONResponse:
        sim.reset()
        faults.update(fault_defaults)
        return JSONResponse({"ok": True})

    async def seed(request: Request) -> JSONResponse:
        body = await _body(request)
        with sim.silenced():
            for wh in body.get("warehouses") or []:
                sim.warehouses[str(wh["id"])] = wh
            for cat in body.get("categories") or []:
                sim.categories[str(cat["id"])] = cat
            for brand in body.get("brands") or []:
                sim.brands[str(brand["id"])] = brand
            planted = [seed_product(sim, p)["id"] for p in body.get("products") or []]
            try:
                placed = [orders.place_order(sim, o)["id"] for o in body.get("orders") or []]
            except ValueError as exc:
                return _error(str(exc))
        return JSONResponse({"products": planted, "orders": placed})

    async def state(request: Request) -> JSONResponse:
        return JSONResponse(copy.deepcopy(dump(sim, faults)))

    async def set_faults(request: Request) -> JSONResponse:
        if request.method == "GET":  # the knobs and every fault injected so far
            return JSONResponse(faults.report())
        try:
            faults.update(await _body(request))
        except (ValueError, TypeError) as exc:
            return _error(str(exc))
        return JSONResponse(faults.as_dict())

    async def requests(request: Request) -> JSONResponse:
        return JSONResponse({"requests": sim.requests})

    async def clear_requests(request: Request) -> JSONResponse:
        sim.requests.clear()
        return JSONResponse({"ok": True})

    async def expire_token(request: Request) -> JSONResponse:
        sim.tokens.access_expires = sim.now()
        return JSONResponse({"access_token": sim.tokens.access_token, "access_token_expire_in": sim.now()})

    async def auth_code(request: Request) -> JSONResponse:
        return JSONResponse({"auth_code": issue_auth_code(sim)})

    async def create_order(request: Request) -> JSONResponse:
        try:
            order = orders.place_order(sim, await _body(request))
        except ValueError as exc:
            return _error(str(exc))
        return JSONResponse(orders.order_view(order) | {"recipient_address": order["recipient_address"]})

    async def generate_orders(request: Request) -> JSONResponse:
        """Many orders walked to a mix of statuses; body: the spec of generator.generate_orders."""
        try:
            made = generator.generate_orders(sim, await _body(request))
        except (ValueError, TypeError) as exc:
            return _error(str(exc))
        return JSONResponse({"orders": made})

    async def advance_order(request: Request) -> JSONResponse:
        order = sim.orders.get(request.path_params["order_id"])
        if order is None:
            return _error("unknown order", 404)
        try:
            orders.advance(sim, order, str((await _body(request)).get("to")))
        except ValueError as exc:
            return _error(str(exc), 409)
        return JSONResponse(orders.order_view(order) | {"recipient_address": order["recipient_address"]})

    async def change_address(request: Request) -> JSONResponse:
        """The buyer edits the delivery address; body: the recipient_address keys to change."""
        order = sim.orders.get(request.path_params["order_id"])
        if order is None:
            return _error("unknown order", 404)
        try:
            orders.update_address(sim, order, await _body(request))
        except ValueError as exc:
            return _error(str(exc), 409)
        return JSONResponse(orders.order_view(order) | {"recipient_address": order["recipient_address"]})

    async def cancel_request(request: Request) -> JSONResponse:
        try:
            record = aftersales.buyer_cancel_request(sim, await _body(request))
        except ValueError as exc:
            return _error(str(exc), 409)
        return JSONResponse({k: v for k, v in record.items() if not k.startswith("_")})

    async def return_request(request: Request) -> JSONResponse:
        try:
            record = aftersales.buyer_return_request(sim, await _body(request))
        except ValueError as exc:
            return _error(str(exc), 409)
        return JSONResponse({k: v for k, v in record.items() if not k.startswith("_")})

    async def advance_return(request: Request) -> JSONResponse:
        body = await _body(request)
        try:
            record = aftersales.buyer_return_move(sim, request.path_params["return_id"], str(body.get("to")),
                                                  body.get("tracking_number"))
        except ValueError as exc:
            return _error(str(exc), 409)
        return JSONResponse({k: v for k, v in record.items() if not k.startswith("_")})

    async def run_audit(request: Request) -> JSONResponse:
        """Finish every pending audit now. Body (optional): {"reject": [product_id, ...]} or
        {"reject": {product_id: [{position, reasons[], suggestions[]}]}} turns those down."""
        reject = (await _body(request)).get("reject") or {}
        if isinstance(reject, list):
            reject = {str(pid): [copy.deepcopy(products.DEFAULT_REJECTION)] for pid in reject}
        reject = {str(pid): reasons if isinstance(reasons, list) else [reasons] for pid, reasons in reject.items()}
        not_auditing = sorted(pid for pid in reject if (sim.products.get(pid) or {}).get("audit_due") is None)
        if not_auditing:
            return _error(f"not under audit: {', '.join(not_auditing)}", 409)
        return JSONResponse({"completed": products.settle_audits(sim, force=True, reject=reject),
                             "rejected": sorted(reject)})

    async def deliver(request: Request) -> JSONResponse:
        return JSONResponse(await dispatcher.flush())

    async def point_webhooks(request: Request) -> JSONResponse:
        """Body {"url": BASE}: deliver as events happen, to BASE + each subscription's path; null stops pointing."""
        url = (await _body(request)).get("url")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            return _error("url must be an http(s) base URL or null")
        dispatcher.point(url)
        return JSONResponse({"url": url, "automatic": dispatcher.auto})

    async def webhook_outbox(request: Request) -> JSONResponse:
        """Events not delivered yet as raw signed bodies plus headers. Query: event_type=NAME,
        all=1 (delivered and dropped ones too)."""
        q = request.query_params
        return JSONResponse({"events": outbox(sim, include_delivered=q.get("all") in ("1", "true"),
                                              event_type=q.get("event_type"))})

    p = "/_admin"
    return [
        Route(f"{p}/reset", reset, methods=["POST"]),
        Route(f"{p}/seed", seed, methods=["POST"]),
        Route(f"{p}/state", state, methods=["GET"]),
        Route(f"{p}/faults", set_faults, methods=["GET", "POST"]),
        Route(f"{p}/requests", requests, methods=["GET"]),
        Route(f"{p}/requests/clear", clear_requests, methods=["POST"]),
        Route(f"{p}/expire_token", expire_token, methods=["POST"]),
        Route(f"{p}/webhooks/point", point_webhooks, methods=["POST"]),
        Route(f"{p}/auth_code", auth_code, methods=["POST"]),
        Route(f"{p}/orders", create_order, methods=["POST"]),
        Route(f"{p}/orders/generate", generate_orders, methods=["POST"]),
        Route(f"{p}/orders/{{order_id}}/advance", advance_order, methods=["POST"]),
        Route(f"{p}/orders/{{order_id}}/address", change_address, methods=["POST"]),
        Route(f"{p}/cancellations", cancel_request, methods=["POST"]),
        Route(f"{p}/returns", return_request, methods=["POST"]),
        Route(f"{p}/returns/{{return_id}}/advance", advance_return, methods=["POST"]),
        Route(f"{p}/audit/run", run_audit, methods=["POST"]),
        Route(f"{p}/webhooks/deliver", deliver, methods=["POST"]),
        Route(f"{p}/webhooks/outbox", webhook_outbox, methods=["GET"]),
    ]
