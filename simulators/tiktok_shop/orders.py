"""Orders: placing them (admin), the status machine, and the search/detail endpoints (1.11)."""

from __future__ import annotations

import copy
from decimal import Decimal

from . import errors as E
from . import inventory, packages
from .errors import ApiError
from .money import dec, fmt, quantize
from .pagination import paginate
from .products import find_sku, sale_price
from .routing import Ctx
from .state import SimState

TRANSITIONS = {
    "UNPAID": {"ON_HOLD", "AWAITING_SHIPMENT", "CANCELLED"},
    "ON_HOLD": {"AWAITING_SHIPMENT", "CANCELLED"},
    "AWAITING_SHIPMENT": {"PARTIALLY_SHIPPING", "AWAITING_COLLECTION", "IN_TRANSIT", "CANCELLED"},
    "PARTIALLY_SHIPPING": {"AWAITING_COLLECTION", "IN_TRANSIT"},
    # Not yet handed to the carrier, so still cancellable like the other pre-ship states.
    "AWAITING_COLLECTION": {"IN_TRANSIT", "CANCELLED"},
    "IN_TRANSIT": {"DELIVERED"},
    "DELIVERED": {"COMPLETED"},
    "COMPLETED": set(),
    "CANCELLED": set(),
}
MAIN_PATH = ["UNPAID", "ON_HOLD", "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION",
             "IN_TRANSIT", "DELIVERED", "COMPLETED"]
PRE_SHIP = {"UNPAID", "ON_HOLD", "AWAITING_SHIPMENT", "AWAITING_COLLECTION"}
HIDE_ADDRESS = {"UNPAID", "ON_HOLD"}  # recipient_address is not returned yet (1.11)
# Keys of recipient_address that are blanked once the order is cancelled (see _address_view).
STREET_FIELDS = ("address_detail", "address_line1", "address_line2", "address_line3", "address_line4",
                 "full_address")
MAX_DETAIL_IDS = 50
FULFILLMENT_TYPES = ("FULFILLMENT_BY_SELLER", "FULFILLMENT_BY_TIKTOK")
# Fulfilled by TikTok: the stock sits in TikTok's fulfilment centre, which is not one of the
# seller's warehouses (GET /logistics/202309/warehouses lists only those). UNCONFIRMED: the id
# FBT orders carry in warehouse_id; the simulator gives them this one, and their units are neither
# reserved from nor given back to the seller's warehouse stock.
FBT_WAREHOUSE_ID = "7068517275539719990"
ZERO_FEES = ("small_order_fee", "buyer_service_fee", "handling_fee", "shipping_insurance_fee",
             "item_insurance_fee")
# Fees the 202309 samples also give per line item; the simulator charges none of them.
LINE_FEES = ("buyer_service_fee", "retail_delivery_fee", "small_order_fee")
DAY = 24 * 3600


class OrderError(ValueError):
    """A request the buyer/platform side (admin API) cannot perform."""


def find_order(sim: SimState, order_id: str) -> dict:
    order = sim.orders.get(order_id)
    if order is None:
        raise ApiError(E.ORDER_NOT_OWNED, f"Order {order_id} does not exist or is not owned by this seller")
    return order


# -- placing ---------------------------------------------------------------------------------
def _address(sim: SimState, buyer: dict, given: dict | None) -> dict:
    if given:
        return copy.deepcopy(given)
    full = f"{buyer['address_line1']}, {buyer['city']}, {buyer['state']} {buyer['postal_code']}"
    return {
        "name": buyer["name"], "first_name": buyer["first_name"], "last_name": buyer["last_name"],
        "phone_number": buyer["phone_number"], "full_address": full, "address_line1": buyer["address_line1"],
        "address_line2": "", "address_line3": "", "address_line4": "", "address_detail": "",
        "postal_code": buyer["postal_code"], "region_code": sim.creds.region,
        "district_info": [
            {"address_level": "L0", "address_level_name": "Country", "address_name": sim.region["country"]},
            {"address_level": "L1", "address_level_name": "State", "address_name": buyer["state"]},
            {"address_level": "L3", "address_level_name": "City", "address_name": buyer["city"]},
        ],
        "delivery_preferences": {"drop_off_location": ""},
    }


def _find_line_sku(sim: SimState, spec: dict) -> tuple[dict, dict]:
    """The SKU a line spec names: by `sku_id`, or by `seller_sku` across every TikTok product
    (the merchant's own catalogue may not have it); an ACTIVATE product wins over others."""
    sku_ref = str(spec.get("sku_id") or "")
    if not sku_ref and spec.get("seller_sku"):
        candidates = [(p, s) for p in sim.products.values() for s in p["skus"]
                      if s["seller_sku"] == spec["seller_sku"] and p["status"] != "DELETED"]
        candidates.sort(key=lambda ps: ps[0]["status"] != "ACTIVATE")
        sku_ref = candidates[0][1]["id"] if candidates else ""
    found = find_sku(sim, sku_ref)
    if found is None:
        raise OrderError(f"unknown sku {spec.get('sku_id') or spec.get('seller_sku')!r}")
    return found


def _amount(value: object, name: str) -> Decimal:
    amount = dec(value)
    if amount < 0:
        raise OrderError(f"{name} must not be negative")
    return amount


def _line_items(sim: SimState, spec: dict, rate: Decimal, currency: str, order_spec: dict | None = None) -> list[dict]:
    """One line item per unit (1.11: there is no quantity field).

    Without a shop sale_tax_rate the buyer pays the seller's price and `rate` (a sales tax) comes
    on top, in item_tax. With one, the buyer pays the SKU's sale_price, which already holds the
    tax; item_tax then states the part of the line's price that is tax.

    `seller_discount` and `platform_discount` are per unit: the line spec's, else the order
    spec's. A sample order's lines cost nothing (see place_order). A fulfilled-by-seller line
    takes one unit of the SKU's available stock; when there is none the order is refused, as
    TikTok does not let a buyer check out a sold-out SKU."""
    order_spec = order_spec or {}
    product, sku = _find_line_sku(sim, spec)
    if product["status"] != "ACTIVATE":
        raise OrderError(f"product {product['id']} is {product['status']}, buyers can only order ACTIVATE products")
    quantity = int(spec.get("quantity", 1))
    if quantity < 1:
        raise OrderError("quantity must be at least 1")
    included = sim.sale_tax_rate
    sample = bool(order_spec.get("is_sample_order"))
    fbt = order_spec.get("fulfillment_type") == "FULFILLMENT_BY_TIKTOK"

    def per_unit(key: str) -> Decimal:
        return _amount(spec.get(key) if spec.get(key) not in (None, "") else order_spec.get(key), key)

    if sample:
        # UNCONFIRMED: a free sample (a creator's sample request) is read here as an order whose
        # every price, discount and tax is zero; no sample order payload has been seen.
        original = seller_disc = platform_disc = Decimal(0)
    else:
        original = sale_price(sim, sku) if included else dec(sku["price"]["amount"])
        seller_disc, platform_disc = per_unit("seller_discount"), per_unit("platform_discount")
    sale = original - seller_disc - platform_disc
    if sale < 0:
        raise OrderError("discounts exceed the price")
    if included:
        tax, rate = sale - quantize(sale / (1 + included), currency), included
    else:
        tax = (sale * rate).quantize(Decimal("0.01"))
    sku_name = ", ".join(a["value_name"] for a in sku["sales_attributes"]) or "Default"
    image = (product.get("main_images") or [{}])[0].get("uri", "")
    warehouses: list[str] = []
    if fbt:
        warehouses = [FBT_WAREHOUSE_ID] * quantity
    else:
        try:
            for _ in range(quantity):
                warehouses.append(inventory.reserve(sim, sku["id"], 1, spec.get("warehouse_id")))
        except ValueError:
            for warehouse in warehouses:
                inventory.release(sim, sku["id"], warehouse)
            available = sum(r["quantity"] for r in sku["inventory"])
            raise OrderError(f"sku {sku['id']} ({sku['seller_sku']}) is out of stock: {quantity} wanted, "
                             f"{available + len(warehouses)} available") from None
    return [{
        "id": sim.ids.new("line_item"), "sku_id": sku["id"], "product_id": product["id"],
        "seller_sku": sku["seller_sku"], "product_name": product.get("title", ""), "sku_name": sku_name,
        "sku_image": sim.images.get(image, {}).get("url", ""),
        "original_price": fmt(original, currency), "sale_price": fmt(sale, currency),
        "seller_discount": fmt(seller_disc, currency), "platform_discount": fmt(platform_disc, currency),
        "currency": currency, "display_status": "UNPAID", "package_id": "", "package_status": "TO_FULFILL",
        "tracking_number": "", "shipping_provider_id": "", "shipping_provider_name": "", "rts_time": 0,
        "cancel_user": "", "cancel_reason": "", "sku_type": "NORMAL", "is_gift": False,
        "handling_duration_days": str(sim.order_defaults["handling_days"]),
        **{fee: fmt(Decimal(0), currency) for fee in LINE_FEES},
        # UNCONFIRMED: the samples only show SALES_TAX; VAT names tax held in the price.
        "item_tax": [{"tax_type": "VAT" if included else "SALES_TAX", "tax_amount": fmt(tax, currency),
                      "tax_rate": str(rate)}],
        "combined_listing_skus": [], "_warehouse_id": warehouse,
    } for warehouse in warehouses]


def _payment(lines: list[dict], spec: dict, defaults: dict, currency: str, tax_included: bool) -> dict:
    """payment, to the cent, by the 1.11 formulas. Every amount is the sum of already rounded
    parts, so sub_total and total_amount equal the sums a reader makes from the strings."""
    def total(key: str) -> Decimal:
        return sum((dec(li[key]) for li in lines), Decimal(0))

    def money_in(key: str, default: object = None) -> Decimal:
        return quantize(_amount(spec.get(key, default), key), currency)

    sample = bool(spec.get("is_sample_order"))
    original = total("original_price")
    seller, platform = total("seller_discount"), total("platform_discount")
    sub_total = original - seller - platform
    original_shipping = Decimal(0) if sample else money_in("shipping_fee", defaults["shipping_fee"])
    ship_seller = Decimal(0) if sample else money_in("shipping_fee_seller_discount")
    ship_platform = Decimal(0) if sample else money_in("shipping_fee_platform_discount")
    shipping = original_shipping - ship_seller - ship_platform
    if shipping < 0:
        raise OrderError("shipping fee discounts exceed the shipping fee")
    product_tax = sum((dec(li["item_tax"][0]["tax_amount"]) for li in lines), Decimal(0))
    shipping_tax = Decimal(0) if sample else money_in("shipping_fee_tax")
    tax = product_tax + shipping_tax
    retail = Decimal(0) if sample else money_in("retail_delivery_fee", defaults["retail_delivery_fee"])
    money = {
        "original_total_product_price": original, "seller_discount": seller, "platform_discount": platform,
        "sub_total": sub_total, "original_shipping_fee": original_shipping,
        "shipping_fee_seller_discount": ship_seller, "shipping_fee_platform_discount": ship_platform,
        "shipping_fee": shipping, "product_tax": product_tax, "shipping_fee_tax": shipping_tax, "tax": tax,
        "retail_delivery_fee": retail,
        # 1.11: total_amount = sub_total + shipping_fee + taxes + retail_delivery_fee, where the
        # prices do not already hold the tax.
        "total_amount": sub_total + shipping + (Decimal(0) if tax_included else tax) + retail,
    }
    out = {k: fmt(v, currency) for k, v in money.items()}
    out.update({k: fmt(Decimal(0), currency) for k in ZERO_FEES})
    out["currency"] = currency
    return out


def _flags(sim: SimState, spec: dict) -> dict:
    """The order-level choices a spec may make, checked."""
    fulfillment_type = spec.get("fulfillment_type") or "FULFILLMENT_BY_SELLER"
    if fulfillment_type not in FULFILLMENT_TYPES:
        raise OrderError(f"fulfillment_type must be one of {', '.join(FULFILLMENT_TYPES)}")
    shipping_type = spec.get("shipping_type") or "TIKTOK"
    if shipping_type not in ("TIKTOK", "SELLER"):
        raise OrderError("shipping_type must be TIKTOK or SELLER")
    if fulfillment_type == "FULFILLMENT_BY_TIKTOK" and shipping_type != "TIKTOK":
        raise OrderError("an order fulfilled by TikTok ships with TikTok (shipping_type TIKTOK)")
    replacement = bool(spec.get("is_replacement_order") or spec.get("replaced_order_id"))
    if spec.get("is_replacement_order") is False and spec.get("replaced_order_id"):
        raise OrderError("replaced_order_id needs is_replacement_order")
    flags = {"fulfillment_type": fulfillment_type, "shipping_type": shipping_type,
             "is_on_hold_order": bool(spec.get("is_on_hold_order")),
             "is_sample_order": bool(spec.get("is_sample_order")), "is_replacement_order": replacement}
    if replacement:
        replaced = str(spec.get("replaced_order_id") or "")
        if not replaced:
            raise OrderError("a replacement order needs replaced_order_id")
        flags["replaced_order_id"] = replaced
    return flags


def place_order(sim: SimState, spec: dict) -> dict:
    """A buyer places an order (UNPAID); `status` in the spec then walks it forward.

    Spec keys beyond the line items (each optional):
    - `fulfillment_type`: FULFILLMENT_BY_SELLER (default) or FULFILLMENT_BY_TIKTOK. TikTok ships
      FBT orders itself: the seller's ship endpoints refuse them, the admin advance moves them.
    - `is_on_hold_order`: the order will go through ON_HOLD after payment (1.11, LY: the flag
      says the order "experienced or will experience" ON_HOLD, so it is true from the start).
    - `is_sample_order`: every price is zero (UNCONFIRMED, see _line_items).
    - `is_replacement_order` with `replaced_order_id` (returned only on replacement orders).
    - `seller_discount`, `platform_discount`: per unit, for lines that give none of their own.
    - `shipping_fee`, `shipping_fee_seller_discount`, `shipping_fee_platform_discount`,
      `shipping_fee_tax`, `retail_delivery_fee`, `tax_rate`, `shipping_type`, `is_cod`,
      `buyer`, `recipient_address`, `delivery_option_id`, `buyer_message`, `id`.
    A fulfilled-by-seller line for a SKU without enough available stock refuses the whole order
    (OrderError; the admin API answers 400): a real buyer cannot check out a sold-out SKU.
    """
    currency = sim.currency
    defaults = sim.order_defaults
    tax_included = bool(sim.sale_tax_rate)
    rate = dec(spec.get("tax_rate", "0" if tax_included else defaults["tax_rate"]))
    flags = _flags(sim, spec)
    line_spec = spec | {"fulfillment_type": flags["fulfillment_type"], "is_sample_order": flags["is_sample_order"]}
    specs = spec.get("line_items") or []
    if not specs:
        raise OrderError("line_items is required")
    lines: list[dict] = []
    try:
        for item in specs:
            lines += _line_items(sim, item, rate, currency, line_spec)
        payment = _payment(lines, line_spec, defaults, currency, tax_included)
    except (OrderError, ValueError):
        for line in lines:  # give back what the earlier items reserved
            inventory.release(sim, line["sku_id"], line["_warehouse_id"])
        raise
    buyer = copy.deepcopy(spec.get("buyer") or sim.buyers[sim.ids.rng.randrange(len(sim.buyers))])
    now = sim.now()
    option = sim.delivery_options.get(spec.get("delivery_option_id") or defaults["delivery_option_id"])
    order = {
        "id": str(spec.get("id") or sim.ids.new("order")), "status": "UNPAID",
        "user_id": buyer.get("user_id", ""), "buyer_email": buyer.get("email", ""),
        "buyer_message": spec.get("buyer_message", ""), "seller_note": "",
        "create_time": now, "update_time": now, "paid_time": 0,
        "fulfillment_type": flags["fulfillment_type"], "shipping_type": flags["shipping_type"],
        "delivery_type": "HOME_DELIVERY", "delivery_option_id": option["id"] if option else "",
        "delivery_option_name": option["name"] if option else "", "warehouse_id": lines[0]["_warehouse_id"],
        "tracking_number": "", "shipping_provider": "", "shipping_provider_id": "", "packages": [],
        "split_or_combine_tag": "", "is_cod": bool(spec.get("is_cod", False)),
        "is_on_hold_order": flags["is_on_hold_order"], "is_sample_order": flags["is_sample_order"],
        "is_replacement_order": flags["is_replacement_order"], "is_buyer_request_cancel": False,
        "cancel_reason": "", "cancellation_initiator": "",
        "rts_sla_time": 0, "tts_sla_time": 0, "shipping_due_time": 0, "collection_due_time": 0,
        "delivery_due_time": 0, "cancel_order_sla_time": now + DAY,
        # Times of what has not happened yet read 0, like the SLA times above.
        "rts_time": 0, "collection_time": 0, "delivery_time": 0, "cancel_time": 0, "request_cancel_time": 0,
        "delivery_sla_time": 0, "fast_dispatch_sla_time": 0, "pick_up_cut_off_time": 0,
        "delivery_option_required_delivery_time": 0, "has_updated_recipient_address": False,
        "handling_duration": {"days": str(defaults["handling_days"]), "type": "BUSINESS_DAY"},
        "payment_method_name": defaults["payment_method_name"], "commerce_platform": "TIKTOK_SHOP",
        "order_type": "NORMAL", "payment": payment,
        "recipient_address": _address(sim, buyer, spec.get("recipient_address")), "line_items": lines,
        "_history": [("UNPAID", now)], "_tax_included": tax_included,
    }
    if flags["is_replacement_order"]:
        order["replaced_order_id"] = flags["replaced_order_id"]
    if order["id"] in sim.orders:
        for line in lines:
            inventory.release(sim, line["sku_id"], line["_warehouse_id"])
        raise OrderError(f"order {order['id']} exists already")
    sim.orders[order["id"]] = order
    _announce(sim, order)
    target = spec.get("status")
    if target and target != "UNPAID":
        advance(sim, order, target)
    return order


def is_fbt(order: dict) -> bool:
    return order["fulfillment_type"] == "FULFILLMENT_BY_TIKTOK"


# -- status machine -------------------------------------------------------------------------------
def _announce(sim: SimState, order: dict) -> None:
    # The keys in the order of the signed 1.12 vector (its raw body is signed byte for byte).
    sim.emit("ORDER_STATUS_CHANGE", {"is_on_hold_order": order["is_on_hold_order"], "order_id": order["id"],
                                     "order_status": order["status"], "update_time": order["update_time"]})


def set_status(sim: SimState, order: dict, status: str) -> None:
    """Record a status change (callers have already done the fulfilment work)."""
    if status == order["status"]:
        return
    now = sim.later_than(order["update_time"])
    if order["status"] == "UNPAID" and status in ("ON_HOLD", "AWAITING_SHIPMENT"):
        order["paid_time"] = now
    if status == "ON_HOLD":  # the flag stays once the order has been on hold (1.11)
        order["is_on_hold_order"] = True
    if status == "AWAITING_SHIPMENT" and not order["rts_sla_time"]:
        order.update(rts_sla_time=now + 3 * DAY, tts_sla_time=now + 4 * DAY, shipping_due_time=now + 3 * DAY,
                     collection_due_time=now + 5 * DAY, delivery_due_time=now + 10 * DAY,
                     delivery_sla_time=now + 10 * DAY)
    # rts_time: when the seller shipped (arranged or handed over); collection_time: IN_TRANSIT;
    # delivery_time: DELIVERED; cancel_time: CANCELLED (202309 order detail field notes).
    if status in ("AWAITING_COLLECTION", "PARTIALLY_SHIPPING", "IN_TRANSIT") and not order["rts_time"]:
        order["rts_time"] = now
    stamp = {"IN_TRANSIT": "collection_time", "DELIVERED": "delivery_time", "CANCELLED": "cancel_time"}.get(status)
    if stamp and not order[stamp]:
        order[stamp] = now
    order["status"], order["update_time"] = status, now
    for line in order["line_items"]:
        if line["package_status"] != "CANCELLED":
            line["display_status"] = status
    order["_history"].append((status, now))
    _announce(sim, order)


def cancel_lines(sim: SimState, order: dict, line_ids: list[str], initiator: str, reason: str) -> None:
    for line in order["line_items"]:
        if line["id"] in line_ids and line["package_status"] in packages.OPEN_LINE:
            inventory.release(sim, line["sku_id"], line["_warehouse_id"])
            line.update(package_status="CANCELLED", display_status="CANCELLED",
                        cancel_user=initiator, cancel_reason=reason)
    for pkg in [p for p in sim.packages.values() if p["order_id"] == order["id"] and not p["shipped"]]:
        if all(li["package_status"] == "CANCELLED" for li in order["line_items"] if li["id"] in pkg["line_item_ids"]):
            pkg.update(package_status="CANCELLED", update_time=sim.later_than(pkg["update_time"]))
    if not packages.live_lines(order):
        order.update(cancel_reason=reason, cancellation_initiator=initiator)
        set_status(sim, order, "CANCELLED")


def _step(sim: SimState, order: dict, to: str) -> None:
    """One admin-driven edge, with the fulfilment side effects a real buyer/carrier causes."""
    pkgs = [p for p in sim.packages.values() if p["order_id"] == order["id"] and p["package_status"] != "CANCELLED"]
    if to == "CANCELLED":
        if order["status"] == "UNPAID":
            # UNCONFIRMED: an order the buyer drops before paying closes without a cancellation record.
            cancel_lines(sim, order, [li["id"] for li in order["line_items"]], "BUYER", "Buyer cancelled")
            return
        # A paid order: the buyer asks and the seller agrees, with the records and events of that.
        from .aftersales import (  # aftersales builds on orders
            approve_buyer_cancellation,
            buyer_cancel_request,
        )

        approve_buyer_cancellation(sim, buyer_cancel_request(sim, {"order_id": order["id"],
                                                                   "cancel_reason": "Buyer cancelled"}))
        return
    if to == "PARTIALLY_SHIPPING":
        first = next(li for li in packages.live_lines(order) if li["package_status"] in packages.OPEN_LINE)
        pkg = packages.new_package(sim, order, [first["id"]])
        packages.ship(sim, order, pkg)
        if packages.shipping_state(order) != "PARTIALLY_SHIPPING":
            raise OrderError("an order with one unit cannot be partially shipped")
    elif to == "AWAITING_COLLECTION":
        for pkg in pkgs:
            if not pkg["ready"]:
                packages.arrange(sim, order, pkg)
    elif to == "IN_TRANSIT":
        for pkg in pkgs:
            if not pkg["shipped"]:
                packages.ship(sim, order, pkg)
    elif to == "DELIVERED":
        for pkg in pkgs:
            packages.deliver(sim, order, pkg)
    set_status(sim, order, to)
    if to == "AWAITING_SHIPMENT":
        packages.ensure_package(sim, order)


def advance(sim: SimState, order: dict, to: str) -> None:
    """Move to `to`: one edge, or a walk along the forward path (skipping optional states)."""
    current = order["status"]
    if to not in TRANSITIONS:
        raise OrderError(f"unknown status {to!r}")
    through_hold = order["is_on_hold_order"] and current == "UNPAID" and to not in ("ON_HOLD", "CANCELLED")
    if to in TRANSITIONS[current] and not through_hold:
        _step(sim, order, to)
        return
    if to in MAIN_PATH and current in MAIN_PATH and MAIN_PATH.index(to) > MAIN_PATH.index(current):
        skip = {"PARTIALLY_SHIPPING"}
        if not order["is_on_hold_order"]:
            skip.add("ON_HOLD")
        if order["shipping_type"] == "SELLER":
            skip.add("AWAITING_COLLECTION")  # the seller ships with its own carrier: no pickup wait
        for status in MAIN_PATH[MAIN_PATH.index(current) + 1:MAIN_PATH.index(to) + 1]:
            if status not in skip or status == to:
                _step(sim, order, status)
        return
    raise OrderError(f"order {order['id']} cannot go from {current} to {to}")


ADDRESS_CHANGEABLE = {"UNPAID", "ON_HOLD", "AWAITING_SHIPMENT"}


def update_address(sim: SimState, order: dict, fields: dict) -> dict:
    """The buyer changes the delivery address before anything ships: the given recipient_address
    keys replace the old ones, has_updated_recipient_address turns true and RECIPIENT_ADDRESS_UPDATE
    (1.12 type 3) tells subscribers. UNCONFIRMED: up to which status TikTok allows the change; the
    simulator allows it until a label is arranged or a package shipped."""
    if order["status"] not in ADDRESS_CHANGEABLE or any(
            li["package_status"] != "TO_FULFILL" for li in packages.live_lines(order)):
        raise OrderError(f"the address of an order in {order['status']} can no longer change")
    unknown = sorted(set(fields) - set(order["recipient_address"]))
    if unknown:
        raise OrderError(f"unknown recipient_address keys: {', '.join(unknown)}")
    order["recipient_address"].update(copy.deepcopy(fields))
    order["has_updated_recipient_address"] = True
    order["update_time"] = sim.later_than(order["update_time"])
    sim.emit("RECIPIENT_ADDRESS_UPDATE", {"order_id": order["id"], "update_time": order["update_time"]})
    return order


# -- views and endpoints ---------------------------------------------------------------------
def _mask(text: str) -> str:
    return f"{text[0]}***" if text else ""


def _address_view(order: dict) -> dict | None:
    """recipient_address as reads give it. Not returned while UNPAID or ON_HOLD (1.11). Once the
    order is CANCELLED the object keeps every key, but the name and phone are masked and the street
    lines blank. UNCONFIRMED beyond what the 202309 samples show: those carry cancel fields and an
    address whose phone is masked ("(+1)213-***-1234") and whose spare lines are blank."""
    if order["status"] in HIDE_ADDRESS:
        return None
    address = copy.deepcopy(order["recipient_address"])
    if order["status"] == "CANCELLED":
        for key in ("name", "first_name", "last_name"):
            address[key] = _mask(str(address.get(key) or ""))
        phone = str(address.get("phone_number") or "")
        address["phone_number"] = phone[:phone.index(")") + 1] + "***-***-****" if ")" in phone else "***"
        address.update({key: "" for key in STREET_FIELDS})
    return address


def order_view(order: dict) -> dict:
    view = {k: copy.deepcopy(v) for k, v in order.items() if not k.startswith("_")}
    view["line_items"] = [{k: v for k, v in li.items() if not k.startswith("_")} for li in order["line_items"]]
    address = _address_view(order)
    if address is None:
        view.pop("recipient_address", None)
    else:
        view["recipient_address"] = address
    return view


def get_orders(ctx: Ctx) -> dict:
    ids = [i for i in (ctx.query.get("ids") or "").split(",") if i]
    if not ids or len(ids) > MAX_DETAIL_IDS:
        raise ApiError(E.INVALID_PARAM, f"Invalid params: ids must hold 1 to {MAX_DETAIL_IDS} order ids")
    # UNCONFIRMED: unknown ids are left out of the answer rather than failing the whole call.
    return {"orders": [order_view(ctx.sim.orders[i]) for i in ids if i in ctx.sim.orders]}


def search_orders(ctx: Ctx) -> dict:
    body, q = ctx.body or {}, ctx.query
    sort_field = q.get("sort_field") or "create_time"
    sort_order = q.get("sort_order") or "DESC"
    if sort_field not in ("create_time", "update_time") or sort_order not in ("ASC", "DESC"):
        raise ApiError(E.INVALID_PARAM, "Invalid params: sort_field/sort_order")

    def keep(o: dict) -> bool:
        if body.get("order_status") and o["status"] != body["order_status"]:
            return False
        for key in ("create_time", "update_time"):
            if body.get(f"{key}_ge") is not None and o[key] < body[f"{key}_ge"]:
                return False
            if body.get(f"{key}_lt") is not None and o[key] >= body[f"{key}_lt"]:
                return False
        if body.get("shipping_type") and o["shipping_type"] != body["shipping_type"]:
            return False
        if body.get("buyer_user_id") and o["user_id"] != body["buyer_user_id"]:
            return False
        if "is_buyer_request_cancel" in body and o["is_buyer_request_cancel"] != body["is_buyer_request_cancel"]:
            return False
        return not body.get("warehouse_ids") or o["warehouse_id"] in body["warehouse_ids"]

    matches = sorted((o for o in ctx.sim.orders.values() if keep(o)),
                     key=lambda o: (o[sort_field], o["id"]), reverse=sort_order == "DESC")
    page, meta = paginate("orders", matches, q, [body, sort_field, sort_order])
    return {"orders": [order_view(o) for o in page], **meta}


ROUTES = [
    ("GET", "/order/{v}/orders", get_orders, ("202309", "202507")),
    ("POST", "/order/{v}/orders/search", search_orders),
]
