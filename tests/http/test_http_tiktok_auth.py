"""TikTok Shop auth through the real connector spec: signing, shop_cipher, refresh and rotation."""

from __future__ import annotations

import threading
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from http_helpers import TT_CREDS, TT_SETTINGS, Script, body_json, ok, tt_error

from engine.http import AuthError, Connection, MemoryTokenStore, compile_connector
from engine.platforms.tiktok_shop import tiktok_sign


def query_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))


def connect(spec, script, clock, **kw) -> Connection:
    return Connection(spec, settings=kw.pop("settings", TT_SETTINGS), credentials=kw.pop("credentials", TT_CREDS),
                      transport=script.transport, clock=clock.time, sleep=clock.sleep, **kw)


def assert_signed(request: httpx.Request, secret: str = TT_CREDS["app_secret"]) -> None:
    q = query_of(request)
    expected = tiktok_sign(secret, request.url.path, q, request.content, request.headers.get("content-type"))
    assert q["sign"] == expected


def test_signs_exact_body_bytes_sent_with_token_header_and_cipher(tiktok_spec, clock):
    script = Script([ok({"products": [], "next_page_token": ""})])
    conn = connect(tiktok_spec, script, clock)
    body = {"status": "ACTIVATE", "seller_skus": ["A-1"], "note": "ünïcode", "price": Decimal("12.50")}
    list(conn.paginate("search_products", body=body))
    (req,) = script.requests
    q = query_of(req)
    assert q["app_key"] == "appkey123" and q["timestamp"] == str(int(clock.now))
    assert q["shop_cipher"] == "ROW_cipher1" and q["page_size"] == "100"
    assert req.headers["x-tts-access-token"] == "AT-initial-0001"
    assert "access_token" not in q
    # The body is compact UTF-8 JSON with Decimal as a string, and the sign covers those bytes.
    assert req.content == '{"status":"ACTIVATE","seller_skus":["A-1"],"note":"ünïcode","price":"12.50"}'.encode()
    assert_signed(req)


def test_get_has_no_body_and_json_content_type(tiktok_spec, clock):
    script = Script([ok({"warehouses": [{"id": "w1"}]})])
    records = list(connect(tiktok_spec, script, clock).records("get_warehouses"))
    assert records == [{"id": "w1"}]
    req = script.requests[0]
    assert req.content == b"" and req.headers["content-type"] == "application/json"
    assert_signed(req)


@pytest.mark.parametrize(
    ("op", "kwargs", "scoped"),
    [
        ("authorization_shops", {}, False),
        ("create_brand", {"body": {"name": "Acme"}}, False),
        ("get_brands", {}, True),
        ("get_categories", {}, True),
    ],
)
def test_shop_cipher_only_on_shop_scoped_requests(tiktok_spec, clock, op, kwargs, scoped):
    script = Script(lambda r: ok({"shops": [], "brands": [], "categories": [], "next_page_token": ""}))
    conn = connect(tiktok_spec, script, clock)
    list(conn.paginate(op, **kwargs))
    assert ("shop_cipher" in query_of(script.requests[0])) is scoped
    assert_signed(script.requests[0])


def test_multipart_upload_not_body_signed_and_no_cipher(tiktok_spec, clock):
    script = Script([ok({"uri": "tos-1", "url": "https://img/1", "width": 800, "height": 800})])
    conn = connect(tiktok_spec, script, clock)
    resp = conn.call("upload_image", body={"use_case": "MAIN_IMAGE"}, files={"data": ("a.png", b"\x89PNG...", "image/png")})
    req = script.requests[0]
    assert req.headers["content-type"].startswith("multipart/form-data; boundary=")
    q = query_of(req)
    assert "shop_cipher" not in q
    assert q["sign"] == tiktok_sign(TT_CREDS["app_secret"], req.url.path, q, None)
    assert b'name="use_case"' in req.content and b"\x89PNG" in req.content
    assert resp.record["uri"] == "tos-1"


def test_each_attempt_is_resigned_with_a_fresh_timestamp(tiktok_spec, clock):
    script = Script([tt_error(36009003, "internal", status=500), tt_error(36009002, "slow down", status=429),
                     ok({"product_id": "1"})])
    conn = connect(tiktok_spec, script, clock)
    conn.call("partial_edit_product", path_params={"product_id": "1"}, body={"title": "T"})
    stamps = [query_of(r)["timestamp"] for r in script.requests]
    signs = [query_of(r)["sign"] for r in script.requests]
    assert len(set(stamps)) == 3 and len(set(signs)) == 3
    assert len({r.content for r in script.requests}) == 1  # serialized once
    for r in script.requests:
        assert_signed(r)


def refresh_answer(n: int) -> httpx.Response:
    return ok({"access_token": f"AT-rotated-{n:04d}", "access_token_expire_in": 1_800_000_000,
               "refresh_token": f"RT-rotated-{n:04d}", "refresh_token_expire_in": 1_900_000_000})


def test_refresh_on_105002_then_success_and_rotation_persisted(tiktok_spec, clock):
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/token/refresh":
            q = query_of(request)
            assert q == {"app_key": "appkey123", "app_secret": "secretsecret",
                         "refresh_token": "RT-initial-0001", "grant_type": "refresh_token"}
            return refresh_answer(1)
        if request.headers["x-tts-access-token"] == "AT-initial-0001":
            return tt_error(105002, "Access token is expired")
        return ok({"id": "p1"})

    script = Script(answer)
    store = MemoryTokenStore()
    settings = {**TT_SETTINGS, "token_url": "https://auth.tiktok-shops.com/api/v2/token/refresh"}
    conn = connect(tiktok_spec, script, clock, settings=settings, token_store=store, name="acme-us")
    resp = conn.call("get_product", path_params={"product_id": "p1"})
    assert resp.record == {"id": "p1"} and resp.attempts == 1
    assert [r.url.path for r in script.requests] == ["/product/202309/products/p1", "/api/v2/token/refresh",
                                                      "/product/202309/products/p1"]
    assert_signed(script.requests[2])
    saved = store.get("tiktok_shop:acme-us")
    assert saved["access_token"] == "AT-rotated-0001" and saved["refresh_token"] == "RT-rotated-0001"
    assert saved["access_token_expires_at"] == 1_800_000_000

    # A restart with the original credentials uses the stored (rotated) tokens.
    script2 = Script([ok({"id": "p1"})])
    conn2 = connect(tiktok_spec, script2, clock, settings=settings, token_store=store, name="acme-us")
    conn2.call("get_product", path_params={"product_id": "p1"})
    assert script2.requests[0].headers["x-tts-access-token"] == "AT-rotated-0001"


def test_second_105002_after_refresh_is_an_auth_error(tiktok_spec, clock):
    def answer(request):
        if request.url.path.endswith("/token/refresh"):
            return refresh_answer(2)
        return tt_error(105002, "Access token is expired")

    conn = connect(tiktok_spec, Script(answer), clock)
    with pytest.raises(AuthError) as info:
        conn.call("get_warehouses")
    assert info.value.code == "105002" and info.value.op == "get_warehouses"


def test_failed_refresh_raises_auth_error_without_secrets(tiktok_spec, clock):
    def answer(request):
        if request.url.path.endswith("/token/refresh"):
            return tt_error(36004001, "rt has expired RT-initial-0001")
        return tt_error(105002, "expired")

    conn = connect(tiktok_spec, Script(answer), clock)
    with pytest.raises(AuthError) as info:
        conn.call("get_warehouses")
    text = str(info.value)
    assert "rt has expired" in text
    for secret in ("secretsecret", "RT-initial-0001", "AT-initial-0001"):
        assert secret not in text


def test_concurrent_105002_refreshes_once(tiktok_spec, clock):
    lock = threading.Lock()
    refreshes = []

    def answer(request):
        if request.url.path.endswith("/token/refresh"):
            with lock:
                refreshes.append(1)
                return refresh_answer(len(refreshes))
        if request.headers["x-tts-access-token"] == "AT-initial-0001":
            return tt_error(105002, "expired")
        return ok({"warehouses": []})

    conn = connect(tiktok_spec, Script(answer), clock)
    barrier = threading.Barrier(8)
    errors = []

    def work():
        barrier.wait()
        try:
            conn.call("get_warehouses")
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(refreshes) == 1


def test_expiring_token_is_refreshed_before_sending(tiktok_spec, clock):
    store = MemoryTokenStore({"tiktok_shop:tiktok_shop": {
        "access_token": "AT-stored-0001", "refresh_token": "RT-stored-0001",
        "access_token_expires_at": clock.now + 60}})
    script = Script(lambda r: refresh_answer(3) if r.url.path.endswith("/refresh") else ok({"warehouses": []}))
    conn = connect(tiktok_spec, script, clock, token_store=store)
    conn.call("get_warehouses")
    assert script.requests[0].url.path.endswith("/token/refresh")
    assert query_of(script.requests[0])["refresh_token"] == "RT-stored-0001"
    assert script.requests[1].headers["x-tts-access-token"] == "AT-rotated-0003"


def test_idempotency_key_in_body_is_stable_across_retries(tiktok_spec, clock):
    script = Script([httpx.Response(502), ok({"product_id": "9"})])
    conn = connect(tiktok_spec, script, clock)
    conn.call("create_product", body={"title": "T"})
    keys = [body_json(r)["idempotency_key"] for r in script.requests]
    assert keys[0] == keys[1] and len(keys[0]) >= 16
    script.answers.append(ok({"product_id": "9"}))
    conn.call("create_product", body={"title": "T"}, idempotency_key="run-7:sku-1")
    assert body_json(script.requests[-1])["idempotency_key"] == "run-7:sku-1"


def test_idempotency_key_in_query(tiktok_spec, clock):
    script = Script([ok({})])
    connect(tiktok_spec, script, clock).call("approve_cancellation", path_params={"cancel_id": "c1"},
                                             idempotency_key="k-1")
    assert query_of(script.requests[0])["idempotency_key"] == "k-1"
    assert_signed(script.requests[0])


def test_compiled_spec_is_shared(tiktok_spec, clock):
    compiled = compile_connector(tiktok_spec)
    a = connect(compiled, Script([ok({"warehouses": []})]), clock)
    b = connect(compiled, Script([ok({"warehouses": []})]), clock, settings={"shop_cipher": "other"})
    assert a.spec is b.spec and a.limiter is not b.limiter
