"""Inventory: seller updates and search (skip audit), and reservations held by unshipped orders.

`quantity` is the sellable (available) stock. An order moves units from available to committed;
shipping consumes the committed units; a cancellation puts them back.
"""

from __future__ import annotations

from . import errors as E
from .errors import ApiError
from .products import find_product, find_sku
from .routing import Ctx
from .state import SimState

MAX_UPDATE_QUANTITY = 999_999


def _item_error(sku_id: str, code: int, message: str, warehouse_id: str | None = None) -> dict:
    extra = {"code": code, "message": message}
    if warehouse_id is not None:
        extra["warehouse_id"] = warehouse_id
    return {"code": E.BATCH_CHECK_FAILED, "message": "check failed",
            "detail": {"sku_id": sku_id, "extra_errors": [extra]}}


def _apply_row(sim: SimState, sku: dict, row: dict) -> dict | None:
    """Set one warehouse's quantity; returns a per-item error or None."""
    sku_id = sku["id"]
    wh_id = row.get("warehouse_id")
    if wh_id in (None, ""):
        if len(sku["inventory"]) > 1:
            return _item_error(sku_id, 12019028, "The SKU has several warehouses: send warehouse_id")
        wh_id = sku["inventory"][0]["warehouse_id"] if sku["inventory"] else sim.default_warehouse_id()
    wh_id = str(wh_id)
    wh = sim.warehouses.get(wh_id)
    if wh is None or wh["type"] != "SALES_WAREHOUSE" or wh["effect_status"] != "ENABLED":
        return _item_error(sku_id, E.SKU_NEEDS_WAREHOUSE, "SKU must contain a valid warehouse", wh_id)
    quantity = row.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= MAX_UPDATE_QUANTITY:
        return _item_error(sku_id, E.BAD_QUANTITY, "quantity must be an integer from 0 to 999999", wh_id)
    current = next((r for r in sku["inventory"] if r["warehouse_id"] == wh_id), None)
    if current is None:
        sku["inventory"].append({"warehouse_id": wh_id, "quantity": quantity, "committed": 0})
    else:
        current["quantity"] = quantity
    return None


def update_inventory(ctx: Ctx) -> dict:
    sim = ctx.sim
    product = find_product(sim, ctx.params["product_id"])
    rows = (ctx.body or {}).get("skus") or []
    if not rows:
        raise ApiError(E.INVALID_PARAM, "Invalid params: skus is required")
    skus = {s["id"]: s for s in product["skus"]}
    errors = []
    for row in rows:
        sku_id = str(row.get("id"))
        sku = skus.get(sku_id)
        if sku is None:
            errors.append(_item_error(sku_id, E.SKU_NOT_FOUND, "SKU does not belong to this product"))
            continue
        for inv in row.get("inventory") or []:
            problem = _apply_row(sim, sku, inv)
            if problem:
                errors.append(problem)
    product["update_time"] = sim.later_than(product["update_time"])  # no audit, status unchanged
    return {"errors": errors}


def _sku_inventory(sku: dict) -> dict:
    return {
        "id": sku["id"], "seller_sku": sku["seller_sku"],
        "total_available_quantity": sum(r["quantity"] for r in sku["inventory"]),
        "total_committed_quantity": sum(r["committed"] for r in sku["inventory"]),
        "warehouse_inventory": [{"warehouse_id": r["warehouse_id"], "available_quantity": r["quantity"],
                                 "committed_quantity": r["committed"]} for r in sku["inventory"]],
    }


def search_inventory(ctx: Ctx) -> dict:
    sim, body = ctx.sim, ctx.body or {}
    product_ids = [str(i) for i in body.get("product_ids") or []]
    sku_ids = {str(i) for i in body.get("sku_ids") or []}
    if not product_ids and not sku_ids:
        raise ApiError(E.INVALID_PARAM, "Invalid params: product_ids or sku_ids is required")
    for sku_id in sku_ids:
        owner = sim.sku_index.get(sku_id)
        if owner and owner not in product_ids:
            product_ids.append(owner)
    out = []
    for product_id in product_ids:
        product = sim.products.get(product_id)
        if product is None or product["status"] == "DELETED":
            continue
        skus = [s for s in product["skus"] if not sku_ids or s["id"] in sku_ids or product_id in body.get(
            "product_ids", [])]
        out.append({"product_id": product_id, "skus": [_sku_inventory(s) for s in skus]})
    return {"inventory": out}


# -- reservations used by orders ------------------------------------------------------------------
def reserve(sim: SimState, sku_id: str, quantity: int, warehouse_id: str | None = None) -> str:
    """Move `quantity` units to committed in one warehouse; returns it. ValueError if short."""
    found = find_sku(sim, sku_id)
    if found is None:
        raise ValueError(f"unknown sku {sku_id}")
    _, sku = found
    rows = [r for r in sku["inventory"] if warehouse_id in (None, r["warehouse_id"])]
    row = next((r for r in rows if r["quantity"] >= quantity), None)
    if row is None:
        raise ValueError(f"sku {sku_id} has fewer than {quantity} units available")
    row["quantity"] -= quantity
    row["committed"] += quantity
    return row["warehouse_id"]


def _row(sim: SimState, sku_id: str, warehouse_id: str) -> dict | None:
    found = find_sku(sim, sku_id)
    if found is None:
        return None
    return next((r for r in found[1]["inventory"] if r["warehouse_id"] == warehouse_id), None)


def release(sim: SimState, sku_id: str, warehouse_id: str, quantity: int = 1) -> None:
    row = _row(sim, sku_id, warehouse_id)
    if row is not None and row["committed"] >= quantity:
        row["committed"] -= quantity
        row["quantity"] += quantity


def consume(sim: SimState, sku_id: str, warehouse_id: str, quantity: int = 1) -> None:
    row = _row(sim, sku_id, warehouse_id)
    if row is not None and row["committed"] >= quantity:
        row["committed"] -= quantity


ROUTES = [
    ("POST", "/product/{v}/products/{product_id}/inventory/update", update_inventory),
    ("POST", "/product/{v}/inventory/search", search_inventory),
]
