"""The Shopify simulator sends what the real REST payloads and webhooks show (tests/simulators/payloads).

REST answers are held to the 2025-01 SDK samples; the webhook samples of the same resource (REST
representations too) only widen which paths may be null. Webhook bodies are held to the webhook
samples of their API version: products/update changed shape in 2024-07 (the 2023-10 real payload
has weight, grams, inventory_management, ... on variants; the 2025-01 and 2025-04 ones do not).
"""

from __future__ import annotations

import json

import pytest
from payload_shapes import assert_shape, load_payload, shape_of, widen
from starlette.testclient import TestClient

from simulators.shopify import DEFAULT_CREDENTIALS, create_app

AUTH = {"X-Shopify-Access-Token": DEFAULT_CREDENTIALS["access_token"]}
ADDRESS = {"first_name": "Bob", "last_name": "Norman", "address1": "Chestnut Street 92", "address2": "",
           "phone": "+1(502)-459-2181", "city": "Louisville", "zip": "40202", "province": "Kentucky",
           "country": "United States", "country_code": "US", "province_code": "KY", "company": None,
           "latitude": 45.41634, "longitude": -75.6868}
# Webhook samples per API version; the 2025-01 and 2025-04 ones agree on the post-2024-07 shape.
PRODUCT_WEBHOOKS = {
    "2023-10": ["webhook_products_update_2023-10_real_anonymized.json"],
    "2025-01": ["webhook_products_update_2025-01_docsample.json",
                "webhook_products_update_2025-04_real_anonymized.json"],
    "2025-04": ["webhook_products_update_2025-01_docsample.json",
                "webhook_products_update_2025-04_real_anonymized.json"],
}


def _shop(api_version: str = "2025-01") -> TestClient:
    client = TestClient(create_app(seed=11, api_version=api_version))
    client.headers.update(AUTH)
    client.base = f"/admin/api/{api_version}"  # type: ignore[attr-defined]
    return client


@pytest.fixture
def client():
    with _shop() as c:
        yield c


def _ipod(client: TestClient) -> dict:
    """The sample's iPod: one option, a SKU'd and barcoded variant with an image, one without SKU."""
    body = {"product": {
        "title": "IPod Nano - 8GB", "body_html": "<p>It's the small iPod.</p>", "vendor": "Apple",
        "product_type": "Cult Products", "tags": "Emotive, Flash Memory", "template_suffix": None,
        "options": [{"name": "Color"}],
        "variants": [
            {"option1": "Pink", "price": "199.00", "sku": "IPOD2008PINK", "barcode": "1234_pink", "weight": 1.25,
             "weight_unit": "lb", "inventory_quantity": 10, "compare_at_price": "249.00"},
            {"option1": "Red", "price": "199.00", "inventory_quantity": 20},
        ],
        "images": [{"src": "https://cdn.shopify.com/s/files/1/ipod-nano.png", "alt": "front"},
                   {"src": "https://cdn.shopify.com/s/files/1/ipod-nano-2.png"}],
    }}
    created = client.post(f"{client.base}/products.json", json=body).json()["product"]
    pink = created["variants"][0]["id"]
    image = created["images"][1]["id"]
    client.put(f"{client.base}/products/{created['id']}.json",
               json={"product": {"id": created["id"], "images": [{"id": created["images"][0]["id"]},
                                                                  {"id": image, "variant_ids": [pink]}]}})
    return client.get(f"{client.base}/products/{created['id']}.json").json()


def test_product_get_has_the_real_2025_01_product_keys_nesting_and_types(client):
    product = _ipod(client)
    webhooks = PRODUCT_WEBHOOKS["2023-10"] + PRODUCT_WEBHOOKS["2025-01"]
    shape = widen(shape_of(load_payload("shopify/product_get_2025-01_docsample.json")),
                  *({"product": load_payload(f"shopify/{n}")} for n in webhooks))
    assert_shape(shape, product)


def test_a_variant_without_a_sku_is_null_in_webhooks_and_in_reads(client):
    samples = [load_payload(f"shopify/{n}") for n in ("webhook_products_update_2023-10_real_anonymized.json",
                                                       "webhook_products_update_2025-01_docsample.json")]
    assert all(v["sku"] is None for sample in samples for v in sample["variants"])
    _subscribe(client, "products/update")
    # As the samples show: null in REST reads and in webhooks.
    product = _ipod(client)
    assert [v["sku"] for v in product["product"]["variants"]] == ["IPOD2008PINK", None]
    assert [v["sku"] for v in _bodies(client, "products/update")[-1]["variants"]] == ["IPOD2008PINK", None]
    shape = widen(shape_of(load_payload("shopify/product_get_2025-01_docsample.json")),
                  *({"product": sample} for sample in samples))
    assert_shape(shape, product)
    # Older shops' data may hold "" instead; the setting reads it that way.
    client.post("/_admin/config", json={"blank_sku_reads_null": False})
    assert [v["sku"] for v in _ipod(client)["product"]["variants"]] == ["IPOD2008PINK", ""]


def test_inventory_level_reads_and_set_have_the_real_2025_01_shapes(client):
    product = _ipod(client)["product"]
    item = product["variants"][0]["inventory_item_id"]
    location = client.get(f"{client.base}/locations.json").json()["locations"][0]["id"]
    by_item = client.get(f"{client.base}/inventory_levels.json", params={"inventory_item_ids": item}).json()
    assert_shape(shape_of(load_payload("shopify/inventory_levels_get_2025-01_docsample.json")), by_item)
    by_location = client.get(f"{client.base}/inventory_levels.json", params={"location_ids": location}).json()
    assert len(by_location["inventory_levels"]) == 2
    assert_shape(shape_of(load_payload("shopify/inventory_levels_by_location_2025-01_docsample.json")), by_location)
    answer = client.post(f"{client.base}/inventory_levels/set.json",
                         json={"location_id": location, "inventory_item_id": item, "available": 42}).json()
    assert_shape(shape_of(load_payload("shopify/inventory_levels_set_response_2025-01_docsample.json")), answer)
    assert answer["inventory_level"]["admin_graphql_api_id"] == \
        f"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}"


def _order(client: TestClient) -> dict:
    """The sample's order #1001: a customer with a phone, both addresses, a discount code, order and
    line taxes, free shipping; then one line fulfilled and another refunded."""
    variants = _ipod(client)["product"]["variants"]
    body = {"order": {
        "email": "bob.norman@mail.example.com", "phone": "+557734881234", "po_number": "ABC123",
        "source_identifier": "fhwdgads", "note_attributes": [{"name": "colour", "value": "green"}],
        "customer": {"first_name": "Bob", "last_name": "Norman", "email": "bob.norman@mail.example.com",
                     "phone": "+16136120707"},
        "line_items": [{"variant_id": v["id"], "quantity": 1,
                        "tax_lines": [{"title": "State Tax", "price": "3.98", "rate": 0.06}]} for v in variants],
        "billing_address": ADDRESS, "shipping_address": ADDRESS,
        "discount_codes": [{"code": "TENOFF", "amount": "10.00", "type": "fixed_amount"}],
        "shipping_lines": [{"title": "Free Shipping", "price": "0.00", "code": "Free Shipping"}],
        "tax_lines": [{"title": "State Tax", "price": "11.94", "rate": 0.06}],
    }}
    order = client.post(f"{client.base}/orders.json", json=body).json()["order"]
    fo = client.get(f"{client.base}/orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"][0]
    client.post(f"{client.base}/fulfillments.json", json={"fulfillment": {
        "line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": [
            {"id": fo["line_items"][0]["id"], "quantity": 1}]}],
        "tracking_info": {"number": "1Z1234512345123456", "company": "USPS"}}})
    client.post(f"{client.base}/orders/{order['id']}/refunds.json", json={"refund": {
        "note": "it broke during shipping",
        "refund_line_items": [{"line_item_id": order["line_items"][1]["id"], "quantity": 1, "restock_type": "cancel",
                               "location_id": fo["assigned_location_id"]}],
        "transactions": [{"kind": "refund", "amount": "41.94", "gateway": "manual"}]}})
    return client.get(f"{client.base}/orders/{order['id']}.json").json()


ORDER_ALLOWANCES = {
    "missing": {
        "order.fulfillments[].receipt.testcase": "a payment gateway's receipt; manual fulfilments have {} (2025-04 webhook)",
        "order.fulfillments[].receipt.authorization": "same",
    },
    "extra": {
        "order.refunds[].transactions[].manual_payment_gateway":
            "shopify.dev changelog: manualPaymentGateway added to OrderTransaction in 2025-01, Admin REST too",
    },
    "nullable": {
        "order.line_items[].sku": "a line of a variant without SKU (variants then read sku null)",
        "order.refunds[].refund_line_items[].line_item.sku": "same",
        "order.refunds[].user_id": "a refund made through the API has no staff user",
        "order.refunds[].transactions[].authorization": "the manual gateway gives no authorization code",
    },
}


def test_order_get_has_the_real_2025_01_order_keys_nesting_and_types(client):
    order = _order(client)
    shape = widen(shape_of(load_payload("shopify/order_get_2025-01_docsample.json")),
                  {"order": load_payload("shopify/webhook_orders_create_2025-01_docsample.json")},
                  {"order": load_payload("shopify/webhook_orders_2025-04_real_anonymized.json")})
    assert_shape(shape, order, **ORDER_ALLOWANCES)
    line = order["order"]["refunds"][0]["refund_line_items"][0]
    # JSON numbers there, with the string amount in the *_set twin, as in the sample; net of the
    # line's share of the discount code (the sample's 195.66 is 199.00 less its 3.34 allocation).
    assert isinstance(line["subtotal"], int | float) and line["subtotal_set"]["shop_money"]["amount"] == "194.00"


def test_a_marketplace_order_keeps_the_real_order_shape(client):
    """An order as the connector writes a TikTok one: its own name, per-line discounts and taxes,
    line properties, a discount code, two gateways and an already fulfilled import."""
    variants = _ipod(client)["product"]["variants"]
    location = client.get(f"{client.base}/locations.json").json()["locations"][1]["id"]
    body = {"order": {
        "name": "TT576461413038785752", "source_name": "tiktok", "tags": "TikTok", "email": "v2b2V5@example.com",
        "note_attributes": [{"name": "tiktok_order_id", "value": "576461413038785752"}],
        "customer": {"first_name": "David", "last_name": "Kong", "email": "v2b2V5@example.com"},
        "billing_address": ADDRESS, "shipping_address": ADDRESS,
        "line_items": [{"variant_id": variants[0]["id"], "quantity": 2, "total_discount": "10.00",
                        "properties": [{"name": "tiktok_sku_id", "value": "2729382476852921560"}],
                        "tax_lines": [{"title": "State Tax", "price": "23.28", "rate": 0.06}]},
                       {"variant_id": variants[1]["id"], "quantity": 1,
                        "tax_lines": [{"title": "State Tax", "price": "11.94", "rate": 0.06}]}],
        "discount_codes": [{"code": "TT-SELLER", "amount": "6.00", "type": "fixed_amount"}],
        "shipping_lines": [{"title": "Standard shipping", "price": "5.99", "code": "TIKTOK"}],
        "transactions": [{"kind": "sale", "status": "success", "amount": "500.00", "gateway": "tiktok_shop"},
                         {"kind": "sale", "status": "success", "gateway": "tiktok_platform"}],
        "fulfillment_status": "fulfilled",
        "fulfillments": [{"location_id": location, "tracking_number": "9400111", "tracking_company": "USPS"}],
    }}
    created = client.post(f"{client.base}/orders.json", json=body)
    assert created.status_code == 201, created.text
    order = client.get(f"{client.base}/orders/{created.json()['order']['id']}.json").json()
    shape = widen(shape_of(load_payload("shopify/order_get_2025-01_docsample.json")),
                  {"order": load_payload("shopify/webhook_orders_create_2025-01_docsample.json")},
                  {"order": load_payload("shopify/webhook_orders_2025-04_real_anonymized.json")})
    manual = "UNCONFIRMED: a manual discount application names itself by title and description, not code"
    assert_shape(shape, order, missing={
        "order.discount_applications[].code": manual,
        "order.fulfillments[].receipt.testcase": ORDER_ALLOWANCES["missing"]["order.fulfillments[].receipt.testcase"],
        "order.fulfillments[].receipt.authorization": "same",
    }, extra={"order.discount_applications[].title": manual,
              "order.discount_applications[].description": manual},
        nullable=ORDER_ALLOWANCES["nullable"] | {
            "order.customer.sms_marketing_consent": "a customer without a phone has no SMS consent",
            "order.fulfillments[].line_items[].sku": ORDER_ALLOWANCES["nullable"]["order.line_items[].sku"]})
    got = order["order"]
    assert got["name"] == "TT576461413038785752" and got["fulfillment_status"] == "fulfilled"
    assert got["payment_gateway_names"] == ["tiktok_shop", "tiktok_platform"]
    assert [len(li["discount_allocations"]) for li in got["line_items"]] == [2, 1]


def test_refund_line_amounts_are_exact_json_numbers_not_floats(client):
    order = _order(client)
    raw = client.get(f"{client.base}/orders/{order['order']['id']}.json").text
    assert '"subtotal":194.00,' in raw and '"total_tax":3.98,' in raw


def _subscribe(client: TestClient, topic: str) -> None:
    answer = client.post(f"{client.base}/webhooks.json",
                         json={"webhook": {"topic": topic, "address": f"http://127.0.0.1:9/{topic}", "format": "json"}})
    assert answer.status_code == 201, answer.text


def _bodies(client: TestClient, topic: str) -> list[dict]:
    return [json.loads(d["body"]) for d in client.app.state.sim.db.deliveries if d["topic"] == topic]


@pytest.mark.parametrize("api_version", sorted(PRODUCT_WEBHOOKS))
def test_products_update_webhook_matches_the_samples_of_its_api_version(api_version):
    with _shop(api_version) as client:
        _subscribe(client, "products/update")
        _ipod(client)
        body = _bodies(client, "products/update")[-1]
        # The version's webhook samples make the shape; the REST sample of the same product only
        # adds the nulls it shows (template_suffix, option2, alt, ...).
        shape = shape_of(*(load_payload(f"shopify/{n}") for n in PRODUCT_WEBHOOKS[api_version]))
        widen(shape, load_payload("shopify/product_get_2025-01_docsample.json")["product"])
        assert_shape(shape, body, nullable={"media[].alt": "an image without alt text (REST images read alt null)"}
                     if api_version >= "2024-07" else None)
        variant = body["variants"][0]
        slim = {"weight", "weight_unit", "grams", "inventory_management", "fulfillment_service", "requires_shipping"}
        if api_version >= "2024-07":
            assert not slim & set(variant) and "variant_ids" not in body and body["variant_gids"]
        else:
            assert slim <= set(variant) and body["variant_ids"] == [{"id": v["id"]} for v in body["variants"]]
        assert "presentment_prices" not in variant  # REST reads have them, webhooks do not


@pytest.mark.parametrize("api_version", ["2025-01", "2025-04"])
def test_orders_create_webhook_matches_the_2025_order_webhook_samples(api_version):
    with _shop(api_version) as client:
        _subscribe(client, "orders/create")
        _order(client)
        body = _bodies(client, "orders/create")[-1]
        shape = shape_of(load_payload("shopify/webhook_orders_create_2025-01_docsample.json"),
                         load_payload("shopify/webhook_orders_2025-04_real_anonymized.json"))
        widen(shape, load_payload("shopify/order_get_2025-01_docsample.json")["order"])
        assert_shape(shape, body, nullable={"line_items[].sku": ORDER_ALLOWANCES["nullable"]["order.line_items[].sku"]})
        assert not {"email_marketing_consent", "sms_marketing_consent", "tags"} & set(body["customer"])


def test_inventory_levels_update_webhook_matches_the_2025_04_sample(client):
    _subscribe(client, "inventory_levels/update")
    product = _ipod(client)["product"]
    location = client.get(f"{client.base}/locations.json").json()["locations"][0]["id"]
    client.post(f"{client.base}/inventory_levels/set.json",
                json={"location_id": location, "inventory_item_id": product["variants"][0]["inventory_item_id"],
                      "available": 7})
    body = _bodies(client, "inventory_levels/update")[-1]
    assert_shape(shape_of(load_payload("shopify/webhook_inventory_levels_2025-04_real_anonymized.json")), body)
    assert body["available"] == 7
