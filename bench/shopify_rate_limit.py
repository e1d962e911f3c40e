"""Benchmark: how close the proactive Shopify limiter gets to the REST limit without a 429.

Runs the Shopify simulator on loopback and pushes variant price updates through the real
connector spec (connectors/shopify.yaml) for several configurations, then prints one table row
each: the configured limit, the achieved write rate, that rate as a fraction of what the limit
allows in the same window (one bucketful plus the leak), and how many 429s the simulator answered.

The leak rate is scaled by `--scale` on both sides (simulator and connection): Shopify Standard's
40-call bucket draining at 2/s becomes 40 at 2*scale/s. The ratio of bucket to leak is what the
limiter has to get right, and that is unchanged; `--scale 1` runs in real time.

    .venv/bin/python bench/shopify_rate_limit.py               # scale 10, ~1 minute
    .venv/bin/python bench/shopify_rate_limit.py --scale 1 --writes 300
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.http import Connection, compile_connector  # noqa: E402
from simulators.common import LoopbackServer  # noqa: E402
from simulators.shopify import DEFAULT_CREDENTIALS, create_app  # noqa: E402


def run(compiled, *, bucket: int, leak: float, writes: int, threads: int, limiter: bool) -> dict:
    server = LoopbackServer(create_app(bucket_size=bucket, leak_per_second=leak)).start()
    try:
        seeded = httpx.post(f"{server.url}/_admin/seed", json={"products": [
            {"title": f"P{i}", "variants": [{"sku": f"B-{i}", "price": "10.00"}]} for i in range(writes)]}).json()
        variants = [p["variants"][0]["id"] for p in seeded["products"]]
        spec = compiled
        if not limiter:
            raw = dict(compiled.spec)
            raw["rate_limit"] = {"kind": "none"}
            spec = compile_connector(raw)
        conn = Connection(spec, settings={"base_url": f"{server.url}/admin/api/2025-01"},
                          credentials={"access_token": DEFAULT_CREDENTIALS["access_token"]})
        if limiter:
            conn.limiter.size, conn.limiter.leak = bucket, leak

        def push(variant_id: int) -> None:
            conn.call("update_variant", path_params={"variant_id": variant_id},
                      body={"variant": {"id": variant_id, "price": "11.00"}})

        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(push, variants))
        elapsed = time.monotonic() - start
        stats = httpx.get(f"{server.url}/_admin/stats").json()
        # The most a perfect client could have sent in that window: one full bucket plus the leak.
        allowed = bucket + leak * elapsed
        return {"elapsed": elapsed, "rate": writes / elapsed, "allowed_rate": allowed / elapsed,
                "fraction": writes / allowed, "throttled": stats["throttled"], "requests": stats["requests"]}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0, help="leak-rate multiplier on both sides")
    parser.add_argument("--writes", type=int, default=300)
    args = parser.parse_args()
    compiled = compile_connector(yaml.safe_load((ROOT / "connectors" / "shopify.yaml").read_text()))
    configs = [
        ("Standard", 40, 2.0, 1, True),
        ("Standard", 40, 2.0, 8, True),
        ("Advanced", 40, 4.0, 4, True),
        ("no limiter", 40, 2.0, 4, False),
    ]
    header = (f"{'plan (leak x' + format(args.scale, 'g') + ')':<22} {'limit':>12} {'threads':>7} {'writes':>6} "
              f"{'secs':>6} {'achieved/s':>10} {'allowed/s':>9} {'of limit':>8} {'429s':>5}")
    print(header)
    print("-" * len(header))
    for name, bucket, leak, threads, limiter in configs:
        scaled = leak * args.scale
        r = run(compiled, bucket=bucket, leak=scaled, writes=args.writes, threads=threads, limiter=limiter)
        print(f"{name:<22} {f'{bucket} @ {scaled:g}/s':>12} {threads:>7} {args.writes:>6} {r['elapsed']:>6.1f} "
              f"{r['rate']:>10.2f} {r['allowed_rate']:>9.2f} {r['fraction']:>8.1%} {r['throttled']:>5}")
    print("\nallowed/s = (bucket + leak * secs) / secs: the most any client could send in that window;"
          "\nof limit = writes / (bucket + leak * secs). 429s = throttled answers counted by the simulator.")

if __name__ == "__main__":
    main()
