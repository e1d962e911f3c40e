"""The published signing test vectors (shared/platforms/tiktok-shop-and-shopify.md, 1.3 and 1.12)."""

from engine.platforms.shopify import shopify_webhook_hmac, verify_shopify_webhook
from engine.platforms.tiktok_shop import (
    tiktok_base_string,
    tiktok_sign,
    tiktok_webhook_signature,
    verify_tiktok_webhook,
)


def test_official_doc_example():
    query = {"app_key": "29a39d", "timestamp": "1623812664"}
    path = "/authorization/202309/shops"
    assert tiktok_base_string(path, query, None, None) == "/authorization/202309/shopsapp_key29a39dtimestamp1623812664"
    assert tiktok_sign("e59af819cc", path, query) == "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"


GET_QUERY = {"app_key": "68xu9ks5p4i8", "shop_cipher": "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK", "timestamp": "1696909648"}


def test_get_example_ignores_sign_and_access_token():
    query = dict(GET_QUERY, sign="stale", access_token="tok")
    assert (
        tiktok_sign("e59af819cc", "/event/202309/webhooks", query)
        == "ed58e1b5e59865c22a7b828c1cab65007441f43cc91a6cb2f2cdc638e0995a37"
    )


def test_put_example_signs_raw_body():
    body = b'{"event_type":"PACKAGE_UPDATE","address":"https://partner.tiktokshop.com"}'
    assert (
        tiktok_sign("e59af819cc", "/event/202309/webhooks", GET_QUERY, body)
        == "701dd6deb2389fe4c469b89bd37fc56f96a6da6afeb4d01c9077a65169752fa7"
    )


def test_multipart_body_is_not_signed():
    body = b"--b\r\nContent-Disposition: form-data; name=data\r\n\r\nxx\r\n--b--"
    assert tiktok_sign("s", "/p", {"a": "1"}, body, "multipart/form-data; boundary=b") == tiktok_sign("s", "/p", {"a": "1"})


def test_tiktok_webhook_vector():
    body = (
        b'{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507",'
        b'"timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178",'
        b'"order_status":"UNPAID","update_time":1718305585}}'
    )
    digest = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"
    assert tiktok_webhook_signature("abcdef", "123", body) == digest
    assert verify_tiktok_webhook("abcdef", "123", body, digest)
    assert not verify_tiktok_webhook("abcdef", "123", body + b" ", digest)
    assert not verify_tiktok_webhook("abcdef", "123", body, None)


def test_shopify_webhook_hmac_roundtrip_and_forgery():
    body = b'{"id":1}'
    good = shopify_webhook_hmac("hush", body)
    assert verify_shopify_webhook("hush", body, good)
    assert not verify_shopify_webhook("other", body, good)
    assert not verify_shopify_webhook("hush", b"", shopify_webhook_hmac("hush", b""))
