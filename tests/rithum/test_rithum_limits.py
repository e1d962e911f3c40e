"""Rithum's limits (4.3: 5 concurrent requests per integration, 2,000 requests per minute per
profile) against the simulator, through the connector spec's own rate limiter; and the OAuth
refresh when an access token stops working."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from engine.http import AuthError, Connection, RateLimitedError
from simulators.common import LoopbackServer
from simulators.rithum import DEFAULT_CREDENTIALS, create_app

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "connectors" / "rithum.yaml").read_text())
CREDENTIALS = {"client_id": DEFAULT_CREDENTIALS["application_id"],
               "client_secret": DEFAULT_CREDENTIALS["shared_secret"],
               "refresh_token": DEFAULT_CREDENTIALS["refresh_token"]}


@pytest.fixture
def server():
    with LoopbackServer(create_app(latency_seconds=0.05)) as srv:
        yield srv


def admin(server, method: str, path: str, **kwargs):
    import httpx

    response = httpx.request(method, f"{server.url}/_admin/{path}", timeout=10, **kwargs)
    response.raise_for_status()
    return response.json()


def connection(server, **changes) -> Connection:
    spec = {k: v for k, v in SPEC.items() if k != "$schema"}
    spec.update(changes)
    return Connection(spec, settings={"base_url": server.url, "token_url": f"{server.url}/oauth2/token"},
                      credentials=CREDENTIALS)


def hammer(conn: Connection, threads: int, calls: int) -> list[Exception]:
    errors: list[Exception] = []

    def work() -> None:
        for _ in range(calls):
            try:
                conn.call("list_distribution_centers")
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def test_the_connector_keeps_to_five_calls_in_flight(server):
    conn = connection(server)
    conn.call("list_distribution_centers")  # the token first, so every thread shares it
    errors = hammer(conn, threads=12, calls=3)
    stats = admin(server, "GET", "stats")
    assert not errors
    assert stats["requests"] == 37 and stats["throttled"] == 0, stats
    assert stats["peak_concurrency"] == 5  # the cap was reached, never passed


def test_the_simulator_refuses_a_sixth_concurrent_call_with_the_odata_error(server):
    conn = connection(server, rate_limit={"kind": "none"}, retry={"max_attempts": 1, "on_status": []})
    conn.call("list_distribution_centers")
    errors = hammer(conn, threads=12, calls=2)
    stats = admin(server, "GET", "stats")
    assert errors and all(isinstance(e, RateLimitedError) for e in errors)
    assert stats["throttled_concurrency"] == len(errors) and stats["throttled_rate"] == 0
    assert "at most 5 at a time" in str(errors[0])
    log = admin(server, "GET", "requests")["requests"]
    assert sum(r["status"] == 429 for r in log) == len(errors)


def test_the_per_minute_window_is_kept(server):
    # The window scaled down to half a second: 10 requests per window (the spec's 2,000 per 60 s).
    admin(server, "POST", "config", json={"requests_per_minute": 10, "window_seconds": 0.5, "latency_seconds": 0})
    conn = connection(server, rate_limit={"kind": "token_bucket", "rate": 9, "per_seconds": 0.5, "burst": 1,
                                          "max_concurrent": 5})
    started = time.monotonic()
    errors = hammer(conn, threads=4, calls=6)
    elapsed = time.monotonic() - started
    stats = admin(server, "GET", "stats")
    assert not errors and stats["throttled"] == 0, stats
    assert elapsed >= 1.0  # 25 calls at 10 per half second
    # Without the limiter the window refuses the excess.
    fast = connection(server, rate_limit={"kind": "none"}, retry={"max_attempts": 1, "on_status": []})
    refused = hammer(fast, threads=1, calls=15)
    assert refused and admin(server, "GET", "stats")["throttled_rate"] == len(refused)


def test_a_revoked_access_token_is_refreshed_once_and_the_call_resent(server):
    conn = connection(server)
    assert conn.call("list_distribution_centers").records
    admin(server, "POST", "tokens/revoke")
    page = conn.call("list_distribution_centers")
    assert [dc["Code"] for dc in page.records] == ["MAIN", "EAST"]
    stats = admin(server, "GET", "stats")
    assert stats["token_grants"] == 2 and stats["unauthorized"] == 1


def test_a_wrong_shared_secret_is_refused():
    with LoopbackServer(create_app()) as srv:
        conn = Connection({k: v for k, v in SPEC.items() if k != "$schema"},
                          settings={"base_url": srv.url, "token_url": f"{srv.url}/oauth2/token"},
                          credentials={**CREDENTIALS, "client_secret": "wrong"})
        with pytest.raises(AuthError, match="invalid_client") as failed:
            conn.call("list_distribution_centers")
        assert "wrong" not in str(failed.value)
