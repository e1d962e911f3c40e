"""Stock end to end against both simulators: the acme catalog listed on TikTok, then what TikTok
offers computed from Shopify's levels (two locations summed, a safety buffer, held orders), store
webhooks, TikTok orders held until imported and counted once, sold-out listings taken off sale
and put back, and a reconciliation that finds injected drift and repairs exactly it."""

from __future__ import annotations

import io
import json
import random
import shutil
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from engine.cli.reconcile import drift_rows, print_reconciliation
from engine.flow.runner import FlowRun, Merchant
from simulators.sandbox import start_sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
MAIN_WH = "7068517275539719942"

pytestmark = pytest.mark.slow


class Shop:
    """Both simulators as a test reads them."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        env = sandbox.environ()
        self.base, self.token = env["ACME_SHOPIFY_URL"], env["ACME_SHOPIFY_TOKEN"]

    def shopify(self, method: str, path: str, body: dict | None = None, **query) -> dict:
        response = httpx.request(method, f"{self.base}/{path}", json=body, params=query or None,
                                 headers={"X-Shopify-Access-Token": self.token}, timeout=30)
        response.raise_for_status()
        return response.json()

    def shopify_state(self) -> dict:
        return self.sandbox.admin("shopify", "GET", "state")

    def item_of(self, sku: str) -> int:
        return next(v["inventory_item_id"] for p in self.shopify_state()["products"] for v in p["variants"]
                    if v["sku"] == sku)

    def available(self) -> dict[str, int]:
        """SKU -> Shopify's available units summed over its locations (tracked items only)."""
        state = self.shopify_state()
        sku_of = {v["inventory_item_id"]: v["sku"] for p in state["products"] for v in p["variants"]}
        out: dict[str, int] = {}
        for level in state["inventory_levels"]:
            sku = sku_of.get(level["inventory_item_id"])
            if sku and level["available"] is not None:
                out[sku] = out.get(sku, 0) + level["available"]
        return out

    def set_level(self, sku: str, location: int, available: int) -> dict:
        return self.shopify("POST", "inventory_levels/set.json", {"location_id": location,
                                                                  "inventory_item_id": self.item_of(sku),
                                                                  "available": available,
                                                                  "disconnect_if_necessary": True})["inventory_level"]

    def tiktok_products(self) -> dict[str, dict]:
        products = self.sandbox.admin("tiktok_shop", "GET", "state")["products"]
        return {p["id"]: p for p in (products.values() if isinstance(products, dict) else products)}

    def offered(self) -> dict[str, int]:
        """Seller SKU -> TikTok's available units in the main warehouse."""
        return {sku["seller_sku"]: next((r["quantity"] for r in sku["inventory"] if r["warehouse_id"] == MAIN_WH), 0)
                for p in self.tiktok_products().values() if p["status"] != "DELETED" for sku in p["skus"]}

    def listing_of(self, seller_sku: str) -> dict:
        return next(p for p in self.tiktok_products().values() for s in p["skus"] if s["seller_sku"] == seller_sku)


class Recorder:
    """Every call a connection makes, with its body (the TikTok simulator logs no bodies)."""

    def __init__(self, conn) -> None:
        self.calls: list[tuple[str, dict | None, object]] = []
        self.conn, self._call = conn, conn.call
        conn.call = self

    def __call__(self, op, **kwargs):
        self.calls.append((op, kwargs.get("path_params"), kwargs.get("body")))
        return self._call(op, **kwargs)

    def written(self) -> list[str]:
        """The TikTok SKU ids each inventory update sent."""
        return [row["id"] for op, _, body in self.calls if op == "update_inventory" for row in body["skus"]]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    sandbox = start_sandbox(products=30, seed=7, max_variants=4, invalid_share=0.0,
                            shopify_options={"bucket_size": 400, "leak_per_second": 20.0})
    workdir = tmp_path_factory.mktemp("merchant")
    shutil.copytree(EXAMPLE, workdir / "acme")
    merchant = Merchant(workdir / "acme" / "merchant.yaml", environ=sandbox.environ())
    assert FlowRun(merchant, "catalog").run().status == "ok"
    sandbox.admin("tiktok_shop", "POST", "audit/run", json={})
    shop = Shop(sandbox)
    # The example's location ids are the sandbox's: a second location with stock of its own.
    locations = [loc["id"] for loc in shop.shopify_state()["locations"]]
    assert [str(loc) for loc in locations] == ["7000339563971", "7000339564126"]
    rng = random.Random(5)
    for sku in rng.sample(sorted(shop.available()), 12):
        shop.set_level(sku, locations[1], rng.randint(0, 9))
    report = FlowRun(merchant, "inventory").run()
    assert report.status == "ok" and not report.dead_letters, report.dead_letters
    yield shop, merchant, locations
    merchant.close()
    sandbox.stop()


def expected(shop: Shop, buffer: int = 1) -> dict[str, int]:
    return {sku: max(0, units - buffer) for sku, units in shop.available().items()}


def test_tiktok_offers_what_shopify_has_at_both_locations_less_the_buffer(shop):
    shop, _, _ = shop
    offered, want = shop.offered(), expected(shop)
    assert offered and set(offered) <= set(want)
    assert {sku: want[sku] for sku in offered} == offered


def test_a_second_run_writes_nothing(shop):
    shop, merchant, _ = shop
    recorder = Recorder(merchant.connection("tiktok_us"))
    report = FlowRun(merchant, "inventory").run()
    assert set(report.counts) == {"gathered", "skip"} and recorder.written() == []


def test_a_store_webhook_rereads_the_item_and_writes_that_sku_alone(shop):
    shop, merchant, locations = shop
    sku = sorted(shop.offered())[3]
    level = shop.set_level(sku, locations[0], 31)
    stale = {**level, "available": 2}  # an older delivery arriving late, and a duplicate
    recorder = Recorder(merchant.connection("tiktok_us"))
    run = FlowRun(merchant, "inventory")
    report = run.run(records=run.steps[0].event_records(run.ctx, [level, stale, level]))
    assert report.counts.get("inventory_update") == 1
    assert len(recorder.written()) == 1 and shop.offered()[sku] == expected(shop)[sku]


def test_a_tiktok_sale_is_held_until_imported_and_counted_once(shop):
    shop, merchant, locations = shop
    sku = next(s for s, n in sorted(shop.offered().items()) if n >= 5)
    before = shop.offered()[sku]
    order = shop.sandbox.admin("tiktok_shop", "POST", "orders", json={
        "line_items": [{"seller_sku": sku, "quantity": 2}], "status": "AWAITING_SHIPMENT"})
    assert shop.offered()[sku] == before - 2  # TikTok took the units off itself
    events = shop.sandbox.admin("tiktok_shop", "GET", "webhooks/outbox",
                                params={"event_type": "ORDER_STATUS_CHANGE", "all": "1"})["events"]
    payloads = [json.loads(e["body"]) for e in events if json.loads(e["body"])["data"]["order_id"] == order["id"]]
    holds = FlowRun(merchant, "inventory_holds")
    assert holds.run(records=holds.steps[0].event_records(holds.ctx, payloads)).counts == {"hold": 1}
    # A store change before the import: the held units are not given back to TikTok.
    level = shop.set_level(sku, locations[1], 0)
    run = FlowRun(merchant, "inventory")
    run.run(records=run.steps[0].event_records(run.ctx, [level]))
    assert shop.offered()[sku] == expected(shop)[sku] - 2
    # The import takes the units off Shopify's stock; the hold no longer counts: TikTok unchanged.
    offered = shop.offered()[sku]
    assert FlowRun(merchant, "orders").run().counts.get("create", 0) >= 1
    run = FlowRun(merchant, "inventory")
    level = next(x for x in shop.shopify_state()["inventory_levels"] if x["inventory_item_id"] == shop.item_of(sku)
                 and x["location_id"] == locations[0])
    run.run(records=run.steps[0].event_records(run.ctx, [level]))
    assert shop.offered()[sku] == offered == expected(shop)[sku]
    assert holds.run().counts.get("release") == 1  # the next poll lets the hold go
    assert merchant.store.reservations(order_key=f"transit:{order['id']}") == []


def test_reconciliation_finds_injected_drift_on_5_percent_of_skus_and_repairs_exactly_those(shop, tmp_path):
    shop, merchant, _ = shop
    FlowRun(merchant, "inventory").run()
    conn = merchant.connection("tiktok_us")
    skus = sorted(shop.offered())
    drifted = random.Random(11).sample(skus, max(1, round(len(skus) * 0.05)))
    ids = {s["seller_sku"]: (p["id"], s["id"]) for p in shop.tiktok_products().values() for s in p["skus"]}
    for sku in drifted:
        product_id, sku_id = ids[sku]
        conn.call("update_inventory", path_params={"product_id": product_id}, body={"skus": [
            {"id": sku_id, "inventory": [{"warehouse_id": MAIN_WH, "quantity": shop.offered()[sku] + 17}]}]})
    recorder = Recorder(conn)
    report = FlowRun(merchant, "inventory", mode="reconcile").run()
    assert report.status == "ok" and not report.dead_letters
    rows = drift_rows(report)
    assert sorted(row["sku"] for row in rows) == sorted(drifted)
    assert all(row["result"] == "repaired" and row["channel"] == row["salable"] + 17 for row in rows)
    assert sorted(recorder.written()) == sorted(ids[sku][1] for sku in drifted)  # exactly those
    assert shop.offered() == {sku: expected(shop)[sku] for sku in skus}
    buffer = io.StringIO()
    print_reconciliation(report, "acme", out=Console(file=buffer, width=80, color_system=None))
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert f"{len(drifted)} in drift" in text and f"Repaired {len(drifted)} SKU" in text
    for sku in drifted:
        assert sku in text
    again = FlowRun(merchant, "inventory", mode="reconcile").run()
    assert drift_rows(again) == []


def test_a_sold_out_listing_goes_off_sale_and_comes_back_through_the_audit(shop, tmp_path):
    shop, merchant, locations = shop
    merchant_file = merchant.base_dir / "merchant.yaml"
    text = merchant_file.read_text()
    patched = text.replace("      safety_buffer: 1   # units kept off TikTok for every SKU\n",
                           "      safety_buffer: 1\n      deactivate_when_sold_out: true\n")
    assert patched != text
    merchant_file.write_text(patched)
    try:
        deactivating = Merchant(merchant_file, environ=shop.sandbox.environ())
        listing = next(p for p in shop.tiktok_products().values() if p["status"] == "ACTIVATE" and len(p["skus"]) > 1)
        levels = [x for x in shop.shopify_state()["inventory_levels"]
                  if x["inventory_item_id"] in {shop.item_of(s["seller_sku"]) for s in listing["skus"]}]
        for sku in listing["skus"]:
            for location in locations:
                shop.set_level(sku["seller_sku"], location, 0)
        run = FlowRun(deactivating, "inventory")
        report = run.run(records=run.steps[0].event_records(run.ctx, levels))
        assert report.counts.get("inventory_update+deactivate") == 1, report.counts
        assert shop.tiktok_products()[listing["id"]]["status"] == "SELLER_DEACTIVATED"
        shop.set_level(listing["skus"][0]["seller_sku"], locations[0], 6)
        run = FlowRun(deactivating, "inventory")
        report = run.run(records=run.steps[0].event_records(run.ctx, levels))
        assert report.counts.get("inventory_update+activate") == 1, report.counts
        shop.sandbox.admin("tiktok_shop", "POST", "audit/run", json={})
        assert shop.tiktok_products()[listing["id"]]["status"] == "ACTIVATE"
        assert shop.offered()[listing["skus"][0]["seller_sku"]] == 5
        deactivating.close()
    finally:
        merchant_file.write_text(text)


def test_serve_routes_the_store_and_order_webhooks_to_the_stock_flows(shop):
    from engine.serve.routing import routes_of

    _, merchant, _ = shop
    shopify = merchant.plan.connectors["shopify"]
    assert shopify.webhooks.topic_name("inventory_levels/update") == "INVENTORY_LEVELS_UPDATE"
    routes = routes_of(merchant)
    assert routes.flows_for("shopify", "INVENTORY_LEVELS_UPDATE") == ("inventory",)
    assert "inventory_holds" in routes.flows_for("tiktok_us", "ORDER_STATUS_CHANGE")


def test_the_catalog_flow_leaves_stock_to_the_stock_flow(shop):
    """The catalog's quantity is Shopify's: no buffer, no held units. Before, a catalog run after a
    stock change wrote it over what the stock flow offered (the held units went back on sale until
    the stock flow's next run); now a stock change alone makes no call, and a full edit carries
    the stock flow's figure, which that flow writes again at once."""
    shop, merchant, locations = shop
    tiktok = merchant.connection("tiktok_us")
    sku = next(s for s, n in sorted(shop.offered().items()) if n >= 5 and len(shop.listing_of(s)["skus"]) == 1)
    order = shop.sandbox.admin("tiktok_shop", "POST", "orders", json={
        "line_items": [{"seller_sku": sku, "quantity": 2}], "status": "AWAITING_SHIPMENT"})
    events = shop.sandbox.admin("tiktok_shop", "GET", "webhooks/outbox",
                                params={"event_type": "ORDER_STATUS_CHANGE", "all": "1"})["events"]
    payloads = [json.loads(e["body"]) for e in events if json.loads(e["body"])["data"]["order_id"] == order["id"]]
    holds = FlowRun(merchant, "inventory_holds")
    assert holds.run(records=holds.steps[0].event_records(holds.ctx, payloads)).counts == {"hold": 1}
    shop.set_level(sku, locations[0], shop.available()[sku] + 10 - sum(
        x["available"] for x in shop.shopify_state()["inventory_levels"]
        if x["inventory_item_id"] == shop.item_of(sku) and x["location_id"] == locations[1]))
    assert FlowRun(merchant, "inventory").run().status == "ok"
    salable = expected(shop)[sku] - 2
    assert shop.offered()[sku] == salable

    # The store's stock moves and the catalog runs before the stock flow: no stock call.
    shop.set_level(sku, locations[1], 0)
    recorder = Recorder(tiktok)
    report = FlowRun(merchant, "catalog").run()
    assert report.status == "ok" and "inventory_update" not in report.counts, report.counts
    assert not [op for op, _, _ in recorder.calls if op == "update_inventory"]
    assert shop.offered()[sku] == salable
    assert any((r.get("detail") or {}).get("reason") == "only the stock changed, which inventory writes"
               for r in report.results), report.results

    # A content change: the full edit carries the stock flow's figure, which it then writes again.
    product = next(p for p in shop.shopify_state()["products"] if any(v["sku"] == sku for v in p["variants"]))
    shop.shopify("PUT", f"products/{product['id']}.json", {"product": {"id": product["id"],
                                                                     "title": product["title"] + " Plus"}})
    recorder.calls.clear()
    report = FlowRun(merchant, "catalog").run()
    assert report.counts.get("update") == 1, report.counts
    sent = [row["quantity"] for op, _, body in recorder.calls if op in ("edit_product", "update_inventory")
            for s in body["skus"] if s.get("seller_sku", s.get("id")) in (sku, shop.listing_of(sku)["skus"][0]["id"])
            for row in s["inventory"]]
    assert sent and max(sent) <= salable, sent  # never Shopify's own figure (more, and the held units)
    assert shop.offered()[sku] == expected(shop)[sku] - 2  # the stock flow wrote the new level at once
    assert drift_rows(FlowRun(merchant, "inventory", dry_run=True, mode="reconcile").run()) == []


def test_locations_that_do_not_exist_are_named_in_a_warning(tmp_path, caplog):
    """The sandbox's seed decides its location ids: a merchant file naming another seed's locations
    reads no level at all, which the run cannot tell from "no stock": it names the ids it read within."""
    sandbox = start_sandbox(products=1, seed=18, max_variants=1, invalid_share=0.0)
    shutil.copytree(EXAMPLE, tmp_path / "acme")
    merchant = Merchant(tmp_path / "acme" / "merchant.yaml", environ=sandbox.environ())
    try:
        assert [loc["id"] for loc in sandbox.admin("shopify", "GET", "state")["locations"]][0] != 7000339563971
        with caplog.at_level("WARNING", logger="engine.flow.steps.read"):
            report = FlowRun(merchant, "inventory").run()
        assert report.status == "ok" and report.counts == {}
        assert "found nothing within 7000339563971, 7000339564126: check that these ids exist at store" in caplog.text
    finally:
        merchant.close()
        sandbox.stop()
