"""P9: a catalog read through a Shopify GraphQL bulk operation and synced (dry run against TikTok
Shop): peak memory at two catalog sizes, and records per second.

Each size runs in a fresh process (so its peak RSS is its own), against the sandbox simulators in
another process (so the simulated shop's 100,000 products are not counted), with rate limits
lifted. The process first reads the whole catalog through the bulk operation alone (start, poll,
stream the JSONL, join variants to products), then runs the catalog flow as a dry run with the
store on the GraphQL connector (examples/acme_graphql), which reads it the same way. Memory must
not grow with the catalog: the JSONL is streamed and the flow holds a page of records at a time.

    .venv/bin/python bench/p9_graphql_bulk.py [--full]        # 1k and 5k, or 10k and 100k
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, Config, Row, peak_rss_mb

RSS_GOAL = "<= 200 MB, nearly equal"


def child(products: int) -> dict:
    import _sync
    import httpx

    from engine.flow.runner import FlowRun, Merchant
    from engine.http.ratelimit import build_limiter

    with _sync.sandbox(0) as served:
        shopify = served.info["shopify"]
        # The catalog is made and seeded by another process, so it is not counted here.
        subprocess.run([sys.executable, str(Path(__file__)), "--seed", str(products), shopify, served.info["cdn"]],
                       check=True)
        httpx.post(f"{shopify}/_admin/graphql/bucket", json={"maximum": 1e12, "restore_rate": 1e12}).raise_for_status()
        folder = Path(tempfile.mkdtemp(prefix="bench-p9-"))
        shutil.copytree(ROOT / "examples" / "acme_graphql", folder / "acme")
        environ = {**served.info["environ"], "ACME_SHOPIFY_GRAPHQL_URL": f"{shopify}/admin/api/2026-01"}
        merchant = Merchant(folder / "acme" / "merchant.yaml", environ=environ)
        try:
            for name in ("shopify", "tiktok_us"):
                conn = merchant.connection(name)
                conn.limiter = build_limiter({"kind": "none"}, clock=conn.monotonic, sleep=conn.sleep)
            conn = merchant.connection("shopify")
            wall = time.perf_counter()
            read = variants = 0
            for page in conn.paginate("bulk_products"):
                read += len(page.records)
                variants += sum(len(r.get("variants", {}).get("nodes", [])) for r in page.records)
            read_wall = time.perf_counter() - wall
            read_rss = peak_rss_mb()
            wall = time.perf_counter()
            report = FlowRun(merchant, "catalog", dry_run=True).run()
            sync_wall = time.perf_counter() - wall
        finally:
            merchant.close()
            shutil.rmtree(folder, ignore_errors=True)
    synced = sum(report.counts.values())
    return {"products": products, "read": read, "variants": variants, "read_wall": read_wall,
            "read_rate": read / read_wall, "read_rss": read_rss, "sync_wall": sync_wall,
            "sync_rate": synced / sync_wall, "counts": report.counts, "status": report.status,
            "peak_rss": peak_rss_mb()}


def seed(products: int, shopify: str, cdn: str) -> None:
    """Seed the simulated shop in slices: one request of 100,000 products outlasts any timeout."""
    import httpx

    from simulators.catalog import generate_shopify_products
    from simulators.sandbox import _point_images_at

    catalog = _point_images_at(generate_shopify_products(products, seed=11, invalid_share=0.05, max_variants=8), cdn)
    for start in range(0, len(catalog), 5000):
        httpx.post(f"{shopify}/_admin/seed", json={"products": catalog[start:start + 5000]},
                   timeout=600).raise_for_status()


def measure(products: int) -> dict:
    out = subprocess.run([sys.executable, str(Path(__file__)), "--child", str(products)], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"P9 child for {products} products failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def rows(cfg: Config) -> list[Row]:
    sizes = [10_000, 100_000] if cfg.full else [1000, 5000]
    results = [measure(n) for n in sizes]
    base = results[0]
    out = []
    for result in results:
        n = result["products"]
        ratio = result["peak_rss"] / base["peak_rss"]
        complete = result["read"] == n and result["status"] == "ok" and sum(result["counts"].values()) == n
        out.append(Row("P9", f"GraphQL bulk read + dry-run sync, {n:,} products: peak RSS",
                       f"{result['peak_rss']:.0f} MB", f"{base['peak_rss']:.0f} MB", ratio, RSS_GOAL,
                       complete and result["peak_rss"] <= 200 and ratio <= 1.25, extra=result))
    for result in results:
        out.append(Row("P9", f"  {result['products']:,} products: bulk read / dry-run sync records/s",
                       f"{result['read_rate']:.0f} / {result['sync_rate']:.0f}", note=f"{result['variants']:,} variants; "
                       f"read {result['read_wall']:.0f} s, sync {result['sync_wall']:.0f} s", extra=result))
    return out


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        seed(int(args.seed[0]), args.seed[1], args.seed[2])
        return
    if args.child:
        print(json.dumps(child(args.child)))
        return
    from _common import print_table

    print_table(rows(Config(full=args.full)), title="P9 GraphQL bulk catalog")


if __name__ == "__main__":
    main()
