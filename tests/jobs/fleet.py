"""A fleet for the multi-worker tests and benchmark P7: several merchants, each with its own
simulator shops (TikTok Shop and Shopify), their state and the job queue in one PostgreSQL
database, one `connector serve` receiving every merchant's webhooks and `connector worker`
processes taking the work."""

from __future__ import annotations

import concurrent.futures
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from engine.cli.reconcile import drift_rows
from engine.flow.runner import FlowRun, Merchant
from engine.serve import ServeOptions, Server
from simulators.common import LoopbackServer
from simulators.sandbox import start_sandbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "acme"
PAID_STATUSES = {"AWAITING_SHIPMENT": 6, "UNPAID": 1, "ON_HOLD": 1}


class Shop:
    """One merchant: its simulators, its project folder, its environment."""

    def __init__(self, index: int, folder: Path, state_url: str, shopify_options: dict) -> None:
        self.name = f"m{index}"
        prefix = f"M{index}"
        self.sandbox = start_sandbox(products=4, seed=7, max_variants=2, invalid_share=0.0,
                                     tiktok_options={"auto_deliver_webhooks": True},
                                     shopify_options={**shopify_options, "auto_deliver_webhooks": True})
        shutil.copytree(EXAMPLE, folder / self.name)
        self.path = folder / self.name / "merchant.yaml"
        text = self.path.read_text(encoding="utf-8").replace("ACME_", f"{prefix}_").replace("name: acme\n",
                                                                                           f"name: {self.name}\n", 1)
        self.path.write_text(text, encoding="utf-8")
        self.environ = {**self.sandbox.environ(prefix), "CONNECTOR_STATE_URL": state_url}
        self.orders: list[str] = []
        env = self.sandbox.environ(prefix)
        self.shopify = httpx.Client(base_url=env[f"{prefix}_SHOPIFY_URL"], timeout=30,
                                    headers={"X-Shopify-Access-Token": env[f"{prefix}_SHOPIFY_TOKEN"]})

    def list_catalog(self, merchant: Merchant) -> None:
        assert FlowRun(merchant, "catalog").run().status == "ok"
        self.sandbox.admin("tiktok_shop", "POST", "audit/run", json={})
        assert FlowRun(merchant, "inventory").run().status == "ok"

    def subscribe(self, base_url: str, merchant: Merchant) -> None:
        merchant.connection("tiktok_us").call("put_webhook", body={
            "event_type": "ORDER_STATUS_CHANGE", "address": f"{base_url}/webhooks/{self.name}/tiktok_us"})
        self.shopify.post("webhooks.json", json={"webhook": {
            "topic": "inventory_levels/update", "format": "json",
            "address": f"{base_url}/webhooks/{self.name}/shopify"}}).raise_for_status()

    def order_burst(self, count: int, seed: int) -> None:
        self.orders += self.sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
            "count": count, "seed": seed, "statuses": PAID_STATUSES, "fbt_share": 0.2})["orders"]

    def inventory_storm(self, changes: int, seed: int) -> None:
        """Stock levels of the store's variants set again and again, in no order (never so low that the
        store refuses an order of the burst: a refused order is a dead letter, not what is counted)."""
        rng = random.Random(seed)
        state = self.sandbox.admin("shopify", "GET", "state")
        variants = [v for p in state["products"] for v in p["variants"]]
        location = state["locations"][0]["id"]
        for _ in range(changes):
            variant = rng.choice(variants)
            self.shopify.post("inventory_levels/set.json", json={
                "location_id": location, "available": rng.randint(80, 150),
                "inventory_item_id": variant["inventory_item_id"]}).raise_for_status()

    # ---- what the checks read ------------------------------------------------------------------

    def expected_orders(self) -> set[str]:
        tiktok = {o["id"]: o for o in self.sandbox.admin("tiktok_shop", "GET", "state")["orders"]}
        return {oid for oid in self.orders if tiktok[oid]["status"] not in ("UNPAID", "ON_HOLD", "CANCELLED")}

    def store_orders(self) -> dict[str, int]:
        return self.sandbox.admin("shopify", "GET", "orders/counts")["by_name"]

    def undelivered(self) -> int:
        """Webhooks the simulators still have to send (or to send again)."""
        tiktok = sum(1 for e in self.sandbox.admin("tiktok_shop", "GET", "webhooks/outbox")["events"]
                     if e["status"] == "pending")
        shopify = sum(1 for d in self.sandbox.admin("shopify", "GET", "state")["webhook_deliveries"]
                      if d["status"] == "pending")
        return tiktok + shopify

    def throttled(self) -> int:
        shopify = int(self.sandbox.admin("shopify", "GET", "stats").get("throttled", 0))
        tiktok = sum(1 for r in self.sandbox.admin("tiktok_shop", "GET", "requests")["requests"]
                     if r.get("status") == 429)
        return shopify + tiktok

    def negative_stock(self) -> int:
        return sum(1 for level in self.sandbox.admin("shopify", "GET", "state")["inventory_levels"]
                   if (level.get("available") or 0) < 0)

    @staticmethod
    def drift(merchant: Merchant) -> list[dict]:
        """SKUs whose TikTok stock is not what may be sold (more would be oversold)."""
        return drift_rows(FlowRun(merchant, "inventory", dry_run=True, mode="reconcile").run())

    def close(self) -> None:
        self.shopify.close()
        self.sandbox.stop()


class Fleet:
    def __init__(self, folder: Path, state_url: str, merchants: int, *,
                 shopify_options: dict | None = None) -> None:
        self.state_url = state_url
        self.folder = folder
        self.shops: list[Shop] = []
        self.workers: list[subprocess.Popen] = []
        self.server: Server | None = None
        self.http: LoopbackServer | None = None
        options = shopify_options or {"bucket_size": 400, "leak_per_second": 20.0}
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
                self.shops = list(pool.map(lambda i: Shop(i, folder, state_url, options), range(merchants)))
            self.environ = {k: v for shop in self.shops for k, v in shop.environ.items()}
            # Each merchant is loaded once in this process (a project's load and plan take seconds):
            # the server's copy lists the catalog and checks the drift too.
            self.server = Server([shop.path for shop in self.shops], ServeOptions(schedule=False),
                                 environ=self.environ).start()
            assert self.server.jobs.distributed
            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda shop: shop.list_catalog(self.merchant(shop)), self.shops))
            self.http = LoopbackServer(self.server.app).start()
            for shop in self.shops:
                shop.subscribe(self.http.url, self.server.services[shop.name].merchant)
        except BaseException:
            self.close()
            raise

    def start_worker(self, concurrency: int = 2) -> subprocess.Popen:
        # Its log goes to a file: a pipe nobody reads fills up, and the worker blocks on its next line.
        log = self.folder / f"worker-{len(self.workers)}.log"
        with log.open("w", encoding="utf-8") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "worker", *[str(s.path) for s in self.shops],
                 "--concurrency", str(concurrency)],
                env={**os.environ, **self.environ}, stdout=subprocess.DEVNULL, stderr=out, text=True)
        worker.log = log
        self.workers.append(worker)
        return worker

    def merchant(self, shop: Shop) -> Merchant:
        return self.server.services[shop.name].merchant

    def wait_workers(self, count: int, timeout: float = 120.0) -> None:
        """Until `count` workers have loaded their merchants and registered with the queue."""
        import psycopg

        from engine.jobs.distributed import conninfo_of

        deadline = time.monotonic() + timeout
        with psycopg.connect(conninfo_of(self.state_url), autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0] < count:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{count} workers did not start within {timeout} s")
                for worker in self.workers:
                    if worker.poll() is not None:
                        raise AssertionError(f"a worker stopped: {worker.log.read_text()[-2000:]}")
                time.sleep(0.1)

    def event_counts(self) -> dict[str, int]:
        total = {"pending": 0, "processing": 0, "done": 0, "failed": 0}
        for service in self.server.services.values():
            for key, n in service.merchant.store.event_counts().items():
                total[key] += n
        return total

    def queued_jobs(self) -> int:
        """Per-SKU stock jobs and reconciliations not done yet (waiting, running or to be tried again)."""
        import psycopg

        from engine.jobs.distributed import TASK_RECONCILE, TASK_STOCK, conninfo_of

        with psycopg.connect(conninfo_of(self.state_url)) as conn:
            return conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                                "AND task_name IN (%s, %s)", (TASK_STOCK, TASK_RECONCILE)).fetchone()[0]

    def settled(self) -> bool:
        c = self.event_counts()
        return (c["pending"] == 0 and c["processing"] == 0 and self.queued_jobs() == 0
                and not any(shop.undelivered() for shop in self.shops))

    def wait_settled(self, timeout: float = 300.0) -> float:
        """Seconds until every stored event is processed (and the simulators have nothing left to send)."""
        start = time.monotonic()
        deadline = start + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if self.settled():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= 1.5:  # deliveries still in flight land meanwhile
                    return quiet_since - start
            else:
                quiet_since = None
            time.sleep(0.1)
        raise AssertionError(f"events not processed within {timeout} s: {self.event_counts()}")

    def kill(self, worker: subprocess.Popen) -> None:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)

    def wait_processing(self, timeout: float = 60.0) -> bool:
        """Until some worker is processing events (False if none is within `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.event_counts()["processing"]:
                return True
            time.sleep(0.01)
        return False

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.workers = []

    def close(self) -> None:
        self.stop_workers()
        if self.http is not None:
            self.http.stop()
        if self.server is not None:
            self.server.stop()
        for shop in self.shops:
            shop.close()
