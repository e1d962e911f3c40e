"""The sandbox: both platform simulators and an image CDN on loopback, seeded with a demo catalog.

`connector sandbox` runs this and prints one JSON line with the URLs and credentials; tests and
the demo call `start_sandbox()` in-process.

Pointed at a running `connector serve` (`start_sandbox(webhook_url=...)`, `Sandbox.point_webhooks`
or `connector sandbox --webhook-url`), both simulators deliver their webhooks as events happen, to
that base URL with the path of each subscription's address (/webhooks/<merchant>/<connection>, as
`connector webhooks sync` subscribes them, whatever host it was given).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from . import cdn, rithum, shopify, tiktok_shop
from .catalog import generate_shopify_products
from .common import LoopbackServer
from .rithum import seed as rithum_seed
from .shopify.values import dumps


@dataclass
class Sandbox:
    servers: dict[str, LoopbackServer] = field(default_factory=dict)
    products: list[dict] = field(default_factory=list)
    webhook_url: str | None = None  # where both simulators deliver webhooks (None: to each address)

    @property
    def urls(self) -> dict[str, str]:
        return {name: server.url for name, server in self.servers.items()}

    def describe(self) -> dict[str, Any]:
        return {
            **self.urls,
            "shopify_api": f"{self.urls['shopify']}/admin/api/2025-01",
            "webhook_url": self.webhook_url,
            "credentials": {"tiktok_shop": dict(tiktok_shop.DEFAULT_CREDENTIALS),
                            "shopify": dict(shopify.DEFAULT_CREDENTIALS),
                            "rithum": dict(rithum.DEFAULT_CREDENTIALS)},
        }

    def environ(self, prefix: str = "ACME") -> dict[str, str]:
        """The environment an example merchant project reads (URLs and secret references); each
        example names its variables with its own prefix (ACME_..., BLOOM_...)."""
        tts, shop = tiktok_shop.DEFAULT_CREDENTIALS, shopify.DEFAULT_CREDENTIALS
        return {
            f"{prefix}_SHOPIFY_URL": f"{self.urls['shopify']}/admin/api/2025-01",
            f"{prefix}_SHOPIFY_TOKEN": shop["access_token"],
            f"{prefix}_SHOPIFY_WEBHOOK_SECRET": shop["webhook_secret"],
            f"{prefix}_TIKTOK_URL": self.urls["tiktok_shop"],
            f"{prefix}_TIKTOK_TOKEN_URL": f"{self.urls['tiktok_shop']}/api/v2/token/refresh",
            f"{prefix}_TIKTOK_SHOP_CIPHER": tts["shop_cipher"],
            f"{prefix}_TIKTOK_APP_KEY": tts["app_key"],
            f"{prefix}_TIKTOK_APP_SECRET": tts["app_secret"],
            f"{prefix}_TIKTOK_ACCESS_TOKEN": tts["access_token"],
            f"{prefix}_TIKTOK_REFRESH_TOKEN": tts["refresh_token"],
            f"{prefix}_RITHUM_URL": self.urls["rithum"],
            f"{prefix}_RITHUM_TOKEN_URL": f"{self.urls['rithum']}/oauth2/token",
            f"{prefix}_RITHUM_APPLICATION_ID": rithum.DEFAULT_CREDENTIALS["application_id"],
            f"{prefix}_RITHUM_SHARED_SECRET": rithum.DEFAULT_CREDENTIALS["shared_secret"],
            f"{prefix}_RITHUM_REFRESH_TOKEN": rithum.DEFAULT_CREDENTIALS["refresh_token"],
        }

    def salesforce_environ(self, prefix: str = "ACME") -> dict[str, str]:
        """With start_sandbox(salesforce=True): the Salesforce simulators' URLs and credentials."""
        from .salesforce import DEFAULT_CREDENTIALS as org
        from .salesforce import commerce_cloud

        cc, url = commerce_cloud.DEFAULT_CREDENTIALS, self.urls["salesforce_commerce_cloud"]
        return {f"{prefix}_SF_URL": self.urls["salesforce"], f"{prefix}_SF_CLIENT_ID": org["client_id"],
                f"{prefix}_SF_CLIENT_SECRET": org["client_secret"], f"{prefix}_SF_REFRESH_TOKEN": org["refresh_token"],
                f"{prefix}_SFCC_URL": url, f"{prefix}_SFCC_TOKEN_URL": f"{url}/dwsso/oauth2/access_token",
                **{f"{prefix}_SFCC_{k.upper()}": v for k, v in cc.items()}}

    def admin(self, name: str, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.urls[name]}/_admin/{path}", timeout=30, **kwargs)
        if response.is_error:  # the simulator's own words say why (raise_for_status drops them)
            raise httpx.HTTPStatusError(f"{name} {method} /_admin/{path}: {response.status_code} {response.text[:500]}",
                                        request=response.request, response=response)
        return response.json() if response.content else None

    def point_webhooks(self, url: str | None) -> None:
        """Deliver both simulators' webhooks as they happen to `url` (a running `connector serve`),
        keeping the path of each subscription's address; None delivers to the addresses again."""
        for name in ("tiktok_shop", "shopify"):
            self.admin(name, "POST", "webhooks/point", json={"url": url})
        self.webhook_url = url

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _point_images_at(products: list[dict], cdn_url: str) -> list[dict]:
    for product in products:
        for image in product.get("images", []):
            parts = urlsplit(image["src"])
            image["src"] = f"{cdn_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return products


def start_sandbox(*, seed: int = 7, products: int = 60, invalid_share: float = 0.1, max_variants: int = 8,
                  tiktok_options: dict | None = None, shopify_options: dict | None = None,
                  webhook_url: str | None = None, rithum_options: dict | None = None,
                  salesforce: bool = False) -> Sandbox:
    """`webhook_url`: the base URL of a running `connector serve`; see Sandbox.point_webhooks.
    `salesforce`: also the Salesforce core (Order Management, Service Cloud) and B2C Commerce
    simulators, the latter with a small catalog (see simulators/salesforce)."""
    sandbox = Sandbox()
    try:
        sandbox.servers["cdn"] = LoopbackServer(cdn.create_app()).start()
        sandbox.servers["tiktok_shop"] = LoopbackServer(
            tiktok_shop.create_app(seed=seed, **(tiktok_options or {}))).start()
        sandbox.servers["shopify"] = LoopbackServer(shopify.create_app(seed=seed, **(shopify_options or {}))).start()
        sandbox.servers["rithum"] = LoopbackServer(rithum.create_app(**(rithum_options or {}))).start()
        if products:
            catalog = generate_shopify_products(products, seed=seed, invalid_share=invalid_share,
                                                max_variants=max_variants)
            sandbox.products = _point_images_at(catalog, sandbox.urls["cdn"])
            sandbox.admin("shopify", "POST", "seed", json={"products": sandbox.products})
            # The same catalog in Rithum's shape (parents with their variations as children).
            sandbox.admin("rithum", "POST", "seed", content=dumps({"products": rithum_seed.from_generated(
                sandbox.products)}), headers={"Content-Type": "application/json"})
        if salesforce:
            from .salesforce import commerce_cloud
            from .salesforce import create_app as create_org

            sandbox.servers["salesforce"] = LoopbackServer(create_org()).start()
            sandbox.servers["salesforce_commerce_cloud"] = LoopbackServer(commerce_cloud.create_app(
                commerce_cloud.catalog(12, image_host=sandbox.urls["cdn"]))).start()
        if webhook_url:
            sandbox.point_webhooks(webhook_url)
    except Exception:
        sandbox.stop()
        raise
    return sandbox


def main(seed: int = 7, products: int = 60, webhook_url: str | None = None) -> None:  # pragma: no cover
    import signal
    import threading

    sandbox = start_sandbox(seed=seed, products=products, webhook_url=webhook_url)
    print(json.dumps(sandbox.describe()), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
