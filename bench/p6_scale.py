"""P6: a catalog sync at growing catalog sizes: peak memory and CPU time per 1,000 products.

Each size runs in a fresh process (so its peak RSS is its own), against the sandbox simulators in
another process (so their memory and CPU are not counted), with rate limits lifted. The sync is
run twice (first listing, then an unchanged re-run); the peak is over both. The baseline of each
row is the smallest size: memory should stay flat and CPU per product constant as the catalog grows.

    .venv/bin/python bench/p6_scale.py [--full]        # 250 and 1,000, or 1k/10k/100k
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from _common import Config, Row, peak_rss_mb

RSS_GOAL, CPU_GOAL = "<= 200 MB, flat", "constant"


def child(products: int) -> dict:
    import _sync

    from engine.flow.runner import FlowRun

    with _sync.sandbox(products, max_variants=8) as served:
        merchant = _sync.merchant(served)
        try:
            cpu, wall = time.process_time(), time.perf_counter()
            first = FlowRun(merchant, "catalog").run()
            first_cpu, first_wall = time.process_time() - cpu, time.perf_counter() - wall
            first_rss = peak_rss_mb()
            cpu = time.process_time()
            again = FlowRun(merchant, "catalog").run()
            again_cpu = time.process_time() - cpu
        finally:
            merchant.close()
    return {"products": products, "first_cpu": first_cpu, "first_wall": first_wall, "again_cpu": again_cpu,
            "first_rss": first_rss, "peak_rss": peak_rss_mb(), "first": first.counts, "again": again.counts}


def measure(products: int) -> dict:
    out = subprocess.run([sys.executable, str(Path(__file__)), "--child", str(products)], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"P6 child for {products} products failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def rows(cfg: Config) -> list[Row]:
    sizes = [1000, 10_000, 100_000] if cfg.full else [250, 1000]
    results = [measure(n) for n in sizes]
    base = results[0]
    base_cpu = base["first_cpu"] / base["products"] * 1000
    out = []
    for result in results:
        n = result["products"]
        ratio = result["peak_rss"] / base["peak_rss"]
        out.append(Row("P6", f"catalog sync {n:,} products (and re-run): peak RSS",
                       f"{result['peak_rss']:.0f} MB", f"{base['peak_rss']:.0f} MB", ratio, RSS_GOAL,
                       result["peak_rss"] <= 200 and ratio <= 1.25, extra=result))
    for result in results:
        n = result["products"]
        per = result["first_cpu"] / n * 1000
        out.append(Row("P6", f"catalog sync {n:,} products: CPU s per 1,000 (wall {result['first_wall']:.0f} s)",
                       f"{per:.2f} s", f"{base_cpu:.2f} s", per / base_cpu, CPU_GOAL, per / base_cpu <= 1.25,
                       extra=result))
    return out


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return
    from _common import print_table

    print_table(rows(Config(full=args.full)), title="P6 catalog size")


if __name__ == "__main__":
    main()
