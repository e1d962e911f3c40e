"""The fault suite: TikTok orders reach Shopify through `connector serve` while both simulators
misbehave in every way they can, the server is SIGKILLed three times at seeded random points, and a
second TikTok region (UK, same merchant) is down for the whole run.

Expected, every time: every valid TikTok order exists in Shopify exactly once (counted at the
simulator), no duplicate, the invalid orders and only they in the dead letters with their root
error, the US region fully synced while the UK one ends with a clear summary and a non-zero exit,
its orders kept and synced once it is back; no secret in any output, no traceback, no hang.

The connectors are copies of the shipped ones with short retry waits and a 1.5 s read timeout (a
timeout fault holds a request 2.5 s), so the faults cost seconds, not minutes.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fault_table import record

from engine.flow.runner import FlowRun, Merchant
from engine.state import open_store
from simulators import tiktok_shop
from simulators.common import LoopbackServer
from simulators.sandbox import start_sandbox

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MAIN_WH = "7068517275539719942"
SEED = 18
# Distinctive values: found anywhere in an output, they leaked.
SECRETS = {
    "ACME_SHOPIFY_TOKEN": "shpat_FAULTSUITE_c41e9a",
    "ACME_SHOPIFY_WEBHOOK_SECRET": "whsec-FAULTSUITE-77b2",
    "ACME_TIKTOK_APP_SECRET": "ttsecret-FAULTSUITE-93d2",
    "ACME_TIKTOK_ACCESS_TOKEN": "ttaccess-FAULTSUITE-us-55b0",
    "ACME_TIKTOK_REFRESH_TOKEN": "ttrefresh-FAULTSUITE-us-0e7f",
    "ACME_UK_ACCESS_TOKEN": "ttaccess-FAULTSUITE-uk-1a2b",
    "ACME_UK_REFRESH_TOKEN": "ttrefresh-FAULTSUITE-uk-3c4d",
}
APP_KEY = "faultsuite-app-key"
# Every request fault at once, at the rates the issue names.
REQUEST_FAULTS = {"error_rate": 0.1, "burst_429": 3, "spike_rate": 0.1, "spike_ms": 400, "timeout_rate": 0.03,
                  "timeout_ms": 2500, "drop_rate": 0.03, "lost_answer_rate": 0.05, "seed": SEED}
WEBHOOK_FAULTS = {"webhook_duplicate_rate": 0.25, "webhook_late_rate": 0.25, "webhook_late_ms": 800,
                  "webhook_reorder": True}
TIMEOUT = 150  # seconds any one subprocess may take before it counts as a hang


class Outputs:
    """Everything user-facing the suite captured, and the subprocesses that hung."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []
        self.hangs = 0

    def new(self, name: str) -> Path:
        path = self.folder / f"{len(self.files):02d}-{name}.log"
        self.files.append(path)
        return path

    def run(self, args: list[str], env: dict, name: str) -> tuple[int | None, str]:
        path = self.new(name)
        with path.open("w") as out:
            try:
                code = subprocess.run([sys.executable, "-m", "engine.cli", *args], env=env, stdout=out,
                                      stderr=subprocess.STDOUT, timeout=TIMEOUT).returncode
            except subprocess.TimeoutExpired:
                self.hangs += 1
                code = None
        return code, path.read_text()

    def text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.files if p.exists())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float = 60.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"not reached within {timeout} s")


def fast_connector(name: str, folder: Path) -> str:
    """A copy of a shipped connector under another name, with short retry waits and read timeout."""
    text = (ROOT / "connectors" / f"{name}.yaml").read_text()
    text = text.replace(f"\nname: {name}\n", f"\nname: {name}_fs\n", 1)
    text = re.sub(r"^retry: \{max_attempts: (\d+), base_delay: [\d.]+, max_delay: \d+, jitter: [\d.]+,",
                  r"retry: {max_attempts: \1, base_delay: 0.05, max_delay: 0.4, jitter: 0.05,", text, count=1,
                  flags=re.M)
    text = re.sub(r"^timeout: \{connect: \d+, read: \d+\}", "timeout: {connect: 2, read: 1.5}", text, count=1,
                  flags=re.M)
    assert "base_delay: 0.05" in text and "read: 1.5" in text, f"{name}.yaml changed shape"
    (folder / "connectors").mkdir(exist_ok=True)
    (folder / "connectors" / f"{name}_fs.yaml").write_text(text)
    return f"{name}_fs"


def project(folder: Path, fast: bool = True) -> Path:
    """The acme example on the fast connectors, with a second TikTok shop (UK) and its order flow."""
    work = folder / "acme"
    shutil.copytree(ROOT / "examples" / "acme", work)
    tiktok, shopify = (fast_connector("tiktok_shop", work), fast_connector("shopify", work)) if fast else \
        ("tiktok_shop", "shopify")
    path = work / "merchant.yaml"
    text = path.read_text()
    text = text.replace("    connector: shopify\n", f"    connector: {shopify}\n")
    text = text.replace("    connector: tiktok_shop\n", f"    connector: {tiktok}\n")
    uk = f"""  tiktok_uk:
    connector: {tiktok}
    region: GB
    currency: GBP
    breaker: {{cooldown: 2}}   # a probe soon after the shop is back
    settings:
      shop_cipher: "${{env:ACME_UK_SHOP_CIPHER}}"
      base_url: "${{env:ACME_UK_URL}}"
      token_url: "${{env:ACME_UK_TOKEN_URL}}"
    credentials:
      app_key: "${{env:ACME_TIKTOK_APP_KEY}}"
      app_secret: "${{env:ACME_TIKTOK_APP_SECRET}}"
      access_token: "${{env:ACME_UK_ACCESS_TOKEN}}"
      refresh_token: "${{env:ACME_UK_REFRESH_TOKEN}}"

flows:
"""
    text = text.replace("\nflows:\n", "\n" + uk, 1)
    text = text.replace("  fulfillment:\n", """  orders_uk:
    flow: orders_from_tiktok
    connections: {channel: tiktok_uk, store: shopify}
    options: {order_name_prefix: UK}
  fulfillment:
""", 1)
    path.write_text(text)
    return path


def environ(sandbox, uk: LoopbackServer) -> dict[str, str]:
    env = {**sandbox.environ(), **SECRETS, "ACME_TIKTOK_APP_KEY": APP_KEY}
    env.update({"ACME_UK_URL": uk.url, "ACME_UK_TOKEN_URL": f"{uk.url}/api/v2/token/refresh",
                "ACME_UK_SHOP_CIPHER": "ROW_uk_cipher"})
    return env


def tiktok_credentials(region: str) -> dict:
    tag = "" if region == "US" else "UK_"
    prefix = "ACME_TIKTOK_" if region == "US" else "ACME_UK_"
    return {"app_key": APP_KEY, "app_secret": SECRETS["ACME_TIKTOK_APP_SECRET"],
            "access_token": SECRETS[f"{prefix}ACCESS_TOKEN"], "refresh_token": SECRETS[f"{prefix}REFRESH_TOKEN"],
            **({"shop_cipher": "ROW_uk_cipher", "shop_id": "7495540735365999001", "region": "GB"} if tag else {})}


def admin(url: str, method: str, path: str, **kwargs):
    response = httpx.request(method, f"{url}/_admin/{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def ghost_product(url: str, currency: str) -> None:
    """A TikTok listing whose SKU the store does not have: its orders are the invalid records."""
    admin(url, "POST", "seed", json={"products": [{
        "title": "Ghost listing the store never had", "category_id": "600050", "description": "<p>ghost</p>",
        "skus": [{"seller_sku": "GHOST-SKU-1", "price": {"amount": "12.00", "currency": currency},
                  "inventory": [{"warehouse_id": MAIN_WH, "quantity": 50}]}]}]})


def start_serve(path: Path, env: dict, port: int, outputs: Outputs) -> subprocess.Popen:
    out = outputs.new("serve").open("w")
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", "--log-format", "json", "serve", str(path),
                                "--port", str(port), "--no-schedule"], env=env, stdout=out, stderr=subprocess.STDOUT)
    out.close()

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {outputs.files[-1].read_text()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=60, every=0.1)
    return process


def secrets_found(outputs: Outputs, state_files: list[Path], letters: list[dict]) -> dict[str, int]:
    blobs = [outputs.text().encode()] + [p.read_bytes() for p in state_files if p.exists()]
    blobs.append(json.dumps(letters, default=str).encode())
    return {name: sum(blob.count(value.encode()) for blob in blobs) for name, value in SECRETS.items()
            if any(value.encode() in blob for blob in blobs)}


def test_orders_through_serve_under_every_fault_with_kills_and_a_region_down(tmp_path):
    rng = random.Random(SEED)
    uk_app = tiktok_shop.create_app(seed=SEED + 1, auto_deliver_webhooks=True, **tiktok_credentials("UK"))
    sandbox = start_sandbox(products=6, seed=SEED, max_variants=2, invalid_share=0.0,
                            tiktok_options={"auto_deliver_webhooks": True, **tiktok_credentials("US")},
                            shopify_options={"bucket_size": 400, "leak_per_second": 200.0,
                                             "access_token": SECRETS["ACME_SHOPIFY_TOKEN"],
                                             "webhook_secret": SECRETS["ACME_SHOPIFY_WEBHOOK_SECRET"]})
    uk = LoopbackServer(uk_app).start()
    outputs = Outputs(tmp_path)
    us_url, shop_url = sandbox.urls["tiktok_shop"], sandbox.urls["shopify"]
    path = project(tmp_path)
    env = {**os.environ, **environ(sandbox, uk)}
    server = None
    marks = {"start": time.monotonic()}
    try:
        # Set-up, before any fault: the catalog listed on TikTok US, the same SKUs on TikTok UK.
        state = admin(shop_url, "GET", "state")
        with httpx.Client(base_url=env["ACME_SHOPIFY_URL"], timeout=30,
                          headers={"X-Shopify-Access-Token": SECRETS["ACME_SHOPIFY_TOKEN"]}) as shop:
            for product in state["products"]:  # stock for every order of both regions
                for variant in product["variants"]:
                    shop.post("inventory_levels/set.json", json={
                        "location_id": state["locations"][0]["id"], "available": 300,
                        "inventory_item_id": variant["inventory_item_id"]}).raise_for_status()
        merchant = Merchant(path, environ=env)
        try:
            assert FlowRun(merchant, "catalog").run().status == "ok"
            admin(us_url, "POST", "audit/run", json={})
            listed = admin(us_url, "GET", "state")["products"]
            admin(uk.url, "POST", "seed", json={"products": [
                {"title": p["title"], "category_id": "600050", "description": "<p>uk</p>",
                 "skus": [{"seller_sku": s["seller_sku"], "price": {"amount": "20.00", "currency": "GBP"},
                           "inventory": [{"warehouse_id": MAIN_WH, "quantity": 100}]} for s in p["skus"]]}
                for p in listed]})
            for region, url in (("tiktok_us", us_url), ("tiktok_uk", uk.url)):
                ghost_product(url, "USD" if region == "tiktok_us" else "GBP")
                merchant.connection(region).call("put_webhook", body={
                    "event_type": "ORDER_STATUS_CHANGE", "address": f"http://example.invalid/webhooks/acme/{region}"})
        finally:
            merchant.close()
        port = free_port()
        for url in (us_url, uk.url):
            admin(url, "POST", "webhooks/point", json={"url": f"http://127.0.0.1:{port}"})
        # The faults: every request fault at TikTok US and Shopify, webhook faults at TikTok US; UK down.
        admin(us_url, "POST", "faults", json={**REQUEST_FAULTS, **WEBHOOK_FAULTS})
        admin(shop_url, "POST", "faults", json={**REQUEST_FAULTS, "seed": SEED + 2})
        admin(uk.url, "POST", "faults", json={"error_rate": 1.0})

        marks["set-up"] = time.monotonic()
        server = start_serve(path, env, port, outputs)
        valid: list[str] = []
        invalid: list[str] = []
        uk_orders: list[str] = []
        for wave in range(4):  # orders arrive in waves; after each of the first three the server is killed
            valid += admin(us_url, "POST", "orders/generate", json={
                "count": 6, "seed": SEED + wave, "statuses": {"AWAITING_SHIPMENT": 1},
                "skus": [s["seller_sku"] for p in listed for s in p["skus"]]})["orders"]
            if wave < 2:
                invalid.append(admin(us_url, "POST", "orders", json={
                    "line_items": [{"seller_sku": "GHOST-SKU-1"}], "status": "AWAITING_SHIPMENT"})["id"])
            uk_orders += admin(uk.url, "POST", "orders/generate", json={
                "count": 2, "seed": SEED + wave, "statuses": {"AWAITING_SHIPMENT": 1},
                "skus": [s["seller_sku"] for p in listed for s in p["skus"]]})["orders"]
            if wave < 3:
                time.sleep(rng.uniform(0.3, 2.5))  # a seeded random point in the stream
                server.send_signal(signal.SIGKILL)
                server.wait(timeout=10)
                server = start_serve(path, env, port, outputs)

        marks["kills"] = time.monotonic()
        # TikTok delivers (and retries) what it has; the server works its queue off.
        wait_until(lambda: not [e for e in admin(us_url, "GET", "webhooks/outbox")["events"]
                                if e["status"] == "pending"], timeout=60)
        store = open_store(str(path.parent / ".state" / "acme.db"))
        try:
            wait_until(lambda: (c := store.event_counts("tiktok_us"))["pending"] == c["processing"] == 0,
                       timeout=90)
            uk_waiting = store.event_counts("tiktok_uk")
        finally:
            store.close()
        server.send_signal(signal.SIGTERM)
        try:
            assert server.wait(timeout=30) == 0, outputs.files[-1].read_text()
        except subprocess.TimeoutExpired:
            outputs.hangs += 1
            server.kill()
        server = None
        marks["drained"] = time.monotonic()

        # The poll catches what no webhook brought (deliveries TikTok gave up on while the server was
        # dead), resuming from its cursor; the invalid orders stay dead letters (exit 3).
        code, text = outputs.run(["run", str(path), "orders", "--log-format", "json"], env, "run-orders")
        assert code == 3, text
        # The region that is down ends quickly, saying so, with a non-zero exit; its orders wait.
        started = time.monotonic()
        code, text = outputs.run(["run", str(path), "orders_uk"], env, "run-orders-uk-down")
        down_seconds = time.monotonic() - started
        assert code == 4 and "tiktok_uk" in text and "down" in text, text
        assert down_seconds < 30, down_seconds
        store = open_store(str(path.parent / ".state" / "acme.db"))
        try:  # a run that failed never moves its cursor: the next one reads the same window
            assert store.get_cursor("orders_uk", "tiktok_uk", "order_update_time") is None
            assert store.get_cursor("orders", "tiktok_us", "order_update_time")
        finally:
            store.close()

        marks["runs"] = time.monotonic()
        counts = admin(shop_url, "GET", "orders/counts")
        names = counts["by_name"]
        assert not [n for n in names if n.startswith("UK")], "a UK order synced while its region was down"
        # Every valid US order exactly once; no invalid one; the UK region's events kept for later.
        assert {n for n in names if n.startswith("TT")} == {f"TT{o}" for o in valid}
        assert set(names.values()) == {1} and not counts["duplicate_names"]
        # The UK shop comes back: its orders sync, once.
        admin(uk.url, "POST", "faults", json={"error_rate": 0.0})
        time.sleep(2.1)  # the breaker's cooldown: the next call is the probe that closes it
        # Shopify's faults are still on: a create whose answer was lost is a dead letter of this run
        # (exit 3), found again by its name by the next one, never created twice.
        for attempt in range(6):
            code, text = outputs.run(["run", str(path), "orders_uk"], env, f"run-orders-uk-back-{attempt}")
            assert code in (0, 3), text
            if code == 0:
                break
        assert code == 0, text
        counts = admin(shop_url, "GET", "orders/counts")
        names = counts["by_name"]
        assert {n for n in names if n.startswith("UK")} == {f"UK{o}" for o in uk_orders}
        assert set(names.values()) == {1} and not counts["duplicate_names"]

        store = open_store(str(path.parent / ".state" / "acme.db"))
        try:
            letters = store.list_dead_letters(merchant="acme")
            cursors = {flow: store.get_cursor(flow, conn, "order_update_time")
                       for flow, conn in (("orders", "tiktok_us"), ("orders_uk", "tiktok_uk"))}
        finally:
            store.close()
        order_letters = [letter for letter in letters if letter["flow"] in ("orders", "webhooks")]
        assert all(cursors.values()), cursors  # both runs that ended moved their cursors
        assert {letter["key"] for letter in order_letters} == set(invalid), order_letters
        assert all("GHOST-SKU-1" in json.dumps(letter["error"]) for letter in order_letters), order_letters

        injected = sum(admin(url, "GET", "faults")["injected_total"] for url in (us_url, shop_url, uk.url))
        state_files = list((path.parent / ".state").glob("acme.db*"))
        leaked = secrets_found(outputs, state_files, letters)
        tracebacks = outputs.text().count("Traceback (most recent call last)")
        all_orders = valid + invalid + uk_orders
        created = sum(1 for n in names if n.startswith(("TT", "UK")))
        lost = len({f"TT{o}" for o in valid} - set(names)) + len({f"UK{o}" for o in uk_orders} - set(names))
        record("orders via serve, 3 kills, UK down", faults_injected=injected, orders=len(all_orders), created=created,
               duplicates=sum(n - 1 for n in names.values() if n > 1), lost=lost, dead_letters=len(order_letters),
               secrets_found=sum(leaked.values()), tracebacks=tracebacks, hangs=outputs.hangs)
        phases = {k: round(v - marks["start"], 1) for k, v in marks.items()}
        print(f"\nfaults injected: {injected}; UK down run: {down_seconds:.1f} s; UK events kept: {uk_waiting}; "
              f"cursors: {cursors}; phases (s): {phases}")
        assert injected > 0 and not leaked and tracebacks == 0 and outputs.hangs == 0, (leaked, tracebacks)
        assert lost == 0
    finally:
        if server is not None and server.poll() is None:
            server.kill()
        uk.stop()
        sandbox.stop()


STORM_UNITS, STORM_ATTEMPTS, BUFFER = 12, 40, 2
QUIET = {"error_rate": 0, "drop_rate": 0, "timeout_rate": 0, "lost_answer_rate": 0, "spike_rate": 0, "burst_429": 0}


def offered(url: str) -> dict[str, int]:
    """Seller SKU -> units TikTok offers in the main warehouse."""
    return {sku["seller_sku"]: next((r["quantity"] for r in sku["inventory"] if r["warehouse_id"] == MAIN_WH), 0)
            for p in admin(url, "GET", "state")["products"] for sku in p["skus"]}


def test_an_inventory_storm_under_faults_oversells_nothing(tmp_path):
    """Two SKUs, 12 units each at the store; TikTok buyers and store buyers buy, the store restocks,
    while the stock and order flows take both platforms' webhooks (shuffled, some twice) with every
    request fault on at both simulators. Per SKU: the units TikTok sold that the store could not
    take (oversold) are 0, the store never goes below 0, every TikTok order is imported once."""
    from simulators.sale_race import Events, run_events, shuffled

    sandbox = start_sandbox(products=2, seed=7, max_variants=1, invalid_share=0.0,
                            shopify_options={"bucket_size": 4000, "leak_per_second": 2000.0,
                                             "access_token": SECRETS["ACME_SHOPIFY_TOKEN"]})
    uk = LoopbackServer(tiktok_shop.create_app(seed=SEED)).start()  # named by the project, never called here
    path = project(tmp_path, fast=False)
    text = path.read_text().replace("safety_buffer: 1 ", f"safety_buffer: {BUFFER} ")
    path.write_text(text)
    env = {**environ(sandbox, uk), "ACME_TIKTOK_APP_KEY": tiktok_shop.DEFAULT_CREDENTIALS["app_key"],
           "ACME_TIKTOK_APP_SECRET": tiktok_shop.DEFAULT_CREDENTIALS["app_secret"],
           "ACME_TIKTOK_ACCESS_TOKEN": tiktok_shop.DEFAULT_CREDENTIALS["access_token"],
           "ACME_TIKTOK_REFRESH_TOKEN": tiktok_shop.DEFAULT_CREDENTIALS["refresh_token"]}
    merchant = Merchant(path, environ=env)
    shop_url, us_url = sandbox.urls["shopify"], sandbox.urls["tiktok_shop"]
    shopify = httpx.Client(base_url=env["ACME_SHOPIFY_URL"], timeout=30,
                           headers={"X-Shopify-Access-Token": SECRETS["ACME_SHOPIFY_TOKEN"]})
    try:
        state = admin(shop_url, "GET", "state")
        variants = [v for p in state["products"] for v in p["variants"]]
        location = state["locations"][0]["id"]
        for variant in variants:
            for loc, units in zip([x["id"] for x in state["locations"]], (STORM_UNITS, 0), strict=True):
                shopify.post("inventory_levels/set.json", json={"location_id": loc, "available": units,
                                                                "inventory_item_id": variant["inventory_item_id"],
                                                                "disconnect_if_necessary": True}).raise_for_status()
        shopify.post("webhooks.json", json={"webhook": {"topic": "inventory_levels/update", "format": "json",
                                                        "address": "http://127.0.0.1:9/never-delivered"}})
        assert FlowRun(merchant, "catalog").run().status == "ok"
        admin(us_url, "POST", "audit/run", json={})
        assert FlowRun(merchant, "inventory").run().status == "ok"
        events = Events(sandbox)
        events.store(), events.channel()
        assert offered(us_url) == {v["sku"]: STORM_UNITS - BUFFER for v in variants}
        admin(us_url, "POST", "faults", json=REQUEST_FAULTS)
        admin(shop_url, "POST", "faults", json={**REQUEST_FAULTS, "seed": SEED + 3})

        rng = random.Random(SEED)
        had = {v["sku"]: STORM_UNITS for v in variants}  # units the store had for sale, restocks included
        tiktok_orders: dict[str, str] = {}  # order id -> SKU
        direct = dict.fromkeys(had, 0)
        refusals: list[str] = []

        def settle() -> None:
            channel, store_events = events.channel(), events.store()
            if channel:
                run_events(merchant, "inventory_holds", shuffled(channel, rng))
                run_events(merchant, "orders", shuffled(channel, rng))
            if store_events:
                run_events(merchant, "inventory", shuffled(store_events, rng))

        for attempt in range(STORM_ATTEMPTS):
            variant = rng.choice(variants)
            sku, roll = variant["sku"], rng.random()
            if roll < 0.55:  # a TikTok buyer: TikTok refuses what it does not offer
                response = httpx.post(f"{us_url}/_admin/orders", timeout=30, json={
                    "line_items": [{"seller_sku": sku}], "status": "AWAITING_SHIPMENT"})
                if response.status_code == 200:
                    tiktok_orders[response.json()["id"]] = sku
                else:
                    refusals.append(response.text[:200])
            elif roll < 0.9:  # a store buyer, straight at the store (never faulted: the admin side of it)
                admin(shop_url, "POST", "faults", json=QUIET)
                response = shopify.post("orders.json", json={"order": {
                    "line_items": [{"variant_id": variant["id"], "quantity": 1}], "financial_status": "paid",
                    "inventory_behaviour": "decrement_obeying_policy"}})
                admin(shop_url, "POST", "faults", json={**REQUEST_FAULTS, "burst_429": 0, "seed": SEED + attempt})
                direct[sku] += response.status_code == 201
            else:  # a restock of 3
                admin(shop_url, "POST", "faults", json=QUIET)
                shopify.post("inventory_levels/adjust.json", json={
                    "location_id": location, "inventory_item_id": variant["inventory_item_id"],
                    "available_adjustment": 3}).raise_for_status()
                admin(shop_url, "POST", "faults", json={**REQUEST_FAULTS, "burst_429": 0, "seed": SEED + attempt})
                had[sku] += 3
            if attempt % 4 == 3:
                settle()
        settle()
        admin(us_url, "POST", "faults", json=QUIET)
        admin(shop_url, "POST", "faults", json=QUIET)
        for flow in ("orders", "inventory_holds", "inventory"):  # the polls catch what the events missed
            FlowRun(merchant, flow).run()

        counts = admin(shop_url, "GET", "orders/counts")
        names = counts["by_name"]
        final = admin(shop_url, "GET", "state")
        imported = {o: sku for o, sku in tiktok_orders.items() if f"TT{o}" in names}
        letters = merchant.store.list_dead_letters(merchant="acme")
        refused = {letter["key"] for letter in letters if letter["flow"] == "orders"}  # the store could not take them
        oversold = {sku: sum(1 for o, s in tiktok_orders.items() if s == sku and o in refused) for sku in had}
        lost = [o for o in tiktok_orders if o not in imported and o not in refused]
        levels = {v["sku"]: sum(lvl["available"] for lvl in final["inventory_levels"]
                                if lvl["inventory_item_id"] == v["inventory_item_id"]) for v in variants}
        sold = {sku: direct[sku] + sum(1 for s in imported.values() if s == sku) for sku in had}
        injected = sum(admin(url, "GET", "faults")["injected_total"] for url in (us_url, shop_url))
        leaked = secrets_found(Outputs(tmp_path), list((path.parent / ".state").glob("acme.db*")), letters)
        record("inventory storm", faults_injected=injected, orders=len(tiktok_orders), created=len(imported),
               duplicates=sum(n - 1 for n in names.values() if n > 1), lost=len(lost), oversold=sum(oversold.values()),
               dead_letters=len(letters), secrets_found=sum(leaked.values()))
        print(f"\nstorm: had {had}, TikTok sold {len(tiktok_orders)}, store sold {direct}, left {levels}, "
              f"faults injected {injected}; TikTok refused {len(refusals)} (not offered)")
        assert injected > 0 and tiktok_orders
        assert sum(oversold.values()) == 0, oversold  # every TikTok sale was the store's to make
        assert all(sold[sku] <= had[sku] and levels[sku] == had[sku] - sold[sku] >= 0 for sku in had), (sold, had)
        assert set(names.values()) <= {1} and not counts["duplicate_names"]
        assert not letters and not lost and not leaked, (letters, lost, leaked)
    finally:
        shopify.close()
        merchant.close()
        uk.stop()
        sandbox.stop()
