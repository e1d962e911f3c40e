"""Product endpoints: search, get, create, edit, status changes, prices; the listing audit."""

from __future__ import annotations

import copy
from decimal import ROUND_HALF_UP, Decimal

from . import errors as E
from . import product_rules
from .catalog import attributes_for, category_chain, recommended_leaf, rules_for
from .errors import ApiError
from .money import dec, fmt, plain, quantize
from .pagination import paginate
from .routing import Ctx
from .state import SimState

# Body fields kept as sent and returned by get (1.10).
CONTENT_FIELDS = (
    "title", "description", "category_id", "category_version", "brand_id", "main_images", "video",
    "package_weight", "package_dimensions", "product_attributes", "certifications", "size_chart",
    "is_cod_allowed", "delivery_option_ids", "external_product_id", "is_not_for_sale",
    "minimum_order_quantity", "is_pre_owned", "listing_platforms", "manufacturer_ids",
    "responsible_person_ids", "shipping_insurance_requirement", "primary_combined_product_id",
)
SKU_FIELDS = ("identifier_code", "external_sku_id", "combined_skus", "sku_unit_count", "pre_sale",
              "list_price", "external_list_prices")
MAX_BATCH = 20  # activate / deactivate / delete / recover take at most 20 product ids
HIDDEN_STATUSES = {"DELETED", "FREEZE"}  # get-product does not return these (1.9)
DRAFT_MODES = {"AS_DRAFT", "DRAFT"}  # the reference says AS_DRAFT; one SDK types it DRAFT


# -- lookups --------------------------------------------------------------------------------
def find_product(sim: SimState, product_id: str, *, include_hidden: bool = False) -> dict:
    product = sim.products.get(product_id)
    if product is None or (not include_hidden and product["status"] in HIDDEN_STATUSES):
        raise ApiError(E.PRODUCT_NOT_FOUND, f"Product {product_id} does not exist in this shop")
    return product


def find_sku(sim: SimState, sku_id: str) -> tuple[dict, dict] | None:
    product = sim.products.get(sim.sku_index.get(sku_id, ""))
    if product is None:
        return None
    return product, next(s for s in product["skus"] if s["id"] == sku_id)


# -- building ---------------------------------------------------------------------------------
def _sales_attribute(sim: SimState, category_id: str, attr: dict) -> dict:
    known = {a["id"]: a for a in attributes_for(sim, category_id) if a["type"] == "SALES_PROPERTY"}
    by_name = {a["name"].lower(): a for a in known.values()}
    spec = known.get(str(attr.get("id"))) or by_name.get(str(attr.get("name") or "").lower())
    name = spec["name"] if spec else str(attr.get("name") or "")
    attr_id = spec["id"] if spec else attr.get("id") or sim.custom_attr_ids.setdefault(
        ("attr", name.lower()), sim.ids.new("sku"))
    values = {v["id"]: v for v in (spec or {}).get("values", [])}
    value = values.get(str(attr.get("value_id"))) or next(
        (v for v in values.values() if v["name"].lower() == str(attr.get("value_name") or "").lower()), None)
    value_name = value["name"] if value else str(attr.get("value_name") or "")
    value_id = value["id"] if value else attr.get("value_id") or sim.custom_attr_ids.setdefault(
        ("value", attr_id, value_name.lower()), sim.ids.new("sku"))
    out = {"id": attr_id, "name": name, "value_id": value_id, "value_name": value_name}
    if attr.get("sku_img"):
        out["sku_img"] = attr["sku_img"]
    return out


def _list_price(given: object, currency: str) -> object:
    """A list price as stored and read back: its amount written the way TikTok writes money."""
    if not isinstance(given, dict) or given.get("amount") in (None, ""):
        return copy.deepcopy(given)
    try:
        amount = fmt(dec(given["amount"]), given.get("currency") or currency)
    except ValueError:
        return copy.deepcopy(given)
    return dict(given, amount=amount)


def _build_skus(sim: SimState, category_id: str, skus: list[dict], existing: dict[str, dict]) -> list[dict]:
    built = []
    for sku in skus:
        sku_id = str(sku.get("id") or sim.ids.new("sku"))
        old = existing.get(sku_id)
        committed = {r["warehouse_id"]: r["committed"] for r in old["inventory"]} if old else {}
        price = sku.get("price") or (old or {}).get("price") or {}
        row = {
            "id": sku_id,
            "seller_sku": str(sku.get("seller_sku") or ""),
            "price": {"amount": fmt(dec(price.get("amount")), sim.currency) if price.get("amount") else "0",
                      "currency": price.get("currency", sim.currency)},
            "inventory": [{"warehouse_id": str(r["warehouse_id"]), "quantity": int(r["quantity"]),
                           "committed": committed.get(str(r["warehouse_id"]), 0)}
                          for r in sku.get("inventory") or []],
            "sales_attributes": [_sales_attribute(sim, category_id, a) for a in sku.get("sales_attributes") or []],
        }
        row.update({k: copy.deepcopy(sku[k]) for k in SKU_FIELDS if k in sku})
        if "list_price" in row:
            row["list_price"] = _list_price(row["list_price"], sim.currency)
        built.append(row)
    return built


def _apply_content(sim: SimState, product: dict, body: dict, warnings: list[dict]) -> None:
    for key in CONTENT_FIELDS:
        if key in body:
            product[key] = copy.deepcopy(body[key])
    brand_id = product.get("brand_id")
    if brand_id and brand_id not in sim.brands:
        # 1.5: an invalid brand_id is cleared with a warning rather than failing the call.
        warnings.append({"message": f"brand_id {brand_id} is invalid and was ignored"})
        product["brand_id"] = None
    old_skus = {s["id"]: s for s in product.get("skus", [])}
    if "skus" in body:
        product["skus"] = _build_skus(sim, str(product.get("category_id") or ""), body["skus"], old_skus)
        for sku_id in set(old_skus) - {s["id"] for s in product["skus"]}:
            sim.sku_index.pop(sku_id, None)  # omitted SKUs are deleted (1.9)
        for sku in product["skus"]:
            sim.sku_index[sku["id"]] = product["id"]


def _write_result(product: dict, warnings: list[dict]) -> dict:
    return {
        "product_id": product["id"],
        "skus": [{"id": s["id"], "seller_sku": s["seller_sku"],
                  "sales_attributes": [{"id": a["id"], "value_id": a["value_id"]} for a in s["sales_attributes"]],
                  "external_sku_id": s.get("external_sku_id", "")} for s in product["skus"]],
        "warnings": warnings,
    }


def _check(sim: SimState, body: dict, draft: bool, known_skus: set[str] | None = None) -> None:
    found = product_rules.problems(sim, body, draft=draft, known_skus=known_skus)
    if found:
        raise ApiError(*found[0])


# -- audit ----------------------------------------------------------------------------------
def start_audit(sim: SimState, product: dict) -> None:
    product["status"] = "PENDING"
    product["audit"] = {"status": "AUDITING", "pre_approved_reasons": []}
    product["audit_failed_reasons"] = []
    product["audit_due"] = sim.clock() + sim.audit_delay_seconds


# What a reviewer's rejection says when the admin call gives no reasons of its own.
DEFAULT_REJECTION = {
    "position": "main_images",
    "reasons": ["The main image contains a watermark or promotional text"],
    "suggestions": ["Use a main image of the product alone on a plain white background"],
}


def _finish_audit(sim: SimState, product: dict, rejection: list[dict] | None = None) -> None:
    """Settle one audit. `rejection` is a reviewer's verdict ({position, reasons, suggestions}
    per part) standing in for the checks TikTok runs that the simulator cannot (image content,
    claims in the description); without it only prohibited title words fail."""
    title = str(product.get("title") or "").lower()
    bad = [w for w in sim.forbidden_words if w in title]
    product["audit_due"] = None
    product["update_time"] = sim.later_than(product["update_time"])
    if bad:
        rejection = [{
            "position": "title",
            "reasons": [f"The title contains a prohibited word: {bad[0]}"],
            "suggestions": ["Remove words that suggest counterfeit goods and resubmit"],
        }, *(rejection or [])]
    if rejection:
        product["status"], product["audit"]["status"] = "FAILED", "REJECTED"
        product["audit_failed_reasons"] = copy.deepcopy(rejection)
        change = "PRODUCT_AUDIT_FAILURE"
    else:
        product["status"], product["audit"]["status"] = "ACTIVATE", "PASSED"
        change = "PRODUCT_STATUS_CHANGED" if product["passed_once"] else "PRODUCT_FIRST_PASS_REVIEW"
        product["passed_once"] = True
    _status_event(sim, product, change)
    sim.emit("PRODUCT_AUDIT_STATUS_CHANGE", {"product_id": product["id"],
                                             "audit": {"status": product["audit"]["status"]},
                                             "update_time": product["update_time"]})


def settle_audits(sim: SimState, *, force: bool = False, reject: dict[str, list[dict]] | None = None) -> int:
    """Finish every audit that is due (or all of them); returns how many finished. `reject`:
    product id -> failure reasons for audits the reviewer turns down."""
    now, done = sim.clock(), 0
    for product in sim.products.values():
        due = product.get("audit_due")
        if due is not None and (force or now >= due):
            _finish_audit(sim, product, (reject or {}).get(product["id"]))
            done += 1
    return done


def _status_event(sim: SimState, product: dict, change: str = "PRODUCT_STATUS_CHANGED") -> None:
    # product_id is a JSON number in this event (webhook_product_status_change_docsample.json, and
    # 1.10: "some webhook payloads send product_id as a JSON number"); Python's json writes every
    # digit of it. The other product events carry it as a string.
    sim.emit("PRODUCT_STATUS_CHANGE", {"product_id": int(product["id"]), "status": change,
                                       "suspended_reason": "", "update_time": product["update_time"]})


# -- views ----------------------------------------------------------------------------------
def sale_price(sim: SimState, sku: dict) -> Decimal:
    """What the buyer pays for one unit: the seller's tax-exclusive price plus the tax the
    market's prices include (none unless the shop has a sale_tax_rate)."""
    return quantize(dec(sku["price"]["amount"]) * (1 + sim.sale_tax_rate), sku["price"]["currency"])


def _price_view(sim: SimState, sku: dict, *, unit_price: bool = False) -> dict:
    """skus[].price as TikTok writes it. Create, edit and price updates set `price.amount`, the
    seller's price before tax (1.10); that reads back as `tax_exclusive_price`, and `sale_price`
    is the buyer's price with tax (get_product_202309 sample: "117.5" vs "110"). Detail also
    gives `unit_price`, the sale price per `sku_unit_count` unit."""
    currency = sku["price"]["currency"]
    sale = sale_price(sim, sku)
    view = {"currency": currency, "sale_price": plain(sale),
            "tax_exclusive_price": fmt(dec(sku["price"]["amount"]), currency)}
    if unit_price:
        try:
            count = dec(sku.get("sku_unit_count"), "1")
        except ValueError:
            count = Decimal(1)
        view["unit_price"] = fmt(sale / count if count > 0 else sale, currency)
    return view


def _inventory_view(sku: dict) -> list[dict]:
    return [{"warehouse_id": r["warehouse_id"], "quantity": r["quantity"]} for r in sku["inventory"]]


GRAMS_PER = {"GRAM": Decimal(1), "KILOGRAM": Decimal(1000), "POUND": Decimal("453.59237")}


def _weight_view(sim: SimState, weight: object) -> object:
    """package_weight as written (KILOGRAM or POUND), or in grams when the simulator is set to
    read weights back in GRAM (create_app(package_weight_read_unit="GRAM"))."""
    if sim.weight_read_unit != "GRAM" or not isinstance(weight, dict):
        return weight
    per = GRAMS_PER.get(str(weight.get("unit")))
    try:
        value = dec(weight.get("value"))
    except ValueError:
        return weight
    if per is None:
        return weight
    return {"unit": "GRAM", "value": plain((value * per).quantize(Decimal(1), rounding=ROUND_HALF_UP))}


def _image_view(sim: SimState, image: object) -> dict:
    """An image as reads give it: the `uri` the write sent, with its URLs and size."""
    uri = image.get("uri") if isinstance(image, dict) else None
    known = sim.images.get(uri, {})
    url = known.get("url", "")
    return {"height": known.get("height", 0), "thumb_urls": [url], "uri": uri, "urls": [url],
            "width": known.get("width", 0)}


def _file_view(sim: SimState, given: dict) -> dict:
    known = sim.files.get(str(given.get("id")), {})
    return {"format": given.get("format") or known.get("format", "PDF"), "id": str(given.get("id") or ""),
            "name": given.get("name") or known.get("name", ""), "urls": [known.get("url", "")]}


def _certification_view(sim: SimState, product: dict, given: dict) -> dict:
    rules = rules_for(sim, str(product.get("category_id") or ""))
    spec = next((c for c in rules.get("product_certifications", []) if c["id"] == str(given.get("id"))), {})
    return {"files": [_file_view(sim, f) for f in given.get("files") or [] if isinstance(f, dict)],
            "id": str(given.get("id") or ""),
            "images": [_image_view(sim, i) for i in given.get("images") or []],
            "title": spec.get("name", "")}


def _size_chart_view(sim: SimState, given: dict) -> dict:
    view: dict = {}
    if isinstance(given.get("image"), dict):
        view["image"] = _image_view(sim, given["image"])
    if isinstance(given.get("template"), dict):
        view["template"] = {"id": str(given["template"].get("id") or "")}
    return view


def _video_view(sim: SimState, given: dict) -> dict:
    """The video a write named by the `id` of its file upload. The simulator does not decode
    videos, so width and height read 0."""
    video_id = str(given.get("id") or "")
    known = sim.files.get(video_id, {})
    return {"cover_url": f"{known['url']}~cover.jpeg" if known.get("url") else "",
            "format": known.get("format", "MP4"), "height": 0, "id": video_id,
            "size": known.get("size", 0), "url": known.get("url", ""), "width": 0}


def _sku_view(sim: SimState, sku: dict) -> dict:
    view = {k: copy.deepcopy(sku[k]) for k in SKU_FIELDS if k in sku}
    view.update(id=sku["id"], seller_sku=sku["seller_sku"], price=_price_view(sim, sku, unit_price=True),
                inventory=_inventory_view(sku), sales_attributes=[])
    for attr in sku["sales_attributes"]:
        shown = {k: attr[k] for k in ("id", "name", "value_id", "value_name")}
        if attr.get("sku_img"):
            shown["sku_img"] = _image_view(sim, attr["sku_img"])
        view["sales_attributes"].append(shown)
    return view


def _attribute_view(known: dict[str, dict], given: dict) -> dict:
    """product_attributes[] as reads give it: {id, name, values[{id, name}]}, names filled in from
    the category's attribute list when the write sent only ids."""
    spec = known.get(str(given.get("id")), {})
    names = {v["id"]: v["name"] for v in spec.get("values", [])}
    values = [{"id": str(v.get("id") or ""), "name": v.get("name") or names.get(str(v.get("id")), "")}
              for v in given.get("values") or [] if isinstance(v, dict)]
    return {"id": str(given.get("id") or ""), "name": spec.get("name", ""), "values": values}


def _delivery_options(sim: SimState, product: dict) -> list[dict]:
    """The shop's delivery options, each marked available for this product; a write that names
    delivery_option_ids makes only those available."""
    chosen = product.get("delivery_option_ids")
    return [{"id": d["id"], "is_available": not chosen or d["id"] in chosen, "name": d["name"]}
            for d in sim.delivery_options.values()]


# Read names of what a write sends under other names or in another shape: category_id reads back as
# category_chains, brand_id as brand, delivery_option_ids as delivery_options. Create-only fields
# neither the 202309 sample nor the get-product reference returns are left out.
READ_AS_SENT = ("title", "description", "package_weight", "package_dimensions", "external_product_id")


def product_view(sim: SimState, product: dict) -> dict:
    """GET /product/202309/products/{id}, shaped like get_product_202309_docsample.json."""
    view = {k: copy.deepcopy(product[k]) for k in READ_AS_SENT if k in product}
    if "package_weight" in view:
        view["package_weight"] = _weight_view(sim, view["package_weight"])
    brand = sim.brands.get(product.get("brand_id") or "")
    if brand:
        view["brand"] = {"id": brand["id"], "name": brand["name"]}
    if product.get("video"):
        view["video"] = _video_view(sim, product["video"])
    if product.get("certifications"):
        view["certifications"] = [_certification_view(sim, product, c) for c in product["certifications"]
                                  if isinstance(c, dict)]
    if isinstance(product.get("size_chart"), dict) and product["size_chart"]:
        view["size_chart"] = _size_chart_view(sim, product["size_chart"])
    category_id = str(product.get("category_id") or "")
    attrs = {a["id"]: a for a in attributes_for(sim, category_id)}
    leaf = recommended_leaf(sim, str(product.get("title") or ""))
    view.update({
        "id": product["id"],
        "status": product["status"],
        "category_chains": category_chain(sim, category_id),
        "recommended_categories": [{"id": leaf["id"], "local_name": leaf["local_name"]}] if leaf else [],
        "main_images": [_image_view(sim, i) for i in product.get("main_images") or []],
        "product_attributes": [_attribute_view(attrs, a) for a in product.get("product_attributes") or []
                               if isinstance(a, dict)],
        "skus": [_sku_view(sim, s) for s in product["skus"]],
        "audit": copy.deepcopy(product["audit"]),
        "audit_failed_reasons": copy.deepcopy(product["audit_failed_reasons"]),
        "delivery_options": _delivery_options(sim, product),
        "create_time": product["create_time"],
        "update_time": product["update_time"],
        "listing_quality_tier": "GOOD" if len(product.get("main_images") or []) >= 5 else "FAIR",
        "is_cod_allowed": bool(product.get("is_cod_allowed", False)),
        "is_not_for_sale": bool(product.get("is_not_for_sale", False)),
    })
    return view


def summary_view(sim: SimState, product: dict) -> dict:
    return {
        "id": product["id"], "title": product.get("title", ""), "status": product["status"],
        "skus": [{"id": s["id"], "seller_sku": s["seller_sku"], "price": _price_view(sim, s),
                  "inventory": _inventory_view(s)} for s in product["skus"]],
        "sales_regions": [sim.creds.region], "create_time": product["create_time"],
        "update_time": product["update_time"], "is_not_for_sale": bool(product.get("is_not_for_sale", False)),
        "listing_quality_tier": "GOOD" if len(product.get("main_images") or []) >= 5 else "FAIR",
        "audit": {"status": product["audit"]["status"]},
    }


# -- endpoints ------------------------------------------------------------------------------
def new_product(sim: SimState, body: dict, *, draft: bool, product_id: str | None = None) -> tuple[dict, list]:
    now = sim.now()
    product = {"id": product_id or sim.ids.new("product"), "skus": [], "create_time": now, "update_time": now,
               "status": "DRAFT", "audit": {"status": "", "pre_approved_reasons": []},
               "audit_failed_reasons": [], "audit_due": None, "passed_once": False}
    warnings: list[dict] = []
    _apply_content(sim, product, body, warnings)
    sim.products[product["id"]] = product
    return product, warnings


def create_product(ctx: Ctx) -> dict:
    sim, body = ctx.sim, ctx.body or {}
    key = body.get("idempotency_key")
    if key and ("create_product", key) in sim.idempotency:
        return copy.deepcopy(sim.idempotency[("create_product", key)])
    draft = body.get("save_mode") in DRAFT_MODES
    _check(sim, body, draft)
    product, warnings = new_product(sim, body, draft=draft)
    if not draft:
        start_audit(sim, product)
    sim.emit("PRODUCT_CREATION", {"product_id": product["id"], "product_type": ["NORMAL"],
                                  "update_time": product["update_time"]})
    result = _write_result(product, warnings)
    if key:
        sim.idempotency[("create_product", key)] = copy.deepcopy(result)
    return result


def _edit(ctx: Ctx, merged: dict, body: dict) -> dict:
    sim = ctx.sim
    product = find_product(sim, ctx.params["product_id"])
    draft = body.get("save_mode") in DRAFT_MODES or (product["status"] == "DRAFT" and "save_mode" not in body)
    _check(sim, merged, draft, known_skus={s["id"] for s in product["skus"]})
    before = {k: copy.deepcopy(product.get(k)) for k in (*CONTENT_FIELDS, "skus")}
    warnings: list[dict] = []
    _apply_content(sim, product, body, warnings)
    product["update_time"] = sim.later_than(product["update_time"])
    if not draft:
        start_audit(sim, product)  # every content write is re-audited (1.10)
    changed = [k for k in (*CONTENT_FIELDS, "skus") if product.get(k) != before[k]]
    sim.emit("PRODUCT_INFORMATION_CHANGE", {"product_id": product["id"], "changed_fields": changed,
                                            "update_time": product["update_time"]})
    return _write_result(product, warnings)


def edit_product(ctx: Ctx) -> dict:
    body = ctx.body or {}
    return _edit(ctx, body, body)


def partial_edit_product(ctx: Ctx) -> dict:
    body = ctx.body or {}
    product = find_product(ctx.sim, ctx.params["product_id"])
    merged = {k: product[k] for k in CONTENT_FIELDS if k in product}
    merged["skus"] = [dict(s, inventory=[{"warehouse_id": r["warehouse_id"], "quantity": r["quantity"]}
                                         for r in s["inventory"]]) for s in product["skus"]]
    merged.update(body)
    return _edit(ctx, merged, body)


def get_product(ctx: Ctx) -> dict:
    return product_view(ctx.sim, find_product(ctx.sim, ctx.params["product_id"]))


def search_products(ctx: Ctx) -> dict:
    sim, body = ctx.sim, ctx.body or {}
    status = body.get("status") or "ALL"
    seller_skus, sku_ids = body.get("seller_skus") or [], body.get("sku_ids") or []
    if len(seller_skus) > 10 or len(sku_ids) > 10:
        raise ApiError(E.INVALID_PARAM, "Invalid params: at most 10 seller_skus and 10 sku_ids")
    audit_statuses = body.get("audit_status") or []

    def keep(p: dict) -> bool:
        if status == "ALL" and p["status"] == "DELETED" or status != "ALL" and p["status"] != status:
            return False
        if seller_skus and not any(s["seller_sku"] in seller_skus for s in p["skus"]):
            return False
        if sku_ids and not any(s["id"] in sku_ids for s in p["skus"]):
            return False
        if audit_statuses and p["audit"]["status"] not in audit_statuses:
            return False
        for field, op in (("create_time_ge", "ge"), ("create_time_le", "le"), ("update_time_ge", "ge"),
                          ("update_time_le", "le")):
            bound = body.get(field)
            value = p[field.rsplit("_", 1)[0]]
            if bound is not None and (value < bound if op == "ge" else value > bound):
                return False
        return True

    matches = [p for p in sim.products.values() if keep(p)]
    page, meta = paginate("products", matches, ctx.query, body)
    return {"products": [summary_view(sim, p) for p in page], **meta}


def _batch(ctx: Ctx, action) -> dict:
    ids = [str(i) for i in (ctx.body or {}).get("product_ids") or []]
    if not ids or len(ids) > MAX_BATCH:
        raise ApiError(E.INVALID_PARAM, f"Invalid params: product_ids must hold 1 to {MAX_BATCH} ids")
    errors = []
    for product_id in ids:
        product = ctx.sim.products.get(product_id)
        problem = (E.PRODUCT_NOT_FOUND, "Product does not exist in this shop") if product is None \
            else action(ctx.sim, product)
        if problem:
            errors.append({"code": problem[0], "message": problem[1],
                           "detail": {"product_id": product_id, "extra_errors": []}})
    return {"errors": errors}


def _activate(sim: SimState, product: dict):
    if product["status"] in ("ACTIVATE", "PENDING"):
        return None
    if product["status"] not in ("SELLER_DEACTIVATED", "DRAFT", "FAILED"):
        return E.INVALID_STATUS_CHANGE, f"A {product['status']} product cannot be activated"
    found = product_rules.problems(sim, {**product, "skus": [
        dict(s, inventory=[{"warehouse_id": r["warehouse_id"], "quantity": r["quantity"]} for r in s["inventory"]])
        for s in product["skus"]]}, known_skus={s["id"] for s in product["skus"]})
    if found:
        return found[0]
    product["update_time"] = sim.later_than(product["update_time"])
    start_audit(sim, product)  # activation is re-audited (1.9)
    return None


def _deactivate(sim: SimState, product: dict):
    if product["status"] not in ("ACTIVATE", "PENDING", "FAILED"):
        return E.INVALID_STATUS_CHANGE, f"A {product['status']} product cannot be deactivated"
    product.update(status="SELLER_DEACTIVATED", audit_due=None, update_time=sim.later_than(product["update_time"]))
    _status_event(sim, product)
    return None


def _delete(sim: SimState, product: dict):
    if product["status"] == "DELETED":
        return E.INVALID_STATUS_CHANGE, "The product is already deleted"
    product.update(status="DELETED", audit_due=None, update_time=sim.later_than(product["update_time"]))
    _status_event(sim, product)
    return None


def _recover(sim: SimState, product: dict):
    if product["status"] != "DELETED":
        return E.INVALID_STATUS_CHANGE, "Only deleted products can be recovered"
    # UNCONFIRMED: a recovered product comes back deactivated, so nothing sells until re-activated.
    product.update(status="SELLER_DEACTIVATED", update_time=sim.later_than(product["update_time"]))
    _status_event(sim, product)
    return None


def listing_check(ctx: Ctx) -> dict:
    found = product_rules.problems(ctx.sim, ctx.body or {})
    return {"check_result": "FAILED" if found else "PASS",
            "fail_reasons": [{"code": code, "reasons": [message]} for code, message in found],
            "listing_quality": {"current_tier": "FAIR"}}


def prerequisites(ctx: Ctx) -> dict:
    sim = ctx.sim
    has_return = any(w["type"] == "RETURN_WAREHOUSE" for w in sim.warehouses.values())
    has_sales = bool(sim.sales_warehouses())
    checks = [("RETURN_WAREHOUSE", has_return, "Add a return warehouse"),
              ("SALES_WAREHOUSE", has_sales, "Add a sales warehouse"),
              ("SHIPPING_TEMPLATE", True, ""), ("TAX_INFO", True, "")]
    return {"check_results": [{"check_item": item, "is_failed": not ok, "fail_reasons": [] if ok else [why]}
                              for item, ok, why in checks]}


def update_prices(ctx: Ctx) -> dict:
    sim = ctx.sim
    product = find_product(sim, ctx.params["product_id"])
    skus = {s["id"]: s for s in product["skus"]}
    updates = (ctx.body or {}).get("skus") or []
    if not updates:
        raise ApiError(E.INVALID_PARAM, "Invalid params: skus is required")
    for row in updates:  # validate all first: the call is all-or-nothing
        if str(row.get("id")) not in skus:
            raise ApiError(E.SKU_NOT_FOUND, f"SKU {row.get('id')} does not belong to this product")
        price = row.get("price") or {}
        try:
            ok = dec(price.get("amount")) > 0
        except ValueError:
            ok = False
        if not ok or price.get("currency", sim.currency) != sim.currency:
            raise ApiError(E.INVALID_PRICE, f"Invalid price for SKU {row.get('id')}")
    for row in updates:  # skips audit and leaves the status alone (1.10)
        sku = skus[str(row["id"])]
        sku["price"] = {"amount": fmt(dec(row["price"]["amount"]), sim.currency), "currency": sim.currency}
        if "list_price" in row:
            sku["list_price"] = _list_price(row["list_price"], sim.currency)
    product["update_time"] = sim.later_than(product["update_time"])
    return {}


ROUTES = [
    ("POST", "/product/{v}/products/search", search_products, ("202309", "202312", "202502")),
    ("GET", "/product/{v}/products/{product_id}", get_product),
    ("POST", "/product/{v}/products", create_product),
    ("PUT", "/product/{v}/products/{product_id}", edit_product, ("202309", "202509")),
    ("POST", "/product/{v}/products/{product_id}/partial_edit", partial_edit_product, ("202309", "202509")),
    ("POST", "/product/{v}/products/activate", lambda ctx: _batch(ctx, _activate)),
    ("POST", "/product/{v}/products/deactivate", lambda ctx: _batch(ctx, _deactivate)),
    ("DELETE", "/product/{v}/products", lambda ctx: _batch(ctx, _delete)),
    ("POST", "/product/{v}/products/recover", lambda ctx: _batch(ctx, _recover)),
    ("POST", "/product/{v}/products/{product_id}/prices/update", update_prices),
    ("POST", "/product/{v}/products/listing_check", listing_check),
    ("GET", "/product/{v}/prerequisites", prerequisites, ("202309", "202312")),
]
