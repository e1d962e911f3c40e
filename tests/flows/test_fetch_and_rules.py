"""The fetch step reads each distinct reference request once per run; check rules that list
violations pass on an empty list and name the offenders in their message."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from engine.errors import RecordError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.steps.fetch import Fetch
from engine.flow.steps.transform import Check


@dataclass
class FakeResponse:
    selection: object


@dataclass
class FakeConnection:
    calls: list = field(default_factory=list)

    def call(self, op, *, path_params=None, query=None, **_):
        self.calls.append((op, path_params, query))
        return FakeResponse([{"id": "1", "name": "Material", "is_required": True},
                             {"id": "2", "name": "Capacity", "is_required": False},
                             {"id": path_params["category_id"], "name": "Echo", "is_required": True}])


def run_context(conn: FakeConnection, options: dict) -> RunContext:
    return RunContext(merchant="m", flow="f", flow_name="f", options=options, connections={"target": conn},
                      connection_names={"target": "tt"}, connection_meta={"target": {"region": "US"}}, store=None)


def record(category: str, skus: list[str]) -> Record:
    data = {"category": {"name": category}, "variants": [{"sku": s} for s in skus]}
    return Record(key=category, native=data, data=data)


def test_each_distinct_request_is_made_once_per_run() -> None:
    conn = FakeConnection()
    run = run_context(conn, {"category_map": {"Mugs": "600050", "Tees": "601302"}})
    step = Fetch({"from": "target", "operation": "get_category_attributes",
                  "when": "get(var('category_map'), category.name) != null",
                  "path_params": {"category_id": "get(var('category_map'), category.name)"},
                  "result": "[?is_required].name", "context_key": "required"}, run)
    seen = [step.process(record(name, []), run).context.get("required") for name in
            ["Mugs", "Tees", "Mugs", "Mugs", "Hats", "Tees"]]
    assert [c[1] for c in conn.calls] == [{"category_id": "600050"}, {"category_id": "601302"}]
    assert seen[0] == ["Material", "Echo"] and seen[2] == seen[0] and seen[4] is None


def test_a_record_without_the_path_parameter_is_a_record_error() -> None:
    run = run_context(FakeConnection(), {})
    step = Fetch({"from": "target", "operation": "op", "path_params": {"category_id": "category.id"},
                  "result": "@", "context_key": "x"}, run)
    with pytest.raises(RecordError, match="op needs category_id"):
        step.process(record("Mugs", []), run)


def test_violation_rules_pass_when_empty_and_name_the_offenders() -> None:
    run = run_context(FakeConnection(), {})
    step = Check({"rules": [{"name": "sku_length", "violations": "variants[?length(sku) > `5`].sku",
                             "field": "variants.sku", "message": "too long: {{ ctx.violations|join(', ') }}"}]}, run)
    assert step.process(record("ok", ["A-1", "B-2"]), run) is not None
    with pytest.raises(RecordError) as caught:
        step.process(record("bad", ["A-1", "LONG-SKU-1", "LONG-SKU-2"]), run)
    assert caught.value.field_errors == [{"field": "variants.sku", "rule": "sku_length",
                                          "message": "too long: LONG-SKU-1, LONG-SKU-2"}]


def test_cache_hours_keeps_answers_across_runs_until_they_expire(tmp_path) -> None:
    from engine.state import open_store

    store = open_store(str(tmp_path / "state.db"))
    clock = [1_000_000.0]
    options = {"from": "target", "operation": "get_category_attributes", "cache_hours": 24,
               "path_params": {"category_id": "get(var('category_map'), category.name)"},
               "result": "[?is_required].name", "context_key": "required"}

    def one_run(conn: FakeConnection, *, dry_run: bool = False) -> list:
        run = RunContext(merchant="m", flow="f", flow_name="f", options={"category_map": {"Mugs": "600050"}},
                         connections={"target": conn}, connection_names={"target": "tt"},
                         connection_meta={"target": {"region": "US"}}, store=store, dry_run=dry_run,
                         now=lambda: clock[0])
        step = Fetch(options, run)
        return [step.process(record("Mugs", []), run).context["required"] for _ in range(3)]

    try:
        first, second, dry, later = FakeConnection(), FakeConnection(), FakeConnection(), FakeConnection()
        assert one_run(first) == [["Material", "Echo"]] * 3 and len(first.calls) == 1
        clock[0] += 23 * 3600
        assert one_run(second) == [["Material", "Echo"]] * 3 and second.calls == []  # kept from the first run
        clock[0] += 2 * 3600
        assert one_run(dry, dry_run=True) and len(dry.calls) == 1  # expired: read again, a dry run keeps nothing
        assert one_run(later) and len(later.calls) == 1
    finally:
        store.close()
