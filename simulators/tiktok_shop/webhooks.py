"""Webhook subscriptions (event API), the outbound event queue, and signed delivery (1.12)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

import httpx

from engine.platforms.tiktok_shop import tiktok_webhook_signature
from simulators.common import WebhookFaults, pointed

from .errors import INVALID_PARAM, ApiError

if TYPE_CHECKING:
    from .routing import Ctx
    from .state import SimState

EVENT_TYPES = {
    "ORDER_STATUS_CHANGE": 1,
    "REVERSE_ORDER_STATUS_UPDATE": 2,
    "RECIPIENT_ADDRESS_UPDATE": 3,
    "PACKAGE_UPDATE": 4,
    "PRODUCT_STATUS_CHANGE": 5,
    "SELLER_DEAUTHORIZATION": 6,
    "UPCOMING_AUTHORIZATION_EXPIRATION": 7,
    "CANCELLATION_STATUS_CHANGE": 11,
    "RETURN_STATUS_CHANGE": 12,
    "PRODUCT_INFORMATION_CHANGE": 15,
    "PRODUCT_CREATION": 16,
    "PRODUCT_AUDIT_STATUS_CHANGE": 37,
}
# Accepted by the subscribe API but never sent by the simulator; their numbers are UNCONFIRMED.
OTHER_EVENT_NAMES = {"NEW_CONVERSATION", "NEW_MESSAGE", "PRODUCT_CATEGORY_CHANGE", "NEW_MESSAGE_LISTENER",
                     "INVOICE_STATUS_CHANGE", "REVERSE_STATUS_UPDATE"}

# 1.12: TikTok retries at about 2 min, 30 min, 3 h and 12 h, then drops the event. The simulator
# keeps the count (5 attempts) but, in automatic mode, waits these wall-clock seconds instead so a
# test sees a retry promptly.
MAX_ATTEMPTS = 5
AUTO_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
# UNCONFIRMED: the acknowledgement timeout is not published.
DELIVERY_TIMEOUT = 5.0


# -- subscription endpoints ---------------------------------------------------------------------
def list_webhooks(ctx: Ctx) -> dict:
    hooks = [dict(event_type=name, **sub) for name, sub in ctx.sim.webhooks.items()]
    return {"total_count": len(hooks), "webhooks": hooks}


def put_webhook(ctx: Ctx) -> dict:
    body = ctx.body or {}
    event_type, address = body.get("event_type"), body.get("address")
    if event_type not in EVENT_TYPES and event_type not in OTHER_EVENT_NAMES:
        raise ApiError(INVALID_PARAM, f"Invalid params: unknown event_type {event_type!r}")
    if not isinstance(address, str) or not address.startswith(("http://", "https://")) or len(address) > 255:
        raise ApiError(INVALID_PARAM, "Invalid params: address must be an http(s) URL of at most 255 characters")
    now = ctx.sim.now()
    current = ctx.sim.webhooks.get(event_type)
    ctx.sim.webhooks[event_type] = {
        "address": address,
        "create_time": current["create_time"] if current else now,
        "update_time": now,
    }
    return {}


def delete_webhook(ctx: Ctx) -> dict:
    event_type = (ctx.body or {}).get("event_type")
    if event_type not in ctx.sim.webhooks:
        raise ApiError(INVALID_PARAM, f"Invalid params: no webhook subscribed for {event_type!r}")
    del ctx.sim.webhooks[event_type]
    return {}


ROUTES = [
    ("GET", "/event/{v}/webhooks", list_webhooks),
    ("PUT", "/event/{v}/webhooks", put_webhook),
    ("DELETE", "/event/{v}/webhooks", delete_webhook),
]


# -- queue ----------------------------------------------------------------------------------
def queue_event(sim: SimState, event_type: str, data: dict) -> None:
    """Record an event; it is delivered only if its type has a subscription right now."""
    subscribed = event_type in sim.webhooks
    event = {
        "type": EVENT_TYPES[event_type],
        "tts_notification_id": sim.ids.new("notification"),
        "shop_id": sim.creds.shop_id,
        "timestamp": sim.now(),
        "data": data,
    }
    sim.events.append({
        "event_type": event_type,
        # Serialized once: the signature covers these exact bytes on every retry.
        "body": json.dumps(event, separators=(",", ":")),
        "status": "pending" if subscribed else "unsubscribed",
        "attempts": 0,
        "next_attempt": 0.0,
    })
    if subscribed and sim.on_event:
        sim.on_event()


def signed_headers(sim: SimState, raw: bytes) -> dict:
    """The headers a delivery carries: Authorization = hex HMAC-SHA256(app_secret, app_key + body)."""
    creds = sim.creds
    return {"Content-Type": "application/json",
            "Authorization": tiktok_webhook_signature(creds.app_key, creds.app_secret, raw)}


def outbox(sim: SimState, *, include_delivered: bool = False, event_type: str | None = None) -> list[dict]:
    """Every event not delivered yet (pending, or queued with no subscription at the time), as
    the exact bytes and headers a delivery sends, so a test can replay them anywhere."""
    out = []
    for event in sim.events:
        if event["status"] in ("delivered", "dropped") and not include_delivered:
            continue
        if event_type and event["event_type"] != event_type:
            continue
        raw = event["body"].encode()
        sub = sim.webhooks.get(event["event_type"])
        out.append({
            "tts_notification_id": json.loads(raw)["tts_notification_id"],
            "event_type": event["event_type"], "type": EVENT_TYPES[event["event_type"]],
            "status": event["status"], "attempts": event["attempts"],
            "address": sub["address"] if sub else None,
            "body": event["body"], "headers": signed_headers(sim, raw),
        })
    return out


def pending(sim: SimState) -> list[dict]:
    return [e for e in sim.events if e["status"] == "pending"]


async def deliver(sim: SimState, *, only_due: bool = False, faults: WebhookFaults | None = None) -> dict:
    """POST every pending event to its subscription; failures stay pending for the next call.
    `faults`: delivery faults (late, out of order, sent twice) from the fault knobs."""
    counts = {"delivered": 0, "failed": 0, "dropped": 0}
    due = [e for e in pending(sim) if not (only_due and e["next_attempt"] > time.monotonic())]
    if faults is not None:
        due = faults.plan(due)
    async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT) as client:
        for event in due:
            sub = sim.webhooks.get(event["event_type"])
            if sub is None:  # unsubscribed since it was queued
                event["status"] = "dropped"
                counts["dropped"] += 1
                continue
            raw = event["body"].encode()
            headers = signed_headers(sim, raw)
            event["attempts"] += 1
            status, error = None, None
            target = pointed(sub["address"], sim.webhook_base)
            try:
                response = await client.post(target, content=raw, headers=headers)
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            notification_id = json.loads(raw)["tts_notification_id"]
            sim.deliveries.append({
                "tts_notification_id": notification_id, "event_type": event["event_type"],
                "address": target, "attempt": event["attempts"], "status": status,
                "error": error, "time": sim.now(),
            })
            if status is not None and 200 <= status < 300:
                event["status"] = "delivered"
                counts["delivered"] += 1
                if faults is not None and faults.again():  # the acknowledgement was lost: sent again
                    try:
                        await client.post(target, content=raw, headers=headers)
                    except httpx.HTTPError:
                        pass
            elif event["attempts"] >= MAX_ATTEMPTS:
                event["status"] = "dropped"
                counts["dropped"] += 1
            else:
                delay = AUTO_RETRY_DELAYS[min(event["attempts"], len(AUTO_RETRY_DELAYS)) - 1]
                event["next_attempt"] = time.monotonic() + delay
                counts["failed"] += 1
    counts["pending"] = len(pending(sim))
    return counts


class WebhookDispatcher:
    """Serializes deliveries; in automatic mode runs a background task on the server's loop.

    The task is started lazily from the first event queued inside a running loop, so it works
    under uvicorn (including LoopbackServer, which runs without lifespan events).
    """

    def __init__(self, sim: SimState, auto: bool, faults: WebhookFaults | None = None) -> None:
        self.sim = sim
        self.auto = auto
        self.faults = faults
        self.task: asyncio.Task | None = None
        self.lock: asyncio.Lock | None = None
        if auto:
            sim.on_event = self.kick

    def point(self, base_url: str | None) -> None:
        """Send every delivery to `base_url` (keeping each address's path), as events happen; None
        sends them to the addresses again."""
        self.sim.webhook_base = base_url
        if base_url:
            self.auto = True
            self.sim.on_event = self.kick
            self.kick()

    def _lock(self) -> asyncio.Lock:
        if self.lock is None:
            self.lock = asyncio.Lock()
        return self.lock

    async def flush(self) -> dict:
        async with self._lock():
            return await deliver(self.sim, faults=self.faults)

    def kick(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # queued outside a server (direct state use); the next flush delivers it
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._run())

    async def _run(self) -> None:
        while pending(self.sim):
            async with self._lock():
                await deliver(self.sim, only_due=True, faults=self.faults)
            waits = [e["next_attempt"] - time.monotonic() for e in pending(self.sim)]
            held = self.faults.next_due() if self.faults is not None else None
            if held is not None:  # what is still due now was held back (late): wait for it, not spin
                waits = [w for w in waits if w > 0] + [held]
            if waits:
                await asyncio.sleep(min(0.5, max(0.01, min(waits))))
