"""Per-SKU stock locks: all of a listing's SKUs or none, leases that a dead holder frees, and the
serialization every inventory writer relies on (threads and processes)."""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest

from engine.state import LockTimeout, StateError, open_store
from tests.state.test_sqlite_store import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(make_store, clock):
    return make_store(clock=clock)


def test_all_or_none(store):
    assert store.acquire_stock_locks("shop", ["A", "B"], "w1", 30)
    # w2 wants B and C: B is held, so C is not taken either.
    assert not store.acquire_stock_locks("shop", ["C", "B"], "w2", 30)
    assert set(store.stock_lock_holders("shop", ["A", "B", "C"])) == {"A", "B"}
    assert store.acquire_stock_locks("shop", ["A"], "w1", 30)  # the holder may take its own again
    assert store.acquire_stock_locks("other-shop", ["A"], "w2", 30)  # another source's SKU A
    assert store.release_stock_locks("shop", ["A", "B", "C"], "w2") == 0  # not w2's
    assert store.release_stock_locks("shop", ["A", "B"], "w1") == 2
    assert store.acquire_stock_locks("shop", ["C", "B"], "w2", 30)


def test_a_dead_holder_frees_its_locks_when_the_lease_runs_out(store, clock):
    assert store.acquire_stock_locks("shop", ["A"], "crashed", 30)
    with pytest.raises(LockTimeout, match="held: A"):
        with store.stock_locks("shop", ["A", "B"], "w2", ttl=30, wait_seconds=0.05):
            pass
    assert store.stock_lock_holders("shop", ["B"]) == {}  # nothing half-taken
    clock.advance(31)
    with store.stock_locks("shop", ["A", "B"], "w2", ttl=30, wait_seconds=0.05):
        assert {lease["owner"] for lease in store.stock_lock_holders("shop", ["A", "B"]).values()} == {"w2"}
        assert store.renew_stock_locks("shop", ["A", "B"], "w2", 30)
    assert store.stock_lock_holders("shop", ["A", "B"]) == {}
    assert not store.renew_stock_locks("shop", ["A"], "w2", 30)


def test_bad_skus_are_refused(store):
    with pytest.raises(StateError):
        store.acquire_stock_locks("shop", ["A", ""], "w1", 30)
    assert store.acquire_stock_locks("shop", [], "w1", 30)  # nothing to hold


def test_stock_and_paused_listings_are_typed_parts(store):
    assert store.get_stock("tiktok_us", "A") is None
    store.set_stock("tiktok_us", "A", {"salable": 3, "warehouses": {"W1": 3}})
    assert store.get_stock("tiktok_us", "A") == {"salable": 3, "warehouses": {"W1": 3}}
    assert store.get_stock("tiktok_gb", "A") is None
    store.set_stock_paused("tiktok_us", "P1", {"at": "now"})
    assert store.get_stock_paused("tiktok_us", "P1") == {"at": "now"}
    store.set_stock_paused("tiktok_us", "P1", None)
    assert store.get_stock_paused("tiktok_us", "P1") is None


def test_locks_serialize_read_compute_write_across_threads(location):
    """Eight writers each move units between two SKUs of one listing, holding both locks: a lost
    update would change the total."""
    with open_store(location) as s:
        s.set_stock("shop", "A", {"salable": 100})
        s.set_stock("shop", "B", {"salable": 100})

        def move(i: int) -> None:
            for _ in range(10):
                with s.stock_locks("shop", ["B", "A"], f"t{i}", wait_seconds=60, poll_seconds=0.001):
                    a, b = s.get_stock("shop", "A")["salable"], s.get_stock("shop", "B")["salable"]
                    s.set_stock("shop", "A", {"salable": a - 1})
                    s.set_stock("shop", "B", {"salable": b + 1})

        threads = [threading.Thread(target=move, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert s.get_stock("shop", "A") == {"salable": 20} and s.get_stock("shop", "B") == {"salable": 180}


def _bump(path: str, sku: str, rounds: int) -> None:
    with open_store(path) as s:
        for _ in range(rounds):
            with s.stock_locks("shop", [sku], f"pid{os.getpid()}", wait_seconds=60, poll_seconds=0.001):
                n = s.get_stock("shop", sku)["salable"]
                s.set_stock("shop", sku, {"salable": n + 1})


def test_locks_serialize_processes(location):
    path = location
    with open_store(path) as s:
        s.set_stock("shop", "A", {"salable": 0})
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_bump, args=(path, "A", 15)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert all(w.exitcode == 0 for w in workers)
    with open_store(path) as s:
        assert s.get_stock("shop", "A") == {"salable": 45}
