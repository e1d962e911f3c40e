"""Charts count what the runs recorded, per connection and hour; text from a platform or a record
is shown as text, never as markup."""

from __future__ import annotations

from engine.ui import charts, views


def test_throughput_counts_each_runs_records_on_the_connections_of_its_flow(page) -> None:
    _, merchant, _ = page
    series = views.throughput(merchant)
    assert set(series) == {"shopify", "tiktok_us"}
    # the catalog run (6 records, 5 dead-lettered) binds both connections; the failed orders run has none
    for name in ("tiktok_us", "shopify"):
        filled = [p for p in series[name] if p["records"]]
        assert [(p["records"], p["errors"]) for p in filled] == [(6, 5)]
    chart = charts.time_bars(series["tiktok_us"])
    assert chart["top"] == 6 and (chart["records"], chart["errors"]) == (6, 5)
    ok, err = chart["bars"]
    assert ok["cls"] == "ok" and err["cls"] == "err" and err["h"] < ok["h"] == chart["height"] - 14


def test_stock_bars_scale_to_the_largest_value() -> None:
    rows = [{"sku": "A", "channels": {"tt": {"salable": 10}}, "held": 5, "store": 20},
            {"sku": "B", "channels": {"tt": {"salable": 0}}, "held": 0}]
    chart = charts.stock_bars(rows, ["tt"])
    widths = {(b["title"]): b["w"] for b in chart["bars"]}
    assert widths["A store: 20"] == 2 * widths["A tt: 10"] == 4 * widths["A held: 5"]
    assert widths["B tt: 0"] < 1


def test_markup_in_a_record_is_shown_as_text(page) -> None:
    client, merchant, _ = page
    merchant.store.add_dead_letter(None, "acme", "catalog", "map", "catalog_to_tiktok", "x-1",
                                   {"title": "<script>alert(1)</script>"},
                                   {"message": "<img src=x onerror=alert(2)>", "label": "<b>bold</b>"})
    html = client.get("/ui/m/acme/dlq").text
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<b>bold</b>" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
