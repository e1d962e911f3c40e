"""Token host endpoints (1.4): unsigned GETs with the app secret in the query."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from .errors import (
    INVALID_AUTH_CODE,
    INVALID_PARAM,
    NO_AUTH_RECORD,
    REFRESH_TOKEN_EXPIRED,
    ApiError,
    envelope,
    error_response,
)
from .state import ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL, SimState

TOKEN_PATHS = {"/api/v2/token/get", "/api/v2/token/refresh"}
AUTH_CODE_TTL = 30 * 60  # 1.4: auth codes live 30 minutes, single use
GRANTED_SCOPES = ["seller.authorization.info", "seller.product.basic", "seller.product.write",
                  "seller.order.info", "seller.fulfillment.basic", "seller.logistics",
                  "seller.return_refund.basic", "seller.shop.info"]


def issue_auth_code(sim: SimState) -> str:
    code = "ROW_" + sim.ids.hex(32)
    sim.tokens.auth_codes[code] = sim.now() + AUTH_CODE_TTL
    return code


def _rotate(sim: SimState) -> dict:
    """New access and refresh tokens; the old ones stop working."""
    tokens, now = sim.tokens, sim.now()
    tokens.retired_access.add(tokens.access_token)
    tokens.retired_refresh.add(tokens.refresh_token)
    tokens.access_token = "TTP_" + sim.ids.hex(40)
    tokens.refresh_token = "TTP_" + sim.ids.hex(40)
    tokens.access_expires = now + ACCESS_TOKEN_TTL
    tokens.refresh_expires = now + REFRESH_TOKEN_TTL
    return {
        "access_token": tokens.access_token,
        "access_token_expire_in": tokens.access_expires,  # absolute unix seconds, not a duration
        "refresh_token": tokens.refresh_token,
        "refresh_token_expire_in": tokens.refresh_expires,
        "open_id": sim.shop["open_id"],
        "seller_name": sim.shop["seller_name"],
        "seller_base_region": sim.creds.region,
        "user_type": 0,
        "granted_scopes": GRANTED_SCOPES,
    }


def _token_get(sim: SimState, query: dict[str, str]) -> dict:
    if query.get("grant_type") != "authorized_code":
        raise ApiError(INVALID_PARAM, "Invalid params: grant_type must be authorized_code")
    code = query.get("auth_code", "")
    expiry = sim.tokens.auth_codes.pop(code, None)
    if expiry is None or sim.now() > expiry:
        raise ApiError(INVALID_AUTH_CODE, "Invalid auth code")
    return _rotate(sim)


def _token_refresh(sim: SimState, query: dict[str, str]) -> dict:
    if query.get("grant_type") != "refresh_token":
        raise ApiError(INVALID_PARAM, "Invalid params: grant_type must be refresh_token")
    given, tokens = query.get("refresh_token", ""), sim.tokens
    if not hmac.compare_digest(given, tokens.refresh_token):
        # UNCONFIRMED: which code a rotated-out refresh token gets; 36004005 fits "no such record".
        raise ApiError(NO_AUTH_RECORD, "can not find related auth record")
    if sim.now() >= tokens.refresh_expires:
        raise ApiError(REFRESH_TOKEN_EXPIRED, "rt has expired")
    return _rotate(sim)


def handle(sim: SimState, request: Request, request_id: str) -> Response:
    query = dict(request.query_params)
    try:
        if request.method != "GET":
            raise ApiError(INVALID_PARAM, "Token endpoints accept GET only")
        if query.get("app_key") != sim.creds.app_key or query.get("app_secret") != sim.creds.app_secret:
            raise ApiError(INVALID_PARAM, "Invalid app_key or app_secret", http_status=400)
        if request.url.path.endswith("/get"):
            data = _token_get(sim, query)
        else:
            data = _token_refresh(sim, query)
    except ApiError as err:
        return error_response(err, request_id)
    return envelope(0, "success", request_id, data)
