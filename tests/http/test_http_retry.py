"""Retry, backoff, Retry-After and error classification, with an injected sleep."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from http_helpers import Script

from engine.http import (
    AuthError,
    Connection,
    HttpCallError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationFailedError,
)
from engine.http.retry import RetryPolicy, parse_retry_after


def spec(**retry) -> dict:
    return {
        "kind": "connector",
        "name": "demo",
        "base_url": "https://api.example.com/v1",
        "credentials": ["access_token"],
        "auth": {"kind": "shopify_access_token", "header": "X-Token"},
        "retry": {"max_attempts": 4, "base_delay": 1.0, "max_delay": 8, "jitter": 0, **retry},
        "request_id": 'headers."x-request-id"',
        "errors": [
            {"when": "body.code == `7`", "action": "retry", "message": "body.message", "code": "body.code"},
            {"when": "body.code == `8`", "action": "rate_limited", "message": "body.message", "code": "body.code"},
            {"when": "status == `422`", "action": "fail", "message": "body.errors", "error": "validation"},
            {"when": "body.ignored", "action": "ok"},
        ],
        "operations": {
            "get": {"method": "GET", "path": "/things/{id}", "record": "thing"},
            "create": {"method": "POST", "path": "/things", "record": "thing"},
            "create_idem": {"method": "POST", "path": "/things", "idempotency": {"in": "header", "field": "Idem-Key"}},
        },
    }


def connect(script, clock, **retry) -> Connection:
    return Connection(spec(**retry), settings={}, credentials={"access_token": "tok-secret-1"},
                      transport=script.transport, clock=clock.time, sleep=clock.sleep, rng=random.Random(1))


def test_retry_after_seconds_is_honoured_over_smaller_backoff(clock):
    script = Script([httpx.Response(429, headers={"Retry-After": "2.5"}), httpx.Response(200, json={"thing": 1})])
    assert connect(script, clock).call("get", path_params={"id": 1}).record == 1
    assert clock.sleeps == [2.5]


def test_rate_limited_waits_max_of_retry_after_and_backoff(clock):
    script = Script([httpx.Response(429, headers={"Retry-After": "0.5"})] * 3 + [httpx.Response(200, json={})])
    connect(script, clock).call("get", path_params={"id": 1})
    assert clock.sleeps == [1.0, 2.0, 4.0]  # backoff beats the short Retry-After


def test_retry_after_http_date(clock):
    when = datetime.fromtimestamp(clock.now + 30, tz=UTC)
    script = Script([httpx.Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)}),
                     httpx.Response(200, json={})])
    connect(script, clock).call("get", path_params={"id": 1})
    assert clock.sleeps == [30.0]


def test_body_classified_retry_and_rate_limit(clock):
    script = Script([httpx.Response(200, json={"code": 7, "message": "busy"}),
                     httpx.Response(200, json={"code": 8, "message": "slow"}, headers={"Retry-After": "3"}),
                     httpx.Response(200, json={"code": 0, "thing": "x"})])
    resp = connect(script, clock).call("get", path_params={"id": 1})
    assert resp.record == "x" and resp.attempts == 3
    assert clock.sleeps == [1.0, 3.0]


def test_gives_up_after_max_attempts_with_typed_error(clock):
    script = Script([httpx.Response(429, headers={"x-request-id": "r-9"})] * 4)
    with pytest.raises(RateLimitedError) as info:
        connect(script, clock).call("get", path_params={"id": 1})
    err = info.value
    assert err.retryable and err.status == 429 and err.request_id == "r-9" and err.op == "get"
    assert len(script.requests) == 4 and clock.sleeps == [1.0, 2.0, 4.0]


def test_server_error_exhausted(clock):
    script = Script([httpx.Response(502)] * 4)
    with pytest.raises(ServerError) as info:
        connect(script, clock).call("get", path_params={"id": 1})
    assert info.value.retryable


def test_backoff_is_capped_and_jittered():
    policy = RetryPolicy(base_delay=1, max_delay=60, jitter=0.5)
    rng = random.Random(3)
    delays = [policy.backoff(n, rng) for n in range(1, 10)]
    assert all(min(2 ** (n - 1), 60) <= d <= min(2 ** (n - 1), 60) + 0.5 for n, d in zip(range(1, 10), delays, strict=True))


def test_timeouts_are_retried_when_configured(clock):
    script = Script([httpx.ReadTimeout("slow"), httpx.Response(200, json={"thing": 2})])
    assert connect(script, clock).call("get", path_params={"id": 1}).record == 2
    script = Script([httpx.ReadTimeout("slow")])
    with pytest.raises(TransportError):
        connect(script, clock, retry_on_timeout=False).call("get", path_params={"id": 1})


def test_non_idempotent_create_is_not_resent_after_unknown_outcome(clock):
    for failure in (httpx.Response(500), httpx.ReadTimeout("lost")):
        script = Script([failure, httpx.Response(201, json={"thing": 1})])
        with pytest.raises(HttpCallError):
            connect(script, clock).call("create", body={"a": 1})
        assert len(script.requests) == 1


def test_non_idempotent_create_is_resent_when_surely_not_processed(clock):
    script = Script([httpx.ConnectError("refused"), httpx.Response(429), httpx.Response(201, json={"thing": 1})])
    assert connect(script, clock).call("create", body={"a": 1}).record == 1
    assert len(script.requests) == 3


def test_idempotency_header_makes_create_retryable(clock):
    script = Script([httpx.Response(500), httpx.Response(201, json={})])
    connect(script, clock).call("create_idem", body={"a": 1}, idempotency_key="abc")
    assert [r.headers["idem-key"] for r in script.requests] == ["abc", "abc"]


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        (httpx.Response(401, json={"errors": "Invalid API key"}), AuthError),
        (httpx.Response(404, json={"errors": "Not Found"}), NotFoundError),
        (httpx.Response(422, json={"errors": {"title": ["can't be blank"]}}), ValidationFailedError),
    ],
)
def test_status_errors_are_typed_and_not_retried(clock, response, cls):
    script = Script([response])
    with pytest.raises(cls) as info:
        connect(script, clock).call("get", path_params={"id": 1})
    assert len(script.requests) == 1 and not info.value.retryable
    assert info.value.body is not None


def test_ok_rule_accepts_a_non_2xx(clock):
    script = Script([httpx.Response(409, json={"ignored": True})])
    assert connect(script, clock).call("get", path_params={"id": 1}).status == 409


def test_secrets_never_in_error_messages(clock):
    script = Script([httpx.Response(400, json={"message": "bad token tok-secret-1"})])
    with pytest.raises(HttpCallError) as info:
        connect(script, clock).call("get", path_params={"id": "x"}, query={"sign": "abcdef", "access_token": "zzz1"})
    text = str(info.value)
    assert "tok-secret-1" not in text and "abcdef" not in text and "zzz1" not in text
    assert "sign=***" in text


def test_parse_retry_after_edge_cases():
    assert parse_retry_after(None, 0) is None
    assert parse_retry_after("garbage", 0) is None
    assert parse_retry_after("-3", 0) == 0.0
    assert parse_retry_after("2.0", 0) == 2.0
