"""A platform that refuses to read one record in full (a frozen or locked listing) costs a dead
letter for that record, not the rest of the run."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from engine.flow.runner import FlowRun, Merchant

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
ENV = {"ACME_SHOPIFY_TOKEN": "shpat_test", "ACME_SHOPIFY_WEBHOOK_SECRET": "whsec_test", "ACME_TIKTOK_SHOP_CIPHER": "cipher", "ACME_TIKTOK_APP_KEY": "key",
       "ACME_TIKTOK_APP_SECRET": "tt-app-secret-value", "ACME_TIKTOK_ACCESS_TOKEN": "access", "ACME_TIKTOK_REFRESH_TOKEN": "refresh",
       "ACME_TIKTOK_URL": "https://tiktok.test"}
FROZEN = "172"


def envelope(data: dict | None, code: int = 0, message: str = "Success") -> httpx.Response:
    return httpx.Response(200, json={"code": code, "message": message, "request_id": "r", "data": data})


def stub(request: httpx.Request) -> httpx.Response:
    failed = [{"id": f"17{i}", "title": f"Product {i}", "status": "FAILED", "audit": {"status": "REJECTED"},
               "update_time": 1_700_000_000 + i, "skus": [{"id": f"9{i}", "seller_sku": f"SKU-{i}"}]}
              for i in range(4)]
    if request.url.path.endswith("/products/search"):
        return envelope({"products": failed, "next_page_token": "", "total_count": len(failed)})
    product_id = request.url.path.rsplit("/", 1)[-1]
    if product_id == FROZEN:
        return envelope(None, 12052251, "The product is frozen and cannot be viewed")
    found = next(p for p in failed if p["id"] == product_id)
    return envelope({**found, "audit_failed_reasons": [{"position": "title", "reasons": ["Too short"]}]})


def test_a_refused_detail_read_is_a_dead_letter_and_the_run_goes_on(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "acme", ignore=shutil.ignore_patterns(".state"))
    merchant = Merchant(tmp_path / "acme" / "merchant.yaml", environ=ENV, state_url=":memory:",
                        transports={"tiktok_us": httpx.MockTransport(stub)})
    try:
        for i in range(4):
            merchant.store.map_id("product", "tiktok_us", f"shop-{i}", f"17{i}")
        report = FlowRun(merchant, "listing_status").run()
        [letter] = merchant.store.list_dead_letters(merchant="acme")
    finally:
        merchant.close()
    assert report.status == "ok" and report.counts == {"tracked": 3, "dead_letter": 1}
    assert letter["key"] == FROZEN and letter["step"] == "pull"
    assert "frozen" in letter["error"]["message"] and letter["payload"]["id"] == FROZEN
