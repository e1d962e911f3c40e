"""A connection's call budget in PostgreSQL is shared by every worker: four callers, each with its
own limiter (as four worker processes have), send no more together than the limit allows."""

from __future__ import annotations

import threading
import time

from engine.http.ratelimit import SharedLimiter, build_limiter
from engine.state import open_store

RATE, BURST, CALLERS, CALLS = 20.0, 4, 4, 15


def test_four_callers_share_one_budget(postgres_url):
    stores = [open_store(postgres_url) for _ in range(CALLERS)]  # one per "worker", each its own pool
    sent: list[float] = []
    lock = threading.Lock()

    def caller(store) -> None:
        own = build_limiter({"kind": "token_bucket", "rate": RATE, "burst": BURST}, clock=time.monotonic,
                            sleep=time.sleep)
        limiter = SharedLimiter(own, store, "shop")
        for _ in range(CALLS):
            limiter.acquire()
            with lock:
                sent.append(time.monotonic())

    try:
        threads = [threading.Thread(target=caller, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for s in stores:
            s.close()
    sent.sort()
    assert len(sent) == CALLERS * CALLS
    # Alone, each caller's own bucket would let all 60 go in about 0.6 s; shared, they take the
    # limit's time: (60 - burst) / rate seconds.
    assert sent[-1] - sent[0] >= (len(sent) - BURST) / RATE - 0.1
    # No one-second window holds more than the rate plus the burst.
    most = max(sum(1 for t in sent[i:] if t < start + 1.0) for i, start in enumerate(sent))
    assert most <= RATE + BURST


def test_a_429_holds_every_worker(postgres_url):
    with open_store(postgres_url) as store:
        limiter = SharedLimiter(build_limiter({"kind": "token_bucket", "rate": 100}, clock=time.monotonic,
                                              sleep=lambda s: None), store, "shop")
        other = SharedLimiter(build_limiter({"kind": "token_bucket", "rate": 100}, clock=time.monotonic,
                                            sleep=lambda s: None), store, "shop")
        assert other.acquire() == 0.0
        limiter.penalize(2.0)  # one worker got a 429 with Retry-After: 2
        assert 1.5 < other.acquire() <= 2.1  # the other waits it out too
