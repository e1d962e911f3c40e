"""Products, variants and inventory items (sections 2.2 and 2.3)."""

from __future__ import annotations

import copy
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import ApiError, invalid, not_found
from .http import id_list, root, sim
from .inventory import change_stock, connect, forget, total_available
from .paging import ListQuery, paginate, parse_list, project, time_filter
from .state import ShopState
from .values import JSONResponse, dec, gid, money
from .webhooks import emit

STATUSES = ("active", "draft", "archived")
DEFAULT_TITLE = "Default Title"
VARIANT_FIELDS = (
    "price", "compare_at_price", "sku", "barcode", "option1", "option2", "option3", "inventory_policy",
    "inventory_management", "grams", "weight", "weight_unit", "taxable", "requires_shipping", "image_id",
)  # fmt: skip
GRAMS_PER = {"g": 1.0, "kg": 1000.0, "lb": 453.59237, "oz": 28.349523125}


# rendering -------------------------------------------------------------------------------


def render_variant(state: ShopState, variant: dict) -> dict:
    out = {k: v for k, v in variant.items() if not k.startswith("_")}
    out["inventory_quantity"] = total_available(state, variant["inventory_item_id"])
    out["old_inventory_quantity"] = out["inventory_quantity"]
    currency = state.settings.currency
    cap = variant.get("compare_at_price")
    out["presentment_prices"] = [{
        "price": {"amount": variant["price"], "currency_code": currency},
        "compare_at_price": {"amount": cap, "currency_code": currency} if cap is not None else None,
    }]
    return out


def render_product(state: ShopState, product: dict) -> dict:
    out = copy.deepcopy({k: v for k, v in product.items() if k != "variants" and not k.startswith("_")})
    out["variants"] = [render_variant(state, v) for v in product["variants"]]
    out["image"] = out["images"][0] if out["images"] else None
    return out


def get_product(state: ShopState, ident: int) -> dict:
    product = state.db.products.get(ident)
    if product is None:
        raise not_found()
    return product


def get_variant(state: ShopState, ident: int) -> dict:
    variant = state.db.variants.get(ident)
    if variant is None:
        raise not_found()
    return variant


# building --------------------------------------------------------------------------------


class HandleIndex:
    """handle -> product id for the products in `state.db.products`, so that choosing a free
    handle looks up each candidate instead of building the set of every handle on each create
    (which made seeding a large catalog quadratic).

    The product writes here keep it current; a change made anywhere else that adds or removes
    products is seen by their number, and an entry whose product no longer has that handle is
    seen when it is looked up: either way the index is rebuilt.
    """

    def __init__(self, products: dict[int, dict]) -> None:
        self.products = products
        self.ids = {p["handle"]: p["id"] for p in products.values()}
        self.count = len(products)

    @staticmethod
    def of(state: ShopState) -> HandleIndex:
        index = getattr(state, "_handle_index", None)
        if index is None or index.products is not state.db.products or index.count != len(state.db.products):
            index = HandleIndex(state.db.products)
            state._handle_index = index  # type: ignore[attr-defined]
        return index

    def stored(self, product: dict) -> None:
        """After `product` was stored under its handle (created, or renamed)."""
        self.ids[product["handle"]] = product["id"]
        self.count = len(self.products)

    def deleted(self, product: dict) -> None:
        if self.ids.get(product["handle"]) == product["id"]:
            del self.ids[product["handle"]]
        self.count = len(self.products)

    def taken(self, handle: str, own_id: int | None) -> bool:
        owner = self.ids.get(handle)
        if owner is None or owner == own_id:
            return False
        product = self.products.get(owner)
        if product is not None and product["handle"] == handle:
            return True
        self.ids = {p["handle"]: p["id"] for p in self.products.values()}  # renamed elsewhere: look again
        owner = self.ids.get(handle)
        return owner is not None and owner != own_id


def _handle(state: ShopState, wanted: str, own_id: int | None = None) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", wanted.lower()).strip("-") or "product"
    index = HandleIndex.of(state)
    handle, n = base, 1
    while index.taken(handle, own_id):
        handle, n = f"{base}-{n}", n + 1
    return handle


def _tags(value: object) -> str:
    parts = value if isinstance(value, list) else str(value or "").split(",")
    seen: list[str] = []
    for part in (str(p).strip() for p in parts):
        if part and part not in seen:
            seen.append(part)
    return ", ".join(seen)


def _variant_title(variant: dict) -> str:
    values = [variant.get(f"option{i}") for i in (1, 2, 3)]
    return " / ".join(v for v in values if v) or DEFAULT_TITLE


def _sync_options(product: dict) -> None:
    """Option values follow the variants; names come from what the caller declared."""
    names = [o["name"] for o in product["options"]]
    used = max((i for v in product["variants"] for i in (1, 2, 3) if v.get(f"option{i}")), default=1)
    while len(names) < used:
        names.append("Title" if not names else f"Option{len(names) + 1}")
    options = []
    for position, name in enumerate(names[:3], start=1):
        values: list[str] = []
        for variant in product["variants"]:
            value = variant.get(f"option{position}")
            if value and value not in values:
                values.append(value)
        previous = next((o for o in product["options"] if o["name"] == name), None)
        options.append(
            {
                "id": (previous or {}).get("id") or product["_option_ids"][position - 1],
                "product_id": product["id"],
                "name": name,
                "position": position,
                "values": values,
            }
        )
    product["options"] = options


def _blank_sku(state: ShopState) -> str | None:
    """What a variant without a SKU reads (Settings.blank_sku_reads_null)."""
    return None if state.settings.blank_sku_reads_null else ""


def _apply_variant_fields(variant: dict, data: dict, blank: str | None = "") -> None:
    for key in VARIANT_FIELDS:
        if key in data:
            variant[key] = data[key]
    if "sku" in data and not data["sku"]:
        variant["sku"] = blank  # a blank SKU reads like no SKU
    if "price" in data:
        variant["price"] = money(dec(data["price"], "price"))
    if "compare_at_price" in data:
        cap = data["compare_at_price"]
        variant["compare_at_price"] = None if cap in (None, "") else money(dec(cap, "compare_at_price"))
    if variant.get("inventory_policy") not in ("deny", "continue"):
        raise invalid("inventory_policy", "is not included in the list")
    if "weight" in data or "weight_unit" in data:
        variant["weight"] = float(variant.get("weight") or 0)
        variant["grams"] = round(variant["weight"] * GRAMS_PER.get(variant["weight_unit"], 1.0))
    elif "grams" in data:
        variant["weight"] = float(variant["grams"]) / GRAMS_PER.get(variant["weight_unit"], 1.0)
    variant["title"] = _variant_title(variant)


def _check_unique_options(product: dict, max_variants: int = 100) -> None:
    seen = set()
    for variant in product["variants"]:
        combo = tuple(variant.get(f"option{i}") for i in (1, 2, 3))
        if combo in seen:
            raise invalid("base", f"The variant '{_variant_title(variant)}' already exists.")
        seen.add(combo)
    if len(product["variants"]) > max_variants:  # REST: 100; GraphQL productSet: 2048
        raise invalid("variants", "Exceeded maximum number of variants allowed")


def new_variant(state: ShopState, product: dict, data: dict, initial_stock: bool) -> dict:
    ident = int(data.get("id") or state.new_id())
    item_id = int(data.get("inventory_item_id") or state.new_id())
    tracked = data.get("inventory_management", "shopify" if state.settings.new_variants_tracked else None)
    variant = {
        "id": ident,
        "product_id": product["id"],
        "title": DEFAULT_TITLE,
        "price": "0.00",
        "compare_at_price": None,
        "sku": _blank_sku(state),
        "barcode": None,
        "position": len(product["variants"]) + 1,
        "option1": DEFAULT_TITLE,
        "option2": None,
        "option3": None,
        "inventory_item_id": item_id,
        "inventory_policy": "deny",
        "inventory_management": "shopify" if tracked else None,
        "fulfillment_service": "manual",
        "grams": 0,
        "weight": 0.0,
        "weight_unit": "kg",
        "taxable": True,
        "requires_shipping": True,
        "image_id": None,
        "admin_graphql_api_id": gid("ProductVariant", ident),
    }
    if any(data.get(f"option{i}") for i in (1, 2, 3)):
        variant["option1"] = None
    _apply_variant_fields(variant, {k: v for k, v in data.items() if k != "inventory_management"},
                          _blank_sku(state))
    state.stamp(variant, data)
    item = {
        "id": item_id,
        "sku": variant["sku"],
        "cost": None,
        "tracked": variant["inventory_management"] == "shopify",
        "requires_shipping": variant["requires_shipping"],
        "country_code_of_origin": None,
        "province_code_of_origin": None,
        "harmonized_system_code": None,
        "country_harmonized_system_codes": [],
        "admin_graphql_api_id": gid("InventoryItem", item_id),
    }
    if data.get("cost") is not None:
        item["cost"] = money(dec(data["cost"], "cost"))
    state.stamp(item, data)
    state.db.variants[ident] = variant
    state.db.inventory_items[item_id] = item
    emit(state, "inventory_items/create", dict(item))
    # New items are stocked at the primary location, which is where Shopify puts them.
    level, _ = connect(state, item_id, state.primary_location())
    # Writing `inventory_quantity` is honoured only on create (and by the seeder): later writes go
    # through inventory_levels. Whether 2025-01 still accepts it on create is UNCONFIRMED.
    if initial_stock and item["tracked"] and data.get("inventory_quantity") is not None:
        level["available"] = int(data["inventory_quantity"])
    return variant


def _images(state: ShopState, product: dict, given: list) -> list[dict]:
    previous = {img["id"]: img for img in product.get("images", [])}
    images = []
    for position, data in enumerate(given, start=1):
        if not isinstance(data, dict):
            raise invalid("images", "is invalid")
        ident = int(data.get("id") or state.new_id())
        image = dict(previous.get(ident, {}))
        src = data.get("src") or image.get("src")
        if not src and data.get("attachment"):
            src = f"https://cdn.shopify.com/s/files/1/{state.shop}/products/{ident}.png"
        if not src:
            raise invalid("images", "src can't be blank")
        image.update(
            {
                "id": ident,
                "product_id": product["id"],
                "position": position,
                "alt": data.get("alt", image.get("alt")),
                "width": data.get("width", image.get("width", 800)),
                "height": data.get("height", image.get("height", 800)),
                "src": src,
                "variant_ids": list(data.get("variant_ids", image.get("variant_ids", []))),
                "admin_graphql_api_id": gid("MediaImage", ident),  # 2025-01 sample: MediaImage gids
            }
        )
        state.stamp(image, data)
        images.append(image)
    for image in images:
        for vid in image["variant_ids"]:
            if vid in state.db.variants:
                state.db.variants[vid]["image_id"] = image["id"]
    return images


def _apply_product_fields(state: ShopState, product: dict, data: dict) -> None:
    for key in ("title", "body_html", "vendor", "product_type", "template_suffix", "published_scope"):
        if key in data:
            product[key] = data[key]
    if not (product.get("title") or "").strip():
        raise invalid("title", "can't be blank")
    if "status" in data:
        if data["status"] not in STATUSES:
            raise invalid("status", "is not included in the list")
        product["status"] = data["status"]
    if "tags" in data:
        product["tags"] = _tags(data["tags"])
    if "handle" in data and data["handle"]:
        product["handle"] = _handle(state, data["handle"], product["id"])
        if state.db.products.get(product["id"]) is product:
            HandleIndex.of(state).stored(product)
    if "published" in data:
        product["published_at"] = state.now() if data["published"] else None
    elif "published_at" in data:
        product["published_at"] = data["published_at"]


def create_product(state: ShopState, data: dict, initial_stock: bool = True, max_variants: int = 100) -> dict:
    ident = int(data.get("id") or state.new_id())
    product = {
        "id": ident,
        "title": data.get("title"),
        "body_html": None,
        "vendor": state.shop,
        "product_type": "",
        "handle": "",
        "status": "active",
        "tags": "",
        "template_suffix": None,
        "published_scope": "web",
        "published_at": state.now(),
        "options": [],
        "images": [],
        "variants": [],
        "_option_ids": [state.new_id() for _ in range(3)],
        "admin_graphql_api_id": gid("Product", ident),
    }
    _apply_product_fields(state, product, data)
    product["handle"] = product["handle"] or _handle(state, data.get("handle") or product["title"])
    product["options"] = [
        {"id": None, "name": o["name"] if isinstance(o, dict) else str(o)} for o in data.get("options") or []
    ][:3]
    state.stamp(product, data)
    try:
        for variant_data in data.get("variants") or [{}]:
            if not isinstance(variant_data, dict):
                raise invalid("variants", "is invalid")
            product["variants"].append(new_variant(state, product, variant_data, initial_stock))
        _check_unique_options(product, max_variants)
        _sync_options(product)
        product["images"] = _images(state, product, data.get("images") or [])
    except ApiError:
        for variant in product["variants"]:  # leave no half-made product behind
            _drop_variant(state, variant)
        raise
    index = HandleIndex.of(state)
    state.db.products[ident] = product
    index.stored(product)
    emit(state, "products/create", render_product(state, product))
    return product


def _drop_variant(state: ShopState, variant: dict) -> None:
    state.db.variants.pop(variant["id"], None)
    item_id = variant["inventory_item_id"]
    state.db.inventory_items.pop(item_id, None)
    forget(state, item_id)
    emit(state, "inventory_items/delete", {"id": item_id})


def _touch(state: ShopState, product: dict) -> None:
    product["updated_at"] = state.now()
    emit(state, "products/update", render_product(state, product))


def update_product(state: ShopState, product: dict, data: dict, max_variants: int = 100) -> dict:
    _apply_product_fields(state, product, data)
    if "options" in data:
        product["options"] = [
            {"id": None, "name": o["name"] if isinstance(o, dict) else str(o)} for o in data["options"] or []
        ][:3]
    if "variants" in data:
        # A variants array replaces the list: listed ids are updated, new ones created, the rest go.
        keep = []
        for position, variant_data in enumerate(data["variants"] or [], start=1):
            vid = variant_data.get("id")
            if vid is not None:
                variant = state.db.variants.get(int(vid))
                if variant is None or variant["product_id"] != product["id"]:
                    raise invalid("variants", f"variant {vid} does not belong to this product")
                _update_variant_fields(state, variant, variant_data)
            else:
                variant = new_variant(state, product, variant_data, True)
            variant["position"] = position
            keep.append(variant)
        kept = {v["id"] for v in keep}
        for variant in product["variants"]:
            if variant["id"] not in kept:
                _drop_variant(state, variant)
        product["variants"] = keep
        _check_unique_options(product, max_variants)
    _sync_options(product)
    if "images" in data:
        product["images"] = _images(state, product, data["images"] or [])
    _touch(state, product)
    return product


def delete_product(state: ShopState, product: dict) -> None:
    for variant in product["variants"]:
        _drop_variant(state, variant)
    index = HandleIndex.of(state)
    del state.db.products[product["id"]]
    index.deleted(product)
    emit(state, "products/delete", {"id": product["id"]})


def _update_variant_fields(state: ShopState, variant: dict, data: dict) -> None:
    _apply_variant_fields(variant, {k: v for k, v in data.items() if k != "inventory_management"},
                          _blank_sku(state))
    item = state.db.inventory_items[variant["inventory_item_id"]]
    if "inventory_management" in data:
        variant["inventory_management"] = "shopify" if data["inventory_management"] else None
        item["tracked"] = variant["inventory_management"] == "shopify"
    if "sku" in data:
        item["sku"] = variant["sku"]
    variant["updated_at"] = state.now()


# product routes --------------------------------------------------------------------------


def _filter_products(state: ShopState, q: ListQuery) -> list[dict]:
    products = list(state.db.products.values())
    ids = id_list(q.get("ids"))
    if ids is not None:
        products = [p for p in products if p["id"] in ids]
    if q.get("since_id"):
        since = int(q.get("since_id") or 0)
        products = [p for p in products if p["id"] > since]
    for name in ("title", "vendor", "product_type"):
        if q.get(name):
            products = [p for p in products if (p.get(name) or "") == q.get(name)]
    if q.get("handle"):
        handles = {h.strip() for h in (q.get("handle") or "").split(",")}
        products = [p for p in products if p["handle"] in handles]
    if q.get("status"):
        wanted = {s.strip() for s in (q.get("status") or "").split(",")}
        products = [p for p in products if p["status"] in wanted]
    if q.get("collection_id"):
        products = []  # collections are not simulated
    published = q.get("published_status", "any")
    if published == "published":
        products = [p for p in products if p["published_at"]]
    elif published == "unpublished":
        products = [p for p in products if not p["published_at"]]
    return time_filter(products, q)


async def list_products(request: Request) -> Response:
    state = sim(request)
    q = parse_list(request)
    page, headers = paginate(request, q, _filter_products(state, q), key=lambda p: [p["id"]])
    body = [project(render_product(state, p), q.fields) for p in page]
    return JSONResponse({"products": body}, headers=headers)


async def count_products(request: Request) -> Response:
    state = sim(request)
    q = ListQuery(limit=0, fields=None, params=dict(request.query_params))
    return JSONResponse({"count": len(_filter_products(state, q))})


async def show_product(request: Request) -> Response:
    state = sim(request)
    product = render_product(state, get_product(state, request.path_params["id"]))
    fields = request.query_params.get("fields")
    return JSONResponse({"product": project(product, fields.split(",") if fields else None)})


async def post_product(request: Request) -> Response:
    state = sim(request)
    product = create_product(state, await root(request, "product"))
    return JSONResponse({"product": render_product(state, product)}, status_code=201)


async def put_product(request: Request) -> Response:
    state = sim(request)
    product = get_product(state, request.path_params["id"])
    update_product(state, product, await root(request, "product"))
    return JSONResponse({"product": render_product(state, product)})


async def delete_product_route(request: Request) -> Response:
    state = sim(request)
    delete_product(state, get_product(state, request.path_params["id"]))
    return JSONResponse({})


# variant routes --------------------------------------------------------------------------


async def list_variants(request: Request) -> Response:
    state = sim(request)
    product = get_product(state, request.path_params["pid"])
    q = parse_list(request)
    variants = product["variants"]
    if q.get("since_id"):
        variants = [v for v in variants if v["id"] > int(q.get("since_id") or 0)]
    page, headers = paginate(request, q, variants, key=lambda v: [v["id"]])
    return JSONResponse(
        {"variants": [project(render_variant(state, v), q.fields) for v in page]}, headers=headers
    )


async def count_variants(request: Request) -> Response:
    product = get_product(sim(request), request.path_params["pid"])
    return JSONResponse({"count": len(product["variants"])})


async def show_variant(request: Request) -> Response:
    state = sim(request)
    return JSONResponse({"variant": render_variant(state, get_variant(state, request.path_params["id"]))})


async def post_variant(request: Request) -> Response:
    state = sim(request)
    product = get_product(state, request.path_params["pid"])
    data = await root(request, "variant")
    if len(product["variants"]) >= state.settings.max_variants:
        raise invalid("base", "Exceeded maximum number of variants allowed")
    defaults = [v for v in product["variants"] if v["title"] == DEFAULT_TITLE]
    variant = new_variant(state, product, data, True)
    product["variants"].append(variant)
    # Adding a real variant to a product that only had its placeholder replaces the placeholder
    # (UNCONFIRMED: production may instead refuse until options are declared).
    if len(defaults) == 1 and len(product["variants"]) == 2 and variant["title"] != DEFAULT_TITLE:
        product["variants"].remove(defaults[0])
        _drop_variant(state, defaults[0])
        variant["position"] = 1
    try:
        _check_unique_options(product)
    except ApiError:
        product["variants"].remove(variant)
        _drop_variant(state, variant)
        raise
    _sync_options(product)
    _touch(state, product)
    return JSONResponse({"variant": render_variant(state, variant)}, status_code=201)


async def put_variant(request: Request) -> Response:
    state = sim(request)
    variant = get_variant(state, request.path_params["id"])
    data = await root(request, "variant")
    product = state.db.products[variant["product_id"]]
    _update_variant_fields(state, variant, data)
    _check_unique_options(product)
    _sync_options(product)
    _touch(state, product)
    if "inventory_management" in data or "sku" in data:
        emit(state, "inventory_items/update", dict(state.db.inventory_items[variant["inventory_item_id"]]))
    return JSONResponse({"variant": render_variant(state, variant)})


async def delete_variant(request: Request) -> Response:
    state = sim(request)
    product = get_product(state, request.path_params["pid"])
    variant = get_variant(state, request.path_params["id"])
    if variant["product_id"] != product["id"]:
        raise not_found()
    if len(product["variants"]) == 1:
        raise invalid("base", "A product must have at least one variant")  # wording UNCONFIRMED
    product["variants"].remove(variant)
    _drop_variant(state, variant)
    for position, other in enumerate(product["variants"], start=1):
        other["position"] = position
    _sync_options(product)
    _touch(state, product)
    return JSONResponse({})


# inventory item routes -------------------------------------------------------------------


async def list_items(request: Request) -> Response:
    state = sim(request)
    q = parse_list(request)
    ids = id_list(q.get("ids"))
    if ids is None:
        raise ApiError(400, {"ids": "Required parameter missing or invalid"})
    if len(ids) > 100:
        raise ApiError(422, {"ids": ["cannot be more than 100"]})
    items = [item for iid, item in state.db.inventory_items.items() if iid in ids]
    page, headers = paginate(request, q, items, key=lambda i: [i["id"]])
    return JSONResponse({"inventory_items": [project(dict(i), q.fields) for i in page]}, headers=headers)


async def show_item(request: Request) -> Response:
    item = sim(request).db.inventory_items.get(request.path_params["id"])
    if item is None:
        raise not_found()
    return JSONResponse({"inventory_item": item})


async def put_item(request: Request) -> Response:
    state = sim(request)
    item = state.db.inventory_items.get(request.path_params["id"])
    if item is None:
        raise not_found()
    data = await root(request, "inventory_item")
    variant = next((v for v in state.db.variants.values() if v["inventory_item_id"] == item["id"]), None)
    for key in ("sku", "country_code_of_origin", "province_code_of_origin", "harmonized_system_code"):
        if key in data:
            item[key] = data[key]
    item["sku"] = item["sku"] or _blank_sku(state)
    if "cost" in data:
        item["cost"] = None if data["cost"] in (None, "") else money(dec(data["cost"], "cost"))
    if "requires_shipping" in data:
        item["requires_shipping"] = bool(data["requires_shipping"])
    if "tracked" in data:
        item["tracked"] = bool(data["tracked"])
    if variant is not None:
        variant["sku"] = item["sku"]
        variant["requires_shipping"] = item["requires_shipping"]
        variant["inventory_management"] = "shopify" if item["tracked"] else None
    item["updated_at"] = state.now()
    emit(state, "inventory_items/update", dict(item))
    return JSONResponse({"inventory_item": item})


def adjust_variant_stock(state: ShopState, variant_id: int, location_id: int, delta: int) -> None:
    variant = state.db.variants.get(variant_id)
    if variant is not None:
        change_stock(state, variant["inventory_item_id"], location_id, delta)


ROUTES = [
    Route("/products.json", list_products, methods=["GET"]),
    Route("/products.json", post_product, methods=["POST"]),
    Route("/products/count.json", count_products, methods=["GET"]),
    Route("/products/{id:int}.json", show_product, methods=["GET"]),
    Route("/products/{id:int}.json", put_product, methods=["PUT"]),
    Route("/products/{id:int}.json", delete_product_route, methods=["DELETE"]),
    Route("/products/{pid:int}/variants.json", list_variants, methods=["GET"]),
    Route("/products/{pid:int}/variants.json", post_variant, methods=["POST"]),
    Route("/products/{pid:int}/variants/count.json", count_variants, methods=["GET"]),
    Route("/products/{pid:int}/variants/{id:int}.json", delete_variant, methods=["DELETE"]),
    Route("/variants/{id:int}.json", show_variant, methods=["GET"]),
    Route("/variants/{id:int}.json", put_variant, methods=["PUT"]),
    Route("/inventory_items.json", list_items, methods=["GET"]),
    Route("/inventory_items/{id:int}.json", show_item, methods=["GET"]),
    Route("/inventory_items/{id:int}.json", put_item, methods=["PUT"]),
]
