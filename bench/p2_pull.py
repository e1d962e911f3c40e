"""P2: pull (and map) a paged product list from a local server, against a raw httpx loop.

The server (another process) answers pre-rendered pages of 250 Shopify products with Link
headers, so it does no work per request beyond sending bytes. The engine reads them through the
Shopify connector spec (`list_products`, link-header pagination; the rate limiter off, P3 covers
it) and maps them with the compiled `shopify.product_to_canonical`; the baseline follows the
same Link headers with a plain httpx.Client and maps with the hand-written function.

    .venv/bin/python bench/p2_pull.py [--full]
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import _data
import hand_mappings as hand
import httpx
from _common import ROOT, Config, Row, fmt_rate, interleaved, median_ratio
from _serve import Served

PAGE = 250


def _write_pages(products: list[dict], folder: Path) -> int:
    products = sorted(products, key=lambda p: p["id"])
    pages = [products[i:i + PAGE] for i in range(0, len(products), PAGE)]
    for number, page in enumerate(pages):
        (folder / f"{number}.json").write_bytes(json.dumps({"products": page}).encode())
    return len(pages)


def _connection(api: str):  # noqa: ANN202
    import yaml

    from engine.http import Connection, compile_connector
    from simulators.shopify import DEFAULT_CREDENTIALS

    raw = yaml.safe_load((ROOT / "connectors" / "shopify.yaml").read_text(encoding="utf-8"))
    raw["rate_limit"] = {"kind": "none"}
    return Connection(compile_connector(raw), settings={"base_url": api},
                      credentials={"access_token": DEFAULT_CREDENTIALS["access_token"]})


def rows(cfg: Config) -> list[Row]:
    from p1_mapping import _compiled

    total = cfg.size(5000, 20000)
    plan = _compiled(["shopify.product_to_canonical"])["shopify.product_to_canonical"]
    products = _data.rendered(_data.generated(total, seed_value=cfg.seed, max_variants=8))
    with tempfile.TemporaryDirectory() as tmp:
        pages = _write_pages(products, Path(tmp))
        with Served("pages", tmp) as server:
            api = server.info["api"]
            conn = _connection(api)
            client = httpx.Client(timeout=30)

            def engine(mapped: bool):  # noqa: ANN202
                def run() -> float:
                    start, count = time.perf_counter(), 0
                    for page in conn.paginate("list_products"):
                        for record in page.records:
                            if mapped:
                                result = plan.apply(record)
                                assert result.ok, result.errors
                            count += 1
                    assert count == len(products), count
                    return count / (time.perf_counter() - start)
                return run

            def raw(mapped: bool):  # noqa: ANN202
                def run() -> float:
                    start, count = time.perf_counter(), 0
                    url: str | None = f"{api}/products.json?limit={PAGE}"
                    while url:
                        response = client.get(url, headers={"X-Shopify-Access-Token": "x"})
                        response.raise_for_status()
                        for record in response.json()["products"]:
                            if mapped:
                                hand.shopify_product_to_canonical(record)
                            count += 1
                        url = response.links.get("next", {}).get("url")
                    assert count == len(products), count
                    return count / (time.perf_counter() - start)
                return run

            first = [r for page in conn.paginate("list_products") for r in page.records][:200]
            for record in first:  # the two sides must do the same work
                assert plan.apply(record).output == hand.shopify_product_to_canonical(record)
            figures = interleaved({"pull": engine(False), "raw": raw(False), "pull+map": engine(True),
                                   "raw+hand": raw(True)}, cfg.rounds)
            conn.close()
            client.close()
    what = f"{len(products):,} products, {pages} pages"
    out = []
    for id_, label, top, bottom, goal in (
            ("P2", f"pull {what}, vs raw httpx", "pull", "raw", "info"),
            ("P2", f"pull + map {what}, vs raw + hand map", "pull+map", "raw+hand", ">= 0.8x")):
        ratio = median_ratio(figures[top], figures[bottom])
        met = None if goal == "info" else ratio >= 0.8
        out.append(Row(id_, label, fmt_rate(statistics.median(figures[top])), fmt_rate(statistics.median(figures[bottom])),
                       ratio, goal, met, extra={k: statistics.median(v) for k, v in figures.items()}))
    return out


def main(argv: list[str] | None = None) -> None:
    from _common import standalone

    standalone(__doc__, rows, "P2 pull and map", argv, rounds=True)


if __name__ == "__main__":
    main()
