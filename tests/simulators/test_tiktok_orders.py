"""TikTok Shop simulator orders: fulfillment types, sample and replacement orders, discounts, stock,
and stock."""

from __future__ import annotations

from test_tiktok_sim import create_active_product
from tiktok_order_helpers import (
    SHIP_BODY,
    assert_payment_adds_up,
    detail,
    events,
    place,
    statuses_announced,
    stock,
)

from simulators.tiktok_shop.orders import FBT_WAREHOUSE_ID


# -- fulfillment types ---------------------------------------------------------------------------
def test_fbt_order_cannot_be_shipped_by_the_seller_but_walks_through_the_status_machine(api, client, sku):
    order = place(client, line_items=[{"sku_id": sku["id"], "quantity": 2}],
                  fulfillment_type="FULFILLMENT_BY_TIKTOK", status="AWAITING_SHIPMENT")
    seen = detail(api, order["id"])
    assert seen["fulfillment_type"] == "FULFILLMENT_BY_TIKTOK" and seen["shipping_type"] == "TIKTOK"
    assert seen["warehouse_id"] == FBT_WAREHOUSE_ID
    assert stock(api, sku["id"]) == (10, 0)  # TikTok's fulfilment centre stock, not the seller's

    for path, body in ((f"/fulfillment/202309/orders/{order['id']}/packages", SHIP_BODY),
                       (f"/fulfillment/202309/packages/{seen['packages'][0]['id']}/ship", {"handover_method": "PICKUP"}),
                       ("/fulfillment/202309/packages", {"order_id": order["id"]})):
        response = api.call("POST", path, body=body)
        payload = response.json()
        assert response.status_code == 200 and payload["code"] == 21008022, payload  # the business-error style
        assert payload["data"] is None and "FULFILLMENT_BY_TIKTOK" in payload["message"]
    assert detail(api, order["id"])["status"] == "AWAITING_SHIPMENT"

    assert client.post(f"/_admin/orders/{order['id']}/advance", json={"to": "DELIVERED"}).status_code == 200
    done = detail(api, order["id"])
    assert done["status"] == "DELIVERED" and done["tracking_number"] and done["shipping_provider"]
    assert {li["package_status"] for li in done["line_items"]} == {"COMPLETED"}
    assert statuses_announced(client, order["id"]) == ["UNPAID", "AWAITING_SHIPMENT", "AWAITING_COLLECTION",
                                                       "IN_TRANSIT", "DELIVERED"]
    bad = client.post("/_admin/orders", json={"line_items": [{"sku_id": sku["id"]}],
                                              "fulfillment_type": "FULFILLMENT_BY_ME"})
    assert bad.status_code == 400 and "fulfillment_type" in bad.json()["error"]


def test_seller_fulfilled_order_still_ships_and_fbt_refuses_tracking_updates(api, client, sku):
    fbs = place(client, line_items=[{"sku_id": sku["id"]}], status="AWAITING_SHIPMENT")
    api.ok("POST", f"/fulfillment/202309/orders/{fbs['id']}/packages", body=SHIP_BODY)
    assert detail(api, fbs["id"])["status"] == "IN_TRANSIT"
    fbt = place(client, line_items=[{"sku_id": sku["id"]}], fulfillment_type="FULFILLMENT_BY_TIKTOK",
                status="IN_TRANSIT")
    response = api.call("POST", f"/fulfillment/202309/orders/{fbt['id']}/shipping_info/update", body=SHIP_BODY)
    assert response.json()["code"] == 21008022


# -- flags, prices and stock -------------------------------------------------------------------------
def test_sample_order_costs_nothing(api, client, sku):
    order = detail(api, place(client, line_items=[{"sku_id": sku["id"], "quantity": 2}], is_sample_order=True,
                              seller_discount="1", shipping_fee_seller_discount="1", status="AWAITING_SHIPMENT")["id"])
    assert order["is_sample_order"] is True and order["is_replacement_order"] is False
    money = {k: v for k, v in order["payment"].items() if k != "currency"}
    assert set(money.values()) == {"0"}
    assert {(li["original_price"], li["sale_price"], li["item_tax"][0]["tax_amount"]) for li in order["line_items"]} \
        == {("0", "0", "0")}
    assert stock(api, sku["id"]) == (8, 2)  # a sample still ships from the seller's stock


def test_replacement_order_names_the_order_it_replaces(api, client, sku):
    first = place(client, line_items=[{"sku_id": sku["id"]}], status="DELIVERED")
    again = detail(api, place(client, line_items=[{"sku_id": sku["id"]}], is_replacement_order=True,
                              replaced_order_id=first["id"])["id"])
    assert again["is_replacement_order"] is True and again["replaced_order_id"] == first["id"]
    assert "replaced_order_id" not in detail(api, first["id"])  # only replacement orders carry it
    missing = client.post("/_admin/orders", json={"line_items": [{"sku_id": sku["id"]}], "is_replacement_order": True})
    assert missing.status_code == 400 and "replaced_order_id" in missing.json()["error"]


def test_discounts_per_unit_and_shipping_discounts_add_up_to_the_cent(api, client, sku, clock):
    other = create_active_product(api, client, skus=[{
        "seller_sku": "MUG-1", "price": {"amount": "12.35", "currency": "USD"},
        "inventory": [{"warehouse_id": "7068517275539719942", "quantity": 9}],
        "sales_attributes": [{"name": "Color", "value_name": "Red"}]}])
    order = detail(api, place(
        client, seller_discount="1.10", platform_discount="0.35", shipping_fee="6.49",
        shipping_fee_seller_discount="2", shipping_fee_platform_discount="1.5", shipping_fee_tax="0.27",
        retail_delivery_fee="0.27",
        line_items=[{"sku_id": sku["id"], "quantity": 3},
                    {"sku_id": other["skus"][0]["id"], "quantity": 2, "seller_discount": "2.99",
                     "platform_discount": "0"}])["id"])
    tee = [li for li in order["line_items"] if li["sku_id"] == sku["id"]]
    mug = [li for li in order["line_items"] if li["sku_id"] != sku["id"]]
    assert {(li["seller_discount"], li["platform_discount"], li["sale_price"]) for li in tee} == {("1.1", "0.35", "18.45")}
    assert {(li["seller_discount"], li["platform_discount"], li["sale_price"]) for li in mug} == {("2.99", "0", "9.36")}
    pay = order["payment"]
    assert (pay["original_total_product_price"], pay["seller_discount"], pay["platform_discount"]) == \
        ("84.4", "9.28", "1.05")
    assert (pay["sub_total"], pay["original_shipping_fee"], pay["shipping_fee"]) == ("74.07", "6.49", "2.99")
    assert_payment_adds_up(order)
    too_much = client.post("/_admin/orders", json={"line_items": [{"sku_id": sku["id"]}], "shipping_fee": "1",
                                                   "shipping_fee_seller_discount": "2"})
    assert too_much.status_code == 400 and stock(api, sku["id"]) == (7, 3)  # nothing reserved by the refusal
    negative = client.post("/_admin/orders", json={"line_items": [{"sku_id": sku["id"], "seller_discount": "-1"}]})
    assert negative.status_code == 400


def test_an_order_for_a_sold_out_sku_is_refused_and_takes_nothing(api, client, sku):
    response = client.post("/_admin/orders", json={"line_items": [
        {"sku_id": sku["id"], "quantity": 2}, {"seller_sku": "TEE-WHT-M", "quantity": 6}]})
    assert response.status_code == 400 and "out of stock" in response.json()["error"]
    assert stock(api, sku["id"]) == (10, 0)
    # A SKU only TikTok lists (the merchant's catalogue need not have it) is ordered by seller_sku.
    only_tiktok = create_active_product(api, client, skus=[{
        "seller_sku": "TT-ONLY-1", "price": {"amount": "5", "currency": "USD"},
        "inventory": [{"warehouse_id": "7068517275539719942", "quantity": 1}],
        "sales_attributes": [{"name": "Color", "value_name": "Blue"}]}])
    order = place(client, line_items=[{"seller_sku": "TT-ONLY-1"}])
    assert order["line_items"][0]["sku_id"] == only_tiktok["skus"][0]["id"]
    assert client.post("/_admin/orders", json={"line_items": [{"seller_sku": "TT-ONLY-1"}]}).status_code == 400
    # TikTok ships FBT orders from its own stock, so the seller's zero does not stop them.
    assert place(client, line_items=[{"seller_sku": "TT-ONLY-1"}], fulfillment_type="FULFILLMENT_BY_TIKTOK")["id"]


def test_on_hold_orders_say_so_from_the_start_and_keep_the_flag(api, client, sku):
    order = place(client, line_items=[{"sku_id": sku["id"]}], is_on_hold_order=True)
    assert detail(api, order["id"])["is_on_hold_order"] is True
    client.post(f"/_admin/orders/{order['id']}/advance", json={"to": "AWAITING_SHIPMENT"})
    after = detail(api, order["id"])
    assert after["status"] == "AWAITING_SHIPMENT" and after["is_on_hold_order"] is True
    announced = [e["data"] for e in events(client, "ORDER_STATUS_CHANGE") if e["data"]["order_id"] == order["id"]]
    assert [(d["order_status"], d["is_on_hold_order"]) for d in announced] == [
        ("UNPAID", True), ("ON_HOLD", True), ("AWAITING_SHIPMENT", True)]
    plain = place(client, line_items=[{"sku_id": sku["id"]}], status="AWAITING_SHIPMENT")
    assert statuses_announced(client, plain["id"]) == ["UNPAID", "AWAITING_SHIPMENT"]
    assert detail(api, plain["id"])["is_on_hold_order"] is False
