"""Many orders at once, for tests and the demo: `generate_orders(sim, spec)` in process, or
`POST /_admin/orders/generate` with the same spec as its body.

Every order is placed as a buyer would place it (UNPAID) and then walked to its status through
the same status machine and after-sales paths the admin API uses one call at a time, so its
packages, tracking, stock reservations, cancellation records and webhooks are what that walk
gives. The choices come from a generator seeded with `seed`: the same spec on a simulator in the
same state makes the same orders.

Spec (every key optional):
- `count` (10): how many orders, 1 to MAX_COUNT.
- `seed` (0).
- `statuses`: {STATUS: weight}; default DEFAULT_STATUS_MIX, every one of the nine statuses.
- `fbt_share` (0): share fulfilled by TikTok.
- `on_hold_share` (0): share that goes through ON_HOLD after payment (ON_HOLD orders always do).
- `sample_share` (0): share of free sample orders (zero prices).
- `discount_share` (0.3): share with seller/platform discounts per unit and shipping discounts.
- `max_units` (3): most units in one order (a PARTIALLY_SHIPPING order gets at least 2).
- `skus`: seller SKUs to draw from; default every SKU of the shop's ACTIVATE products. Any TikTok
  SKU may be named, whether the merchant's catalogue has it or not.
- `span_seconds` (0): spread create times over this many seconds before now, each later step a
  little after the one before it (never after now); 0 stamps everything now.
A fulfilled-by-seller order takes only SKUs with enough available stock (TikTok refuses a
sold-out SKU); when none is left, OrderError says so and the orders made until then remain.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from decimal import Decimal

from . import aftersales, orders
from .money import dec, quantize
from .orders import OrderError
from .products import sale_price
from .state import SimState

MAX_COUNT = 2000
# A realistic spread: most orders wait to ship or are done; a few are unpaid, on hold or cancelled.
DEFAULT_STATUS_MIX = {
    "UNPAID": 4, "ON_HOLD": 3, "AWAITING_SHIPMENT": 22, "PARTIALLY_SHIPPING": 4, "AWAITING_COLLECTION": 9,
    "IN_TRANSIT": 14, "DELIVERED": 14, "COMPLETED": 22, "CANCELLED": 8,
}
DISCOUNT_RATES = (Decimal("0.05"), Decimal("0.1"), Decimal("0.15"), Decimal("0.2"), Decimal("0.25"))


def _share(spec: dict, key: str, default: float = 0.0) -> float:
    value = float(spec.get(key, default))
    if not 0 <= value <= 1:
        raise OrderError(f"{key} must be between 0 and 1")
    return value


def _weights(spec: dict) -> tuple[list[str], list[float]]:
    mix = spec.get("statuses") or DEFAULT_STATUS_MIX
    unknown = sorted(set(mix) - set(orders.TRANSITIONS))
    if unknown:
        raise OrderError(f"unknown statuses: {', '.join(unknown)}")
    weights = [float(mix[s]) for s in mix]
    if any(w < 0 for w in weights) or not sum(weights):
        raise OrderError("status weights must be 0 or more and not all 0")
    return list(mix), weights


def _pool(sim: SimState, wanted: list | None) -> list[tuple[dict, dict]]:
    """(product, sku) pairs to draw from, in a steady order."""
    live = [(p, s) for p in sim.products.values() if p["status"] == "ACTIVATE" for s in p["skus"]]
    if not wanted:
        return live
    by_sku: dict[str, tuple[dict, dict]] = {}
    for product, sku in live:
        by_sku.setdefault(sku["seller_sku"], (product, sku))
    missing = [str(s) for s in wanted if str(s) not in by_sku]
    if missing:
        raise OrderError(f"no ACTIVATE TikTok product has seller_sku {', '.join(missing)}")
    return [by_sku[str(s)] for s in dict.fromkeys(str(s) for s in wanted)]


def _available(sku: dict) -> int:
    return sum(r["quantity"] for r in sku["inventory"])


def _lines(rng: random.Random, pool: list[tuple[dict, dict]], units: int, fbt: bool) -> list[tuple[dict, int]]:
    """Up to three SKUs sharing `units`, each within its available stock unless TikTok ships."""
    stocked = pool if fbt else [(p, s) for p, s in pool if _available(s) > 0]
    if not stocked:
        raise OrderError("no SKU to draw from has stock left")
    picked = rng.sample(stocked, min(len(stocked), rng.randint(1, min(3, units))))
    counts = [1] * len(picked)
    for _ in range(units - len(picked)):
        counts[rng.randrange(len(picked))] += 1
    out = []
    for (_, sku), n in zip(picked, counts, strict=True):
        n = n if fbt else min(n, _available(sku))
        if n:
            out.append((sku, n))
    return out


def _discounts(sim: SimState, rng: random.Random, sku: dict) -> dict:
    price = sale_price(sim, sku) if sim.sale_tax_rate else dec(sku["price"]["amount"])
    seller = quantize(price * rng.choice(DISCOUNT_RATES), sim.currency)
    platform = quantize(price * rng.choice(DISCOUNT_RATES), sim.currency) if rng.random() < 0.4 else Decimal(0)
    if seller + platform >= price:
        seller, platform = Decimal(0), Decimal(0)
    return {"seller_discount": str(seller), "platform_discount": str(platform)}


def _order_spec(sim: SimState, rng: random.Random, pool: list, status: str, spec: dict, shares: dict) -> dict:
    fbt = rng.random() < shares["fbt_share"]
    on_hold = status == "ON_HOLD" or rng.random() < shares["on_hold_share"]
    sample = rng.random() < shares["sample_share"]
    discounted = not sample and rng.random() < shares["discount_share"]
    max_units = int(spec.get("max_units", 3))
    units = rng.randint(1, max_units)
    if status == "PARTIALLY_SHIPPING":
        units = max(units, 2)  # one unit ships, the other waits
    lines = _lines(rng, pool, units, fbt)
    if status == "PARTIALLY_SHIPPING" and sum(n for _, n in lines) < 2:
        raise OrderError("not enough stock left for a partially shipped order")
    order_spec: dict = {
        "line_items": [{"sku_id": sku["id"], "quantity": n} | (_discounts(sim, rng, sku) if discounted else {})
                       for sku, n in lines],
        "fulfillment_type": "FULFILLMENT_BY_TIKTOK" if fbt else "FULFILLMENT_BY_SELLER",
        "is_on_hold_order": on_hold, "is_sample_order": sample,
    }
    if discounted:
        fee = dec(sim.order_defaults["shipping_fee"])
        roll = rng.random()
        if roll < 0.3:  # free shipping the seller pays for
            order_spec["shipping_fee_seller_discount"] = str(fee)
        elif roll < 0.6:  # TikTok takes part of the shipping off
            order_spec["shipping_fee_platform_discount"] = str(min(fee, Decimal("2")))
    return order_spec


def _cancel(sim: SimState, rng: random.Random, order: dict) -> None:
    """A cancellation the way they happen: the unpaid order that times out, the buyer who asks
    and the seller who agrees, or the seller who cannot ship."""
    roll = rng.random()
    if roll < 0.35 and not order["is_on_hold_order"]:
        # UNCONFIRMED: TikTok closes an order left unpaid without a cancellation record.
        orders.cancel_lines(sim, order, [li["id"] for li in order["line_items"]], "SYSTEM",
                            "Payment was not completed in time")
        return
    orders.advance(sim, order, "AWAITING_SHIPMENT")
    if roll < 0.75:
        record = aftersales.buyer_cancel_request(sim, {"order_id": order["id"],
                                                       "cancel_reason": "No longer needed"})
        aftersales.approve_buyer_cancellation(sim, record)
    else:
        aftersales.seller_cancel_order(sim, order, "Out of stock")


class _SteppingClock:
    """Times that start `start` and move on a little with each reading, never past the real clock."""

    def __init__(self, real, start: float, rng: random.Random) -> None:  # noqa: ANN001
        self.real, self.now, self.rng = real, start, rng

    def __call__(self) -> float:
        self.now = min(self.real(), self.now + self.rng.randint(1, 900))
        return self.now


@contextmanager
def _clock(sim: SimState, clock):  # noqa: ANN001
    previous = sim.clock
    sim.clock = clock
    try:
        yield
    finally:
        sim.clock = previous


def generate_orders(sim: SimState, spec: dict | None = None) -> list[str]:
    """Place and walk `count` orders (see the module doc for the spec); returns their ids."""
    spec = spec or {}
    count = int(spec.get("count", 10))
    if not 1 <= count <= MAX_COUNT:
        raise OrderError(f"count must be 1 to {MAX_COUNT}")
    if int(spec.get("max_units", 3)) < 1:
        raise OrderError("max_units must be at least 1")
    span = int(spec.get("span_seconds", 0))
    if span < 0:
        raise OrderError("span_seconds must not be negative")
    rng = random.Random(f"tiktok-order-generator:{spec.get('seed', 0)}")
    names, weights = _weights(spec)
    shares = {key: _share(spec, key, default) for key, default in
              (("fbt_share", 0), ("on_hold_share", 0), ("sample_share", 0), ("discount_share", 0.3))}
    pool = _pool(sim, spec.get("skus"))
    if not pool:
        raise OrderError("the shop has no ACTIVATE product to order from")
    made: list[str] = []
    real = sim.clock
    starts = sorted(real() - span + rng.random() * span for _ in range(count)) if span else []
    for n in range(count):
        status = rng.choices(names, weights)[0]
        order_spec = _order_spec(sim, rng, pool, status, spec, shares)
        with _clock(sim, _SteppingClock(real, starts[n], rng) if span else real):
            order = orders.place_order(sim, order_spec)
            if status == "CANCELLED":
                _cancel(sim, rng, order)
            elif status != "UNPAID":
                orders.advance(sim, order, status)
        made.append(order["id"])
    return made
