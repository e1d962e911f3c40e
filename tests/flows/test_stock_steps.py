"""The stock steps (identify, hold, stock) and the arithmetic of what may be sold, against fake
connections that record every call and a real state store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import engine.flow.steps  # noqa: F401  (registers the step kinds)
from engine.errors import RecordError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps import stock as stock_module
from engine.flow.steps.stock import buffer_units, held_units, salable, split_levels, warehouse_feeds
from engine.http import ItemError
from engine.http.client import ItemResult
from engine.lang.mapping import compile_mapping
from engine.project.yamlpos import loads
from engine.state import open_store

ROOT = Path(__file__).resolve().parents[2]


def shipped(name: str):
    platform, _, rest = name.partition(".")
    path = ROOT / "mappings" / platform / f"{rest}.yaml"
    return compile_mapping(loads(path.read_text(), str(path)))


PLANS = {name: shipped(name) for name in ("shopify.inventory_level_to_canonical",
                                          "tiktok_shop.inventory_from_canonical",
                                          "tiktok_shop.inventory_to_canonical")}
W1, W2, RETURNS = "7068517275539719942", "7068517275539719943", "7068517275539719944"


# -- the arithmetic -------------------------------------------------------------------------------
def test_several_locations_add_up_into_one_warehouse():
    feeds = warehouse_feeds([{"warehouse_id": W1, "locations": ["A", 77]}])
    assert split_levels({"A": 5, "77": 7, "C": 100}, feeds) == {W1: 12}  # C feeds nothing


def test_one_location_feeds_several_warehouses_by_share_and_no_unit_is_offered_twice():
    feeds = warehouse_feeds([{"warehouse_id": W1, "locations": [{"id": "A", "share": 70}]},
                             {"warehouse_id": W2, "locations": [{"id": "A", "share": 30}, "B"]}])
    assert split_levels({"A": 10, "B": 1}, feeds) == {W1: 7, W2: 4}
    assert split_levels({"A": 11}, feeds) == {W1: 8, W2: 3}  # the rounding's leftover goes to the first
    kept_back = warehouse_feeds([{"warehouse_id": W1, "locations": [{"id": "A", "share": 80}]}])
    assert split_levels({"A": 10}, kept_back) == {W1: 8}  # 20% stays off the channel


def test_an_oversold_location_counts_once_against_the_first_warehouse_it_feeds():
    feeds = warehouse_feeds([{"warehouse_id": W1, "locations": [{"id": "A", "share": 50}, "B"]},
                             {"warehouse_id": W2, "locations": [{"id": "A", "share": 50}]}])
    assert split_levels({"A": -4, "B": 10}, feeds) == {W1: 6, W2: 0}


def test_buffers_are_units_or_a_percentage_rounded_up():
    assert buffer_units(2, 50) == 2
    assert buffer_units("10%", 25) == 3
    assert buffer_units("10%", -5) == 0
    assert buffer_units(None, 50) == 0 and buffer_units(0, 50) == 0


def test_salable_is_never_below_zero_and_the_first_warehouse_is_served_first():
    assert salable({W1: 5, W2: 5}, held=2, buffer=1) == (7, {W1: 5, W2: 2})
    assert salable({W1: 2, W2: 1}, held=3, buffer=1) == (0, {W1: 0, W2: 0})
    assert salable({W1: -3, W2: 5}, held=0, buffer=0) == (2, {W1: 0, W2: 2})


def test_an_order_held_twice_counts_once_and_not_at_all_once_the_store_has_it(tmp_path):
    store = open_store(str(tmp_path / "s.db"))
    store.reserve_stock("tiktok_us", "O1", {"A": 2})  # the order flow's hold (on hold)
    store.reserve_stock("tiktok_us", "transit:O1", {"A": 2, "B": 1})  # the hold step's
    store.reserve_stock("tiktok_us", "transit:O2", {"A": 1})
    store.reserve_stock("tiktok_us", "transit:O3", {"A": 5})
    store.map_id("order", "shopify", "O3", "900")  # imported: its units left Shopify's available
    assert held_units(store, "shopify", {"A", "B"}) == {"A": 3, "B": 1}
    assert held_units(store, "shopify", {"B"}) == {"B": 1}


# -- fakes ----------------------------------------------------------------------------------------
@dataclass
class Answer:
    record: Any = None
    records: list = field(default_factory=list)
    item_errors: list = field(default_factory=list)


class Store:
    """Shopify-like levels: (item, location) -> available."""

    def __init__(self, levels: dict[tuple[str, str], int | None]) -> None:
        self.levels = levels
        self.calls: list = []

    def call(self, op: str, *, query: Any = None, body: Any = None, **_: Any) -> Answer:
        self.calls.append((op, query))
        items = set(str(query["inventory_item_ids"]).split(","))
        return Answer(records=[{"inventory_item_id": int(i), "location_id": int(loc), "available": n,
                                "updated_at": "2025-01-02T11:29:59-05:00"}
                               for (i, loc), n in self.levels.items() if i in items])

    def paginate(self, op: str, query: Any = None, body: Any = None):
        self.calls.append((op, query))
        yield SimpleNamespace(records=[{"id": 1, "variants": [{"sku": "A", "id": 11, "inventory_item_id": 101},
                                                               {"sku": "B", "id": 12, "inventory_item_id": 102}]}])


class Channel:
    """TikTok-like inventory: writes with per-SKU errors, a status per listing."""

    def __init__(self) -> None:
        self.calls: list = []
        self.stock: dict[str, dict[str, int]] = {}
        self.fail: dict[str, str] = {}  # sku id -> error message
        self.status = "ACTIVATE"
        self.warehouses = [{"id": W1, "type": "SALES_WAREHOUSE", "effect_status": "ENABLED"},
                           {"id": W2, "type": "SALES_WAREHOUSE", "effect_status": "ENABLED"},
                           {"id": RETURNS, "type": "RETURN_WAREHOUSE", "effect_status": "ENABLED"}]

    def operation(self, op: str) -> Any:
        return SimpleNamespace(batch=SimpleNamespace(size=20) if op.endswith("_products") else None)

    def call(self, op: str, *, path_params: Any = None, query: Any = None, body: Any = None, **_: Any) -> Answer:
        self.calls.append((op, path_params, body))
        if op == "get_warehouses":
            return Answer(records=self.warehouses)
        if op == "search_inventory":
            return Answer(records=[{"product_id": pid, "skus": [
                {"id": sku_id, "seller_sku": sku_id.replace("id-", ""), "total_available_quantity": sum(rows.values()),
                 "warehouse_inventory": [{"warehouse_id": w, "available_quantity": q} for w, q in rows.items()]}
                for sku_id, rows in self.stock.items()]} for pid in body["product_ids"]])
        assert op == "update_inventory"
        errors = []
        for row in body["skus"]:
            if row["id"] in self.fail:
                errors.append(ItemError(row["id"], "12019001", self.fail[row["id"]]))
                continue
            self.stock[row["id"]] = {r["warehouse_id"]: r["quantity"] for r in row["inventory"]}
        return Answer(item_errors=errors)

    def call_batched(self, op: str, items: list) -> list:
        self.calls.append((op, None, items))
        wanted = "SELLER_DEACTIVATED" if op == "deactivate_products" else "ACTIVATE"
        allowed = ("ACTIVATE",) if op == "deactivate_products" else ("SELLER_DEACTIVATED",)
        if self.status not in allowed:
            return [ItemResult(items[0], False, [ItemError(items[0], "12019100", f"{self.status} refused")])]
        self.status = wanted
        return [ItemResult(items[0], True)]


OPTIONS = {"warehouses": [{"warehouse_id": W1, "locations": ["1", "2"]}], "safety_buffer": 1, "sku_buffers": {},
           "deactivate_when_sold_out": False}
STEP = {"from": "store", "to": "channel", "entity": "inventory",
        "read": {"operation": "list_inventory_levels", "param": "inventory_item_ids", "in": "query", "size": 50,
                 "mapping": "shopify.inventory_level_to_canonical", "by": "inventory_item_id"},
        "write": {"operation": "update_inventory", "path_params": {"product_id": "remote_id"},
                  "mapping": "tiktok_shop.inventory_from_canonical"},
        "current": {"operation": "search_inventory", "param": "product_ids", "in": "body", "size": 20,
                    "mapping": "tiktok_shop.inventory_to_canonical"},
        "activate": {"operation": "activate_products"}, "deactivate": {"operation": "deactivate_products"},
        "warehouses_read": {"operation": "get_warehouses",
                            "sellable": "type == 'SALES_WAREHOUSE' && effect_status == 'ENABLED'"}}


def make_run(tmp_path, store_conn: Store, channel: Channel, mode: str = "run", dry_run: bool = False,
             **options: Any) -> RunContext:
    run = RunContext(merchant="m", flow="inventory", flow_name="inventory_to_tiktok", options={**OPTIONS, **options},
                     connections={"store": store_conn, "channel": channel},
                     connection_names={"store": "shopify", "channel": "tiktok_us"},
                     connection_meta={"store": {}, "channel": {"region": "US", "currency": "USD"}},
                     store=open_store(str(tmp_path / "state.db")), plans=dict(PLANS), mode=mode, dry_run=dry_run)
    # The listing P1 with SKUs A and B, as the catalog flow left it in the ID map.
    for sku in ("A", "B"):
        run.store.map_id("sku", "tiktok_us", sku, f"id-{sku}", {"parent": "P1"})
        run.store.map_id("sku", "shopify", sku, f"1{ord(sku) - 64:d}", {"inventory_item_id": f"10{ord(sku) - 64}"})
    return run


def levels_of(store_conn: Store, run: RunContext) -> list[Record]:
    """Canonical levels as the flow's map step hands them to stock, from what the store holds now."""
    plan, out = PLANS["shopify.inventory_level_to_canonical"], []
    for (item, location), available in store_conn.levels.items():
        native = {"inventory_item_id": int(item), "location_id": int(location), "available": available}
        sku = {"101": "A", "102": "B"}[item]
        out.append(Record(key=f"{item}:{location}", native=native, data=plan.apply(native, {"sku": sku}).output))
    return out


def sync(step: Any, store_conn: Store, run: RunContext, records: list[Record] | None = None) -> list[Record]:
    """One run of the stock step: gather, then each listing (as the runner drives it)."""
    for record in records if records is not None else levels_of(store_conn, run):
        assert step.process(record, run).action == "gathered"
    return [step.process(group, run) for group in step.drain(run)]


def new_step(run: RunContext, **options: Any) -> Any:
    return STEPS.get("stock").impl({**STEP, **options}, run)


# -- stock ----------------------------------------------------------------------------------------
def test_a_listing_is_written_in_one_call_with_what_may_be_sold_and_only_what_changed(tmp_path):
    store_conn, channel = Store({("101", "1"): 5, ("101", "2"): 3, ("102", "1"): 0}), Channel()
    run = make_run(tmp_path, store_conn, channel)
    [result] = sync(new_step(run), store_conn, run)
    assert result.key == "P1" and result.action == "inventory_update"
    writes = [c for c in channel.calls if c[0] == "update_inventory"]
    assert writes == [("update_inventory", {"product_id": "P1"}, {"skus": [
        {"id": "id-A", "inventory": [{"warehouse_id": W1, "quantity": 7}]},  # 5 + 3 - buffer 1
        {"id": "id-B", "inventory": [{"warehouse_id": W1, "quantity": 0}]}]})]
    assert run.store.get_stock("tiktok_us", "A")["salable"] == 7
    # The stock was read again under the locks, and the locks are free again.
    assert ("list_inventory_levels", {"inventory_item_ids": "101,102"}) in store_conn.calls
    assert run.store.stock_lock_holders("shopify", ["A", "B"]) == {}

    channel.calls.clear()
    [again] = sync(new_step(run), store_conn, run)
    assert again.action == "skip" and channel.calls == []  # nothing changed: no call at all

    store_conn.levels[("102", "2")] = 4
    [changed] = sync(new_step(run), store_conn, run)
    assert [c[2] for c in channel.calls if c[0] == "update_inventory"] == [
        {"skus": [{"id": "id-B", "inventory": [{"warehouse_id": W1, "quantity": 3}]}]}]
    assert changed.detail["written"] == {"B": "0->3"}


def test_the_value_written_is_the_one_read_under_the_locks(tmp_path):
    """A level that changed between the read and the write is written as it is now."""
    store_conn, channel = Store({("101", "1"): 5}), Channel()
    run = make_run(tmp_path, store_conn, channel, safety_buffer=0)
    step = new_step(run)
    records = levels_of(store_conn, run)
    store_conn.levels[("101", "1")] = 2  # sold in the store meanwhile
    sync(step, store_conn, run, records)
    assert channel.stock["id-A"] == {W1: 2}


def test_an_order_the_store_takes_while_the_levels_are_read_is_never_offered_twice(tmp_path):
    """Between reading a SKU's holds and its levels the store may take a held order (the order
    flow creates it there, then its hold no longer counts). Whatever the timing, the figure
    written never offers that order's units again: at worst one unit too few, until the hold is
    let go and the SKU is written again."""
    store_conn, channel = Store({("101", "1"): 10}), Channel()
    run = make_run(tmp_path, store_conn, channel, safety_buffer=0)
    run.store.reserve_stock("tiktok_us", "transit:O1", {"A": 2})  # paid on TikTok, not in the store yet
    step = new_step(run)
    records = levels_of(store_conn, run)
    read = step._read_many

    def the_store_takes_the_order_during_the_read(*args, **kwargs):
        answer = list(read(*args, **kwargs))  # levels as they were: 10
        run.store.map_id("order", "shopify", "O1", "S1")  # the order now exists in the store...
        store_conn.levels[("101", "1")] = 8  # ...and took its units (read after this one)
        return answer

    step._read_many = the_store_takes_the_order_during_the_read
    sync(step, store_conn, run, records)
    # 10 read less the 2 held when the read began; 10 with the hold read after it: 2 oversold.
    assert channel.stock["id-A"][W1] == 8


def test_held_units_and_per_sku_buffers_are_taken_off(tmp_path):
    store_conn, channel = Store({("101", "1"): 10, ("102", "1"): 10}), Channel()
    run = make_run(tmp_path, store_conn, channel, sku_buffers={"B": "50%"})
    run.store.reserve_stock("tiktok_us", "transit:O1", {"A": 3})
    sync(new_step(run), store_conn, run)
    assert channel.stock == {"id-A": {W1: 6}, "id-B": {W1: 5}}  # 10 - 3 - 1; 10 - 50%


def test_one_sku_refused_does_not_block_the_others(tmp_path):
    store_conn, channel = Store({("101", "1"): 4, ("102", "1"): 6}), Channel()
    channel.fail["id-B"] = "SKU is frozen"
    run = make_run(tmp_path, store_conn, channel)
    step = new_step(run)
    for record in levels_of(store_conn, run):
        step.process(record, run)
    [group] = list(step.drain(run))
    with pytest.raises(RecordError) as failed:
        step.process(group, run)
    assert failed.value.field_errors == [{"field": "skus[B]", "message": "12019001: SKU is frozen", "salable": 5,
                                          "channel": "?"}]
    assert channel.stock == {"id-A": {W1: 3}}
    assert run.store.get_stock("tiktok_us", "A")["salable"] == 3 and run.store.get_stock("tiktok_us", "B") is None
    assert run.store.stock_lock_holders("shopify", ["A", "B"]) == {}  # released on failure too


def test_a_sku_another_writer_holds_waits_then_fails_for_a_retry(tmp_path, monkeypatch):
    monkeypatch.setattr(stock_module, "LOCK_WAIT_SECONDS", 0.05)
    store_conn, channel = Store({("101", "1"): 4}), Channel()
    run = make_run(tmp_path, store_conn, channel)
    assert run.store.acquire_stock_locks("shopify", ["A"], "a webhook worker", 60)
    step = new_step(run)
    for record in levels_of(store_conn, run):
        step.process(record, run)
    with pytest.raises(RecordError) as busy:
        step.process(next(iter(step.drain(run))), run)
    assert busy.value.retryable and "another writer holds the stock of A" in str(busy.value)
    assert not [c for c in channel.calls if c[0] == "update_inventory"]


def test_a_returns_warehouse_is_left_out(tmp_path):
    store_conn, channel = Store({("101", "1"): 4, ("101", "2"): 2}), Channel()
    run = make_run(tmp_path, store_conn, channel, safety_buffer=0,
                   warehouses=[{"warehouse_id": RETURNS, "locations": ["2"]}, {"warehouse_id": W1, "locations": ["1"]}])
    [result] = sync(new_step(run), store_conn, run)
    assert channel.stock == {"id-A": {W1: 4}}
    assert result.detail["ignored_warehouses"] == {RETURNS: "takes no stock for sale (a returns warehouse, or disabled)"}


def test_an_untracked_item_is_left_alone(tmp_path):
    store_conn, channel = Store({("101", "1"): None, ("102", "1"): 3}), Channel()
    run = make_run(tmp_path, store_conn, channel)
    [result] = sync(new_step(run), store_conn, run)
    assert set(channel.stock) == {"id-B"} and result.detail["untracked"] == ["A"]


def test_a_sold_out_listing_goes_off_sale_and_back_on_when_stock_returns(tmp_path):
    store_conn, channel = Store({("101", "1"): 1, ("102", "1"): 1}), Channel()
    run = make_run(tmp_path, store_conn, channel, deactivate_when_sold_out=True)
    [result] = sync(new_step(run), store_conn, run)
    assert result.action == "inventory_update+deactivate" and channel.status == "SELLER_DEACTIVATED"
    assert [c[0] for c in channel.calls if c[0] != "get_warehouses"] == ["update_inventory", "deactivate_products"]
    assert run.store.get_stock_paused("tiktok_us", "P1")

    channel.calls.clear()
    store_conn.levels[("101", "1")] = 5
    [result] = sync(new_step(run), store_conn, run)
    # Back on sale first, then the quantity: nothing is written to a listing that is off sale.
    assert [c[0] for c in channel.calls if c[0] != "get_warehouses"] == ["activate_products", "update_inventory"]
    assert result.action == "inventory_update+activate" and channel.status == "ACTIVATE"
    assert run.store.get_stock_paused("tiktok_us", "P1") is None


def test_a_listing_taken_off_sale_by_hand_is_never_put_back(tmp_path):
    store_conn, channel = Store({("101", "1"): 1, ("102", "1"): 1}), Channel()
    channel.status = "SELLER_DEACTIVATED"  # the seller did it
    run = make_run(tmp_path, store_conn, channel, deactivate_when_sold_out=True)
    [result] = sync(new_step(run), store_conn, run)
    assert result.detail["deactivate_refused"].endswith("SELLER_DEACTIVATED refused")
    store_conn.levels[("101", "1")] = 5
    sync(new_step(run), store_conn, run)
    assert not [c for c in channel.calls if c[0] == "activate_products"] and channel.status == "SELLER_DEACTIVATED"


def test_reconciling_writes_only_the_skus_that_differ_from_the_channel(tmp_path):
    store_conn, channel = Store({("101", "1"): 5, ("102", "1"): 5}), Channel()
    run = make_run(tmp_path, store_conn, channel)
    sync(new_step(run), store_conn, run)
    channel.stock["id-B"] = {W1: 40}  # changed on the channel by hand
    channel.calls.clear()
    recon = make_run(tmp_path, store_conn, channel, mode="reconcile")
    [result] = sync(new_step(recon), store_conn, recon)
    assert result.detail["drift"] == [{"sku": "B", "salable": 4, "channel": 40, "warehouses": {W1: 40},
                                       "result": "repaired"}]
    assert result.detail["compared"] == 2
    assert [c[2] for c in channel.calls if c[0] == "update_inventory"] == [
        {"skus": [{"id": "id-B", "inventory": [{"warehouse_id": W1, "quantity": 4}]}]}]


def test_a_dry_run_reads_and_writes_nothing(tmp_path):
    store_conn, channel = Store({("101", "1"): 5}), Channel()
    run = make_run(tmp_path, store_conn, channel, dry_run=True)
    [result] = sync(new_step(run), store_conn, run)
    assert result.action == "inventory_update" and result.detail["would_write"] == {"A": 4}
    assert not [c for c in channel.calls if c[0] == "update_inventory"]
    assert run.planned[0]["body"]["skus"][0]["warehouses"] == [{"warehouse_id": W1, "quantity": 4}]
    assert run.store.get_stock("tiktok_us", "A") is None


def test_a_listing_the_catalog_flow_wrote_since_is_written_again(tmp_path):
    store_conn, channel = Store({("101", "1"): 5}), Channel()
    run = make_run(tmp_path, store_conn, channel)
    run.store.map_id("product", "tiktok_us", "shop-product-1", "P1")
    run.store.set_hash("product:content", "tiktok_us", "shop-product-1", "h1")
    other = {"overwritten_by": {"entity": "product", "parts": ["content", "inventory"]}}
    sync(new_step(run, **other), store_conn, run)
    channel.calls.clear()
    [unchanged] = sync(new_step(run, **other), store_conn, run)
    assert unchanged.action == "skip"
    run.store.set_hash("product:content", "tiktok_us", "shop-product-1", "h2")  # a full edit carried raw stock
    [again] = sync(new_step(run, **other), store_conn, run)
    assert again.action == "inventory_update"


# -- identify and hold ----------------------------------------------------------------------------
def test_identify_finds_the_sku_of_an_inventory_item(tmp_path):
    store_conn, channel = Store({}), Channel()
    run = make_run(tmp_path, store_conn, channel)
    run.store.delete_mapping("sku", "shopify", "B")
    identify = STEPS.get("identify").impl({"on": "store", "entity": "inventory_level", "by": "inventory_item_id",
                                           "operation": "list_products", "items": "variants[].{sku: sku, id: id, "
                                           "inventory_item_id: inventory_item_id}"}, run)
    known = identify.process(Record("101:1", {}, {"inventory_item_id": 101}), run)
    assert known.context["sku"] == "A" and store_conn.calls == []
    found = identify.process(Record("102:1", {}, {"inventory_item_id": 102}), run)
    assert found.context["sku"] == "B" and store_conn.calls == [("list_products", None)]
    unknown = identify.process(Record("999:1", {}, {"inventory_item_id": 999}), run)
    assert unknown.action == "skip" and "no SKU" in unknown.detail["reason"]
    assert len(store_conn.calls) == 1  # one catalog read per run
    with pytest.raises(RecordError, match="so it is no inventory_level record"):
        identify.process(Record("x", {}, {"listing_id": "P1"}), run)


def test_hold_keeps_an_order_until_the_store_has_it(tmp_path):
    run = make_run(tmp_path, Store({}), Channel())
    hold = STEPS.get("hold").impl({"on": "channel", "when": "status == 'awaiting_fulfillment' && var('remote_id') == "
                                                            "null"}, run)
    order = {"status": "awaiting_fulfillment", "lines": [{"sku": "A", "quantity": 2}, {"sku": "A", "quantity": 1}]}
    held = hold.process(Record("O1", order, order), run)
    assert held.action == "hold" and held.detail["held"] == {"A": 3}
    assert hold.process(Record("O1", order, order), run).action == "skip"  # the same hold again
    assert held_units(run.store, "shopify", {"A"}) == {"A": 3}
    imported = Record("O1", order, order, remote_id="9001")
    assert hold.process(imported, run).action == "release"
    assert held_units(run.store, "shopify", {"A"}) == {}


def test_a_hold_stored_by_a_process_that_died_is_handed_over_when_its_event_comes_again(tmp_path):
    """The hold is committed, then the process dies before the SKUs become stock jobs: the event
    is claimed again, and its hold is there already. Its SKUs are handed over all the same."""
    run = make_run(tmp_path, Store({}), Channel())
    handed: list[list[str]] = []
    run.defer_stock = handed.append
    hold = STEPS.get("hold").impl({"on": "channel", "when": "status == 'awaiting_fulfillment'"}, run)
    order = {"status": "awaiting_fulfillment", "lines": [{"sku": "B", "quantity": 1}, {"sku": "A", "quantity": 1}]}
    run.store.reserve_stock("tiktok_us", "transit:O1", {"A": 1, "B": 1})  # what the dead process stored
    assert hold.process(Record("O1", order, order), run).action == "skip" and handed == []
    run.redelivered = True
    assert hold.process(Record("O1", order, order), run).action == "skip"
    assert handed == [["A", "B"]]


def test_pull_reads_the_scope_in_batches(tmp_path):
    calls = []

    class Paged:
        def paginate(self, op, query=None, body=None):
            calls.append(query)
            yield SimpleNamespace(records=[])

    run = RunContext(merchant="m", flow="f", flow_name="f", options={"warehouses": [
        {"warehouse_id": W1, "locations": ["1", 2, {"id": "3", "share": 50}]},
        {"warehouse_id": W2, "locations": [{"id": "3", "share": 50}]}]},
        connections={"store": Paged()}, connection_names={"store": "shopify"}, connection_meta={"store": {}},
        store=open_store(str(tmp_path / "s.db")))
    pull = STEPS.get("pull").impl({"from": "store", "operation": "list_inventory_levels",
                                   "scope": "warehouses[].locations[].not_null(id, @)",
                                   "scope_param": {"query": "location_ids", "size": 2}}, run)
    assert list(pull.records(run)) == [] and pull.complete
    assert calls == [{"location_ids": "1,2"}, {"location_ids": "3"}]


def test_listings_are_read_again_together_and_a_run_that_stops_frees_what_it_locked_ahead(tmp_path):
    store_conn, channel = Store({("101", "1"): 5, ("102", "1"): 2, ("103", "1"): 7}), Channel()
    run = make_run(tmp_path, store_conn, channel)
    run.store.map_id("sku", "tiktok_us", "C", "id-C", {"parent": "P2"})
    step = new_step(run)
    plan = PLANS["shopify.inventory_level_to_canonical"]
    for (item, location), units in store_conn.levels.items():
        native = {"inventory_item_id": int(item), "location_id": int(location), "available": units}
        sku = {"101": "A", "102": "B", "103": "C"}[item]
        step.process(Record(f"{item}:{location}", native, plan.apply(native, {"sku": sku}).output), run)
    store_conn.calls.clear()
    groups = step.drain(run)
    first = step.process(next(groups), run)
    assert first.key == "P1" and first.action == "inventory_update"
    # One read for both listings; P2's SKU stays locked until P2 is written.
    assert store_conn.calls == [("list_inventory_levels", {"inventory_item_ids": "101,102,103"})]
    assert set(run.store.stock_lock_holders("shopify", ["A", "B", "C"])) == {"C"}
    groups.close()  # the run ended early (an outage): the locks read ahead for are let go
    assert run.store.stock_lock_holders("shopify", ["C"]) == {}
