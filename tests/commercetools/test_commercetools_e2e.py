"""commercetools as the merchant system, end to end, against the commercetools emulator
(@labdigital/commercetools-mock) and the TikTok simulator, with the shipped flows unchanged and
the example project examples/ct_fjord: the catalog is listed on TikTok at each market's selected
price, stock per supply channel reaches TikTok, TikTok orders are imported once, shipments go back
with their tracking, a cancellation and a refund come back."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.flow.runner import FlowRun, Merchant
from simulators.sandbox import start_sandbox
from tests.commercetools.world import Project, Recorder, environ, merchant_dir, seed

pytestmark = pytest.mark.slow

WAREHOUSE = "7068517275539719942"


def tiktok(sandbox, what: str) -> list[dict]:
    found = sandbox.admin("tiktok_shop", "GET", "state")[what]
    return list(found.values()) if isinstance(found, dict) else found


def tiktok_skus(sandbox) -> dict[str, dict]:
    return {s["seller_sku"]: s for p in tiktok(sandbox, "products") if p.get("status") != "DELETED" for s in p["skus"]}


def stock(sku: dict) -> int:
    return sum(i["quantity"] for i in sku["inventory"] if str(i["warehouse_id"]) == WAREHOUSE)


@pytest.fixture(scope="module")
def world(emulator, tmp_path_factory):
    sandbox = start_sandbox(products=0)
    project = Project(emulator)
    seeded = seed(project, sandbox.urls["cdn"])
    recorder = Recorder()
    merchant = Merchant(merchant_dir(tmp_path_factory.mktemp("ct"), seeded["supply"]),
                        environ=environ(emulator, sandbox), transports={"commercetools": recorder})
    merchant.test_environ = environ(emulator, sandbox)
    merchant.recorder = recorder
    catalog = FlowRun(merchant, "catalog").run()
    sandbox.admin("tiktok_shop", "POST", "audit/run", json={})
    yield sandbox, project, merchant, seeded, catalog
    merchant.close()
    sandbox.stop()


@pytest.fixture(scope="module")
def imported(world):
    sandbox, project, merchant, _, _ = world
    FlowRun(merchant, "inventory").run()
    # The first two by one buyer: one customer, found by email the second time.
    buyer = {"user_id": "7494581692871577631", "email": "v2x9kq7m3@scs.tiktokw.us", "name": "Avery Brooks",
             "first_name": "Avery", "last_name": "Brooks", "phone_number": "(+1)415-***-5521",
             "address_line1": "742 Evergreen Terrace", "city": "Springfield", "state": "Oregon", "postal_code": "97477"}
    ids = [sandbox.admin("tiktok_shop", "POST", "orders", json={
        "line_items": [{"seller_sku": sku}] * units, "status": "AWAITING_SHIPMENT",
        **({"buyer": buyer} if n < 2 else {})})["id"]
        for n, (sku, units) in enumerate((("JKT-BLK-M", 2), ("MUG-BLUE", 1), ("JKT-RED-M", 1), ("JKT-BLK-L", 1)))]
    report = FlowRun(merchant, "orders").run()
    return ids, report


def test_the_catalog_is_listed_at_each_markets_selected_price(world):
    sandbox, _, merchant, _, catalog = world
    assert catalog.status == "ok" and catalog.counts == {"create": 2, "dead_letter": 1}, catalog.counts
    skus = tiktok_skus(sandbox)
    assert set(skus) == {"JKT-BLK-M", "JKT-BLK-L", "JKT-RED-M", "MUG-BLUE"}
    # The US selection {USD, US}: the US-scoped price wins over the open one, the customer
    # group's and the outlet channel's; the mug has only an open USD price.
    prices = {sku: Decimal(s["price"]["amount"]) for sku, s in skus.items()}
    assert prices == {"JKT-BLK-M": Decimal("89.00"), "JKT-BLK-L": Decimal("89.00"), "JKT-RED-M": Decimal("94.00"),
                      "MUG-BLUE": Decimal("12.50")}
    listed = {p["title"]: p for p in tiktok(sandbox, "products")}
    assert set(listed) == {"Storm Jacket", "Fjord Mug"}
    # The socks are priced for Germany only: dead-lettered, naming the variant and the selection.
    letter = catalog.dead_letters[0]
    assert letter["error"]["field_errors"][0]["field"] == "variants[0].price"
    assert "market US" in letter["error"]["field_errors"][0]["message"]
    again = FlowRun(merchant, "catalog").run()
    assert again.counts.get("skip") == 2 and "create" not in again.counts and "update" not in again.counts


def test_stock_per_supply_channel_reaches_tiktok_and_follows_changes(world, imported):
    sandbox, project, merchant, seeded, _ = world
    skus = tiktok_skus(sandbox)
    # Both supply channels feed the one warehouse (summed); what TikTok sold since is held.
    expected = {sku: sum(q) for sku, q in seeded["stock"].items() if sku in skus}
    assert {sku: stock(s) + 0 for sku, s in skus.items()} == {
        sku: expected[sku] - {"JKT-BLK-M": 2, "MUG-BLUE": 1, "JKT-RED-M": 1, "JKT-BLK-L": 1}[sku] for sku in expected}
    entry = next(e for e in project.all("inventory") if e["sku"] == "MUG-BLUE"
                 and e["supplyChannel"]["id"] == seeded["supply"][0])
    project.update("inventory", entry, {"action": "changeQuantity", "quantity": 7})
    report = FlowRun(merchant, "inventory").run()
    assert report.status == "ok" and report.counts.get("inventory_update") == 1, report.counts
    # The order is in commercetools now, so TikTok's hold on its unit is gone: the unit is off the
    # stock once commercetools applies the import's inventoryMode TrackOnly on the Oslo channel.
    # The emulator applies no inventoryMode (the import keeps its units on stock), so here the
    # unit is offered again; the import body below is what real commercetools takes it off by.
    assert stock(tiktok_skus(sandbox)["MUG-BLUE"]) == 7 + seeded["stock"]["MUG-BLUE"][1]
    imports = merchant.recorder.bodies("POST", "/orders/import")
    mug = next(b for b in imports if b["lineItems"][0]["variant"]["sku"] == "MUG-BLUE")
    assert mug["inventoryMode"] == "TrackOnly"
    assert mug["lineItems"][0]["supplyChannel"] == {"typeId": "channel", "id": seeded["supply"][0]}


def test_tiktok_orders_are_imported_once_by_order_number(world, imported):
    sandbox, project, merchant, _, _ = world
    ids, report = imported
    assert report.status == "ok" and report.counts == {"create": 4}, report.counts
    orders = project.orders()
    assert set(orders) == {f"TT{oid}" for oid in ids}
    tt = {o["id"]: o for o in tiktok(sandbox, "orders")}
    for oid in ids:
        order = orders[f"TT{oid}"]
        assert order["custom"]["fields"]["channel_order_id"] == oid
        assert order["custom"]["fields"]["channel"] == "tiktok_us"
        assert order["paymentState"] == "Paid" and order["orderState"] == "Open"
        assert sum(line["quantity"] for line in order["lineItems"]) == len(tt[oid]["line_items"])
        payment = tt[oid]["payment"]
        subsidy = Decimal(payment.get("platform_discount") or "0") + Decimal(
            payment.get("shipping_fee_platform_discount") or "0")
        assert Decimal(order["totalPrice"]["centAmount"]) / 100 == Decimal(payment["total_amount"]) + subsidy
        assert order["shippingInfo"]["shippingMethodName"]  # so the warehouse can add deliveries
    # Still to ship: the import says so (the emulator stores no shipmentState from an import).
    sent = {b["orderNumber"]: b for b in merchant.recorder.bodies("POST", "/orders/import")}
    assert {sent[f"TT{oid}"]["shipmentState"] for oid in ids} == {"Pending"}
    # Every import was looked up by its orderNumber just before.
    lookups = [r["query"].get("where") for r in merchant.recorder.sent
               if r["method"] == "GET" and r["path"].endswith("/orders") and "orderNumber" in r["query"].get("where", "")]
    assert sorted(lookups) == sorted(f'orderNumber = "TT{oid}"' for oid in ids)
    # The buyers, once each by email.
    customers = {c["id"]: c["email"].lower() for c in project.all("customers")}
    assert sorted(customers.values()) == sorted({o["customerEmail"].lower() for o in orders.values()})
    assert all(customers[o["customerId"]] == o["customerEmail"].lower() for o in orders.values())
    first, second = orders[f"TT{ids[0]}"], orders[f"TT{ids[1]}"]
    assert first["customerEmail"] == "v2x9kq7m3@scs.tiktokw.us" and first["customerId"] == second["customerId"]
    # A re-run creates nothing, and neither does a run that forgot what it did (another state
    # store): every import is looked up by its orderNumber first.
    assert "create" not in FlowRun(merchant, "orders").run().counts
    assert len(project.all("orders")) == len(ids)


def test_an_order_imported_by_a_run_that_died_is_adopted_not_duplicated(world, imported):
    """The import reached commercetools but the run died before recording it: a run with a
    fresh state store (nothing recorded) finds the order by its orderNumber and imports nothing."""
    sandbox, project, merchant, _, _ = world
    oid = sandbox.admin("tiktok_shop", "POST", "orders", json={
        "line_items": [{"seller_sku": "MUG-BLUE"}], "status": "AWAITING_SHIPMENT"})["id"]
    assert FlowRun(merchant, "orders").run().counts.get("create") == 1
    before = len(project.all("orders"))
    other = Merchant(merchant.document.path, environ=merchant.test_environ, state_url=":memory:")
    try:
        report = FlowRun(other, "orders").run()
        adopted = other.store.get_remote_id("order", "commercetools", oid)
    finally:
        other.close()
    result = next(r for r in report.results if r["key"] == oid)
    existing = project.orders()[f"TT{oid}"]["id"]
    # Found by its orderNumber and adopted as the create's result: nothing imported again.
    assert result["remote_id"] == existing and adopted == existing, result
    assert len(project.all("orders")) == before


def test_each_parcel_goes_back_to_tiktok_as_a_package_with_its_tracking(world, imported):
    """Two units in one delivery, one parcel each: the first added with the delivery, the second
    by addParcelToDelivery. Each is a TikTok package with its own carrier and tracking."""
    sandbox, project, merchant, _, _ = world
    ids, _ = imported
    order = project.orders()[f"TT{ids[0]}"]
    line = order["lineItems"][0]
    assert line["quantity"] == 2
    one = [{"id": line["id"], "quantity": 1}]
    order = project.update("orders", order, {
        "action": "addDelivery", "items": [{"id": line["id"], "quantity": 2}],
        "parcels": [{"trackingData": {"trackingId": "9400100000000000000001", "carrier": "USPS"}, "items": one}]})
    delivery = order["shippingInfo"]["deliveries"][0]["id"]
    project.update("orders", order, {"action": "addParcelToDelivery", "deliveryId": delivery, "items": one,
                                     "trackingData": {"trackingId": "1Z0000000000000002", "carrier": "UPS"}})
    report = FlowRun(merchant, "fulfillment").run()
    assert report.counts.get("create") == 2, report.counts
    shipped = {o["id"]: o for o in tiktok(sandbox, "orders")}[ids[0]]
    lines = shipped["line_items"]
    assert sorted(li["tracking_number"] for li in lines) == ["1Z0000000000000002", "9400100000000000000001"]
    assert len({li["package_id"] for li in lines}) == 2
    assert shipped["status"] in ("IN_TRANSIT", "AWAITING_COLLECTION")
    assert "create" not in FlowRun(merchant, "fulfillment").run().counts


def test_a_tiktok_cancellation_cancels_the_commercetools_order_once(world, imported):
    sandbox, project, merchant, _, _ = world
    ids, _ = imported
    sandbox.admin("tiktok_shop", "POST", "cancellations", json={"order_id": ids[1]})
    assert FlowRun(merchant, "cancellation_requests").run().counts.get("approve") == 1
    report = FlowRun(merchant, "orders").run()
    assert report.counts.get("cancel") == 1, report.counts
    order = project.orders()[f"TT{ids[1]}"]
    assert order["orderState"] == "Cancelled" and order["shipmentState"] == "Canceled"
    assert "cancel" not in FlowRun(merchant, "orders").run().counts


def test_a_cancellation_in_commercetools_cancels_the_tiktok_order(world, imported):
    sandbox, project, merchant, _, _ = world
    ids, _ = imported
    order = project.orders()[f"TT{ids[2]}"]
    project.update("orders", order, {"action": "changeOrderState", "orderState": "Cancelled"})
    report = FlowRun(merchant, "cancellations").run()
    assert report.counts.get("create") == 1, report.counts
    assert {o["id"]: o for o in tiktok(sandbox, "orders")}[ids[2]]["status"] == "CANCELLED"


def test_a_tiktok_refund_is_a_refund_payment_on_the_order_with_its_return(world, imported):
    sandbox, project, merchant, _, _ = world
    ids, _ = imported
    oid = ids[0]
    sandbox.admin("tiktok_shop", "POST", f"orders/{oid}/advance", json={"to": "DELIVERED"})
    seller = merchant.connection("tiktok_us")
    ret = sandbox.admin("tiktok_shop", "POST", "returns", json={"order_id": oid, "return_type": "REFUND"})
    seller.call("approve_return", path_params={"return_id": ret["return_id"]}, body={"decision": "APPROVE_REFUND"},
                idempotency_key=f"t-{ret['return_id']}")
    report = FlowRun(merchant, "returns").run()
    assert report.counts.get("create") == 1, report.counts
    returned = {r["return_id"]: r for r in tiktok(sandbox, "returns")}[ret["return_id"]]
    refunded = Decimal(returned["refund_amount"]["refund_total"])
    payments = [p for p in project.all("payments") if p.get("key") == f"channel-return-{ret['return_id']}"]
    assert len(payments) == 1
    transaction = payments[0]["transactions"][0]
    assert transaction["type"] == "Refund" and transaction["state"] == "Success"
    assert Decimal(transaction["amount"]["centAmount"]) / 100 == refunded
    order = project.orders()[f"TT{oid}"]
    assert [p["id"] for p in order["paymentInfo"]["payments"]] == [payments[0]["id"]]
    assert order["paymentState"] == "CreditOwed"
    [info] = order["returnInfo"]
    assert sum(i["quantity"] for i in info["items"]) == 2
    assert {i["lineItemId"] for i in info["items"]} == {order["lineItems"][0]["id"]}
    assert "create" not in FlowRun(merchant, "returns").run().counts
    assert len(project.all("payments")) == 1


def test_every_update_sends_the_version_it_read_and_a_conflict_is_resent(world, imported):
    """Against the emulator: an update whose version went stale (someone changed the order in
    between) is refused with 409 ConcurrentModification and resent with the current version."""
    _, project, merchant, _, _ = world
    ids, _ = imported
    order = project.orders()[f"TT{ids[3]}"]
    stale = order["version"]
    project.update("orders", order, {"action": "setPurchaseOrderNumber", "purchaseOrderNumber": "PO-1"})
    conn = merchant.connection("commercetools")
    response = conn.call("update_order", path_params={"order_id": order["id"]},
                         body={"version": stale, "actions": [{"action": "setPurchaseOrderNumber",
                                                             "purchaseOrderNumber": "PO-2"}]})
    assert response.body["version"] == stale + 2
    sent = [r["body"]["version"] for r in merchant.recorder.sent
            if r["method"] == "POST" and r["path"].endswith(f"/orders/{order['id']}")]
    assert sent[-2:] == [stale, stale + 1]  # refused with 409, resent with the current version
    assert project.call("GET", f"/orders/{order['id']}")["purchaseOrderNumber"] == "PO-2"
