"""The sandbox pointed at a running receiver (what `connector serve` will be): subscriptions made by
`connector webhooks sync` for any host reach it at their own path, signed, as events happen."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.cli.webhooks import sync
from engine.flow.runner import Merchant
from engine.platforms.shopify import verify_shopify_webhook
from engine.platforms.tiktok_shop import verify_tiktok_webhook
from simulators import shopify, tiktok_shop
from simulators.common import LoopbackServer
from simulators.sandbox import start_sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
WAREHOUSE = "7068517275539719942"


class Receiver:
    """Records every POST to /webhooks/<merchant>/<connection> and answers 200."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.lock = threading.Lock()
        self.server = LoopbackServer(Starlette(routes=[
            Route("/webhooks/{merchant}/{connection}", self.receive, methods=["POST"])]))

    async def receive(self, request: Request) -> Response:
        # The body is read before the lock is taken: a coroutine suspended while holding a thread
        # lock blocks the next delivery on the same event loop, and the loop with it (a deadlock).
        body = await request.body()
        with self.lock:
            self.received.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        return Response(status_code=200)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.received)} of {count} deliveries arrived: {self.received}")


@pytest.fixture
def receiver():
    receiver = Receiver()
    receiver.server.start()
    yield receiver
    receiver.server.stop()


@pytest.fixture
def merchant_file(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "acme", ignore=shutil.ignore_patterns(".state"))
    path = tmp_path / "acme" / "merchant.yaml"
    # A Shopify order event for a flow that reads the store (what is tested is the delivery; the
    # TikTok order event is the order flow's own).
    text = path.read_text().replace("\noverrides:\n", "\noverrides:\n  flows:\n    fulfillment_to_tiktok:\n"
                                                      "      trigger: {webhook: [ORDERS_CREATE]}\n")
    path.write_text(text)
    return path


def test_a_pointed_sandbox_delivers_both_platforms_webhooks_to_the_receiver(receiver, merchant_file) -> None:
    with start_sandbox(products=0, seed=12, webhook_url=receiver.server.url) as sandbox:
        assert sandbox.describe()["webhook_url"] == receiver.server.url
        merchant = Merchant(merchant_file, environ=sandbox.environ())
        try:
            # Subscribed for the production host: the pointed sandbox delivers to the receiver all the same.
            report = sync(merchant, "https://connector.acme.test")
            assert report.exit_code == 0 and {r.status for r in report.rows} == {"subscribed"}
            sandbox.admin("tiktok_shop", "POST", "seed", json={"products": [{
                "title": "Hook Mug", "skus": [{"seller_sku": "HOOK-MUG-1", "price": {"amount": "9.00", "currency": "USD"},
                                               "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 5}]}]}]})
            order = sandbox.admin("tiktok_shop", "POST", "orders", json={"line_items": [{"seller_sku": "HOOK-MUG-1"}]})
            merchant.connection("shopify").call("create_order", body={"order": {
                "line_items": [{"title": "Hook Mug", "price": "9.00", "quantity": 1}]}})
        finally:
            merchant.close()
        got = receiver.wait_for(2)

    by_path: dict[str, list[dict]] = {}
    for delivery in got:
        by_path.setdefault(delivery["path"], []).append(delivery)
    assert set(by_path) == {"/webhooks/acme/tiktok_us", "/webhooks/acme/shopify"}
    creds = tiktok_shop.DEFAULT_CREDENTIALS
    tiktok = by_path["/webhooks/acme/tiktok_us"][0]
    assert verify_tiktok_webhook(creds["app_key"], creds["app_secret"], tiktok["body"],
                                 tiktok["headers"]["authorization"])
    event = json.loads(tiktok["body"])
    assert event["type"] == 1 and event["data"]["order_id"] == order["id"]
    store = by_path["/webhooks/acme/shopify"][0]
    assert store["headers"]["x-shopify-topic"] == "orders/create"
    assert verify_shopify_webhook(shopify.DEFAULT_CREDENTIALS["webhook_secret"], store["body"],
                                  store["headers"]["x-shopify-hmac-sha256"])


def test_pointing_later_and_pointing_back(receiver) -> None:
    """The server may start after the sandbox: point it then; None sends to the addresses again."""
    with start_sandbox(products=0, seed=13) as sandbox:
        assert sandbox.describe()["webhook_url"] is None
        sandbox.point_webhooks(receiver.server.url)
        for name in ("tiktok_shop", "shopify"):
            assert sandbox.admin(name, "POST", "webhooks/point", json={"url": receiver.server.url})["automatic"]
        sandbox.point_webhooks(None)
        assert sandbox.webhook_url is None
        with pytest.raises(Exception, match="400"):
            sandbox.admin("tiktok_shop", "POST", "webhooks/point", json={"url": "ftp://x"})
