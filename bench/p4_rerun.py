"""P4: what a re-run costs. After a first catalog sync, an unchanged re-run should write nothing,
a re-run after 1% of the products changed should write once per changed product, and neither
should read again reference data that has not changed (category attributes, rules, brands).

    .venv/bin/python bench/p4_rerun.py [--full]
"""

from __future__ import annotations

import _sync
from _common import Config, Row

REFERENCE = ("/categories", "/brands", "/warehouses", "/prerequisites", "/rules")


def rows(cfg: Config) -> list[Row]:
    from engine.flow.runner import FlowRun

    total = cfg.size(200, 2000)
    with _sync.sandbox(total) as served:
        shop = _sync.Shop(served)
        merchant = _sync.merchant(served)
        try:
            first = FlowRun(merchant, "catalog").run()
            listed = [r["key"] for r in merchant.store.list_mappings("product", "tiktok_us")]
            shop.clear_logs()
            again = FlowRun(merchant, "catalog").run()
            unchanged = shop.requests("tiktok_shop")
            writes = _sync.tiktok_writes(unchanged)
            reference = [r for r in unchanged if r["method"] == "GET" and any(p in r["path"] for p in REFERENCE)]

            changed = listed[: max(1, len(listed) // 100)]
            for key in changed:
                product = shop.shopify("GET", f"products/{key}.json")["product"]
                variant = product["variants"][0]
                shop.shopify("PUT", f"variants/{variant['id']}.json",
                             {"variant": {"id": variant["id"], "price": "123.45"}})
            shop.clear_logs()
            third = FlowRun(merchant, "catalog").run()
            changed_writes = _sync.tiktok_writes(shop.requests("tiktok_shop"))
        finally:
            merchant.close()
            shop.close()
    letters = again.counts.get("dead_letter", 0)
    listed_n = first.counts.get("create", 0)
    return [
        Row("P4", f"unchanged re-run of {listed_n} listed products: writes", str(len(writes)), "0", None,
            "0 writes", not writes, extra={"counts": again.counts}),
        Row("P4", f"re-run with {len(changed)} of {listed_n} changed (1%): writes", str(len(changed_writes)),
            str(len(changed)), len(changed_writes) / len(changed), "= changed",
            len(changed_writes) == len(changed), extra={"counts": third.counts}),
        Row("P4", "unchanged re-run: reads of reference data (category attributes...)", str(len(reference)), "0",
            None, "0 within TTL", not reference,
            note="" if not reference else "reference reads not kept across runs (fetch cache_hours)"),
        Row("P4", "unchanged re-run: invalid records dead-lettered again", str(letters), "0", None, "info",
            extra={"first": first.counts}),
    ]


def main(argv: list[str] | None = None) -> None:
    from _common import standalone

    standalone(__doc__, rows, "P4 re-runs", argv)


if __name__ == "__main__":
    main()
