"""The steps the order flows add (decide, reserve, resolve_skus, link, ensure) and the push's named,
once-only writes, against a recording fake connection and a real state store."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import RecordError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.lang.mapping import compile_mapping
from engine.project.yamlpos import loads
from engine.state import open_store
from tests.flows.test_push_fan_out import FakeConnection, FakeResponse

CUSTOMER = compile_mapping(loads("""
kind: mapping
name: t.customer
fields:
  customer:
    fields:
      email: email
      first_name: first_name
""", "customer.yaml"))
ORDER = {"channel_order_id": "T1", "status": "awaiting_fulfillment", "buyer": {"email": "ann@x.test"},
         "lines": [{"sku": "A", "quantity": 3}, {"sku": "B", "quantity": 1}]}


def make_run(tmp_path, conn: FakeConnection | None = None, **options: Any) -> RunContext:
    conn = conn or FakeConnection()
    return RunContext(merchant="m", flow="orders", flow_name="orders", options=dict(options),
                      connections={"store": conn, "channel": conn},
                      connection_names={"store": "shop", "channel": "tt"},
                      connection_meta={"store": {}, "channel": {}}, store=open_store(str(tmp_path / "state.db")),
                      plans={"t.customer": CUSTOMER})


def step(kind: str, run: RunContext, **options: Any):
    return STEPS.get(kind).impl(options, run)


def order_record(data: dict = ORDER, **context: Any) -> Record:
    return Record(key="T1", native=data, data=data, canonical=data, context=dict(context))


# -- decide ---------------------------------------------------------------------------------------
def test_decide_takes_the_first_rule_that_holds_and_says_why(tmp_path):
    run = make_run(tmp_path, sample_orders="skip")
    decide = step("decide", run, rules=[
        {"when": "status == 'pending_payment'", "action": "skip", "reason": "not paid"},
        {"when": "var('remote_id') != null && status == 'cancelled'", "action": "cancel"},
        {"when": "status == 'awaiting_fulfillment'", "action": "skip", "reason": "{{ status }} and {{ ctx.sample_orders }}"},
    ], default="create")
    record = decide.process(order_record(), run)
    assert record.action == "skip" and record.detail["reason"] == "awaiting_fulfillment and skip"
    cancelled = order_record({**ORDER, "status": "cancelled"})
    cancelled.remote_id = "55"
    assert decide.process(cancelled, run).action == "cancel"
    assert decide.process(order_record({**ORDER, "status": "on_hold"}), run).action == "create"


def test_decide_without_default_keeps_the_action_an_earlier_step_chose(tmp_path):
    run = make_run(tmp_path)
    decide = step("decide", run, rules=[{"when": "status == 'x'", "action": "skip"}])
    record = order_record()
    record.action = "update"
    assert decide.process(record, run).action == "update"


# -- reserve --------------------------------------------------------------------------------------
def test_an_order_on_hold_holds_its_stock_once_and_releases_it_when_it_moves_on(tmp_path):
    run = make_run(tmp_path)
    reserve = step("reserve", run, on="channel", when="status == 'on_hold'")
    held = reserve.process(order_record({**ORDER, "status": "on_hold"}), run)
    assert held.action == "held" and held.detail["held"] == {"A": 3, "B": 1}
    reserve.process(order_record({**ORDER, "status": "on_hold"}), run)  # the same hold again
    assert run.store.reserved_stock("tt") == {"A": 3, "B": 1}
    released = reserve.process(order_record(), run)
    assert released.action == "" and released.detail["released"] is True
    assert run.store.reserved_stock() == {}
    assert [r["status"] for r in run.store.reservations(status=None)] == ["released", "released"]


def test_a_hold_longer_than_the_window_is_flagged(tmp_path):
    run = make_run(tmp_path, hold_minutes=30)
    run.now = lambda: 1_700_000_000 + 3600
    reserve = step("reserve", run, on="channel", when="status == 'on_hold'", since="paid_at",
                   window_option="hold_minutes")
    record = reserve.process(order_record({**ORDER, "status": "on_hold", "paid_at": "2023-11-14T22:13:20Z"}), run)
    assert record.detail["hold_overdue"] is True and "60 min" in record.detail["reason"]


# -- resolve_skus ---------------------------------------------------------------------------------
def test_skus_resolve_from_the_id_map_then_from_one_catalog_read(tmp_path):
    catalog = [{"id": 1, "variants": [{"sku": "A", "id": 11, "inventory_item_id": 111},
                                      {"sku": "B", "id": 12, "inventory_item_id": 112}]}]

    class Catalog(FakeConnection):
        pages = 0

        def paginate(self, op, query=None, body=None):
            Catalog.pages += 1
            yield FakeResponse(records=catalog)

    run = make_run(tmp_path, Catalog())
    run.store.map_id("sku", "shop", "A", "11")
    resolve = step("resolve_skus", run, on="store", entity="product", operation="list_products",
                   items="variants[].{sku: sku, id: id, inventory_item_id: inventory_item_id}")
    record = resolve.process(order_record(), run)
    assert record.context["variant_ids"] == {"A": "11", "B": "12"}
    assert record.context["variant_ids_refs"]["B"] == {"id": "12", "inventory_item_id": "112"}
    assert run.store.get_remote_id("sku", "shop", "B") == "12"
    with pytest.raises(RecordError) as failed:
        resolve.process(order_record({**ORDER, "lines": [{"sku": "A", "quantity": 1}, {"sku": "Z", "quantity": 1}]}),
                        run)
    assert failed.value.field_errors == [{"field": "lines[1].sku", "message": "SKU 'Z' is not in shop's catalog"}]
    assert Catalog.pages == 1  # one catalog read per run, however many misses


def test_a_line_without_a_sku_is_named(tmp_path):
    run = make_run(tmp_path)
    resolve = step("resolve_skus", run, on="store", entity="product")
    with pytest.raises(RecordError) as failed:
        resolve.process(order_record({**ORDER, "lines": [{"quantity": 1}]}), run)
    assert failed.value.field_errors[0]["field"] == "lines[0].sku"


# -- link -----------------------------------------------------------------------------------------
def test_link_finds_the_record_an_earlier_flow_wrote_or_fails_retryably(tmp_path):
    run = make_run(tmp_path)
    link = step("link", run, on="store", entity="order", key="order_id", **{"as": "store_order_id"})
    with pytest.raises(RecordError) as failed:
        link.process(order_record({"order_id": "T9"}), run)
    assert failed.value.retryable
    run.store.map_id("order", "shop", "T9", "4001")
    assert link.process(order_record({"order_id": "T9"}), run).context["store_order_id"] == "4001"


# -- ensure ---------------------------------------------------------------------------------------
def test_ensure_merges_with_a_found_customer_or_creates_one_once(tmp_path):
    found = {"ann@x.test": [{"id": 7, "email": "ann@x.test"}],
             "bob@x.test": [{"id": 8, "email": "bobby@x.test"}]}  # a fuzzy hit is not taken
    conn = FakeConnection({"search": lambda body, query: FakeResponse(records=found.get(query["q"], [])),
                           "create_customer": {"id": 99}})
    run = make_run(tmp_path, conn)
    run.exclusive = True
    ensure = step("ensure", run, to="store", entity="customer", key="buyer.email",
                  record="{email: buyer.email, first_name: 'B'}", mapping="t.customer",
                  lookup={"operation": "search", "query": "{q: var('key')}", "id": "id", "match": "email == var('key')"},
                  create={"operation": "create_customer", "id": "id"}, **{"as": "customer_id"})
    assert ensure.process(order_record(), run).context["customer_id"] == "7"
    bob = order_record({**ORDER, "buyer": {"email": "bob@x.test"}})
    assert ensure.process(bob, run).context["customer_id"] == "99"
    assert ensure.process(order_record({**ORDER, "buyer": {"email": "bob@x.test"}}), run).context["customer_id"] == "99"
    creates = [c for c in conn.calls if c["op"] == "create_customer"]
    assert creates == [{"op": "create_customer", "params": {}, "query": None,
                        "body": {"customer": {"email": "bob@x.test", "first_name": "B"}}}]
    assert ensure.process(order_record({**ORDER, "buyer": {}}), run).context["customer_id"] is None


# -- push: named writes, once, path params from expressions ---------------------------------------
def test_a_once_write_goes_to_the_path_an_expression_names_and_happens_once(tmp_path):
    conn = FakeConnection({"cancel_order": {"id": 4001, "cancelled_at": "2026-01-01T00:00:00Z"}})
    run = make_run(tmp_path, conn)
    run.exclusive = True
    push = step("push", run, to="store", entity="order", create={"operation": "create_order", "id": "id"},
                writes={"cancel": {"operation": "cancel_order", "path_params": {"order_id": "remote_id"},
                                   "body": {"restock": True}, "once": True, "id": "id"}})
    for _ in range(2):
        record = order_record()
        record.remote_id, record.action = "4001", "cancel"
        push.process(record, run)
    assert conn.calls == [{"op": "cancel_order", "params": {"order_id": "4001"}, "query": None,
                           "body": {"restock": True}}]
    assert record.detail["cancel"] == {"id": "4001"}


def test_an_unfinished_once_write_is_looked_up_before_it_is_sent_again(tmp_path):
    conn = FakeConnection({"get_order": {"id": 4001, "cancelled_at": "2026-01-01T00:00:00Z"}})
    run = make_run(tmp_path, conn)
    run.exclusive = True
    run.store.begin_once("cancel:order:shop", "T1")  # a killed run's claim
    push = step("push", run, to="store", entity="order", create={"operation": "create_order", "id": "id"},
                writes={"cancel": {"operation": "cancel_order", "path_params": {"order_id": "remote_id"},
                                   "once": True, "lookup": {"operation": "get_order",
                                                            "path_params": {"order_id": "remote_id"},
                                                            "match": "cancelled_at != null", "id": "id"}}})
    record = order_record()
    record.remote_id, record.action = "4001", "cancel"
    push.process(record, run)
    assert [c["op"] for c in conn.calls] == ["get_order"]
    assert record.detail["cancel"] == {"id": "4001", "found": True}


def test_a_create_after_an_unfinished_one_adopts_the_record_its_lookup_matches(tmp_path):
    orders = [{"id": 5, "name": "TT-other"}, {"id": 6, "name": "TTT1"}]
    conn = FakeConnection({"list_orders": lambda body, query: FakeResponse(records=orders)})
    run = make_run(tmp_path, conn, order_name_prefix="TT")
    run.exclusive = True
    run.store.begin_once("create:order:shop", "T1")
    push = step("push", run, to="store", entity="order", create={"operation": "create_order", "id": "id"},
                lookup_existing={"operation": "list_orders", "id": "id",
                                 "query": "{name: join('', [var('order_name_prefix'), var('key')])}",
                                 "match": "name == join('', [var('order_name_prefix'), var('key')])"})
    record = order_record()
    record.action = "create"
    push.process(record, run)
    assert [c["op"] for c in conn.calls] == ["list_orders"]
    assert conn.calls[0]["query"] == {"name": "TTT1"}
    assert record.remote_id == "6" and run.store.get_remote_id("order", "shop", "T1") == "6"


def test_a_path_parameter_without_a_value_fails_the_record_naming_it(tmp_path):
    run = make_run(tmp_path)
    push = step("push", run, to="store", entity="refund",
                create={"operation": "create_refund", "path_params": {"order_id": "var('store_order_id')"}, "id": "id"})
    record = order_record()
    record.action = "create"
    with pytest.raises(RecordError) as failed:
        push.process(record, run)
    assert "order_id" in str(failed.value)


def test_validate_names_a_decide_action_the_push_cannot_write(tmp_path):
    from pathlib import Path

    from engine.project.loader import Project
    from engine.project.validate import Validator

    root = Path(__file__).resolve().parents[2]
    flow = (root / "flows" / "orders_from_tiktok.yaml").read_text()
    assert "          action: cancel\n" in flow
    flow = flow.replace("name: orders_from_tiktok", "name: my_orders").replace(
        "          action: cancel\n", "          action: cancle\n")
    (tmp_path / "my_orders.yaml").write_text(flow)
    merchant = (root / "examples" / "acme" / "merchant.yaml").read_text().replace(
        "flow: orders_from_tiktok", "flow: my_orders")
    (tmp_path / "merchant.yaml").write_text(merchant)
    problems = Validator(Project.load([tmp_path])).run()
    line = next(n for n, text in enumerate(flow.splitlines(), 1) if "action: cancle" in text)
    found = [p for p in problems if "no write 'cancle'" in p.message]
    assert found and found[0].location.line == line and "cancel" in found[0].hint
