"""TikTok Shop simulator order webhooks (1.12) and their outbox, and the after-sales search shapes."""

from __future__ import annotations

import json

from payload_shapes import PAYLOADS, assert_shape, shape_of
from starlette.testclient import TestClient
from test_tiktok_sim import CREDS, Api, FakeClock, create_active_product
from tiktok_order_helpers import SHIP_BODY, detail, events, place, statuses_announced

from engine.platforms.tiktok_shop import tiktok_webhook_signature, verify_tiktok_webhook
from simulators.tiktok_shop import create_app


# -- webhooks -------------------------------------------------------------------------------------
def test_order_status_event_is_the_signed_vector_byte_for_byte():
    raw_vector = (PAYLOADS / "tiktok_shop/webhook_order_status_change_signed_vector.json").read_bytes()
    # The published digest for app_key "abcdef", secret "123" (1.12).
    assert tiktok_webhook_signature("abcdef", "123", raw_vector) == \
        "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"
    clock = FakeClock(1718305585)
    app = create_app(seed=5, clock=clock, app_key="abcdef", app_secret="123", shop_id="7495540735365777507")
    with TestClient(app) as client:
        api = Api(client, clock, creds=CREDS | {"app_key": "abcdef", "app_secret": "123"})
        sku_id = create_active_product(api, client)["skus"][0]["id"]
        place(client, id="576653688135258178", line_items=[{"sku_id": sku_id}], is_on_hold_order=True)
        out = client.get("/_admin/webhooks/outbox", params={"event_type": "ORDER_STATUS_CHANGE"}).json()["events"]
    assert len(out) == 1 and out[0]["status"] == "unsubscribed" and out[0]["type"] == 1
    raw = out[0]["body"].encode()
    assert raw == raw_vector.replace(b"7380066284010030890", out[0]["tts_notification_id"].encode())
    assert out[0]["headers"] == {"Content-Type": "application/json",
                                 "Authorization": tiktok_webhook_signature("abcdef", "123", raw)}


def test_outbox_gives_undelivered_events_ready_to_replay(api, client, sku):
    api.ok("PUT", "/event/202309/webhooks", body={"address": "http://127.0.0.1:9/hook",
                                                  "event_type": "ORDER_STATUS_CHANGE"})
    order = place(client, line_items=[{"sku_id": sku["id"]}], status="AWAITING_SHIPMENT")
    out = client.get("/_admin/webhooks/outbox", params={"event_type": "ORDER_STATUS_CHANGE"}).json()["events"]
    assert [json.loads(e["body"])["data"]["order_status"] for e in out] == ["UNPAID", "AWAITING_SHIPMENT"]
    for event in out:
        assert event["status"] == "pending" and event["address"] == "http://127.0.0.1:9/hook"
        assert verify_tiktok_webhook(CREDS["app_key"], CREDS["app_secret"], event["body"].encode(),
                                     event["headers"]["Authorization"])
        assert json.loads(event["body"])["data"]["order_id"] == order["id"]
    everything = client.get("/_admin/webhooks/outbox").json()["events"]
    assert {e["event_type"] for e in everything} >= {"ORDER_STATUS_CHANGE", "PRODUCT_CREATION"}


EXTRA = PAYLOADS.parent / "extra_payloads" / "tiktok_shop"


def _sample(name: str) -> dict:
    return json.loads((EXTRA / name).read_text(encoding="utf-8"))


def _sample_shape(name: str):
    return shape_of(_sample(name))


NOTIFICATION_ID = {"tts_notification_id": "1.12: every delivered event carries it (the signed vector)"}


def test_package_split_address_cancellation_and_return_events_match_the_samples(api, client, sku):
    order = place(client, line_items=[{"sku_id": sku["id"], "quantity": 2}], status="AWAITING_SHIPMENT")
    assert events(client, "PACKAGE_UPDATE") == []  # an order's first package is no split
    client.post(f"/_admin/orders/{order['id']}/address", json={"address_line1": "1 New Street", "postal_code": "10001"})
    changed = detail(api, order["id"])
    assert changed["has_updated_recipient_address"] is True
    assert changed["recipient_address"]["address_line1"] == "1 New Street"
    [address_event] = events(client, "RECIPIENT_ADDRESS_UPDATE")
    assert_shape(_sample_shape("webhook_recipient_address_update_sdksample.json"), address_event, extra=NOTIFICATION_ID)
    assert address_event["data"] == {"order_id": order["id"], "update_time": changed["update_time"]}

    api.ok("POST", f"/fulfillment/202309/orders/{order['id']}/packages",
           body=SHIP_BODY | {"order_line_item_ids": [order["line_items"][0]["id"]]})
    [split] = events(client, "PACKAGE_UPDATE")
    assert_shape(_sample_shape("webhook_package_update_sdksample.json"), split, extra=NOTIFICATION_ID)
    assert split["type"] == 4 and split["data"]["sc_type"] == "SPLIT"
    assert {p["package_id"] for p in split["data"]["package_list"]} == {p["id"] for p in detail(api, order["id"])["packages"]}
    assert client.post(f"/_admin/orders/{order['id']}/address", json={"address_line1": "x"}).status_code == 409

    other = place(client, line_items=[{"sku_id": sku["id"]}], status="AWAITING_SHIPMENT")
    request = client.post("/_admin/cancellations", json={"order_id": other["id"]}).json()
    api.ok("POST", f"/return_refund/202309/cancellations/{request['cancel_id']}/approve")
    cancel_events = events(client, "CANCELLATION_STATUS_CHANGE")
    assert [e["data"]["cancel_status"] for e in cancel_events] == ["CANCELLATION_REQUEST_PENDING",
                                                                   "CANCELLATION_REQUEST_COMPLETE"]
    for event in cancel_events:
        assert_shape(_sample_shape("webhook_cancellation_status_change_sdksample.json"), event, extra=NOTIFICATION_ID)
    assert statuses_announced(client, other["id"])[-1] == "CANCELLED"

    delivered = place(client, line_items=[{"sku_id": sku["id"]}], status="DELIVERED")
    client.post("/_admin/returns", json={"order_id": delivered["id"], "return_type": "REFUND"})
    [return_event] = events(client, "RETURN_STATUS_CHANGE")
    assert_shape(_sample_shape("webhook_return_status_change_sdksample.json"), return_event, extra=NOTIFICATION_ID)
    # The event data keys come in the samples' order, as the signed bodies must.
    for event, sample in ((return_event, "webhook_return_status_change_sdksample.json"),
                          (cancel_events[0], "webhook_cancellation_status_change_sdksample.json")):
        assert list(event["data"]) == list(_sample(sample)["data"])


def test_cancellation_and_return_searches_have_the_sample_shapes(api, client, sku):
    order = place(client, line_items=[{"sku_id": sku["id"]}], status="AWAITING_SHIPMENT")
    client.post("/_admin/cancellations", json={"order_id": order["id"]})
    found = api.ok("POST", "/return_refund/202309/cancellations/search", query={"page_size": "10"}, body={})
    assert_shape(_sample_shape("search_cancellations_202309_sdksample.json").keys["data"], found)
    assert found["cancellations"][0]["seller_next_action_response"][0]["action"] == "SELLER_RESPOND_CANCEL"
    assert found["cancellations"][0]["cancel_type"] == "BUYER_CANCEL"  # the reference's value, not the sample's

    delivered = place(client, line_items=[{"sku_id": sku["id"]}], seller_discount="2", status="DELIVERED")
    client.post("/_admin/returns", json={"order_id": delivered["id"], "return_type": "REFUND"})
    returns = api.ok("POST", "/return_refund/202309/returns/search", query={"page_size": "10"}, body={})
    assert_shape(_sample_shape("search_returns_202309_sdksample.json").keys["data"], returns,
                 missing={"return_orders[].next_return_id": "only a return that follows another carries it",
                          "return_orders[].pre_return_id": "only a return that follows another carries it"})
    item = returns["return_orders"][0]
    assert item["seller_next_action_response"][0]["action"] == "SELLER_RESPOND_REFUND"
    assert item["discount_amount"][0]["product_seller_discount"] == "2"
    assert item["refund_amount"]["refund_subtotal"] == "17.9"


def test_cancelling_a_paid_order_through_the_walk_leaves_the_buyers_cancellation(api, client, sku):
    paid = place(client, line_items=[{"sku_id": sku["id"]}], status="AWAITING_SHIPMENT")
    assert client.post(f"/_admin/orders/{paid['id']}/advance", json={"to": "CANCELLED"}).status_code == 200
    found = api.ok("POST", "/return_refund/202309/cancellations/search", body={"order_ids": [paid["id"]]})
    [record] = found["cancellations"]
    assert (record["role"], record["cancel_status"]) == ("BUYER", "CANCELLATION_REQUEST_COMPLETE")
    assert [e["data"]["cancel_status"] for e in events(client, "CANCELLATION_STATUS_CHANGE")] == [
        "CANCELLATION_REQUEST_PENDING", "CANCELLATION_REQUEST_COMPLETE"]
    assert detail(api, paid["id"])["cancellation_initiator"] == "BUYER"
    unpaid = place(client, line_items=[{"sku_id": sku["id"]}], status="CANCELLED")  # dropped before paying
    assert api.ok("POST", "/return_refund/202309/cancellations/search",
                  body={"order_ids": [unpaid["id"]]})["cancellations"] == []
