"""The generic engine capabilities the Rithum connector needed, tested on their own: query
parameters written as filter expressions (each/join/template/combine), a concurrency cap on the
token bucket, and entities a system keeps embedded in others."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import httpx

from engine.flow.resolve import capabilities
from engine.flow.steps.read import format_param, put_param
from engine.http import Connection
from engine.http.ratelimit import build_limiter


def test_values_are_written_as_a_filter_expression():
    spec = {"each": "ID eq {value}", "join": " or ", "template": "IsParent eq false and ({value})"}
    assert format_param(spec, ["1", "2"]) == "IsParent eq false and (ID eq 1 or ID eq 2)"
    assert format_param({}, ["1", "2"]) == "1,2"  # the default: a comma list, as before
    assert format_param({"join": "|"}, ["a", "b"]) == "a|b"


def test_a_bound_is_combined_with_the_reads_own_filter_or_replaces_it():
    query = {"$filter": "ShippingStatus eq 'Canceled'", "$expand": "Items"}
    combined = put_param(query, "$filter", "UpdatedDateUtc ge 2026-01-01T00:00:00Z", {"combine": " and "})
    assert combined == {"$filter": "(ShippingStatus eq 'Canceled') and (UpdatedDateUtc ge 2026-01-01T00:00:00Z)",
                        "$expand": "Items"}
    assert query["$filter"] == "ShippingStatus eq 'Canceled'"  # not changed in place
    assert put_param(query, "$filter", "x", {})["$filter"] == "x"
    assert put_param(None, "$filter", "x", {"combine": " and "}) == {"$filter": "x"}


def test_the_token_bucket_keeps_at_most_max_concurrent_calls_in_flight():
    limiter = build_limiter({"kind": "token_bucket", "rate": 1000, "burst": 1000, "max_concurrent": 3},
                            clock=time.monotonic, sleep=time.sleep)
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def call() -> None:
        limiter.acquire()
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        limiter.observe(200, {})

    threads = [threading.Thread(target=call) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert state["peak"] == 3 and state["now"] == 0


def test_without_max_concurrent_the_token_bucket_does_not_hold_calls_back():
    limiter = build_limiter({"kind": "token_bucket", "rate": 1000, "burst": 1000},
                            clock=time.monotonic, sleep=time.sleep)
    for _ in range(50):
        limiter.acquire()  # never released: no cap, no wait
    limiter.observe(200, {})


def test_an_embedded_entity_counts_as_served_for_a_role_that_pushes_it():
    connector = {"entities": {"customer": {"embedded": True}, "order": {"writes": {"create": {"operation": "x"}}},
                              "product": {"reads": {"all": {"operation": "y"}}}}}
    caps = capabilities(connector)
    assert caps["push"] == ["customer", "order"] and caps["pull"] == ["product"]


def test_a_declared_json_content_type_keeps_its_parameters():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["type"] = request.headers["content-type"]
        return httpx.Response(200, json={})

    spec = {"kind": "connector", "name": "odata_like", "base_url": "https://api.example.test",
            "credentials": ["access_token"], "auth": {"kind": "header_token", "header": "X-Key"},
            "headers": {"Content-Type": "application/json;IEEE754Compatible=true"},
            "operations": {"create": {"method": "POST", "path": "/things"}}}
    conn = Connection(spec, settings={}, credentials={"access_token": "t"}, transport=httpx.MockTransport(handler))
    conn.call("create", body={"Price": Decimal("1.10")})
    assert seen["type"] == "application/json;IEEE754Compatible=true"
    plain = Connection({**spec, "headers": {}}, settings={}, credentials={"access_token": "t"}, transport=httpx.MockTransport(handler))
    plain.call("create", body={"Price": Decimal("1.10")})
    assert seen["type"] == "application/json"
