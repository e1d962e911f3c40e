"""The shop's records (kept in REST shape by the other modules) as GraphQL Admin objects: gid ids,
camelCase fields, upper-case enums, UTC timestamps, connections with cursors.

Objects are plain dicts; a field that takes arguments or would recurse (a product's variants, a
variant's product) is a function of (info, **arguments), called by the resolver only when the
query selects it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from .inventory import LevelIndex, level_gid, total_available
from .state import ShopState
from .values import gid

MAX_PAGE = 250
WEIGHT_UNITS = {"kg": "KILOGRAMS", "g": "GRAMS", "lb": "POUNDS", "oz": "OUNCES"}


class QueryError(Exception):
    """A top-level GraphQL error (bad argument, unknown id form)."""


def utc(value: str | None) -> str | None:
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(UTC).isoformat().replace("+00:00", "Z")


def numeric_id(value: Any, kind: str | None = None) -> int:
    """`gid://shopify/Product/123` (or 123) -> 123."""
    text = str(value)
    match = re.fullmatch(r"gid://shopify/(\w+)/(\d+)(?:\?.*)?", text)
    if match:
        if kind and match.group(1) != kind:
            raise QueryError(f"Invalid global id '{text}'")
        return int(match.group(2))
    if text.isdigit():
        return int(text)
    raise QueryError(f"Invalid global id '{text}'")


def cursor_for(index: int) -> str:
    return base64.b64encode(f'{{"last_index":{index}}}'.encode()).decode()


def _after(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.b64decode(cursor).decode()
        return int(re.search(r'"last_index":(\d+)', text).group(1)) + 1  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - any unreadable cursor is the client's error
        raise QueryError(f"Invalid cursor: {cursor}") from None


def connection(items: Sequence[Any], first: int | None, after: str | None,
               shape: Callable[[Any], dict]) -> dict:
    if first is None:
        raise QueryError("you must provide one of first or last")
    if first > MAX_PAGE:
        raise QueryError(f"The first argument must not exceed {MAX_PAGE}")
    start = _after(after)
    page = items[start:start + first]
    nodes = [shape(item) for item in page]
    return {
        "nodes": nodes,
        "edges": [{"node": node, "cursor": cursor_for(start + i)} for i, node in enumerate(nodes)],
        "pageInfo": {
            "hasNextPage": start + len(page) < len(items),
            "hasPreviousPage": start > 0,
            "startCursor": cursor_for(start) if page else None,
            "endCursor": cursor_for(start + len(page) - 1) if page else None,
        },
    }


def search_terms(query: str | None) -> list[tuple[str, str, str]]:
    """Shopify search syntax, the part the connector uses: `field:value`, `field:'a b'`,
    `field:>value`; terms joined by spaces (AND). Returns (field, operator, value)."""
    terms = []
    for match in re.finditer(r"(\w+):(>=|<=|>|<)?(?:'([^']*)'|\"([^\"]*)\"|(\S+))", query or ""):
        value = next(v for v in match.group(3, 4, 5) if v is not None)
        terms.append((match.group(1), match.group(2) or "=", value))
    return terms


def _compare(actual: Any, op: str, wanted: str) -> bool:
    if actual is None:
        return False
    if op == "=":
        return str(actual).lower() == wanted.lower()
    a, w = str(actual), wanted
    if op in (">", ">=", "<", "<=") and ("T" in a or "-" in a):
        a, w = utc(a) or a, utc(w) if "T" in w else w
    return {">": a > w, ">=": a >= w, "<": a < w, "<=": a <= w}[op]


# ------------------------------------------------------------------------------------- shapes


def location_node(state: ShopState, location: dict) -> dict:
    return {"id": gid("Location", location["id"]), "legacyResourceId": str(location["id"]),
            "name": location["name"], "isActive": location["active"]}


def level_node(state: ShopState, level: dict) -> dict:
    item_id, location_id = level["inventory_item_id"], level["location_id"]

    def quantities(info: Any, names: list[str]) -> list[dict]:
        available = level["available"] or 0
        values = {"available": available, "on_hand": available, "committed": 0, "reserved": 0, "incoming": 0}
        return [{"name": n, "quantity": values.get(n, 0)} for n in names]

    return {
        "id": level_gid(item_id, location_id),
        "location": location_node(state, state.db.locations[location_id]),
        "item": lambda info: item_node(state, state.db.inventory_items[item_id]),
        "quantities": quantities,
        "updatedAt": utc(level.get("updated_at")),
    }


def item_node(state: ShopState, item: dict) -> dict:
    variant = _variant_of_item(state, item["id"])
    weight_unit = (variant or {}).get("weight_unit") or "kg"

    def levels(info: Any, first: int | None = None, after: str | None = None) -> dict:
        ids = list(LevelIndex.of(state).by_item.get(item["id"], ()))
        return connection(ids, first, after, lambda lid: level_node(state, state.db.levels[(item["id"], lid)]))

    def level(info: Any, locationId: str) -> dict | None:  # noqa: N803 - the GraphQL argument's name
        found = state.db.levels.get((item["id"], numeric_id(locationId, "Location")))
        return level_node(state, found) if found else None

    return {
        "id": gid("InventoryItem", item["id"]),
        "legacyResourceId": str(item["id"]),
        "sku": item.get("sku"),
        "tracked": bool(item["tracked"]),
        "requiresShipping": bool(item.get("requires_shipping", True)),
        "unitCost": {"amount": item["cost"], "currencyCode": state.settings.currency} if item.get("cost") else None,
        "measurement": {"weight": {"value": float((variant or {}).get("weight") or 0),
                                   "unit": WEIGHT_UNITS.get(weight_unit, "KILOGRAMS")}},
        "variant": lambda info: variant_node(state, variant) if variant else None,
        "inventoryLevels": levels,
        "inventoryLevel": level,
        "updatedAt": utc(item.get("updated_at")),
    }


def _variant_of_item(state: ShopState, item_id: int) -> dict | None:
    index = getattr(state, "_variant_by_item", None)
    if index is None or index[0] != len(state.db.variants):
        index = (len(state.db.variants), {v["inventory_item_id"]: vid for vid, v in state.db.variants.items()})
        state._variant_by_item = index  # type: ignore[attr-defined]
    vid = index[1].get(item_id)
    return state.db.variants.get(vid) if vid is not None else None


def image_node(image: dict | None) -> dict | None:
    if image is None:
        return None
    return {"id": image["admin_graphql_api_id"], "url": image["src"], "altText": image.get("alt"),
            "width": image.get("width"), "height": image.get("height")}


def variant_node(state: ShopState, variant: dict) -> dict:
    product = state.db.products[variant["product_id"]]
    item = state.db.inventory_items[variant["inventory_item_id"]]
    names = [o["name"] for o in product.get("options") or []]
    selected = [{"name": name, "value": variant.get(f"option{i}")}
                for i, name in enumerate(names, start=1) if variant.get(f"option{i}") is not None]
    image = next((img for img in product["images"] if img["id"] == variant.get("image_id")), None)
    return {
        "id": gid("ProductVariant", variant["id"]),
        "legacyResourceId": str(variant["id"]),
        "title": variant["title"],
        "sku": variant.get("sku"),
        "price": variant["price"],
        "compareAtPrice": variant.get("compare_at_price"),
        "barcode": variant.get("barcode"),
        "position": variant["position"],
        "inventoryQuantity": total_available(state, variant["inventory_item_id"]) if item["tracked"] else None,
        "inventoryPolicy": str(variant["inventory_policy"]).upper(),
        "taxable": bool(variant.get("taxable", True)),
        "selectedOptions": selected,
        "inventoryItem": item_node(state, item),
        "product": lambda info: product_node(state, product),
        "image": image_node(image),
        "createdAt": utc(variant.get("created_at")),
        "updatedAt": utc(variant.get("updated_at")),
    }


def product_node(state: ShopState, product: dict) -> dict:
    def variants(info: Any, first: int | None = None, after: str | None = None) -> dict:
        return connection(product["variants"], first, after, lambda v: variant_node(state, v))

    def images(info: Any, first: int | None = None, after: str | None = None) -> dict:
        return connection(product["images"], first, after, image_node)

    options = []
    for position, option in enumerate(product.get("options") or [], start=1):
        values = list(option.get("values") or [])
        options.append({"id": gid("ProductOption", product["_option_ids"][position - 1]), "name": option["name"],
                        "position": position, "values": values, "optionValues": [{"name": v} for v in values]})
    return {
        "id": gid("Product", product["id"]),
        "legacyResourceId": str(product["id"]),
        "title": product["title"],
        "handle": product["handle"],
        "descriptionHtml": product.get("body_html") or "",
        "vendor": product.get("vendor") or "",
        "productType": product.get("product_type") or "",
        "status": str(product["status"]).upper(),
        "tags": [t.strip() for t in (product.get("tags") or "").split(",") if t.strip()],
        "createdAt": utc(product.get("created_at")),
        "updatedAt": utc(product.get("updated_at")),
        "publishedAt": utc(product.get("published_at")),
        "options": options,
        "images": images,
        "featuredImage": image_node(product["images"][0] if product["images"] else None),
        "variantsCount": {"count": len(product["variants"]), "precision": "EXACT"},
        "variants": variants,
    }


# ------------------------------------------------------------------------------------ filters


def filter_products(state: ShopState, query: str | None) -> list[dict]:
    products: Iterable[dict] = state.db.products.values()
    for field, op, value in search_terms(query):
        if field == "sku":
            products = [p for p in products if any(_compare(v.get("sku"), op, value) for v in p["variants"])]
        elif field in ("status", "title", "handle", "vendor", "product_type"):
            products = [p for p in products if _compare(p.get(field), op, value)]
        elif field == "id":
            products = [p for p in products if _compare(p["id"], op, value)]
        elif field in ("updated_at", "created_at"):
            products = [p for p in products if _compare(p.get(field), op, value)]
        else:
            raise QueryError(f"unsupported search field {field!r}")
    return list(products)


def filter_variants(state: ShopState, query: str | None) -> list[dict]:
    variants: Iterable[dict] = state.db.variants.values()
    for field, op, value in search_terms(query):
        if field in ("sku", "barcode", "title"):
            variants = [v for v in variants if _compare(v.get(field), op, value)]
        elif field == "product_id":
            variants = [v for v in variants if _compare(v["product_id"], op, value)]
        else:
            raise QueryError(f"unsupported search field {field!r}")
    return list(variants)


def filter_items(state: ShopState, query: str | None) -> list[dict]:
    if query and " OR " in query:  # alternatives: the union, in store order
        wanted = {i["id"] for part in query.split(" OR ") for i in filter_items(state, part)}
        return [i for i in state.db.inventory_items.values() if i["id"] in wanted]
    items: Iterable[dict] = state.db.inventory_items.values()
    for field, op, value in search_terms(query):
        if field == "sku":
            items = [i for i in items if _compare(i.get("sku"), op, value)]
        elif field == "id":
            wanted = {numeric_id(v) for v in value.split(",")} if op == "=" else set()
            items = [i for i in items if i["id"] in wanted]
        else:
            raise QueryError(f"unsupported search field {field!r}")
    return list(items)
