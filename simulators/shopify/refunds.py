"""Refunds (section 2.2): calculate, create with restocking, and the money they move."""

from __future__ import annotations

from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import fulfillment
from .customers import spent_delta
from .errors import invalid, not_found
from .http import root, sim
from .inventory import change_stock
from .order_model import (
    get_order,
    money_totals,
    order_transactions,
    public,
    refresh_financial_status,
    refresh_fulfillment_status,
    render_order,
    set_money,
)
from .orders import add_transaction, line_discount
from .state import ShopState
from .values import ZERO, JSONResponse, as_int, dec, gid, money, money_number, money_set
from .webhooks import emit

RESTOCK_TYPES = ("no_restock", "cancel", "return", "legacy_restock")


def _share(value: Decimal, part: int, whole: int) -> Decimal:
    return (value * part / whole) if whole else ZERO


def _plan_lines(state: ShopState, order: dict, given: list) -> list[dict]:
    """Validated refund lines with their money; nothing is changed yet."""
    lines = {li["id"]: li for li in order["line_items"]}
    wanted: dict[int, int] = {}
    plan = []
    for data in given or []:
        line = lines.get(as_int(data.get("line_item_id"), "line_item_id"))
        if line is None:
            raise invalid(
                "refund_line_items", f"line_item_id {data.get('line_item_id')} is not on this order"
            )
        qty = as_int(data.get("quantity", 0), "quantity")
        restock_type = data.get("restock_type") or "no_restock"
        if restock_type not in RESTOCK_TYPES:
            raise invalid("restock_type", "is not included in the list")
        if restock_type == "legacy_restock":  # older callers: cancel what is unfulfilled, else return
            restock_type = "cancel" if line["fulfillable_quantity"] >= qty else "return"
        wanted[line["id"]] = wanted.get(line["id"], 0) + qty
        if qty < 1 or wanted[line["id"]] > line["current_quantity"]:
            raise invalid(
                "refund_line_items", f"quantity for line {line['id']} exceeds the refundable quantity"
            )
        if restock_type == "cancel" and qty > line["fulfillable_quantity"]:
            raise invalid("refund_line_items", "cannot cancel more than the unfulfilled quantity")
        if restock_type == "return" and qty > line["_fulfilled"] - line["_returned"]:
            raise invalid("refund_line_items", "cannot return more than was fulfilled")
        location_id = data.get("location_id") or line["_location_id"]
        if restock_type != "no_restock" and int(location_id) not in state.db.locations:
            raise invalid("location_id", "is invalid")
        unit_total = dec(line["price"]) * line["quantity"] - line_discount(line)
        subtotal = _share(unit_total, qty, line["quantity"])
        discount = _share(line_discount(line), qty, line["quantity"])
        tax = _share(sum((dec(t["price"]) for t in line["tax_lines"]), ZERO), qty, line["quantity"])
        plan.append(
            {
                "line": line,
                "quantity": qty,
                "restock_type": restock_type,
                "location_id": int(location_id) if location_id else None,
                "subtotal": subtotal,
                "tax": tax,
                "discount": discount,
            }
        )
    return plan


def _shipping(state: ShopState, order: dict, data: dict | None) -> tuple[Decimal, Decimal]:
    """(amount to refund for shipping, shipping still refundable)."""
    total = sum((dec(s["price"]) for s in order["shipping_lines"]), ZERO)
    done = sum((dec(r["_shipping"]) for r in state.db.refunds.values() if r["order_id"] == order["id"]), ZERO)
    left = total - done
    if not data:
        return ZERO, left
    amount = left if data.get("full_refund") else dec(data.get("amount"), "shipping")
    if amount > left:
        raise invalid("shipping", f"amount must be less than or equal to {money(left)}")
    return amount, left


def _parent(state: ShopState, order: dict) -> dict | None:
    txns = order_transactions(state, order["id"])
    return next((t for t in txns if t["kind"] in ("sale", "capture") and t["status"] == "success"), None)


def calculate(state: ShopState, order: dict, data: dict) -> dict:
    plan = _plan_lines(state, order, data.get("refund_line_items") or [])
    shipping, left = _shipping(state, order, data.get("shipping"))
    sums = money_totals(state, order)
    refundable = sums["paid"] - sums["refunded"]
    wanted = sum((p["subtotal"] + p["tax"] for p in plan), ZERO) + shipping
    parent = _parent(state, order)
    currency = data.get("currency") or order["currency"]
    transactions = []
    if parent and min(wanted, refundable) > 0:
        transactions.append(
            {
                "order_id": order["id"],
                "kind": "suggested_refund",
                "gateway": parent["gateway"],
                "parent_id": parent["id"],
                "amount": money(min(wanted, refundable)),
                "currency": currency,
                "maximum_refundable": money(refundable),
            }
        )
    return {
        "shipping": {"amount": money(shipping), "tax": "0.00", "maximum_refundable": money(left)},
        "refund_line_items": [_rli(p) for p in plan],
        "transactions": transactions,
        "currency": currency,
        "duties": [],
        "additional_fees": [],
    }


def _rli(p: dict) -> dict:
    """A refund line as refunds/calculate suggests it."""
    return {
        "quantity": p["quantity"],
        "line_item_id": p["line"]["id"],
        "location_id": p["location_id"],
        "restock_type": p["restock_type"],
        "price": p["line"]["price"],
        "subtotal": money(p["subtotal"]),
        "total_tax": money(p["tax"]),
        "discounted_price": p["line"]["price"],
        "discounted_total_price": money(p["subtotal"]),
    }


def _refund_line(p: dict, ident: int, currency: str) -> dict:
    """A refund line of a made refund, as the 2025-01 order sample shows it: `subtotal` and
    `total_tax` are JSON numbers there (195.66, 3.98), with string amounts in the *_set twins."""
    return {
        "id": ident,
        "line_item_id": p["line"]["id"],
        "location_id": p["location_id"],
        "quantity": p["quantity"],
        "restock_type": p["restock_type"],
        "subtotal": money_number(p["subtotal"]),
        "subtotal_set": money_set(p["subtotal"], currency),
        "total_tax": money_number(p["tax"]),
        "total_tax_set": money_set(p["tax"], currency),
        "line_item": public(p["line"]),
    }


def _remove_unfulfilled(state: ShopState, order: dict, line: dict, qty: int) -> None:
    """Take `qty` off what is left to ship, on the line and on its fulfillment orders."""
    line["fulfillable_quantity"] -= qty
    for fo in fulfillment.order_fulfillment_orders(state, order["id"]):
        for fo_line in fo["line_items"]:
            if qty and fo_line["line_item_id"] == line["id"] and fo_line["fulfillable_quantity"]:
                take = min(qty, fo_line["fulfillable_quantity"])
                fo_line["fulfillable_quantity"] -= take
                fo_line["quantity"] -= take
                qty -= take
        fulfillment.refresh_fo(state, fo)


def create_refund(state: ShopState, order: dict, data: dict) -> dict:
    plan = _plan_lines(state, order, data.get("refund_line_items") or [])
    shipping, _ = _shipping(state, order, data.get("shipping"))
    sums = money_totals(state, order)
    refundable = sums["paid"] - sums["refunded"]
    parent = _parent(state, order)
    txn_data = []
    for txn in data.get("transactions") or []:
        amount = dec(txn.get("amount"), "amount")
        parent_id = txn.get("parent_id") or (parent or {}).get("id")
        if parent_id is None or state.db.transactions.get(int(parent_id), {}).get("order_id") != order["id"]:
            raise invalid("transactions", "parent_id is invalid")
        if amount <= 0 or amount > refundable:
            raise invalid("transactions", f"amount must be less than or equal to {money(refundable)}")
        refundable -= amount
        # A refund goes back through the gateway of the payment it refunds unless told otherwise.
        gateway = state.db.transactions[int(parent_id)]["gateway"]
        txn_data.append({"gateway": gateway} | {k: v for k, v in txn.items() if v is not None}
                        | {"kind": "refund", "parent_id": int(parent_id), "amount": money(amount)})
    ident = state.new_id()
    currency = data.get("currency") or order["currency"]
    for p in plan:
        line, qty = p["line"], p["quantity"]
        line["current_quantity"] -= qty
        if p["restock_type"] == "cancel":
            _remove_unfulfilled(state, order, line, qty)
        elif p["restock_type"] == "return":
            line["_returned"] += qty
        else:  # no_restock: unshipped units stop being shippable first
            _remove_unfulfilled(state, order, line, min(qty, line["fulfillable_quantity"]))
        variant = state.db.variants.get(line["variant_id"] or 0)
        if p["restock_type"] in ("cancel", "return") and variant:
            change_stock(state, variant["inventory_item_id"], p["location_id"], qty)
    txns = [add_transaction(state, order, t) for t in txn_data]
    refund = {
        "id": ident,
        "order_id": order["id"],
        "note": data.get("note"),
        "user_id": None,
        "processed_at": state.now(),
        "restock": any(p["restock_type"] != "no_restock" for p in plan),
        "duties": [],
        "additional_fees": [],
        "total_additional_fees_set": money_set(ZERO, currency),
        "total_duties_set": money_set(ZERO, currency),
        "admin_graphql_api_id": gid("Refund", ident),
        "refund_line_items": [_refund_line(p, state.new_id(), currency) for p in plan],
        "transactions": txns,
        "order_adjustments": [],
        "_shipping": money(shipping),
    }
    if shipping:
        refund["order_adjustments"].append(
            {"id": state.new_id(), "order_id": order["id"], "refund_id": ident, "kind": "shipping_refund",
             "reason": "Shipping refund", "amount": money(-shipping), "tax_amount": "0.00"}
        )  # fmt: skip
    state.stamp(refund)
    del refund["updated_at"]  # a refund is never edited: it has created_at and processed_at only
    state.db.refunds[ident] = refund
    removed = sum((p["subtotal"] + p["tax"] for p in plan), ZERO)
    for field, delta in (
        ("current_total_discounts", sum((p["discount"] for p in plan), ZERO)),
        ("current_subtotal_price", sum((p["subtotal"] for p in plan), ZERO)),
        ("current_total_tax", sum((p["tax"] for p in plan), ZERO)),
        ("current_total_price", removed + shipping),
    ):
        set_money(order, field, max(ZERO, dec(order[field]) - delta), order["currency"])
    refresh_financial_status(state, order)
    refresh_fulfillment_status(order)
    refunded_money = sum((dec(t["amount"]) for t in txns), ZERO)
    spent_delta(state, order.get("_customer_id"), -refunded_money)
    order["updated_at"] = state.now()
    emit(state, "refunds/create", public(refund))
    emit(state, "orders/updated", render_order(state, order))
    return refund


async def post_calculate(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["oid"])
    return JSONResponse({"refund": calculate(state, order, await root(request, "refund"))})


async def post_refund(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["oid"])
    refund = create_refund(state, order, await root(request, "refund"))
    return JSONResponse({"refund": public(refund)}, status_code=201)


async def list_refunds(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["oid"])
    found = [public(r) for r in state.db.refunds.values() if r["order_id"] == order["id"]]
    return JSONResponse({"refunds": found})


async def show_refund(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["oid"])
    refund = state.db.refunds.get(request.path_params["id"])
    if refund is None or refund["order_id"] != order["id"]:
        raise not_found()
    return JSONResponse({"refund": public(refund)})


ROUTES = [
    Route("/orders/{oid:int}/refunds.json", list_refunds, methods=["GET"]),
    Route("/orders/{oid:int}/refunds.json", post_refund, methods=["POST"]),
    Route("/orders/{oid:int}/refunds/calculate.json", post_calculate, methods=["POST"]),
    Route("/orders/{oid:int}/refunds/{id:int}.json", show_refund, methods=["GET"]),
]
