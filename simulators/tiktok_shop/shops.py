"""Authorization and seller look-ups: the shops this token may act for (1.4)."""

from __future__ import annotations

from .routing import Ctx


def _shop(ctx: Ctx) -> dict:
    sim = ctx.sim
    return {"id": sim.creds.shop_id, "name": sim.shop["name"], "region": sim.creds.region,
            "seller_type": sim.shop["seller_type"], "cipher": sim.creds.shop_cipher, "code": sim.shop["code"]}


def authorized_shops(ctx: Ctx) -> dict:
    return {"shops": [_shop(ctx)]}


def seller_permissions(ctx: Ctx) -> dict:
    return {"permissions": ["CAN_SELL", "CAN_LIST_PRODUCTS"]}


ROUTES = [
    ("GET", "/authorization/{v}/shops", authorized_shops),
    ("GET", "/seller/{v}/shops", authorized_shops),
    ("GET", "/seller/{v}/permissions", seller_permissions),
]
