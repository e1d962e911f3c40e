"""Request and webhook signatures of the platforms, as pure functions.

Shared by the HTTP runtime (signing outbound calls, verifying inbound webhooks) and the
simulators (verifying what the runtime sends), and pinned by the published test vectors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

# Query parameters that never take part in a TikTok Shop signature.
TIKTOK_UNSIGNED_PARAMS = frozenset({"sign", "access_token", "x-tts-access-token"})


def _is_multipart(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "multipart/form-data"


def tiktok_base_string(path: str, query: Mapping[str, str], body: bytes | None, content_type: str | None) -> str:
    """path + sorted key+value pairs (+ raw body unless multipart), before the secret wrap."""
    pairs = sorted(
        (k, str(v)) for k, v in query.items() if k not in TIKTOK_UNSIGNED_PARAMS and v is not None and v != ""
    )
    text = path + "".join(k + v for k, v in pairs)
    if body and not _is_multipart(content_type):
        text += body.decode("utf-8")
    return text


def tiktok_sign(
    app_secret: str,
    path: str,
    query: Mapping[str, str],
    body: bytes | None = None,
    content_type: str | None = "application/json",
) -> str:
    """TikTok Shop Open API request signature (lowercase hex HMAC-SHA256)."""
    wrapped = app_secret + tiktok_base_string(path, query, body, content_type) + app_secret
    return hmac.new(app_secret.encode(), wrapped.encode("utf-8"), hashlib.sha256).hexdigest()


def tiktok_webhook_signature(app_key: str, app_secret: str, raw_body: bytes) -> str:
    """Value of the `Authorization` header on a TikTok Shop webhook: hex HMAC(secret, app_key + body)."""
    return hmac.new(app_secret.encode(), app_key.encode() + raw_body, hashlib.sha256).hexdigest()


def verify_tiktok_webhook(app_key: str, app_secret: str, raw_body: bytes, header_value: str | None) -> bool:
    if not header_value or not raw_body:
        return False
    expected = tiktok_webhook_signature(app_key, app_secret, raw_body)
    return hmac.compare_digest(expected, header_value.strip().lower())


def shopify_webhook_hmac(secret: str, raw_body: bytes) -> str:
    """Value of `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()


def verify_shopify_webhook(secret: str, raw_body: bytes, header_value: str | None) -> bool:
    if not header_value or not raw_body:  # an empty body is never a valid delivery
        return False
    return hmac.compare_digest(shopify_webhook_hmac(secret, raw_body), header_value.strip())
