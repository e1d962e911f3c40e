"""Webhooks on a GraphQL Shopify connection: `connector webhooks sync` subscribes through
webhookSubscriptionCreate (the topics flows name, once), and the deliveries are the REST ones,
signed the same way and verified with the same HMAC."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from gql_helpers import EXAMPLE, environ

from engine.cli.webhooks import sync
from engine.flow.runner import Merchant
from engine.platforms.shopify import verify_shopify_webhook
from simulators import shopify
from simulators.sandbox import start_sandbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulators"))
from test_sandbox_webhooks import Receiver  # noqa: E402

URL = "https://connector.acme.test"

pytestmark = pytest.mark.slow


def test_subscriptions_go_through_graphql_and_deliveries_verify_as_on_rest(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "acme")
    path = tmp_path / "acme" / "merchant.yaml"
    # A Shopify order event for a flow that reads the store, next to the inventory flow's own.
    path.write_text(path.read_text().replace("\noverrides:\n", "\noverrides:\n  flows:\n    fulfillment_to_tiktok:\n"
                                                               "      trigger: {webhook: [ORDERS_CREATE]}\n"))
    receiver = Receiver()
    receiver.server.start()
    try:
        with start_sandbox(products=0, seed=12, webhook_url=receiver.server.url) as sandbox:
            merchant = Merchant(path, environ=environ(sandbox))
            try:
                report = sync(merchant, URL)
                assert report.exit_code == 0 and {r.status for r in report.rows} == {"subscribed"}
                subscribed = {(s["topic"], s["address"]) for s in sandbox.admin("shopify", "GET", "state")["webhooks"]}
                address = f"{URL}/webhooks/acme_graphql/shopify"
                assert subscribed == {("orders/create", address), ("inventory_levels/update", address)}
                paths = {r["path"] for r in sandbox.admin("shopify", "GET", "requests")["requests"]}
                assert paths == {"/admin/api/2026-01/graphql.json"}
                # Listed back through webhookSubscriptions: a second sync changes nothing.
                again = sync(merchant, URL)
                assert again.exit_code == 0 and "subscribed" not in {r.status for r in again.rows}
                sandbox.admin("shopify", "POST", "seed", json={"products": [{
                    "title": "Hook Mug", "variants": [{"sku": "HOOK-MUG-1", "price": "9.00", "inventory_quantity": 5}]}]})
                variant = sandbox.admin("shopify", "GET", "state")["products"][0]["variants"][0]
                merchant.connection("shopify").call("create_order", body={"order": {
                    "name": "TT1", "lineItems": [{"variantId": f"gid://shopify/ProductVariant/{variant['id']}",
                                                  "quantity": 1}]}, "options": {"inventoryBehaviour": "BYPASS"}})
            finally:
                merchant.close()
            got = receiver.wait_for(1)
    finally:
        receiver.server.stop()
    delivery = next(d for d in got if d["headers"]["x-shopify-topic"] == "orders/create")
    assert delivery["path"] == "/webhooks/acme_graphql/shopify"
    assert json.loads(delivery["body"])["name"] == "TT1"
    assert verify_shopify_webhook(shopify.DEFAULT_CREDENTIALS["webhook_secret"], delivery["body"],
                                  delivery["headers"]["x-shopify-hmac-sha256"])
