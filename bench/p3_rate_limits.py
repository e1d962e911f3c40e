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
    """The connector's own limiter (the spec's rate and burst, under TikTok's 50 QPS) against the
    simulator's bucket of `rate` per second. The figure is the sustained rate, after the first
    second (what either side allows at once is a burst, not a rate), against `rate`."""
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
        httpx.post(f"{server.url}/_admin/requests/clear", timeout=30)
        done: list[float] = []

        def push(index: int) -> None:
            conn.call("update_prices", path_params={"product_id": product_id},
                      body={"skus": [{"id": sku_id, "price": {"amount": f"{10 + index % 7}.00", "currency": "USD"}}]})
            done.append(time.monotonic())

        start = time.monotonic()
        elapsed = _drive(push, list(range(writes)), threads)
        conn.close()
        logged = httpx.get(f"{server.url}/_admin/requests", timeout=60).json()["requests"]
        throttled = sum(1 for r in logged if r.get("status") == 429)
        after_burst = sorted(t for t in done if t >= start + 1.0)
        sustained = (len(after_burst) - 1) / max(after_burst[-1] - after_burst[0], 1e-9)
        return {"elapsed": elapsed, "writes": writes, "sustained": sustained, "limit": rate, "throttled": throttled}
    finally:
        server.stop()


def shopify_graphql_cost(*, maximum: float, restore: float, writes: int, threads: int) -> dict:
    """Price updates (productVariantsBulkUpdate) through the GraphQL spec's cost limiter, against
    the simulator's cost bucket; the figure is the points charged per second against what the
    bucket could give in the same window (its level at the start plus the restore)."""
    from engine.http import Connection
    from simulators.common import LoopbackServer
    from simulators.shopify import DEFAULT_CREDENTIALS, create_app

    server = LoopbackServer(create_app()).start()
    try:
        seeded = httpx.post(f"{server.url}/_admin/seed", timeout=60, json={"products": [
            {"title": f"P{i}", "variants": [{"sku": f"G-{i}", "price": "10.00"}]} for i in range(writes)]}).json()
        products = [(p["id"], p["variants"][0]["id"]) for p in seeded["products"]]
        bucket = f"{server.url}/_admin/graphql/bucket"
        httpx.post(bucket, json={"maximum": maximum, "restore_rate": restore, "available": maximum}, timeout=30)
        conn = Connection(_spec("shopify_graphql"), settings={"base_url": f"{server.url}/admin/api/2025-01"},
                          credentials={"access_token": DEFAULT_CREDENTIALS["access_token"]})
        conn.limiter.maximum, conn.limiter.restore = maximum, restore
        conn.limiter._available = maximum

        def push(ids: tuple[int, int]) -> None:
            product_id, variant_id = ids
            conn.call("update_variant_prices", path_params={"product_id": str(product_id)},
                      body={"variants": [{"id": f"gid://shopify/ProductVariant/{variant_id}", "price": "11.00"}]})

        elapsed = _drive(push, products, threads)
        conn.close()
        end = httpx.get(bucket, timeout=30).json()
        charged = maximum + restore * elapsed - end["currentlyAvailable"]
        return {"elapsed": elapsed, "writes": writes, "charged": charged, "allowed": maximum + restore * elapsed,
                "throttled": end["throttled"]}
    finally:
        server.stop()


def _row(what: str, result: dict) -> Row:
    if "sustained" in result:  # a rate limit: the sustained rate against it
        achieved, allowed = result["sustained"], result["limit"]
    elif "charged" in result:  # a cost bucket: points charged per second against what it could give
        achieved, allowed = result["charged"] / result["elapsed"], result["allowed"] / result["elapsed"]
    else:  # a leaky bucket: writes against a bucketful plus the refill
        achieved, allowed = result["writes"] / result["elapsed"], result["allowed"] / result["elapsed"]
    fraction = achieved / allowed
    met = fraction >= 0.95 and result["throttled"] == 0
    def shown(rate: float) -> str:
        return fmt_rate(rate).replace("/s", " points/s") if "charged" in result else fmt_rate(rate)

    return Row("P3", f"{what} ({result['throttled']} throttled)", shown(achieved), shown(allowed), fraction, GOAL,
               met, extra=result)


def rows(cfg: Config, *, scale: float = 10.0) -> list[Row]:
    writes = cfg.size(240, 600)
    out = []
    for threads in (1, 8):
        result = shopify_rest(bucket=40, leak=2.0 * scale, writes=writes, threads=threads)
        out.append(_row(f"Shopify REST bucket 40 @ {2.0 * scale:g}/s, {threads} writer{'s' * (threads > 1)}", result))
    for threads in (1, 8):
        result = tiktok_qps(rate=50.0, writes=writes, threads=threads)
        out.append(_row(f"TikTok Shop 50 QPS per endpoint, {threads} writer{'s' * (threads > 1)}, sustained",
                        result))
    # Standard plan's 2,000 points restored at 100/s, scaled down as the REST bucket is: a bucket
    # of 200 restored at 100/s is drained within the run, so the limiter is what is measured.
    for threads in (1, 8):
        result = shopify_graphql_cost(maximum=200.0, restore=100.0, writes=writes, threads=threads)
        out.append(_row(f"Shopify GraphQL cost bucket 200 @ 100 points/s, {threads} "
                        f"writer{'s' * (threads > 1)}", result))
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
