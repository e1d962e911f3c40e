"""Canonical TikTok orders, and how the tests import one into the simulator shop (the `shop`
fixture of conftest.py), shared by the Shopify order, fulfillment and refund mapping tests. Each
order's money is worked out in the comment above it.
"""

from __future__ import annotations

from payload_helpers import mapped
from starlette.testclient import TestClient

BASE = "/admin/api/2025-01"
ORDER_MAPPING = "shopify.order_from_canonical"


def usd(amount: str, currency: str = "USD") -> dict:
    return {"amount": amount, "currency": currency}


# A US order shipped by the seller: a seller discount, a platform discount on both lines, a
# shipping discount from each side, tax on the lines and on shipping, a Colorado-style fee.
#   lines: TEE-M 2 x 20.00 - 5.00 (seller 3.00, platform 2.00), tax 2.89 at 0.0825
#          CAP   1 x 15.00 - 1.50 (platform 1.50),              tax 1.11 at 0.0825
#   subtotal 55.00 - 3.00 - 3.50 = 48.50; shipping 7.99 - 1.00 - 2.00 = 4.99, tax 0.41
#   total 48.50 + 4.99 + (4.00 + 0.41) + 0.28 = 58.18; subsidy 3.50 + 2.00 = 5.50
MERCHANT_SHIPPED = {
    "channel": "tiktok_us",
    "channel_order_id": "576461413038785752",
    "status": "awaiting_fulfillment",
    "currency": "USD",
    "placed_at": "2026-03-02T15:04:05Z",
    "fulfillment_type": "merchant",
    "buyer": {
        "email": "v2b2V5@chat.seller.tiktok.com",
        "first_name": "David",
        "last_name": "Kong",
        "phone": "(+1)213-***-1234",
        "email_is_relay": True,
    },
    "shipping_address": {
        "name": "David Kong",
        "first_name": "David",
        "last_name": "Kong",
        "line1": "5800 Bristol Pkwy",
        "line2": "Suite 100",
        "city": "Culver City",
        "region": "California",
        "region_code": "CA",
        "postal_code": "90230",
        "country_code": "US",
        "phone": "(+1)213-***-1234",
    },
    "shipping_method": "Standard shipping",
    "payment_method": "CCDC",
    "notes": "Please ship asap!",
    "lines": [
        {
            "sku": "TEE-M",
            "title": "Crew Tee",
            "quantity": 2,
            "unit_price": usd("20.00"),
            "discount": usd("5.00"),
            "discount_seller": usd("3.00"),
            "discount_platform": usd("2.00"),
            "tax": usd("2.89"),
            "tax_rate": "0.0825",
            "channel_line_ids": ["577086512123755123", "577086512123755124"],
        },
        {
            "sku": "CAP",
            "title": "Cap",
            "quantity": 1,
            "unit_price": usd("15"),
            "discount": usd("1.50"),
            "discount_seller": usd("0"),
            "discount_platform": usd("1.50"),
            "tax": usd("1.11"),
            "tax_rate": "0.0825",
            "channel_line_ids": ["577086512123755125"],
        },
    ],
    "money": {
        "subtotal_before_discounts": usd("55.00"),
        "discount_seller": usd("3.00"),
        "discount_platform": usd("3.50"),
        "subtotal": usd("48.50"),
        "shipping_before_discounts": usd("7.99"),
        "shipping_discount_seller": usd("1.00"),
        "shipping_discount_platform": usd("2.00"),
        "shipping": usd("4.99"),
        "product_tax": usd("4.00"),
        "shipping_tax": usd("0.41"),
        "tax": usd("4.41"),
        "fees": usd("0.28"),
        "total": usd("58.18"),
        "platform_subsidy": usd("5.50"),
    },
}

# Shipped by TikTok: a 20% platform promotion and platform-funded free shipping, no shipping tax.
#   HOODIE 1 x 45.00 - 9.00 (platform), tax 2.97 at 0.0825; shipping 5.99 - 5.99 = 0.00
#   total 36.00 + 0.00 + 2.97 = 38.97; subsidy 9.00 + 5.99 = 14.99
PLATFORM_SHIPPED = {
    "channel": "tiktok_us",
    "channel_order_id": "576461413038785999",
    "status": "awaiting_fulfillment",
    "currency": "USD",
    "placed_at": "2026-03-03T08:00:00Z",
    "fulfillment_type": "platform",
    "buyer": {"email": "qq81Zx@chat.seller.tiktok.com", "name": "Ann Lee", "email_is_relay": True},
    "shipping_address": {"name": "Ann Lee", "line1": "1 Main St", "city": "Austin", "region_code": "TX",
                         "postal_code": "78701", "country_code": "US"},
    "shipping_method": "Fulfilled by TikTok",
    "lines": [
        {
            "sku": "HOODIE",
            "title": "Hoodie",
            "quantity": 1,
            "unit_price": usd("45.00"),
            "discount": usd("9.00"),
            "discount_seller": usd("0.00"),
            "discount_platform": usd("9.00"),
            "tax": usd("2.97"),
            "tax_rate": "0.0825",
            "channel_line_ids": ["577086512123760001"],
        }
    ],
    "money": {
        "subtotal_before_discounts": usd("45.00"),
        "discount_seller": usd("0.00"),
        "discount_platform": usd("9.00"),
        "subtotal": usd("36.00"),
        "shipping_before_discounts": usd("5.99"),
        "shipping_discount_seller": usd("0.00"),
        "shipping_discount_platform": usd("5.99"),
        "shipping": usd("0.00"),
        "product_tax": usd("2.97"),
        "shipping_tax": usd("0.00"),
        "tax": usd("2.97"),
        "total": usd("38.97"),
        "platform_subsidy": usd("14.99"),
    },
}

# A GB order, prices with VAT inside: a seller discount only, free shipping, no subsidy.
#   SCARF 1 x 24.00 - 4.00 (seller), VAT 3.33 at 0.2 inside; total 20.00
VAT_INCLUDED = {
    "channel": "tiktok_gb",
    "channel_order_id": "578000000000000001",
    "status": "awaiting_fulfillment",
    "currency": "GBP",
    "placed_at": "2026-03-04T10:30:00Z",
    "fulfillment_type": "merchant",
    "buyer": {"email": "zz12@chat.seller.tiktok.com"},
    "shipping_address": {"first_name": "Tom", "last_name": "Hale", "line1": "10 High St", "city": "Leeds",
                         "postal_code": "LS1 4AP", "country_code": "GB"},
    "is_replacement": True,
    "lines": [
        {
            "sku": "SCARF",
            "quantity": 1,
            "unit_price": usd("24.00", "GBP"),
            "discount": usd("4.00", "GBP"),
            "discount_seller": usd("4.00", "GBP"),
            "discount_platform": usd("0", "GBP"),
            "tax": usd("3.33", "GBP"),
            "tax_rate": "0.2",
        }
    ],
    "money": {
        "subtotal_before_discounts": usd("24.00", "GBP"),
        "discount_seller": usd("4.00", "GBP"),
        "discount_platform": usd("0", "GBP"),
        "subtotal": usd("20.00", "GBP"),
        "shipping": usd("0", "GBP"),
        "tax": usd("3.33", "GBP"),
        "total": usd("20.00", "GBP"),
        "platform_subsidy": usd("0", "GBP"),
    },
}

# A creator sample: the seller gives it away (a 100% seller discount); the buyer pays nothing.
SAMPLE = {
    "channel": "tiktok_us",
    "channel_order_id": "576461413038786000",
    "status": "awaiting_fulfillment",
    "currency": "USD",
    "placed_at": "2026-03-05T12:00:00Z",
    "fulfillment_type": "merchant",
    "is_sample": True,
    "buyer": {"email": "creator@chat.seller.tiktok.com"},
    "lines": [
        {"sku": "CAP", "quantity": 1, "unit_price": usd("12.00"), "discount": usd("12.00"),
         "discount_seller": usd("12.00"), "discount_platform": usd("0")}
    ],
    "money": {"subtotal_before_discounts": usd("12.00"), "discount_seller": usd("12.00"), "subtotal": usd("0.00"),
              "shipping": usd("0.00"), "tax": usd("0.00"), "total": usd("0.00")},
}


def create(shop: TestClient, order: dict, options: dict) -> tuple[dict, dict, list[dict]]:
    """The mapped body, the order the simulator made of it, and its transactions."""
    context = {"variant_ids": shop.variant_ids, "location_id": shop.location_id, **options}
    if order["fulfillment_type"] == "platform":
        context["customer_id"] = shop.customer_id
    body = mapped(ORDER_MAPPING, order, context)
    response = shop.post(f"{BASE}/orders.json", json=body)
    assert response.status_code == 201, response.text
    created = response.json()["order"]
    transactions = shop.get(f"{BASE}/orders/{created['id']}/transactions.json").json()["transactions"]
    return body, created, transactions
