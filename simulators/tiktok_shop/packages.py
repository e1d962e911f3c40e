"""The package model shared by orders (admin-driven transitions) and fulfillment endpoints.

Line item package_status follows its package: TO_FULFILL (not arranged), PROCESSING (label
arranged, awaiting carrier), FULFILLING (with the carrier), COMPLETED (delivered), CANCELLED.
"""

from __future__ import annotations

from . import inventory
from .state import SimState

OPEN_LINE = {"TO_FULFILL", "PROCESSING"}


def provider_for(sim: SimState, order: dict, provider_id: str | None = None) -> dict | None:
    option = sim.delivery_options.get(order.get("delivery_option_id") or "") or next(
        iter(sim.delivery_options.values()))
    providers = {p["id"]: p for o in sim.delivery_options.values() for p in o["shipping_providers"]}
    if provider_id:
        return providers.get(str(provider_id))
    return option["shipping_providers"][0]


def tracking_number(sim: SimState) -> str:
    return "9400" + sim.ids.new("package")[:18]


def live_lines(order: dict) -> list[dict]:
    return [li for li in order["line_items"] if li["package_status"] != "CANCELLED"]


def new_package(sim: SimState, order: dict, line_ids: list[str]) -> dict:
    """Put the given lines in a fresh package, taking them out of any unshipped one."""
    now = sim.now()
    pkg = {"id": sim.ids.new("package"), "order_id": order["id"], "line_item_ids": list(line_ids),
           "package_status": "PROCESSING", "shipping_type": order["shipping_type"], "tracking_number": "",
           "shipping_provider_id": "", "shipping_provider_name": "", "handover_method": "",
           "create_time": now, "update_time": now, "ready": False, "shipped": False}
    for other in list(sim.packages.values()):
        if other["order_id"] == order["id"] and not other["shipped"]:
            other["line_item_ids"] = [i for i in other["line_item_ids"] if i not in line_ids]
            if not other["line_item_ids"]:
                del sim.packages[other["id"]]
    sim.packages[pkg["id"]] = pkg
    for line in order["line_items"]:
        if line["id"] in line_ids:
            line["package_id"] = pkg["id"]
    order["packages"] = [{"id": p["id"]} for p in sim.packages.values() if p["order_id"] == order["id"]]
    order["split_or_combine_tag"] = "SPLIT" if len(order["packages"]) > 1 else ""
    if len(order["packages"]) > 1:
        # 1.12 type 4 tells of a split or a combine (sc_type SPLIT|COMBINE); an order's first
        # package is neither, so only a split announces itself. package_list names every package
        # the order now has. UNCONFIRMED: role_type's values; the reference names the field only
        # (an SDK sample shows "ROLE_USER"), the simulator says who split it: SELLER.
        sim.emit("PACKAGE_UPDATE", {"sc_type": "SPLIT", "role_type": "SELLER",
                                    "package_list": [{"package_id": p["id"], "order_id_list": [order["id"]]}
                                                     for p in order["packages"]],
                                    "update_time": now})
    return pkg


def ensure_package(sim: SimState, order: dict) -> None:
    loose = [li["id"] for li in live_lines(order) if not li.get("package_id")]
    if loose:
        new_package(sim, order, loose)


def _lines(order: dict, pkg: dict) -> list[dict]:
    return [li for li in order["line_items"] if li["id"] in pkg["line_item_ids"]]


def set_tracking(sim: SimState, order: dict, pkg: dict, tracking: str | None, provider_id: str | None) -> None:
    provider = provider_for(sim, order, provider_id) or provider_for(sim, order)
    pkg["tracking_number"] = tracking or pkg["tracking_number"] or tracking_number(sim)
    pkg["shipping_provider_id"], pkg["shipping_provider_name"] = provider["id"], provider["name"]
    for line in _lines(order, pkg):
        line.update(tracking_number=pkg["tracking_number"], shipping_provider_id=provider["id"],
                    shipping_provider_name=provider["name"])
    order.update(tracking_number=pkg["tracking_number"], shipping_provider=provider["name"],
                 shipping_provider_id=provider["id"])


def arrange(sim: SimState, order: dict, pkg: dict, handover_method: str = "DROP_OFF") -> None:
    """A TikTok shipping label is arranged; the package waits for the carrier."""
    set_tracking(sim, order, pkg, None, None)
    pkg.update(ready=True, handover_method=handover_method, update_time=sim.later_than(pkg["update_time"]))
    for line in _lines(order, pkg):
        line.update(package_status="PROCESSING", rts_time=sim.now())


def ship(sim: SimState, order: dict, pkg: dict, tracking: str | None = None, provider_id: str | None = None) -> None:
    """The carrier has the package: committed stock leaves the warehouse."""
    set_tracking(sim, order, pkg, tracking, provider_id)
    pkg.update(ready=True, shipped=True, package_status="FULFILLING",
               update_time=sim.later_than(pkg["update_time"]))
    for line in _lines(order, pkg):
        if line["package_status"] in OPEN_LINE:
            inventory.consume(sim, line["sku_id"], line["_warehouse_id"])
        line.update(package_status="FULFILLING", rts_time=line["rts_time"] or sim.now())


def deliver(sim: SimState, order: dict, pkg: dict) -> None:
    pkg.update(package_status="COMPLETED", update_time=sim.later_than(pkg["update_time"]))
    for line in _lines(order, pkg):
        line["package_status"] = "COMPLETED"


def shipping_state(order: dict) -> str:
    """The order status implied by its lines' fulfilment (for pre-delivery states)."""
    statuses = [li["package_status"] for li in live_lines(order)]
    if statuses and all(s in ("FULFILLING", "COMPLETED") for s in statuses):
        return "IN_TRANSIT"
    if any(s == "FULFILLING" for s in statuses):
        return "PARTIALLY_SHIPPING"
    if statuses and all(s == "PROCESSING" for s in statuses):
        return "AWAITING_COLLECTION"
    return "AWAITING_SHIPMENT"
