"""A catalog sync of the example merchant (examples/acme: Shopify -> TikTok Shop US) against the
sandbox simulators running in another process, for the P4 and P6 rows.

The simulators' rate limits are lifted, and so is the connection's own limiter, so that a sync
is bounded by the engine and not by a 50-calls-a-second budget (P3 measures the limiters).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT
from _serve import Served

UNLIMITED = {"tiktok_options": {"rate_limit_per_second": 0},
             "shopify_options": {"bucket_size": 1_000_000, "leak_per_second": 1_000_000.0}}
WRITE = ("POST", "PUT", "DELETE")


def sandbox(products: int, *, seed: int = 11, invalid_share: float = 0.05, max_variants: int = 8) -> Served:
    """The simulators in a process of their own, the shop seeded with `products` generated products
    by a third process in slices (one request of 10,000 products outlasts the admin timeout on a
    busy machine, and the generated catalog is not the engine's memory either)."""
    import json
    import subprocess
    import sys

    options = {"products": 0, "seed": seed, "invalid_share": invalid_share, "max_variants": max_variants, **UNLIMITED}
    served = Served("sandbox", json.dumps(options))
    if products:
        try:
            subprocess.run([sys.executable, __file__, json.dumps({
                "shopify": served.info["shopify"], "cdn": served.info["cdn"], "products": products, "seed": seed,
                "invalid_share": invalid_share, "max_variants": max_variants})], check=True, cwd=str(ROOT))
        except BaseException:
            served.close()
            raise
    return served


def _seed(shopify: str, cdn: str, products: int, seed: int, invalid_share: float, max_variants: int) -> None:
    from simulators.catalog import generate_shopify_products
    from simulators.sandbox import _point_images_at

    catalog = _point_images_at(generate_shopify_products(products, seed=seed, invalid_share=invalid_share,
                                                         max_variants=max_variants), cdn)
    with httpx.Client(timeout=600) as client:
        for start in range(0, len(catalog), 1000):
            client.post(f"{shopify}/_admin/seed", json={"products": catalog[start:start + 1000]}).raise_for_status()


class Shop:
    """The sandbox seen from the benchmark: admin calls and request logs."""

    def __init__(self, served: Served) -> None:
        self.info = served.info
        self.client = httpx.Client(timeout=600)

    def admin(self, name: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, f"{self.info[name]}/_admin/{path}", **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def clear_logs(self) -> None:
        for name in ("tiktok_shop", "shopify"):
            self.admin(name, "POST", "requests/clear")

    def requests(self, name: str) -> list[dict]:
        return self.admin(name, "GET", "requests")["requests"]

    def shopify(self, method: str, path: str, body: Any = None) -> Any:
        from simulators.shopify import DEFAULT_CREDENTIALS

        response = self.client.request(method, f"{self.info['shopify_api']}/{path}", json=body,
                                       headers={"X-Shopify-Access-Token": DEFAULT_CREDENTIALS["access_token"]})
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.client.close()


def tiktok_writes(requests: list[dict]) -> list[dict]:
    """Calls that change the shop: POST/PUT/DELETE except searches (POST .../search) and token refresh."""
    return [r for r in requests if r["method"] in WRITE and "search" not in r["path"] and "token" not in r["path"]]


def tiktok_reads(requests: list[dict]) -> list[dict]:
    return [r for r in requests if r not in tiktok_writes(requests)]


def merchant(served: Served, workdir: Path | None = None) -> Any:
    """The example merchant bound to this sandbox, with state in a fresh temporary folder."""
    from engine.flow.runner import Merchant
    from engine.http.ratelimit import build_limiter

    folder = Path(workdir or tempfile.mkdtemp(prefix="bench-merchant-"))
    shutil.copytree(ROOT / "examples" / "acme", folder / "acme", dirs_exist_ok=True)
    found = Merchant(folder / "acme" / "merchant.yaml", environ=served.info["environ"])
    for name in ("shopify", "tiktok_us"):
        conn = found.connection(name)
        conn.limiter = build_limiter({"kind": "none"}, clock=conn.monotonic, sleep=conn.sleep)
    return found


if __name__ == "__main__":
    import json
    import sys

    _seed(**json.loads(sys.argv[1]))
