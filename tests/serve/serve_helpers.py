"""What the serve tests share (a uniquely named module, not conftest, so `from serve_helpers import` is
never another folder's conftest): the acme example with a Shopify webhook secret and signed deliveries."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from engine.platforms.shopify import shopify_webhook_hmac
from engine.platforms.tiktok_shop import tiktok_webhook_signature

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "acme"

APP_KEY, APP_SECRET, SHOPIFY_SECRET = "serve-app-key", "serve-app-secret", "serve-shopify-secret"
ENV = {"ACME_SHOPIFY_TOKEN": "shpat_serve_test", "ACME_SHOPIFY_URL": "http://127.0.0.1:9/admin/api/2025-01",
       "ACME_TIKTOK_SHOP_CIPHER": "cipher", "ACME_TIKTOK_APP_KEY": APP_KEY, "ACME_TIKTOK_APP_SECRET": APP_SECRET,
       "ACME_TIKTOK_ACCESS_TOKEN": "serve-access-token", "ACME_TIKTOK_REFRESH_TOKEN": "serve-refresh-token",
       "ACME_TIKTOK_URL": "http://127.0.0.1:9", "ACME_SHOPIFY_WEBHOOK_SECRET": SHOPIFY_SECRET}


def acme_project(folder: Path) -> Path:
    """A copy of examples/acme whose Shopify connection also receives webhooks; the merchant file."""
    shutil.copytree(EXAMPLE, folder / "acme", dirs_exist_ok=True)
    path = folder / "acme" / "merchant.yaml"
    text = path.read_text(encoding="utf-8")
    if "webhook_secret:" not in text:  # the example declares it since its inventory flow takes Shopify webhooks
        text = text.replace('      access_token: "${env:ACME_SHOPIFY_TOKEN}"\n',
                            '      access_token: "${env:ACME_SHOPIFY_TOKEN}"\n'
                            '      webhook_secret: "${env:ACME_SHOPIFY_WEBHOOK_SECRET}"\n', 1)
    path.write_text(text, encoding="utf-8")
    return path


def tiktok_delivery(event_type: int = 1, *, order_id: str = "576653688135258178", notification_id: str = "7380066284010030890",
                    timestamp: float | None = None, secret: str = APP_SECRET) -> tuple[bytes, dict]:
    body = json.dumps({"type": event_type, "tts_notification_id": notification_id, "shop_id": "7495540735365777507",
                       "timestamp": int(time.time() if timestamp is None else timestamp),
                       "data": {"order_id": order_id, "order_status": "AWAITING_SHIPMENT", "update_time": 1}},
                      separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json", "Authorization": tiktok_webhook_signature(APP_KEY, secret, body)}


def shopify_delivery(topic: str = "orders/create", *, webhook_id: str | None = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                     triggered_at: str | None = None, secret: str = SHOPIFY_SECRET,
                     body: bytes = b'{"id":820982911946154508,"name":"#9999"}') -> tuple[bytes, dict]:
    headers = {"Content-Type": "application/json", "X-Shopify-Hmac-Sha256": shopify_webhook_hmac(secret, body),
               "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": "acme-outdoors.myshopify.com",
               "X-Shopify-API-Version": "2025-01",
               "X-Shopify-Triggered-At": triggered_at or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
    if webhook_id is not None:
        headers["X-Shopify-Webhook-Id"] = webhook_id
    return body, headers
