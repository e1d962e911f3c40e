"""The push step's per-item writes (each), follow-up writes (then), kept per-SKU ids (sku_refs) and
the look-up before a repeated create, against a recording fake connection."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.errors import RecordError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps.push import Push
from engine.http import HttpCallError
from engine.lang.mapping import compile_mapping
from engine.project.yamlpos import loads
from engine.state import open_store

LEVELS = compile_mapping(loads(textwrap.dedent("""
    kind: mapping
    name: t.levels
    fields:
      levels:
        each: variants
        fields:
          inventory_item_id: "get(var('sku_refs'), sku).item"
          location_id: "var('location_id')"
          available: qty
"""), "levels.yaml"))


@dataclass
class FakeResponse:
    record: Any = None
    records: list = field(default_factory=list)
    item_errors: list = field(default_factory=list)


class FakeConnection:
    """Answers each operation with a canned body; `fail(op, params, body)` may return an error to raise."""

    def __init__(self, answers: dict | None = None, fail: Any = None) -> None:
        self.answers = answers or {}
        self.fail = fail or (lambda op, params, body: None)
        self.calls: list[dict] = []

    def call(self, op: str, *, path_params: dict | None = None, query: Any = None, body: Any = None,
             idempotency_key: str | None = None, **_: Any) -> FakeResponse:
        self.calls.append({"op": op, "params": dict(path_params or {}), "query": query, "body": body})
        error = self.fail(op, path_params or {}, body)
        if error is not None:
            raise error
        answer = self.answers.get(op)
        return answer(body, query) if callable(answer) else FakeResponse(record=answer)


def make_run(conn: FakeConnection, tmp_path, **options: Any) -> RunContext:
    return RunContext(merchant="m", flow="catalog", flow_name="catalog", options={"location_id": 7, **options},
                      connections={"target": conn}, connection_names={"target": "shop"},
                      connection_meta={"target": {}}, store=open_store(str(tmp_path / "state.db")),
                      plans={"t.levels": LEVELS})


def push(run: RunContext, **writes: Any):
    return STEPS.get("push").impl({"to": "target", "entity": "product", **writes}, run)


CREATE = {"operation": "create", "id": "id", "sku_ids": "variants[].{sku: sku, id: id, item: item}"}
STOCK = {"operation": "set_level", "mapping": "t.levels", "each": "levels", "skip_unchanged": True}
PRODUCT = {"variants": [{"sku": "A", "qty": 3}, {"sku": "B", "qty": 5}]}
CREATED = {"id": 900, "variants": [{"sku": "A", "id": 1, "item": 11}, {"sku": "B", "id": 2, "item": 22}]}


def record(action: str, canonical: dict = PRODUCT, **context: Any) -> Record:
    return Record(key="p1", native=canonical, data={"product": canonical}, canonical=canonical, action=action,
                  context=dict(context))


def test_a_create_then_sets_stock_once_per_item_with_the_ids_it_returned(tmp_path):
    conn = FakeConnection({"create": CREATED})
    run = make_run(conn, tmp_path)
    step = push(run, create={**CREATE, "then": ["inventory_update"]}, inventory_update=STOCK)
    out = step.process(record("create"), run)
    assert [c["op"] for c in conn.calls] == ["create", "set_level", "set_level"]
    assert [c["body"] for c in conn.calls[1:]] == [
        {"inventory_item_id": "11", "location_id": 7, "available": 3},
        {"inventory_item_id": "22", "location_id": 7, "available": 5}]
    assert out.remote_id == "900" and out.context["sku_refs"]["B"] == {"id": "2", "item": "22"}
    assert run.store.get_mapping("sku", "shop", "B")["extra"] == {"parent": "900", "item": "22"}


def test_match_gives_later_runs_the_kept_ids(tmp_path):
    conn = FakeConnection({"create": CREATED})
    run = make_run(conn, tmp_path)
    push(run, create=CREATE).process(record("create"), run)
    matched = STEPS.get("match").impl({"on": "target", "entity": "product"}, run).process(
        Record(key="p1", native=PRODUCT, data=PRODUCT), run)
    assert matched.remote_id == "900" and matched.context["remote_id"] == "900"
    assert matched.context["sku_ids"] == {"A": "1", "B": "2"}
    assert matched.context["sku_refs"] == {"A": {"id": "1", "item": "11"}, "B": {"id": "2", "item": "22"}}


def test_only_items_that_changed_since_the_last_push_are_sent(tmp_path):
    conn = FakeConnection()
    run = make_run(conn, tmp_path)
    step = push(run, create=CREATE, inventory_update=STOCK)
    now = {"variants": [{"sku": "A", "qty": 3}, {"sku": "B", "qty": 4}]}
    rec = record("inventory_update", now, sku_refs={"A": {"id": "1", "item": "11"}, "B": {"id": "2", "item": "22"}})
    rec.remote_id, rec.previous = "900", PRODUCT
    step.process(rec, run)
    assert [c["body"] for c in conn.calls] == [{"inventory_item_id": "22", "location_id": 7, "available": 4}]


def test_every_item_is_tried_and_the_failures_are_reported_together(tmp_path):
    def fail(op, params, body):
        if body["inventory_item_id"] == "11":
            return HttpCallError("Inventory item does not have inventory tracking enabled", op=op, status=422)
        return None

    conn = FakeConnection(fail=fail)
    run = make_run(conn, tmp_path)
    step = push(run, create=CREATE, inventory_update={**STOCK, "item_path_params": {"item_id": "inventory_item_id"}})
    rec = record("inventory_update", sku_refs={"A": {"id": "1", "item": "11"}, "B": {"id": "2", "item": "22"}})
    rec.remote_id = "900"
    with pytest.raises(RecordError) as caught:
        step.process(rec, run)
    assert len(conn.calls) == 2 and conn.calls[1]["params"] == {"item_id": "22"}
    errors = caught.value.field_errors
    assert [e["field"] for e in errors] == ["levels[0]"] and "tracking" in errors[0]["message"]
    assert run.store.get_hash("product:content", "shop", "p1") is None  # nothing remembered: retried whole


def test_a_repeated_create_looks_the_object_up_first_and_adopts_it(tmp_path):
    attempts = {"n": 0}

    def fail(op, params, body):
        attempts["n"] += op == "create"
        return HttpCallError("read timeout", op=op) if op == "create" and attempts["n"] == 1 else None

    listed = [{"id": 555, "variants": [{"sku": "OTHER", "id": 9, "item": 99}]}, CREATED]
    conn = FakeConnection({"create": CREATED, "list": lambda body, query: FakeResponse(records=listed)}, fail)
    run = make_run(conn, tmp_path)
    lookup = {"operation": "list", "query": "{title: product.title}", "id": "id", "skus": "variants[].sku"}
    step = push(run, create=CREATE, lookup_existing=lookup)
    with pytest.raises(HttpCallError):
        step.process(record("create", skus=["A", "B"]), run)
    out = step.process(record("create", skus=["A", "B"]), run)
    assert [c["op"] for c in conn.calls] == ["create", "list"]
    assert out.remote_id == "900" and out.context["sku_refs"]["A"] == {"id": "1", "item": "11"}


def _failed_once(conn_answers: dict) -> tuple[FakeConnection, dict]:
    attempts = {"n": 0}

    def fail(op, params, body):
        attempts["n"] += op == "create"
        return HttpCallError("read timeout", op=op) if op == "create" and attempts["n"] == 1 else None

    return FakeConnection(conn_answers, fail), attempts


def test_a_search_answer_of_other_products_is_never_adopted(tmp_path):
    """The listing-merge defect: an unfiltered search answer (every product of the shop) must not
    make the first product found stand for this record. The record is created anew."""
    other = {"id": 555, "variants": [{"sku": "OTHER", "id": 9, "item": 99}]}
    conn, _ = _failed_once({"create": CREATED, "search": lambda body, query: FakeResponse(records=[other])})
    run = make_run(conn, tmp_path)
    lookup = {"operation": "search", "body": "{seller_skus: var('skus')}", "id": "id", "skus": "variants[].sku"}
    step = push(run, create=CREATE, lookup_existing=lookup)
    with pytest.raises(HttpCallError):
        step.process(record("create", skus=["A", "B"]), run)
    out = step.process(record("create", skus=["A", "B"]), run)
    assert [c["op"] for c in conn.calls] == ["create", "search", "create"]
    assert conn.calls[1]["body"] == {"seller_skus": ["A", "B"]}  # keyed by the record's SKUs
    assert out.remote_id == "900"


def test_a_found_object_with_only_some_of_the_skus_is_refused_not_adopted_or_duplicated(tmp_path):
    partial = {"id": 556, "variants": [{"sku": "A", "id": 1, "item": 11}, {"sku": "Z", "id": 3, "item": 33}]}
    conn, _ = _failed_once({"create": CREATED, "search": lambda body, query: FakeResponse(records=[partial])})
    run = make_run(conn, tmp_path)
    lookup = {"operation": "search", "body": "{seller_skus: var('skus')}", "id": "id", "skus": "variants[].sku"}
    step = push(run, create=CREATE, lookup_existing=lookup)
    with pytest.raises(HttpCallError):
        step.process(record("create", skus=["A", "B"]), run)
    with pytest.raises(RecordError) as caught:
        step.process(record("create", skus=["A", "B"]), run)
    assert "556" in str(caught.value) and "not adopting" in str(caught.value)
    assert [c["op"] for c in conn.calls] == ["create", "search"]
    assert run.store.get_remote_id("product", "shop", "p1") is None


def test_a_create_recorded_as_done_still_runs_its_follow_up_writes(tmp_path):
    conn = FakeConnection({"create": CREATED})
    run = make_run(conn, tmp_path)
    run.store.begin_once("create:product:shop", "p1")
    run.store.complete_once("create:product:shop", "p1", {
        "remote_id": "900", "sku_ids": {"A": "1", "B": "2"},
        "sku_refs": {"A": {"id": "1", "item": "11"}, "B": {"id": "2", "item": "22"}}})
    step = push(run, create={**CREATE, "then": ["inventory_update"]}, inventory_update=STOCK)
    step.process(record("create"), run)
    assert [c["op"] for c in conn.calls] == ["set_level", "set_level"]


def test_validate_flags_fan_out_options_without_each():
    options = loads(textwrap.dedent("""
        to: target
        entity: product
        create: {operation: create, then: [inventory_update]}
        price_update: {operation: p, skip_unchanged: true, item_path_params: {id: id}}
    """), "flow.yaml")
    found = Push.check_references(options, {"roles": ["target"], "bindings": {}, "project": None})
    messages = [p.message for p in found]
    assert "item_path_params needs each:" in messages and "skip_unchanged needs each:" in messages
    assert "skip_unchanged needs mapping:" in messages
    assert any("then: names 'inventory_update'" in m for m in messages)
