"""Shopify simulator orders as a marketplace connector writes them: given names, discounts per line,
taxes, several payments, inventory behaviours, fulfilled imports, redacted customer data, refunds
and cancellations, and the admin counts that show one Shopify order per marketplace order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from starlette.testclient import TestClient
from test_shopify_sim import AUTH, BASE, FakeClock, level, links, locations, seed, tee

from simulators.shopify import create_app

TT_NAME = "TT576461413038785752"


@pytest.fixture
def client():
    with TestClient(create_app(clock=FakeClock())) as c:
        c.headers.update(AUTH)
        yield c


@pytest.fixture
def shop(client) -> dict:
    """Two tees: ORD (10 at the main warehouse) and MUG (4, price 12.00)."""
    out = seed(client, products=[tee("ORD", 10), tee("MUG", 4, price="12.00")])
    variants = [p["variants"][0] for p in out["products"]]
    main, east = (loc["id"] for loc in locations(client))
    return {"tee": variants[0], "mug": variants[1], "main": main, "east": east}


def create(client, **order) -> dict:
    response = client.post(f"{BASE}/orders.json", json={"order": order})
    assert response.status_code == 201, response.text
    return response.json()["order"]


def tiktok_order(shop: dict, name: str = TT_NAME, **extra) -> dict:
    """What a TikTok order becomes: named after it, with its id as a note attribute."""
    return {"name": name, "source_name": "tiktok", "tags": "TikTok, marketplace",
            "note_attributes": [{"name": "tiktok_order_id", "value": name.removeprefix("TT")}],
            "line_items": [{"variant_id": shop["tee"]["id"], "quantity": 2}],
            "shipping_lines": [{"title": "Standard", "price": "5.99", "code": "TT-STD"}],
            "email": "v2x9kq7m3@scs.tiktokw.us",
            "shipping_address": {"first_name": "Avery", "last_name": "Brooks", "address1": "742 Evergreen Terrace",
                                 "city": "Springfield", "province": "Oregon", "zip": "97477", "country": "US",
                                 "phone": "(+1)415-***-5521"}} | extra


def money(value: str) -> Decimal:
    return Decimal(value)


def assert_totals_add_up(order: dict) -> None:
    lines = order["line_items"]
    line_total = sum(money(li["price"]) * li["quantity"] for li in lines)
    line_discounts = sum(money(a["amount"]) for li in lines for a in li["discount_allocations"])
    ship_discounts = sum(money(a["amount"]) for s in order["shipping_lines"] for a in s["discount_allocations"])
    shipping = sum(money(s["discounted_price"]) for s in order["shipping_lines"])
    taxes = (sum(money(t["price"]) for li in lines for t in li["tax_lines"])
             + sum(money(t["price"]) for s in order["shipping_lines"] for t in s["tax_lines"])
             + sum(money(t["price"]) for t in order["tax_lines"]))
    assert money(order["total_line_items_price"]) == line_total
    assert money(order["subtotal_price"]) == line_total - line_discounts
    assert money(order["total_discounts"]) == line_discounts + ship_discounts
    assert money(order["total_shipping_price_set"]["shop_money"]["amount"]) == shipping
    assert money(order["total_tax"]) == taxes
    assert money(order["total_price"]) == money(order["subtotal_price"]) + shipping + taxes
    assert order["current_total_price"] == order["total_price"]
    for li in lines:
        assert all(a["discount_application_index"] < len(order["discount_applications"])
                   for a in li["discount_allocations"])


# names, filters, counts -------------------------------------------------------------------------
def test_a_given_name_is_kept_and_found_by_the_name_filter(client, shop):
    order = create(client, **tiktok_order(shop))
    assert order["name"] == TT_NAME and order["order_number"] == 1001 and order["number"] == 1
    assert order["source_name"] == "tiktok" and order["tags"] == "TikTok, marketplace"
    assert order["note_attributes"] == [{"name": "tiktok_order_id", "value": TT_NAME[2:]}]
    plain = create(client, line_items=[{"variant_id": shop["tee"]["id"], "quantity": 1}])
    assert plain["name"] == "#1002"  # the numbering goes on
    for wanted in (TT_NAME, f"#{TT_NAME}"):  # with or without the leading #
        found = client.get(f"{BASE}/orders.json", params={"name": wanted}).json()["orders"]
        assert [o["id"] for o in found] == [order["id"]], wanted
    assert client.get(f"{BASE}/orders.json", params={"name": TT_NAME[:-1]}).json()["orders"] == []  # exact only
    assert client.post(f"{BASE}/orders.json", json={"order": {"name": "", "line_items": [
        {"variant_id": shop["tee"]["id"]}]}}).status_code == 422


def test_status_updated_since_fields_and_link_paging(client, shop):
    ids = [create(client, **tiktok_order(shop, f"TT{n}"))["id"] for n in range(5)]
    client.post(f"{BASE}/orders/{ids[0]}/cancel.json", json={"reason": "customer"})
    client.post(f"{BASE}/orders/{ids[1]}/close.json")

    def names(**params) -> list[str]:
        return sorted(o["name"] for o in client.get(f"{BASE}/orders.json", params=params).json()["orders"])

    assert names() == names(status="open") == ["TT2", "TT3", "TT4"]
    assert names(status="any") == ["TT0", "TT1", "TT2", "TT3", "TT4"]
    assert names(status="cancelled") == ["TT0"] and names(status="closed") == ["TT0", "TT1"]
    assert names(name="TT0") == [] and names(name="TT0", status="any") == ["TT0"]  # open is the default
    assert names(status="any", updated_at_min="2000-01-01T00:00:00Z") == names(status="any")
    assert names(status="any", updated_at_min="2999-01-01T00:00:00Z") == []
    slim = client.get(f"{BASE}/orders.json", params={"fields": "id,name", "status": "any"}).json()["orders"]
    assert all(set(o) == {"id", "name"} for o in slim)

    seen: list[str] = []
    page = client.get(f"{BASE}/orders.json", params={"status": "any", "limit": 2, "fields": "id,name"})
    while True:
        seen += [o["name"] for o in page.json()["orders"]]
        nxt = links(page).get("next")
        if not nxt:
            break
        assert "status" not in nxt and "fields=id%2Cname" in nxt
        page = client.get(nxt)
    assert sorted(seen) == ["TT0", "TT1", "TT2", "TT3", "TT4"] and len(seen) == 5


def test_admin_counts_show_one_order_per_name_and_note_attribute(client, shop):
    create(client, **tiktok_order(shop, "TT1"))
    create(client, **tiktok_order(shop, "TT2"))
    twice = create(client, **tiktok_order(shop, "TT2"))  # Shopify itself does not refuse a repeated name
    client.post(f"{BASE}/orders/{twice['id']}/cancel.json")
    counts = client.get("/_admin/orders/counts").json()
    assert counts["total"] == 3 and counts["by_name"] == {"TT1": 1, "TT2": 2}
    assert counts["by_note_attribute"] == {"tiktok_order_id": {"1": 1, "2": 2}}
    assert counts["duplicate_names"] == ["TT2"] and counts["duplicate_note_attributes"] == {"tiktok_order_id": ["2"]}
    only = client.get("/_admin/orders/counts", params={"note_attribute": "nothing"}).json()
    assert only["by_note_attribute"] == {}
    assert client.get("/_admin/state").json()["order_counts"] == counts


# money -------------------------------------------------------------------------------------------
def test_discounts_per_line_taxes_and_shipping_discounts_add_up(client, shop):
    order = create(client, **tiktok_order(
        shop,
        line_items=[
            {"variant_id": shop["tee"]["id"], "quantity": 2, "total_discount": "4.50",
             "tax_lines": [{"title": "State Tax", "price": "3.75", "rate": 0.0825}],
             "properties": [{"name": "tiktok_line_ids", "value": "1,2"}]},
            {"variant_id": shop["mug"]["id"], "quantity": 1,
             "discount_allocations": [{"amount": "1.20", "discount_application_index": 0}],
             "tax_lines": [{"title": "State Tax", "price": "0.89", "rate": 0.0825}]},
        ],
        discount_applications=[{"type": "manual", "title": "TikTok platform discount", "value": "1.20",
                                "value_type": "fixed_amount", "allocation_method": "one",
                                "target_selection": "explicit", "target_type": "line_item"}],
        discount_codes=[{"code": "TT-SHIP", "amount": "2.00", "type": "shipping"},
                        {"code": "TT-SELLER", "amount": "3.00", "type": "fixed_amount"}],
        shipping_lines=[{"title": "Standard", "price": "5.99",
                         "tax_lines": [{"title": "State Tax", "price": "0.33", "rate": 0.0825}]}]))
    tee_line, mug_line = order["line_items"]
    apps = order["discount_applications"]
    assert [a.get("code") or a.get("title") for a in apps] == ["TT-SHIP", "TT-SELLER", "TikTok platform discount",
                                                               "Discount"]
    # the seller code shares 3.00 over 50.00 and 12.00 of lines; the shipping code goes on shipping
    assert [(a["amount"], a["discount_application_index"]) for a in tee_line["discount_allocations"]] == \
        [("2.42", 1), ("4.50", 3)]
    assert [(a["amount"], a["discount_application_index"]) for a in mug_line["discount_allocations"]] == \
        [("0.58", 1), ("1.20", 2)]
    assert (tee_line["total_discount"], mug_line["total_discount"]) == ("4.50", "1.20")  # own discounts only
    assert tee_line["properties"] == [{"name": "tiktok_line_ids", "value": "1,2"}]
    ship = order["shipping_lines"][0]
    assert (ship["price"], ship["discounted_price"]) == ("5.99", "3.99")
    assert order["total_shipping_price_set"]["shop_money"]["amount"] == "3.99"
    assert (order["subtotal_price"], order["total_discounts"], order["total_tax"], order["total_price"]) == \
        ("53.30", "10.70", "4.97", "62.26")
    assert_totals_add_up(order)
    fetched = client.get(f"{BASE}/orders/{order['id']}.json").json()["order"]
    assert fetched["current_total_price"] == "62.26" and fetched["total_outstanding"] == "0.00"


def test_line_discount_inputs_can_be_switched_off(client, shop):
    client.post("/_admin/config", json={"line_discount_inputs": ""})
    order = create(client, **tiktok_order(shop, line_items=[
        {"variant_id": shop["tee"]["id"], "quantity": 1, "total_discount": "5.00",
         "discount_allocations": [{"amount": "5.00", "discount_application_index": 0}]}]))
    assert order["line_items"][0]["discount_allocations"] == [] and order["total_discounts"] == "0.00"
    client.post("/_admin/config", json={"line_discount_inputs": "total_discount"})
    order = create(client, **tiktok_order(shop, "TT9", line_items=[
        {"variant_id": shop["tee"]["id"], "quantity": 1, "total_discount": "5.00"}]))
    assert order["total_discounts"] == "5.00" and order["subtotal_price"] == "20.00"
    assert client.post(f"{BASE}/orders.json", json={"order": tiktok_order(shop, line_items=[
        {"variant_id": shop["tee"]["id"], "quantity": 1, "total_discount": "30.00"}])}).status_code == 422


def test_several_transactions_on_different_gateways(client, shop):
    order = create(client, **tiktok_order(shop, financial_status="paid", transactions=[
        {"kind": "sale", "status": "success", "amount": "40.00", "gateway": "tiktok_shop"},
        {"kind": "sale", "status": "success", "gateway": "tiktok_platform_subsidy"}]))
    txns = client.get(f"{BASE}/orders/{order['id']}/transactions.json").json()["transactions"]
    assert [(t["gateway"], t["amount"]) for t in txns] == [("tiktok_shop", "40.00"),
                                                          ("tiktok_platform_subsidy", "15.99")]
    assert order["payment_gateway_names"] == ["tiktok_shop", "tiktok_platform_subsidy"]
    assert order["financial_status"] == "paid" and order["total_price"] == "55.99"


# stock and fulfilment -------------------------------------------------------------------------------
def test_decrement_obeying_policy_refuses_an_oversell_and_takes_nothing(client, shop):
    item = shop["mug"]["inventory_item_id"]
    body = tiktok_order(shop, inventory_behaviour="decrement_obeying_policy", line_items=[
        {"variant_id": shop["tee"]["id"], "quantity": 1}, {"variant_id": shop["mug"]["id"], "quantity": 5}])
    response = client.post(f"{BASE}/orders.json", json={"order": body})
    assert response.status_code == 422
    assert set(response.json()) == {"errors"} and list(response.json()["errors"]) == ["line_items"]
    assert level(client, item, shop["main"]) == 4 and level(client, shop["tee"]["inventory_item_id"], shop["main"]) == 10
    assert client.get(f"{BASE}/orders/count.json").json() == {"count": 0}
    body["line_items"][1]["quantity"] = 4
    create(client, **body)
    assert level(client, item, shop["main"]) == 0
    ignoring = tiktok_order(shop, "TT2", inventory_behaviour="decrement_ignoring_policy",
                            line_items=[{"variant_id": shop["mug"]["id"], "quantity": 2}])
    create(client, **ignoring)
    assert level(client, item, shop["main"]) == -2


def test_a_fulfilled_import_ships_from_the_given_location_with_its_tracking(client, shop):
    order = create(client, **tiktok_order(shop, fulfillment_status="fulfilled", fulfillments=[
        {"location_id": shop["east"], "tracking_number": "9400111", "tracking_company": "USPS"}]))
    assert order["fulfillment_status"] == "fulfilled"
    [fulfillment] = order["fulfillments"]
    assert fulfillment["location_id"] == shop["east"] and fulfillment["tracking_number"] == "9400111"
    assert fulfillment["tracking_company"] == "USPS" and order["line_items"][0]["fulfillable_quantity"] == 0
    bad = tiktok_order(shop, "TT2", fulfillment_status="shipped-ish")
    assert client.post(f"{BASE}/orders.json", json={"order": bad}).status_code == 422


# protected customer data ---------------------------------------------------------------------------
def test_without_protected_customer_data_access_names_addresses_email_and_phone_read_null(client, shop):
    order = create(client, **tiktok_order(shop, customer={"first_name": "Avery", "last_name": "Brooks",
                                                          "email": "v2x9kq7m3@scs.tiktokw.us"}))
    assert order["shipping_address"]["first_name"] == "Avery" and order["customer"]["first_name"] == "Avery"
    client.post("/_admin/config", json={"redact_customer_data": True})
    hidden = client.get(f"{BASE}/orders/{order['id']}.json").json()["order"]
    assert (hidden["email"], hidden["contact_email"], hidden["phone"]) == (None, None, None)
    address = hidden["shipping_address"]
    assert {address[k] for k in ("first_name", "last_name", "name", "address1", "phone", "city", "zip")} == {None}
    assert address["province"] == "Oregon" and address["country"] == "US"
    assert {hidden["customer"][k] for k in ("first_name", "last_name", "email", "phone")} == {None}
    customer = client.get(f"{BASE}/customers/{order['customer']['id']}.json").json()["customer"]
    assert customer["email"] is None and customer["first_name"] is None and customer["id"] == order["customer"]["id"]
    listed = client.get(f"{BASE}/orders.json").json()["orders"][0]
    assert listed["email"] is None
    client.post("/_admin/config", json={"redact_customer_data": False})
    assert client.get(f"{BASE}/orders/{order['id']}.json").json()["order"]["email"] == "v2x9kq7m3@scs.tiktokw.us"


# refunds and cancellations ---------------------------------------------------------------------------
def test_a_return_restocks_at_the_given_location_and_refunds_through_the_payment_gateway(client, shop):
    item = shop["tee"]["inventory_item_id"]
    order = create(client, **tiktok_order(shop, inventory_behaviour="decrement_obeying_policy",
                                          transactions=[{"kind": "sale", "amount": "55.99", "gateway": "tiktok_shop"}]))
    assert level(client, item, shop["main"]) == 8
    fo = client.get(f"{BASE}/orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"][0]
    client.post(f"{BASE}/fulfillments.json", json={"fulfillment": {
        "line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}]}})
    line_id = order["line_items"][0]["id"]
    refund = client.post(f"{BASE}/orders/{order['id']}/refunds.json", json={"refund": {
        "refund_line_items": [{"line_item_id": line_id, "quantity": 1, "restock_type": "return",
                               "location_id": shop["east"]}],
        "transactions": [{"kind": "refund", "amount": "25.00"}]}}).json()["refund"]
    assert refund["transactions"][0]["gateway"] == "tiktok_shop" and refund["restock"] is True
    assert level(client, item, shop["east"]) == 1 and level(client, item, shop["main"]) == 8
    partly = client.get(f"{BASE}/orders/{order['id']}.json").json()["order"]
    assert partly["financial_status"] == "partially_refunded" and partly["current_total_price"] == "30.99"
    client.post(f"{BASE}/orders/{order['id']}/refunds.json", json={"refund": {
        "refund_line_items": [{"line_item_id": line_id, "quantity": 1, "restock_type": "no_restock"}],
        "shipping": {"full_refund": True}, "transactions": [{"kind": "refund", "amount": "30.99"}]}})
    done = client.get(f"{BASE}/orders/{order['id']}.json").json()["order"]
    assert done["financial_status"] == "refunded" and done["current_total_price"] == "0.00"
    assert level(client, item, shop["main"]) == 8  # no_restock leaves stock alone


def test_cancel_with_restock_and_a_refund_amount(client, shop):
    item = shop["tee"]["inventory_item_id"]
    order = create(client, **tiktok_order(shop, inventory_behaviour="decrement_obeying_policy"))
    assert level(client, item, shop["main"]) == 8
    cancelled = client.post(f"{BASE}/orders/{order['id']}/cancel.json",
                            json={"reason": "customer", "restock": True, "amount": "55.99"}).json()["order"]
    assert cancelled["cancelled_at"] and cancelled["financial_status"] == "refunded"
    assert level(client, item, shop["main"]) == 10
    kept = create(client, **tiktok_order(shop, "TT2"))
    client.post(f"{BASE}/orders/{kept['id']}/cancel.json", json={"reason": "other"})
    assert client.get(f"{BASE}/orders/{kept['id']}.json").json()["order"]["financial_status"] == "paid"
    fo = client.get(f"{BASE}/orders/{kept['id']}/fulfillment_orders.json").json()["fulfillment_orders"][0]
    assert fo["status"] == "cancelled"
