"""Proactive limiters with a fake clock: waits happen before sending, per connection."""

from __future__ import annotations

import httpx
from http_helpers import FakeClock, Script

from engine.http import Connection
from engine.http.ratelimit import LeakyBucketHeader, TokenBucket


def test_token_bucket_bursts_then_paces():
    clock = FakeClock()
    bucket = TokenBucket({"kind": "token_bucket", "rate": 10, "per_seconds": 1, "burst": 5},
                         clock=clock.time, sleep=clock.sleep)
    for _ in range(5):
        assert bucket.acquire() == 0
    waits = [bucket.acquire() for _ in range(5)]
    assert all(abs(w - 0.1) < 1e-5 for w in waits)


def test_leaky_bucket_waits_before_overflow_and_follows_header():
    clock = FakeClock()
    bucket = LeakyBucketHeader({"kind": "leaky_bucket_header", "bucket_size": 40, "leak_per_second": 2,
                                "headroom": 2, "header": "X-Shopify-Shop-Api-Call-Limit"}, clock=clock.time, sleep=clock.sleep)
    for _ in range(38):
        assert bucket.acquire() == 0
        bucket.observe(200, {})
    assert bucket.acquire() == 0.5  # 39th would pass 38: wait for one slot to leak
    bucket.observe(200, {})
    # The server says the bucket is nearly empty (another process stopped using it): trust it.
    bucket.observe(200, {"X-Shopify-Shop-Api-Call-Limit": "3/40"})
    assert bucket.level <= 3
    # A bigger plan bucket is learned from the header.
    bucket.acquire()
    bucket.observe(200, {"x-shopify-shop-api-call-limit": "4/80"})
    assert bucket.size == 80


def test_penalty_after_429_holds_back_without_double_wait():
    clock = FakeClock()
    bucket = TokenBucket({"kind": "token_bucket", "rate": 100}, clock=clock.time, sleep=clock.sleep)
    bucket.penalize(3)
    assert bucket.acquire() == 3


def test_limiters_are_per_connection():
    spec = {"kind": "connector", "name": "demo", "base_url": "https://api.example.com", "credentials": ["access_token"],
            "auth": {"kind": "shopify_access_token"}, "rate_limit": {"kind": "token_bucket", "rate": 1, "burst": 1},
            "operations": {"get": {"method": "GET", "path": "/x"}}}
    clocks = [FakeClock(), FakeClock()]
    conns = [Connection(spec, settings={}, credentials={"access_token": "t"}, clock=c.time, sleep=c.sleep,
                        transport=Script(lambda r: httpx.Response(200, json={})).transport) for c in clocks]
    for _ in range(3):
        conns[0].call("get")
    conns[1].call("get")
    assert clocks[0].sleeps == [1.0, 1.0] and clocks[1].sleeps == []
