"""TikTok returns through shopify.refund_from_canonical, posted to the Shopify simulator against
an order shopify.order_from_canonical imported.

The refund reconciles with the channel's to the cent: Shopify's refund transaction on the
buyer's gateway is TikTok's refund_total, and its shipping is TikTok's refund_shipping_fee.
"""

from __future__ import annotations

from decimal import Decimal

from payload_helpers import mapped
from shopify_orders import BASE, MERCHANT_SHIPPED, PLATFORM_SHIPPED, create
from starlette.testclient import TestClient

MAPPING = "shopify.refund_from_canonical"


def usd(amount: str) -> dict:
    return {"amount": amount, "currency": "USD"}


def fulfil_everything(shop: TestClient, order_id: int) -> None:
    for fo in shop.get(f"{BASE}/orders/{order_id}/fulfillment_orders.json").json()["fulfillment_orders"]:
        if fo["status"] == "open":
            body = {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}]}}
            assert shop.post(f"{BASE}/fulfillments.json", json=body).status_code == 201


def stock(shop: TestClient, sku: str) -> int:
    products = shop.get(f"{BASE}/products.json").json()["products"]
    return next(v["inventory_quantity"] for p in products for v in p["variants"] if v["sku"] == sku)


def refund(shop: TestClient, order_id: int, canonical_return: dict, context: dict) -> tuple[dict, dict]:
    store_order = shop.get(f"{BASE}/orders/{order_id}.json").json()["order"]
    transactions = shop.get(f"{BASE}/orders/{order_id}/transactions.json").json()["transactions"]
    body = mapped(MAPPING, canonical_return, {"store_order": store_order, "transactions": transactions, **context})
    response = shop.post(f"{BASE}/orders/{order_id}/refunds.json", json=body)
    assert response.status_code == 201, response.text
    return body, response.json()["refund"]


def test_one_returned_tee_comes_back_to_stock_and_the_buyer_gets_tiktoks_refund(shop: TestClient):
    _, created, _ = create(shop, MERCHANT_SHIPPED, {})
    fulfil_everything(shop, created["id"])
    before = stock(shop, "TEE-M")
    # One of the two tees: the buyer paid 20.00 - 2.50 discount (1.50 seller, 1.00 platform) =
    # 17.50, and 1.44 of its tax.
    returned = {
        "order_id": "576461413038785752", "channel_return_id": "4035318504882143492",
        "type": "return_and_refund", "status": "received", "reason": "Wrong size",
        "lines": [{"sku": "TEE-M", "quantity": 1, "refund": usd("18.94")}],
        "refund": {"subtotal": usd("17.50"), "shipping": usd("0"), "tax": usd("1.44"), "total": usd("18.94")},
    }
    body, made = refund(shop, created["id"], returned, {"restock": True, "location_id": shop.location_id})
    sale = next(t for t in shop.get(f"{BASE}/orders/{created['id']}/transactions.json").json()["transactions"]
                if t["gateway"] == "TikTok Shop" and t["kind"] == "sale")
    assert [(t["kind"], t["gateway"], t["amount"], t["parent_id"]) for t in made["transactions"]] == [
        ("refund", "TikTok Shop", "18.94", sale["id"])]
    assert [(r["quantity"], r["restock_type"], r["location_id"]) for r in made["refund_line_items"]] == [
        (1, "return", int(shop.location_id))]
    assert made["note"] == "TikTok Shop return 4035318504882143492: Wrong size"
    assert stock(shop, "TEE-M") == before + 1
    order = shop.get(f"{BASE}/orders/{created['id']}.json").json()["order"]
    assert order["financial_status"] == "partially_refunded"
    # Shopify values the unit at its own price less the seller's discount only (18.50): the 1.00
    # between that and TikTok's 17.50 is the platform subsidy of the unit, still a sale on its
    # own gateway; subsidy_refund takes it back when the flow knows it.
    assert made["refund_line_items"][0]["subtotal"] == 18.5
    assert body["refund"]["transactions"][0]["amount"] == "18.94"


def test_a_full_refund_with_shipping_and_the_subsidy_taken_back(shop: TestClient):
    _, created, _ = create(shop, PLATFORM_SHIPPED, {})
    returned = {
        "order_id": "576461413038785999", "type": "refund_only", "status": "refunded",
        "lines": [{"sku": "HOODIE", "quantity": 1}],
        "refund": {"subtotal": usd("36.00"), "shipping": usd("0.00"), "tax": usd("2.97"), "total": usd("38.97")},
    }
    _, made = refund(shop, created["id"], returned, {"subsidy_refund": "14.99"})
    assert [(t["gateway"], t["amount"]) for t in made["transactions"]] == [
        ("TikTok Shop", "38.97"), ("TikTok Shop platform subsidy", "14.99")]
    transactions = shop.get(f"{BASE}/orders/{created['id']}/transactions.json").json()["transactions"]
    paid = sum((Decimal(t["amount"]) for t in transactions if t["kind"] == "sale"), Decimal(0))
    refunded = sum((Decimal(t["amount"]) for t in transactions if t["kind"] == "refund"), Decimal(0))
    assert (paid, refunded) == (Decimal("53.96"), Decimal("53.96"))
    assert shop.get(f"{BASE}/orders/{created['id']}.json").json()["order"]["financial_status"] == "refunded"


def test_a_refund_of_shipping_is_inside_the_transaction_not_added_to_it(shop: TestClient):
    _, created, _ = create(shop, MERCHANT_SHIPPED, {"platform_discounts": "discount"})
    returned = {
        "order_id": "576461413038785752", "type": "refund_only", "status": "refunded",
        "lines": [{"sku": "CAP", "quantity": 1}],
        # The cap as paid (15.00 - 1.50 = 13.50, tax 1.11) and the buyer's shipping (4.99).
        "refund": {"subtotal": usd("13.50"), "shipping": usd("4.99"), "tax": usd("1.11"), "total": usd("19.60")},
    }
    body, made = refund(shop, created["id"], returned, {})
    assert body["refund"]["shipping"] == {"amount": "4.99"}
    assert [(t["gateway"], t["amount"]) for t in made["transactions"]] == [("TikTok Shop", "19.60")]
    assert [o["amount"] for o in made["order_adjustments"]] == ["-4.99"]
    # With platform_discounts discount Shopify's own value of the cap is what the buyer paid.
    assert (made["refund_line_items"][0]["subtotal"], made["refund_line_items"][0]["total_tax"]) == (13.5, 1.11)
