"""The Order Management connector against the simulator, call by call: the token refreshed at the
org's URL and held to it, SOQL paging, quoting, the daily allocation, REQUEST_LIMIT_EXCEEDED and an
expired session."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from engine.http import AuthError, RateLimitedError
from engine.http.client import Connection
from simulators.common import LoopbackServer
from simulators.salesforce import DEFAULT_CREDENTIALS, create_app

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "connectors" / "salesforce_order_management.yaml")
                      .read_text())


@pytest.fixture
def org():
    server = LoopbackServer(create_app({"query_batch_size": 2})).start()
    seeded = httpx.post(f"{server.url}/_admin/seed", json={
        "products": [{"sku": f"SKU-{i}", "price": "5"} for i in range(5)],
        "accounts": [{"LastName": "Brien", "PersonEmail": "o'brien@example.com"}]}).json()
    yield server, seeded
    server.stop()


def connect(server, seeded, **settings) -> Connection:
    return Connection(SPEC, settings={"instance_url": server.url, "pricebook_id": seeded["pricebook_id"], **settings},
                      credentials=dict(DEFAULT_CREDENTIALS), sleep=lambda seconds: None)


def config(server, **values) -> None:
    httpx.post(f"{server.url}/_admin/config", json=values).raise_for_status()


def calls(server) -> list[dict]:
    return httpx.get(f"{server.url}/_admin/requests").json()["requests"]


def test_soql_pages_follow_next_records_url(org):
    server, seeded = org
    with connect(server, seeded) as conn:
        entries = list(conn.records("list_pricebook_entries"))
    assert sorted(e["Product2"]["StockKeepingUnit"] for e in entries) == [f"SKU-{i}" for i in range(5)]
    paths = [c["path"] for c in calls(server)]
    assert paths.count("/query") == 1 and sum(p.startswith("/query/") for p in paths) == 2


def test_a_quote_in_a_value_stays_inside_the_literal(org):
    server, seeded = org
    with connect(server, seeded) as conn:
        found = list(conn.records("find_accounts", query={"email": "o'brien@example.com"}))
    assert [a["PersonEmail"] for a in found] == ["o'brien@example.com"]
    sent = [c["query"]["q"] for c in calls(server) if c["path"] == "/query"][0]
    assert sent.endswith("WHERE PersonEmail = 'o\\'brien@example.com'") and "email" not in calls(server)[-1]["query"]


def test_a_token_answer_for_another_org_is_refused(org):
    server, seeded = org
    config(server, instance_url="https://other-org.my.salesforce.com")
    with connect(server, seeded) as conn, pytest.raises(AuthError) as caught:
        list(conn.records("list_pricebook_entries"))
    text = str(caught.value)
    assert "https://other-org.my.salesforce.com" in text and server.url in text
    assert not any(c["path"] == "/query" for c in calls(server))  # no call went out with that token


def test_the_daily_allocation_is_not_used_up(org):
    server, seeded = org
    config(server, daily_limit=100, api_usage=88)
    with connect(server, seeded) as conn:
        list(conn.records("find_accounts", query={"email": "x@example.com"}))  # answers api-usage=89/100
        list(conn.records("find_accounts", query={"email": "x@example.com"}))  # 90/100: the last 10% is left
        sent = len(calls(server))
        with pytest.raises(RateLimitedError, match="90 of 100"):
            list(conn.records("find_accounts", query={"email": "x@example.com"}))
    assert len(calls(server)) == sent  # refused before sending


def test_request_limit_exceeded_is_retried_as_a_rate_limit(org):
    server, seeded = org
    config(server, limit_exceeded_burst=2)
    with connect(server, seeded) as conn:
        assert len(list(conn.records("find_accounts", query={"email": "o'brien@example.com"}))) == 1
    config(server, limit_exceeded_burst=10)
    with connect(server, seeded) as conn, pytest.raises(RateLimitedError, match="REQUEST_LIMIT_EXCEEDED"):
        list(conn.records("find_accounts", query={"email": "o'brien@example.com"}))


def test_an_expired_session_is_refreshed_once(org):
    server, seeded = org
    with connect(server, seeded) as conn:
        list(conn.records("find_accounts", query={"email": "a@example.com"}))
        config(server, expire_tokens=True)
        list(conn.records("find_accounts", query={"email": "a@example.com"}))
    grants = [c for c in calls(server) if c["path"] == "/services/oauth2/token"]
    assert [g["grant_type"] for g in grants] == ["refresh_token", "refresh_token"]


def test_the_sandbox_serves_the_salesforce_simulators_on_request():
    from simulators.sandbox import start_sandbox

    with start_sandbox(products=0, salesforce=True) as sandbox:
        env = sandbox.salesforce_environ()
        token = httpx.post(f"{env['ACME_SF_URL']}/services/oauth2/token", data={
            "grant_type": "refresh_token", "client_id": env["ACME_SF_CLIENT_ID"],
            "client_secret": env["ACME_SF_CLIENT_SECRET"], "refresh_token": env["ACME_SF_REFRESH_TOKEN"]}).json()
        assert token["instance_url"] == env["ACME_SF_URL"]
        cc = httpx.post(env["ACME_SFCC_TOKEN_URL"], data={"grant_type": "client_credentials",
                                                          "scope": "SALESFORCE_COMMERCE_API:zzxy_prd sfcc.products"},
                        auth=(env["ACME_SFCC_AM_CLIENT_ID"], env["ACME_SFCC_AM_CLIENT_PASSWORD"]))
        assert cc.status_code == 200 and cc.json()["expires_in"] == 1799
    with start_sandbox(products=0) as sandbox:
        assert "salesforce" not in sandbox.urls


def test_a_short_quota_is_read_again_after_a_while():
    from engine.http.ratelimit import build_limiter

    now = [1000.0]
    limiter = build_limiter({"kind": "usage_quota_header", "rate": 100, "header": "Sforce-Limit-Info",
                             "pattern": r"api-usage=(?P<used>\d+)/(?P<max>\d+)", "recheck_seconds": 60},
                            clock=lambda: now[0], sleep=lambda s: None)
    limiter.observe(200, {"Sforce-Limit-Info": "api-usage=95/100"})
    with pytest.raises(RateLimitedError):
        limiter.acquire()
    now[0] += 61
    limiter.acquire()  # one call goes through to read the header again
    limiter.observe(200, {"Sforce-Limit-Info": "api-usage=40/100"})  # the rolling window freed some
    limiter.acquire()
