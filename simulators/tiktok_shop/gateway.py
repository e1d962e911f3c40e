"""Checks every API request passes before its handler runs (1.2, 1.3, 1.6, 1.7).

Order: app_key, sign present, timestamp window, signature, access token, shop_cipher, rate limit.
"""

from __future__ import annotations

import hmac

from engine.platforms.tiktok_shop import tiktok_sign

from .errors import (
    BAD_SIGN,
    INVALID_PARAM,
    RATE_LIMITED,
    SHOP_CIPHER_REQUIRED,
    TOKEN_EXPIRED,
    ApiError,
)
from .ratelimit import RateLimiter
from .routing import Endpoint
from .state import SimState

MAX_AGE = 300  # seconds in the past a timestamp may be
MAX_SKEW = 30  # seconds in the future


def check(sim: SimState, ep: Endpoint, path: str, query: dict[str, str], raw: bytes,
          content_type: str, token: str | None) -> None:
    creds = sim.creds
    if query.get("app_key") != creds.app_key:
        raise ApiError(INVALID_PARAM, "Invalid app_key", http_status=400)
    sign = query.get("sign")
    if not sign:
        raise ApiError(INVALID_PARAM, "Invalid params: sign is required", http_status=400)
    try:
        stamp = int(query.get("timestamp", ""))
    except ValueError as exc:
        raise ApiError(INVALID_PARAM, "Invalid timestamp", http_status=400) from exc
    now = sim.now()
    if stamp < 0 or stamp < now - MAX_AGE or stamp > now + MAX_SKEW:
        raise ApiError(INVALID_PARAM, "Invalid timestamp: it must be within 5 minutes before and 30 seconds "
                       "after the server time", http_status=400)
    expected = tiktok_sign(creds.app_secret, path, query, raw, content_type)
    if not hmac.compare_digest(expected, sign.lower()):
        raise ApiError(BAD_SIGN, "Invalid credentials. The `sign` query parameter is invalid.")
    check_token(sim, token)
    cipher = query.get("shop_cipher")
    if ep.shop_scoped:
        if not cipher:
            raise ApiError(SHOP_CIPHER_REQUIRED, "shop_cipher is required for this API")
        if cipher != creds.shop_cipher:
            raise ApiError(INVALID_PARAM, "Invalid shop_cipher", http_status=400)
    elif cipher:
        raise ApiError(INVALID_PARAM, "Unexpected shop_cipher: this API does not accept it", http_status=400)
    wait = sim.limiter.take((creds.app_key, cipher or "", ep.method, ep.template))
    if wait is not None:
        raise ApiError(RATE_LIMITED, "Too many requests", http_status=429,
                       headers={"Retry-After": RateLimiter.retry_after_header(wait)})


def check_token(sim: SimState, token: str | None) -> None:
    tokens = sim.tokens
    if token and hmac.compare_digest(token, tokens.access_token):
        if sim.now() >= tokens.access_expires:
            raise ApiError(TOKEN_EXPIRED, "Access token is expired, please refresh it")
        return
    # UNCONFIRMED: an access token replaced by a refresh answers "expired" (105002) here, which
    # sends a client down its refresh path; the live API may keep it valid until its own expiry.
    if token in tokens.retired_access:
        raise ApiError(TOKEN_EXPIRED, "Access token is expired, please refresh it")
    # UNCONFIRMED HTTP status: 401 for a missing or unknown token.
    raise ApiError(INVALID_PARAM, "Invalid access_token: x-tts-access-token header is missing or invalid",
                   http_status=401)
