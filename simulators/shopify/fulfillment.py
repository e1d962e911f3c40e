"""Fulfillment orders and fulfillments (section 2.2, fulfillment-order model).

Each order gets one fulfillment order per assigned location. A fulfillment consumes quantities of
fulfillment-order lines and, through them, of the order's lines.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import ApiError, invalid, not_found
from .http import root, sim
from .inventory import change_stock
from .order_model import get_order, public, refresh_fulfillment_status, render_order
from .paging import paginate, parse_list, project
from .state import ShopState
from .values import JSONResponse, gid
from .webhooks import emit

ACTIONS = {
    "open": ["create_fulfillment", "hold", "move", "cancel_fulfillment_order"],
    "in_progress": ["create_fulfillment", "hold", "move", "close"],
    "on_hold": ["release_hold"],
    "scheduled": ["mark_as_open"],
    "closed": [],
    "cancelled": [],
    "incomplete": ["close"],
}
TRACKING_URLS = {
    "UPS": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums={}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={}",
    "DHL Express": "https://www.dhl.com/en/express/tracking.html?AWB={}",
}


# fulfillment orders ----------------------------------------------------------------------


def _fo_line(state: ShopState, fo_id: int, line: dict, quantity: int) -> dict:
    variant = state.db.variants.get(line["variant_id"] or 0)
    return {
        "id": state.new_id(),
        "shop_id": 1,
        "fulfillment_order_id": fo_id,
        "quantity": quantity,
        "line_item_id": line["id"],
        "inventory_item_id": variant["inventory_item_id"] if variant else None,
        "fulfillable_quantity": quantity,
        "variant_id": line["variant_id"],
    }


def new_fulfillment_order(
    state: ShopState, order: dict, location_id: int, parts: list[tuple[dict, int]]
) -> dict:
    ident = state.new_id()
    address = order.get("shipping_address") or {}
    location = state.db.locations[location_id]
    fo = {
        "id": ident,
        "shop_id": 1,
        "order_id": order["id"],
        "assigned_location_id": location_id,
        "request_status": "unsubmitted",
        "status": "open",
        "supported_actions": list(ACTIONS["open"]),
        "destination": {k: address.get(k) for k in ("first_name", "last_name", "company", "address1",
                                                     "address2", "city", "province", "zip", "country",
                                                     "phone")} | {"id": ident, "email": order.get("email")},
        "line_items": [_fo_line(state, ident, line, qty) for line, qty in parts],
        "fulfill_at": None,
        "fulfill_by": None,
        "international_duties": None,
        "fulfillment_holds": [],
        "delivery_method": {"id": state.new_id(), "method_type": "shipping"},
        "assigned_location": {k: location.get(k) for k in ("address1", "address2", "city", "country_code",
                                                            "name", "phone", "province", "zip")}
        | {"location_id": location_id},
        "merchant_requests": [],
        "admin_graphql_api_id": gid("FulfillmentOrder", ident),
    }  # fmt: skip
    state.stamp(fo)
    state.db.fulfillment_orders[ident] = fo
    return fo


def create_for_order(state: ShopState, order: dict) -> None:
    by_location: dict[int, list[tuple[dict, int]]] = {}
    for line in order["line_items"]:
        by_location.setdefault(line["_location_id"], []).append((line, line["quantity"]))
    for location_id, parts in by_location.items():
        new_fulfillment_order(state, order, location_id, parts)


def order_fulfillment_orders(state: ShopState, order_id: int) -> list[dict]:
    return [fo for fo in state.db.fulfillment_orders.values() if fo["order_id"] == order_id]


def refresh_fo(state: ShopState, fo: dict) -> None:
    if fo["status"] not in ("on_hold", "cancelled", "scheduled"):
        remaining = sum(li["fulfillable_quantity"] for li in fo["line_items"])
        total = sum(li["quantity"] for li in fo["line_items"])
        done = any(
            f["status"] == "success" and fo["id"] in f["_fo_ids"] for f in state.db.fulfillments.values()
        )
        if remaining == 0:
            fo["status"] = "closed"
        elif done or remaining < total:
            fo["status"] = "in_progress"
        else:
            fo["status"] = "open"
    fo["supported_actions"] = list(ACTIONS.get(fo["status"], []))
    fo["updated_at"] = state.now()


def _fo(state: ShopState, ident: int) -> dict:
    fo = state.db.fulfillment_orders.get(ident)
    if fo is None:
        raise not_found()
    return fo


def _require(fo: dict, action: str) -> None:
    if action not in fo["supported_actions"]:
        raise ApiError(
            422, {"base": [f"Fulfillment order {fo['id']} does not support {action} (status {fo['status']})"]}
        )


def cancel_fulfillment_order(state: ShopState, fo: dict) -> None:
    """Unfulfilled quantities leave the order as well (used by order cancellation)."""
    order = state.db.orders[fo["order_id"]]
    lines = {li["id"]: li for li in order["line_items"]}
    for fo_line in fo["line_items"]:
        lines[fo_line["line_item_id"]]["fulfillable_quantity"] -= fo_line["fulfillable_quantity"]
        fo_line["fulfillable_quantity"] = 0
    fo["status"] = "cancelled"
    refresh_fo(state, fo)
    emit(state, "fulfillment_orders/cancelled", {"fulfillment_order": public(fo)})


async def list_for_order(request: Request) -> Response:
    state = sim(request)
    get_order(state, request.path_params["oid"])
    fos = order_fulfillment_orders(state, request.path_params["oid"])
    return JSONResponse({"fulfillment_orders": [public(fo) for fo in fos]})


async def show_fo(request: Request) -> Response:
    return JSONResponse({"fulfillment_order": public(_fo(sim(request), request.path_params["id"]))})


async def fo_action(request: Request) -> Response:
    state = sim(request)
    fo = _fo(state, request.path_params["id"])
    action = request.path_params["action"]
    if action == "cancel":
        _require(fo, "cancel_fulfillment_order")
        cancel_fulfillment_order(state, fo)
        refresh_fulfillment_status(state.db.orders[fo["order_id"]])
        # Merchant-managed orders get no replacement here; a real shop may create one (UNCONFIRMED).
        return JSONResponse({"fulfillment_order": public(fo), "replacement_fulfillment_order": None})
    if action == "close":
        _require(fo, "close")
        fo["status"], fo["supported_actions"], fo["updated_at"] = "closed", [], state.now()
        return JSONResponse({"fulfillment_order": public(fo)})
    if action == "hold":
        _require(fo, "hold")
        data = await root(request, "fulfillment_hold")
        hold = {"reason": data.get("reason", "other"), "reason_notes": data.get("reason_notes")}
        fo["fulfillment_holds"].append(hold)
        fo["status"] = "on_hold"
        refresh_fo(state, fo)
        emit(state, "fulfillment_orders/placed_on_hold", {"fulfillment_order": public(fo)})
        return JSONResponse({"fulfillment_order": public(fo)})
    if action == "release_hold":
        _require(fo, "release_hold")
        fo["fulfillment_holds"] = []
        fo["status"] = "open"
        refresh_fo(state, fo)
        emit(state, "fulfillment_orders/hold_released", {"fulfillment_order": public(fo)})
        return JSONResponse({"fulfillment_order": public(fo)})
    if action == "open":
        _require(fo, "mark_as_open")
        fo["status"] = "open"
        refresh_fo(state, fo)
        return JSONResponse({"fulfillment_order": public(fo)})
    if action == "reschedule":
        data = await root(request, "fulfillment_order")
        if fo["status"] != "scheduled":
            raise invalid("base", "Only scheduled fulfillment orders can be rescheduled")
        fo["fulfill_at"] = data.get("new_fulfill_at")
        refresh_fo(state, fo)
        return JSONResponse({"fulfillment_order": public(fo)})
    if action == "move":
        _require(fo, "move")
        return JSONResponse(_move(state, fo, await root(request, "fulfillment_order")))
    raise not_found()


def _move(state: ShopState, fo: dict, data: dict) -> dict:
    try:
        new_location = int(data.get("new_location_id"))
    except (TypeError, ValueError):
        raise invalid("new_location_id", "is invalid") from None
    if new_location not in state.db.locations:
        raise invalid("new_location_id", "is invalid")
    wanted = {int(li["id"]): int(li["quantity"]) for li in data.get("fulfillment_order_line_items") or []}
    untouched = all(li["fulfillable_quantity"] == li["quantity"] for li in fo["line_items"])
    if not wanted and untouched:
        for fo_line in fo["line_items"]:
            _move_stock(state, fo, fo_line, new_location, fo_line["quantity"])
        fo["assigned_location_id"] = new_location
        fo["assigned_location"]["location_id"] = new_location
        fo["assigned_location"]["name"] = state.db.locations[new_location]["name"]
        refresh_fo(state, fo)
        emit(state, "fulfillment_orders/moved", {"original_fulfillment_order": public(fo)})
        return {"original_fulfillment_order": public(fo), "moved_fulfillment_order": public(fo),
                "remaining_fulfillment_order": None}  # fmt: skip
    order = state.db.orders[fo["order_id"]]
    lines = {li["id"]: li for li in order["line_items"]}
    parts = []
    for fo_line in fo["line_items"]:
        qty = wanted.get(fo_line["id"], fo_line["fulfillable_quantity"] if not wanted else 0)
        if qty > fo_line["fulfillable_quantity"] or qty < 0:
            raise invalid("fulfillment_order_line_items", "quantity exceeds what can be moved")
        if qty:
            parts.append((fo_line, qty))
    if not parts:
        raise invalid("fulfillment_order_line_items", "nothing to move")
    moved = new_fulfillment_order(
        state, order, new_location, [(lines[fl["line_item_id"]], q) for fl, q in parts]
    )
    for fo_line, qty in parts:
        fo_line["quantity"] -= qty
        fo_line["fulfillable_quantity"] -= qty
        _move_stock(state, fo, fo_line, new_location, qty)
    fo["line_items"] = [li for li in fo["line_items"] if li["quantity"] > 0]
    refresh_fo(state, fo)
    emit(state, "fulfillment_orders/moved", {"original_fulfillment_order": public(fo)})
    return {"original_fulfillment_order": public(fo), "moved_fulfillment_order": public(moved),
            "remaining_fulfillment_order": public(fo) if fo["line_items"] else None}  # fmt: skip


def _move_stock(state: ShopState, fo: dict, fo_line: dict, new_location: int, qty: int) -> None:
    """Stock the order took follows the items to their new location."""
    order = state.db.orders[fo["order_id"]]
    line = next(li for li in order["line_items"] if li["id"] == fo_line["line_item_id"])
    if line["_decremented"] and fo_line["inventory_item_id"] and fo["assigned_location_id"] != new_location:
        change_stock(state, fo_line["inventory_item_id"], line["_location_id"], qty)
        change_stock(state, fo_line["inventory_item_id"], new_location, -qty)
    line["_location_id"] = new_location


# fulfillments ----------------------------------------------------------------------------


def _tracking(fulfillment: dict, info: dict) -> None:
    company = info.get("company", fulfillment.get("tracking_company"))
    number = info.get("number", fulfillment.get("tracking_number"))
    url = info.get("url")
    if not url and company in TRACKING_URLS and number:
        url = TRACKING_URLS[company].format(number)
    fulfillment["tracking_company"] = company
    fulfillment["tracking_number"] = number
    fulfillment["tracking_numbers"] = [number] if number else []
    fulfillment["tracking_url"] = url
    fulfillment["tracking_urls"] = [url] if url else []


def create_fulfillment(state: ShopState, data: dict) -> dict:
    groups = data.get("line_items_by_fulfillment_order")
    if not groups:
        raise invalid("line_items_by_fulfillment_order", "can't be blank")
    picks: list[tuple[dict, dict, int]] = []  # (fulfillment order, its line, quantity)
    for group in groups:
        fo = state.db.fulfillment_orders.get(int(group.get("fulfillment_order_id") or 0))
        if fo is None:
            raise invalid("fulfillment_order_id", "is invalid")
        _require(fo, "create_fulfillment")
        asked = group.get("fulfillment_order_line_items")
        if not asked:  # leaving the lines out fulfils everything that is left
            picks += [
                (fo, li, li["fulfillable_quantity"]) for li in fo["line_items"] if li["fulfillable_quantity"]
            ]
            continue
        by_id = {li["id"]: li for li in fo["line_items"]}
        for item in asked:
            fo_line = by_id.get(int(item.get("id") or 0))
            qty = int(item.get("quantity") or 0)
            if fo_line is None:
                raise invalid(
                    "fulfillment_order_line_items", f"line {item.get('id')} is not on this fulfillment order"
                )
            if qty <= 0 or qty > fo_line["fulfillable_quantity"]:
                raise invalid("fulfillment_order_line_items", "quantity exceeds the fulfillable quantity")
            picks.append((fo, fo_line, qty))
    orders = {fo["order_id"] for fo, _, _ in picks}
    if len(orders) != 1:
        raise invalid("line_items_by_fulfillment_order", "must belong to a single order")
    if not picks:
        raise invalid("line_items_by_fulfillment_order", "nothing left to fulfil")
    order = state.db.orders[orders.pop()]
    if order["cancelled_at"]:
        raise invalid("base", "Cannot fulfil a cancelled order")
    lines = {li["id"]: li for li in order["line_items"]}
    ident = state.new_id()
    count = sum(1 for f in state.db.fulfillments.values() if f["order_id"] == order["id"])
    fulfillment_lines = []
    for _, fo_line, qty in picks:
        fo_line["fulfillable_quantity"] -= qty
        line = lines[fo_line["line_item_id"]]
        line["fulfillable_quantity"] -= qty
        line["_fulfilled"] += qty
        fulfillment_lines.append(public(line) | {"quantity": qty})
    fulfillment = {
        "id": ident,
        "order_id": order["id"],
        "status": "success",
        "service": "manual",
        "shipment_status": None,
        "location_id": picks[0][0]["assigned_location_id"],
        "origin_address": data.get("origin_address") or {},  # {} in the samples when none is given
        "line_items": fulfillment_lines,
        "receipt": {},
        "name": f"{order['name']}.{count + 1}",
        "_notify_customer": bool(data.get("notify_customer", False)),  # a request flag, not read back
        "admin_graphql_api_id": gid("Fulfillment", ident),
        "_fo_ids": sorted({fo["id"] for fo, _, _ in picks}),
        "_picks": [[fo_line["id"], fo["id"], fo_line["line_item_id"], qty] for fo, fo_line, qty in picks],
    }
    _tracking(fulfillment, data.get("tracking_info") or {})
    state.stamp(fulfillment)
    state.db.fulfillments[ident] = fulfillment
    for fo in {fo["id"]: fo for fo, _, _ in picks}.values():
        refresh_fo(state, fo)
    _order_changed(state, order)
    emit(state, "fulfillments/create", public(fulfillment))
    return fulfillment


def _order_changed(state: ShopState, order: dict) -> None:
    before = order["fulfillment_status"]
    refresh_fulfillment_status(order)
    order["updated_at"] = state.now()
    after = order["fulfillment_status"]
    if after != before and after == "fulfilled":
        emit(state, "orders/fulfilled", render_order(state, order))
    elif after != before and after == "partial":
        emit(state, "orders/partially_fulfilled", render_order(state, order))
    emit(state, "orders/updated", render_order(state, order))


def cancel_fulfillment(state: ShopState, fulfillment: dict) -> None:
    if fulfillment["status"] != "success":
        raise invalid("base", f"Cannot cancel a fulfillment with status {fulfillment['status']}")
    order = state.db.orders[fulfillment["order_id"]]
    lines = {li["id"]: li for li in order["line_items"]}
    for fo_line_id, fo_id, line_id, qty in fulfillment["_picks"]:
        fo = state.db.fulfillment_orders[fo_id]
        fo_line = next(li for li in fo["line_items"] if li["id"] == fo_line_id)
        fo_line["fulfillable_quantity"] += qty
        lines[line_id]["fulfillable_quantity"] += qty
        lines[line_id]["_fulfilled"] -= qty
    fulfillment["status"] = "cancelled"
    fulfillment["updated_at"] = state.now()
    for fo_id in fulfillment["_fo_ids"]:
        fo = state.db.fulfillment_orders[fo_id]
        if fo["status"] == "closed":
            fo["status"] = "open"
        refresh_fo(state, fo)
    _order_changed(state, order)
    emit(state, "fulfillments/update", public(fulfillment))


def _fulfillment(state: ShopState, ident: int, order_id: int | None = None) -> dict:
    fulfillment = state.db.fulfillments.get(ident)
    if fulfillment is None or (order_id is not None and fulfillment["order_id"] != order_id):
        raise not_found()
    return fulfillment


async def post_fulfillment(request: Request) -> Response:
    state = sim(request)
    fulfillment = create_fulfillment(state, await root(request, "fulfillment"))
    return JSONResponse({"fulfillment": public(fulfillment)}, status_code=201)


async def update_tracking(request: Request) -> Response:
    state = sim(request)
    fulfillment = _fulfillment(state, request.path_params["id"])
    data = await root(request, "fulfillment")
    _tracking(fulfillment, data.get("tracking_info") or {})
    fulfillment["_notify_customer"] = bool(data.get("notify_customer", fulfillment["_notify_customer"]))
    fulfillment["updated_at"] = state.now()
    emit(state, "fulfillments/update", public(fulfillment))
    return JSONResponse({"fulfillment": public(fulfillment)})


async def post_cancel(request: Request) -> Response:
    state = sim(request)
    fulfillment = _fulfillment(state, request.path_params["id"])
    cancel_fulfillment(state, fulfillment)
    return JSONResponse({"fulfillment": public(fulfillment)})


async def list_order_fulfillments(request: Request) -> Response:
    state = sim(request)
    get_order(state, request.path_params["oid"])
    q = parse_list(request)
    found = [f for f in state.db.fulfillments.values() if f["order_id"] == request.path_params["oid"]]
    if q.get("since_id"):
        found = [f for f in found if f["id"] > int(q.get("since_id") or 0)]
    page, headers = paginate(request, q, found, key=lambda f: [f["id"]])
    return JSONResponse({"fulfillments": [project(public(f), q.fields) for f in page]}, headers=headers)


async def count_order_fulfillments(request: Request) -> Response:
    state = sim(request)
    get_order(state, request.path_params["oid"])
    found = [f for f in state.db.fulfillments.values() if f["order_id"] == request.path_params["oid"]]
    return JSONResponse({"count": len(found)})


async def show_order_fulfillment(request: Request) -> Response:
    state = sim(request)
    fulfillment = _fulfillment(state, request.path_params["id"], request.path_params["oid"])
    return JSONResponse({"fulfillment": public(fulfillment)})


async def list_fo_fulfillments(request: Request) -> Response:
    state = sim(request)
    fo = _fo(state, request.path_params["id"])
    found = [f for f in state.db.fulfillments.values() if fo["id"] in f["_fo_ids"]]
    return JSONResponse({"fulfillments": [public(f) for f in found]})


ROUTES = [
    Route("/orders/{oid:int}/fulfillment_orders.json", list_for_order, methods=["GET"]),
    Route("/fulfillment_orders/{id:int}.json", show_fo, methods=["GET"]),
    Route("/fulfillment_orders/{id:int}/fulfillments.json", list_fo_fulfillments, methods=["GET"]),
    Route("/fulfillment_orders/{id:int}/{action}.json", fo_action, methods=["POST"]),
    Route("/fulfillments.json", post_fulfillment, methods=["POST"]),
    Route("/fulfillments/{id:int}/update_tracking.json", update_tracking, methods=["POST"]),
    Route("/fulfillments/{id:int}/cancel.json", post_cancel, methods=["POST"]),
    Route("/orders/{oid:int}/fulfillments.json", list_order_fulfillments, methods=["GET"]),
    Route("/orders/{oid:int}/fulfillments/count.json", count_order_fulfillments, methods=["GET"]),
    Route("/orders/{oid:int}/fulfillments/{id:int}.json", show_order_fulfillment, methods=["GET"]),
]
