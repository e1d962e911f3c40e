"""The leave_stock step: a catalog flow leaves stock to the merchant's stock flow when one writes
the channel's stock, and keeps writing it when none does. End to end (a held order, a catalog run
and a full edit against both simulators): tests/flows/test_inventory_e2e.py."""

from __future__ import annotations

import engine.flow.steps  # noqa: F401  (registers the step kinds)
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.state import open_store

PRODUCT = {"title": "Tee", "variants": [{"sku": "A", "inventory_quantity": 40}, {"sku": "B", "inventory_quantity": 7}]}


def make_run(tmp_path, writers: tuple[str, ...] = ("inventory",), *, dry_run: bool = False,
             restocked: list | None = None) -> RunContext:
    run = RunContext(merchant="m", flow="catalog", flow_name="catalog", options={}, connections={"target": None},
                     connection_names={"target": "tiktok"}, connection_meta={"target": {}},
                     store=open_store(str(tmp_path / "state.db")), dry_run=dry_run,
                     stock_writers={"tiktok": writers} if writers else {})
    run.restock = (restocked.append if restocked is not None else None)
    return run


def step(run: RunContext):
    return STEPS.get("leave_stock").impl({"on": "target", "entity": "product"}, run)


def record(action: str, parts: list[str], hashes: dict | None = None) -> Record:
    return Record(key="p1", native=PRODUCT, data=dict(PRODUCT), canonical=None, action=action,
                  parts_changed=list(parts), hashes=dict(hashes or {"content": "c2", "price": "p1", "inventory": "i2"}))


def test_a_stock_change_alone_makes_no_call_and_keeps_the_hash_last_written(tmp_path):
    run = make_run(tmp_path)
    run.store.set_hash("product:inventory", "tiktok", "p1", "i1")
    out = step(run).process(record("inventory_update", ["inventory"]), run)
    assert out.action == "skip" and out.detail["reason"] == "only the stock changed, which inventory writes"
    assert out.hashes["inventory"] == "i1" and out.parts_changed == []


def test_price_and_stock_changed_writes_the_price_only(tmp_path):
    run = make_run(tmp_path)
    out = step(run).process(record("price_update+inventory_update", ["price", "inventory"]), run)
    assert out.action == "price_update" and out.parts_changed == ["price"]
    assert "inventory" not in out.hashes  # never written: no hash to keep


def test_a_full_edit_carries_what_the_stock_flow_offered_and_hands_the_skus_back(tmp_path):
    restocked: list = []
    run = make_run(tmp_path, restocked=restocked)
    run.store.set_stock("tiktok", "A", {"salable": 12, "warehouses": {"w": 12}})
    leave = step(run)
    rec = record("update", ["content"])
    rec.canonical = rec.data
    out = leave.process(rec, run)
    assert out.action == "update"
    assert [v["inventory_quantity"] for v in out.data["variants"]] == [12, 7]  # B never offered: the catalog's
    assert out.canonical is out.data and PRODUCT["variants"][0]["inventory_quantity"] == 40  # not changed in place
    assert restocked == []  # not before the record is pushed
    list(leave.drain(run))
    assert restocked == [["A"]]


def test_a_dry_run_shows_the_offered_figure_and_writes_nothing_again(tmp_path):
    restocked: list = []
    run = make_run(tmp_path, dry_run=True, restocked=restocked)
    run.store.set_stock("tiktok", "A", {"salable": 3, "warehouses": {"w": 3}})
    leave = step(run)
    out = leave.process(record("update", ["content"]), run)
    assert out.data["variants"][0]["inventory_quantity"] == 3
    list(leave.drain(run))
    assert restocked == []


def test_without_a_stock_flow_on_the_channel_the_catalog_writes_its_stock(tmp_path):
    run = make_run(tmp_path, writers=())
    run.store.set_stock("tiktok", "A", {"salable": 12, "warehouses": {"w": 12}})
    out = step(run).process(record("price_update+inventory_update", ["price", "inventory"]), run)
    assert out.action == "price_update+inventory_update" and out.hashes["inventory"] == "i2"
    out = step(run).process(record("update", ["content"]), run)
    assert out.data["variants"][0]["inventory_quantity"] == 40
