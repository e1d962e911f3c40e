"""The circuit breaker per connection: a down platform costs one retry chain, not one per record.

Fast: the HTTP runtime on a scripted transport with a fake clock; the run-level tests drive the
example merchant against the simulators with every TikTok request failing.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from engine.cli import exit_codes
from engine.flow.runner import FlowRun, Merchant
from engine.http import AuthError, Connection, ServerError
from engine.http.breaker import Breaker, BreakerPolicy, ConnectionDown, describe

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "http"))
from http_helpers import TT_CREDS, TT_SETTINGS, FakeClock, Script, load_spec, ok  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"


def connection(script: Script, clock: FakeClock, **policy) -> Connection:
    spec = load_spec("tiktok_shop")
    breaker = Breaker("tiktok_us", BreakerPolicy.from_spec(policy, max_attempts=6), clock=clock.time)
    return Connection(spec, settings=TT_SETTINGS, credentials=TT_CREDS, transport=script.transport,
                      clock=clock.time, sleep=clock.sleep, name="tiktok_us", breaker=breaker)


def test_the_default_threshold_outlasts_one_calls_retries():
    assert BreakerPolicy.from_spec({}, max_attempts=6).failures == 8
    assert BreakerPolicy.from_spec({"failures": 3}, {"cooldown": 5}).failures == 3
    assert BreakerPolicy.from_spec({"failures": 3}, {"failures": 4}).failures == 4  # the merchant's wins


def test_a_down_platform_costs_one_retry_chain_then_calls_fail_at_once():
    clock = FakeClock()
    script = Script(lambda request: httpx.Response(503))
    conn = connection(script, clock)
    with pytest.raises(ServerError):  # the first call spends its retries: 6 attempts
        conn.call("get_product", path_params={"product_id": "1"})
    assert len(script.requests) == 6
    with pytest.raises(ConnectionDown) as down:  # 2 more failures make 8 in a row: open, no more retries
        conn.call("get_product", path_params={"product_id": "2"})
    assert len(script.requests) == 8 and "tiktok_us is down (HTTP 503" in str(down.value)
    slept = sum(clock.sleeps)
    for n in range(50):  # every further call: nothing sent, no waiting
        with pytest.raises(ConnectionDown):
            conn.call("get_product", path_params={"product_id": str(n)})
    assert len(script.requests) == 8 and sum(clock.sleeps) == slept
    assert conn.breaker.snapshot()["state"] == "open"


def test_a_probe_after_the_cooldown_closes_it_and_a_failed_probe_reopens_it():
    clock = FakeClock()
    answers = {"status": 503}
    script = Script(lambda request: httpx.Response(answers["status"]) if answers["status"] != 200
                    else ok({"id": "1"}))
    conn = connection(script, clock, failures=2, cooldown=30)
    with pytest.raises(ConnectionDown):
        conn.call("get_product", path_params={"product_id": "1"})
    sent = len(script.requests)
    clock.now += 29
    with pytest.raises(ConnectionDown) as early:
        conn.call("get_product", path_params={"product_id": "1"})
    assert len(script.requests) == sent and "next probe in 1 s" in str(early.value)
    clock.now += 2
    with pytest.raises(ConnectionDown):  # the probe fails: open for another cooldown, no retry chain
        conn.call("get_product", path_params={"product_id": "1"})
    assert len(script.requests) == sent + 1 and conn.breaker.snapshot()["trips"] == 2
    answers["status"] = 200
    clock.now += 31
    assert conn.call("get_product", path_params={"product_id": "1"}).status == 200  # the probe closes it
    assert conn.breaker.snapshot()["state"] == "closed"
    assert describe(conn.breaker.snapshot()) == "closed"


def test_throttling_and_refusals_of_a_record_do_not_open_it():
    from engine.http import NotFoundError

    clock = FakeClock()
    script = Script([httpx.Response(429)] * 3 + [ok({})] + [httpx.Response(404)] * 3
                    + [httpx.Response(503)] * 5 + [ok({})] + [httpx.Response(503)] * 5 + [ok({})])
    conn = connection(script, clock, failures=6)
    conn.call("get_product", path_params={"product_id": "1"})  # a 429 burst: the platform is up
    for _ in range(3):
        with pytest.raises(NotFoundError):  # a record the platform does not know: it answered
            conn.call("get_product", path_params={"product_id": "2"})
    conn.call("get_product", path_params={"product_id": "3"})  # 5 failures, then a success resets the count
    conn.call("get_product", path_params={"product_id": "4"})  # 5 more: 10 failures, never 6 in a row
    assert conn.breaker.snapshot()["state"] == "closed" and len(script.requests) == 19


def test_refused_credentials_open_it_at_once_and_each_new_run_probes_once():
    clock = FakeClock()
    script = Script(lambda request: httpx.Response(401, json={"code": 401, "message": "forbidden"}))
    spec = load_spec("shopify")
    breaker = Breaker("shop", BreakerPolicy.from_spec({}, max_attempts=5), clock=clock.time)
    conn = Connection(spec, settings={"shop": "acme"}, credentials={"access_token": "shpat_breaker_test",
                                                                    "webhook_secret": "whsec-breaker-test"},
                      transport=script.transport, clock=clock.time, sleep=clock.sleep, breaker=breaker)
    with pytest.raises(AuthError):
        conn.call("get_product", path_params={"product_id": "1"})
    assert breaker.snapshot()["state"] == "open" and breaker.snapshot()["cause"] == "auth"
    with pytest.raises(ConnectionDown):
        conn.call("get_product", path_params={"product_id": "1"})
    sent = len(script.requests)
    breaker.new_run()  # a person fixed the credentials and runs again: one call probes
    with pytest.raises(AuthError):
        conn.call("get_product", path_params={"product_id": "1"})
    assert len(script.requests) == sent + 1
    assert "shpat_breaker_test" not in str(breaker.snapshot())


def test_a_breaker_left_open_by_another_process_is_open_here_too():
    clock = FakeClock()
    saved: list[dict] = []
    first = Breaker("tiktok_us", BreakerPolicy(failures=1, cooldown=60), clock=clock.time, persist=saved.append)
    first.failure("HTTP 503 at search_products")
    assert saved[-1]["state"] == "open"
    second = Breaker("tiktok_us", BreakerPolicy(failures=1, cooldown=60), clock=clock.time, initial=saved[-1])
    with pytest.raises(ConnectionDown):
        second.before()
    clock.now += 61
    second.before()  # the probe
    second.success()
    assert second.snapshot()["state"] == "closed"


# -- a run against a down platform ------------------------------------------------------------------


@pytest.fixture
def project(tmp_path):
    from simulators.sandbox import start_sandbox

    sandbox = start_sandbox(products=12, seed=5, max_variants=2, invalid_share=0.0)
    shutil.copytree(EXAMPLE, tmp_path / "acme")
    path = tmp_path / "acme" / "merchant.yaml"
    doc = yaml.safe_load(path.read_text())
    # A cooldown far longer than any set-up under load: the breaker stays open until the test
    # shortens it (figures are counted in calls at the simulator, never in seconds).
    doc["connections"]["tiktok_us"]["breaker"] = {"failures": 3, "cooldown": 600}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    yield sandbox, path
    sandbox.stop()


def test_a_run_against_a_down_platform_ends_quickly_and_letters_nothing(project):
    sandbox, path = project
    sandbox.admin("tiktok_shop", "POST", "faults", json={"error_rate": 1.0})
    sandbox.admin("tiktok_shop", "POST", "requests/clear")
    merchant = Merchant(path, environ=sandbox.environ())
    try:
        report = FlowRun(merchant, "catalog").run()
        assert report.status == "down" and exit_codes.for_report(report) == exit_codes.PLATFORM
        assert "connection tiktok_us is down" in report.error
        assert report.dead_letters == [] and merchant.store.list_dead_letters(merchant="acme") == []
        # Quickly, in calls: the breaker opened after its 3 failures and stopped the retries and
        # the rest of the run, where 12 products each retried 6 times would be 72 calls or more.
        sent = len(_tiktok_calls(sandbox))
        assert 3 <= sent <= 6, f"{sent} calls to a down platform"
        stored = merchant.store.get_breaker("tiktok_us")
        assert stored["state"] == "open" and stored["reason"].startswith("HTTP 5")

        # A second process (another `connector run`) sees it down and sends nothing.
        sandbox.admin("tiktok_shop", "POST", "requests/clear")
        other = Merchant(path, environ=sandbox.environ())
        try:
            again = FlowRun(other, "catalog").run()
            assert again.status == "down" and _tiktok_calls(sandbox) == []
        finally:
            other.close()
        assert merchant.store.get_breaker("tiktok_us") == stored  # no probe went: still the first trip

        from click.testing import CliRunner

        from engine.cli.main import main

        shown = CliRunner().invoke(main, ["runs", str(path)], env=sandbox.environ())
        assert "connection tiktok_us: open since" in " ".join(shown.output.split()), shown.output

        # The platform is back, and the cooldown is over (shortened in the merchant file, as a
        # consultant would): the first call probes, and everything syncs.
        sandbox.admin("tiktok_shop", "POST", "faults", json={"error_rate": 0.0})
        doc = yaml.safe_load(path.read_text())
        doc["connections"]["tiktok_us"]["breaker"]["cooldown"] = 0
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        merchant.close()
        merchant = Merchant(path, environ=sandbox.environ())
        report = FlowRun(merchant, "catalog").run()
        assert report.status == "ok", report.error
        assert merchant.store.get_breaker("tiktok_us")["state"] == "closed"
        assert report.counts.get("create", 0) == 12
    finally:
        merchant.close()


def test_healthz_shows_each_connections_breaker():
    from engine.serve.health import Health

    health = Health()
    health.add("acme", "tiktok_us")
    health.add("acme", "shopify")
    opened = {"state": "open", "opened_at": 1_700_000_000.0, "probe_after": 1_700_000_060.0,
              "reason": "HTTP 503 at search_products", "cause": "outage", "trips": 1}
    ok, body = health.report({}, {"acme": {"tiktok_us": opened, "shopify": None}})
    assert not ok
    tiktok, shop = body["merchants"]["acme"]["tiktok_us"], body["merchants"]["acme"]["shopify"]
    assert tiktok["ok"] is False and tiktok["breaker"]["state"] == "open"
    assert tiktok["breaker"]["since"] == "2023-11-14T22:13:20.000000Z" and tiktok["breaker"]["trips"] == 1
    assert shop["ok"] is True and shop["breaker"]["state"] == "closed"


def _tiktok_calls(sandbox) -> list[dict]:
    """The API calls the TikTok simulator received (token grants aside)."""
    return [r for r in sandbox.admin("tiktok_shop", "GET", "requests")["requests"]
            if "/authorization/" not in str(r.get("path", ""))]
