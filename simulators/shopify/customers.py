"""Customers (section 2.2): CRUD, `query=field:value` search and a customer's orders."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import ApiError, invalid, not_found
from .http import id_list, root, sim
from .order_model import filter_orders, order_sort, render_customer, render_order
from .paging import ListQuery, paginate, parse_list, project, time_filter
from .state import ShopState
from .values import ZERO, JSONResponse, dec, gid, money
from .webhooks import emit

FIELDS = ("email", "first_name", "last_name", "phone", "note", "tags", "tax_exempt", "verified_email")
SEARCHABLE = ("email", "first_name", "last_name", "phone", "tag", "id", "state", "country")


def _address(state: ShopState, customer_id: int, data: dict, default: bool) -> dict:
    ident = int(data.get("id") or state.new_id())
    address = {
        "id": ident,
        "customer_id": customer_id,
        "first_name": data.get("first_name"),
        "last_name": data.get("last_name"),
        "company": data.get("company"),
        "address1": data.get("address1"),
        "address2": data.get("address2"),
        "city": data.get("city"),
        "province": data.get("province"),
        "country": data.get("country"),
        "zip": data.get("zip"),
        "phone": data.get("phone"),
        "name": " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p),
        "province_code": data.get("province_code"),
        "country_code": data.get("country_code"),
        "country_name": data.get("country"),
        "default": default,
    }
    return address


def _check(state: ShopState, customer: dict) -> None:
    if not any(customer.get(k) for k in ("email", "phone", "first_name", "last_name")):
        raise invalid("customer", "Customer must have a name, phone number or email address")
    for other in state.db.customers.values():
        if other["id"] == customer["id"]:
            continue
        if customer.get("email") and (other.get("email") or "").lower() == customer["email"].lower():
            raise invalid("email", "has already been taken")
        if customer.get("phone") and other.get("phone") == customer["phone"]:
            raise invalid("phone", "has already been taken")


def _apply(state: ShopState, customer: dict, data: dict) -> None:
    for key in FIELDS:
        if key in data:
            customer[key] = data[key]
    if "tags" in data:
        parts = data["tags"] if isinstance(data["tags"], list) else str(data["tags"] or "").split(",")
        customer["tags"] = ", ".join(p.strip() for p in parts if str(p).strip())
    if "addresses" in data:
        given = data["addresses"] or []
        customer["addresses"] = [
            _address(state, customer["id"], a, bool(a.get("default")) or i == 0) for i, a in enumerate(given)
        ]
    customer["default_address"] = next((a for a in customer["addresses"] if a["default"]), None)
    for consent in ("email_marketing_consent", "sms_marketing_consent"):
        if isinstance(data.get(consent), dict):
            customer[consent] = dict(customer.get(consent) or {}) | data[consent]


def create_customer(state: ShopState, data: dict) -> dict:
    ident = int(data.get("id") or state.new_id())
    customer = {
        "id": ident,
        "email": None,
        "first_name": None,
        "last_name": None,
        "phone": None,
        "orders_count": 0,
        "state": "disabled",
        "total_spent": "0.00",
        "last_order_id": None,
        "last_order_name": None,
        "note": None,
        "verified_email": True,
        "multipass_identifier": None,
        "tax_exempt": False,
        "tags": "",
        "currency": state.settings.currency,
        "addresses": [],
        "default_address": None,
        "email_marketing_consent": {"state": "not_subscribed", "opt_in_level": "single_opt_in",
                                    "consent_updated_at": None},
        "tax_exemptions": [],
        "sms_marketing_consent": None,
        "admin_graphql_api_id": gid("Customer", ident),
    }
    _apply(state, customer, data)
    _check(state, customer)
    state.stamp(customer, data)
    customer["email_marketing_consent"].setdefault("consent_updated_at", None)
    customer["email_marketing_consent"]["consent_updated_at"] = (
        customer["email_marketing_consent"]["consent_updated_at"] or customer["created_at"])
    if customer["phone"] and customer["sms_marketing_consent"] is None:
        # Shopify keeps SMS consent only for customers with a phone number.
        customer["sms_marketing_consent"] = {"state": "not_subscribed", "opt_in_level": "single_opt_in",
                                             "consent_updated_at": customer["created_at"],
                                             "consent_collected_from": "OTHER"}
    state.db.customers[ident] = customer
    emit(state, "customers/create", render_customer(state, customer))
    return customer


def resolve_for_order(
    state: ShopState, data: dict | None, email: str | None, phone: str | None, address: dict | None = None
) -> dict | None:
    """An order's customer: `{id}` links, else found by email, else created from the details, with
    the names and default address taken from the order's address when the customer gives none."""
    data = data or {}
    if data.get("id"):
        customer = state.db.customers.get(int(data["id"]))
        if customer is None:
            raise invalid("customer", "is invalid")
        return customer
    email = data.get("email") or email
    if email:
        found = next(
            (c for c in state.db.customers.values() if (c["email"] or "").lower() == email.lower()), None
        )
        if found:
            return found
    details = {k: v for k, v in data.items() if k in FIELDS or k == "addresses"}
    if email:
        details["email"] = email
    if address:
        for key in ("first_name", "last_name"):
            details.setdefault(key, address.get(key))
        if not details.get("addresses"):
            kept = {k: v for k, v in address.items() if k not in ("latitude", "longitude", "name")}
            details["addresses"] = [kept]
    if not any(details.get(k) for k in ("email", "first_name", "last_name")):
        return None
    if phone and not details.get("phone"):
        taken = any(c.get("phone") == phone for c in state.db.customers.values())
        details["phone"] = None if taken else phone
    return create_customer(state, details)


def record_order(state: ShopState, customer: dict, order: dict) -> None:
    customer["orders_count"] += 1
    customer["total_spent"] = money(dec(customer["total_spent"]) + dec(order["total_price"]))
    customer["last_order_id"] = order["id"]
    customer["last_order_name"] = order["name"]
    customer["updated_at"] = state.now()
    emit(state, "customers/update", render_customer(state, customer))


def _get(state: ShopState, ident: int) -> dict:
    customer = state.db.customers.get(ident)
    if customer is None:
        raise not_found()
    return customer


def _filter(state: ShopState, q: ListQuery) -> list[dict]:
    customers = list(state.db.customers.values())
    ids = id_list(q.get("ids"))
    if ids is not None:
        customers = [c for c in customers if c["id"] in ids]
    if q.get("since_id"):
        customers = [c for c in customers if c["id"] > int(q.get("since_id") or 0)]
    return time_filter(customers, q)


def _matches(customer: dict, term: str) -> bool:
    """One search term: `field:value` (exact, case-insensitive) or free text over name and email."""
    field, sep, value = term.partition(":")
    value = value.strip().strip('"').lower() if sep else term.strip().strip('"').lower()
    if not sep:
        text = " ".join(str(customer.get(k) or "") for k in ("first_name", "last_name", "email", "phone"))
        return value in text.lower()
    field = field.strip().lower()
    if field == "tag":
        return value in [t.strip().lower() for t in (customer["tags"] or "").split(",")]
    if field == "country":
        return any((a.get("country") or "").lower() == value for a in customer["addresses"])
    return str(customer.get(field) or "").lower() == value


async def list_customers(request: Request) -> Response:
    state = sim(request)
    q = parse_list(request)
    page, headers = paginate(request, q, _filter(state, q), key=lambda c: [c["id"]])
    return JSONResponse({"customers": [project(render_customer(state, c), q.fields) for c in page]}, headers=headers)


async def search_customers(request: Request) -> Response:
    state = sim(request)
    q = parse_list(request)
    terms = [t for t in (q.get("query") or "").split() if t]
    for term in terms:
        field = term.partition(":")[0].lower() if ":" in term else None
        if field is not None and field not in SEARCHABLE:
            raise ApiError(400, {"query": f"unsupported search field {field}"})  # UNCONFIRMED
    found = [c for c in state.db.customers.values() if all(_matches(c, t) for t in terms)]
    page, headers = paginate(request, q, found, key=lambda c: [c["id"]])
    return JSONResponse({"customers": [project(render_customer(state, c), q.fields) for c in page]}, headers=headers)


async def count_customers(request: Request) -> Response:
    q = ListQuery(limit=0, fields=None, params=dict(request.query_params))
    return JSONResponse({"count": len(_filter(sim(request), q))})


async def show_customer(request: Request) -> Response:
    return JSONResponse({"customer": render_customer(sim(request), _get(sim(request), request.path_params["id"]))})


async def post_customer(request: Request) -> Response:
    state = sim(request)
    customer = create_customer(state, await root(request, "customer"))
    return JSONResponse({"customer": render_customer(state, customer)}, status_code=201)


async def put_customer(request: Request) -> Response:
    state = sim(request)
    customer = _get(state, request.path_params["id"])
    data = await root(request, "customer")
    before = dict(customer)
    _apply(state, customer, data)
    try:
        _check(state, customer)
    except ApiError:
        customer.clear()
        customer.update(before)
        raise
    customer["updated_at"] = state.now()
    emit(state, "customers/update", render_customer(state, customer))
    return JSONResponse({"customer": render_customer(state, customer)})


async def delete_customer(request: Request) -> Response:
    state = sim(request)
    customer = _get(state, request.path_params["id"])
    if customer["orders_count"]:
        raise invalid("base", "Error deleting customer")  # customers with orders stay
    del state.db.customers[customer["id"]]
    emit(state, "customers/delete", {"id": customer["id"]})
    return JSONResponse({})


async def customer_orders(request: Request) -> Response:
    state = sim(request)
    customer = _get(state, request.path_params["id"])
    q = parse_list(request)
    orders = [o for o in filter_orders(state, q) if o.get("_customer_id") == customer["id"]]
    key, reverse = order_sort(q)
    page, headers = paginate(request, q, orders, key=key, reverse=reverse)
    return JSONResponse(
        {"orders": [project(render_order(state, o), q.fields) for o in page]}, headers=headers
    )


async def send_invite(request: Request) -> Response:
    state = sim(request)
    customer = _get(state, request.path_params["id"])
    data = await root(request, "customer_invite", required=False)
    invite = {
        "to": data.get("to") or customer["email"],
        "from": data.get("from") or f"no-reply@{state.domain}",
        "subject": data.get("subject") or "Customer account activation",
        "custom_message": data.get("custom_message", ""),
        "bcc": data.get("bcc", []),
    }
    if customer["state"] == "disabled":
        customer["state"] = "invited"
    return JSONResponse({"customer_invite": invite}, status_code=201)


async def activation_url(request: Request) -> Response:
    state = sim(request)
    customer = _get(state, request.path_params["id"])
    if customer["state"] == "enabled":
        raise invalid("account_activation_url", "account already enabled")
    url = f"https://{state.domain}/account/activate/{customer['id']}/{state.token()}"
    return JSONResponse({"account_activation_url": url})


def spent_delta(state: ShopState, customer_id: int | None, delta) -> None:  # noqa: ANN001
    customer = state.db.customers.get(customer_id or 0)
    if customer:
        customer["total_spent"] = money(max(ZERO, dec(customer["total_spent"]) + delta))


ROUTES = [
    Route("/customers.json", list_customers, methods=["GET"]),
    Route("/customers.json", post_customer, methods=["POST"]),
    Route("/customers/count.json", count_customers, methods=["GET"]),
    Route("/customers/search.json", search_customers, methods=["GET"]),
    Route("/customers/{id:int}.json", show_customer, methods=["GET"]),
    Route("/customers/{id:int}.json", put_customer, methods=["PUT"]),
    Route("/customers/{id:int}.json", delete_customer, methods=["DELETE"]),
    Route("/customers/{id:int}/orders.json", customer_orders, methods=["GET"]),
    Route("/customers/{id:int}/send_invite.json", send_invite, methods=["POST"]),
    Route("/customers/{id:int}/account_activation_url.json", activation_url, methods=["POST"]),
]
