"""The webhook endpoint's checks, for both platforms: only verified, fresh, small enough deliveries
are stored, each once; everything else is refused with nothing stored."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from serve_helpers import ENV, shopify_delivery, tiktok_delivery

from engine.platforms.tiktok_shop import tiktok_webhook_signature
from engine.serve import ServeOptions, Server
from simulators.common import LoopbackServer

# shared/payloads/tiktok_shop/webhook_order_status_change_signed_vector.json, byte for byte.
VECTOR = (b'{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507",'
          b'"timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178",'
          b'"order_status":"UNPAID","update_time":1718305585}}')
TIKTOK, SHOPIFY = "/webhooks/acme/tiktok_us", "/webhooks/acme/shopify"


@pytest.fixture
def served(acme_file):
    server = Server([acme_file], ServeOptions(schedule=False, max_body_bytes=64 * 1024), environ=ENV, events=False)
    with LoopbackServer(server.app) as http, httpx.Client(base_url=http.url) as client:
        yield server, client
    server.stop()


def stored(server) -> int:
    return sum(server.services["acme"].merchant.store.event_counts().values())


def refused(server, reason: str) -> float:
    return server.metrics.refused.labels("acme", "tiktok_us" if reason.startswith("t:") else "shopify",
                                         reason[2:])._value.get()


def test_a_valid_tiktok_delivery_is_stored_once_and_a_redelivery_only_acknowledged(served):
    server, client = served
    body, headers = tiktok_delivery()
    first = client.post(TIKTOK, content=body, headers=headers)
    assert first.status_code == 200 and first.json() == {"ok": True, "duplicate": False}
    again = client.post(TIKTOK, content=body, headers=headers)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert stored(server) == 1
    event = server.services["acme"].merchant.store.get_event("tiktok_us", "7380066284010030890")
    assert event["topic"] == "ORDER_STATUS_CHANGE" and event["payload_raw"] == body
    assert "authorization" not in {k.lower() for k in event["headers"]}  # the signature is not kept


def test_the_same_event_with_a_new_delivery_id_is_a_new_event(served):
    server, client = served
    for notification in ("1", "2"):
        body, headers = tiktok_delivery(notification_id=notification)
        assert client.post(TIKTOK, content=body, headers=headers).status_code == 200
    assert stored(server) == 2


def tampered(body: bytes) -> bytes:
    return body.replace(b"AWAITING_SHIPMENT", b"AWAITING_COLLECTION")


@pytest.mark.parametrize("case", ["forged", "tampered", "missing", "badly encoded", "truncated", "stale", "future",
                                  "bearer"])
def test_tiktok_deliveries_that_do_not_verify_get_401_and_store_nothing(served, case):
    server, client = served
    body, headers = tiktok_delivery()
    if case == "forged":
        body, headers = tiktok_delivery(secret="not-the-app-secret")
    elif case == "tampered":
        body = tampered(body)
    elif case == "missing":
        del headers["Authorization"]
    elif case == "badly encoded":  # the right digest, in base64 instead of hex
        headers["Authorization"] = base64.b64encode(bytes.fromhex(headers["Authorization"])).decode()
    elif case == "truncated":
        headers["Authorization"] = headers["Authorization"][:-2]
    elif case == "stale":  # TikTok's last retry comes about 15.5 h after the event; a day is too old
        body, headers = tiktok_delivery(timestamp=time.time() - 86400)
    elif case == "future":
        body, headers = tiktok_delivery(timestamp=time.time() + 86400)
    elif case == "bearer":
        headers["Authorization"] = "Bearer " + headers["Authorization"]
    response = client.post(TIKTOK, content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert stored(server) == 0
    assert refused(server, "t:stale" if case in ("stale", "future") else "t:signature") == 1


def test_an_upper_case_hex_signature_is_the_same_signature(served):
    server, client = served
    body, headers = tiktok_delivery()
    headers["Authorization"] = headers["Authorization"].upper()
    assert client.post(TIKTOK, content=body, headers=headers).status_code == 200


@pytest.mark.parametrize("case", ["forged", "tampered", "missing", "badly encoded", "hex", "stale", "unreadable time"])
def test_shopify_deliveries_that_do_not_verify_get_401_and_store_nothing(served, case):
    server, client = served
    body, headers = shopify_delivery()
    if case == "forged":
        body, headers = shopify_delivery(secret="not-the-client-secret")
    elif case == "tampered":
        body = body.replace(b"9999", b"9998")
    elif case == "missing":
        del headers["X-Shopify-Hmac-Sha256"]
    elif case == "badly encoded":
        headers["X-Shopify-Hmac-Sha256"] = "!!" + headers["X-Shopify-Hmac-Sha256"][2:]
    elif case == "hex":  # the right digest, in hex instead of base64
        headers["X-Shopify-Hmac-Sha256"] = base64.b64decode(headers["X-Shopify-Hmac-Sha256"]).hex()
    elif case == "stale":  # Shopify's retries end about 4 h after the event; 7 h is a replay
        body, headers = shopify_delivery(triggered_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7 * 3600)))
    elif case == "unreadable time":
        body, headers = shopify_delivery(triggered_at="yesterday")
    response = client.post(SHOPIFY, content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert stored(server) == 0


def test_a_valid_shopify_delivery_is_stored_once_by_its_webhook_id(served):
    server, client = served
    body, headers = shopify_delivery()
    assert client.post(SHOPIFY, content=body, headers=headers).json() == {"ok": True, "duplicate": False}
    assert client.post(SHOPIFY, content=body, headers=headers).json()["duplicate"] is True
    event = server.services["acme"].merchant.store.get_event("shopify", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    assert event["topic"] == "ORDERS_CREATE"  # Shopify's orders/create, by the name flows list
    assert "x-shopify-hmac-sha256" not in {k.lower() for k in event["headers"]}
    assert stored(server) == 1


def test_without_a_delivery_id_the_body_is_the_identity(served):
    server, client = served
    body, headers = shopify_delivery(webhook_id=None)
    assert client.post(SHOPIFY, content=body, headers=headers).json()["duplicate"] is False
    assert client.post(SHOPIFY, content=body, headers=headers).json()["duplicate"] is True
    other, other_headers = shopify_delivery(webhook_id=None, body=b'{"id":2}')
    assert client.post(SHOPIFY, content=other, headers=other_headers).json()["duplicate"] is False
    assert stored(server) == 2


@pytest.mark.parametrize("path", [TIKTOK, SHOPIFY])
def test_an_oversized_body_gets_413_and_nothing_is_stored(served, path):
    server, client = served
    big = b'{"pad":"' + b"x" * (64 * 1024) + b'"}'
    body, headers = (tiktok_delivery() if path == TIKTOK else shopify_delivery())
    headers = {k: v for k, v in headers.items()}
    assert client.post(path, content=big, headers=headers).status_code == 413

    def chunks():  # no Content-Length: refused once past the limit
        for _ in range(100):
            yield b"x" * 4096

    assert client.post(path, content=chunks(), headers=headers).status_code == 413
    assert stored(server) == 0


def test_unknown_merchants_and_connections_get_404(served):
    server, client = served
    body, headers = tiktok_delivery()
    for path in ("/webhooks/other/tiktok_us", "/webhooks/acme/nope", "/webhooks/acme"):
        assert client.post(path, content=body, headers=headers).status_code == 404
    assert stored(server) == 0


def test_the_published_vector_verifies_and_is_stale_by_now(tmp_path):
    """shared/payloads: app_key abcdef, secret 123 (1.12). Its timestamp is from 2024."""
    from serve_helpers import acme_project

    body = VECTOR
    digest = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"
    assert tiktok_webhook_signature("abcdef", "123", body) == digest
    env = {**ENV, "ACME_TIKTOK_APP_KEY": "abcdef", "ACME_TIKTOK_APP_SECRET": "123"}
    path = acme_project(tmp_path)
    for age, status in ((None, 401), (10 ** 10, 200)):
        server = Server([path], ServeOptions(schedule=False, max_event_age=age), environ=env, events=False)
        with LoopbackServer(server.app) as http:
            response = httpx.post(http.url + TIKTOK, content=body, headers={"Authorization": digest})
            assert response.status_code == status, response.text
        server.stop()
    server = Server([path], ServeOptions(schedule=False), environ=env, events=False)
    event = server.services["acme"].merchant.store.get_event("tiktok_us", "7380066284010030890")
    assert json.loads(event["payload_raw"])["data"]["order_id"] == "576653688135258178"
    server.stop()


def test_a_connection_without_its_webhook_secret_serves_no_endpoint(tmp_path, caplog):
    """acme without Shopify's webhook_secret (and without the inventory flow, the one its Shopify
    webhooks start): Shopify's endpoint is off, TikTok's is on."""
    import shutil

    from serve_helpers import EXAMPLE

    shutil.copytree(EXAMPLE, tmp_path / "acme")
    path = tmp_path / "acme" / "merchant.yaml"
    text = path.read_text()
    secret = next(line for line in text.splitlines(keepends=True) if "webhook_secret:" in line)
    binding = text[text.index("  inventory:\n"):text.index("  # TikTok orders not imported yet")]
    path.write_text(text.replace(secret, "").replace(binding, ""))
    import logging

    logger = logging.getLogger("engine.serve")
    # CLI tests configure logging for the process (handlers, propagation); listen on the logger itself.
    logger.addHandler(caplog.handler)
    try:
        server = Server([tmp_path / "acme" / "merchant.yaml"], ServeOptions(schedule=False), environ=ENV,
                        events=False)
    finally:
        logger.removeHandler(caplog.handler)
    try:
        assert set(server.services["acme"].endpoints) == {"tiktok_us"}
        assert "no webhook_secret credential" in caplog.text
    finally:
        server.stop()
