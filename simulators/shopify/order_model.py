"""Order bookkeeping shared by orders, fulfillments and refunds: rendering and derived statuses."""

from __future__ import annotations

from collections.abc import Callable

from .errors import bad_param, not_found
from .http import id_list
from .paging import ListQuery, time_filter
from .state import ShopState
from .values import ZERO, dec, epoch, money, money_set


def public(record: dict) -> dict:
    """Drop the simulator's private `_` keys, one level into lists of dicts."""
    out = {}
    for key, value in record.items():
        if key.startswith("_"):
            continue
        if isinstance(value, list):
            value = [public(v) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


def get_order(state: ShopState, ident: int) -> dict:
    order = state.db.orders.get(ident)
    if order is None:
        raise not_found()
    return order


def order_transactions(state: ShopState, order_id: int) -> list[dict]:
    return [t for t in state.db.transactions.values() if t["order_id"] == order_id]


# The customer as an order embeds it (2025-01 order sample): the customer resource without its
# address book and order statistics.
ORDER_CUSTOMER_KEYS = (
    "id", "email", "created_at", "updated_at", "first_name", "last_name", "state", "note", "verified_email",
    "multipass_identifier", "tax_exempt", "phone", "email_marketing_consent", "sms_marketing_consent", "tags",
    "currency", "tax_exemptions", "admin_graphql_api_id", "default_address",
)  # fmt: skip


# Protected customer data (Level 2: name, email, phone, address) an app without that access reads
# as null. UNCONFIRMED which address keys count: the simulator blanks everything below the
# province, and keeps country and province (and their codes).
REDACTED_ADDRESS_KEYS = ("first_name", "last_name", "name", "company", "address1", "address2", "city", "zip",
                         "phone", "latitude", "longitude")
REDACTED_PERSON_KEYS = ("first_name", "last_name", "email", "phone")


def _redact_address(address: dict | None) -> dict | None:
    return None if address is None else address | {k: None for k in REDACTED_ADDRESS_KEYS if k in address}


def _redact_person(record: dict) -> dict:
    out = record | {k: None for k in REDACTED_PERSON_KEYS if k in record}
    if "default_address" in out:
        out["default_address"] = _redact_address(out["default_address"])
    if "addresses" in out:
        out["addresses"] = [_redact_address(a) for a in out["addresses"]]
    return out


def render_customer(state: ShopState, customer: dict) -> dict:
    """A customer as answers and webhooks give it (redacted when the app lacks the access)."""
    out = public(customer)
    return _redact_person(out) if state.settings.redact_customer_data else out


def render_order(state: ShopState, order: dict) -> dict:
    out = public(order)
    out["fulfillments"] = [public(f) for f in state.db.fulfillments.values() if f["order_id"] == order["id"]]
    out["refunds"] = [public(r) for r in state.db.refunds.values() if r["order_id"] == order["id"]]
    customer = state.db.customers.get(order.get("_customer_id") or 0)
    out["customer"] = {k: render_customer(state, customer).get(k) for k in ORDER_CUSTOMER_KEYS} if customer else None
    if state.settings.redact_customer_data:
        out.update(email=None, contact_email=None, phone=None,
                   billing_address=_redact_address(out["billing_address"]),
                   shipping_address=_redact_address(out["shipping_address"]))
    return out


def line_status(line: dict) -> str | None:
    if line["_fulfilled"] and line["fulfillable_quantity"] == 0:
        return "fulfilled"
    return "partial" if line["_fulfilled"] else None


def refresh_fulfillment_status(order: dict) -> None:
    for line in order["line_items"]:
        line["fulfillment_status"] = line_status(line)
    fulfilled = any(line["_fulfilled"] for line in order["line_items"])
    open_qty = sum(line["fulfillable_quantity"] for line in order["line_items"])
    if fulfilled and open_qty == 0:
        order["fulfillment_status"] = "fulfilled"
    elif fulfilled:
        order["fulfillment_status"] = "partial"
    else:
        order["fulfillment_status"] = None


def money_totals(state: ShopState, order: dict) -> dict[str, object]:
    """Successful sale/capture, authorization, refund sums and whether a void happened."""
    sums = {"paid": ZERO, "authorized": ZERO, "refunded": ZERO, "voided": False}
    for txn in order_transactions(state, order["id"]):
        if txn["status"] != "success":
            continue
        amount = dec(txn["amount"])
        if txn["kind"] in ("sale", "capture"):
            sums["paid"] += amount
        elif txn["kind"] == "authorization":
            sums["authorized"] += amount
        elif txn["kind"] == "refund":
            sums["refunded"] += amount
        elif txn["kind"] == "void":
            sums["voided"] = True
    return sums


def refresh_financial_status(state: ShopState, order: dict) -> bool:
    """Derive financial_status from the transactions; True when the order just became paid."""
    if not order_transactions(state, order["id"]):
        return False
    sums = money_totals(state, order)
    paid, refunded, authorized = sums["paid"], sums["refunded"], sums["authorized"]
    total = dec(order["total_price"])
    before = order["financial_status"]
    if refunded > 0:
        status = "refunded" if refunded >= paid else "partially_refunded"
    elif paid > 0:
        status = "paid" if paid >= total else "partially_paid"
    elif authorized > 0:
        status = "voided" if sums["voided"] else "authorized"
    else:
        status = "pending"
    order["financial_status"] = status
    outstanding = max(ZERO, dec(order["current_total_price"]) - (paid - refunded))
    if status in ("refunded", "partially_refunded", "voided"):
        outstanding = ZERO
    order["total_outstanding"] = money(outstanding)
    return status == "paid" and before != "paid"


def set_money(order: dict, field: str, value, currency: str) -> None:  # noqa: ANN001
    order[field] = money(value)
    order[f"{field}_set"] = money_set(value, currency)


def filter_orders(state: ShopState, q: ListQuery) -> list[dict]:
    """The order list filters of 2.2; `status` defaults to open as in production."""
    orders = list(state.db.orders.values())
    ids = id_list(q.get("ids"))
    if ids is not None:
        orders = [o for o in orders if o["id"] in ids]
    if q.get("since_id"):
        orders = [o for o in orders if o["id"] > int(q.get("since_id") or 0)]
    if q.get("name"):
        # Exact match on the whole name; one leading "#" is ignored on either side, so name=1001 and
        # name=%231001 both find "#1001" and name=TT1 finds an order created with name "TT1".
        # UNCONFIRMED: the reference only lists `name` as a filter; how Shopify treats a "#" the
        # stored name lacks, and whether it splits on commas as this does, is not documented.
        wanted = {n.strip().lstrip("#") for n in (q.get("name") or "").split(",")}
        orders = [o for o in orders if o["name"].lstrip("#") in wanted]
    status = q.get("status") or "open"
    if status == "open":
        orders = [o for o in orders if not o["closed_at"] and not o["cancelled_at"]]
    elif status == "closed":
        orders = [o for o in orders if o["closed_at"]]
    elif status == "cancelled":
        orders = [o for o in orders if o["cancelled_at"]]
    financial = q.get("financial_status") or "any"
    if financial == "unpaid":
        orders = [o for o in orders if o["financial_status"] in ("authorized", "partially_paid", "pending")]
    elif financial != "any":
        orders = [o for o in orders if o["financial_status"] == financial]
    fulfillment = q.get("fulfillment_status") or "any"
    if fulfillment in FULFILLMENT_FILTERS:
        orders = [o for o in orders if o["fulfillment_status"] in FULFILLMENT_FILTERS[fulfillment]]
    if q.get("attribution_app_id"):
        orders = [o for o in orders if str(o.get("app_id")) == q.get("attribution_app_id")]
    return time_filter(orders, q, ("created_at", "updated_at", "processed_at"))


# Filter values of the order list's fulfillment_status (UNCONFIRMED, 2.3).
FULFILLMENT_FILTERS = {
    "shipped": {"fulfilled"},
    "partial": {"partial"},
    "unshipped": {None},
    "unfulfilled": {None, "partial"},
}
SORTABLE = ("id", "created_at", "updated_at", "processed_at")


def order_sort(q: ListQuery) -> tuple[Callable[[dict], list], bool]:
    """Sort for order lists: `order=<field> asc|desc`.

    Without it, newest first by created_at, or id ascending when `since_id` is given. The
    default order of REST order lists is UNCONFIRMED.
    """
    raw = q.get("order") or ("id asc" if q.get("since_id") else "created_at desc")
    field, _, direction = raw.strip().partition(" ")
    if field not in SORTABLE:
        raise bad_param("order")
    if field == "id":
        return (lambda o: [o["id"]]), direction.strip().lower() == "desc"
    return (lambda o: [epoch(o[field]), o["id"]]), direction.strip().lower() != "asc"
