"""Workers racing on one store (threads here; processes in the other files): every event is
claimed by exactly one of them, one open dead letter per record, one lease holder, whatever the
backend."""

from __future__ import annotations

import threading

from engine.state import open_store


def _run_threads(n: int, target) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def wrapped(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            target(i)
        except BaseException as exc:  # surfaced by the caller
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_each_event_is_claimed_by_one_worker(location):
    with open_store(location) as s:
        assert all(s.store_events([("shop", f"ev-{i}", "orders/create", b"{}", {}) for i in range(120)]))
        claimed: dict[str, list[str]] = {}
        lock = threading.Lock()

        def work(i: int) -> None:
            owner = f"w{i}"
            while batch := s.claim_events(7, owner, lease_seconds=60):
                for ev in batch:
                    with lock:
                        claimed.setdefault(ev["event_id"], []).append(owner)
                    assert s.finish_event(ev["source"], ev["event_id"], "done")

        assert _run_threads(6, work) == []
        assert sorted(claimed) == sorted(f"ev-{i}" for i in range(120))
        assert all(len(owners) == 1 for owners in claimed.values())
        assert s.event_counts("shop") == {"pending": 0, "processing": 0, "done": 120, "failed": 0}


def test_dead_letters_and_leases_under_contention(location):
    with open_store(location) as s:
        ids: list[int] = []
        won: list[int] = []

        def work(i: int) -> None:
            for _ in range(5):
                ids.append(s.add_dead_letter(None, "acme", "orders", "push", "order", "O-1", {"i": i}, "HTTP 500"))
            if s.acquire_lease("flow:acme:orders", f"w{i}", 60):
                won.append(i)

        assert _run_threads(6, work) == []
        assert len(set(ids)) == 1  # one open letter for the record, counted 30 times
        assert s.get_dead_letter(ids[0])["attempts"] == 30
        assert len(won) == 1
