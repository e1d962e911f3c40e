"""A livestream's race for the last units, against the sandbox: a few units of one SKU, buyers on
Shopify and TikTok at once, while the connector's flows take the webhooks both platforms send
(shuffled, some twice, every store event taken by two bindings of the inventory flow writing the
same SKU, as two servers would run it).

`tests/flows/test_stock_concurrency.py` holds its outcome to what the connector guarantees at any
pace; `bench/p10_sale_race.py` measures what no copy of stock can guarantee: how many units the
two platforms sell beyond the stock, at a given pace and buffer, beside a run whose stock is only
written by the scheduled runs (no stock events during the race).
"""

from __future__ import annotations

import concurrent.futures
import json
import random
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from engine.flow.runner import FlowRun, Merchant
from engine.state.store import FlowBusyError
from simulators.sandbox import start_sandbox

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "acme"
MAIN_WH = "7068517275539719942"


@dataclass(frozen=True)
class Race:
    units: int = 50
    attempts: int = 200
    spread_seconds: float = 3.0  # the buyers arrive over this long: attempts / spread = the pace
    buffer: int = 2
    stock_events: bool = True  # False: the store's stock events wait until the race is over
    seed: int = 7
    merchant: str = "acme"  # races sharing one state database (PostgreSQL) need names of their own

    @property
    def pace(self) -> float:
        return self.attempts / self.spread_seconds


@dataclass
class Outcome:
    """What both platforms hold once the race is over and the scheduled runs have caught up."""

    sku: str
    sold: dict[str, int]  # attempts that succeeded, per platform
    tiktok_orders: list[str]
    imported: set[str]  # TikTok order ids the store holds
    direct_orders: int  # the store's own orders
    units_out: int  # units on the store's orders, its own and TikTok's
    levels: list[int]  # the store's stock per location
    duplicate_names: list = field(default_factory=list)
    dead_letters: set[str] = field(default_factory=set)  # keys in the order flow's dead letters
    reserved: dict[str, int] = field(default_factory=dict)  # units still held for TikTok orders
    lock_holders: dict = field(default_factory=dict)
    offered: int = 0  # what TikTok offers at the end
    flows_ok: bool = True
    drift: bool = False  # the closing reconciliation found something to repair
    failures: list[BaseException] = field(default_factory=list)  # the harness's own workers

    @property
    def refused(self) -> list[str]:
        """TikTok orders the store could not take: sold in the same instant as its last units."""
        return sorted(set(self.tiktok_orders) - self.imported)

    def oversold(self, units: int) -> int:
        return max(0, self.sold["shopify"] + self.sold["tiktok"] - units)


class Events:
    """The webhooks both simulators sent since the last look, read from the simulators in this
    process (their queues only grow), so the harness adds no latency of its own."""

    def __init__(self, sandbox) -> None:
        self.deliveries = sandbox.servers["shopify"].server.config.app.state.sim.db.deliveries
        self.outbox = sandbox.servers["tiktok_shop"].server.config.app.state.sim.events
        self.at = {"store": 0, "channel": 0}
        self.lock = threading.Lock()

    def store(self) -> list[dict]:
        with self.lock:
            new = self.deliveries[self.at["store"]:]
            self.at["store"] += len(new)
        return [json.loads(d["body"]) for d in new if d["topic"] == "inventory_levels/update"]

    def channel(self) -> list[dict]:
        with self.lock:
            new = self.outbox[self.at["channel"]:]
            self.at["channel"] += len(new)
        return [json.loads(e["body"]) for e in new if e["event_type"] == "ORDER_STATUS_CHANGE"]


def run_events(merchant: Merchant, flow: str, payloads: list[dict]) -> None:
    """One worker's turn: the flow on these events, again while another run of it holds the flow."""
    while True:
        run = FlowRun(merchant, flow)
        try:
            run.run(records=run.steps[0].event_records(run.ctx, payloads))
            return
        except FlowBusyError:
            time.sleep(0.005)


def shuffled(payloads: list[dict], rng: random.Random) -> list[dict]:
    out = payloads + [p for p in payloads if rng.random() < 0.3]  # some delivered twice
    rng.shuffle(out)  # and out of order
    return out


def _merchant_dir(workdir: Path, race: Race) -> Path:
    """The example merchant under the race's name, with its buffer and a second binding of the
    inventory flow."""
    target = workdir / race.merchant
    shutil.copytree(EXAMPLE, target)
    path = target / "merchant.yaml"
    text = path.read_text(encoding="utf-8").replace("safety_buffer: 1 ", f"safety_buffer: {race.buffer} ")
    text = text.replace("\nname: acme\n", f"\nname: {race.merchant}\n", 1)
    start, end = text.index("  inventory:\n"), text.index("  # TikTok orders not imported yet")
    text = text[:end] + text[start:end].replace("  inventory:\n", "  inventory_b:\n") + text[end:]
    path.write_text(text, encoding="utf-8")
    return path


def run_race(race: Race, workdir: Path) -> Outcome:
    """The race, then the closing runs (what is still undelivered, the scheduled polls, a
    reconciliation), and what both platforms hold after them."""
    sandbox = start_sandbox(products=2, seed=race.seed, max_variants=1, invalid_share=0.0,
                            shopify_options={"bucket_size": 4000, "leak_per_second": 2000.0})
    env = sandbox.environ()
    merchant = Merchant(_merchant_dir(workdir, race), environ=env)
    shopify = httpx.Client(base_url=env["ACME_SHOPIFY_URL"], timeout=30,
                           headers={"X-Shopify-Access-Token": env["ACME_SHOPIFY_TOKEN"]})
    try:
        return _race(race, sandbox, merchant, shopify)
    finally:
        shopify.close()
        merchant.close()
        sandbox.stop()


def _race(race: Race, sandbox, merchant: Merchant, shopify: httpx.Client) -> Outcome:
    if FlowRun(merchant, "catalog").run().status != "ok":
        raise RuntimeError("the catalog flow did not list the race's products")
    sandbox.admin("tiktok_shop", "POST", "audit/run", json={})
    state = sandbox.admin("shopify", "GET", "state")
    variant = state["products"][0]["variants"][0]
    sku, locations = variant["sku"], [loc["id"] for loc in state["locations"]]
    for location, units in zip(locations, (race.units, 0), strict=True):
        shopify.post("inventory_levels/set.json", json={"location_id": location, "available": units,
                                                        "inventory_item_id": variant["inventory_item_id"],
                                                        "disconnect_if_necessary": True}).raise_for_status()
    shopify.post("webhooks.json", json={"webhook": {"topic": "inventory_levels/update", "format": "json",
                                                    "address": "http://127.0.0.1:9/never-delivered"}})
    if FlowRun(merchant, "inventory").run().status != "ok":
        raise RuntimeError("the inventory flow did not write the race's stock")

    def offered() -> int:
        products = sandbox.admin("tiktok_shop", "GET", "state")["products"]
        products = products.values() if isinstance(products, dict) else products
        return next(r["quantity"] for p in products for s in p["skus"] if s["seller_sku"] == sku
                    for r in s["inventory"] if r["warehouse_id"] == MAIN_WH)

    if offered() != race.units - race.buffer:
        raise RuntimeError(f"TikTok offers {offered()} before the race, not {race.units - race.buffer}")
    events = Events(sandbox)
    events.store(), events.channel()  # what the set-up sent

    sold = {"shopify": 0, "tiktok": 0}
    tiktok_orders: list[str] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def buy(attempt: int) -> None:
        rng = random.Random(attempt)
        time.sleep(rng.random() * race.spread_seconds)  # a livestream's buyers, not one instant
        where = "shopify" if rng.random() < 0.5 else "tiktok"
        if where == "shopify":
            response = shopify.post("orders.json", json={"order": {
                "line_items": [{"variant_id": variant["id"], "quantity": 1}], "financial_status": "paid",
                "inventory_behaviour": "decrement_obeying_policy"}})
            ok = response.status_code == 201
        else:
            response = httpx.post(f"{sandbox.urls['tiktok_shop']}/_admin/orders", timeout=30, json={
                "line_items": [{"seller_sku": sku}], "status": "AWAITING_SHIPMENT"})
            ok = response.status_code == 200
        if not ok and response.status_code not in (400, 422):
            failures.append(AssertionError(f"{where} answered {response.status_code}: {response.text[:200]}"))
        if ok:
            with lock:
                sold[where] += 1
                if where == "tiktok":
                    tiktok_orders.append(response.json()["id"])

    buying = threading.Event()
    buying.set()

    def worker(name: str, rng: random.Random) -> None:
        try:
            while buying.is_set():
                if name == "channel":
                    payloads = events.channel()
                    if payloads:
                        run_events(merchant, "inventory_holds", shuffled(payloads, rng))
                        run_events(merchant, "orders", shuffled(payloads, rng))
                elif race.stock_events:
                    # Both bindings take every store event, each in its own order, at once.
                    payloads = events.store()
                    if payloads:
                        twins = [threading.Thread(target=run_events, args=(merchant, flow, shuffled(payloads, rng)))
                                 for flow in ("inventory", "inventory_b")]
                        for twin in twins:
                            twin.start()
                        for twin in twins:
                            twin.join()
                time.sleep(rng.random() * 0.02)
        except BaseException as exc:  # noqa: BLE001  (reported in the outcome)
            failures.append(exc)

    workers = [threading.Thread(target=worker, args=(name, random.Random(i)))
               for i, name in enumerate(("store", "channel"))]
    for thread in workers:
        thread.start()
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(buy, range(race.attempts)))
    time.sleep(0.5)
    buying.clear()
    for thread in workers:
        thread.join(timeout=300)

    # Whatever is still undelivered, then the polls that catch what the webhooks missed.
    run_events(merchant, "inventory_holds", events.channel())
    run_events(merchant, "orders", [])
    flows_ok = all(FlowRun(merchant, flow).run().status == "ok" for flow in ("orders", "inventory_holds", "inventory"))
    reconciled = FlowRun(merchant, "inventory", mode="reconcile").run()

    state = sandbox.admin("shopify", "GET", "state")
    orders = list(state["orders"].values() if isinstance(state["orders"], dict) else state["orders"])
    return Outcome(
        sku=sku, sold=sold, tiktok_orders=tiktok_orders,
        imported={o["name"][2:] for o in orders if o["name"].startswith("TT")},
        direct_orders=sum(1 for o in orders if not o["name"].startswith("TT")),
        units_out=sum(li["quantity"] for o in orders for li in o["line_items"] if li["sku"] == sku),
        levels=[lvl["available"] for lvl in state["inventory_levels"]
                if lvl["inventory_item_id"] == variant["inventory_item_id"]],
        duplicate_names=state["order_counts"]["duplicate_names"],
        dead_letters={letter["key"] for letter in merchant.store.list_dead_letters(merchant=race.merchant, flow="orders")},
        reserved=merchant.store.reserved_stock(),
        lock_holders=merchant.store.stock_lock_holders("shopify", [sku]),
        offered=offered(),
        flows_ok=flows_ok and reconciled.status == "ok",
        drift=any((r.get("detail") or {}).get("drift") for r in reconciled.results),
        failures=failures,
    )
