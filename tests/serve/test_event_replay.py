"""Dead-lettered webhook events replayed (`connector dlq replay MERCHANT webhooks`): processed again
through the flows they trigger, minus those they went through; a payload fixed by hand replaces
the stored bytes, an unchanged (redacted) copy never does; a second failure updates the same dead
letter; old finished events are purged, unfinished ones never."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from engine.serve.replay import replay_dead_lettered_events
from engine.serve.routing import Routes
from engine.state import open_store
from engine.state.store import utc_rfc3339
from tests.serve.test_serve_workers import FakeRunner


@pytest.fixture
def store(tmp_path):
    store = open_store(str(tmp_path / "state.db"))
    yield store
    store.close()


ROUTES = Routes("acme", {("tt", "ORDER"): ("orders", "stock")})


def dead(store, event_id: str, body: dict, *, flows_done: list[str] | None = None) -> int:
    store.store_events([("tt", event_id, "ORDER", json.dumps(body).encode(), {})])
    store.claim_events(10, "w", 60)
    store.finish_event("tt", event_id, "retry", "x", outcome={"flows_done": flows_done or []})
    store.claim_events(10, "w", 60)
    return store.dead_letter_event("tt", event_id, "acme", "webhooks", body, "flow orders: the shop was down")


def test_a_replayed_event_runs_the_flows_it_had_not_gone_through_and_closes_its_letter(store):
    letter = dead(store, "e1", {"order_id": "1"}, flows_done=["stock"])
    runner = FakeRunner()
    merchant = SimpleNamespace(name="acme", store=store)
    results = replay_dead_lettered_events(merchant, routes=ROUTES, runner=runner)
    assert [(r.letter_id, r.status) for r in results] == [(letter, "done")]
    assert runner.calls == [("orders", [{"order_id": "1"}])]  # stock had taken it already
    assert store.get_event("tt", "e1")["status"] == "done"
    row = store.get_dead_letter(letter)
    assert row["status"] == "replayed" and row["replay_ok"]
    assert store.list_dead_letters(merchant="acme", flow="webhooks") == []
    # replayed once: a second replay finds nothing
    assert replay_dead_lettered_events(merchant, routes=ROUTES, runner=runner) == []


def test_a_failing_replay_keeps_one_open_letter_with_the_new_error(store):
    letter = dead(store, "e1", {"order_id": "1"})
    runner = FakeRunner()
    runner.plan["orders"] = "failed"
    merchant = SimpleNamespace(name="acme", store=store)
    results = replay_dead_lettered_events(merchant, routes=ROUTES, runner=runner)
    assert [(r.status, "orders said failed" in r.error) for r in results] == [("failed", True)]
    letters = store.list_dead_letters(merchant="acme", flow="webhooks")
    assert [x["id"] for x in letters] == [letter]
    assert letters[0]["attempts"] == 2 and "orders said failed" in letters[0]["error"]["message"]
    assert store.get_event("tt", "e1")["status"] == "failed"


def test_an_edited_payload_replaces_the_stored_bytes_and_an_unedited_one_does_not(store):
    first = dead(store, "e1", {"order_id": "1"})
    second = dead(store, "e2", {"order_id": "bad"})
    store.update_dead_letter_payload(second, {"order_id": "2"})
    runner = FakeRunner()
    merchant = SimpleNamespace(name="acme", store=store)
    results = replay_dead_lettered_events(merchant, routes=ROUTES, runner=runner)
    assert [r.status for r in results] == ["done", "done"]
    assert json.loads(store.get_event("tt", "e1")["payload_raw"]) == {"order_id": "1"}
    assert json.loads(store.get_event("tt", "e2")["payload_raw"]) == {"order_id": "2"}
    assert sorted(p["order_id"] for _, payloads in runner.calls for p in payloads if _ == "orders") == ["1", "2"]
    assert first < second


def test_only_the_given_letters_are_replayed(store):
    dead(store, "e1", {"order_id": "1"})
    second = dead(store, "e2", {"order_id": "2"})
    runner = FakeRunner()
    merchant = SimpleNamespace(name="acme", store=store)
    results = replay_dead_lettered_events(merchant, [second], routes=ROUTES, runner=runner)
    assert [r.key for r in results] == ["tt:e2"]
    assert store.get_event("tt", "e1")["status"] == "failed"


def test_purge_deletes_old_finished_events_only(store):
    store.store_events([("tt", str(i), "ORDER", b"{}", {}) for i in range(4)])
    store.claim_events(3, "w", 60)
    store.finish_event("tt", "0", "done")
    store.finish_event("tt", "1", "failed", "boom")
    # "2" is still processing and "3" pending
    assert store.purge_events(utc_rfc3339(0)) == 0  # nothing finished before 1970
    later = utc_rfc3339(4102444800)  # 2100
    assert store.purge_events(later) == 1
    assert store.get_event("tt", "0") is None and store.get_event("tt", "1")["status"] == "failed"
    assert store.purge_events(later, ("done", "failed")) == 1
    assert store.event_counts() == {"pending": 1, "processing": 1, "done": 0, "failed": 0}
    # a purged delivery id is free again: a late redelivery is stored anew
    assert store.store_event("tt", "0", "ORDER", b"{}", {})
