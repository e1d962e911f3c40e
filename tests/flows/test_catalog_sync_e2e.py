"""Catalog sync Shopify -> TikTok Shop, end to end against both simulators."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from engine.flow.runner import FlowRun, Merchant, replay_records
from simulators.catalog import invalid_reason
from simulators.sandbox import start_sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
WRITE_PATHS = ("/product/202309/products", "/inventory/update", "/prices/update", "/images/upload")

pytestmark = pytest.mark.slow


def tiktok_writes(sandbox) -> list[dict]:
    requests = sandbox.admin("tiktok_shop", "GET", "requests")["requests"]
    return [r for r in requests if r["method"] in ("POST", "PUT") and "search" not in r["path"]]


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    sandbox = start_sandbox(products=200, seed=11, max_variants=20, invalid_share=0.08)
    workdir = tmp_path_factory.mktemp("merchant")
    shutil.copytree(EXAMPLE, workdir / "acme")
    merchant = Merchant(workdir / "acme" / "merchant.yaml", environ=sandbox.environ())
    report = FlowRun(merchant, "catalog").run()
    yield sandbox, merchant, report
    merchant.close()
    sandbox.stop()


def test_valid_products_are_listed_with_their_skus_prices_stock_and_images(synced):
    sandbox, merchant, report = synced
    shop_products = _shopify_products(sandbox)
    expected_invalid = {str(p["id"]) for p in shop_products if _dead_lettered(p)}
    assert report.status == "ok"
    assert report.counts.get("create") == len(shop_products) - len(expected_invalid)
    listed = _tiktok_products(sandbox)
    by_external = {p.get("external_product_id"): p for p in listed}
    for product in shop_products:
        if str(product["id"]) in expected_invalid:
            continue
        tts = by_external[str(product["id"])]
        skus = {s["seller_sku"]: s for s in tts["skus"]}
        # a variant without a SKU is left out (the mapping's variants_without_sku: skip)
        assert set(skus) == {v["sku"] for v in product["variants"] if v["sku"]}
        for variant in (v for v in product["variants"] if v["sku"]):
            sku = skus[variant["sku"]]
            price = sku["price"].get("amount") or sku["price"].get("sale_price")
            assert Decimal(price) == _acme_price(product, variant)
            assert sum(int(i["quantity"]) for i in sku["inventory"]) == max(variant.get("inventory_quantity") or 0, 0)
        assert 1 <= len(tts["main_images"]) <= 9
        assert tts["product_attributes"]


def test_invalid_products_are_dead_lettered_with_field_errors(synced):
    sandbox, merchant, report = synced
    expected = {str(p["id"]): _dead_lettered(p) for p in _shopify_products(sandbox) if _dead_lettered(p)}
    letters = {row["key"]: row for row in merchant.store.list_dead_letters(merchant="acme")}
    assert set(letters) == set(expected)
    for key, letter in letters.items():
        assert letter["payload"]["id"] and letter["error"]["field_errors"], key
        assert letter["step"] in ("map", "validate", "check", "match")


def test_second_run_makes_no_writes(synced):
    sandbox, merchant, _ = synced
    sandbox.admin("tiktok_shop", "POST", "requests/clear")
    report = FlowRun(merchant, "catalog").run()
    assert report.counts.get("create", 0) == 0 and report.counts.get("update", 0) == 0
    assert tiktok_writes(sandbox) == []


def test_three_price_changes_make_three_price_calls_and_no_edit(synced):
    sandbox, merchant, _ = synced
    listed_ids = {row["key"] for row in merchant.store.list_mappings("product", "tiktok_us")}
    changed = [p for p in _shopify_products(sandbox) if str(p["id"]) in listed_ids][:3]
    for product in changed:
        variant = product["variants"][0]
        _shopify(sandbox, "PUT", f"variants/{variant['id']}.json",
                 {"variant": {"id": variant["id"], "price": "123.45"}})
    sandbox.admin("tiktok_shop", "POST", "requests/clear")
    report = FlowRun(merchant, "catalog").run()
    writes = tiktok_writes(sandbox)
    assert report.counts.get("price_update") == 3
    assert len([w for w in writes if w["path"].endswith("/prices/update")]) == 3
    assert not [w for w in writes if w["method"] == "PUT" or w["path"].endswith("/partial_edit")]
    assert len(writes) == 3


def test_dry_run_shows_the_field_diff_and_changes_nothing(synced):
    sandbox, merchant, _ = synced
    listed_ids = {row["key"] for row in merchant.store.list_mappings("product", "tiktok_us")}
    product = [p for p in _shopify_products(sandbox) if str(p["id"]) in listed_ids][5]
    _shopify(sandbox, "PUT", f"products/{product['id']}.json", {"product": {"id": product["id"], "title": "Renamed tee"}})
    before = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    report = FlowRun(merchant, "catalog", dry_run=True).run()
    after = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    assert before == after
    result = next(r for r in report.results if r["key"] == str(product["id"]))
    assert result["action"] == "update"
    from engine.cli.run import field_diff

    assert any("title" in line and "Renamed tee" in line for line in field_diff(result["previous"], result["canonical"]))


def test_fixing_a_dead_letter_and_replaying_lists_it(synced):
    sandbox, merchant, _ = synced
    # (an empty SKU no longer dead-letters a product that has other SKUs, so a long title is fixed)
    letter = next(row for row in merchant.store.list_dead_letters(merchant="acme")
                  if (row["error"]["field_errors"] or [{}])[0].get("field") == "title")
    fixed = json.loads(json.dumps(letter["payload"]))
    fixed["title"] = fixed["title"][:120].rstrip()
    merchant.store.update_dead_letter_payload(letter["id"], fixed)
    report = FlowRun(merchant, "catalog").run(records=replay_records(merchant.store, "acme", "catalog", [letter["id"]]))
    assert report.counts == {"create": 1}
    assert merchant.store.get_remote_id("product", "tiktok_us", letter["key"])
    assert merchant.store.get_dead_letter(letter["id"])["status"] != "open"


def test_a_killed_run_then_a_rerun_creates_no_duplicate_listing(tmp_path):
    with start_sandbox(products=40, seed=5, max_variants=4, invalid_share=0.0) as sandbox:
        shutil.copytree(EXAMPLE, tmp_path / "acme")
        env = {**os.environ, **sandbox.environ()}
        command = [sys.executable, "-m", "engine.cli", "run", str(tmp_path / "acme" / "merchant.yaml"), "catalog"]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            creates = [w for w in tiktok_writes(sandbox) if w["path"] == "/product/202309/products"]
            if len(creates) >= 8:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
        # The create the killed run was making is still claimed in the idempotency ledger. The
        # rerun holds the flow's lease, so it knows that claim's run is gone: it looks the listing
        # up by its SKUs and adopts it (or creates it, if the call never reached TikTok).
        assert finished.returncode == 0, finished.stdout + finished.stderr
        listed = _tiktok_products(sandbox)
        seller_skus = [s["seller_sku"] for p in listed for s in p["skus"]]
        assert len(seller_skus) == len(set(seller_skus))
        assert len(listed) == 40


def _dead_lettered(product: dict) -> str | None:
    """The planted defect that keeps a product off TikTok. An empty SKU does so only when no
    variant has one; otherwise that variant is left out and the rest is listed."""
    reason = invalid_reason(product)
    if reason == "empty_sku" and any(v["sku"] for v in product["variants"]):
        return None
    return reason


def _acme_price(product: dict, variant: dict) -> Decimal:
    """What Acme's price rules (examples/acme/prices.yaml) make of a Shopify variant's price now."""
    from datetime import UTC, datetime

    from engine.lang.expr import ExpressionCompiler
    from engine.pricing import compile_price_rules
    from engine.project.yamlpos import load_file

    rules = compile_price_rules(load_file(EXAMPLE / "prices.yaml"), ExpressionCompiler())
    canonical = {"tags": [t.strip() for t in (product.get("tags") or "").split(",") if t.strip()],
                 "category": {"name": product.get("product_type")},
                 "variants": [{"sku": variant["sku"], "price": {"amount": variant["price"]}}]}
    [priced] = rules.price_product(canonical, "USD", datetime.now(UTC))
    return priced.price


def _shopify(sandbox, method: str, path: str, body: dict | None = None) -> dict:
    response = httpx.request(method, f"{sandbox.environ()['ACME_SHOPIFY_URL']}/{path}", json=body,
                             headers={"X-Shopify-Access-Token": sandbox.environ()["ACME_SHOPIFY_TOKEN"]}, timeout=30)
    response.raise_for_status()
    return response.json()


def _shopify_products(sandbox) -> list[dict]:
    products = sandbox.admin("shopify", "GET", "state")["products"]
    return list(products.values()) if isinstance(products, dict) else products


def _tiktok_products(sandbox) -> list[dict]:
    products = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    items = list(products.values()) if isinstance(products, dict) else products
    return [p for p in items if p.get("status") != "DELETED"]
