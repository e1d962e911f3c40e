"""Shopify: the webhook HMAC with its `shopify_hmac` verifier kind, and the `shopify_access_token`
auth kind (a header token whose header defaults to X-Shopify-Access-Token)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from engine.http.auth import _HEADER_TOKEN_OPTIONS, AUTH_KINDS, HeaderTokenAuth
from engine.http.verify import VERIFIERS, Verifier, credential_option, decode_base64


def shopify_webhook_hmac(secret: str, raw_body: bytes) -> str:
    """Value of `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()


def verify_shopify_webhook(secret: str, raw_body: bytes, header_value: str | None) -> bool:
    if not header_value or not raw_body:  # an empty body is never a valid delivery
        return False
    return hmac.compare_digest(shopify_webhook_hmac(secret, raw_body), header_value.strip())


@VERIFIERS.register("shopify_hmac", options_schema={
    "type": "object", "additionalProperties": False, "required": ["kind"],
    "properties": {
        "kind": {"const": "shopify_hmac"},
        "header": {"type": "string", "default": "X-Shopify-Hmac-Sha256",
                   "description": "Header carrying the signature (standard base64)."},
        "secret": credential_option("secret", "webhook_secret",
                                    "the app's client secret (API secret key), the HMAC key"),
    }})
class ShopifyHmacVerifier(Verifier):
    """Shopify webhooks: base64 HMAC-SHA256 of the raw body with the app's client secret, in `X-Shopify-Hmac-Sha256`."""

    credential_options = {"secret": "webhook_secret"}
    default_header = "X-Shopify-Hmac-Sha256"

    def verify(self, raw_body: bytes, headers: Mapping[str, str]) -> bool:
        given = self.signature(headers)
        sent = decode_base64(given, 32) if given else None
        if sent is None or not raw_body:
            return False
        expected = hmac.new(self.secrets["secret"].encode(), raw_body, hashlib.sha256).digest()
        return hmac.compare_digest(expected, sent)


@AUTH_KINDS.register("shopify_access_token", options_schema={
    **_HEADER_TOKEN_OPTIONS, "required": ["kind"],
    "properties": {**_HEADER_TOKEN_OPTIONS["properties"],
                   "header": {"type": "string", "default": "X-Shopify-Access-Token",
                              "description": "Header carrying the Admin API access token."}}})
class ShopifyAccessTokenAuth(HeaderTokenAuth):
    """A custom app's Admin API access token in X-Shopify-Access-Token; a 401 is final."""

    default_header = "X-Shopify-Access-Token"
