"""The inbound-event part of the state store, as the webhook server uses it."""

from __future__ import annotations

import pytest

from engine.state import open_store
from engine.state.sqlite.events import content_event_id


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    with open_store(str(tmp_path / "state.db"), clock=clock) as s:
        yield s


def test_a_group_of_events_is_committed_together_and_redeliveries_are_not_stored(store):
    got = store.store_events([("tt", "1", "A", b"{}", {}), ("tt", "2", "A", b"{}", {}), ("tt", "1", "A", b"{}", {})])
    assert got == [True, True, False]
    assert store.event_counts() == {"pending": 2, "processing": 0, "done": 0, "failed": 0}


def test_an_event_without_a_delivery_id_is_keyed_by_its_body(store):
    assert store.store_event("shop", None, "orders/create", b'{"id":1}', {}) is True
    assert store.store_event("shop", None, "orders/create", b'{"id":1}', {}) is False
    assert store.store_event("shop", None, "orders/create", b'{"id":2}', {}) is True
    assert store.get_event("shop", content_event_id(b'{"id":1}'))["topic"] == "orders/create"


def test_secret_headers_are_dropped(store):
    store.store_event("tt", "1", "A", b"{}", {"Authorization": "sig", "Cookie": "c", "X-Topic": "t"})
    assert store.get_event("tt", "1")["headers"] == {"X-Topic": "t"}


def test_a_retry_waits_for_its_backoff_and_an_untried_event_keeps_its_attempts(store, clock):
    store.store_events([("tt", "1", "A", b"{}", {}), ("tt", "2", "A", b"{}", {})])
    claimed = store.claim_events(10, "w", 60)
    assert [e["attempts"] for e in claimed] == [1, 1]
    assert store.finish_event("tt", "1", "retry", "HTTP 503", retry_in=30, outcome={"flows_done": ["x"]})
    assert store.finish_event("tt", "2", "retry", None, count_attempt=False)
    assert [e["event_id"] for e in store.claim_events(10, "w", 60)] == ["2"]  # 1 waits for its backoff
    assert store.get_event("tt", "2")["attempts"] == 1  # the first claim was not counted
    clock.now += 31
    again = store.claim_events(10, "w", 60)
    assert [(e["event_id"], e["attempts"], e["outcome"]) for e in again] == [("1", 2, {"flows_done": ["x"]})]
    assert store.get_event("tt", "1")["error"] == "HTTP 503"


def test_claims_of_a_gone_worker_can_be_handed_back_and_keep_their_attempts(store):
    store.store_events([("tt", "1", "A", b"{}", {})])
    store.claim_events(10, "host/1/dead", 600)
    assert store.claim_events(10, "other", 600) == []
    assert store.event_claim_owners() == ["host/1/dead"]
    assert store.event_backlog() == {"tt": {"pending": 0, "processing": 1, "oldest": store.get_event("tt", "1")["received_at"]}}
    assert store.release_event_claims("host/1/dead") == 1
    assert [e["attempts"] for e in store.claim_events(10, "other", 600)] == [2]


def test_renewing_claims_keeps_them_from_expiring(store, clock):
    store.store_events([("tt", "1", "A", b"{}", {})])
    store.claim_events(10, "w", 60)
    clock.now += 50
    assert store.renew_event_claims("w", 60) == 1
    clock.now += 50
    assert store.claim_events(10, "thief", 60) == []
    clock.now += 11
    assert len(store.claim_events(10, "thief", 60)) == 1


def test_a_poison_event_goes_to_the_dead_letter_queue(store):
    store.store_events([("tt", "1", "ORDER_STATUS_CHANGE", b'{"type":1}', {})])
    store.claim_events(10, "w", 60)
    letter = store.dead_letter_event("tt", "1", "acme", "orders", {"type": 1}, "flow orders: boom")
    assert store.get_event("tt", "1")["status"] == "failed"
    found = store.get_dead_letter(letter)
    assert (found["flow"], found["entity"], found["key"], found["payload"]) == ("orders", "event", "tt:1", {"type": 1})
    assert found["error"]["message"] == "flow orders: boom"
