"""TikTok Shop US orders into Service Cloud with examples/sfsc_lumen as written: each paid order
one Order on the buyer's person account, buyers merged by e-mail (an account that exists already
is used, not duplicated), and nothing twice on a re-run."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from engine.flow.runner import FlowRun, Merchant
from simulators.common import LoopbackServer
from simulators.salesforce import DEFAULT_CREDENTIALS, create_app
from simulators.sandbox import start_sandbox

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sfsc_lumen"
SKUS = ["LUM-SERUM-30", "LUM-CREAM-50", "LUM-MIST-100"]


def test_tiktok_orders_reach_service_cloud_once_with_their_buyers(tmp_path):
    with start_sandbox(products=0) as sandbox:
        server = LoopbackServer(create_app()).start()
        try:
            httpx.post(f"{server.url}/_admin/seed", json={
                "products": [{"sku": s, "name": s.title()} for s in SKUS]}).raise_for_status()
            sandbox.admin("tiktok_shop", "POST", "seed", json={"products": [{
                "title": s, "skus": [{"seller_sku": s, "price": {"amount": "32.00", "currency": "USD"},
                                      "inventory": [{"warehouse_id": "7068517275539719942", "quantity": 80}]}]}
                for s in SKUS]})
            generated = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
                "count": 6, "seed": 4, "skus": SKUS, "statuses": {"AWAITING_SHIPMENT": 3, "UNPAID": 1}})["orders"]
            tiktok = {o["id"]: o for o in sandbox.admin("tiktok_shop", "GET", "state")["orders"]}
            paid = {oid for oid in generated if tiktok[oid]["status"] != "UNPAID"}
            # A buyer the service team already knows: the order goes on that account.
            known = next(iter(paid))
            email = tiktok[known]["buyer_email"].strip()
            httpx.post(f"{server.url}/_admin/seed", json={"accounts": [
                {"LastName": "Known", "PersonEmail": email}]}).raise_for_status()
            shutil.copytree(EXAMPLE, tmp_path / "sfsc_lumen")
            environ = {**sandbox.environ("LUMEN"), "LUMEN_SFSC_URL": server.url,
                       "LUMEN_SFSC_CLIENT_ID": DEFAULT_CREDENTIALS["client_id"],
                       "LUMEN_SFSC_CLIENT_SECRET": DEFAULT_CREDENTIALS["client_secret"],
                       "LUMEN_SFSC_REFRESH_TOKEN": DEFAULT_CREDENTIALS["refresh_token"]}
            merchant = Merchant(tmp_path / "sfsc_lumen" / "merchant.yaml", environ=environ)
            try:
                report = FlowRun(merchant, "orders").run()
                assert report.counts.get("create") == len(paid), report.results[:2]
                state = httpx.get(f"{server.url}/_admin/state").json()
                orders = {o["Channel_Order_Id__c"]: o for o in state["Order"]}
                assert set(orders) == paid
                accounts = {a["Id"]: a for a in state["Account"]}
                emails = [a.get("PersonEmail") for a in accounts.values()]
                assert len(emails) == len(set(emails))
                assert accounts[orders[known]["AccountId"]]["LastName"] == "Known"
                for oid in paid:
                    assert orders[oid]["Status"] == "Draft"
                    assert str(orders[oid]["Channel_Total__c"]) in (tiktok[oid]["payment"]["total_amount"],
                                                                   str(float(tiktok[oid]["payment"]["total_amount"])))
                    assert "x LUM-" in orders[oid]["Description"]
                again = FlowRun(merchant, "orders").run()
                assert "create" not in again.counts
                assert len(httpx.get(f"{server.url}/_admin/state").json()["Order"]) == len(paid)
            finally:
                merchant.close()
        finally:
            server.stop()
