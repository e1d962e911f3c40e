"""TikTok Shop US orders into Salesforce Order Management, end to end against the simulators, with
the shipped flows unchanged: each paid order one Order (Composite, all or none) and one
OrderSummary, nothing twice on a re-run; the warehouse's shipment back to TikTok with its
tracking; a TikTok return as a ReturnOrder with its items; SOM's stock at its warehouses offered
on TikTok. The SOQL pages are small, so nextRecordsUrl paging is exercised on every read."""

from __future__ import annotations

import textwrap
from decimal import Decimal

import httpx
import pytest

from engine.flow.runner import FlowRun, Merchant
from simulators.common import LoopbackServer
from simulators.salesforce import DEFAULT_CREDENTIALS, create_app
from simulators.sandbox import start_sandbox

pytestmark = pytest.mark.slow

MAIN_WH = "7068517275539719942"
SKUS = [f"SF-TEE-{n}" for n in range(1, 7)]
USPS = "7117858858072016686"

MERCHANT = textwrap.dedent("""\
    kind: merchant
    name: sfdemo
    connections:
      som:
        connector: salesforce_order_management
        settings: {{instance_url: "${{env:SF_URL}}", pricebook_id: "${{env:SF_PRICEBOOK}}"}}
        credentials:
          client_id: "${{env:SF_CLIENT_ID}}"
          client_secret: "${{env:SF_CLIENT_SECRET}}"
          refresh_token: "${{env:SF_REFRESH_TOKEN}}"
      tiktok_us:
        connector: tiktok_shop
        region: US
        currency: USD
        settings:
          shop_cipher: "${{env:ACME_TIKTOK_SHOP_CIPHER}}"
          base_url: "${{env:ACME_TIKTOK_URL}}"
          token_url: "${{env:ACME_TIKTOK_TOKEN_URL}}"
        credentials:
          app_key: "${{env:ACME_TIKTOK_APP_KEY}}"
          app_secret: "${{env:ACME_TIKTOK_APP_SECRET}}"
          access_token: "${{env:ACME_TIKTOK_ACCESS_TOKEN}}"
          refresh_token: "${{env:ACME_TIKTOK_REFRESH_TOKEN}}"
    flows:
      orders:
        flow: orders_from_tiktok
        connections: {{channel: tiktok_us, store: som}}
      fulfillment:
        flow: fulfillment_to_tiktok
        connections: {{store: som, channel: tiktok_us}}
        options:
          carrier_map: {{USPS: "{usps}"}}
      returns:
        flow: returns_from_tiktok
        connections: {{channel: tiktok_us, store: som}}
      inventory:
        flow: inventory_to_tiktok
        connections: {{store: som, channel: tiktok_us}}
        options:
          warehouses:
            - {{warehouse_id: "{wh}", locations: ["{location}"]}}
""")


class Org:
    def __init__(self, url: str) -> None:
        self.url = url

    def admin(self, method: str, path: str, **kwargs) -> dict:
        response = httpx.request(method, f"{self.url}/_admin/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict:
        return self.admin("GET", "state")

    def requests(self) -> list[dict]:
        return self.admin("GET", "requests")["requests"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    sandbox = start_sandbox(products=0)
    server = LoopbackServer(create_app({"query_batch_size": 3})).start()
    org = Org(server.url)
    try:
        seeded = org.admin("POST", "seed", json={
            "products": [{"sku": s, "name": f"Tee {s}", "price": "20.00"} for s in SKUS] + [
                {"sku": "SHIPPING", "name": "Shipping", "price": "0"}],
            "locations": [{"name": "Main DC", "type": "Warehouse"}, {"name": "Flagship", "type": "Store"}],
            "stock": [{"sku": s, "location": "Main DC", "quantity": 40 + i} for i, s in enumerate(SKUS)]
            + [{"sku": s, "location": "Flagship", "quantity": 500} for s in SKUS],
            "delivery_methods": [{"name": "Channel shipping", "reference": "CHANNEL"}]})
        listed = sandbox.admin("tiktok_shop", "POST", "seed", json={"products": [{
            "title": f"Tee {s}", "skus": [{"seller_sku": s, "price": {"amount": "20.00", "currency": "USD"},
                                           "inventory": [{"warehouse_id": MAIN_WH, "quantity": 100}]}]}
            for s in SKUS]})
        workdir = tmp_path_factory.mktemp("sfdemo")
        location = seeded["locations"]["Main DC"]
        (workdir / "merchant.yaml").write_text(MERCHANT.format(usps=USPS, wh=MAIN_WH, location=location))
        environ = {**sandbox.environ(), "SF_URL": server.url, "SF_PRICEBOOK": seeded["pricebook_id"],
                   "SF_CLIENT_ID": DEFAULT_CREDENTIALS["client_id"],
                   "SF_CLIENT_SECRET": DEFAULT_CREDENTIALS["client_secret"],
                   "SF_REFRESH_TOKEN": DEFAULT_CREDENTIALS["refresh_token"]}
        merchant = Merchant(workdir / "merchant.yaml", environ=environ)
        # What catalog_to_tiktok records for each listing it made (here the shop was seeded directly).
        products = sandbox.admin("tiktok_shop", "GET", "state")["products"]
        for product in products:
            for sku in product["skus"]:
                merchant.store.map_id("sku", "tiktok_us", sku["seller_sku"], str(sku["id"]),
                                      {"parent": str(product["id"])})
        assert listed
        yield sandbox, org, merchant, seeded
        merchant.close()
    finally:
        server.stop()
        sandbox.stop()


def _orders(org: Org) -> dict[str, dict]:
    return {o["Channel_Order_Id__c"]: o for o in org.state().get("Order", [])}


@pytest.fixture(scope="module")
def imported(world):
    sandbox, org, merchant, _ = world
    generated = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
        "count": 12, "seed": 5, "skus": SKUS, "max_units": 3, "discount_share": 0.5,
        "statuses": {"AWAITING_SHIPMENT": 6, "DELIVERED": 2, "UNPAID": 1}})["orders"]
    report = FlowRun(merchant, "orders").run()
    return generated, report


def test_each_paid_order_is_one_activated_order_with_its_summary(world, imported):
    sandbox, org, _, _ = world
    generated, report = imported
    assert report.status == "ok", report.results
    tiktok = {o["id"]: o for o in sandbox.admin("tiktok_shop", "GET", "state")["orders"]}
    paid = {oid for oid in generated if tiktok[oid]["status"] not in ("UNPAID", "CANCELLED", "ON_HOLD")}
    state = org.state()
    orders = {o["Channel_Order_Id__c"]: o for o in state["Order"]}
    assert set(orders) == paid and paid
    summaries = {s["OriginalOrderId"] for s in state["OrderSummary"]}
    assert summaries == {o["Id"] for o in orders.values()}
    for oid in paid:
        order, payment = orders[oid], tiktok[oid]["payment"]
        assert order["Status"] == "Activated" and order["Channel__c"] == "tiktok_us"
        items = [i for i in state["OrderItem"] if i["OrderId"] == order["Id"] and i["Type"] == "Order Product"]
        assert sum(Decimal(str(i["Quantity"])) for i in items) == len(tiktok[oid]["line_items"])
        # What the buyer paid plus TikTok's own discounts, to the cent.
        subsidy = Decimal(payment["platform_discount"] or "0") + Decimal(payment["shipping_fee_platform_discount"] or "0")
        assert Decimal(str(order["GrandTotalAmount"])).quantize(Decimal("0.01")) == \
            Decimal(payment["total_amount"]) + subsidy, oid
        assert Decimal(str(order["TotalTaxAmount"])).quantize(Decimal("0.01")) == Decimal(payment["tax"]), oid
    # Buyers are person accounts, one per e-mail.
    emails = [a.get("PersonEmail") for a in state["Account"]]
    assert len(emails) == len(set(emails))
    # Every order is one Composite call and one Connect call; SOQL reads followed nextRecordsUrl.
    calls = org.requests()
    assert sum(1 for c in calls if c["path"] == "/composite") == len(paid)
    assert sum(1 for c in calls if c["path"].endswith("order-summaries")) == len(paid)
    assert any(c["path"].startswith("/query/") for c in calls)


def test_a_rerun_creates_nothing(world, imported):
    sandbox, org, merchant, _ = world
    before = org.state()
    again = FlowRun(merchant, "orders").run()
    assert "create" not in again.counts, again.counts
    after = org.state()
    for obj in ("Order", "OrderItem", "OrderSummary", "Account"):
        assert len(after[obj]) == len(before[obj]), obj


def test_an_unfinished_create_is_adopted_not_duplicated(world, imported, monkeypatch):
    """The Composite call went through but the run died before recording it: the next run finds
    the Order by its channel id, adopts it and only adds the OrderSummary."""
    sandbox, org, merchant, _ = world
    fresh = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
        "count": 1, "seed": 77, "skus": SKUS[:2], "statuses": {"AWAITING_SHIPMENT": 1}})["orders"][0]
    store, complete = merchant.store, merchant.store.complete_once

    def dies_before_recording(scope, key, result):
        if scope.startswith("create:order:") and key == fresh:
            raise RuntimeError("killed between the create call and its record")
        return complete(scope, key, result)

    monkeypatch.setattr(store, "complete_once", dies_before_recording)
    with pytest.raises(RuntimeError, match="killed"):
        FlowRun(merchant, "orders").run()
    monkeypatch.setattr(store, "complete_once", complete)
    assert fresh in _orders(org)
    assert not [s for s in org.state()["OrderSummary"] if s["OriginalOrderId"] == _orders(org)[fresh]["Id"]]
    org.admin("POST", "requests/clear")
    report = FlowRun(merchant, "orders").run()
    result = next(r for r in report.results if r["key"] == fresh)
    assert result["action"] == "create", result["detail"]
    state = org.state()
    assert [o["Channel_Order_Id__c"] for o in state["Order"]].count(fresh) == 1
    order_id = _orders(org)[fresh]["Id"]
    assert len([s for s in state["OrderSummary"] if s["OriginalOrderId"] == order_id]) == 1
    assert not any(c["path"] == "/composite" for c in org.requests())  # found by a query, not sent again


def test_request_limit_exceeded_is_waited_out(world, imported):
    sandbox, org, merchant, _ = world
    fresh = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
        "count": 1, "seed": 78, "skus": SKUS[2:4], "statuses": {"AWAITING_SHIPMENT": 1}})["orders"][0]
    org.admin("POST", "config", json={"limit_exceeded_burst": 1})
    report = FlowRun(merchant, "orders").run()
    assert next(r for r in report.results if r["key"] == fresh)["action"] == "create"
    assert fresh in _orders(org)


def test_a_shipment_goes_back_to_tiktok_with_its_tracking(world, imported):
    sandbox, org, merchant, seeded = world
    state = org.state()
    tiktok = {o["id"]: o for o in sandbox.admin("tiktok_shop", "GET", "state")["orders"]}
    waiting = [o for o in state["Order"] if tiktok[o["Channel_Order_Id__c"]]["status"] == "AWAITING_SHIPMENT"]
    order = waiting[0]
    summary = next(s for s in state["OrderSummary"] if s["OriginalOrderId"] == order["Id"])
    routed = org.admin("POST", "route", json={"order_summary_id": summary["Id"],
                                              "location_id": seeded["locations"]["Main DC"]})
    org.admin("POST", "ship", json={"fulfillment_order_id": routed["fulfillmentOrderIds"][0],
                                    "tracking_number": "9400100000000000000123", "provider": "USPS"})
    report = FlowRun(merchant, "fulfillment").run()
    assert report.counts.get("create") == 1, report.results
    shipped = {o["id"]: o for o in sandbox.admin("tiktok_shop", "GET", "state")["orders"]}[order["Channel_Order_Id__c"]]
    packages = [p for p in sandbox.admin("tiktok_shop", "GET", "state")["packages"]
                if p["order_id"] == order["Channel_Order_Id__c"]]
    assert [p["tracking_number"] for p in packages] == ["9400100000000000000123"]
    assert shipped["status"] in ("IN_TRANSIT", "AWAITING_COLLECTION")
    assert "create" not in FlowRun(merchant, "fulfillment").run().counts


def test_a_tiktok_return_becomes_a_return_order_with_its_items(world, imported):
    sandbox, org, merchant, _ = world
    tiktok = {o["id"]: o for o in sandbox.admin("tiktok_shop", "GET", "state")["orders"]}
    orders = _orders(org)
    delivered = [oid for oid in orders if tiktok[oid]["status"] == "DELIVERED"]
    order_id = delivered[0]
    seller = merchant.connection("tiktok_us")
    ret = sandbox.admin("tiktok_shop", "POST", "returns", json={"order_id": order_id, "return_type": "RETURN_AND_REFUND"})
    seller.call("approve_return", path_params={"return_id": ret["return_id"]}, body={"decision": "APPROVE_RETURN"},
                idempotency_key=f"t-{ret['return_id']}")
    sandbox.admin("tiktok_shop", "POST", f"returns/{ret['return_id']}/advance", json={"to": "BUYER_SHIPPED_ITEM"})
    seller.call("approve_return", path_params={"return_id": ret["return_id"]},
                body={"decision": "APPROVE_RECEIVED_PACKAGE"}, idempotency_key=f"r-{ret['return_id']}")
    report = FlowRun(merchant, "returns").run()
    assert report.counts.get("create") == 1, report.results
    state = org.state()
    returned = [r for r in state["ReturnOrder"] if r["Channel_Return_Id__c"] == ret["return_id"]]
    assert len(returned) == 1 and returned[0]["OrderId"] == orders[order_id]["Id"]
    lines = [li for li in state["ReturnOrderLineItem"] if li["ReturnOrderId"] == returned[0]["Id"]]
    assert sum(li["QuantityReceived"] for li in lines) == len(tiktok[order_id]["line_items"])
    items = {i["Id"] for i in state["OrderItem"] if i["OrderId"] == orders[order_id]["Id"]}
    assert all(li["OrderItemId"] in items for li in lines)
    assert "create" not in FlowRun(merchant, "returns").run().counts
    assert len(org.state()["ReturnOrder"]) == len(state["ReturnOrder"])


def test_stock_at_the_warehouse_locations_is_offered_on_tiktok(world, imported):
    sandbox, org, merchant, seeded = world
    report = FlowRun(merchant, "inventory").run()
    assert report.status == "ok", report.results
    offered = {s["seller_sku"]: next(r["quantity"] for r in s["inventory"] if r["warehouse_id"] == MAIN_WH)
               for p in sandbox.admin("tiktok_shop", "GET", "state")["products"] for s in p["skus"]}
    # The warehouse's count only: the store location (another LocationType) is not read.
    for i, sku in enumerate(SKUS):
        assert offered[sku] <= 40 + i, (sku, offered[sku])
    org.admin("POST", "stock", json={"sku": SKUS[0], "location_id": seeded["locations"]["Main DC"], "quantity": 3})
    FlowRun(merchant, "inventory").run()
    offered = {s["seller_sku"]: next(r["quantity"] for r in s["inventory"] if r["warehouse_id"] == MAIN_WH)
               for p in sandbox.admin("tiktok_shop", "GET", "state")["products"] for s in p["skus"]}
    assert offered[SKUS[0]] <= 3
    queries = [c["query"].get("q", "") for c in org.requests() if c["path"] == "/query"]
    assert any("Location.LocationType IN ('Warehouse')" in q for q in queries)


def test_an_order_tiktok_cancels_cancels_its_order_summary_once(world, imported):
    sandbox, org, merchant, _ = world
    tiktok = {o["id"]: o for o in sandbox.admin("tiktok_shop", "GET", "state")["orders"]}
    state = org.state()
    shipped = {s["OrderSummaryId"] for s in state.get("Shipment", [])}
    summaries = {s["OriginalOrderId"]: s for s in state["OrderSummary"]}
    order = next(o for o in state["Order"] if tiktok[o["Channel_Order_Id__c"]]["status"] == "AWAITING_SHIPMENT"
                 and summaries[o["Id"]]["Id"] not in shipped)
    sandbox.admin("tiktok_shop", "POST", f"orders/{order['Channel_Order_Id__c']}/advance", json={"to": "CANCELLED"})
    report = FlowRun(merchant, "orders").run()
    result = next(r for r in report.results if r["key"] == order["Channel_Order_Id__c"])
    assert result["action"] == "cancel", result["detail"]
    summary = next(s for s in org.state()["OrderSummary"] if s["OriginalOrderId"] == order["Id"])
    assert summary["Status"] == "Canceled"
    again = FlowRun(merchant, "orders").run()
    assert "cancel" not in again.counts
