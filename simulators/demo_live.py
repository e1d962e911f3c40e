"""The livestream part of `make demo`: `connector serve` takes the platforms' webhooks. The
subscriptions are made as `connector webhooks sync` makes them, the sandbox delivers its events
as they happen, and each TikTok order placed during the "livestream" is stored, acknowledged and
imported into Shopify once, with no `connector run` in between."""

from __future__ import annotations

import time
from typing import Any

from engine.cli.run import console
from engine.cli.webhooks import print_sync, sync
from engine.flow.runner import Merchant
from engine.serve import ServeOptions, Server
from simulators.common import LoopbackServer

BUYERS = 20


def _listed_skus(sandbox: Any) -> list[str]:
    products = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    products = products.values() if isinstance(products, dict) else products
    return [s["seller_sku"] for p in products if p.get("status") == "ACTIVATE" for s in p["skus"] if s.get("seller_sku")]


def _wait(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def run_live_story(sandbox: Any, merchant: Merchant, merchant_file: Any, step: int = 14) -> None:
    console.print(f"[bold]{step}. A livestream: `connector serve` receives the webhooks; each TikTok order "
                  "is stored, acknowledged, then imported[/bold]")
    server = Server([merchant], ServeOptions(schedule=False, port=0)).start()
    http = LoopbackServer(server.app).start()
    try:
        console.print(f"  Serving {merchant.name} at {http.url}; subscribing what its flows need "
                      f"(connector webhooks sync {merchant_file} --url {http.url}):")
        print_sync(sync(merchant, http.url))
        sandbox.point_webhooks(http.url)
        skus = _listed_skus(sandbox)
        started = time.monotonic()
        ids = [sandbox.admin("tiktok_shop", "POST", "orders", json={
            "line_items": [{"seller_sku": skus[i % len(skus)]}], "status": "AWAITING_SHIPMENT"})["id"]
            for i in range(BUYERS)]
        placed = time.monotonic() - started
        wanted = {f"TT{order_id}" for order_id in ids}

        def imported() -> dict[str, int]:
            names = sandbox.admin("shopify", "GET", "orders/counts")["by_name"]
            return {name: n for name, n in names.items() if name in wanted}

        def all_in() -> dict[str, int] | None:
            got = imported()
            return got if len(got) == len(wanted) else None

        found = _wait(all_in, 120.0) or imported()
        took = time.monotonic() - started
        events = merchant.store.event_counts()
        twice = sorted(name for name, n in found.items() if n > 1)
        console.print(f"  {BUYERS} buyers ordered in {placed:.1f} s; {len(found)} of {BUYERS} orders were in "
                      f"Shopify {took:.1f} s after the first, {len(twice)} twice.")
        console.print(f"  Events stored by the server: {events['done']} processed, {events['pending']} pending, "
                      f"{events['failed']} dead-lettered (order events, and Shopify's stock changes that "
                      "followed each import, which the inventory flow took).")
    finally:
        sandbox.point_webhooks(None)
        http.stop()
        server.stop()
