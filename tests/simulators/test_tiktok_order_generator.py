"""TikTok Shop simulator: the bulk order generator (admin POST /_admin/orders/generate)."""

from __future__ import annotations

from collections import Counter

from starlette.testclient import TestClient
from test_tiktok_sim import Api, FakeClock, product_body
from tiktok_order_helpers import NINE, assert_payment_adds_up, stock

from simulators.tiktok_shop import create_app
from simulators.tiktok_shop.generator import DEFAULT_STATUS_MIX, generate_orders


# -- the generator -----------------------------------------------------------------------------------
def _shop_with_stock(clock) -> TestClient:
    client = TestClient(create_app(seed=8, clock=clock))
    api = Api(client, clock)
    for n in range(3):
        body = product_body(api.upload_image(), title=f"Tee {n}")
        for row in body["skus"]:
            row["seller_sku"] = f"{row['seller_sku']}-{n}"
            row["inventory"][0]["quantity"] = 200
        api.ok("POST", "/product/202309/products", body=body)
    client.post("/_admin/audit/run")
    return client


SPEC = {"count": 60, "seed": 21, "fbt_share": 0.25, "on_hold_share": 0.2, "sample_share": 0.1,
        "discount_share": 0.5, "max_units": 4, "span_seconds": 3 * 86400}


def test_generated_orders_are_deterministic_and_walked_through_the_real_machine(clock):
    runs = []
    for _ in range(2):
        with _shop_with_stock(FakeClock()) as client:
            ids = client.post("/_admin/orders/generate", json=SPEC).json()["orders"]
            state = client.get("/_admin/state").json()
            runs.append((ids, [(o["id"], o["status"], o["payment"]["total_amount"]) for o in state["orders"]]))
    assert runs[0] == runs[1] and len(runs[0][0]) == 60

    with _shop_with_stock(clock) as client:
        api = Api(client, clock)
        ids = client.post("/_admin/orders/generate", json=SPEC).json()["orders"]
        orders = [o for n in range(0, len(ids), 50)
                  for o in api.ok("GET", "/order/202309/orders", query={"ids": ",".join(ids[n:n + 50])})["orders"]]
        state = client.get("/_admin/state").json()
    by_status = Counter(o["status"] for o in orders)
    assert set(by_status) <= NINE and len(by_status) >= 7
    assert Counter(o["fulfillment_type"] for o in orders)["FULFILLMENT_BY_TIKTOK"] >= 5
    assert any(o["is_sample_order"] for o in orders) and any(o["payment"]["seller_discount"] != "0" for o in orders)
    history = {o["id"]: [s for s, _ in o["history"]] for o in state["orders"]}
    announced = Counter(e["event"]["data"]["order_id"] for e in state["webhooks"]["events"]
                        if e["event_type"] == "ORDER_STATUS_CHANGE")
    for order in orders:
        assert_payment_adds_up(order)
        assert announced[order["id"]] == len(history[order["id"]])  # one event per status change
        assert order["create_time"] <= order["update_time"] <= clock.now
        assert order["create_time"] >= clock.now - SPEC["span_seconds"]
        if order["status"] == "ON_HOLD":
            assert order["is_on_hold_order"] and "recipient_address" not in order
        if order["status"] in ("IN_TRANSIT", "DELIVERED", "COMPLETED"):
            assert order["tracking_number"] and all(li["tracking_number"] for li in order["line_items"])
            assert order["collection_time"] > 0 and order["paid_time"] > 0
        if order["status"] == "PARTIALLY_SHIPPING":
            assert {li["package_status"] for li in order["line_items"]} >= {"FULFILLING", "TO_FULFILL"}
        if order["status"] == "CANCELLED":
            assert order["cancel_time"] > 0 and order["cancellation_initiator"] in ("BUYER", "SELLER", "SYSTEM")
            assert {li["package_status"] for li in order["line_items"]} == {"CANCELLED"}
        if order["is_on_hold_order"] and order["status"] not in ("UNPAID", "CANCELLED"):
            assert "ON_HOLD" in history[order["id"]]
    # Stock: what unshipped seller-fulfilled lines hold is committed, nothing more.
    open_units = Counter(li["sku_id"] for o in orders if o["fulfillment_type"] == "FULFILLMENT_BY_SELLER"
                         for li in o["line_items"] if li["package_status"] in ("TO_FULFILL", "PROCESSING"))
    committed = {s["id"]: sum(r["committed"] for r in s["inventory"]) for p in state["products"] for s in p["skus"]}
    assert {k: v for k, v in committed.items() if v} == dict(open_units)


def test_generator_takes_a_status_mix_and_skus_and_refuses_what_it_cannot_do(api, client, sku):
    app_sim = client.app.state.sim
    made = generate_orders(app_sim, {"count": 5, "seed": 1, "statuses": {"COMPLETED": 1}, "skus": ["TEE-WHT-M"],
                                     "max_units": 1})
    assert [app_sim.orders[i]["status"] for i in made] == ["COMPLETED"] * 5
    assert {li["seller_sku"] for i in made for li in app_sim.orders[i]["line_items"]} == {"TEE-WHT-M"}
    assert set(DEFAULT_STATUS_MIX) == NINE
    for body, word in (({"statuses": {"SHIPPED": 1}}, "unknown statuses"), ({"fbt_share": 2}, "fbt_share"),
                       ({"skus": ["NOPE"]}, "NOPE"), ({"count": 0}, "count")):
        response = client.post("/_admin/orders/generate", json=body)
        assert response.status_code == 400 and word in response.json()["error"], response.text
    # The white tee had 5 units; once they are gone a seller-fulfilled order has nothing to take.
    response = client.post("/_admin/orders/generate", json={"count": 40, "skus": ["TEE-WHT-M"],
                                                            "statuses": {"AWAITING_SHIPMENT": 1}})
    assert response.status_code == 400 and "stock" in response.json()["error"]
    assert stock(api, app_sim.orders[made[0]]["line_items"][0]["sku_id"])[0] == 0
