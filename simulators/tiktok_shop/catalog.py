"""Categories, category attributes and rules, category recommendation, brands."""

from __future__ import annotations

import copy

from .errors import BRAND_EXISTS, CATEGORY_NOT_FOUND, INVALID_PARAM, ApiError
from .pagination import paginate
from .routing import Ctx
from .state import SimState

PUBLIC_CATEGORY_FIELDS = ("id", "parent_id", "local_name", "is_leaf")


def category_view(cat: dict) -> dict:
    view = {k: cat[k] for k in PUBLIC_CATEGORY_FIELDS}
    view["permission_statuses"] = cat.get("permission_statuses", ["AVAILABLE"])
    return view


def category_chain(sim: SimState, category_id: str) -> list[dict]:
    """Root-to-leaf chain, the shape of `category_chains` on a product."""
    chain, current = [], sim.categories.get(category_id)
    while current is not None:
        chain.append({k: current[k] for k in PUBLIC_CATEGORY_FIELDS})
        current = sim.categories.get(current["parent_id"])
    return list(reversed(chain))


def attributes_for(sim: SimState, category_id: str) -> list[dict]:
    set_name = sim.category_attributes.get(category_id)
    return copy.deepcopy(sim.attribute_sets.get(set_name, [])) if set_name else []


def rules_for(sim: SimState, category_id: str) -> dict:
    rules = copy.deepcopy(sim.category_rules["default"])
    rules.update(copy.deepcopy(sim.category_rules.get(category_id, {})))
    return rules


def _category(ctx: Ctx) -> dict:
    cat = ctx.sim.categories.get(ctx.params["category_id"])
    if cat is None:
        raise ApiError(CATEGORY_NOT_FOUND, "Category does not exist")
    return cat


def list_categories(ctx: Ctx) -> dict:
    keyword = (ctx.query.get("keyword") or "").lower()
    cats = [category_view(c) for c in ctx.sim.categories.values() if keyword in c["local_name"].lower()]
    return {"categories": cats}


def get_attributes(ctx: Ctx) -> dict:
    cat = _category(ctx)
    attrs = attributes_for(ctx.sim, cat["id"])
    for attr in attrs:
        attr.setdefault("requirement_conditions", [])
        attr.setdefault("value_data_format", "")
    return {"attributes": attrs}


def get_rules(ctx: Ctx) -> dict:
    return rules_for(ctx.sim, _category(ctx)["id"])


def recommended_leaf(sim: SimState, title: str) -> dict | None:
    """The leaf category whose keywords the title mentions most, if it mentions any."""
    title = title.lower()
    leaves = [c for c in sim.categories.values() if c.get("is_leaf")]
    if not leaves:
        return None
    best = max(leaves, key=lambda c: sum(title.count(k) for k in c.get("keywords", [])))
    return best if any(k in title for k in best.get("keywords", [])) else None


def recommend_category(ctx: Ctx) -> dict:
    body = ctx.body or {}
    title = str(body.get("product_title") or "")
    if not title:
        raise ApiError(INVALID_PARAM, "Invalid params: product_title is required")
    best = recommended_leaf(ctx.sim, title)
    if best is None:
        return {"leaf_category_id": "", "categories": []}
    return {"leaf_category_id": best["id"], "categories": category_chain(ctx.sim, best["id"])}


def list_brands(ctx: Ctx) -> dict:
    q = ctx.query
    name = (q.get("brand_name") or "").lower()
    brands = [b for b in ctx.sim.brands.values() if name in b["name"].lower()]
    if q.get("is_authorized") in ("true", "1"):
        brands = [b for b in brands if b["authorized_status"] == "AUTHORIZED"]
    filters = {k: q.get(k) for k in ("brand_name", "is_authorized", "category_id")}
    page, meta = paginate("brands", brands, q, filters)
    return {"brands": page, **meta}


def create_brand(ctx: Ctx) -> dict:
    name = str((ctx.body or {}).get("name") or "").strip()
    if not name or len(name) > 30:
        raise ApiError(INVALID_PARAM, "Invalid params: brand name must be 1-30 characters")
    if any(b["name"].lower() == name.lower() for b in ctx.sim.brands.values()):
        raise ApiError(BRAND_EXISTS, "Brand already exists")
    brand_id = ctx.sim.ids.new("brand")
    # A new custom brand is usable at once but not authorized (no trademark proof yet).
    ctx.sim.brands[brand_id] = {"id": brand_id, "name": name, "authorized_status": "UNAUTHORIZED",
                                "brand_status": "AVAILABLE", "is_t1_brand": False}
    return {"id": brand_id}


ROUTES = [
    ("GET", "/product/{v}/categories", list_categories),
    ("GET", "/product/{v}/categories/{category_id}/attributes", get_attributes),
    ("GET", "/product/{v}/categories/{category_id}/rules", get_rules),
    ("POST", "/product/{v}/categories/recommend", recommend_category),
    ("GET", "/product/{v}/brands", list_brands),
    ("POST", "/product/{v}/brands", create_brand),
]
