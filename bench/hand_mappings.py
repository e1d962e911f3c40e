"""The shipped mappings written out by hand in plain Python: the baselines of the P1 and P2 rows.

Each function does what its mapping does, field for field, on records the mapping maps without a
field error; the benchmarks check that both give equal outputs before anything is timed. They use
the engine's own casts and functions (a hand-written connector would need the same conversions),
so the difference measured is the mapping machinery, not the conversions.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.lang.casts import cast_datetime, cast_decimal, cast_int, cast_string
from engine.lang.functions import _convert_weight as convert_weight
from engine.lang.functions import _html_to_text as html_to_text
from engine.lang.functions import _split as split
from engine.lang.functions import decimal_text, rfc3339, to_decimal
from engine.lang.functions import parse_datetime as _parse_datetime

_STATUS = {"active": "active", "draft": "draft", "archived": "archived"}


def _truthy(value: Any) -> bool:
    """JMESPath truthiness: 0 is true; null, false and empty text, lists and objects are not."""
    if value is None or value is False:
        return False
    return len(value) > 0 if isinstance(value, str | list | dict) else True


def _put(out: dict, key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


# ------------------------------------------------------------------ shopify.product_to_canonical


def _option_names(product: dict) -> list:
    options = product.get("options")
    if not isinstance(options, list):
        return None  # object_from() refuses it: the mapping fails the record
    return [o["name"] for o in options if isinstance(o, dict) and o.get("name") is not None]


def _options_from(names: list, variant: dict) -> dict:
    values = (variant.get("option1"), variant.get("option2"), variant.get("option3"))
    return {str(k): v for k, v in zip(names, values, strict=False) if k is not None and v is not None}


def _weight(value: Any, unit: Any, grams: Any) -> dict | None:
    if value is not None and _truthy(unit):
        return {"value": cast_decimal(value), "unit": unit}
    if grams is not None:
        return {"value": cast_decimal(grams), "unit": "g"}
    return None


def shopify_product_to_canonical(product: dict, currency: str = "USD", skip_without_sku: bool = True) -> dict:
    out: dict = {}
    if product.get("id") is not None:
        out["id"] = cast_string(product["id"])
        out["external_ids"] = {"shopify": cast_string(product["id"])}
    _put(out, "handle", product.get("handle"))
    out["title"] = product["title"]
    _put(out, "description_html", product.get("body_html"))
    _put(out, "description_text", html_to_text(product.get("body_html")))
    _put(out, "brand", product.get("vendor"))
    _put(out, "vendor", product.get("vendor"))
    if product.get("product_type") is not None:
        out["category"] = {"name": product["product_type"]}
    status = product.get("status")
    if status is not None:
        out["status"] = _STATUS.get(str(status), "draft")
    else:
        out["status"] = "active" if _truthy(product.get("published_at")) else "draft"
    out["tags"] = split(product.get("tags"), ",")
    options = product.get("options")
    if isinstance(options, list):
        if any(isinstance(o, dict) and not _truthy(o.get("values")) for o in options):
            raise NotImplementedError("options without values (the older shape) are not in the benchmark data")
        out["options"] = [{k: o[k] for k in ("name", "values") if o.get(k) is not None} for o in options]
    images = product.get("images")
    if images is not None:
        out["images"] = [{k: v for k, v in (("url", i.get("src")), ("position", i.get("position")),
                                              ("width", i.get("width")), ("height", i.get("height")),
                                              ("alt", i.get("alt"))) if v is not None} for i in images]
    variants = product.get("variants")
    first = variants[0] if isinstance(variants, list) and variants and isinstance(variants[0], dict) else {}
    weight = _weight(first.get("weight"), first.get("weight_unit"), first.get("grams"))
    if weight is not None:
        out["package"] = {"weight": weight}
    if variants is not None:
        names = _option_names(product)
        any_sku = any(_truthy(v.get("sku")) for v in variants)
        keep = [v for v in variants if _truthy(v.get("sku")) or not skip_without_sku or not any_sku]
        out["variants"] = [_variant(v, product, names, currency) for v in keep]
        if skip_without_sku and any_sku and len(keep) < len(variants):
            out["skipped_variants"] = [_skipped(v, names) for v in variants if not _truthy(v.get("sku"))]
    for key in ("created_at", "updated_at"):
        if product.get(key) is not None:
            out[key] = cast_datetime(product[key])
    return out


def _variant(variant: dict, product: dict, names: list, currency: str) -> dict:
    out: dict = {"sku": variant["sku"]}
    _put(out, "title", variant.get("title"))
    _put(out, "position", variant.get("position"))
    out["options"] = _options_from(names, variant)
    out["price"] = {"amount": cast_decimal(variant["price"]), "currency": currency}
    if _truthy(variant.get("compare_at_price")):
        out["compare_at_price"] = {"amount": cast_decimal(variant["compare_at_price"]), "currency": currency}
    _put(out, "barcode", variant.get("barcode"))
    weight = _weight(variant.get("weight"), variant.get("weight_unit"), variant.get("grams"))
    if weight is not None:
        out["weight"] = weight
    if variant.get("inventory_quantity") is not None:
        out["inventory_quantity"] = cast_int(variant["inventory_quantity"])
    if _truthy(variant.get("inventory_management")) or "inventory_management" in variant:
        out["inventory_tracked"] = variant.get("inventory_management") is not None
    out["allow_backorder"] = variant.get("inventory_policy") == "continue"
    _put(out, "taxable", variant.get("taxable"))
    _put(out, "requires_shipping", variant.get("requires_shipping"))
    image_id = variant.get("image_id")
    wanted = str(image_id) if image_id is not None else None
    for image in product.get("images") or []:
        if isinstance(image, dict) and image.get("id") is not None and str(image["id"]) == wanted:
            _put(out, "image_url", image.get("src"))
            break
    ids: dict = {}
    if variant.get("id") is not None:
        ids["shopify"] = cast_string(variant["id"])
    if variant.get("inventory_item_id") is not None:
        ids["shopify_inventory_item"] = cast_string(variant["inventory_item_id"])
    if ids:
        out["external_ids"] = ids
    return out


def _skipped(variant: dict, names: list) -> dict:
    out: dict = {"reason": "no_sku"}
    _put(out, "title", variant.get("title"))
    _put(out, "position", variant.get("position"))
    out["options"] = _options_from(names, variant)
    if variant.get("id") is not None:
        out["external_ids"] = {"shopify": cast_string(variant["id"])}
    return out


# ------------------------------------------------------------------ tiktok_shop.product_from_canonical


def canonical_to_tiktok_product(product: dict, ctx: dict) -> dict:
    """`ctx`: category_map, category_attributes, image_uris, warehouse_id (and the optional ones)."""
    out: dict = {"title": product["title"]}
    description = next((v for v in (product.get("description_html"), product.get("description_text"))
                        if v not in (None, "", [])), None)
    if description is None:
        raise ValueError("description is required")
    out["description"] = description
    category = str((product.get("category") or {}).get("name"))
    category_id = ctx["category_map"][category]
    out["category_id"] = category_id
    out["category_version"] = "v2"
    _put(out, "brand_id", ctx.get("brand_id"))
    _put(out, "external_product_id", product.get("id"))
    uris = ctx["image_uris"]
    images = sorted(product.get("images") or [], key=lambda i: i["position"])[:9]
    out["main_images"] = [{"uri": uris[i["url"]]} for i in images]
    out["product_attributes"] = (ctx.get("category_attributes") or {}).get(str(category_id), [])
    unit = ctx.get("package_weight_unit", "KILOGRAM")
    weight = (product.get("package") or {}).get("weight")
    if _truthy(weight):
        out["package_weight"] = {"value": convert_weight(weight["value"], weight["unit"],
                                                         "lb" if unit == "POUND" else "kg", 2), "unit": unit}
    dimensions = (product.get("package") or {}).get("dimensions")
    if _truthy(dimensions):
        out["package_dimensions"] = {
            **{k: cast_decimal(dimensions[k]) for k in ("length", "width", "height") if dimensions.get(k) is not None},
            "unit": "INCH" if dimensions.get("unit") == "in" else "CENTIMETER"}
    else:
        _put(out, "package_dimensions", ctx.get("default_package_dimensions"))
    sku_ids, sku_map = ctx.get("sku_ids") or {}, ctx.get("sku_map") or {}
    warehouse = ctx.get("warehouse_id")
    skus = []
    for variant in product.get("variants") or []:
        sku = variant.get("sku")
        item: dict = {}
        _put(item, "id", sku_ids.get(sku))
        item["seller_sku"] = sku_map.get(sku) or sku
        _put(item, "external_sku_id", sku)
        price = variant["price"]
        item["price"] = {"amount": cast_decimal(price["amount"], 2), "currency": price["currency"]}
        cap = variant.get("compare_at_price")
        if _truthy(cap):
            listed: dict = {}
            if cap.get("amount") is not None:
                listed["amount"] = cast_decimal(cap["amount"], 2)
            _put(listed, "currency", cap.get("currency"))
            item["list_price"] = listed
        quantity = variant.get("inventory_quantity")
        item["inventory"] = [{"warehouse_id": warehouse, "quantity": max(0 if quantity is None else quantity, 0)}]
        item["sales_attributes"] = [{"name": k, "value_name": v} for k, v in (variant.get("options") or {}).items()]
        identifier = variant.get("identifier")
        if _truthy(identifier):
            code: dict = {}
            _put(code, "code", identifier.get("code"))
            _put(code, "type", identifier.get("type"))
            item["identifier_code"] = code
        skus.append(item)
    out["skus"] = skus
    return out


# ------------------------------------------------------------------ tiktok_shop.order_to_canonical

_ORDER_STATUS = {
    "UNPAID": "pending_payment", "ON_HOLD": "on_hold", "AWAITING_SHIPMENT": "awaiting_fulfillment",
    "PARTIALLY_SHIPPING": "partially_fulfilled", "AWAITING_COLLECTION": "awaiting_fulfillment",
    "IN_TRANSIT": "fulfilled", "DELIVERED": "delivered", "COMPLETED": "completed", "CANCELLED": "cancelled",
}
_RELAY = ("chat.seller.tiktok.com", "scs.tiktokw.us")
_SHIPPED = ("IN_TRANSIT", "DELIVERED", "COMPLETED")


def _money(amount: Any, currency: str | None) -> dict | None:
    if amount is None or (isinstance(amount, str) and not amount.strip()):
        return None
    return {"amount": decimal_text(to_decimal(amount)), "currency": currency}


def _sum(values: Any) -> Decimal:
    return sum((to_decimal(v) for v in values if v is not None and v != ""), Decimal(0))


def _text(value: Any) -> str | None:
    """trim() of a present value, left out when blank (the mapping's coalesce of a trim)."""
    value = None if value is None else value.strip()
    return value or None


def _time(value: Any) -> str | None:
    return rfc3339(_parse_datetime(value)) if value is not None and value > 0 else None


def _line(items: list[dict], currency: str) -> dict:
    first = items[0]
    money_of = first.get("currency") or currency
    seller, platform = _sum(i.get("seller_discount") for i in items), _sum(i.get("platform_discount") for i in items)
    taxes = [t.get("tax_amount") for i in items for t in i.get("item_tax") or []]
    line: dict = {}
    _put(line, "sku", first.get("seller_sku") or None)
    line["quantity"] = len(items)
    _put(line, "title", first.get("product_name") or None)
    _put(line, "variant_title", first.get("sku_name") or None)
    _put(line, "unit_price", _money(first.get("original_price"), money_of))
    line["discount_seller"] = _money(decimal_text(seller), money_of)
    line["discount_platform"] = _money(decimal_text(platform), money_of)
    line["discount"] = _money(decimal_text(seller + platform), money_of)
    if taxes:
        line["tax"] = _money(decimal_text(_sum(taxes)), money_of)
    rate = ((first.get("item_tax") or [{}])[0] or {}).get("tax_rate")
    if rate is not None:
        line["tax_rate"] = cast_decimal(rate)
    total = _sum(i.get("original_price") for i in items) - (seller + platform) + _sum(taxes)
    line["total"] = _money(decimal_text(total), money_of)
    line["channel_line_ids"] = [str(i["id"]) for i in items if i.get("id") is not None]
    _put(line, "channel_product_id", None if first.get("product_id") in (None, "") else str(first["product_id"]))
    _put(line, "channel_sku_id", None if first.get("sku_id") in (None, "") else str(first["sku_id"]))
    _put(line, "is_gift", first.get("is_gift"))
    live = [i for i in items if i.get("package_status") != "CANCELLED" and i.get("display_status") != "CANCELLED"]
    shipped = [i for i in items if i.get("package_status") in ("FULFILLING", "COMPLETED")
               or i.get("display_status") in _SHIPPED]
    waiting = [i for i in live if not (i.get("package_status") in ("FULFILLING", "COMPLETED")
                                       or i.get("display_status") in _SHIPPED)]
    line["fulfillment_status"] = ("cancelled" if not live else "unfulfilled" if not shipped
                                  else "fulfilled" if not waiting else "partial")
    return line


def tiktok_order_to_canonical(order: dict, connection: str = "tiktok_us") -> dict:
    """tiktok_shop.order_to_canonical on an order such as the Get Order Detail sample: one line
    per seller SKU (TikTok sends one line item per unit), money as decimal strings. Written for the
    shapes the sample has (a recipient address, sellers' SKUs, no gifts)."""
    payment = order.get("payment") or {}
    currency = payment["currency"]
    status = order["status"]
    out: dict = {"channel": connection, "channel_order_id": str(order["id"]), "order_number": str(order["id"]),
                 "status": _ORDER_STATUS[status]}
    paid = order.get("paid_time")
    out["financial_status"] = ("pending" if status == "UNPAID" else "paid" if paid is not None and paid > 0
                               else "voided" if status == "CANCELLED" else "pending")
    out["fulfillment_type"] = "platform" if order.get("fulfillment_type") == "FULFILLMENT_BY_TIKTOK" else "merchant"
    out["currency"] = currency
    address = order.get("recipient_address")
    email = _text(order.get("buyer_email"))
    buyer: dict = {}
    _put(buyer, "email", email)
    if email and "@" in email:
        buyer["email_is_relay"] = email.split("@")[-1].lower() in _RELAY
    _put(buyer, "channel_customer_id", None if order.get("user_id") in (None, "") else str(order["user_id"]))
    for key, source in (("name", "name"), ("first_name", "first_name"), ("last_name", "last_name"),
                        ("phone", "phone_number")):
        _put(buyer, key, _text((address or {}).get(source)))
    out["buyer"] = buyer
    if address:
        shipping: dict = {}
        for key, source in (("name", "name"), ("first_name", "first_name"), ("last_name", "last_name"),
                            ("phone", "phone_number"), ("line1", "address_line1")):
            _put(shipping, key, _text(address.get(source)))
        line1, line2, detail = (_text(address.get(k)) for k in ("address_line1", "address_line2", "address_detail"))
        extra = detail if detail not in (line1, line2) else None
        _put(shipping, "line2", ", ".join(p for p in (line2, extra) if p and p != '""') or None)
        for key in ("address_line3", "address_line4"):
            value = _text(address.get(key))
            _put(shipping, key.replace("address_", ""), value if value != '""' else None)
        levels = {d.get("address_level"): _text(d.get("address_name")) for d in address.get("district_info") or []}
        _put(shipping, "city", levels.get("L3") or levels.get("L2"))
        _put(shipping, "region", levels.get("L1"))
        _put(shipping, "postal_code", _text(address.get("postal_code")))
        code = _text(address.get("region_code"))
        _put(shipping, "country_code", code.upper() if code else None)
        _put(shipping, "full_address", _text(address.get("full_address")))
        out["shipping_address"] = shipping
    groups: dict[tuple, list[dict]] = {}
    for item in order.get("line_items") or []:
        key = (item.get("seller_sku"), None if item.get("seller_sku") else str(item.get("id")), item.get("is_gift") is True)
        groups.setdefault(key, []).append(item)
    out["lines"] = [_line(items, currency) for items in groups.values()]
    money: dict = {}
    for key, source in (("subtotal", "sub_total"), ("subtotal_before_discounts", "original_total_product_price"),
                        ("shipping", "shipping_fee"), ("shipping_before_discounts", "original_shipping_fee"),
                        ("shipping_discount_seller", "shipping_fee_seller_discount"),
                        ("shipping_discount_platform", "shipping_fee_platform_discount"),
                        ("discount_seller", "seller_discount"), ("discount_platform", "platform_discount"),
                        ("tax", "tax"), ("product_tax", "product_tax"), ("shipping_tax", "shipping_fee_tax")):
        _put(money, key, _money(payment.get(source), currency))
    fees = [payment.get(k) for k in ("retail_delivery_fee", "small_order_fee", "buyer_service_fee", "handling_fee",
                                      "shipping_insurance_fee", "item_insurance_fee")]
    if any(f is not None and f != "" for f in fees):
        money["fees"] = _money(decimal_text(_sum(fees)), currency)
    money["total"] = _money(payment["total_amount"], currency)
    subsidy = [payment.get("platform_discount"), payment.get("shipping_fee_platform_discount")]
    if any(f is not None and f != "" for f in subsidy):
        money["platform_subsidy"] = _money(decimal_text(_sum(subsidy)), currency)
    out["money"] = money
    out["placed_at"] = _time(order["create_time"])
    for key, source in (("paid_at", "paid_time"), ("updated_at", "update_time"), ("cancelled_at", "cancel_time")):
        _put(out, key, _time(order.get(source)))
    for key, source in (("cancel_reason", "cancel_reason"), ("notes", "buyer_message"),
                        ("payment_method", "payment_method_name"), ("shipping_method", "delivery_option_name")):
        _put(out, key, _text(order.get(source)))
    for key, source in (("is_cod", "is_cod"), ("is_sample", "is_sample_order"),
                        ("is_replacement", "is_replacement_order")):
        _put(out, key, order.get(source))
    metadata: dict = {}
    _put(metadata, "shipping_type", order.get("shipping_type") or None)
    for key in ("warehouse_id", "delivery_option_id"):
        _put(metadata, key, None if order.get(key) in (None, "") else str(order[key]))
    ids = [str(p["id"]).strip() for p in order.get("packages") or [] if p.get("id") is not None]
    _put(metadata, "package_ids", ids or None)
    _put(metadata, "cancellation_initiator", order.get("cancellation_initiator") or None)
    _put(metadata, "is_buyer_request_cancel", order.get("is_buyer_request_cancel"))
    _put(metadata, "replaced_order_id",
         None if order.get("replaced_order_id") in (None, "") else str(order["replaced_order_id"]))
    for key in ("tracking_number", "shipping_provider"):
        _put(metadata, key, _text(order.get(key)))
    out["metadata"] = metadata
    return out
