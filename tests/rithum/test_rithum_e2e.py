"""The shipped flows end to end with Rithum (ChannelAdvisor) as the merchant system: the example
project examples/rithum_harbor against the Rithum and TikTok Shop simulators. The catalog is
listed on TikTok, TikTok orders become Rithum orders exactly once, shipments go back with their
tracking, stock follows Rithum's distribution centers, cancellations go both ways and a return is
refunded as adjustments; the simulator counts no throttled answer through all of it."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from engine.flow.runner import FlowRun, Merchant
from simulators.sandbox import start_sandbox

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rithum_harbor"
WAREHOUSE = "7068517275539719942"


def money(value) -> Decimal:
    return Decimal(str(value if value not in (None, "") else "0"))


@pytest.fixture(scope="module")
def harbor(tmp_path_factory):
    # Small pages, so every read of every flow follows @odata.nextLink.
    sandbox = start_sandbox(products=10, seed=21, max_variants=3, invalid_share=0.0,
                            rithum_options={"product_page_size": 3, "order_page_size": 4})
    workdir = tmp_path_factory.mktemp("merchant")
    shutil.copytree(EXAMPLE, workdir / "harbor")
    merchant = Merchant(workdir / "harbor" / "merchant.yaml", environ=sandbox.environ("HARBOR"))
    yield sandbox, merchant
    merchant.close()
    sandbox.stop()


def rithum(sandbox) -> dict:
    return sandbox.admin("rithum", "GET", "state")


def rithum_orders(sandbox) -> dict[str, dict]:
    return {o["SiteOrderID"]: o for o in rithum(sandbox)["orders"]}


def tiktok(sandbox) -> dict:
    return sandbox.admin("tiktok_shop", "GET", "state")


def tiktok_orders(sandbox) -> dict[str, dict]:
    orders = tiktok(sandbox)["orders"]
    return {o["id"]: o for o in (orders.values() if isinstance(orders, dict) else orders)}


@pytest.fixture(scope="module")
def listed(harbor):
    sandbox, merchant = harbor
    report = FlowRun(merchant, "catalog").run()
    sandbox.admin("tiktok_shop", "POST", "audit/run", json={})
    return report


@pytest.fixture(scope="module")
def imported(harbor, listed):
    sandbox, merchant = harbor
    generated = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
        "count": 24, "seed": 5, "max_units": 3, "fbt_share": 0.1, "on_hold_share": 0.0,
        "statuses": {"AWAITING_SHIPMENT": 6, "UNPAID": 1, "DELIVERED": 1}})["orders"]
    return generated, FlowRun(merchant, "orders").run()


def test_the_catalog_is_listed_on_tiktok_with_its_variations(harbor, listed):
    sandbox, _ = harbor
    assert listed.status == "ok" and listed.counts == {"create": len(sandbox.products)}, listed.counts
    products = rithum(sandbox)["products"]
    sellable = {p["Sku"]: p for p in products if not p["IsParent"]}
    listed_skus = {s["seller_sku"]: s for p in tiktok(sandbox)["products"] for s in p["skus"]}
    assert set(listed_skus) == set(sellable)
    for sku, product in sellable.items():
        assert money(listed_skus[sku]["price"]["amount"]) == money(product["BuyItNowPrice"]), sku
    # A parent's variations are one TikTok product with one SKU per child.
    parents = [p for p in products if p["IsParent"]]
    assert parents
    by_title = {p["title"]: p for p in tiktok(sandbox)["products"]}
    for parent in parents:
        children = {p["Sku"] for p in products if p["ParentProductID"] == parent["ID"]}
        assert {s["seller_sku"] for s in by_title[parent["Title"]]["skus"]} == children


def test_every_paid_order_is_one_rithum_order_to_the_cent_and_marked_exported(harbor, imported):
    sandbox, merchant = harbor
    generated, report = imported
    assert report.status == "ok", report.counts
    orders, store = tiktok_orders(sandbox), rithum_orders(sandbox)
    paid = {oid for oid in generated if orders[oid]["paid_time"] and orders[oid]["status"] not in ("UNPAID",
                                                                                                "CANCELLED")}
    assert paid and {name[2:] for name in store} == paid
    for oid in paid:
        order, payment = store[f"TT{oid}"], orders[oid]["payment"]
        assert money(order["TotalPrice"]) == money(payment["total_amount"]), oid
        assert money(order["TotalTaxPrice"]) == money(payment["tax"]), oid
        items = sum(money(i["UnitPrice"]) * i["Quantity"] for i in order["Items"])
        # Rithum's own arithmetic gives the total the buyer paid.
        assert (items + money(order["TotalShippingPrice"]) + money(order["TotalTaxPrice"])
                + money(order["AdditionalCostOrDiscount"])) == money(order["TotalPrice"]), oid
        assert sum(i["Quantity"] for i in order["Items"]) == len(orders[oid]["line_items"]), oid
        assert order["SecondarySiteOrderID"] == oid and order["SiteAccountID"] == "tiktok_us"
        assert order["Exported"], oid
        fbt = orders[oid]["fulfillment_type"] == "FULFILLMENT_BY_TIKTOK"
        assert order["IsExternallyFulfilled"] is fbt
    # Marked exported for this application: an unexported read by the same integration sees none.
    unexported = list(merchant.connection("rithum").paginate("list_orders", query={"exported": "false"}))
    assert sum(len(page.records) for page in unexported) == 0


def test_a_second_run_creates_nothing(harbor, imported):
    sandbox, merchant = harbor
    before = len(rithum(sandbox)["orders"])
    again = FlowRun(merchant, "orders").run()
    assert "create" not in again.counts
    assert len(rithum(sandbox)["orders"]) == before
    assert len({o["SiteOrderID"] for o in rithum(sandbox)["orders"]}) == before


def test_an_order_created_before_a_crash_is_found_by_its_site_order_id(harbor, imported):
    """The create reached Rithum but the run died before recording it: the next run's look-up by
    SiteOrderID adopts the order instead of creating a second one."""
    sandbox, merchant = harbor
    oid = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
        "count": 1, "seed": 77, "statuses": {"AWAITING_SHIPMENT": 1}, "fbt_share": 0.0})["orders"][0]
    assert merchant.store.begin_once("create:order:rithum", oid).status == "new"  # the claim of the dead run
    line = tiktok_orders(sandbox)[oid]["line_items"][0]
    early = sandbox.admin("rithum", "POST", "orders", json={"SiteOrderID": f"TT{oid}", "SecondarySiteOrderID": oid,
                                                    "SiteAccountID": "tiktok_us", "TotalPrice": 1,
                                                    "Items": [{"Sku": line["seller_sku"], "Quantity": 1,
                                                               "UnitPrice": 1}]})
    report = FlowRun(merchant, "orders").run()
    result = next(r for r in report.results if r["key"] == oid)
    assert result["action"] == "create", result
    assert [o["SiteOrderID"] for o in rithum(sandbox)["orders"]].count(f"TT{oid}") == 1
    assert merchant.store.get_remote_id("order", "rithum", oid) == str(early["ID"])


def _open(sandbox, units: int = 1) -> list[str]:
    orders, store = tiktok_orders(sandbox), rithum_orders(sandbox)
    return sorted(oid for oid, o in orders.items()
                  if o["status"] == "AWAITING_SHIPMENT" and o["fulfillment_type"] == "FULFILLMENT_BY_SELLER"
                  and len(o["line_items"]) >= units and f"TT{oid}" in store
                  and store[f"TT{oid}"]["ShippingStatus"] == "Unshipped")


def test_a_shipment_goes_back_to_tiktok_with_its_tracking(harbor, imported):
    sandbox, merchant = harbor
    shipped, unmapped = _open(sandbox)[:2]
    store = rithum_orders(sandbox)
    sandbox.admin("rithum", "POST", f"orders/{store[f'TT{shipped}']['ID']}/ship", json={"Value": {
        "TrackingNumber": "9400100000000000000001", "ShippingCarrier": "USPS", "ShippingClass": "Ground",
        "DeliveryStatus": "Complete"}})
    sandbox.admin("rithum", "POST", f"orders/{store[f'TT{unmapped}']['ID']}/ship", json={"Value": {
        "TrackingNumber": "DHL0000000004", "ShippingCarrier": "DHL Express"}})
    report = FlowRun(merchant, "fulfillment").run()
    assert report.counts.get("create") == 1 and report.counts.get("dead_letter") == 1, report.counts
    assert any("DHL Express" in e["message"] for e in report.dead_letters[0]["error"]["field_errors"])
    lines = tiktok_orders(sandbox)[shipped]["line_items"]
    assert {li["tracking_number"] for li in lines} == {"9400100000000000000001"}
    assert tiktok_orders(sandbox)[shipped]["status"] in ("IN_TRANSIT", "AWAITING_COLLECTION")
    again = FlowRun(merchant, "fulfillment").run()
    assert "create" not in again.counts and "update" not in again.counts


def test_tiktok_offers_rithums_available_stock_less_the_buffer(harbor, imported):
    sandbox, merchant = harbor
    report = FlowRun(merchant, "inventory").run()
    assert report.status == "ok" and not report.dead_letters, report.counts
    available: dict[str, int] = {}
    for product in rithum(sandbox)["products"]:
        if not product["IsParent"]:
            available[product["Sku"]] = sum(q["AvailableQuantity"] for q in product["DCQuantities"]
                                            if q["DistributionCenterID"] in (2, 3))
    offered = {s["seller_sku"]: sum(i["quantity"] for i in s["inventory"] if i["warehouse_id"] == WAREHOUSE)
               for p in tiktok(sandbox)["products"] for s in p["skus"]}
    assert available
    for sku, units in available.items():
        assert offered[sku] == max(0, units - 1), sku
    # A change in Rithum reaches TikTok on the next run, and only what changed is written.
    sku = sorted(available)[0]
    product = next(p for p in rithum(sandbox)["products"] if p["Sku"] == sku)
    merchant.connection("rithum").call("update_quantity", path_params={"product_id": product["ID"]}, body={
        "Value": {"UpdateType": "Absolute", "Updates": [{"DistributionCenterID": 3, "Quantity": 40}]}})
    again = FlowRun(merchant, "inventory").run()
    assert again.counts.get("inventory_update") == 1, again.counts
    offered = {s["seller_sku"]: sum(i["quantity"] for i in s["inventory"] if i["warehouse_id"] == WAREHOUSE)
               for p in tiktok(sandbox)["products"] for s in p["skus"]}
    at_main = sum(q["AvailableQuantity"] for q in product["DCQuantities"] if q["DistributionCenterID"] == 2)
    assert offered[sku] == max(0, at_main + 40 - 1)


def test_a_buyers_cancellation_on_tiktok_cancels_the_rithum_order_and_puts_its_units_back(harbor, imported):
    sandbox, merchant = harbor
    order_id = _open(sandbox)[-1]
    store = rithum_orders(sandbox)[f"TT{order_id}"]
    item = store["Items"][0]

    def available() -> int:
        product = next(p for p in rithum(sandbox)["products"] if p["ID"] == item["ProductID"])
        return product["TotalAvailableQuantity"]

    before = available()
    sandbox.admin("tiktok_shop", "POST", "cancellations", json={"order_id": order_id})
    assert FlowRun(merchant, "cancellation_requests").run().counts.get("approve") == 1
    assert tiktok_orders(sandbox)[order_id]["status"] == "CANCELLED"
    report = FlowRun(merchant, "orders").run()
    assert report.counts.get("cancel") == 1, report.counts
    after = rithum_orders(sandbox)[f"TT{order_id}"]
    assert after["ShippingStatus"] == "Canceled"
    assert [a["Type"] for a in after["Adjustments"]] == ["Cancellation"] * len(after["Items"])
    assert available() == before + item["Quantity"]
    assert "cancel" not in FlowRun(merchant, "orders").run().counts


def test_a_cancellation_in_rithum_cancels_the_unshipped_tiktok_order(harbor, imported):
    sandbox, merchant = harbor
    order_id = _open(sandbox)[0]
    store = rithum_orders(sandbox)[f"TT{order_id}"]
    sandbox.admin("rithum", "POST", f"orders/{store['ID']}/adjust", json={"Value": {"Reason": "ItemNotAvailable"}})
    report = FlowRun(merchant, "cancellations").run()
    assert next(r for r in report.results if r["key"] == str(store["ID"]))["action"] == "create", report.results
    assert tiktok_orders(sandbox)[order_id]["status"] == "CANCELLED"
    assert "create" not in FlowRun(merchant, "cancellations").run().counts
    # The order flow then sees TikTok's cancellation: the Rithum order is cancelled already.
    result = next(r for r in FlowRun(merchant, "orders").run().results if r["key"] == order_id)
    assert result["action"] == "skip" and "found already done" in result["detail"]["reason"], result


def test_a_completed_return_is_refunded_to_the_cent_as_adjustments(harbor, imported):
    sandbox, merchant = harbor
    orders, store = tiktok_orders(sandbox), rithum_orders(sandbox)
    delivered = [oid for oid, o in orders.items() if o["status"] == "DELIVERED"
                 and o["fulfillment_type"] == "FULFILLMENT_BY_SELLER" and f"TT{oid}" in store]
    assert delivered
    order_id = delivered[0]
    seller = merchant.connection("tiktok_us")
    ret = sandbox.admin("tiktok_shop", "POST", "returns", json={"order_id": order_id, "return_type": "REFUND"})
    seller.call("approve_return", path_params={"return_id": ret["return_id"]}, body={"decision": "APPROVE_REFUND"},
                idempotency_key=f"t-{ret['return_id']}")
    report = FlowRun(merchant, "returns").run()
    assert report.counts.get("create") == 1, report.counts
    refund = next(r for r in tiktok(sandbox)["returns"] if r["return_id"] == ret["return_id"])["refund_amount"]
    adjustments = [a for a in rithum_orders(sandbox)[f"TT{order_id}"]["Adjustments"] if a["Type"] == "Refund"]
    assert adjustments and {a["SellerAdjustmentID"] for a in adjustments} == {ret["return_id"]}
    total = sum(money(a["ItemAdjustment"]) + money(a["TaxAdjustment"]) + money(a["ShippingAdjustment"])
                for a in adjustments)
    assert total == money(refund["refund_total"])
    assert not any(a["IsRestock"] for a in adjustments)  # a refund without a return restocks nothing
    assert "create" not in FlowRun(merchant, "returns").run().counts


def test_no_call_of_the_whole_story_was_throttled(harbor, imported):
    sandbox, _ = harbor
    stats = sandbox.admin("rithum", "GET", "stats")
    assert stats["requests"] > 20 and stats["throttled"] == 0, stats
    assert stats["peak_concurrency"] <= 5
    # The reads went page by page through nextLinks carrying their filters.
    paged = [r for r in sandbox.admin("rithum", "GET", "requests")["requests"] if "%24skip=" in r["query"]]
    assert any("Children" in r["query"] for r in paged) and any(r["path"] == "/v1/Orders" for r in paged)
