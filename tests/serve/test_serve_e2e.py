"""`connector serve` end to end against both simulators: TikTok's own webhook deliveries become
Shopify orders exactly once; and a server killed (SIGKILL) while events arrive loses none of the
events it acknowledged and creates no order twice after a restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from serve_helpers import SHOPIFY_SECRET, acme_project, tiktok_delivery

from engine.flow.runner import FlowRun, Merchant
from engine.serve import ServeOptions, Server
from engine.state import open_store
from simulators.common import LoopbackServer
from simulators.sandbox import start_sandbox

pytestmark = pytest.mark.slow


def listed_sandbox(folder: Path, **tiktok_options):
    """Both simulators, the acme catalog listed on TikTok and approved, and the merchant file."""
    sandbox = start_sandbox(products=20, seed=21, max_variants=3, invalid_share=0.0, tiktok_options=tiktok_options,
                            shopify_options={"bucket_size": 400, "leak_per_second": 50.0})
    path = acme_project(folder)
    use_sandbox_locations(sandbox, path)
    environ = {**sandbox.environ(), "ACME_SHOPIFY_WEBHOOK_SECRET": SHOPIFY_SECRET}
    merchant = Merchant(path, environ=environ)
    try:
        assert FlowRun(merchant, "catalog").run().status == "ok"
    finally:
        merchant.close()
    sandbox.admin("tiktok_shop", "POST", "audit/run", json={})
    return sandbox, path, environ


def use_sandbox_locations(sandbox, path: Path) -> None:
    """The example's location ids are those of the sandbox's default seed; with another seed its
    inventory flow would find no level at them and offer 0 of every SKU an order touches (until
    a later order burst finds nothing in stock to order)."""
    ids = [str(loc["id"]) for loc in sandbox.admin("shopify", "GET", "state")["locations"]]
    text = path.read_text(encoding="utf-8")
    for example, own in zip(("7000339563971", "7000339564126"), ids, strict=False):
        text = text.replace(f'"{example}"', f'"{own}"')
    path.write_text(text, encoding="utf-8")


def wait_until(check, timeout: float = 120.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"not reached within {timeout} s")


def shopify_names(sandbox) -> dict[str, int]:
    return sandbox.admin("shopify", "GET", "orders/counts")["by_name"]


def test_the_simulators_deliveries_become_each_order_once(tmp_path):
    sandbox, path, environ = listed_sandbox(tmp_path, auto_deliver_webhooks=True)
    server = Server([path], ServeOptions(schedule=False), environ=environ).start()
    http = LoopbackServer(server.app).start()
    try:
        merchant = server.services["acme"].merchant
        merchant.connection("tiktok_us").call("put_webhook", body={
            "event_type": "ORDER_STATUS_CHANGE", "address": f"{http.url}/webhooks/acme/tiktok_us"})
        ids = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
            "count": 60, "seed": 5, "statuses": {"AWAITING_SHIPMENT": 6, "UNPAID": 1, "ON_HOLD": 1},
            "fbt_share": 0.2})["orders"]
        outbox = lambda: sandbox.admin("tiktok_shop", "GET", "webhooks/outbox",  # noqa: E731
                                       params={"event_type": "ORDER_STATUS_CHANGE"})["events"]
        wait_until(lambda: not [e for e in outbox() if e["status"] == "pending"])
        store = merchant.store
        wait_until(lambda: (c := store.event_counts())["pending"] == c["processing"] == 0)
        tiktok = {o["id"]: o for o in sandbox.admin("tiktok_shop", "GET", "state")["orders"]}
        paid = {oid for oid in ids if tiktok[oid]["status"] not in ("UNPAID", "ON_HOLD", "CANCELLED")}
        assert paid and len(paid) < len(ids)
        names = shopify_names(sandbox)
        assert {name[2:] for name in names} == paid and set(names.values()) == {1}
        assert store.event_counts()["failed"] == 0
        # TikTok delivers again (a lost acknowledgement): acknowledged, nothing created twice.
        again = sandbox.admin("tiktok_shop", "GET", "webhooks/outbox",
                              params={"all": "1", "event_type": "ORDER_STATUS_CHANGE"})["events"]
        assert len(again) >= len(ids) and {e["status"] for e in again} == {"delivered"}
        with httpx.Client() as client:
            for event in again:
                response = client.post(f"{http.url}/webhooks/acme/tiktok_us", content=event["body"].encode(),
                                       headers=event["headers"])
                assert response.json()["duplicate"] is True
        assert shopify_names(sandbox) == names
        health = httpx.get(f"{http.url}/healthz")
        assert health.status_code == 200 and health.json()["merchants"]["acme"]["tiktok_us"]["last_success"]
        metrics = httpx.get(f"{http.url}/metrics").text
        assert f'connector_webhook_events_duplicate_total{{connection="tiktok_us",merchant="acme"}} {len(again)}.0' \
            in metrics
        assert 'connector_flow_run_seconds_count{flow="orders",merchant="acme",trigger="webhook"}' in metrics
    finally:
        http.stop()
        server.stop()
        sandbox.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(path: Path, environ: dict, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "-v", "serve", str(path), "--port", str(port), "--no-schedule"],
        env={**os.environ, **environ}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {process.stdout.read()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 503)
        except httpx.HTTPError:
            return False
    wait_until(up, timeout=60, every=0.1)
    return process


def test_a_server_killed_mid_stream_loses_no_acknowledged_event_and_creates_no_order_twice(tmp_path):
    sandbox, path, environ = listed_sandbox(tmp_path)
    try:
        ids = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
            "count": 120, "seed": 8, "statuses": {"AWAITING_SHIPMENT": 1}})["orders"]
        events = sandbox.admin("tiktok_shop", "GET", "webhooks/outbox", params={"event_type": "ORDER_STATUS_CHANGE"})[
            "events"]
        assert len(events) >= len(ids)
        sandbox.admin("shopify", "POST", "faults", json={"latency_ms": 25})  # processing lags the stream
        port = free_port()
        url = f"http://127.0.0.1:{port}/webhooks/acme/tiktok_us"
        server = start_serve(path, environ, port)
        acknowledged: set[str] = set()
        refused: list[dict] = []
        killed = threading.Event()

        def stream() -> None:
            with httpx.Client(timeout=5) as client:
                for event in events:
                    try:
                        ok = client.post(url, content=event["body"].encode(), headers=event["headers"]).status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    (acknowledged.add(event["tts_notification_id"]) if ok else refused.append(event))
                    time.sleep(0.01)

        sender = threading.Thread(target=stream)
        sender.start()
        wait_until(lambda: len(acknowledged) >= len(events) // 2 and sum(shopify_names(sandbox).values()) >= 5,
                   every=0.05)
        server.send_signal(signal.SIGKILL)
        killed.set()
        server.wait(timeout=10)
        sender.join(timeout=120)
        assert refused, "the kill came after the last event"
        created_before = sum(shopify_names(sandbox).values())
        assert created_before < len(ids), "the kill came after processing ended"

        server = start_serve(path, environ, port)  # the platform then retries what was not acknowledged
        with httpx.Client(timeout=10) as client:
            for event in refused:
                assert client.post(url, content=event["body"].encode(), headers=event["headers"]).status_code == 200
        store = open_store(str(path.parent / ".state" / "acme.db"))
        try:
            wait_until(lambda: (c := store.event_counts())["pending"] == c["processing"] == 0, timeout=180)
            for notification in acknowledged:
                assert store.get_event("tiktok_us", notification)["status"] == "done", notification
            assert store.event_counts()["failed"] == 0
        finally:
            store.close()
        names = shopify_names(sandbox)
        assert {f"TT{oid}" for oid in ids} == set(names) and set(names.values()) == {1}
        assert not sandbox.admin("shopify", "GET", "orders/counts")["duplicate_names"]

        server.send_signal(signal.SIGTERM)  # a graceful stop ends with exit 0
        assert server.wait(timeout=60) == 0, server.stdout.read()
    finally:
        sandbox.stop()


def test_dead_lettered_order_events_replayed_from_the_command_line_become_orders_once(tmp_path):
    """Events given up on while the store was down: `connector dlq replay MERCHANT webhooks` takes
    them through the order flow now; a second replay finds nothing to do."""
    sandbox, path, environ = listed_sandbox(tmp_path)
    try:
        ids = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
            "count": 3, "seed": 8, "statuses": {"AWAITING_SHIPMENT": 1}})["orders"]
        store = open_store(str(path.parent / ".state" / "acme.db"))
        try:
            for number, order_id in enumerate(ids):
                body, headers = tiktok_delivery(order_id=order_id, notification_id=f"dl-{number}")
                store.store_events([("tiktok_us", f"dl-{number}", "ORDER_STATUS_CHANGE", body, headers)])
            for event in store.claim_events(10, "gone-server", 60):
                store.dead_letter_event(event["source"], event["event_id"], "acme", "webhooks",
                                        json.loads(event["payload_raw"]), "flow orders: the store answered 503")
            assert len(store.list_dead_letters(merchant="acme", flow="webhooks")) == 3
        finally:
            store.close()
        env = {**os.environ, **environ}
        replay = [sys.executable, "-m", "engine.cli", "dlq", "replay", str(path), "webhooks"]
        done = subprocess.run(replay, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count("done") == 3 and "Traceback" not in done.stderr
        names = shopify_names(sandbox)
        assert sorted(name[2:] for name in names) == sorted(ids) and set(names.values()) == {1}
        again = subprocess.run(replay, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and "no open dead-lettered events" in again.stdout
        assert shopify_names(sandbox) == names
    finally:
        sandbox.stop()
