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


SORTED_FLOW = """kind: flow
name: sorted_listings
entity: product
roles:
  channel: {description: the shop, pull: [product]}
steps:
  - pull: {from: channel, entity: product}
  # sort_by refuses a key that is null on some SKU: an expression that fails on one record's data.
  - fetch: {from: channel, operation: get_product, when: "sort_by(skus, &seller_sku)", context_key: again,
            path_params: {product_id: id}}
"""


def test_an_expression_that_fails_on_a_records_data_dead_letters_that_record_only(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "acme", ignore=shutil.ignore_patterns(".state"))
    (tmp_path / "acme" / "sorted_listings.yaml").write_text(SORTED_FLOW)
    path = tmp_path / "acme" / "merchant.yaml"
    path.write_text(path.read_text().replace("\nflows:\n", "\nflows:\n  sorted:\n    flow: sorted_listings\n"
                                                           "    connections: {channel: tiktok_us}\n", 1))

    def without_a_sku(request: httpx.Request) -> httpx.Response:
        response = stub(request)
        body = response.json()
        for product in (body["data"] or {}).get("products") or [body["data"] or {}]:
            if product.get("id") == "171":
                product["skus"].append({"id": "99", "seller_sku": None})
        return httpx.Response(200, json=body)

    merchant = Merchant(path, environ=ENV, state_url=":memory:",
                        transports={"tiktok_us": httpx.MockTransport(without_a_sku)})
    try:
        report = FlowRun(merchant, "sorted").run()
        letters = merchant.store.list_dead_letters(merchant="acme", flow="sorted")
    finally:
        merchant.close()
    assert report.status == "ok" and report.counts.get("dead_letter") == 2, report.counts  # 171, and the frozen one
    [sorted_letter] = [x for x in letters if x["key"] == "171"]
    assert sorted_letter["step"] == "fetch" and "sort_by" in sorted_letter["error"]["message"]
