"""Orders and their transactions (sections 2.2, 2.3 and 2.9)."""

from __future__ import annotations

import hashlib
from decimal import ROUND_DOWN, Decimal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import fulfillment
from .customers import record_order, resolve_for_order
from .errors import ApiError, invalid
from .http import body_json, root, sim
from .inventory import change_stock, connected_locations
from .order_model import (
    filter_orders,
    get_order,
    money_totals,
    order_sort,
    order_transactions,
    refresh_financial_status,
    render_order,
    set_money,
)
from .paging import ListQuery, paginate, parse_list, project
from .state import ShopState
from .values import ZERO, JSONResponse, as_int, dec, gid, money, money_set
from .webhooks import emit

BEHAVIOURS = ("bypass", "decrement_ignoring_policy", "decrement_obeying_policy")
FINANCIAL = ("pending", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided")
KINDS = ("authorization", "capture", "sale", "void", "refund")
UPDATABLE = ("email", "phone", "note", "buyer_accepts_marketing", "shipping_address", "note_attributes")


def _tax_lines(given: list | None, currency: str) -> list[dict]:
    out = []
    for tax in given or []:
        price = dec(tax.get("price"), "tax_lines")
        out.append(
            {
                "title": tax.get("title", "Tax"),
                "price": money(price),
                "rate": float(tax.get("rate") or 0),
                "price_set": {"shop_money": {"amount": money(price), "currency_code": currency},
                              "presentment_money": {"amount": money(price), "currency_code": currency}},
                "channel_liable": bool(tax.get("channel_liable", False)),
            }
        )  # fmt: skip
    return out


def _pick_location(state: ShopState, variant: dict | None, quantity: int) -> int:
    """Where a line ships from: the first stocked location that can cover it, else the first one
    the item is stocked at, else the primary location. Production routing is richer (UNCONFIRMED)."""
    if variant is None:
        return state.primary_location()
    stocked = connected_locations(state, variant["inventory_item_id"])
    for location_id in stocked:
        if state.db.levels[(variant["inventory_item_id"], location_id)]["available"] >= quantity:
            return location_id
    return stocked[0] if stocked else state.primary_location()


def _line_discount_input(state: ShopState, data: dict) -> list[tuple[Decimal, int | None]]:
    """A line's own discounts as (amount, discount_application_index or None).

    UNCONFIRMED which of these the REST create honours: the reference lists neither as create
    input; an open ShopifySharp issue (#881) reports line `discount_allocations` ignored on
    create, while integrations send `total_discount`. The simulator takes what the setting
    `line_discount_inputs` names (both by default; "" ignores both, as that issue reports)."""
    honoured = {p.strip() for p in state.settings.line_discount_inputs.split(",") if p.strip()}
    out: list[tuple[Decimal, int | None]] = []
    if "discount_allocations" in honoured and data.get("discount_allocations"):
        for alloc in data["discount_allocations"]:
            amount = dec(alloc.get("amount"), "discount_allocations")
            index = alloc.get("discount_application_index")
            out.append((amount, int(index) if index is not None else None))
    elif "total_discount" in honoured and data.get("total_discount") not in (None, ""):
        out.append((dec(data.get("total_discount"), "total_discount"), None))
    if any(amount < 0 for amount, _ in out):
        raise invalid("line_items", "discount amounts must not be negative")
    return out


def _line(state: ShopState, data: dict, currency: str, behaviour: str) -> dict:
    if not isinstance(data, dict):
        raise invalid("line_items", "is invalid")
    quantity = as_int(data.get("quantity", 1), "quantity")
    if quantity < 1:
        raise invalid("line_items", "quantity must be greater than or equal to 1")
    variant = product = None
    if data.get("variant_id") is not None:
        variant = state.db.variants.get(as_int(data["variant_id"], "variant_id"))
        if variant is None:
            raise invalid("line_items", f"variant_id {data['variant_id']} is invalid")
        product = state.db.products[variant["product_id"]]
    elif not data.get("title"):
        raise invalid("line_items", "title can't be blank for a custom line item")
    price = dec(data["price"] if data.get("price") is not None else (variant or {}).get("price"), "price")
    title = data.get("title") or product["title"]  # type: ignore[index]
    variant_title = None if not variant or variant["title"] == "Default Title" else variant["title"]
    tracked = bool(variant and state.db.inventory_items[variant["inventory_item_id"]]["tracked"])
    location_id = _pick_location(state, variant, quantity)
    decrement = behaviour != "bypass" and tracked
    if decrement and behaviour == "decrement_obeying_policy" and variant["inventory_policy"] == "deny":  # type: ignore[index]
        available = state.db.levels.get((variant["inventory_item_id"], location_id), {}).get("available", 0)  # type: ignore[index]
        if available < quantity:
            # Wording UNCONFIRMED; an out-of-stock line under this policy refuses the order.
            raise invalid(
                "line_items", f"{title} is out of stock (requested {quantity}, available {available})"
            )
    ident = state.new_id()
    return {
        "id": ident,
        "admin_graphql_api_id": gid("LineItem", ident),
        "variant_id": variant["id"] if variant else None,
        "product_id": product["id"] if product else None,
        "title": title,
        "variant_title": variant_title,
        "name": f"{title} - {variant_title}" if variant_title else title,
        "sku": data.get("sku") or (variant or {}).get("sku") or None,
        "vendor": data.get("vendor") or (product or {}).get("vendor"),
        "quantity": quantity,
        "current_quantity": quantity,
        "fulfillable_quantity": quantity,
        "fulfillment_status": None,
        "fulfillment_service": "manual",
        "price": money(price),
        "price_set": {"shop_money": {"amount": money(price), "currency_code": currency},
                      "presentment_money": {"amount": money(price), "currency_code": currency}},
        # Set by _discounts once every line is known (line-level input and discount codes).
        "total_discount": money(ZERO),
        "total_discount_set": money_set(ZERO, currency),
        "attributed_staffs": [],
        "duties": [],
        "grams": int(data.get("grams") or (variant or {}).get("grams") or 0),
        "requires_shipping": bool(data.get("requires_shipping", (variant or {}).get("requires_shipping", True))),
        "taxable": bool(data.get("taxable", (variant or {}).get("taxable", True))),
        "tax_lines": _tax_lines(data.get("tax_lines"), currency),
        "discount_allocations": [],
        "properties": [{"name": str(p.get("name")), "value": p.get("value")} for p in data.get("properties") or []
                       if isinstance(p, dict)],
        "gift_card": bool(data.get("gift_card", False)),
        "product_exists": product is not None,
        "variant_inventory_management": (variant or {}).get("inventory_management"),
        "_location_id": location_id,
        "_discount_input": _line_discount_input(state, data),
        "_decremented": decrement,
        "_fulfilled": 0,
        "_returned": 0,
    }  # fmt: skip


# Every key of an order address in the 2025-01 order sample, in its order.
ADDRESS_KEYS = ("first_name", "address1", "phone", "city", "zip", "province", "country", "last_name",
                "address2", "company", "latitude", "longitude", "name", "country_code", "province_code")


def _address(data: dict | None) -> dict | None:
    """An order address with every key the sample has; what was not sent is null."""
    if not data:
        return None
    out = {key: data.get(key) for key in ADDRESS_KEYS}
    names = (data.get("first_name"), data.get("last_name"))
    out["name"] = data.get("name") or " ".join(p for p in names if p)
    return out


def _shipping_line(state: ShopState, data: dict, currency: str) -> dict:
    if not isinstance(data, dict):
        raise invalid("shipping_lines", "is invalid")
    price = dec(data.get("price"), "shipping_lines")
    return {
        "id": state.new_id(),
        "carrier_identifier": None,
        "code": data.get("code") or data.get("title"),
        "discounted_price": money(price),
        "discounted_price_set": money_set(price, currency),
        "is_removed": False,
        "phone": None,
        "price": money(price),
        "price_set": money_set(price, currency),
        "requested_fulfillment_service_id": None,
        "source": data.get("source", "shopify"),
        "title": data.get("title", "Shipping"),
        "tax_lines": _tax_lines(data.get("tax_lines"), currency),
        "discount_allocations": [],
    }


def _allocation(amount: Decimal, index: int, currency: str) -> dict:
    return {"amount": money(amount), "amount_set": money_set(amount, currency), "discount_application_index": index}


def _split(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """`amount` shared in proportion to `weights`, in cents; the rounding remainder goes to the
    first share (the 2025-01 sample splits 10.00 over three equal lines as 3.34, 3.33, 3.33)."""
    total = sum(weights, ZERO)
    if not total:
        return [ZERO for _ in weights]
    shares = [(amount * w / total).quantize(Decimal("0.01"), rounding=ROUND_DOWN) for w in weights]
    shares[0] += amount - sum(shares, ZERO)
    return shares


def _discounts(data: dict, lines: list[dict], shipping_lines: list[dict], codes: list[dict],
               currency: str) -> list[dict]:
    """discount_applications, and the discount_allocations of every line and shipping line.

    Discount codes come first, as in the 2025-01 sample: a line-item code is shared over the lines
    by price ("across"), a shipping code goes on the shipping lines. A line's own discounts
    (_line_discount_input) point at the caller's discount_applications when they give an index and
    the order has one there, else at a manual application of their own. A line's total_discount is
    its own discounts only: the sample shows "0.00" on a line that has a code allocation."""
    given = [a for a in data.get("discount_applications") or [] if isinstance(a, dict)]
    applications = [
        {"target_type": "shipping_line" if c["type"] == "shipping" else "line_item", "type": "discount_code",
         "value": c["amount"], "value_type": "fixed_amount" if c["type"] == "shipping" else c["type"],
         "allocation_method": "across", "target_selection": "all", "code": c["code"]}
        for c in codes
    ]
    for index, code in enumerate(codes):
        amount = dec(code["amount"])
        targets = shipping_lines if code["type"] == "shipping" else lines
        weights = [dec(t["price"]) * t.get("quantity", 1) for t in targets]
        for target, share in zip(targets, _split(amount, weights), strict=True):
            if share:
                target["discount_allocations"].append(_allocation(share, index, currency))
    offset = len(applications)
    applications += [
        {"target_type": a.get("target_type", "line_item"), "type": a.get("type", "manual"),
         "value": str(a.get("value", "0")), "value_type": a.get("value_type", "fixed_amount"),
         "allocation_method": a.get("allocation_method", "one"),
         "target_selection": a.get("target_selection", "explicit"),
         "title": a.get("title"), "description": a.get("description", a.get("title"))}
        for a in given
    ]
    for line in lines:
        own = ZERO
        for amount, index in line["_discount_input"]:
            if index is None or not 0 <= index < len(given):
                applications.append({"target_type": "line_item", "type": "manual", "value": money(amount),
                                     "value_type": "fixed_amount", "allocation_method": "one",
                                     "target_selection": "explicit", "title": "Discount",
                                     "description": "Discount"})
                target_index = len(applications) - 1
            else:
                target_index = offset + index
            line["discount_allocations"].append(_allocation(amount, target_index, currency))
            own += amount
        if line_discount(line) > dec(line["price"]) * line["quantity"]:
            raise invalid("line_items", "discounts exceed the line's price")
        line["total_discount"], line["total_discount_set"] = money(own), money_set(own, currency)
    for ship in shipping_lines:
        off = sum((dec(a["amount"]) for a in ship["discount_allocations"]), ZERO)
        ship["discounted_price"] = money(max(ZERO, dec(ship["price"]) - off))
        ship["discounted_price_set"] = money_set(max(ZERO, dec(ship["price"]) - off), currency)
    return applications


def line_discount(line: dict) -> Decimal:
    """Everything taken off a line: the sum of its discount allocations."""
    return sum((dec(a["amount"]) for a in line["discount_allocations"]), ZERO)


def _totals(order: dict, shipping_lines: list[dict], order_taxes: list[dict], codes: list[dict]) -> None:
    currency = order["currency"]
    lines = order["line_items"]
    line_total = sum((dec(li["price"]) * li["quantity"] for li in lines), ZERO)
    # subtotal_price is after line discounts; shipping discounts come off the shipping instead.
    discounts = sum((line_discount(li) for li in lines), ZERO)
    tax = sum((dec(t["price"]) for t in order_taxes), ZERO)
    tax += sum((dec(t["price"]) for li in lines for t in li["tax_lines"]), ZERO)
    tax += sum((dec(t["price"]) for s in shipping_lines for t in s["tax_lines"]), ZERO)
    shipping = sum((dec(s["discounted_price"]) for s in shipping_lines), ZERO)
    shipping_discounts = sum((dec(s["price"]) - dec(s["discounted_price"]) for s in shipping_lines), ZERO)
    subtotal = line_total - discounts
    total = subtotal + shipping + (ZERO if order["taxes_included"] else tax)
    for field, value in (
        ("total_line_items_price", line_total),
        ("total_discounts", discounts + shipping_discounts),
        ("subtotal_price", subtotal),
        ("total_tax", tax),
        ("total_price", total),
        ("current_subtotal_price", subtotal),
        ("current_total_discounts", discounts + shipping_discounts),
        ("current_total_tax", tax),
        ("current_total_price", total),
    ):
        set_money(order, field, value, currency)
    # The samples give shipping only as total_shipping_price_set (after shipping discounts), with
    # no plain string twin.
    order["total_shipping_price_set"] = money_set(shipping, currency)
    order["total_outstanding"] = money(total)
    order["total_weight"] = sum(li["grams"] * li["quantity"] for li in lines)


def add_transaction(state: ShopState, order: dict, data: dict, **defaults) -> dict:  # noqa: ANN003
    values = defaults | {k: v for k, v in data.items() if v is not None}
    kind = values.get("kind", "sale")
    if kind not in KINDS:
        raise invalid("kind", "is not included in the list")
    ident = state.new_id()
    txn = {
        "id": ident,
        "order_id": order["id"],
        "kind": kind,
        "gateway": values.get("gateway", "manual"),
        "status": values.get("status", "success"),
        "message": values.get("message"),
        "test": bool(values.get("test", False)),
        "authorization": values.get("authorization"),
        "location_id": None,
        "user_id": None,
        "parent_id": int(values["parent_id"]) if values.get("parent_id") else None,
        "processed_at": values.get("processed_at") or state.now(),
        "device_id": None,
        "error_code": None,
        "source_name": values.get("source_name", "external"),
        "receipt": {},
        "amount": money(dec(values.get("amount"), "amount")),
        "currency": values.get("currency") or order["currency"],
        "payment_id": f"c{order['id']}.{len(order_transactions(state, order['id'])) + 1}",
        "manual_payment_gateway": values.get("gateway", "manual") == "manual",
        "admin_graphql_api_id": gid("OrderTransaction", ident),
    }
    state.stamp(txn)
    del txn["updated_at"]  # transactions are immutable: created_at and processed_at only
    state.db.transactions[ident] = txn
    return txn


def _initial_money(state: ShopState, order: dict, data: dict) -> None:
    given = data.get("transactions") or []
    status = data.get("financial_status")
    if status is not None and status not in FINANCIAL:
        raise invalid("financial_status", "is not included in the list")
    left = dec(order["total_price"])
    for txn in given:
        # Several transactions (one per gateway, say) split the total; one without an amount
        # takes what the ones before it left.
        made = add_transaction(state, order, txn, amount=money(max(ZERO, left)))
        if made["kind"] in ("sale", "capture", "authorization") and made["status"] == "success":
            left -= dec(made["amount"])
    if given:
        order["financial_status"] = status or "pending"
        refresh_financial_status(state, order)
        if status:  # an explicit status wins over what the transactions imply
            order["financial_status"] = status
        return
    status = status or state.settings.default_financial_status
    order["financial_status"] = status
    # Keep the ledger consistent with the stated status so refunds later have a parent.
    if status == "paid":
        add_transaction(state, order, {"kind": "sale"}, amount=order["total_price"])
        order["total_outstanding"] = "0.00"
    elif status == "authorized":
        add_transaction(state, order, {"kind": "authorization"}, amount=order["total_price"])


def create_order(state: ShopState, data: dict) -> dict:
    behaviour = data.get("inventory_behaviour") or "bypass"
    if behaviour not in BEHAVIOURS:
        raise invalid("inventory_behaviour", "is not included in the list")
    if not data.get("line_items"):
        raise invalid("line_items", "can't be blank")
    if data.get("fulfillment_status") not in (None, "", "unfulfilled", "fulfilled"):
        raise invalid("fulfillment_status", "is not included in the list")
    currency = data.get("currency") or state.settings.currency
    lines = [_line(state, li, currency, behaviour) for li in data["line_items"]]
    import_location = (data.get("fulfillments") or [{}])[0].get("location_id")
    if data.get("fulfillment_status") == "fulfilled" and import_location is not None:
        if as_int(import_location, "location_id") not in state.db.locations:
            raise invalid("fulfillments", "location_id is invalid")
        for li in lines:  # shipped from where the import says
            li["_location_id"] = int(import_location)
    # Two lines of one variant share stock: check the combined need before taking anything.
    if behaviour == "decrement_obeying_policy":
        need: dict[tuple[int, int], int] = {}
        for li in lines:
            if li["_decremented"]:
                variant = state.db.variants[li["variant_id"]]
                if variant["inventory_policy"] == "deny":
                    key = (variant["inventory_item_id"], li["_location_id"])
                    need[key] = need.get(key, 0) + li["quantity"]
        for key, qty in need.items():
            if state.db.levels.get(key, {}).get("available", 0) < qty:
                raise invalid("line_items", "requested quantity is not available")
    ident = int(data.get("id") or state.new_id())
    number = state.next_order_number
    shipping_lines = [_shipping_line(state, s, currency) for s in data.get("shipping_lines") or []]
    order_taxes = _tax_lines(data.get("tax_lines"), currency)
    codes = [
        {"code": c.get("code"), "amount": money(dec(c.get("amount"), "discount_codes")), "type": c.get("type", "fixed_amount")}
        for c in data.get("discount_codes") or []
    ]  # fmt: skip
    if any(c["type"] not in ("fixed_amount", "percentage", "shipping") for c in codes):
        raise invalid("discount_codes", "type is not included in the list")
    applications = _discounts(data, lines, shipping_lines, codes, currency)
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise invalid("name", "is invalid")
    order = {
        "id": ident,
        "admin_graphql_api_id": gid("Order", ident),
        # A given name is kept as sent (e.g. the marketplace's order number); the order still
        # takes the next number and order_number. Shopify does not make names unique.
        "name": name.strip() if name else f"#{number}",
        "number": number - 1000,
        "order_number": number,
        "confirmation_number": "".join(state.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9)),
        "token": state.token(),
        "email": data.get("email") or (data.get("customer") or {}).get("email"),
        "contact_email": data.get("email") or (data.get("customer") or {}).get("email"),
        "phone": data.get("phone"),
        "currency": currency,
        "presentment_currency": data.get("presentment_currency") or currency,
        "taxes_included": bool(data.get("taxes_included", False)),
        "tax_lines": order_taxes,
        "discount_codes": codes,
        "financial_status": "pending",
        "fulfillment_status": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "closed_at": None,
        "test": bool(data.get("test", False)),
        "processed_at": data.get("processed_at") or state.now(),
        "tags": _tags(data.get("tags")),
        "note": data.get("note"),
        "note_attributes": [{"name": a.get("name"), "value": a.get("value")} for a in data.get("note_attributes") or []],
        "source_name": data.get("source_name") or str(state.settings.app_id),
        "source_identifier": data.get("source_identifier"),
        "app_id": state.settings.app_id,
        "buyer_accepts_marketing": bool(data.get("buyer_accepts_marketing", False)),
        "billing_address": _address(data.get("billing_address")),
        "shipping_address": _address(data.get("shipping_address")),
        # What a storefront checkout would have filled; an order made through the API has none.
        "browser_ip": None,
        "cart_token": None,
        "checkout_id": None,
        "checkout_token": None,
        "client_details": None,
        "confirmed": True,
        "customer_locale": None,
        "device_id": None,
        "landing_site": None,
        "landing_site_ref": None,
        "referring_site": None,
        "reference": None,
        "source_url": None,
        "user_id": None,
        "po_number": data.get("po_number"),
        "payment_terms": None,
        "merchant_of_record_app_id": None,
        "merchant_business_entity_id": state.business_entity_id(),
        "order_status_url": None,  # set below, from the token
        "duties_included": False,
        "estimated_taxes": False,
        "tax_exempt": bool(data.get("tax_exempt", False)),
        "discount_applications": applications,
        "current_total_additional_fees_set": None,
        "original_total_additional_fees_set": None,
        "current_total_duties_set": None,
        "original_total_duties_set": None,
        "total_cash_rounding_payment_adjustment_set": money_set(ZERO, currency),
        "total_cash_rounding_refund_adjustment_set": money_set(ZERO, currency),
        "total_tip_received": money(ZERO),
        "payment_gateway_names": [],
        "shipping_lines": shipping_lines,
        "line_items": lines,
        "location_id": None,
        "_customer_id": None,
        "_behaviour": behaviour,
    }  # fmt: skip
    key = hashlib.sha256(order["token"].encode()).hexdigest()[:16]
    order["order_status_url"] = (f"https://{state.domain}/{state.shop_number()}/orders/{order['token']}"
                                 f"/authenticate?key={key}")
    state.stamp(order, data)
    _totals(order, shipping_lines, order_taxes, codes)
    customer = resolve_for_order(state, data.get("customer"), order["email"], order["phone"],
                                 data.get("billing_address") or data.get("shipping_address"))
    state.next_order_number += 1
    state.db.orders[ident] = order
    _initial_money(state, order, data)
    gateways = (t["gateway"] for t in order_transactions(state, ident))
    order["payment_gateway_names"] = list(dict.fromkeys(gateways))
    for li in lines:
        if li["_decremented"]:
            change_stock(
                state,
                state.db.variants[li["variant_id"]]["inventory_item_id"],
                li["_location_id"],
                -li["quantity"],
            )
    fulfillment.create_for_order(state, order)
    if customer is not None:
        order["_customer_id"] = customer["id"]
        record_order(state, customer, order)
    if data.get("fulfillment_status") == "fulfilled":
        # An already-shipped import: everything is fulfilled at once, as in the 2.9 example, with
        # the tracking the first of `fulfillments` gives.
        given = (data.get("fulfillments") or [{}])[0]
        info = {"number": given.get("tracking_number"), "company": given.get("tracking_company"),
                "url": given.get("tracking_url")}
        for fo in fulfillment.order_fulfillment_orders(state, ident):
            fulfillment.create_fulfillment(
                state, {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}],
                        "tracking_info": {k: v for k, v in info.items() if v}}
            )
    emit(state, "orders/create", render_order(state, order))
    if order["financial_status"] == "paid":
        emit(state, "orders/paid", render_order(state, order))
    return order


def _tags(value: object) -> str:
    parts = value if isinstance(value, list) else str(value or "").split(",")
    return ", ".join(dict.fromkeys(str(p).strip() for p in parts if str(p).strip()))


def touch(state: ShopState, order: dict, *topics: str) -> None:
    order["updated_at"] = state.now()
    rendered = render_order(state, order)
    for topic in (*topics, "orders/updated"):
        emit(state, topic, rendered)


def cancel_order(state: ShopState, order: dict, data: dict) -> None:
    if order["cancelled_at"]:
        raise invalid("base", "Order has already been cancelled")
    if any(f["order_id"] == order["id"] and f["status"] == "success" for f in state.db.fulfillments.values()):
        raise invalid("base", "Cannot cancel an order that has fulfillments")  # wording UNCONFIRMED
    reason = data.get("reason") or "other"
    if reason not in ("customer", "fraud", "inventory", "declined", "other", "staff"):
        raise invalid("reason", "is not included in the list")
    restock = bool(data.get("restock", state.settings.cancel_restocks_by_default))
    # `refund` (a refund body) or `amount` give money back as the order is cancelled; without
    # them a paid order stays paid (only an authorization is voided, below).
    if isinstance(data.get("refund"), dict) or data.get("amount") not in (None, ""):
        from .refunds import create_refund  # refunds builds on this module

        refund = data.get("refund") or {"transactions": [{"kind": "refund", "amount": data["amount"]}]}
        create_refund(state, order, refund)
    for li in order["line_items"]:
        # Only stock the order actually took goes back; bypass orders never took any.
        if restock and li["_decremented"] and li["fulfillable_quantity"]:
            item_id = (
                state.db.variants[li["variant_id"]]["inventory_item_id"]
                if li["variant_id"] in state.db.variants
                else None
            )
            if item_id:
                change_stock(state, item_id, li["_location_id"], li["fulfillable_quantity"])
    for fo in fulfillment.order_fulfillment_orders(state, order["id"]):
        if fo["status"] not in ("closed", "cancelled"):
            fulfillment.cancel_fulfillment_order(state, fo)
    sums = money_totals(state, order)
    if sums["authorized"] > 0 and sums["paid"] == 0:
        add_transaction(state, order, {"kind": "void"}, amount=money(Decimal(sums["authorized"])))  # type: ignore[arg-type]
        refresh_financial_status(state, order)
    now = state.now()
    order["cancelled_at"], order["cancel_reason"] = now, reason
    if state.settings.cancel_closes_order:
        order["closed_at"] = now
    touch(state, order, "orders/cancelled")


# routes ----------------------------------------------------------------------------------


async def list_orders(request: Request) -> Response:
    state = sim(request)
    q = parse_list(request)
    key, reverse = order_sort(q)
    page, headers = paginate(request, q, filter_orders(state, q), key=key, reverse=reverse)
    return JSONResponse(
        {"orders": [project(render_order(state, o), q.fields) for o in page]}, headers=headers
    )


async def count_orders(request: Request) -> Response:
    q = ListQuery(limit=0, fields=None, params=dict(request.query_params))
    return JSONResponse({"count": len(filter_orders(sim(request), q))})


async def show_order(request: Request) -> Response:
    state = sim(request)
    order = render_order(state, get_order(state, request.path_params["id"]))
    fields = request.query_params.get("fields")
    return JSONResponse({"order": project(order, fields.split(",") if fields else None)})


async def post_order(request: Request) -> Response:
    state = sim(request)
    order = create_order(state, await root(request, "order"))
    return JSONResponse({"order": render_order(state, order)}, status_code=201)


async def put_order(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["id"])
    data = await root(request, "order")
    # Fields outside this list are ignored rather than refused (UNCONFIRMED).
    for key in UPDATABLE:
        if key in data:
            order[key] = _address(data[key]) if key == "shipping_address" else data[key]
    if "tags" in data:
        order["tags"] = _tags(data["tags"])
    if "email" in data:
        order["contact_email"] = data["email"]
    touch(state, order)
    return JSONResponse({"order": render_order(state, order)})


async def delete_order(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["id"])
    del state.db.orders[order["id"]]
    emit(state, "orders/delete", {"id": order["id"]})
    return JSONResponse({})


async def post_cancel(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["id"])
    data = await body_json(request)
    cancel_order(state, order, data if isinstance(data, dict) else {})
    return JSONResponse({"order": render_order(state, order)})


async def post_close(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["id"])
    order["closed_at"] = order["closed_at"] or state.now()
    touch(state, order)
    return JSONResponse({"order": render_order(state, order)})


async def post_open(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["id"])
    if order["cancelled_at"]:
        raise invalid("base", "Cancelled orders cannot be re-opened")
    order["closed_at"] = None
    touch(state, order)
    return JSONResponse({"order": render_order(state, order)})


def create_transaction(state: ShopState, order: dict, data: dict) -> dict:
    kind = data.get("kind")
    sums = money_totals(state, order)
    if kind not in KINDS:
        raise invalid("kind", "is not included in the list")
    if kind == "capture":
        authorized = sums["authorized"] - sums["paid"]
        parent = next(
            (t for t in order_transactions(state, order["id"]) if t["kind"] == "authorization"), None
        )
        if parent is None or authorized <= 0:
            raise invalid("base", "No authorization to capture")
        amount = dec(data["amount"]) if data.get("amount") is not None else authorized
        if amount > authorized:
            raise invalid("amount", "exceeds the authorized amount")
        data = data | {"amount": money(amount), "parent_id": data.get("parent_id") or parent["id"]}
    elif kind == "refund":
        refundable = sums["paid"] - sums["refunded"]
        amount = dec(data.get("amount")) if data.get("amount") is not None else refundable
        if amount > refundable:
            raise invalid("amount", f"must be less than or equal to {money(refundable)}")
        data = data | {"amount": money(amount)}
    elif kind == "void":
        data = data | {"amount": data.get("amount") or money(Decimal(sums["authorized"]))}  # type: ignore[arg-type]
    txn = add_transaction(state, order, data)
    paid_now = refresh_financial_status(state, order)
    touch(state, order, *(["orders/paid"] if paid_now else []))
    return txn


async def list_transactions(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["oid"])
    txns = order_transactions(state, order["id"])
    since = request.query_params.get("since_id")
    if since:
        txns = [t for t in txns if t["id"] > int(since)]
    return JSONResponse({"transactions": txns})


async def count_transactions(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["oid"])
    return JSONResponse({"count": len(order_transactions(state, order["id"]))})


async def show_transaction(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["oid"])
    txn = state.db.transactions.get(request.path_params["id"])
    if txn is None or txn["order_id"] != order["id"]:
        raise ApiError(404, "Not Found")
    return JSONResponse({"transaction": txn})


async def post_transaction(request: Request) -> Response:
    state = sim(request)
    order = get_order(state, request.path_params["oid"])
    txn = create_transaction(state, order, await root(request, "transaction"))
    return JSONResponse({"transaction": txn}, status_code=201)


ROUTES = [
    Route("/orders.json", list_orders, methods=["GET"]),
    Route("/orders.json", post_order, methods=["POST"]),
    Route("/orders/count.json", count_orders, methods=["GET"]),
    Route("/orders/{id:int}.json", show_order, methods=["GET"]),
    Route("/orders/{id:int}.json", put_order, methods=["PUT"]),
    Route("/orders/{id:int}.json", delete_order, methods=["DELETE"]),
    Route("/orders/{id:int}/cancel.json", post_cancel, methods=["POST"]),
    Route("/orders/{id:int}/close.json", post_close, methods=["POST"]),
    Route("/orders/{id:int}/open.json", post_open, methods=["POST"]),
    Route("/orders/{oid:int}/transactions.json", list_transactions, methods=["GET"]),
    Route("/orders/{oid:int}/transactions.json", post_transaction, methods=["POST"]),
    Route("/orders/{oid:int}/transactions/count.json", count_transactions, methods=["GET"]),
    Route("/orders/{oid:int}/transactions/{id:int}.json", show_transaction, methods=["GET"]),
]
