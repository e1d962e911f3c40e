"""Webhook subscriptions (REST CRUD) and signed deliveries (section 2.7).

Changes call `emit`, which queues one delivery per matching subscription with its body signed at
queue time, so a retry resends the original payload byte for byte. `deliver` posts what is
pending; anything that fails stays queued for the next call.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime
from urllib.parse import urlparse

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.platforms.shopify import shopify_webhook_hmac
from simulators.common import WebhookFaults, pointed

from .errors import invalid, missing_root, not_found
from .http import body_json
from .paging import paginate, parse_list, project
from .state import ShopState
from .values import JSONResponse, dumps

# REST topic names. The ones in the reference's lists are confirmed; the fulfillment_orders/*
# names are the commonly documented ones and UNCONFIRMED individually.
TOPICS = frozenset(
    {
        "orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled",
        "orders/partially_fulfilled", "orders/delete",
        "products/create", "products/update", "products/delete",
        "inventory_levels/update", "inventory_levels/connect", "inventory_levels/disconnect",
        "inventory_items/create", "inventory_items/update", "inventory_items/delete",
        "refunds/create", "fulfillments/create", "fulfillments/update",
        "fulfillment_orders/cancelled", "fulfillment_orders/placed_on_hold",
        "fulfillment_orders/hold_released", "fulfillment_orders/moved",
        "customers/create", "customers/update", "customers/delete",
        "app/uninstalled", "bulk_operations/finish",
    }
)  # fmt: skip


# API versions from which product webhooks leave out the variant fields that moved to the inventory
# item and the delivery profile (2025-01 docsample and 2025-04 real products/update have none of
# them; the 2023-10 real one has them all).
PRODUCT_WEBHOOK_SLIM_FROM = "2024-07"
SLIM_VARIANT_DROPS = ("grams", "weight", "weight_unit", "inventory_management", "fulfillment_service",
                      "requires_shipping")


def _product_body(product: dict, api_version: str) -> dict:
    """products/create and products/update as the webhook samples show them: the REST product
    without presentment prices; before 2024-07 with `variant_ids`, from it without the variant
    fields above and with media, variant_gids, category and has_variants_that_requires_components."""
    out = copy.deepcopy(product)
    for variant in out.get("variants", []):
        variant.pop("presentment_prices", None)
        variant["sku"] = variant.get("sku") or None  # no SKU is null in every webhook sample
    if api_version < PRODUCT_WEBHOOK_SLIM_FROM:
        out["variant_ids"] = [{"id": v["id"]} for v in out.get("variants", [])]
        return out
    for variant in out.get("variants", []):
        for key in SLIM_VARIANT_DROPS:
            variant.pop(key, None)
    out["media"] = [
        {"admin_graphql_api_id": img["admin_graphql_api_id"], "alt": img.get("alt"),
         "created_at": img.get("created_at"), "id": img["id"], "media_content_type": "IMAGE",
         "position": img["position"], "preview_image": {"height": img.get("height"), "src": img["src"],
                                                         "status": "READY", "width": img.get("width")},
         "product_id": img["product_id"], "status": "READY", "updated_at": img.get("updated_at"),
         "variant_ids": list(img.get("variant_ids") or [])}
        for img in out.get("images", [])
    ]  # fmt: skip
    newest_first = sorted(out.get("variants", []), key=lambda v: v.get("updated_at") or "", reverse=True)
    out["variant_gids"] = [{"admin_graphql_api_id": v["admin_graphql_api_id"], "updated_at": v.get("updated_at")}
                           for v in newest_first]
    out["has_variants_that_requires_components"] = False
    out["category"] = None  # the simulator keeps no product taxonomy
    return out


def _order_body(order: dict) -> dict:
    """orders/* as the 2025 webhook samples show them: the REST order plus the shipping totals,
    returns and line item groups the REST sample does not carry, and a customer without the
    marketing consents and tags (neither webhook sample has them)."""
    out = copy.deepcopy(order)
    if isinstance(out.get("customer"), dict):
        for key in ("email_marketing_consent", "sms_marketing_consent", "tags"):
            out["customer"].pop(key, None)
    if "total_shipping_price_set" in out:
        out["current_shipping_price_set"] = copy.deepcopy(out["total_shipping_price_set"])
    out.setdefault("returns", [])
    for line in out.get("line_items", []):
        line.setdefault("sales_line_item_group_id", None)
    for line in out.get("shipping_lines", []):
        if "discounted_price_set" in line:
            line["current_discounted_price_set"] = copy.deepcopy(line["discounted_price_set"])
    return out


def webhook_body(topic: str, payload: dict, api_version: str) -> dict:
    """The body a subscription of `api_version` receives for `topic`."""
    if topic in ("products/create", "products/update"):
        return _product_body(payload, api_version)
    if topic.startswith("orders/") and topic != "orders/delete":
        return _order_body(payload)
    return payload


def emit(state: ShopState, topic: str, payload: dict) -> None:
    """Queue `payload` for every subscription to `topic` (nothing while seeding)."""
    if state.silent:
        return
    subs = [s for s in state.db.webhooks.values() if s["topic"] == topic]
    if not subs:
        return
    event_id = state.uuid()
    triggered_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for sub in subs:
        shaped = webhook_body(topic, payload, sub["api_version"])
        body = dumps(project(shaped, sub["fields"] or None)).encode()
        webhook_id = state.uuid()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": shopify_webhook_hmac(state.webhook_secret, body),
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": state.domain,
            "X-Shopify-API-Version": sub["api_version"],
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Triggered-At": triggered_at,
            "X-Shopify-Event-Id": event_id,
        }
        state.db.deliveries.append(
            {
                "id": webhook_id,
                "event_id": event_id,
                "subscription_id": sub["id"],
                "topic": topic,
                "address": sub["address"],
                "headers": headers,
                "body": body,
                "status": "pending",
                "attempts": [],
                "created_at": triggered_at,
            }
        )


def pending(state: ShopState) -> list[dict]:
    return [d for d in state.db.deliveries if d["status"] == "pending"]


async def deliver(state: ShopState, faults: WebhookFaults | None = None) -> dict:
    """POST every pending delivery once; 2xx is success, anything else is retried next time.
    `faults`: delivery faults (late, out of order, sent twice) from the fault knobs."""
    batch = [d for d in pending(state) if not d.get("in_flight")]
    if faults is not None:
        batch = faults.plan(batch)
    settings = state.settings
    timeout = httpx.Timeout(settings.webhook_timeout_seconds, connect=1.0)
    delivered = failed = 0
    for d in batch:
        d["in_flight"] = True
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            for d in batch:
                attempt = {"at": datetime.now(UTC).isoformat(), "status_code": None, "error": None}
                try:
                    target = pointed(d["address"], state.webhook_base)
                    response = await client.post(target, content=d["body"], headers=d["headers"])
                    attempt["status_code"] = response.status_code
                    ok = 200 <= response.status_code < 300
                except httpx.HTTPError as exc:
                    attempt["error"] = f"{type(exc).__name__}: {exc}"
                    ok = False
                d["attempts"].append(attempt)
                d.pop("in_flight", None)
                sub = state.db.webhooks.get(d["subscription_id"])
                if ok:
                    d["status"] = "delivered"
                    delivered += 1
                    if faults is not None and faults.again():  # the acknowledgement was lost: sent again
                        try:
                            await client.post(target, content=d["body"], headers=d["headers"])
                        except httpx.HTTPError:
                            pass
                    if sub:
                        sub["_consecutive_failures"] = 0
                    continue
                failed += 1
                if len(d["attempts"]) >= settings.webhook_max_attempts:
                    d["status"] = "failed"
                if sub:
                    sub["_consecutive_failures"] = sub.get("_consecutive_failures", 0) + 1
                    if sub["_consecutive_failures"] >= settings.webhook_failures_before_removal:
                        _drop_subscription(state, sub["id"])
    finally:
        for d in batch:
            d.pop("in_flight", None)
    return {"delivered": delivered, "failed": failed, "pending": len(pending(state))}


def _drop_subscription(state: ShopState, sub_id: int) -> None:
    """Shopify deletes an API-created subscription after repeated failures (2.7)."""
    state.db.webhooks.pop(sub_id, None)
    for d in state.db.deliveries:
        if d["subscription_id"] == sub_id and d["status"] == "pending":
            d["status"] = "failed"


class WebhookPump:
    """Background delivery for `auto_deliver_webhooks=True`.

    Started lazily on the serving event loop (the loopback server runs without lifespan events),
    woken after every API call, and retrying on a timer while anything is pending.
    """

    retry_seconds = 1.0

    def __init__(self, state: ShopState, enabled: bool = True, faults: WebhookFaults | None = None) -> None:
        self.state = state
        self.faults = faults
        self.enabled = enabled  # off: deliveries wait for POST /_admin/webhooks/deliver
        self.task: asyncio.Task | None = None
        self.wake: asyncio.Event | None = None

    def kick(self) -> None:
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.wake = asyncio.Event()
            self.task = loop.create_task(self._run())
        assert self.wake is not None
        self.wake.set()

    async def _run(self) -> None:
        assert self.wake is not None
        wake = self.wake
        while True:
            try:
                await asyncio.wait_for(wake.wait(), timeout=self.retry_seconds)
            except TimeoutError:
                pass
            wake.clear()
            if pending(self.state):
                await deliver(self.state, self.faults)
            held = self.faults.next_due() if self.faults is not None else None
            if held is not None and held < self.retry_seconds:  # a late delivery falls due before the timer
                await asyncio.sleep(held)
                wake.set()


# subscriptions ---------------------------------------------------------------------------


def _public(sub: dict) -> dict:
    return {k: v for k, v in sub.items() if not k.startswith("_")}


def _validate(state: ShopState, data: dict, current: dict | None = None) -> None:
    topic = data.get("topic", current["topic"] if current else None)
    address = data.get("address", current["address"] if current else None)
    if topic not in TOPICS:
        raise invalid(
            "topic", f"Invalid topic specified: {topic}. Topics allowed: {', '.join(sorted(TOPICS))}"
        )
    parsed = urlparse(address or "")
    # Production insists on https; plain http stays allowed so tests can use loopback receivers.
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise invalid("address", "is invalid")
    for other in state.db.webhooks.values():
        if other is not current and other["topic"] == topic and other["address"] == address:
            raise invalid("address", "for this topic has already been taken")


def _body(data: object) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("webhook"), dict):
        raise missing_root("webhook")
    return data["webhook"]


def _get(state: ShopState, ident: int) -> dict:
    sub = state.db.webhooks.get(ident)
    if sub is None:
        raise not_found()
    return sub


async def list_webhooks(request: Request) -> Response:
    state: ShopState = request.app.state.sim
    q = parse_list(request)
    subs = list(state.db.webhooks.values())
    if q.get("topic"):
        subs = [s for s in subs if s["topic"] == q.get("topic")]
    if q.get("address"):
        subs = [s for s in subs if s["address"] == q.get("address")]
    if q.get("since_id"):
        subs = [s for s in subs if s["id"] > int(q.get("since_id") or 0)]
    page, headers = paginate(request, q, subs, key=lambda s: [s["id"]])
    return JSONResponse({"webhooks": [project(_public(s), q.fields) for s in page]}, headers=headers)


async def count_webhooks(request: Request) -> Response:
    state: ShopState = request.app.state.sim
    topic = request.query_params.get("topic")
    subs = [s for s in state.db.webhooks.values() if not topic or s["topic"] == topic]
    return JSONResponse({"count": len(subs)})


async def get_webhook(request: Request) -> Response:
    sub = _get(request.app.state.sim, request.path_params["id"])
    return JSONResponse({"webhook": _public(sub)})


async def create_webhook(request: Request) -> Response:
    state: ShopState = request.app.state.sim
    data = _body(await body_json(request))
    _validate(state, data)
    ident = state.new_id()
    sub = {
        "id": ident,
        "address": data["address"],
        "topic": data["topic"],
        "created_at": state.now(),
        "updated_at": state.now(),
        "format": data.get("format", "json"),
        "fields": list(data.get("fields") or []),
        "metafield_namespaces": list(data.get("metafield_namespaces") or []),
        "api_version": state.api_version,
        "private_metafield_namespaces": [],
        "admin_graphql_api_id": f"gid://shopify/WebhookSubscription/{ident}",
    }
    state.db.webhooks[ident] = sub
    return JSONResponse({"webhook": _public(sub)}, status_code=201)


async def update_webhook(request: Request) -> Response:
    state: ShopState = request.app.state.sim
    sub = _get(state, request.path_params["id"])
    data = _body(await body_json(request))
    _validate(state, data, sub)
    for key in ("address", "topic", "format"):
        if key in data:
            sub[key] = data[key]
    if "fields" in data:
        sub["fields"] = list(data["fields"] or [])
    sub["updated_at"] = state.now()
    return JSONResponse({"webhook": _public(sub)})


async def delete_webhook(request: Request) -> Response:
    state: ShopState = request.app.state.sim
    _get(state, request.path_params["id"])
    state.db.webhooks.pop(request.path_params["id"])
    return JSONResponse({})


ROUTES = [
    Route("/webhooks.json", list_webhooks, methods=["GET"]),
    Route("/webhooks.json", create_webhook, methods=["POST"]),
    Route("/webhooks/count.json", count_webhooks, methods=["GET"]),
    Route("/webhooks/{id:int}.json", get_webhook, methods=["GET"]),
    Route("/webhooks/{id:int}.json", update_webhook, methods=["PUT"]),
    Route("/webhooks/{id:int}.json", delete_webhook, methods=["DELETE"]),
]
