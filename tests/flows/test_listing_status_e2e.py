"""Listing status read-back, end to end: catalog sync to the TikTok simulator, its audit with some
listings turned down, the listing_status poll, `connector listings`, incremental re-polls, and a
product status webhook handled by the same track step."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.cli import main
from engine.flow.runner import FlowRun, Merchant
from engine.platforms.tiktok_shop import verify_tiktok_webhook
from simulators.common import LoopbackServer
from simulators.sandbox import start_sandbox
from simulators.tiktok_shop.products import DEFAULT_REJECTION

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
CURSOR = ("listing_status", "tiktok_us", "product_update_time")
OVERLAP = 2  # seconds; small so a test can step past the window with a short sleep
SEARCH = "/product/202309/products/search"
REVIEWER = [
    {"position": "description", "reasons": ["The description makes medical claims"],
     "suggestions": ["Remove claims about treating conditions"]},
    {"position": "main_images", "reasons": ["The main image is blurry"], "suggestions": ["Upload a sharper image"]},
]

pytestmark = pytest.mark.slow


class RecordingTransport(httpx.HTTPTransport):
    """The real transport, remembering each request's method, path and JSON body."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        is_json = request.headers.get("content-type", "").startswith("application/json") and content
        self.sent.append({"method": request.method, "path": request.url.path,
                          "body": json.loads(content) if is_json else None})
        return super().handle_request(request)

    def searches(self) -> list[dict]:
        return [r["body"] for r in self.sent if r["path"] == SEARCH]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    # Reviews take an hour here, so nothing settles until the test runs the audit.
    sandbox = start_sandbox(products=12, seed=13, max_variants=4, invalid_share=0.0,
                            tiktok_options={"audit_delay_seconds": 3600})
    workdir = tmp_path_factory.mktemp("merchant")
    shutil.copytree(EXAMPLE, workdir / "acme", ignore=shutil.ignore_patterns(".state"))
    path = workdir / "acme" / "merchant.yaml"
    text = path.read_text(encoding="utf-8")
    binding = "    flow: listing_status_tiktok\n"
    assert binding in text
    path.write_text(text.replace(binding, binding + f"    options: {{overlap_seconds: {OVERLAP}}}\n"), encoding="utf-8")
    products = sandbox.admin("shopify", "GET", "state")["products"]
    shop = sorted(products.values() if isinstance(products, dict) else products, key=lambda p: p["id"])
    _shopify(sandbox, "PUT", f"products/{shop[0]['id']}.json",
             {"product": {"id": shop[0]["id"], "title": f"Replica {shop[0]['title']}"}})
    transport = RecordingTransport()
    merchant = Merchant(path, environ=sandbox.environ(), transports={"tiktok_us": transport})
    assert FlowRun(merchant, "catalog").run().status == "ok"
    remote = {row["key"]: row["remote_id"] for row in merchant.store.list_mappings("product", "tiktok_us")}
    sandbox.admin("tiktok_shop", "POST", "audit/run", json={"reject": {
        remote[str(shop[1]["id"])]: [DEFAULT_REJECTION], remote[str(shop[2]["id"])]: REVIEWER}})
    time.sleep(OVERLAP + 1.2)
    # A later content edit: re-audited, so this one is PENDING, and newer than everything else.
    _shopify(sandbox, "PUT", f"products/{shop[3]['id']}.json",
             {"product": {"id": shop[3]["id"], "title": f"{shop[3]['title']} (new season)"}})
    assert FlowRun(merchant, "catalog").run().counts.get("update") == 1
    transport.sent.clear()
    report = FlowRun(merchant, "listing_status").run()
    yield {"sandbox": sandbox, "merchant": merchant, "path": path, "transport": transport, "report": report,
           "remote": remote, "shop": shop, "title_failed": remote[str(shop[0]["id"])],
           "rejected": {remote[str(shop[1]["id"])], remote[str(shop[2]["id"])]},
           "pending": remote[str(shop[3]["id"])]}
    merchant.close()
    sandbox.stop()


def test_every_listing_status_and_audit_result_matches_the_simulator(world):
    merchant, report = world["merchant"], world["report"]
    tiktok = _tiktok_products(world["sandbox"])
    mappings = merchant.store.list_mappings("product", "tiktok_us")
    assert report.status == "ok" and report.counts == {"tracked": len(mappings)}
    assert "update_time_ge" not in world["transport"].searches()[0]  # the first poll reads everything
    for row in mappings:
        product, seen = tiktok[row["remote_id"]], row["extra"]
        assert seen["status"] == product["status"], row["key"]
        assert seen["audit_status"] == product["audit"]["status"]
        assert seen["audit_failed_reasons"] == product["audit_failed_reasons"]
        assert seen["title"] == product["title"]
        assert seen["sku_count"] == len(product["skus"])
        assert seen["seller_skus"] == [s["seller_sku"] for s in product["skus"]]
        assert seen["seen_at"].endswith("Z") and seen["update_time"].endswith("Z")
    by_id = {row["remote_id"]: row["extra"] for row in mappings}
    failed = {pid for pid, extra in by_id.items() if extra["status"] == "FAILED"}
    assert failed == world["rejected"] | {world["title_failed"]}
    assert by_id[world["title_failed"]]["audit_failed_reasons"][0]["position"] == "title"
    assert by_id[world["pending"]]["status"] == "PENDING"
    assert by_id[world["pending"]]["audit_status"] == "AUDITING"
    assert {extra["status"] for pid, extra in by_id.items() if pid not in failed | {world["pending"]}} == {"ACTIVATE"}


def test_only_rejected_products_cost_a_detail_call(world):
    details = {r["path"].rsplit("/", 1)[-1] for r in world["transport"].sent
               if r["method"] == "GET" and "/products/" in r["path"]}
    assert details == world["rejected"] | {world["title_failed"]}


def test_connector_listings_shows_status_and_reasons(world):
    runner, path = CliRunner(), str(world["path"])
    result = runner.invoke(main, ["listings", path, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["connections"] == ["tiktok_us"]
    rows = {row["product_id"]: row for row in data["listings"]}
    assert set(rows) == set(world["remote"].values())
    tiktok = _tiktok_products(world["sandbox"])
    for pid, row in rows.items():
        assert row["key"] == next(k for k, v in world["remote"].items() if v == pid)
        assert (row["status"], row["audit_status"]) == (tiktok[pid]["status"], tiktok[pid]["audit"]["status"])
        assert row["audit_failed_reasons"] == tiktok[pid]["audit_failed_reasons"]
        assert row["sku_count"] == len(tiktok[pid]["skus"]) and row["seen_at"]
    assert data["counts"]["FAILED"] == 3 and data["counts"]["PENDING"] == 1

    failed = runner.invoke(main, ["listings", path, "--status", "failed", "--format", "json"])
    assert {row["product_id"] for row in json.loads(failed.output)["listings"]} == \
        world["rejected"] | {world["title_failed"]}

    table = runner.invoke(main, ["listings", path, "--flow-connection", "tiktok_us"], env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.output
    for pid in world["rejected"] | {world["title_failed"]}:
        assert pid in table.output
    for text in ("The description makes medical claims", "Remove claims about treating conditions",
                 "The main image is blurry", "prohibited word", "FAILED 3", "PENDING 1"):
        assert text in table.output
    credentials = world["sandbox"].describe()["credentials"]
    for secret in [*credentials["tiktok_shop"].values(), *credentials["shopify"].values()]:
        if len(secret) > 8 and not secret.startswith(("ROW_", "7495")):
            assert secret not in table.output and secret not in result.output


def test_a_poll_with_nothing_changed_reads_only_the_overlap_window_and_writes_nothing(world):
    merchant, transport = world["merchant"], world["transport"]
    cursor = merchant.store.get_cursor(*CURSOR)
    before = merchant.store.list_mappings("product", "tiktok_us")
    newest = max(p["update_time"] for p in _tiktok_products(world["sandbox"]).values())
    assert cursor == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(newest))
    transport.sent.clear()
    report = FlowRun(merchant, "listing_status").run()
    bound = newest - OVERLAP
    assert transport.searches() == [{"status": "ALL", "update_time_ge": bound}]
    in_window = [pid for pid, p in _tiktok_products(world["sandbox"]).items() if p["update_time"] >= bound]
    assert world["pending"] in in_window and len(in_window) < len(before)
    assert report.status == "ok" and report.counts == {"unchanged": len(in_window)}
    assert merchant.store.list_mappings("product", "tiktok_us") == before
    assert merchant.store.get_cursor(*CURSOR) == cursor


def test_a_later_audit_result_is_picked_up_by_the_next_poll(world):
    sandbox, merchant, transport = world["sandbox"], world["merchant"], world["transport"]
    sandbox.admin("tiktok_shop", "POST", "audit/run")
    transport.sent.clear()
    report = FlowRun(merchant, "listing_status").run()
    assert report.counts.get("tracked") == 1
    key = next(k for k, v in world["remote"].items() if v == world["pending"])
    extra = merchant.store.get_mapping("product", "tiktok_us", key)["extra"]
    assert (extra["status"], extra["audit_status"]) == ("ACTIVATE", "PASSED")
    assert "update_time_ge" in transport.searches()[0]


class WebhookInbox:
    """Stands in for the webhook server: verifies TikTok's signature on the raw body, then stores
    the event durably (deduplicated on tts_notification_id) before acknowledging it."""

    def __init__(self, store, app_key: str, app_secret: str) -> None:
        self.store, self.app_key, self.app_secret = store, app_key, app_secret
        self.answers: list[int] = []

        async def receive(request: Request) -> Response:
            raw = await request.body()
            if not verify_tiktok_webhook(self.app_key, self.app_secret, raw, request.headers.get("authorization")):
                self.answers.append(401)
                return Response(status_code=401)
            event = json.loads(raw)
            self.store.store_event("tiktok_us", event["tts_notification_id"], str(event["type"]), raw,
                                   {"authorization": "(verified)"})
            self.answers.append(200)
            return JSONResponse({"code": 0})

        self.server = LoopbackServer(Starlette(routes=[Route("/tiktok", receive, methods=["POST"])]))


def test_a_product_status_webhook_updates_the_listing_through_the_same_track_step(world):
    sandbox, merchant = world["sandbox"], world["merchant"]
    credentials = sandbox.describe()["credentials"]["tiktok_shop"]
    inbox = WebhookInbox(merchant.store, credentials["app_key"], credentials["app_secret"])
    conn = merchant.connection("tiktok_us")
    with inbox.server:
        for event_type in ("PRODUCT_STATUS_CHANGE", "PRODUCT_AUDIT_STATUS_CHANGE"):
            conn.call("put_webhook", body={"address": f"{inbox.server.url}/tiktok", "event_type": event_type})
        active = next(pid for pid in world["remote"].values()
                      if pid not in world["rejected"] | {world["title_failed"], world["pending"]})
        conn.call("deactivate_products", body={"product_ids": [active]})
        assert sandbox.admin("tiktok_shop", "POST", "webhooks/deliver")["delivered"] == 1
    assert inbox.answers == [200]
    cursor = merchant.store.get_cursor(*CURSOR)
    events = merchant.store.claim_events(10, "test-worker", 60)
    assert [e["topic"] for e in events] == ["5"]
    flow_run = FlowRun(merchant, "listing_status")
    payloads = [json.loads(e["payload_raw"]) for e in events]
    report = flow_run.run(records=flow_run.steps[0].event_records(flow_run.ctx, payloads))
    for event in events:
        merchant.store.finish_event(event["source"], event["event_id"], "done" if report.status == "ok" else "retry")
    assert report.counts == {"tracked": 1}
    key = next(k for k, v in world["remote"].items() if v == active)
    assert merchant.store.get_mapping("product", "tiktok_us", key)["extra"]["status"] == "SELLER_DEACTIVATED"
    assert merchant.store.get_cursor(*CURSOR) == cursor  # events never move the poll's cursor
    # A redelivery of the same notification is stored once, so it is never processed twice.
    assert merchant.store.store_event("tiktok_us", events[0]["event_id"], "5", events[0]["payload_raw"], {}) is False


def _shopify(sandbox, method: str, path: str, body: dict | None = None) -> dict:
    response = httpx.request(method, f"{sandbox.environ()['ACME_SHOPIFY_URL']}/{path}", json=body,
                             headers={"X-Shopify-Access-Token": sandbox.environ()["ACME_SHOPIFY_TOKEN"]}, timeout=30)
    response.raise_for_status()
    return response.json()


def _tiktok_products(sandbox) -> dict[str, dict]:
    products = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    return {p["id"]: p for p in products if p["status"] != "DELETED"}
