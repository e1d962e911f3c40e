"""P8: inventory updates pushed to the TikTok simulator by the inventory flow, against the
simulator's configured limit (50 requests a second per endpoint).

The example merchant (examples/acme) runs its inventory flow against the sandbox in another
process: every listing's stock differs from what TikTok holds, so the run writes each listing
once (one inventory update per listing), each under its SKUs' locks after reading Shopify again.
Shopify's limit is lifted so that it is not what bounds the run; the TikTok connection keeps the
rate limit its connector declares. The figure is the rate of inventory updates in steady state
(after the limiter's first burst), the baseline the simulator's limit; beside them the number of
throttled answers (429) the simulator gave.

    .venv/bin/python bench/p8_inventory.py [--full]
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import _sync
from _common import ROOT, Config, Row, fmt_rate
from _serve import Served

GOAL = ">= 95%, 0 throttled"
LIMIT = 50.0  # the TikTok simulator's requests per second per endpoint
MAIN_WH = "7068517275539719942"


def _listings(shop: _sync.Shop) -> list[dict]:
    """One TikTok listing per Shopify product, with the same SKUs and nothing in stock, as the
    catalog flow would have left them (planted directly: listing them is not what is measured)."""
    products = shop.admin("shopify", "GET", "state")["products"]
    return [{"title": p["title"], "skus": [{"seller_sku": v["sku"], "price": {"amount": "10.00", "currency": "USD"},
                                            "inventory": [{"warehouse_id": MAIN_WH, "quantity": 0}]}
                                           for v in p["variants"] if v.get("sku")]}
            for p in products if any(v.get("sku") for v in p["variants"])]


def _bind(merchant: Any, shop: _sync.Shop) -> int:
    """The ID map entries the catalog flow keeps: SKU -> TikTok SKU id (with its listing) and SKU ->
    Shopify variant id (with its inventory item). Returns the number of listings."""
    store = merchant.store
    listings = shop.admin("tiktok_shop", "GET", "state")["products"]
    for product in listings:
        for sku in product["skus"]:
            store.map_id("sku", "tiktok_us", sku["seller_sku"], str(sku["id"]), {"parent": str(product["id"])})
    for product in shop.admin("shopify", "GET", "state")["products"]:
        for variant in product["variants"]:
            if variant.get("sku"):
                store.map_id("sku", "shopify", variant["sku"], str(variant["id"]),
                             {"inventory_item_id": str(variant["inventory_item_id"])})
    return len(listings)


def measure(listings: int) -> dict:
    from engine.flow.runner import FlowRun, Merchant

    options = {"products": listings, "seed": 7, "invalid_share": 0.0, "max_variants": 3,
               "tiktok_options": {"rate_limit_per_second": LIMIT},
               "shopify_options": {"bucket_size": 1_000_000, "leak_per_second": 1_000_000.0}}
    with Served("sandbox", json.dumps(options)) as served:
        shop = _sync.Shop(served)
        folder = Path(tempfile.mkdtemp(prefix="bench-inventory-"))
        try:
            shop.admin("tiktok_shop", "POST", "seed", json={"products": _listings(shop)})
            shutil.copytree(ROOT / "examples" / "acme", folder / "acme")
            merchant = Merchant(folder / "acme" / "merchant.yaml", environ=served.info["environ"])
            try:
                planted = _bind(merchant, shop)
                conn = merchant.connection("tiktok_us")
                sent: list[float] = []
                call = conn.call

                def timed(op: str, **kwargs: Any) -> Any:
                    response = call(op, **kwargs)
                    if op == "update_inventory":
                        sent.append(time.monotonic())
                    return response

                conn.call = timed
                shop.clear_logs()
                report = FlowRun(merchant, "inventory").run()
            finally:
                merchant.close()
            logged = [r for r in shop.requests("tiktok_shop") if r["path"].endswith("/inventory/update")]
        finally:
            shop.close()
            shutil.rmtree(folder, ignore_errors=True)
    burst = int(_sync_burst())
    steady = sent[burst:]
    rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else 0.0
    return {"listings": planted, "writes": len(sent), "steady_writes": len(steady), "rate": rate,
            "throttled": sum(1 for r in logged if r["status"] == 429), "status": report.status,
            "counts": report.counts, "seconds": report.seconds}


def _sync_burst() -> float:
    """The TikTok connector's burst: the writes that go out at once before the limiter paces them."""
    import yaml

    spec = yaml.safe_load((ROOT / "connectors" / "tiktok_shop.yaml").read_text(encoding="utf-8"))
    return float(spec["rate_limit"].get("burst", spec["rate_limit"]["rate"]))


def rows(cfg: Config) -> list[Row]:
    result = measure(cfg.size(600, 3000))
    fraction = result["rate"] / LIMIT
    met = fraction >= 0.95 and result["throttled"] == 0 and result["status"] == "ok"
    what = (f"inventory updates, {result['writes']} listings, vs {LIMIT:g}/s ({result['throttled']} throttled)")
    return [Row("P8", what, fmt_rate(result["rate"]), fmt_rate(LIMIT), fraction, GOAL, met, extra=result)]


def main(argv: list[str] | None = None) -> None:
    from _common import standalone

    standalone(__doc__, rows, "P8 inventory updates", argv)


if __name__ == "__main__":
    main()
