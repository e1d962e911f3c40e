"""The simulators' fault knobs (simulators/common.py): each fault does what it says to a real client
on loopback and is counted in GET /_admin/faults. Fast: no connector, one simulator at a time."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from simulators import rithum, salesforce, shopify, tiktok_shop
from simulators.common import FaultConfig, LoopbackServer
from simulators.salesforce import commerce_cloud
from simulators.tiktok_shop import webhooks as tiktok_webhooks

SHOPIFY = "/admin/api/2025-01"
TOKEN = {"X-Shopify-Access-Token": shopify.DEFAULT_CREDENTIALS["access_token"]}


@pytest.fixture
def shop():
    with LoopbackServer(shopify.create_app(seed=3, bucket_size=1000, leak_per_second=1000.0)) as server, \
            httpx.Client(base_url=server.url, headers=TOKEN, timeout=5) as client:
        yield client


def faults(client: httpx.Client, **knobs) -> dict:
    if knobs:
        client.post("/_admin/faults", json=knobs).raise_for_status()
    return client.get("/_admin/faults").json()


def customers(client: httpx.Client) -> int:
    return client.get(f"{SHOPIFY}/customers/count.json").json()["count"]


def test_an_answer_lost_after_processing_leaves_the_change_made(shop):
    faults(shop, lost_answer_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        shop.post(f"{SHOPIFY}/customers.json", json={"customer": {"email": "lost@example.com"}})
    faults(shop, lost_answer_rate=0.0)
    assert customers(shop) == 1  # processed: a blind retry would make a second one
    assert faults(shop)["injected"] == {"answer_lost": 1}


def test_a_timeout_holds_the_request_past_the_read_timeout_and_changes_nothing(shop):
    faults(shop, timeout_rate=1.0, timeout_ms=600)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        shop.post(f"{SHOPIFY}/customers.json", json={"customer": {"email": "t@example.com"}}, timeout=0.2)
    assert time.monotonic() - started < 0.5
    faults(shop, timeout_rate=0.0)
    assert customers(shop) == 0 and faults(shop)["injected"] == {"timeout": 1}


def test_spikes_delay_their_share_and_drops_cut_the_socket(shop):
    faults(shop, spike_rate=1.0, spike_ms=150)
    started = time.monotonic()
    assert shop.get(f"{SHOPIFY}/locations.json").status_code == 200
    assert time.monotonic() - started >= 0.15
    faults(shop, spike_rate=0.0, drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        shop.get(f"{SHOPIFY}/locations.json")
    faults(shop, drop_rate=0.0, burst_429=1, error_rate=0.5, seed=4)
    statuses = [shop.get(f"{SHOPIFY}/locations.json").status_code for _ in range(30)]
    report = faults(shop)
    assert statuses[0] == 429 and statuses.count(503) == report["injected"]["server_error"] > 0
    assert report["injected"]["latency_spike"] == 1 and report["injected"]["dropped_connection"] == 1
    assert report["injected_total"] == sum(report["injected"].values())


def test_unknown_or_mistyped_knobs_are_refused(shop):
    assert shop.post("/_admin/faults", json={"chaos": 1}).status_code == 400
    assert shop.post("/_admin/faults", json={"webhook_reorder": "yes"}).status_code == 400
    with pytest.raises(ValueError, match="unknown fault knob"):
        FaultConfig().update({"nope": 1})


@pytest.mark.parametrize("make, path", [
    (lambda: rithum.create_app(), "/v1/DistributionCenters"),
    (lambda: salesforce.create_app(), "/services/data/v62.0/sobjects"),
    (lambda: commerce_cloud.create_app(), "/dwsso/oauth2/access_token"),
])
def test_every_simulator_takes_the_shared_knobs(make, path):
    with LoopbackServer(make()) as server, httpx.Client(base_url=server.url, timeout=5) as client:
        faults(client, error_rate=1.0)
        assert client.get(path).status_code == 503
        faults(client, error_rate=0.0, burst_429=1)
        assert client.get(path).status_code == 429
        assert faults(client)["injected"] == {"server_error": 1, "throttled_429": 1}


def test_tiktok_webhooks_come_late_out_of_order_and_twice():
    received: list[str] = []

    async def hook(request: Request) -> JSONResponse:
        received.append(json.loads(await request.body())["data"]["order_id"])
        return JSONResponse({})

    app = tiktok_shop.create_app(seed=5)
    sim, dispatcher = app.state.sim, app.state.webhooks
    with LoopbackServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiver, \
            LoopbackServer(app) as server, httpx.Client(base_url=server.url, timeout=5) as client:
        sim.webhooks["ORDER_STATUS_CHANGE"] = {"address": f"{receiver.url}/hook", "create_time": 0, "update_time": 0}
        faults(client, webhook_late_rate=0.5, webhook_late_ms=300, webhook_reorder=True, webhook_duplicate_rate=0.5)
        sent = [str(n) for n in range(20)]
        for order_id in sent:
            tiktok_webhooks.queue_event(sim, "ORDER_STATUS_CHANGE", {"order_id": order_id})
        first = asyncio.run(dispatcher.flush())
        injected = faults(client)["injected"]
        assert 0 < injected["webhook_late"] < 20 and first["pending"] == injected["webhook_late"]
        time.sleep(0.35)
        assert asyncio.run(dispatcher.flush())["pending"] == 0
        injected = faults(client)["injected"]
        assert sorted(set(received), key=int) == sent and received != sorted(received, key=int)
        assert len(received) == 20 + injected["webhook_duplicate"] and injected["webhook_duplicate"] > 0
        assert injected["webhook_out_of_order"] > 0


def test_shopify_webhooks_are_sent_twice_when_told():
    received: list[str] = []

    async def hook(request: Request) -> JSONResponse:
        received.append(request.headers["X-Shopify-Webhook-Id"])
        return JSONResponse({})

    with LoopbackServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiver, \
            LoopbackServer(shopify.create_app(seed=3, bucket_size=1000, leak_per_second=1000.0)) as server, \
            httpx.Client(base_url=server.url, headers=TOKEN, timeout=5) as client:
        client.post(f"{SHOPIFY}/webhooks.json", json={"webhook": {
            "topic": "customers/create", "address": f"{receiver.url}/hook", "format": "json"}}).raise_for_status()
        faults(client, webhook_duplicate_rate=1.0)
        for n in range(3):
            client.post(f"{SHOPIFY}/customers.json", json={"customer": {"email": f"c{n}@example.com"}})
        assert client.post("/_admin/webhooks/deliver").json()["delivered"] == 3
        assert len(received) == 6 and len(set(received)) == 3
        assert faults(client)["injected"] == {"webhook_duplicate": 3}
