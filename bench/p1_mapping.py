"""P1: records per second through the compiled mapping plans, against hand-written Python.

Each shipped mapping and its hand-written twin (bench/hand_mappings.py) map the same records; the
outputs are compared record by record first, and a row whose outputs differ says where instead
of a figure. Then both run in interleaved rounds.

    .venv/bin/python bench/p1_mapping.py [--full]
"""

from __future__ import annotations

import statistics
from typing import Any

import _data
import hand_mappings as hand
from _common import ROOT, Config, Row, first_difference, fmt_rate, interleaved, median_ratio, rate

GOAL = ">= 0.8x"
ORDER_MAPPING = ROOT / "mappings" / "tiktok_shop" / "order_to_canonical.yaml"


def _compiled(names: list[str]) -> dict[str, Any]:
    from engine.project.loader import Project
    from engine.project.validate import Validator

    project = Project.load([], include_shipped=True)
    validator = Validator(project)
    plans = {}
    for name in names:
        document = project.get("mapping", name)
        plans[name] = None if document is None else validator.compile_mapping(document.doc)
        if document is not None and plans[name] is None:
            raise RuntimeError(f"{name} does not compile: {validator.problems}")
    return plans


def _order_mapping_name() -> str | None:
    if not ORDER_MAPPING.is_file():
        return None
    import yaml

    return (yaml.safe_load(ORDER_MAPPING.read_text(encoding="utf-8")) or {}).get("name")


def _row(id: str, what: str, plan: Any, baseline: Any, records: list, context: dict | None, rounds: int,
         unit: str = "/s") -> Row:
    outputs = []
    for record in records:
        result = plan.apply(record, context)
        if not result.ok:
            return Row(id, what, goal=GOAL, note=f"mapping failed: {result.errors[0].as_dict()}")
        expected = baseline(record)
        found = first_difference(result.output, expected)
        if found:
            return Row(id, what, goal=GOAL, note=f"outputs differ at {found}"[:120])
        outputs.append(result.output)
    figures = interleaved({"engine": rate(lambda r: plan.apply(r, context), records),
                           "hand": rate(baseline, records)}, rounds)
    ratio = median_ratio(figures["engine"], figures["hand"])
    engine, written = statistics.median(figures["engine"]), statistics.median(figures["hand"])
    return Row(id, what, fmt_rate(engine, unit), fmt_rate(written, unit), ratio, GOAL, ratio >= 0.8,
               extra={"engine_per_s": engine, "hand_per_s": written, "records": len(records)})


def rows(cfg: Config) -> list[Row]:
    order_name = _order_mapping_name()
    plans = _compiled(["shopify.product_to_canonical", "tiktok_shop.product_from_canonical",
                       *([order_name] if order_name else [])])
    to_canonical, to_tiktok = plans["shopify.product_to_canonical"], plans["tiktok_shop.product_from_canonical"]
    out = []
    five = _data.rendered(_data.generated(cfg.size(600, 3000), seed_value=cfg.seed, variants=5))
    fifty = _data.rendered(_data.generated(cfg.size(80, 400), seed_value=cfg.seed, variants=50))
    out.append(_row("P1", "Shopify product -> canonical, 5 variants", to_canonical, hand.shopify_product_to_canonical,
                    five, None, cfg.rounds))
    out.append(_row("P1", "Shopify product -> canonical, 50 variants", to_canonical,
                    hand.shopify_product_to_canonical, fifty, None, cfg.rounds))

    canonical = [to_canonical.apply(p).output for p in five]
    categories = sorted({c["category"]["name"] for c in canonical})
    context = {"category_map": {name: str(600000 + i) for i, name in enumerate(categories)},
               "category_attributes": {str(600000 + i): [{"id": "100392", "values": [{"id": "1000041"}]}]
                                       for i in range(len(categories))},
               "warehouse_id": "7068517275539719942",
               "image_uris": {image["url"]: f"tos-maliva-i-{i}" for c in canonical
                              for i, image in enumerate(c.get("images", []))}}
    out.append(_row("P1", "canonical -> TikTok product body, 5 variants", to_tiktok,
                    lambda c: hand.canonical_to_tiktok_product(c, context), canonical, context, cfg.rounds))

    what = "TikTok order (10 lines) -> canonical"
    order = _data.tiktok_order(lines=10)
    if order_name is None:
        out.append(Row("P1", what, goal=GOAL, note=f"mapping not present: {ORDER_MAPPING.relative_to(ROOT)}"))
    elif order is None:
        out.append(Row("P1", what, goal=GOAL, note="no order sample (shared/payloads)"))
    else:
        out.append(_row("P1", what, plans[order_name], hand.tiktok_order_to_canonical,
                        [order] * cfg.size(2000, 10000), {"connection": "tiktok_us"}, cfg.rounds))
    return out


def main(argv: list[str] | None = None) -> None:
    from _common import standalone

    standalone(__doc__, rows, "P1 mapping throughput", argv, rounds=True)


if __name__ == "__main__":
    main()
