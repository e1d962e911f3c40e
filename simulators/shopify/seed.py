"""`POST /_admin/seed`: load a shop quickly, in REST shapes, without firing webhooks."""

from __future__ import annotations

from .catalog import create_product, render_product
from .customers import create_customer
from .errors import invalid
from .inventory import connect
from .order_model import public, render_order
from .orders import create_order
from .state import ShopState


def _location_id(state: ShopState, data: dict) -> int:
    if data.get("location_id") is not None:
        return int(data["location_id"])
    name = data.get("location") or data.get("location_name")
    if name:
        for location in state.db.locations.values():
            if location["name"] == name:
                return location["id"]
        raise invalid("location", f"no location named {name!r}")
    return state.primary_location()


def _item_id(state: ShopState, data: dict) -> int:
    if data.get("inventory_item_id") is not None:
        return int(data["inventory_item_id"])
    sku = data.get("sku")
    for variant in state.db.variants.values():
        if sku and variant["sku"] == sku:
            return variant["inventory_item_id"]
    raise invalid("inventory_levels", f"no inventory item for {data!r}")


def seed(state: ShopState, body: dict) -> dict:
    out: dict[str, list] = {}
    state.silent = True
    try:
        out["locations"] = [state.add_location(d) for d in body.get("locations") or []]
        products = []
        for data in body.get("products") or []:
            data = dict(data)
            # Seeded stock is meant to be counted, so variants are tracked unless told otherwise.
            data["variants"] = [{"inventory_management": "shopify"} | v for v in data.get("variants") or [{}]]
            products.append(create_product(state, data))
        out["products"] = [render_product(state, p) for p in products]
        out["customers"] = [public(create_customer(state, d)) for d in body.get("customers") or []]
        levels = []
        for data in body.get("inventory_levels") or []:
            level, _ = connect(state, _item_id(state, data), _location_id(state, data))
            if data.get("available") is not None:
                level["available"] = int(data["available"])
            levels.append(dict(level))
        out["inventory_levels"] = levels
        out["orders"] = [render_order(state, create_order(state, d)) for d in body.get("orders") or []]
    finally:
        state.silent = False
    return out
