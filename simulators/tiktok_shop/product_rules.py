"""Create/edit validation with the platform's error codes (1.6, 1.10, 1.13).

`problems()` returns every problem in check order; create and edit report the first one,
listing_check reports them all.
"""

from __future__ import annotations

import re

from . import errors as E
from .catalog import attributes_for
from .money import dec
from .state import SimState

_CHINESE = re.compile(r"[\u4e00-\u9fff]")
_HTML_ESCAPE = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_RUN_OF_TEN = re.compile(r"(.)\1{9,}")
MAX_DESCRIPTION = 10_000
MAX_SELLER_SKU = 50
MAX_QUANTITY = 999_999
MAX_MAIN_IMAGES = 9
UNIT_PAIRS = {"KILOGRAM": "CENTIMETER", "POUND": "INCH"}
# 1.10: SEA and US shops must use v2 categories.
V2_ONLY_REGIONS = {"US", "ID", "TH", "MY", "PH", "VN", "SG"}

Problem = tuple[int, str]


def _title(sim: SimState, title: object, draft: bool) -> list[Problem]:
    if not isinstance(title, str) or not title.strip():
        return [] if draft else [(E.TITLE_LENGTH, "Title is required")]
    low = 1 if draft else sim.region["title_min"]
    if not low <= len(title) <= 255:
        return [(E.TITLE_LENGTH, f"Title length must be between {low} and 255 characters")]
    if _CHINESE.search(title) or _HTML_ESCAPE.search(title) or _RUN_OF_TEN.search(title):
        return [(E.TITLE_FORMAT, "Title contains Chinese characters, HTML escapes or 10+ repeated characters")]
    return []


def _category(sim: SimState, body: dict) -> list[Problem]:
    version = body.get("category_version")
    # UNCONFIRMED: an omitted category_version is taken as v2 in v2-only regions (the live API
    # may default to v1 and reject); an explicit v1 there is always rejected.
    if version == "v1" and sim.creds.region in V2_ONLY_REGIONS:
        return [(E.CATEGORY_VERSION_V2, "All regions must use V2 categories")]
    cat = sim.categories.get(str(body.get("category_id") or ""))
    if cat is None:
        return [(E.CATEGORY_NOT_FOUND, "category_id does not exist")]
    if not cat["is_leaf"]:
        return [(E.CATEGORY_NOT_LEAF, "The category is not a leaf category")]
    return []


def _images(sim: SimState, images: object) -> list[Problem]:
    if not isinstance(images, list) or not 1 <= len(images) <= MAX_MAIN_IMAGES:
        return [(E.MAIN_IMAGE_COUNT, "main_images must contain 1 to 9 images")]
    for image in images:
        uri = image.get("uri") if isinstance(image, dict) else None
        if uri not in sim.images:
            return [(E.IMAGE_NOT_UPLOADED, f"Image uri {uri!r} was not uploaded through images/upload")]
    return []


def _attributes(sim: SimState, body: dict) -> list[Problem]:
    given = {}
    for attr in body.get("product_attributes") or []:
        if isinstance(attr, dict) and attr.get("values"):
            given[str(attr.get("id"))] = attr["values"]
    missing = [a["name"] for a in attributes_for(sim, str(body.get("category_id") or ""))
               if a["type"] == "PRODUCT_PROPERTY" and a["is_required"] and a["id"] not in given]
    if missing:
        return [(E.REQUIRED_ATTRIBUTE_MISSING, f"Required product attributes are missing: {', '.join(missing)}")]
    return []


def _package(sim: SimState, body: dict) -> list[Problem]:
    weight = body.get("package_weight") or {}
    try:
        value = dec(weight.get("value"))
    except ValueError:
        value = dec(0)
    if value <= 0:
        return [(E.BAD_WEIGHT, "package_weight.value must be greater than 0")]
    unit = weight.get("unit")
    if unit not in UNIT_PAIRS or (unit == "POUND" and not sim.region["imperial_units"]):
        return [(E.PACKAGE_UNITS, "package_weight.unit must be KILOGRAM (or POUND in the US)")]
    dims = body.get("package_dimensions")
    if not dims:
        if sim.region["needs_dimensions"]:
            return [(E.PACKAGE_DIMENSIONS_REQUIRED, "package_dimensions are required in this region")]
        return []
    if dims.get("unit") != UNIT_PAIRS[unit]:
        return [(E.PACKAGE_UNITS, "Units must pair CENTIMETER with KILOGRAM or INCH with POUND")]
    try:
        sides = [dec(dims.get(k)) for k in ("length", "width", "height")]
    except ValueError:
        sides = [dec(0)]
    if any(s <= 0 for s in sides):
        return [(E.PACKAGE_UNITS, "package_dimensions length, width and height must be greater than 0")]
    return []


def _sku(sim: SimState, sku: dict, draft: bool, known_skus: set[str]) -> list[Problem]:
    if sku.get("id") and sku["id"] not in known_skus:
        return [(E.SKU_NOT_FOUND, f"SKU {sku['id']} does not belong to this product")]
    if len(str(sku.get("seller_sku") or "")) > MAX_SELLER_SKU:
        return [(E.SELLER_SKU_TOO_LONG, "seller_sku must be at most 50 characters")]
    if draft:
        return []
    price = sku.get("price") or {}
    try:
        amount = dec(price.get("amount"))
    except ValueError:
        amount = dec(0)
    if amount <= 0:
        return [(E.INVALID_PRICE, "SKU price amount must be greater than 0")]
    if price.get("currency", sim.currency) != sim.currency:
        return [(E.INVALID_PRICE, f"SKU price currency must be {sim.currency}")]
    inventory = sku.get("inventory") or []
    if not inventory:
        return [(E.SKU_NEEDS_WAREHOUSE, "SKU must contain a valid warehouse")]
    for row in inventory:
        wh = sim.warehouses.get(str(row.get("warehouse_id")))
        if wh is None or wh["type"] != "SALES_WAREHOUSE" or wh["effect_status"] != "ENABLED":
            return [(E.SKU_NEEDS_WAREHOUSE, f"SKU must contain a valid warehouse: {row.get('warehouse_id')}")]
        quantity = row.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= MAX_QUANTITY:
            return [(E.BAD_QUANTITY, "Inventory quantity must be an integer between 0 and 999999")]
    return []


def _skus(sim: SimState, skus: object, draft: bool, known_skus: set[str]) -> list[Problem]:
    if not isinstance(skus, list) or not skus:
        return [] if draft else [(E.INVALID_PARAM, "Invalid params: skus must contain at least one SKU")]
    if len(skus) > sim.region["max_skus"]:
        return [(E.TOO_MANY_SKUS, f"A product can have at most {sim.region['max_skus']} SKUs")]
    seen: set[str] = set()
    for sku in skus:
        if not isinstance(sku, dict):
            return [(E.INVALID_PARAM, "Invalid params: each SKU must be an object")]
        problems = _sku(sim, sku, draft, known_skus)
        if problems:
            return problems
        seller_sku = str(sku.get("seller_sku") or "")
        if seller_sku and seller_sku in seen:
            return [(E.DUPLICATE_SELLER_SKU, f"Duplicate seller_sku {seller_sku!r}")]
        seen.add(seller_sku)
        if len({str(a.get("id") or a.get("name")) for a in sku.get("sales_attributes") or []}) > 3:
            return [(E.INVALID_PARAM, "Invalid params: at most 3 sales attributes per SKU")]
    return []


def problems(sim: SimState, body: dict, *, draft: bool = False, known_skus: set[str] | None = None) -> list[Problem]:
    found: list[Problem] = []
    found += _title(sim, body.get("title"), draft)
    if len(str(body.get("description") or "")) > MAX_DESCRIPTION:
        found.append((E.DESCRIPTION_TOO_LONG, "Description must be at most 10000 characters"))
    if not draft or body.get("category_id"):
        found += _category(sim, body)
    found += _skus(sim, body.get("skus"), draft, known_skus or set())
    if not draft:
        found += _images(sim, body.get("main_images"))
        if not any(code in (E.CATEGORY_NOT_FOUND, E.CATEGORY_NOT_LEAF) for code, _ in found):
            found += _attributes(sim, body)
        found += _package(sim, body)
    return found
