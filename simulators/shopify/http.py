"""Small request helpers shared by the resource modules."""

from __future__ import annotations

import json

from starlette.requests import Request

from .errors import ApiError, missing_root
from .state import ShopState


def sim(request: Request) -> ShopState:
    return request.app.state.sim


async def body_json(request: Request) -> object:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        # Shopify's wording for a body it cannot parse is UNCONFIRMED.
        raise ApiError(400, {"error": "822: unexpected token"}) from None


async def root(request: Request, key: str, required: bool = True) -> dict:
    """The object under the resource key, e.g. `{"product": {...}}` -> `{...}`."""
    data = await body_json(request)
    if isinstance(data, dict) and isinstance(data.get(key), dict):
        return data[key]
    if not required and (data is None or (isinstance(data, dict) and key not in data)):
        return {}
    raise missing_root(key)


def id_list(raw: str | None) -> set[int] | None:
    if not raw:
        return None
    out = set()
    for part in raw.split(","):
        part = part.strip()
        if part:
            try:
                out.add(int(part))
            except ValueError:
                raise ApiError(400, {"ids": "Invalid value."}) from None
    return out
