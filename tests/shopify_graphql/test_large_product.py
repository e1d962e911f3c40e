"""A product with 250 variants (REST stops at 100) goes into the store through productSet and comes
back out through the paged read, the detail read and the bulk read, the same to the variant."""

from __future__ import annotations

from decimal import Decimal

import pytest
from gql_helpers import API_VERSION, ROOT

from engine.http import Connection
from engine.lang.mapping import compile_mapping
from engine.project.yamlpos import load_file, plain
from simulators.common import LoopbackServer
from simulators.shopify.app import create_app

SIZES = [f"{waist}/{length}" for waist in range(24, 49) for length in range(26, 36)]  # 25 x 10 = 250


def _mapping(name: str):
    return compile_mapping(load_file(ROOT / "mappings" / "shopify_graphql" / f"{name}.yaml"))


@pytest.fixture(scope="module")
def shop():
    app = create_app(seed=3)
    with LoopbackServer(app) as server:
        spec = plain(load_file(ROOT / "connectors" / "shopify_graphql.yaml"))
        conn = Connection(spec, settings={"base_url": f"{server.url}/admin/api/{API_VERSION}"},
                          credentials={"access_token": "shpat_sandbox"})
        conn.spec.operations["bulk_products"].request.poll_seconds = 0.05
        yield app, conn
        conn.close()


def canonical_jeans() -> dict:
    return {
        "id": "JEANS", "title": "Selvedge Jeans", "description_html": "<p>Raw denim.</p>", "brand": "Acme",
        "category": {"name": "Jeans"}, "status": "active", "tags": ["denim"],
        "options": [{"name": "Waist", "values": sorted({s.split('/')[0] for s in SIZES})},
                    {"name": "Length", "values": sorted({s.split('/')[1] for s in SIZES})}],
        "images": [{"url": "https://cdn.example.com/jeans.jpg", "position": 1}],
        "variants": [{"sku": f"JEAN-{size.replace('/', '-')}", "options": {"Waist": size.split("/")[0], "Length": size.split("/")[1]},
                      "price": {"amount": f"{89 + i % 7}.00", "currency": "USD"}, "inventory_quantity": i % 9,
                      "weight": {"value": "0.8", "unit": "kg"}}
                     for i, size in enumerate(SIZES)],
    }


def test_a_product_with_250_variants_is_created_in_one_call_and_read_back_whole(shop):
    app, conn = shop
    location = next(iter(app.state.sim.db.locations))
    product = canonical_jeans()
    body = _mapping("product_from_canonical").apply(product, {"location_id": str(location)})
    assert not body.errors, body.errors
    response = conn.call("create_product", body=body.output)
    assert response.item_errors == []
    created = response.record
    assert len(created["variants"]["nodes"]) == 250
    stored = app.state.sim.db.products[int(created["legacyResourceId"])]
    assert len(stored["variants"]) == 250
    levels = app.state.sim.db.levels
    assert [levels[(v["inventory_item_id"], location)]["available"] for v in stored["variants"]] == \
        [v["inventory_quantity"] for v in product["variants"]]

    to_canonical = _mapping("product_to_canonical")
    expected = {v["sku"]: (Decimal(v["price"]["amount"]), v["inventory_quantity"]) for v in product["variants"]}

    def variants_of(native: dict) -> dict:
        mapped = to_canonical.apply(native, {"currency": "USD"})
        assert not mapped.errors, mapped.errors
        return {v["sku"]: (Decimal(v["price"]["amount"]), v["inventory_quantity"]) for v in mapped.output["variants"]}

    # The paged read gives 50 variants and says there are more; the detail read gives all 250.
    [listed] = list(conn.records("list_products"))
    assert len(listed["variants"]["nodes"]) == 50 and listed["variants"]["pageInfo"]["hasNextPage"]
    detail = conn.call("get_product", path_params={"product_id": created["legacyResourceId"]}).record
    assert variants_of(detail) == expected
    # The bulk read joins every variant line to its product.
    [bulk] = [r for page in conn.paginate("bulk_products") for r in page.records]
    assert variants_of(bulk) == expected
    assert to_canonical.apply(bulk, {"currency": "USD"}).output["package"]["weight"] == {"value": "0.8", "unit": "kg"}


def test_a_second_product_set_updates_the_250_variants_in_place(shop):
    app, conn = shop
    [existing] = [p for p in app.state.sim.db.products.values() if p["title"] == "Selvedge Jeans"]
    ids = {v["sku"]: str(v["id"]) for v in existing["variants"]}
    product = canonical_jeans()
    product["title"] = "Selvedge Jeans, 2026 cut"
    for variant in product["variants"]:
        variant["price"] = {"amount": "99.00", "currency": "USD"}
    body = _mapping("product_from_canonical").apply(product, {"remote_id": str(existing["id"]), "sku_ids": ids})
    assert not body.errors, body.errors
    response = conn.call("update_product", path_params={"product_id": str(existing["id"])}, body=body.output)
    assert response.item_errors == []
    updated = app.state.sim.db.products[existing["id"]]
    assert updated["title"] == "Selvedge Jeans, 2026 cut"
    assert {v["sku"]: str(v["id"]) for v in updated["variants"]} == ids  # the same variants, not recreated
    assert {v["price"] for v in updated["variants"]} == {"99.00"}


def test_a_stale_compare_and_set_is_refused_and_writes_nothing(shop):
    app, conn = shop
    [existing] = [p for p in app.state.sim.db.products.values() if p["variants"] and len(p["variants"]) == 250]
    location = next(iter(app.state.sim.db.locations))
    variant = existing["variants"][0]
    current = app.state.sim.db.levels[(variant["inventory_item_id"], location)]["available"]
    quantity = {"inventoryItemId": f"gid://shopify/InventoryItem/{variant['inventory_item_id']}",
                "locationId": f"gid://shopify/Location/{location}", "quantity": 40}
    body = {"name": "available", "reason": "correction", "quantities": [{**quantity, "changeFromQuantity": current + 5}]}
    stale = conn.call("set_inventory_quantities", body=body)
    assert [e.code for e in stale.item_errors] == ["CHANGE_FROM_QUANTITY_STALE"]
    assert app.state.sim.db.levels[(variant["inventory_item_id"], location)]["available"] == current
    body["quantities"][0]["changeFromQuantity"] = current
    assert conn.call("set_inventory_quantities", body=body).item_errors == []
    assert app.state.sim.db.levels[(variant["inventory_item_id"], location)]["available"] == 40


def test_an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters(shop):
    app, conn = shop
    variant = next(iter(app.state.sim.db.variants.values()))
    location = next(iter(app.state.sim.db.locations))
    quantity = {"inventoryItemId": f"gid://shopify/InventoryItem/{variant['inventory_item_id']}",
                "locationId": f"gid://shopify/Location/{location}", "quantity": 7, "changeFromQuantity": None}
    body = {"name": "available", "reason": "correction", "quantities": [quantity]}
    first = conn.call("set_inventory_quantities", body=body, idempotency_key="key-1").record
    again = conn.call("set_inventory_quantities", body=body, idempotency_key="key-1").record
    assert first == again and first["inventoryAdjustmentGroup"]["id"]
    other = conn.call("set_inventory_quantities", idempotency_key="key-1",
                      body={**body, "quantities": [{**quantity, "quantity": 8}]})
    assert [e.code for e in other.item_errors] == ["IDEMPOTENCY_KEY_PARAMETER_MISMATCH"]
    assert app.state.sim.db.levels[(variant["inventory_item_id"], location)]["available"] == 7
