"""A dead letter names its record by title and SKUs, stored with the error, so `dlq list`, `dlq show`,
`runs --run` and the run summary show what a person recognises, not only a remote id."""

from __future__ import annotations

import httpx
import pytest
from conftest import ENV, lines_within

from engine.errors import RecordError
from engine.flow.record import Record
from engine.flow.runner import FlowRun, Merchant

label = FlowRun.record_label


@pytest.mark.parametrize(("canonical", "native", "expected"), [
    ({"title": "Camp Mug", "variants": [{"sku": "MUG-1"}, {"sku": "MUG-2"}]}, None, "Camp Mug (SKUs MUG-1, MUG-2)"),
    ({"title": "Tee", "variants": [{"sku": f"T-{i}"} for i in range(5)]}, None, "Tee (SKUs T-0, T-1, T-2 +2 more)"),
    # not mapped yet (the map step failed): the native payload, Shopify's shape
    (None, {"title": "Boot", "variants": [{"sku": ""}, {"sku": "B-2"}, {"sku": None}]}, "Boot (SKU B-2)"),
    # TikTok's shape: seller SKUs
    (None, {"title": "Mat", "skus": [{"id": "1", "seller_sku": "MAT-1"}]}, "Mat (SKU MAT-1)"),
    # a record with a name rather than a title, and one SKU of its own
    (None, {"name": "#1001", "sku": "X-1"}, "#1001 (SKU X-1)"),
    # the canonical record wins; what it lacks comes from the native payload
    ({"title": "Canonical", "variants": []}, {"title": "Native", "variants": [{"sku": "N-1"}]}, "Canonical (SKU N-1)"),
    (None, {"id": 5}, ""),
    (None, ["not", "a", "record"], ""),
    (None, {"variants": [{"sku": "ONLY-SKU"}]}, "SKU ONLY-SKU"),
])
def test_labels_read_title_and_skus_generically(canonical, native, expected) -> None:
    assert label(canonical, native) == expected


def test_a_long_title_is_shortened_between_words() -> None:
    made = label({"title": "word " * 40, "variants": [{"sku": "S"}]}, None)
    assert made.startswith("word word") and "… (SKU S)" in made and len(made) < 80
    assert not made.split("…")[0].endswith(" ")


def test_the_dead_letter_and_the_run_result_carry_the_label(acme) -> None:
    merchant = Merchant(acme, environ=ENV, state_url=":memory:")
    try:
        flow = FlowRun(merchant, "catalog")
        flow.ctx.run_id = merchant.store.start_run("acme", "catalog", False, {})
        record = Record(key="7000339670925", native={"title": "Packable Pack", "variants": [{"sku": "P-1"}]},
                        data=None, canonical={"title": "Packable Pack", "variants": [{"sku": "P-1"}, {"sku": "P-2"}]})
        outcome = flow._dead_letter(record, "check", RecordError("1 rule(s) failed", field_errors=[
            {"field": "title", "rule": "title_length", "message": "too long"}]))
        [letter] = merchant.store.list_dead_letters(merchant="acme")
        [result] = merchant.store.run_results(flow.ctx.run_id)
    finally:
        merchant.close()
    assert outcome["error"]["label"] == "Packable Pack (SKUs P-1, P-2)"
    assert letter["error"]["label"] == "Packable Pack (SKUs P-1, P-2)"
    assert letter["error"]["field_errors"][0]["rule"] == "title_length"
    assert result["detail"]["label"] == "Packable Pack (SKUs P-1, P-2)"


def listing_status_stub(refused: str, status: int = 200):
    """TikTok answers a listing search with three products and refuses the detail of one."""
    products = [{"id": f"17{i}", "title": f"Trail Product {i}", "status": "FAILED", "audit": {"status": "REJECTED"},
                 "update_time": 1_700_000_000 + i, "skus": [{"id": f"9{i}", "seller_sku": f"TRAIL-SKU-{i}"}]}
                for i in range(3)]

    def envelope(data, code: int = 0, message: str = "Success", http: int = 200) -> httpx.Response:
        return httpx.Response(http, json={"code": code, "message": message, "request_id": "r", "data": data})

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/products/search"):
            return envelope({"products": products, "next_page_token": "", "total_count": len(products)})
        product_id = request.url.path.rsplit("/", 1)[-1]
        if product_id == refused:
            if status == 401:
                return envelope(None, 106001, "Invalid credentials", http=401)
            return envelope(None, 12052251, "The product is frozen and cannot be viewed")
        found = next(p for p in products if p["id"] == product_id)
        return envelope({**found, "audit_failed_reasons": [{"position": "title", "reasons": ["Too short"]}]})

    return handler, products


def seed_listings(acme) -> None:
    from engine.state import open_store

    (acme.parent / ".state").mkdir(exist_ok=True)
    store = open_store(str(acme.parent / ".state" / "acme.db"))
    try:
        for i in range(3):
            store.map_id("product", "tiktok_us", f"shop-{i}", f"17{i}")
    finally:
        store.close()


def test_the_cli_shows_the_label_in_the_summary_dlq_list_and_show(cli, acme, transports) -> None:
    transports["tiktok_us"], _ = listing_status_stub(refused="171")
    seed_listings(acme)
    run = cli("run", acme, "listing_status")
    assert run.exit_code == 3, run.output
    assert lines_within(run.output) == []
    flat = " ".join(run.output.split())
    assert "171 Trail Product 1 (SKU TRAIL-SKU-1)" in flat
    assert "frozen and cannot be viewed" in flat

    listed = cli("dlq", "list", acme)
    assert "Trail Product 1 (SKU TRAIL-SKU-1)" in listed.output and "171" in listed.output
    shown = cli("dlq", "show", acme, "1")
    assert "record  Trail Product 1 (SKU TRAIL-SKU-1)" in shown.output
