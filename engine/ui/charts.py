"""Charts as SVG drawn on the server: the geometry here, the markup in templates/_charts.html.
No script runs in the browser for them, and they update with the page."""

from __future__ import annotations

from typing import Any


def time_bars(points: list[dict], width: int = 560, height: int = 120) -> dict[str, Any]:
    """Records per time slot as bars, the failed part of each drawn over it in another colour."""
    top = max([p["records"] for p in points] + [p["errors"] for p in points] + [1])
    slot = width / max(len(points), 1)
    bars = []
    for index, point in enumerate(points):
        x = round(index * slot + 1, 1)
        w = round(max(slot - 2, 1), 1)
        for field, css in (("records", "ok"), ("errors", "err")):
            h = round(point[field] / top * (height - 14), 1)
            if h:
                bars.append({"x": x, "y": round(height - 14 - h, 1), "w": w, "h": h, "cls": css,
                             "title": f"{point['at']:%H:00} UTC: {point['records']} records, {point['errors']} failed"})
    labels = [{"x": round(index * slot + slot / 2, 1), "text": f"{point['at']:%H}"}
              for index, point in enumerate(points) if index % 3 == 0]
    return {"width": width, "height": height, "top": top, "bars": bars, "labels": labels,
            "records": sum(p["records"] for p in points), "errors": sum(p["errors"] for p in points)}


def stock_bars(rows: list[dict], channels: list[str], width: int = 560, row_height: int = 18) -> dict[str, Any]:
    """Per SKU, one bar for the store's units on hand (as of the last write), one per channel (units
    offered) and one for the units held for orders."""
    series = ["store", *channels, "held"]

    def value_of(row: dict, name: str) -> int:
        if name in ("store", "held"):
            return int(row.get(name) or 0)
        return int((row["channels"].get(name) or {}).get("salable") or 0)

    def css(name: str) -> str:
        return name if name in ("store", "held") else f"c{channels.index(name) % 4}"

    top = max([value_of(row, name) for row in rows for name in series] + [1])
    label_width, band = 170, row_height * len(series) + 6
    bars, labels = [], []
    for index, row in enumerate(rows):
        y0 = index * band
        labels.append({"y": y0 + band / 2, "text": row["sku"]})
        for offset, name in enumerate(series):
            value = value_of(row, name)
            w = round(value / top * (width - label_width - 50), 1)
            bars.append({"x": label_width, "y": y0 + offset * row_height, "w": max(w, 0.5), "h": row_height - 3,
                         "cls": css(name), "value": value, "title": f"{row['sku']} {name}: {value}"})
    return {"width": width, "height": max(len(rows) * band, row_height), "bars": bars, "labels": labels,
            "series": [{"name": "store on hand" if name == "store" else name, "cls": css(name)} for name in series]}
