"""`make bench`: every benchmark row P1..P10 in one table, each figure beside its baseline.

    .venv/bin/python bench/run_all.py               # quick sizes: a few minutes on 2 cores
    .venv/bin/python bench/run_all.py --full        # the issue's sizes (20,000-product pulls, 100k catalogs)
    .venv/bin/python bench/run_all.py P1 P3         # only these rows
    .venv/bin/python bench/run_all.py --json out.json

Each row's baseline does the same work in the same process (hand-written Python, a raw httpx
loop, the configured limit, the smallest catalog); figures are medians of interleaved rounds.
Absolute figures depend on the machine and are only shown; the goals are about the ratios.
Rows whose parts are not built yet say which issue they wait on, and run once those parts exist.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _common import Config, Row, print_table  # noqa: E402

# id -> (module, what the row measures, its goal): the row says this much even when it fails.
BENCHES = {
    "P1": ("p1_mapping", "mapping records/s vs hand-written Python", ">= 0.8x"),
    "P2": ("p2_pull", "pull + map from a paged server vs raw httpx", ">= 0.8x"),
    "P3": ("p3_rate_limits", "writes vs the configured rate limit", ">= 95%, 0 throttled"),
    "P4": ("p4_rerun", "writes and reads of catalog re-runs", "0 / = changed"),
    "P5": ("p5_webhooks", "5,000 order webhooks in 60 s", "ack p99 < 50 ms"),
    "P6": ("p6_scale", "catalog sync: peak RSS, CPU per 1,000", "<= 200 MB flat"),
    "P7": ("p7_workers", "workers 1/2/4 on PostgreSQL", "near linear"),
    "P8": ("p8_inventory", "inventory updates/s to TikTok vs its limit", ">= 95%, 0 throttled"),
    "P9": ("p9_graphql_bulk", "GraphQL bulk read + dry-run sync: peak RSS, records/s", "<= 200 MB, nearly equal"),
    "P10": ("p10_sale_race", "units oversold when both platforms sell the last units", "0 at 67/s"),
}


def run(ids: list[str], cfg: Config) -> list[Row]:
    rows: list[Row] = []
    for id_ in ids:
        module_name, what, goal = BENCHES[id_]
        start = time.perf_counter()
        print(f"{id_} ...", end=" ", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(module_name)
            found = module.rows(cfg)
        except Exception as exc:  # noqa: BLE001  (one broken row must not hide the others)
            traceback.print_exc()
            found = [Row(id_, what, goal=goal, note=f"failed: {type(exc).__name__}: {exc}"[:200])]
        print(f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        rows.extend(found)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="rows to run (P1..P10); all by default")
    parser.add_argument("--full", action="store_true", help="the issue's sizes instead of the quick ones")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per measured row (default 5)")
    parser.add_argument("--json", type=Path, help="also write every row, with its raw figures, to this file")
    args = parser.parse_args(argv)
    ids = [i.upper() for i in args.ids] or list(BENCHES)
    unknown = [i for i in ids if i not in BENCHES]
    if unknown:
        parser.error(f"unknown rows {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    cfg = Config(full=args.full, rounds=args.rounds)
    start = time.perf_counter()
    rows = run(ids, cfg)
    size = "full sizes" if cfg.full else "quick sizes (--full: the issue's)"
    print_table(rows, title=f"Benchmarks, {size}; medians of {cfg.rounds} rounds")
    print(f"{time.perf_counter() - start:.0f} s in all; absolute figures are this machine's, "
          "only the ratios are held to the goals.")
    if args.json:
        args.json.write_text(json.dumps([row.__dict__ for row in rows], indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
