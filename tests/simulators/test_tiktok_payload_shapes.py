"""The TikTok Shop simulator sends what the real 202309 payloads show (tests/simulators/payloads).

Each test drives the simulator to the state a sample shows and holds its answer to the sample's
shape: the same keys at every level (less the ones listed as not simulated, each with its reason),
no key the samples lack unless the platform reference documents it, and the same JSON types (ids
that are strings stay strings, the one id that is a JSON number stays a number).
"""

from __future__ import annotations

import json
import re

import pytest
from payload_shapes import assert_shape, load_payload, paths, shape_of
from starlette.testclient import TestClient
from test_tiktok_sim import PNG, Api, FakeClock, create_active_product, product_body

from simulators.tiktok_shop import create_app

PRODUCT_SAMPLE = load_payload("tiktok_shop/get_product_202309_docsample.json")
ORDER_SAMPLE = load_payload("tiktok_shop/get_order_detail_202309_docsample.json")
SEARCH_ORDERS_SAMPLE = load_payload("tiktok_shop/search_orders_202309_docsample.json")

# Sample keys the simulator leaves out, and why.
PRODUCT_NOT_SIMULATED = {
    "manufacturer": "comes from manufacturer records (manufacturer_ids on create); the simulator keeps none",
    "product_types": "only combined-listing, bundled and global-sync products carry it",
    "skus[].combined_skus": "only the SKUs of a combined listing carry it",
    "skus[].global_listing_policy": "only SKUs synchronised from a global product carry it",
}
# Simulator keys the sample lacks, each documented by the platform reference.
PRODUCT_DOCUMENTED_EXTRAS = {
    "audit": "1.10: get response adds audit{status, pre_approved_reasons} [HS]",
    "listing_quality_tier": "1.10: get response adds listing_quality_tier [HS]",
    "skus[].list_price": "1.10: create and price updates take list_price; the mappings read it back",
}
ORDER_NOT_SIMULATED = {
    "cpf": "Brazil only (CPF invoice number)",
    "need_upload_invoice": "Brazil only",
    "release_date": "pre-order lines only",
    "replaced_order_id": "replacement orders only (is_replacement_order)",
}
UNPAID_ORDER_NOT_SIMULATED = ORDER_NOT_SIMULATED | {
    "recipient_address": "not returned while UNPAID or ON_HOLD (1.11, get-order-detail field notes)",
}
# TikTok writes money without padding: "117.5", "110", "72000", "0.01", "0".
UNPADDED = re.compile(r"^-?(0|[1-9]\d*)(\.\d*[1-9])?$")


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def client(clock):
    with TestClient(create_app(seed=7, clock=clock)) as c:
        yield c


@pytest.fixture
def api(client, clock):
    return Api(client, clock)


def _upload(api: Api, use_case: str) -> str:
    return api.ok("POST", "/product/202309/images/upload", cipher=False,
                  files={"data": ("a.png", PNG, "image/png")}, data={"use_case": use_case})["uri"]


def _file(api: Api, name: str) -> str:
    return api.ok("POST", "/product/202309/files/upload", cipher=False,
                  files={"data": (name, b"\x00" * 64, "application/octet-stream")}, data={"name": name})["id"]


def rich_product(api: Api, client: TestClient) -> dict:
    """A listing with every optional part the sample shows that a seller can send, approved."""
    body = product_body(
        api.upload_image(),
        brand_id="7082427311584347905",
        external_product_id="EXT-TEE-1",
        is_cod_allowed=False,
        video={"id": _file(api, "clip.mp4")},
        certifications=[{"id": "7182427311584347905", "images": [{"uri": _upload(api, "CERTIFICATION_IMAGE")}],
                         "files": [{"id": _file(api, "cert.pdf"), "name": "cert.pdf", "format": "PDF"}]}],
        size_chart={"image": {"uri": _upload(api, "SIZE_CHART_IMAGE")}, "template": {"id": "7267563252536723205"}},
        delivery_option_ids=["7129736465318176558"],
    )
    sku_img = _upload(api, "ATTRIBUTE_IMAGE")
    for n, sku in enumerate(body["skus"]):
        sku.update(identifier_code={"code": f"0001234567890{n}", "type": "GTIN"}, external_sku_id=f"EXT-SKU-{n}",
                   sku_unit_count="1.00", list_price={"amount": "24.00", "currency": "USD"})
        sku["sales_attributes"][0]["sku_img"] = {"uri": sku_img}
    created = api.ok("POST", "/product/202309/products", body=body)
    client.post("/_admin/audit/run")
    return api.ok("GET", f"/product/202309/products/{created['product_id']}")


def test_product_detail_has_the_real_get_product_keys_nesting_and_types(api, client):
    product = rich_product(api, client)
    one_image_attribute = {"skus[].sales_attributes[].sku_img":
                           "only one sales attribute may carry SKU images (1.13); the sample's SKU has one"}
    assert_shape(shape_of(PRODUCT_SAMPLE["data"]), product, missing=PRODUCT_NOT_SIMULATED | one_image_attribute,
                 extra=PRODUCT_DOCUMENTED_EXTRAS)
    # Write-only names never come back on a read: they read as brand, category_chains, delivery_options.
    assert not {"brand_id", "category_id", "category_version", "delivery_option_ids"} & set(product)


def test_a_minimal_product_detail_leaves_out_only_what_was_never_set(api, client):
    created = create_active_product(api, client)
    product = api.ok("GET", f"/product/202309/products/{created['product_id']}")
    unset = {"brand": "no brand_id", "certifications": "none sent", "size_chart": "none sent",
             "video": "none sent", "external_product_id": "none sent",
             "skus[].external_sku_id": "none sent", "skus[].identifier_code": "none sent",
             "skus[].sku_unit_count": "none sent", "skus[].sales_attributes[].sku_img": "none sent"}
    assert_shape(shape_of(PRODUCT_SAMPLE["data"]), product, missing=PRODUCT_NOT_SIMULATED | unset,
                 extra={k: v for k, v in PRODUCT_DOCUMENTED_EXTRAS.items() if k != "skus[].list_price"})


def test_product_attribute_values_sent_by_id_read_back_with_their_names(api, client):
    body = product_body(api.upload_image(), product_attributes=[{"id": "100392", "values": [{"id": "1000069"}]}])
    created = api.ok("POST", "/product/202309/products", body=body)
    product = api.ok("GET", f"/product/202309/products/{created['product_id']}")
    assert product["product_attributes"] == [{"id": "100392", "name": "Material",
                                              "values": [{"id": "1000069", "name": "Polyester"}]}]


def test_product_search_items_use_the_detail_names_and_types_and_the_documented_key_set(api, client):
    rich_product(api, client)
    data = api.ok("POST", "/product/202309/products/search", query={"page_size": "10"}, body={"status": "ALL"})
    assert set(data) == {"products", "next_page_token", "total_count"}
    assert isinstance(data["next_page_token"], str) and isinstance(data["total_count"], int)
    item = data["products"][0]
    # 1.9: products[]{id, title, status, skus[]{id, seller_sku, price{currency, sale_price,
    # tax_exclusive_price}, inventory[]{warehouse_id, quantity}}, sales_regions[], create_time,
    # update_time, is_not_for_sale, listing_quality_tier, audit{status}}
    assert set(item) == {"id", "title", "status", "skus", "sales_regions", "create_time", "update_time",
                         "is_not_for_sale", "listing_quality_tier", "audit"}
    assert set(item["skus"][0]) == {"id", "seller_sku", "price", "inventory"}
    assert set(item["skus"][0]["price"]) == {"currency", "sale_price", "tax_exclusive_price"}
    assert_shape(shape_of(PRODUCT_SAMPLE["data"]), item, subset=True,
                 extra={"sales_regions": "1.9 search response", "listing_quality_tier": "1.9 search response",
                        "audit": "1.9 search response: audit{status}"})


def _order(client: TestClient, sku_id: str, status: str) -> str:
    return client.post("/_admin/orders", json={"line_items": [{"sku_id": sku_id, "quantity": 2}],
                                               "status": status}).json()["id"]


@pytest.mark.parametrize("status", ["AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED", "CANCELLED"])
def test_order_detail_has_the_real_order_keys_nesting_and_types(api, client, status):
    sku_id = create_active_product(api, client)["skus"][0]["id"]
    order_id = _order(client, sku_id, status)
    order = api.ok("GET", "/order/202309/orders", query={"ids": order_id})["orders"][0]
    assert order["status"] == status
    assert_shape(shape_of(*ORDER_SAMPLE["data"]["orders"]), order, missing=ORDER_NOT_SIMULATED)


@pytest.mark.parametrize("spec", [
    {"is_replacement_order": True, "replaced_order_id": "576461416728782174"},
    {"fulfillment_type": "FULFILLMENT_BY_TIKTOK", "is_sample_order": True},
    {"is_on_hold_order": True, "seller_discount": "1.25", "platform_discount": "0.5",
     "shipping_fee_seller_discount": "1", "shipping_fee_platform_discount": "0.99"},
], ids=["replacement", "fbt-sample", "on-hold-discounted"])
def test_order_kinds_keep_the_real_order_shape(api, client, spec):
    sku_id = create_active_product(api, client)["skus"][0]["id"]
    order_id = client.post("/_admin/orders", json={"line_items": [{"sku_id": sku_id, "quantity": 2}],
                                                   "status": "IN_TRANSIT", **spec}).json()["id"]
    order = api.ok("GET", "/order/202309/orders", query={"ids": order_id})["orders"][0]
    missing = dict(ORDER_NOT_SIMULATED)
    if spec.get("is_replacement_order"):
        del missing["replaced_order_id"]  # a replacement order carries it, as the sample does
    assert_shape(shape_of(*ORDER_SAMPLE["data"]["orders"]), order, missing=missing)


def test_unpaid_order_detail_matches_the_sample_but_has_no_address_yet(api, client):
    sku_id = create_active_product(api, client)["skus"][0]["id"]
    order = api.ok("GET", "/order/202309/orders", query={"ids": _order(client, sku_id, "UNPAID")})["orders"][0]
    assert_shape(shape_of(*ORDER_SAMPLE["data"]["orders"]), order, missing=UNPAID_ORDER_NOT_SIMULATED)


def test_cancelled_order_keeps_the_address_keys_with_the_buyer_masked_and_the_street_blank(api, client):
    sku_id = create_active_product(api, client)["skus"][0]["id"]
    live = _order(client, sku_id, "AWAITING_SHIPMENT")
    cancelled = _order(client, sku_id, "CANCELLED")
    orders = {o["id"]: o for o in api.ok("GET", "/order/202309/orders",
                                         query={"ids": f"{live},{cancelled}"})["orders"]}
    before, after = orders[live]["recipient_address"], orders[cancelled]["recipient_address"]
    assert set(after) == set(before) == set(ORDER_SAMPLE["data"]["orders"][0]["recipient_address"])
    assert re.fullmatch(r"\(\+\d+\)\d{3}-\*\*\*-\d{4}", before["phone_number"])  # the sample's masking
    assert "*" in after["name"] and after["phone_number"].endswith("***-***-****")
    assert after["full_address"] == after["address_line1"] == ""
    assert after["region_code"] == before["region_code"] and after["district_info"] == before["district_info"]
    assert orders[cancelled]["cancel_time"] > 0 and orders[live]["cancel_time"] == 0


def test_order_search_has_the_real_search_orders_shape(api, client):
    sku_id = create_active_product(api, client)["skus"][0]["id"]
    for status in ("AWAITING_SHIPMENT", "AWAITING_SHIPMENT"):
        _order(client, sku_id, status)
    data = api.ok("POST", "/order/202309/orders/search", query={"page_size": "1"}, body={})
    assert_shape(shape_of(SEARCH_ORDERS_SAMPLE["data"], ORDER_SAMPLE["data"]), data,
                 missing={f"orders[].{k}": why for k, why in ORDER_NOT_SIMULATED.items()})
    assert data["next_page_token"] and data["total_count"] == 2


def _events(client: TestClient, event_type: str) -> list[dict]:
    return [e["event"] for e in client.get("/_admin/state").json()["webhooks"]["events"]
            if e["event_type"] == event_type]


def test_order_status_webhook_matches_the_sample_and_the_signed_vector(api, client):
    sku_id = create_active_product(api, client)["skus"][0]["id"]
    _order(client, sku_id, "AWAITING_SHIPMENT")
    events = _events(client, "ORDER_STATUS_CHANGE")
    assert [e["data"]["order_status"] for e in events] == ["UNPAID", "AWAITING_SHIPMENT"]
    sample = load_payload("tiktok_shop/webhook_order_status_change_docsample.json")
    vector = load_payload("tiktok_shop/webhook_order_status_change_signed_vector.json")
    for event in events:
        assert_shape(shape_of(sample, vector), event)
        assert set(event) == set(vector) and set(event["data"]) == set(vector["data"])


def test_product_status_webhook_sends_product_id_as_a_json_number_like_the_sample(api, client):
    created = create_active_product(api, client)
    events = _events(client, "PRODUCT_STATUS_CHANGE")
    assert [e["data"]["status"] for e in events] == ["PRODUCT_FIRST_PASS_REVIEW"]
    sample = load_payload("tiktok_shop/webhook_product_status_change_docsample.json")
    assert_shape(shape_of(sample), events[0],
                 extra={"tts_notification_id": "1.12: every event carries it (signed vector, type 15 sample)"})
    assert events[0]["data"]["product_id"] == int(created["product_id"])  # every digit of the 64-bit id
    raw = next(e["body"] for e in client.app.state.sim.events if e["event_type"] == "PRODUCT_STATUS_CHANGE")
    assert f'"product_id":{created["product_id"]},' in raw


def test_product_information_webhook_matches_the_sample(api, client):
    created = create_active_product(api, client)
    path = f"/product/202309/products/{created['product_id']}/partial_edit"
    api.ok("POST", path, body={"title": "Classic Cotton Tee, heavier knit"})
    events = _events(client, "PRODUCT_INFORMATION_CHANGE")
    assert [e["data"]["changed_fields"] for e in events] == [["title"]]
    sample = load_payload("tiktok_shop/webhook_product_information_change_docsample.json")
    assert_shape(shape_of(sample), events[0])
    assert events[0]["data"]["product_id"] == created["product_id"]  # a string in this event


def _money_strings(value: object, path: str = "") -> list[tuple[str, str]]:
    """(path, value) of every string under a price, payment, tax or fee key."""
    money_key = re.compile(r"(price|amount|fee|tax|discount|total|sub_total)$")
    found = []
    if isinstance(value, dict):
        for key, child in value.items():
            sub = f"{path}.{key}" if path else key
            if isinstance(child, str) and money_key.search(key) and key not in ("tax_type",):
                found.append((sub, child))
            found += _money_strings(child, sub)
    elif isinstance(value, list):
        for item in value:
            found += _money_strings(item, f"{path}[]")
    return found


def test_every_amount_the_simulator_sends_is_unpadded_like_the_real_payloads(api, client):
    samples = _money_strings(PRODUCT_SAMPLE) + _money_strings(ORDER_SAMPLE)
    assert samples and all(UNPADDED.match(v) for _, v in samples), samples  # the rule holds on the samples
    created = create_active_product(api, client)  # priced "19.90" in the request
    pid, sku_id = created["product_id"], created["skus"][0]["id"]
    api.ok("POST", f"/product/202309/products/{pid}/prices/update",
           body={"skus": [{"id": sku_id, "price": {"amount": "20.50", "currency": "USD"},
                           "list_price": {"amount": "30.00", "currency": "USD"}}]})
    order_id = client.post("/_admin/orders", json={"line_items": [{"sku_id": sku_id, "quantity": 2}],
                                                   "seller_discount": "1.50", "status": "DELIVERED"}).json()["id"]
    product = api.ok("GET", f"/product/202309/products/{pid}")
    order = api.ok("GET", "/order/202309/orders", query={"ids": order_id})["orders"][0]
    sent = _money_strings(product) + _money_strings(order)
    assert {p for p, _ in sent} >= {"skus[].price.sale_price", "skus[].price.tax_exclusive_price",
                                    "skus[].list_price.amount", "payment.total_amount", "line_items[].sale_price"}
    padded = [(p, v) for p, v in sent if not UNPADDED.match(v)]
    assert not padded, padded
    assert product["skus"][0]["price"]["tax_exclusive_price"] == "20.5"
    assert product["skus"][0]["list_price"]["amount"] == "30"


def test_payload_copies_equal_the_shared_payloads_when_they_are_beside_the_checkout():
    from payload_shapes import PAYLOADS, shared_payloads

    shared = shared_payloads()
    if shared is None:
        pytest.skip("no shared/payloads beside this checkout")
    for platform in ("tiktok_shop", "shopify"):
        names = sorted(p.name for p in (shared / platform).iterdir())
        assert names == sorted(p.name for p in (PAYLOADS / platform).iterdir()), platform
        for name in names:
            assert (PAYLOADS / platform / name).read_bytes() == (shared / platform / name).read_bytes(), name


def test_shape_checker_catches_a_renamed_key_a_string_id_turned_number_and_a_lost_key():
    shape = shape_of({"id": "1", "price": {"sale_price": "1"}, "n": 1})
    from payload_shapes import differences

    assert differences(shape, {"id": 1, "price": {"sale_price": "1"}, "n": 2}) == ["id: number where the samples have string"]
    assert differences(shape, {"id": "1", "price": {"salePrice": "1"}, "n": 2}) == [
        "price.salePrice: not in any sample", "price.sale_price: missing (every sample has it)"]
    assert paths({"a": [{"b": 1}]}) == {"a", "a[].b"}
    assert json.dumps(sorted(paths(PRODUCT_SAMPLE["data"])))  # every sample path is addressable
