"""Logistics look-ups and fulfilment endpoints: packages, shipping, tracking (1.9)."""

from __future__ import annotations

import copy

from . import errors as E
from . import packages
from .errors import ApiError
from .orders import find_order, is_fbt, set_status
from .pagination import paginate
from .routing import Ctx
from .state import SimState

SHIPPABLE = {"AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION"}


# -- logistics ---------------------------------------------------------------------------------
def list_warehouses(ctx: Ctx) -> dict:
    return {"warehouses": copy.deepcopy(list(ctx.sim.warehouses.values()))}


def delivery_options(ctx: Ctx) -> dict:
    if ctx.params["warehouse_id"] not in ctx.sim.warehouses:
        raise ApiError(E.INVALID_PARAM, "Invalid params: unknown warehouse_id")
    return {"delivery_options": [{k: copy.deepcopy(v) for k, v in o.items() if k != "shipping_providers"}
                                 for o in ctx.sim.delivery_options.values()]}


def shipping_providers(ctx: Ctx) -> dict:
    option = ctx.sim.delivery_options.get(ctx.params["delivery_option_id"])
    if option is None:
        raise ApiError(E.INVALID_PARAM, "Invalid params: unknown delivery_option_id")
    return {"shipping_providers": copy.deepcopy(option["shipping_providers"])}


# -- helpers -----------------------------------------------------------------------------------
def _seller_fulfils(order: dict) -> None:
    """1.11 (LY): only FULFILLMENT_BY_SELLER orders can be shipped by the seller. The refusal
    comes in the usual envelope, HTTP 200 with a business code (code and wording UNCONFIRMED)."""
    if is_fbt(order):
        raise ApiError(E.FBT_ORDER, f"Order {order['id']} is fulfilled by TikTok (FULFILLMENT_BY_TIKTOK); "
                       "only FULFILLMENT_BY_SELLER orders can be shipped by the seller")


def _shippable_order(sim: SimState, order_id: str) -> dict:
    order = find_order(sim, order_id)
    _seller_fulfils(order)
    if order["status"] not in SHIPPABLE:
        raise ApiError(E.ORDER_STATUS_NOT_ALLOWED, f"Order status {order['status']} does not allow shipping")
    return order


def _package(sim: SimState, package_id: str) -> dict:
    pkg = sim.packages.get(package_id)
    if pkg is None:
        raise ApiError(E.PACKAGE_NOT_FOUND, f"Package {package_id} does not exist")
    return pkg


def _provider(sim: SimState, order: dict, provider_id: object) -> None:
    if provider_id and packages.provider_for(sim, order, str(provider_id)) is None:
        raise ApiError(E.SHIPPING_PROVIDER_INVALID, f"Invalid shipping_provider_id {provider_id}")


def _sync_status(sim: SimState, order: dict) -> None:
    status = packages.shipping_state(order)
    if status != order["status"]:
        set_status(sim, order, status)


def package_view(sim: SimState, pkg: dict) -> dict:
    order = sim.orders[pkg["order_id"]]
    lines = [li for li in order["line_items"] if li["id"] in pkg["line_item_ids"]]
    return {
        "id": pkg["id"], "package_status": pkg["package_status"], "shipping_type": pkg["shipping_type"],
        "tracking_number": pkg["tracking_number"], "shipping_provider_id": pkg["shipping_provider_id"],
        "shipping_provider_name": pkg["shipping_provider_name"], "handover_method": pkg["handover_method"],
        "create_time": pkg["create_time"], "update_time": pkg["update_time"],
        "orders": [{"id": order["id"], "skus": [{"id": li["sku_id"], "name": li["sku_name"], "quantity": 1,
                                                 "order_line_item_id": li["id"]} for li in lines]}],
        "order_line_item_ids": list(pkg["line_item_ids"]),
    }


# -- endpoints ---------------------------------------------------------------------------------
def mark_shipped(ctx: Ctx) -> dict:
    """Seller ships with its own carrier: the lines go into one package with this tracking."""
    sim, body = ctx.sim, ctx.body or {}
    order = _shippable_order(sim, ctx.params["order_id"])
    if not body.get("tracking_number") or not body.get("shipping_provider_id"):
        raise ApiError(E.INVALID_PARAM, "Invalid params: tracking_number and shipping_provider_id are required")
    _provider(sim, order, body["shipping_provider_id"])
    open_ids = [li["id"] for li in order["line_items"] if li["package_status"] in packages.OPEN_LINE]
    line_ids = [str(i) for i in body.get("order_line_item_ids") or open_ids]
    if not line_ids or any(i not in open_ids for i in line_ids):
        raise ApiError(E.INVALID_PARAM, "Invalid params: order_line_item_ids must be unshipped lines of the order")
    existing = next((p for p in sim.packages.values() if p["order_id"] == order["id"] and not p["shipped"]
                     and sorted(p["line_item_ids"]) == sorted(line_ids)), None)
    pkg = existing or packages.new_package(sim, order, line_ids)
    packages.ship(sim, order, pkg, body["tracking_number"], str(body["shipping_provider_id"]))
    _sync_status(sim, order)
    return {"order_id": order["id"], "package_id": pkg["id"], "order_line_item_ids": line_ids}


def create_package(ctx: Ctx) -> dict:
    sim, body = ctx.sim, ctx.body or {}
    order = _shippable_order(sim, str(body.get("order_id") or ""))
    open_ids = [li["id"] for li in order["line_items"] if li["package_status"] == "TO_FULFILL"]
    line_ids = [str(i) for i in body.get("order_line_item_ids") or open_ids]
    if not line_ids or any(i not in open_ids for i in line_ids):
        raise ApiError(E.INVALID_PARAM, "Invalid params: order_line_item_ids must be unarranged lines of the order")
    pkg = packages.new_package(sim, order, line_ids)
    if body.get("weight"):
        pkg["weight"] = body["weight"]
    if body.get("dimension"):
        pkg["dimension"] = body["dimension"]
    return {"package_id": pkg["id"], "order_id": order["id"], "order_line_item_ids": line_ids,
            "create_time": pkg["create_time"], "weight": pkg.get("weight"), "dimension": pkg.get("dimension")}


def _ship_one(sim: SimState, pkg: dict, spec: dict) -> None:
    order = _shippable_order(sim, pkg["order_id"])
    if pkg["shipped"] or pkg["package_status"] == "CANCELLED":
        raise ApiError(E.ORDER_STATUS_NOT_ALLOWED, f"Package {pkg['id']} is {pkg['package_status']}")
    self_ship = spec.get("self_shipment")
    if self_ship:
        _provider(sim, order, self_ship.get("shipping_provider_id"))
        packages.ship(sim, order, pkg, self_ship.get("tracking_number"), self_ship.get("shipping_provider_id"))
    else:
        packages.arrange(sim, order, pkg, spec.get("handover_method") or "DROP_OFF")
    _sync_status(sim, order)


def ship_package(ctx: Ctx) -> dict:
    _ship_one(ctx.sim, _package(ctx.sim, ctx.params["package_id"]), ctx.body or {})
    return {}


def batch_ship(ctx: Ctx) -> dict:
    errors = []
    for spec in (ctx.body or {}).get("packages") or []:
        try:
            _ship_one(ctx.sim, _package(ctx.sim, str(spec.get("id"))), spec)
        except ApiError as err:
            errors.append({"code": err.code, "message": err.message, "detail": {"package_id": str(spec.get("id"))}})
    return {"errors": errors}


def deliver_packages(ctx: Ctx) -> dict:
    sim, errors = ctx.sim, []
    for spec in (ctx.body or {}).get("packages") or []:
        pkg = sim.packages.get(str(spec.get("id") or spec.get("package_id")))
        if pkg is None or not pkg["shipped"]:
            errors.append({"code": E.PACKAGE_NOT_FOUND, "message": "Package not found or not shipped",
                           "detail": {"package_id": str(spec.get("id"))}})
            continue
        order = sim.orders[pkg["order_id"]]
        if is_fbt(order):
            errors.append({"code": E.FBT_ORDER, "message": "The order is fulfilled by TikTok",
                           "detail": {"package_id": pkg["id"]}})
            continue
        packages.deliver(sim, order, pkg)
        if all(li["package_status"] == "COMPLETED" for li in packages.live_lines(order)):
            set_status(sim, order, "DELIVERED")
    return {"errors": errors}


def _update_tracking(sim: SimState, order: dict, pkg: dict, body: dict) -> None:
    _seller_fulfils(order)
    if not pkg["shipped"] and not pkg["ready"]:
        raise ApiError(E.ORDER_STATUS_NOT_ALLOWED, "Only shipped packages have tracking to update")
    if not body.get("tracking_number") or not body.get("shipping_provider_id"):
        raise ApiError(E.INVALID_PARAM, "Invalid params: tracking_number and shipping_provider_id are required")
    _provider(sim, order, body["shipping_provider_id"])
    packages.set_tracking(sim, order, pkg, body["tracking_number"], str(body["shipping_provider_id"]))
    pkg["update_time"] = sim.later_than(pkg["update_time"])


def update_order_shipping_info(ctx: Ctx) -> dict:
    order = find_order(ctx.sim, ctx.params["order_id"])
    shipped = [p for p in ctx.sim.packages.values() if p["order_id"] == order["id"] and (p["shipped"] or p["ready"])]
    if not shipped:
        raise ApiError(E.ORDER_STATUS_NOT_ALLOWED, "The order has no shipped package")
    _update_tracking(ctx.sim, order, shipped[-1], ctx.body or {})
    return {}


def update_package_shipping_info(ctx: Ctx) -> dict:
    pkg = _package(ctx.sim, ctx.params["package_id"])
    _update_tracking(ctx.sim, ctx.sim.orders[pkg["order_id"]], pkg, ctx.body or {})
    return {}


def get_package(ctx: Ctx) -> dict:
    return package_view(ctx.sim, _package(ctx.sim, ctx.params["package_id"]))


def search_packages(ctx: Ctx) -> dict:
    body = ctx.body or {}

    def keep(p: dict) -> bool:
        if body.get("package_status") and p["package_status"] != body["package_status"]:
            return False
        for key in ("create_time", "update_time"):
            if body.get(f"{key}_ge") is not None and p[key] < body[f"{key}_ge"]:
                return False
            if body.get(f"{key}_lt") is not None and p[key] >= body[f"{key}_lt"]:
                return False
        return True

    matches = [p for p in ctx.sim.packages.values() if keep(p)]
    page, meta = paginate("packages", matches, ctx.query, body)
    return {"packages": [package_view(ctx.sim, p) for p in page], **meta}


TRACKING_TEXT = {
    "AWAITING_SHIPMENT": "Order is ready to ship", "AWAITING_COLLECTION": "Shipping label created",
    "PARTIALLY_SHIPPING": "Part of the order has shipped", "IN_TRANSIT": "Package picked up by the carrier",
    "DELIVERED": "Package delivered", "COMPLETED": "Order completed",
}


def order_tracking(ctx: Ctx) -> dict:
    order = find_order(ctx.sim, ctx.params["order_id"])
    events = [{"description": TRACKING_TEXT[s], "update_time_millis": t * 1000}
              for s, t in order["_history"] if s in TRACKING_TEXT]
    return {"tracking": list(reversed(events))}  # newest first, like carrier feeds


ROUTES = [
    ("GET", "/logistics/{v}/warehouses", list_warehouses),
    ("GET", "/logistics/{v}/warehouses/{warehouse_id}/delivery_options", delivery_options),
    ("GET", "/logistics/{v}/delivery_options/{delivery_option_id}/shipping_providers", shipping_providers),
    ("POST", "/fulfillment/{v}/orders/{order_id}/packages", mark_shipped),
    ("POST", "/fulfillment/{v}/orders/{order_id}/shipping_info/update", update_order_shipping_info),
    ("POST", "/fulfillment/{v}/packages/{package_id}/shipping_info/update", update_package_shipping_info),
    ("POST", "/fulfillment/{v}/packages/{package_id}/ship", ship_package),
    ("POST", "/fulfillment/{v}/packages/ship", batch_ship),
    ("POST", "/fulfillment/{v}/packages/deliver", deliver_packages),
    ("POST", "/fulfillment/{v}/packages", create_package),
    ("POST", "/fulfillment/{v}/packages/search", search_packages),
    ("GET", "/fulfillment/{v}/packages/{package_id}", get_package),
    ("GET", "/fulfillment/{v}/orders/{order_id}/tracking", order_tracking),
]
