"""The event workers: events batched per flow, busy flows put back, failures retried with
backoff and run alone, poison events dead-lettered, unreadable ones at once, claims of a killed
server taken back."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from engine.serve.flows import RunOutcome
from engine.serve.metrics import Metrics
from engine.serve.options import ServeOptions
from engine.serve.routing import Routes
from engine.serve.workers import EventDispatcher
from engine.state import open_store


class FakeRunner:
    """Answers each flow with what `plan` says: a status, or a function of the payloads."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list]] = []
        self.plan: dict[str, object] = {}

    def run_events(self, flow: str, payloads: list, *, redelivered: bool = False) -> RunOutcome:
        self.calls.append((flow, payloads))
        answer = self.plan.get(flow, "ok")
        if callable(answer):
            answer = answer(payloads)
        return RunOutcome(answer, "" if answer == "ok" else f"{flow} said {answer}", run_id=f"run-{len(self.calls)}")


@pytest.fixture
def setup(tmp_path):
    store = open_store(str(tmp_path / "state.db"))
    runner = FakeRunner()
    routes = Routes("acme", {("tt", "ORDER"): ("orders",), ("tt", "PRODUCT"): ("listing", "catalog")})
    merchant = SimpleNamespace(name="acme", store=store)
    pool = ThreadPoolExecutor(2)
    dispatcher = EventDispatcher(merchant, routes, runner, pool, ServeOptions(max_attempts=3), Metrics(),
                                 threading.Event())
    yield store, runner, dispatcher
    pool.shutdown()
    store.close()


def put(store, *events: tuple[str, str, dict]) -> None:
    store.store_events([("tt", eid, topic, json.dumps(body).encode(), {}) for eid, topic, body in events])


def test_a_burst_is_one_run_per_flow(setup):
    store, runner, dispatcher = setup
    put(store, *[(str(i), "ORDER", {"n": i}) for i in range(5)], ("p", "PRODUCT", {"p": 1}))
    assert dispatcher.once()
    assert sorted((flow, len(payloads)) for flow, payloads in runner.calls) == [("catalog", 1), ("listing", 1),
                                                                               ("orders", 5)]
    assert store.event_counts()["done"] == 6
    assert store.get_event("tt", "p")["outcome"]["flows_done"] == ["catalog", "listing"]
    assert not dispatcher.once()


def test_an_event_no_flow_takes_is_done_with_a_note(setup):
    store, runner, dispatcher = setup
    put(store, ("x", "SELLER_DEAUTHORIZATION", {}))
    dispatcher.once()
    event = store.get_event("tt", "x")
    assert event["status"] == "done" and "no flow" in event["outcome"]["note"] and not runner.calls


def test_a_busy_flow_puts_its_events_back_without_an_attempt(setup):
    store, runner, dispatcher = setup
    runner.plan["orders"] = "busy"
    put(store, ("1", "ORDER", {}))
    dispatcher.once()
    event = store.get_event("tt", "1")
    assert (event["status"], event["attempts"], event["not_before"] is not None) == ("pending", 0, True)


def test_a_failure_is_retried_alone_with_backoff_and_only_for_the_flows_that_failed(setup):
    store, runner, dispatcher = setup
    runner.plan["catalog"] = "failed"
    put(store, ("p", "PRODUCT", {"p": 1}), ("q", "PRODUCT", {"p": 2}))
    dispatcher.once()
    event = store.get_event("tt", "p")
    assert event["status"] == "pending" and event["attempts"] == 1 and "catalog said failed" in event["error"]
    assert event["outcome"]["flows_done"] == ["listing"]
    assert event["not_before"] > event["received_at"]
    with store._write() as conn:  # the backoff is over
        conn.execute("UPDATE inbound_event SET not_before=NULL")
    runner.calls.clear()
    runner.plan["catalog"] = "ok"
    dispatcher.once()
    assert runner.calls == [("catalog", [{"p": 1}]), ("catalog", [{"p": 2}])]  # each alone; listing not again
    assert store.event_counts()["done"] == 2


def test_a_poison_event_reaches_the_dead_letter_queue_and_leaves_the_others_alone(setup):
    store, runner, dispatcher = setup
    runner.plan["orders"] = lambda payloads: "failed" if {"poison": True} in payloads else "ok"
    put(store, ("bad", "ORDER", {"poison": True}), ("good", "ORDER", {"poison": False}))
    for _ in range(3):
        dispatcher.once()
        with store._write() as conn:
            conn.execute("UPDATE inbound_event SET not_before=NULL")
    assert store.get_event("tt", "good")["status"] == "done"
    bad = store.get_event("tt", "bad")
    assert bad["status"] == "failed" and bad["attempts"] == 3
    letters = store.list_dead_letters(merchant="acme", flow="webhooks")
    assert [(x["key"], x["entity"], x["payload"]) for x in letters] == [("tt:bad", "event", {"poison": True})]
    assert letters[0]["error"]["message"] == "flow orders: orders said failed (after 3 attempts)"
    assert not store.list_dead_letters(merchant="acme", flow="orders")  # never replayed as an order


def test_an_event_that_cannot_be_read_is_dead_lettered_at_once(setup):
    store, runner, dispatcher = setup
    store.store_events([("tt", "x", "ORDER", b"not json", {})])
    dispatcher.once()
    assert store.get_event("tt", "x")["status"] == "failed" and not runner.calls
    letter = store.list_dead_letters(merchant="acme", flow="webhooks")[0]
    assert letter["payload"] == {"raw": "not json"} and "not JSON" in letter["error"]["message"]


def test_claims_of_a_killed_server_are_taken_back_at_start(setup):
    import socket

    store, runner, dispatcher = setup
    put(store, ("1", "ORDER", {}))
    store.claim_events(10, f"{socket.gethostname()}/999999999/serve-dead", 600)  # no such process
    store.store_events([("tt", "2", "ORDER", b"{}", {})])
    store.claim_events(10, "elsewhere/1/serve-alive", 600)  # another machine's: left alone
    assert dispatcher.take_back_orphans() == 1
    assert [e["event_id"] for e in store.claim_events(10, "me", 60)] == ["1"]
