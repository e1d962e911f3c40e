"""The stock part of `make demo`: what TikTok may sell, computed from Shopify's two locations less
a buffer and the units of TikTok orders not imported yet; a Shopify change arriving as a webhook;
a reconciliation that finds a SKU changed on TikTok by hand and repairs it alone."""

from __future__ import annotations

from typing import Any

import httpx

from engine.cli.reconcile import print_reconciliation
from engine.cli.run import console, print_report
from engine.flow.runner import FlowRun, Merchant

MAIN_WH = "7068517275539719942"


def _offered(sandbox: Any, seller_sku: str) -> int:
    products = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    return next(r["quantity"] for p in products for s in p["skus"] if s["seller_sku"] == seller_sku
                for r in s["inventory"] if r["warehouse_id"] == MAIN_WH)


def run_stock_story(sandbox: Any, merchant: Merchant, merchant_file: Any, first_step: int = 11) -> None:
    step = first_step
    console.print(f"[bold]{step}. Stock: Shopify is the source of truth; TikTok offers both locations less a "
                  "buffer of 1 and the units of TikTok orders not imported yet[/bold]")
    print_report(FlowRun(merchant, "inventory_holds").run(), merchant_file)
    print_report(FlowRun(merchant, "inventory").run(), merchant_file)
    env = sandbox.environ()
    shop = httpx.Client(base_url=env["ACME_SHOPIFY_URL"], headers={"X-Shopify-Access-Token": env["ACME_SHOPIFY_TOKEN"]},
                        timeout=30)
    try:
        listed = {m["key"] for m in merchant.store.list_mappings("sku", "tiktok_us")}
        variant = next(v for p in sandbox.admin("shopify", "GET", "state")["products"] for v in p["variants"]
                       if v["sku"] in listed)
        sku, location = variant["sku"], sandbox.admin("shopify", "GET", "state")["locations"][1]["id"]
        console.print(f"[bold]{step + 1}. 25 units of {sku} arrive at the East DC; Shopify's webhook names the "
                      "item, whose levels are read again[/bold]")
        level = shop.post("inventory_levels/set.json", json={"location_id": location, "available": 25,
                                                             "inventory_item_id": variant["inventory_item_id"],
                                                             "disconnect_if_necessary": True}).json()["inventory_level"]
        run = FlowRun(merchant, "inventory")
        print_report(run.run(records=run.steps[0].event_records(run.ctx, [level])), merchant_file)
        console.print(f"TikTok now offers {_offered(sandbox, sku)} units of {sku}.")
        console.print(f"[bold]{step + 2}. Someone sets {sku} to 500 in TikTok's seller center; the "
                      "reconciliation finds it and repairs that SKU alone[/bold]")
        product = next(p for p in sandbox.admin("tiktok_shop", "GET", "state")["products"]
                       for s in p["skus"] if s["seller_sku"] == sku)
        sku_id = next(s["id"] for s in product["skus"] if s["seller_sku"] == sku)
        merchant.connection("tiktok_us").call("update_inventory", path_params={"product_id": product["id"]}, body={
            "skus": [{"id": sku_id, "inventory": [{"warehouse_id": MAIN_WH, "quantity": 500}]}]})
        print_reconciliation(FlowRun(merchant, "inventory", mode="reconcile").run(), merchant_file)
        console.print(f"The same from a shell: connector reconcile {merchant_file} inventory")
    finally:
        shop.close()
