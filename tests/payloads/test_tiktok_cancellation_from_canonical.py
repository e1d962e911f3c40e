"""A merchant cancels an imported TikTok order in Shopify: the Shopify simulator's cancelled
order goes through shopify.order_to_canonical and tiktok_shop.cancellation_from_canonical, and
the TikTok Shop simulator cancels the order there."""

from __future__ import annotations

import copy

from payload_helpers import mapped
from shopify_orders import BASE, MERCHANT_SHIPPED, create
from starlette.testclient import TestClient
from tiktok_sim import TikTokApi


def test_a_cancellation_in_shopify_cancels_the_tiktok_order(shop: TestClient, tiktok: TikTokApi):
    tiktok_order = tiktok.place_order({"TEE-M": 2})
    canonical = copy.deepcopy(MERCHANT_SHIPPED)
    canonical["channel_order_id"] = tiktok_order["id"]
    canonical["lines"] = canonical["lines"][:1]  # the two tees (the money is not what is tested here)
    _, created, _ = create(shop, canonical, {})
    response = shop.post(f"{BASE}/orders/{created['id']}/cancel.json", json={"reason": "inventory"})
    assert response.status_code == 200, response.text

    cancelled = mapped("shopify.order_to_canonical", response.json()["order"], {"connection": "shopify"})
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "inventory")
    body = mapped("tiktok_shop.cancellation_from_canonical", cancelled)
    assert body == {"order_id": tiktok_order["id"], "cancel_reason": "seller_cancel_reason_out_of_stock"}

    result = tiktok.ok("POST", "/return_refund/202309/cancellations", body=body)
    assert result["cancel_status"] == "CANCELLATION_REQUEST_COMPLETE"
    after = tiktok.order(tiktok_order["id"])
    assert after["status"] == "CANCELLED"
    assert {li["display_status"] for li in after["line_items"]} == {"CANCELLED"}
