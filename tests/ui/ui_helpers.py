"""Helpers of the operations page tests: the acme environment, a TikTok stub for the listing
status flow, a seeded copy of the acme example, and the CSRF token of a page."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from engine.state import open_store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "acme"
ENV = {"ACME_SHOPIFY_TOKEN": "shpat_ui_test_token", "ACME_SHOPIFY_WEBHOOK_SECRET": "whsec_ui_test",
       "ACME_SHOPIFY_URL": "https://shopify.test/admin/api/2025-01", "ACME_TIKTOK_SHOP_CIPHER": "cipher",
       "ACME_TIKTOK_APP_KEY": "ui-app-key", "ACME_TIKTOK_APP_SECRET": "ui-app-secret-value",
       "ACME_TIKTOK_ACCESS_TOKEN": "ui-access-token-value", "ACME_TIKTOK_REFRESH_TOKEN": "ui-refresh-token-value",
       "ACME_TIKTOK_URL": "https://tiktok.test"}
LOCAL = "http://127.0.0.1:8081"


def listing_status_stub(refused: set[str]):
    """TikTok answers a listing search with three products and refuses the detail of those in
    `refused` (a set the test may empty to let a replay through)."""
    products = [{"id": f"17{i}", "title": f"Trail Product {i}", "status": "FAILED", "audit": {"status": "REJECTED"},
                 "update_time": 1_700_000_000 + i, "skus": [{"id": f"9{i}", "seller_sku": f"TRAIL-SKU-{i}"}]}
                for i in range(3)]

    def envelope(data, code: int = 0, message: str = "Success") -> httpx.Response:
        return httpx.Response(200, json={"code": code, "message": message, "request_id": "r", "data": data})

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/products/search"):
            return envelope({"products": products, "next_page_token": "", "total_count": len(products)})
        product_id = request.url.path.rsplit("/", 1)[-1]
        if product_id in refused:
            return envelope(None, 12052251, f"The product {product_id} is frozen and cannot be viewed")
        found = next(p for p in products if p["id"] == product_id)
        return envelope({**found, "audit_failed_reasons": [{"position": "title", "reasons": ["Too short"],
                                                             "suggestions": ["Name the material"]}]})

    return handler


def copy_acme(where: Path) -> Path:
    shutil.copytree(EXAMPLE, where, ignore=shutil.ignore_patterns(".state"))
    (where / ".state").mkdir()
    return where / "merchant.yaml"


def seed(merchant_file: Path) -> dict:
    """Runs, five open dead letters in two groups (and one resolved), an order, stock."""
    store = open_store(str(merchant_file.parent / ".state" / "acme.db"))
    try:
        run = store.start_run("acme", "catalog", False, {})
        too_long = [store.add_dead_letter(run, "acme", "catalog", "check", "catalog_to_tiktok", f"70003396{i}", {
            "title": f"Pack {i}", "variants": [{"sku": f"PACK-{i}"}], "api_key": "ui-access-token-value"},
            {"message": "1 rule(s) failed", "type": "RecordError", "label": f"Pack {i} (SKU PACK-{i})",
             "field_errors": [{"field": "title", "rule": "title_length",
                               "message": f"title has {250 + i * 10} characters; TikTok allows 255"}]})
            for i in range(3)]
        auth = [store.add_dead_letter(run, "acme", "catalog", "fetch", "catalog_to_tiktok", f"80003396{i}",
                                      {"title": f"Candle {i}", "variants": [{"sku": f"CNDL-{i}"}]},
                                      {"message": "HTTP 401, code 106001: Invalid credentials", "type": "AuthError",
                                       "label": f"Candle {i} (SKU CNDL-{i})"}) for i in range(2)]
        store.record_result(run, "catalog_to_tiktok", "7000339601", "create", "ok", {"remote_id": "1746"})
        for key in ("700033960", "800033960"):
            store.record_result(run, "catalog_to_tiktok", key, "sync", "dead_letter", {"step": "check", "message": "x"})
        store.finish_run(run, "partial", {"counts": {"create": 1, "dead_letter": 5}})
        failed = store.start_run("acme", "orders", False, {})
        store.finish_run(failed, "failed", {"counts": {}, "error": "HTTP 503 from tiktok_us"})
        store.map_id("order", "shopify", "576461413038785752", "5001")
        store.set_snapshot("order", "shopify", "576461413038785752", {
            "channel": "tiktok_shop", "order_number": "576461413038785752", "status": "awaiting_shipment",
            "financial_status": "paid", "fulfillment_type": "seller", "currency": "USD",
            "money": {"total": {"amount": "42.50", "currency": "USD"}}})
        store.reserve_stock("tiktok_us", "576461413099999999", {"MUG-1": 2})
        store.map_id("sku", "tiktok_us", "MUG-1", "9001")
        store.set_stock("tiktok_us", "MUG-1", {"salable": 17, "warehouses": {"7068517275539719942": 17},
                                                "on_hand": 20, "held": 2, "buffer": 1,
                                                "at": "2026-11-30T10:00:00.000000Z"})
        store.map_id("product", "tiktok_us", "shop-1", "1701", {"title": "Trail Product 1", "status": "FAILED",
                                                                 "audit_status": "REJECTED", "seller_skus": ["T-1"],
                                                                 "audit_failed_reasons": [{"position": "title",
                                                                                           "reasons": ["Too short"]}]})
    finally:
        store.close()
    return {"run": run, "failed_run": failed, "too_long": too_long, "auth": auth}


def csrf_of(client: TestClient, path: str = "/ui/m/acme/dlq") -> str:
    """Load a page (which sets the CSRF cookie) and read the token its forms carry."""
    import re

    html = client.get(path).text
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)
