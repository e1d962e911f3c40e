"""Shopify: the webhook HMAC and the `shopify_access_token` auth kind (a header token whose header
defaults to X-Shopify-Access-Token)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from engine.http.auth import _HEADER_TOKEN_OPTIONS, AUTH_KINDS, HeaderTokenAuth


def shopify_webhook_hmac(secret: str, raw_body: bytes) -> str:
    """Value of `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()


def verify_shopify_webhook(secret: str, raw_body: bytes, header_value: str | None) -> bool:
    if not header_value or not raw_body:  # an empty body is never a valid delivery
        return False
    return hmac.compare_digest(shopify_webhook_hmac(secret, raw_body), header_value.strip())


@AUTH_KINDS.register("shopify_access_token", options_schema={
    **_HEADER_TOKEN_OPTIONS, "required": ["kind"],
    "properties": {**_HEADER_TOKEN_OPTIONS["properties"],
                   "header": {"type": "string", "default": "X-Shopify-Access-Token",
                              "description": "Header carrying the Admin API access token."}}})
class ShopifyAccessTokenAuth(HeaderTokenAuth):
    """A custom app's Admin API access token in X-Shopify-Access-Token; a 401 is final."""

    default_header = "X-Shopify-Access-Token"
