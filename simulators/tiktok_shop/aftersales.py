"""Cancellations and returns: seller endpoints and the buyer-side requests the admin API makes."""

from __future__ import annotations

import copy
from decimal import Decimal

from . import errors as E
from .errors import ApiError
from .money import dec, fmt
from .orders import PRE_SHIP, OrderError, cancel_lines, find_order
from .pagination import paginate
from .routing import Ctx
from .state import SimState

PENDING_CANCEL = "CANCELLATION_REQUEST_PENDING"
# UNCONFIRMED: which of SUCCESS/COMPLETE an approved cancellation shows. The simulator refunds at
# once, so an approved (or seller-initiated) cancellation goes straight to COMPLETE; a rejected one
# becomes CANCEL (the request is withdrawn and the order goes on).
DONE_CANCEL = "CANCELLATION_REQUEST_COMPLETE"
REJECTED_CANCEL = "CANCELLATION_REQUEST_CANCEL"

PENDING_RETURN = "RETURN_OR_REFUND_REQUEST_PENDING"
DONE_RETURN = "RETURN_OR_REFUND_REQUEST_COMPLETE"
# UNCONFIRMED spelling (1.9: HS has RETURN_OR_REFUND_REQUEST_REJECT, LY doc text the one below).
REJECTED_RETURN = "REFUND_OR_RETURN_REQUEST_REJECT"
RETURNABLE_ORDER = {"IN_TRANSIT", "DELIVERED"}
SHIPPED_LINE = {"FULFILLING", "COMPLETED"}
CLOSED_RETURN = {REJECTED_RETURN, "RETURN_OR_REFUND_REQUEST_CANCEL"}

# decision -> (statuses it applies to, return types it applies to, resulting status)
APPROVALS = {
    "APPROVE_REFUND": ({PENDING_RETURN}, {"REFUND"}, DONE_RETURN),
    "APPROVE_RETURN": ({PENDING_RETURN}, {"RETURN_AND_REFUND"}, "AWAITING_BUYER_SHIP"),
    "APPROVE_REPLACEMENT": ({PENDING_RETURN}, {"REPLACEMENT"}, "AWAITING_BUYER_SHIP"),
    "APPROVE_RECEIVED_PACKAGE": ({"BUYER_SHIPPED_ITEM"}, {"RETURN_AND_REFUND", "REPLACEMENT"}, DONE_RETURN),
    "ISSUE_REPLACEMENT_REFUND": ({PENDING_RETURN, "BUYER_SHIPPED_ITEM"}, {"REPLACEMENT"}, DONE_RETURN),
    "OFFER_PARTIAL_REFUND": ({PENDING_RETURN}, {"REFUND", "RETURN_AND_REFUND"}, "AWAITING_BUYER_RESPONSE"),
}
REJECTIONS = {
    "REJECT_REFUND": ({PENDING_RETURN}, {"REFUND"}, REJECTED_RETURN),
    "REJECT_RETURN": ({PENDING_RETURN}, {"RETURN_AND_REFUND"}, REJECTED_RETURN),
    "REJECT_REPLACEMENT": ({PENDING_RETURN}, {"REPLACEMENT"}, REJECTED_RETURN),
    "REJECT_RECEIVED_PACKAGE": ({"BUYER_SHIPPED_ITEM"}, {"RETURN_AND_REFUND", "REPLACEMENT"},
                                "REJECT_RECEIVE_PACKAGE"),
}
# Buyer-side moves the admin API can make on a return.
BUYER_MOVES = {
    "AWAITING_BUYER_SHIP": {"BUYER_SHIPPED_ITEM", "RETURN_OR_REFUND_REQUEST_CANCEL"},
    PENDING_RETURN: {"RETURN_OR_REFUND_REQUEST_CANCEL"},
    "AWAITING_BUYER_RESPONSE": {DONE_RETURN, "RETURN_OR_REFUND_REQUEST_CANCEL"},
}
DAY = 24 * 3600


def _refund(order: dict, lines: list[dict], with_shipping: bool) -> dict:
    currency = order["payment"]["currency"]
    subtotal = sum((dec(li["sale_price"]) for li in lines), Decimal(0))
    tax = sum((dec(li["item_tax"][0]["tax_amount"]) for li in lines), Decimal(0))
    shipping = dec(order["payment"]["shipping_fee"]) if with_shipping else Decimal(0)
    total = subtotal + shipping + (Decimal(0) if order.get("_tax_included") else tax)
    # The simulator charges no retail delivery fee per line; the order's is refunded with shipping.
    retail = dec(order["payment"]["retail_delivery_fee"]) if with_shipping else Decimal(0)
    return {"currency": currency, "refund_total": fmt(total + retail, currency),
            "refund_subtotal": fmt(subtotal, currency), "refund_shipping_fee": fmt(shipping, currency),
            "refund_tax": fmt(tax, currency), "retail_delivery_fee": fmt(retail, currency)}


def _line_view(sim: SimState, order: dict, li: dict, id_key: str, kind: str) -> dict:
    """A cancel or return line as the search answers show it (FD 202309 samples)."""
    image = {"height": 200, "url": li["sku_image"], "width": 200} if li["sku_image"] else {
        "height": 0, "url": "", "width": 0}
    return {id_key: sim.ids.new(kind), "order_line_item_id": li["id"], "sku_id": li["sku_id"],
            "seller_sku": li["seller_sku"], "product_name": li["product_name"], "sku_name": li["sku_name"],
            "product_image": image, "refund_amount": _refund(order, [li], False)}


def _pick_lines(order: dict, body: dict, allowed: set[str], key: str = "order_line_item_ids") -> list[dict]:
    eligible = [li for li in order["line_items"] if li["package_status"] in allowed]
    if body.get(key):
        wanted = {str(i) for i in body[key]}
        picked = [li for li in eligible if li["id"] in wanted]
        if len(picked) != len(wanted):
            raise ApiError(E.INVALID_PARAM, f"Invalid params: {key} must be eligible lines of the order")
        return picked
    if body.get("skus"):
        picked = []
        for want in body["skus"]:
            same = [li for li in eligible if li["sku_id"] == str(want.get("sku_id")) and li not in picked]
            if len(same) < int(want.get("quantity", 1)):
                raise ApiError(E.INVALID_PARAM, f"Invalid params: not enough eligible units of {want.get('sku_id')}")
            picked += same[:int(want.get("quantity", 1))]
        return picked
    return eligible


def _idempotent(ctx: Ctx, scope: str, action):
    key = ctx.query.get("idempotency_key")
    if key and len(key) > 255:
        raise ApiError(E.INVALID_PARAM, "Invalid params: idempotency_key is longer than 255 characters")
    if key and (scope, key) in ctx.sim.idempotency:
        return copy.deepcopy(ctx.sim.idempotency[(scope, key)])
    result = action()
    if key:
        ctx.sim.idempotency[(scope, key)] = copy.deepcopy(result)
    return result


# -- cancellations ----------------------------------------------------------------------------
def _cancel_event(sim: SimState, record: dict) -> None:
    sim.emit("CANCELLATION_STATUS_CHANGE", {"order_id": record["order_id"], "cancellations_role": record["role"],
                                            "cancel_status": record["cancel_status"],
                                            "cancel_id": record["cancel_id"], "create_time": record["create_time"]})


def _new_cancellation(sim: SimState, order: dict, lines: list[dict], role: str, reason: str, status: str) -> dict:
    now = sim.now()
    full = len(lines) == len([li for li in order["line_items"] if li["package_status"] != "CANCELLED"])
    record = {
        "cancel_id": sim.ids.new("cancel"), "order_id": order["id"],
        "cancel_type": "CANCEL" if role == "SELLER" else "BUYER_CANCEL", "role": role,
        "cancel_status": status, "cancel_reason": reason, "cancel_reason_text": reason,
        "refund_amount": _refund(order, lines, full),
        "cancel_line_items": [_line_view(sim, order, li, "cancel_line_item_id", "cancel") for li in lines],
        # The seller must answer a buyer's request; nothing is asked of it otherwise.
        "seller_next_action_response": ([{"action": "SELLER_RESPOND_CANCEL", "deadline": now + 2 * DAY}]
                                        if status == PENDING_CANCEL else []),
        "create_time": now, "update_time": now,
    }
    sim.cancellations[record["cancel_id"]] = record
    return record


def seller_cancel(ctx: Ctx) -> dict:
    sim, body = ctx.sim, ctx.body or {}
    order = find_order(sim, str(body.get("order_id") or ""))
    if order["status"] not in PRE_SHIP:
        raise ApiError(E.CANCEL_NOT_ALLOWED, f"An order in {order['status']} cannot be cancelled")
    if not body.get("cancel_reason"):
        raise ApiError(E.INVALID_PARAM, "Invalid params: cancel_reason is required")
    lines = _pick_lines(order, body, {"TO_FULFILL", "PROCESSING"})
    record = seller_cancel_order(sim, order, body["cancel_reason"], lines)
    return {"cancel_id": record["cancel_id"], "cancel_status": record["cancel_status"]}


def buyer_cancel_request(sim: SimState, spec: dict) -> dict:
    """Admin: the buyer asks to cancel; the seller must approve or reject."""
    order = sim.orders.get(str(spec.get("order_id")))
    if order is None:
        raise OrderError(f"unknown order {spec.get('order_id')!r}")
    if order["status"] not in PRE_SHIP:
        raise OrderError(f"an order in {order['status']} cannot be cancelled")
    wanted = {str(i) for i in spec.get("order_line_item_ids") or []}
    lines = [li for li in order["line_items"] if li["package_status"] in ("TO_FULFILL", "PROCESSING")
             and (not wanted or li["id"] in wanted)]
    record = _new_cancellation(sim, order, lines, "BUYER", spec.get("cancel_reason") or "No longer needed",
                               PENDING_CANCEL)
    record["_line_ids"] = [li["id"] for li in lines]
    order["is_buyer_request_cancel"] = True
    order["update_time"] = sim.later_than(order["update_time"])
    order["request_cancel_time"] = order["update_time"]
    _cancel_event(sim, record)
    return record


def _pending_cancellation(sim: SimState, cancel_id: str) -> dict:
    record = sim.cancellations.get(cancel_id)
    if record is None:
        raise ApiError(E.CANCEL_NOT_FOUND, f"Cancellation {cancel_id} does not exist")
    if record["cancel_status"] != PENDING_CANCEL:
        raise ApiError(E.CANCEL_NOT_ALLOWED, f"Cancellation is {record['cancel_status']}, not pending")
    return record


def approve_buyer_cancellation(sim: SimState, record: dict) -> None:
    """The seller agrees to a pending buyer cancellation: the lines are cancelled and refunded."""
    order = sim.orders[record["order_id"]]
    order["is_buyer_request_cancel"] = False
    cancel_lines(sim, order, record["_line_ids"], "BUYER", record["cancel_reason"])
    record.update(cancel_status=DONE_CANCEL, update_time=sim.later_than(record["update_time"]))
    record["seller_next_action_response"] = []
    _cancel_event(sim, record)


def seller_cancel_order(sim: SimState, order: dict, reason: str, lines: list[dict] | None = None) -> dict:
    """The seller cancels lines (all open ones by default) of an unshipped order; done at once."""
    lines = lines if lines is not None else [li for li in order["line_items"]
                                             if li["package_status"] in ("TO_FULFILL", "PROCESSING")]
    record = _new_cancellation(sim, order, lines, "SELLER", reason, DONE_CANCEL)
    cancel_lines(sim, order, [li["id"] for li in lines], "SELLER", reason)
    _cancel_event(sim, record)
    return record


def approve_cancellation(ctx: Ctx) -> dict:
    def act() -> dict:
        approve_buyer_cancellation(ctx.sim, _pending_cancellation(ctx.sim, ctx.params["cancel_id"]))
        return {}
    return _idempotent(ctx, "approve_cancellation", act)


def reject_cancellation(ctx: Ctx) -> dict:
    def act() -> dict:
        sim, body = ctx.sim, ctx.body or {}
        if not body.get("reject_reason"):
            raise ApiError(E.INVALID_PARAM, "Invalid params: reject_reason is required")
        record = _pending_cancellation(sim, ctx.params["cancel_id"])
        order = sim.orders[record["order_id"]]
        order["is_buyer_request_cancel"] = False
        order["update_time"] = sim.later_than(order["update_time"])
        record.update(cancel_status=REJECTED_CANCEL, _reject_reason=body["reject_reason"],
                      update_time=sim.later_than(record["update_time"]), seller_next_action_response=[])
        _cancel_event(sim, record)
        return {}
    return _idempotent(ctx, "reject_cancellation", act)


def _public(record: dict) -> dict:
    return {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}


def _time_ok(record: dict, body: dict) -> bool:
    for key in ("create_time", "update_time"):
        if body.get(f"{key}_ge") is not None and record[key] < body[f"{key}_ge"]:
            return False
        if body.get(f"{key}_lt") is not None and record[key] >= body[f"{key}_lt"]:
            return False
    return True


def search_cancellations(ctx: Ctx) -> dict:
    body = ctx.body or {}

    def keep(r: dict) -> bool:
        order = ctx.sim.orders[r["order_id"]]
        return all((
            not body.get("cancel_ids") or r["cancel_id"] in body["cancel_ids"],
            not body.get("order_ids") or r["order_id"] in body["order_ids"],
            not body.get("buyer_user_ids") or order["user_id"] in body["buyer_user_ids"],
            not body.get("cancel_types") or r["cancel_type"] in body["cancel_types"],
            not body.get("cancel_status") or r["cancel_status"] in body["cancel_status"],
            _time_ok(r, body),
        ))

    matches = [r for r in ctx.sim.cancellations.values() if keep(r)]
    page, meta = paginate("cancellations", matches, ctx.query, body)
    return {"cancellations": [_public(r) for r in page], **meta}


# -- returns ----------------------------------------------------------------------------------
# What the seller must do next. SELLER_RESPOND_REFUND is the 202309 search-returns sample's (a
# pending REFUND); the names for the other types and for a parcel on its way back are UNCONFIRMED.
RESPOND_ACTIONS = {"REFUND": "SELLER_RESPOND_REFUND", "RETURN_AND_REFUND": "SELLER_RESPOND_RETURN",
                   "REPLACEMENT": "SELLER_RESPOND_REPLACEMENT"}


def _next_actions(record: dict, now: int) -> list[dict]:
    action = {PENDING_RETURN: RESPOND_ACTIONS[record["return_type"]],
              "BUYER_SHIPPED_ITEM": "SELLER_RECEIVE_PACKAGE"}.get(record["return_status"])
    return [{"action": action, "deadline": now + 2 * DAY}] if action else []


def _return_event(sim: SimState, record: dict) -> None:
    sim.emit("RETURN_STATUS_CHANGE", {"order_id": record["order_id"], "return_role": record["role"],
                                      "return_type": record["return_type"], "return_status": record["return_status"],
                                      "return_id": record["return_id"], "create_time": record["create_time"],
                                      "update_time": record["update_time"]})


def _set_return_status(sim: SimState, record: dict, status: str) -> None:
    record["return_status"] = status
    record["update_time"] = sim.later_than(record["update_time"])
    record["seller_next_action_response"] = _next_actions(record, record["update_time"])
    _return_event(sim, record)


def _return_discounts(order: dict, lines: list[dict]) -> dict:
    """discount_amount[]: the discounts on the returned lines (the order's shipping discounts are
    not refunded with a return, so they read 0 here)."""
    currency = order["payment"]["currency"]
    return {"currency": currency,
            "product_platform_discount": fmt(sum((dec(li["platform_discount"]) for li in lines), Decimal(0)), currency),
            "product_seller_discount": fmt(sum((dec(li["seller_discount"]) for li in lines), Decimal(0)), currency),
            "shipping_fee_platform_discount": "0", "shipping_fee_seller_discount": "0"}


def _new_return(sim: SimState, order: dict, lines: list[dict], role: str, return_type: str, reason: str,
                status: str) -> dict:
    if return_type not in ("REFUND", "RETURN_AND_REFUND", "REPLACEMENT"):
        raise OrderError(f"unknown return_type {return_type!r}")
    busy = {i for r in sim.returns.values() if r["order_id"] == order["id"] and r["return_status"] not in CLOSED_RETURN
            for i in r["_line_ids"]}
    if not lines or any(li["id"] in busy for li in lines):
        raise OrderError("the lines are already in an open return, or none is returnable")
    now = sim.now()
    record = {
        "return_id": sim.ids.new("return"), "order_id": order["id"], "return_type": return_type,
        "return_status": status, "role": role, "return_reason": reason, "return_reason_text": reason,
        "arbitration_status": "", "shipment_type": "PLATFORM", "handover_method": "DROP_OFF",
        "return_tracking_number": "", "return_provider_name": "", "return_provider_id": "",
        "can_buyer_keep_item": False,
        "refund_amount": _refund(order, lines, False),
        "discount_amount": [_return_discounts(order, lines)],
        # Who pays the parcel back (202309 search-returns sample); the simulator's returns ship on
        # a platform label the seller pays for, and refunds alone ship nothing.
        "shipping_fee_amount": [{"buyer_paid_return_shipping_fee": "0", "currency": order["payment"]["currency"],
                                 "platform_paid_return_shipping_fee": "0",
                                 "seller_paid_return_shipping_fee": "0" if return_type == "REFUND" else "5.99"}],
        "return_line_items": [_line_view(sim, order, li, "return_line_item_id", "return_line") for li in lines],
        "create_time": now, "update_time": now, "_line_ids": [li["id"] for li in lines],
    }
    record["seller_next_action_response"] = _next_actions(record, now)
    sim.returns[record["return_id"]] = record
    _return_event(sim, record)
    return record


def buyer_return_request(sim: SimState, spec: dict) -> dict:
    """Admin: the buyer asks for a refund, a return or a replacement."""
    order = sim.orders.get(str(spec.get("order_id")))
    if order is None:
        raise OrderError(f"unknown order {spec.get('order_id')!r}")
    if order["status"] not in RETURNABLE_ORDER:
        raise OrderError(f"an order in {order['status']} cannot be returned")
    wanted = {str(i) for i in spec.get("order_line_item_ids") or []}
    lines = [li for li in order["line_items"] if li["package_status"] in SHIPPED_LINE
             and (not wanted or li["id"] in wanted)]
    return _new_return(sim, order, lines, "BUYER", spec.get("return_type", "RETURN_AND_REFUND"),
                       spec.get("return_reason") or "Item not as described", PENDING_RETURN)


def buyer_return_move(sim: SimState, return_id: str, to: str, tracking: str | None = None) -> dict:
    record = sim.returns.get(return_id)
    if record is None:
        raise OrderError(f"unknown return {return_id!r}")
    if to not in BUYER_MOVES.get(record["return_status"], set()):
        raise OrderError(f"a return in {record['return_status']} cannot move to {to}")
    if to == "BUYER_SHIPPED_ITEM":
        record["return_tracking_number"] = tracking or "9400" + sim.ids.new("package")[:18]
        record["return_provider_name"], record["return_provider_id"] = "USPS", "7117858858072016686"
    _set_return_status(sim, record, to)
    return record


def seller_create_return(ctx: Ctx) -> dict:
    def act() -> dict:
        sim, body = ctx.sim, ctx.body or {}
        order = find_order(sim, str(body.get("order_id") or ""))
        if order["status"] not in RETURNABLE_ORDER:
            raise ApiError(E.RETURN_NOT_ALLOWED, f"An order in {order['status']} cannot be returned")
        lines = _pick_lines(order, body, SHIPPED_LINE)
        return_type = body.get("return_type") or "REFUND"
        # A seller-initiated refund needs no approval; a return still waits for the buyer's parcel.
        status = DONE_RETURN if return_type == "REFUND" else "AWAITING_BUYER_SHIP"
        try:
            record = _new_return(sim, order, lines, "SELLER", return_type, body.get("return_reason") or "", status)
        except OrderError as exc:
            raise ApiError(E.RETURN_NOT_ALLOWED, str(exc)) from exc
        return {"return_id": record["return_id"], "return_status": record["return_status"]}
    return _idempotent(ctx, "create_return", act)


def _decide(ctx: Ctx, table: dict, scope: str) -> dict:
    def act() -> dict:
        sim, body = ctx.sim, ctx.body or {}
        record = sim.returns.get(ctx.params["return_id"])
        if record is None:
            raise ApiError(E.RETURN_NOT_FOUND, f"Return {ctx.params['return_id']} does not exist")
        rule = table.get(body.get("decision"))
        if rule is None:
            raise ApiError(E.INVALID_PARAM, f"Invalid params: decision must be one of {', '.join(table)}")
        statuses, types, to = rule
        if record["return_status"] not in statuses or record["return_type"] not in types:
            raise ApiError(E.RETURN_NOT_ALLOWED, f"{body['decision']} does not apply to a {record['return_type']} "
                           f"return in {record['return_status']}")
        if body["decision"] == "OFFER_PARTIAL_REFUND":
            offer = body.get("partial_refund") or {}
            record["refund_amount"]["refund_total"] = fmt(dec(offer.get("amount")), record["refund_amount"]["currency"])
        if table is REJECTIONS:
            record["_reject_reason"] = body.get("reject_reason", "")
        _set_return_status(sim, record, to)
        return {}
    return _idempotent(ctx, scope, act)


def search_returns(ctx: Ctx) -> dict:
    body = ctx.body or {}

    def keep(r: dict) -> bool:
        order = ctx.sim.orders[r["order_id"]]
        return all((
            not body.get("return_ids") or r["return_id"] in body["return_ids"],
            not body.get("order_ids") or r["order_id"] in body["order_ids"],
            not body.get("buyer_user_ids") or order["user_id"] in body["buyer_user_ids"],
            not body.get("return_types") or r["return_type"] in body["return_types"],
            not body.get("return_status") or r["return_status"] in body["return_status"],
            not body.get("arbitration_status") or r["arbitration_status"] in body["arbitration_status"],
            _time_ok(r, body),
        ))

    matches = [r for r in ctx.sim.returns.values() if keep(r)]
    page, meta = paginate("returns", matches, ctx.query, body)
    return {"return_orders": [_public(r) for r in page], **meta}


ROUTES = [
    ("POST", "/return_refund/{v}/cancellations", seller_cancel),
    ("POST", "/return_refund/{v}/cancellations/search", search_cancellations),
    ("POST", "/return_refund/{v}/cancellations/{cancel_id}/approve", approve_cancellation),
    ("POST", "/return_refund/{v}/cancellations/{cancel_id}/reject", reject_cancellation),
    ("POST", "/return_refund/{v}/returns", seller_create_return),
    ("POST", "/return_refund/{v}/returns/search", search_returns),
    ("POST", "/return_refund/{v}/returns/{return_id}/approve", lambda ctx: _decide(ctx, APPROVALS, "approve_return")),
    ("POST", "/return_refund/{v}/returns/{return_id}/reject", lambda ctx: _decide(ctx, REJECTIONS, "reject_return")),
]
