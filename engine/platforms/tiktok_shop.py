"""TikTok Shop: request signing (pinned by the published test vectors), webhook signatures, and the
`tiktok_shop` auth kind (signed query, access token header, shop_cipher on shop-scoped paths,
refresh through the token host with rotation), and the `tiktok_shop` verifier kind for inbound
webhooks.

The signing functions are shared by the HTTP runtime and the simulators (verifying what the runtime
sends).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from engine.http.auth import AUTH_KINDS, Auth, AuthContext, OutboundRequest, _json
from engine.http.verify import VERIFIERS, Verifier, credential_option, decode_hex

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


@VERIFIERS.register("tiktok_shop", options_schema={
    "type": "object", "additionalProperties": False, "required": ["kind"],
    "properties": {
        "kind": {"const": "tiktok_shop"},
        "header": {"type": "string", "default": "Authorization",
                   "description": "Header carrying the signature (lower-case hex, no `Bearer` prefix)."},
        "app_key": credential_option("app_key", "app_key", "the app key (signed in front of the body)"),
        "secret": credential_option("secret", "app_secret", "the app secret (the HMAC key)"),
    }})
class TikTokShopVerifier(Verifier):
    """TikTok Shop webhooks: hex HMAC-SHA256 of app_key + raw body with the app secret, in `Authorization`."""

    credential_options = {"app_key": "app_key", "secret": "app_secret"}
    default_header = "Authorization"

    def verify(self, raw_body: bytes, headers: Mapping[str, str]) -> bool:
        given = self.signature(headers)
        sent = decode_hex(given, 32) if given else None
        if sent is None or not raw_body:
            return False
        expected = bytes.fromhex(tiktok_webhook_signature(self.secrets["app_key"], self.secrets["secret"], raw_body))
        return hmac.compare_digest(expected, sent)


_TIKTOK_OPTIONS = {
    "type": "object",
    "properties": {
        "kind": {"const": "tiktok_shop"},
        "token_url": {
            "type": "string",
            "description": "Refresh endpoint on the token host (GET, unsigned). A connection setting "
            "`token_url` overrides it.",
        },
        "shop_cipher_excluded_paths": {
            "type": "array",
            "items": {"type": "string", "format": "regex"},
            "description": "Regexes of API paths that must never carry shop_cipher (authorization, seller, "
            "uploads, global products, brand create).",
        },
        "shop_cipher_excluded_requests": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"method": {"type": "string", "description": "HTTP method, e.g. POST."},
                               "path": {"type": "string", "format": "regex", "description": "Regex of the API path."}},
                "required": ["method", "path"],
                "additionalProperties": False,
            },
            "description": "Method-specific exclusions, e.g. POST /product/{v}/brands (GET on the same "
            "path is shop-scoped).",
        },
        "shop_cipher_setting": {"type": "string", "default": "shop_cipher",
                                "description": "Connection setting holding the shop cipher."},
        "access_token_header": {"type": "string", "default": "x-tts-access-token",
                                "description": "Header carrying the seller access token (never signed)."},
        "refresh_skew_seconds": {"type": "number", "minimum": 0, "default": 300,
                                 "description": "Refresh this long before the access token's expiry."},
    },
    "required": ["kind", "token_url"],
    "additionalProperties": False,
}


@AUTH_KINDS.register("tiktok_shop", options_schema=_TIKTOK_OPTIONS)
class TikTokShopAuth(Auth):
    """TikTok Shop request signing: app_key, timestamp and sign in the query, the access token in a
    header, shop_cipher on shop-scoped paths; refresh through the token host with rotation."""

    credential_names = ("app_key", "app_secret", "access_token", "refresh_token")

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        found = []
        for i, pattern in enumerate(options.get("shop_cipher_excluded_paths", [])):
            try:
                re.compile(pattern)
            except re.error as exc:
                found.append((f"shop_cipher_excluded_paths[{i}]", f"bad regex: {exc}"))
        return found

    def __init__(self, options: dict, ctx: AuthContext) -> None:
        super().__init__(options, ctx)
        self.app_key = ctx.credentials["app_key"]
        self.app_secret = ctx.credentials["app_secret"]
        ctx.redactor.add([self.app_secret])
        self.excluded = [re.compile(p) for p in options.get("shop_cipher_excluded_paths", [])]
        self.excluded_requests = [
            (r["method"].upper(), re.compile(r["path"])) for r in options.get("shop_cipher_excluded_requests", [])
        ]
        self.shop_cipher = ctx.settings.get(options.get("shop_cipher_setting", "shop_cipher"))
        self.header = options.get("access_token_header", "x-tts-access-token")
        self._load({"access_token": ctx.credentials.get("access_token"),
                    "refresh_token": ctx.credentials.get("refresh_token")})

    def shop_scoped(self, method: str, path: str) -> bool:
        if any(p.search(path) for p in self.excluded):
            return False
        return not any(m == method.upper() and p.search(path) for m, p in self.excluded_requests)

    def apply(self, request: OutboundRequest) -> None:
        with self._lock:
            if self._expiring("access_token_expires_at") and self.tokens.get("refresh_token"):
                self._refresh()
            token = self.access_token
        query = request.query
        for name in ("sign", "app_key", "timestamp", "shop_cipher", "access_token"):
            query.pop(name, None)
        query["app_key"] = self.app_key
        query["timestamp"] = str(int(self.ctx.clock()))
        if self.shop_cipher and self.shop_scoped(request.method, request.path):
            query["shop_cipher"] = str(self.shop_cipher)
        query["sign"] = tiktok_sign(self.app_secret, request.path, query, request.content, request.content_type)
        if token:
            request.headers[self.header] = token

    def can_refresh(self) -> bool:
        return bool(self.tokens.get("refresh_token"))

    def _refresh(self) -> None:
        params = {
            "app_key": self.app_key,
            "app_secret": self.app_secret,
            "refresh_token": self.tokens["refresh_token"],
            "grant_type": "refresh_token",
        }
        response = self.ctx.send("GET", self.token_url(), params=params)
        body = _json(response)
        data = body.get("data") if isinstance(body, dict) else None
        ok = response.status_code == 200 and isinstance(body, dict) and body.get("code") in (0, "0")
        if not ok or not isinstance(data, dict) or not data.get("access_token"):
            raise self._token_failure(response, body, "TikTok Shop token refresh failed")
        # Both *_expire_in fields are absolute Unix timestamps, not durations.
        self._save({
            "access_token": data["access_token"],
            "refresh_token": data.get("refresh_token") or self.tokens.get("refresh_token"),
            "access_token_expires_at": data.get("access_token_expire_in"),
            "refresh_token_expires_at": data.get("refresh_token_expire_in"),
        })
