"""The OAuth2 auth kinds (used by the Salesforce and commercetools connectors)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest
from http_helpers import Script

from engine.http import AuthError, Connection, MemoryTokenStore


def spec(kind: str, **options) -> dict:
    creds = ["client_id", "client_secret"] + (["refresh_token"] if kind == "oauth2_refresh_token" else [])
    return {"kind": "connector", "name": "crm", "base_url": "https://api.example.com", "credentials": creds,
            "auth": {"kind": kind, "token_url": "https://login.example.com/token", **options},
            "errors": [{"when": "status == `401`", "action": "refresh_auth"}],
            "operations": {"get": {"method": "GET", "path": "/x", "record": "x"}}}


def form(request: httpx.Request) -> dict:
    return dict(parse_qsl(request.content.decode()))


def test_client_credentials_token_is_cached_until_expiry(clock):
    issued = []

    def answer(request):
        if request.url.host == "login.example.com":
            issued.append(form(request))
            return httpx.Response(200, json={"access_token": f"tok-{len(issued)}", "expires_in": 3600})
        return httpx.Response(200, json={"x": request.headers["authorization"]})

    script = Script(answer)
    conn = Connection(spec("oauth2_client_credentials", scope="read write"), settings={},
                      credentials={"client_id": "cid", "client_secret": "csecret"},
                      transport=script.transport, clock=clock.time, sleep=clock.sleep)
    assert conn.call("get").record == "Bearer tok-1"
    assert conn.call("get").record == "Bearer tok-1"
    assert issued == [{"client_id": "cid", "client_secret": "csecret", "scope": "read write",
                       "grant_type": "client_credentials"}]
    clock.now += 3600
    assert conn.call("get").record == "Bearer tok-2"


def test_client_credentials_basic_auth_and_401_refresh(clock):
    tokens = iter(["t1", "t2"])

    def answer(request):
        if request.url.host == "login.example.com":
            assert request.headers["authorization"].startswith("Basic ")
            return httpx.Response(200, json={"access_token": next(tokens)})
        if request.headers["authorization"] == "Bearer t1":
            return httpx.Response(401)
        return httpx.Response(200, json={"x": "ok"})

    conn = Connection(spec("oauth2_client_credentials", client_auth="basic"), settings={},
                      credentials={"client_id": "cid", "client_secret": "csecret"},
                      transport=Script(answer).transport, clock=clock.time, sleep=clock.sleep)
    assert conn.call("get").record == "ok"


def test_refresh_token_rotation_is_persisted(clock):
    store = MemoryTokenStore()

    def answer(request):
        if request.url.host == "login.example.com":
            sent = form(request)["refresh_token"]
            n = int(sent.rsplit("-", 1)[1]) + 1
            return httpx.Response(200, json={"access_token": f"at-{n}", "refresh_token": f"rt-{n}",
                                             "expires_in": 60})
        return httpx.Response(200, json={"x": request.headers["authorization"]})

    def connect():
        return Connection(spec("oauth2_refresh_token"), settings={}, token_store=store,
                          credentials={"client_id": "cid", "client_secret": "cs", "refresh_token": "rt-0"},
                          transport=Script(answer).transport, clock=clock.time, sleep=clock.sleep)

    assert connect().call("get").record == "Bearer at-1"
    assert store.get("crm:crm")["refresh_token"] == "rt-1"
    clock.now += 120
    assert connect().call("get").record == "Bearer at-2"  # restarted, rotated token taken from the store
    assert store.get("crm:crm")["refresh_token"] == "rt-2"


def test_token_endpoint_failure_is_an_auth_error_without_secrets(clock):
    script = Script([httpx.Response(400, json={"error": "invalid_grant", "error_description": "bad grant rt-0000 for csecret9"})])
    conn = Connection(spec("oauth2_refresh_token"), settings={},
                      credentials={"client_id": "cid", "client_secret": "csecret9", "refresh_token": "rt-0000"},
                      transport=script.transport, clock=clock.time, sleep=clock.sleep)
    with pytest.raises(AuthError) as info:
        conn.call("get")
    assert "csecret9" not in str(info.value) and "rt-0000" not in str(info.value)
