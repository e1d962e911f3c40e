"""P3: how close the proactive limiters get to each platform's limit without a throttled answer.

Writes go through the real connector specs to the simulators on loopback, from 1 and from 8
threads sharing one connection. The figure is the achieved write rate; the baseline is the most
any client could have sent in the same window (one bucketful plus the refill over the elapsed
time); their ratio is what the goal is about, with the number of throttled answers beside it.

Shopify REST's leak rate is scaled by `scale` on both sides (40 calls draining at 2/s becomes
40 at 20/s): the ratio of bucket to leak, which the limiter has to get right, is unchanged.

    .venv/bin/python bench/p3_rate_limits.py [--scale 1] [--writes 300]
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import httpx
import yaml
from _common import ROOT, Config, Row, fmt_rate

GOAL = ">= 95%, 0 throttled"


def _spec(name: str) -> Any:
    from engine.http import compile_connector

    return compile_connector(yaml.safe_load((ROOT / "connectors" / f"{name}.yaml").read_text(encoding="utf-8")))


def _drive(push: Any, items: list, threads: int) -> float:
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(push, items))
    return time.monotonic() - start


def shopify_rest(*, bucket: int, leak: float, writes: int, threads: int) -> dict:
    from engine.http import Connection
    from simulators.common import LoopbackServer
    from simulators.shopify import DEFAULT_CREDENTIALS, create_app

    server = LoopbackServer(create_app(bucket_size=bucket, leak_per_second=leak)).start()
    try:
        seeded = httpx.post(f"{server.url}/_admin/seed", timeout=60, json={"products": [
            {"title": f"P{i}", "variants": [{"sku": f"B-{i}", "price": "10.00"}]} for i in range(writes)]}).json()
        variants = [p["variants"][0]["id"] for p in seeded["products"]]
        conn = Connection(_spec("shopify"), settings={"base_url": f"{server.url}/admin/api/2025-01"},
                          credentials={"access_token": DEFAULT_CREDENTIALS["access_token"]})
        conn.limiter.size, conn.limiter.leak = bucket, leak

        def push(variant_id: int) -> None:
            conn.call("update_variant", path_params={"variant_id": variant_id},
                      body={"variant": {"id": variant_id, "price": "11.00"}})

        elapsed = _drive(push, variants, threads)
        conn.close()
        stats = httpx.get(f"{server.url}/_admin/stats").json()
        return {"elapsed": elapsed, "writes": writes, "allowed": bucket + leak * elapsed,
                "throttled": stats["throttled"]}
    finally:
        server.stop()


def tiktok_qps(*, rate: float, writes: int, threads: int) -> dict:
    from engine.http import Connection
    from simulators.catalog import generate_tiktok_listings
    from simulators.common import LoopbackServer
    from simulators.tiktok_shop import DEFAULT_CREDENTIALS, create_app

    server = LoopbackServer(create_app(rate_limit_per_second=rate)).start()
    try:
        listing = generate_tiktok_listings(1, seed=5, currency="USD", warehouse_ids=["7068517275539719942"])[0]
        planted = httpx.post(f"{server.url}/_admin/seed", json={"products": [listing]}, timeout=60).json()
        product_id = planted["products"][0]
        state = httpx.get(f"{server.url}/_admin/state", timeout=60).json()
        product = next(p for p in state["products"] if str(p["id"]) == str(product_id))
        sku_id = product["skus"][0]["id"]
        creds = DEFAULT_CREDENTIALS
        conn = Connection(_spec("tiktok_shop"), settings={"shop_cipher": creds["shop_cipher"], "base_url": server.url,
                                                           "token_url": f"{server.url}/api/v2/token/refresh"},
                          credentials={k: creds[k] for k in ("app_key", "app_secret", "access_token", "refresh_token")})
        conn.limiter.rate, conn.limiter.capacity = rate, rate
        conn.limiter._tokens = rate
        httpx.post(f"{server.url}/_admin/requests/clear", timeout=30)

        def push(index: int) -> None:
            conn.call("update_prices", path_params={"product_id": product_id},
                      body={"skus": [{"id": sku_id, "price": {"amount": f"{10 + index % 7}.00", "currency": "USD"}}]})

        elapsed = _drive(push, list(range(writes)), threads)
        conn.close()
        logged = httpx.get(f"{server.url}/_admin/requests", timeout=60).json()["requests"]
        throttled = sum(1 for r in logged if r.get("status") == 429)
        return {"elapsed": elapsed, "writes": writes, "allowed": rate + rate * elapsed, "throttled": throttled}
    finally:
        server.stop()


def _row(what: str, result: dict) -> Row:
    achieved = result["writes"] / result["elapsed"]
    allowed = result["allowed"] / result["elapsed"]
    fraction = result["writes"] / result["allowed"]
    met = fraction >= 0.95 and result["throttled"] == 0
    return Row("P3", f"{what} ({result['throttled']} throttled)", fmt_rate(achieved), fmt_rate(allowed),
               fraction, GOAL, met, extra=result)


def rows(cfg: Config, *, scale: float = 10.0) -> list[Row]:
    writes = cfg.size(240, 600)
    out = []
    for threads in (1, 8):
        result = shopify_rest(bucket=40, leak=2.0 * scale, writes=writes, threads=threads)
        out.append(_row(f"Shopify REST bucket 40 @ {2.0 * scale:g}/s, {threads} writer{'s' * (threads > 1)}", result))
    for threads in (1, 8):
        result = tiktok_qps(rate=50.0, writes=writes, threads=threads)
        out.append(_row(f"TikTok Shop 50 QPS per endpoint, {threads} writer{'s' * (threads > 1)}", result))
    out.append(Row("P3", "Shopify GraphQL cost bucket", goal=GOAL,
                   note="not built yet: Shopify GraphQL (issue 13)"))
    return out


def main(argv: list[str] | None = None) -> None:
    import argparse

    from _common import print_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--scale", type=float, default=10.0, help="Shopify leak-rate multiplier on both sides")
    args = parser.parse_args(argv)
    print_table(rows(Config(full=args.full), scale=args.scale), title="P3 rate limits")


if __name__ == "__main__":
    main()
