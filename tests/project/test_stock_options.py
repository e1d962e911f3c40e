"""The inventory flow's options are checked at validate time, at the merchant's line: a location
cannot give more than all of its stock, a warehouse is listed once, buffers are units or percents."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.project.validate import validate_paths

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
SHIPPED = '''      warehouses:
        - warehouse_id: "7068517275539719942"          # Main Fulfillment Center
          locations: ["7000339563971", "7000339564126"]  # Main warehouse + East DC, summed
'''


def problems_with(tmp_path: Path, old: str, new: str) -> list:
    shutil.copytree(EXAMPLE, tmp_path / "acme")
    path = tmp_path / "acme" / "merchant.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return [p for p in validate_paths([tmp_path / "acme"]) if p.severity == "error"]


def test_the_shipped_binding_is_valid(tmp_path):
    assert problems_with(tmp_path, SHIPPED, SHIPPED) == []


def test_a_location_shared_by_warehouses_gives_at_most_all_its_stock(tmp_path):
    found = problems_with(tmp_path, SHIPPED, '''      warehouses:
        - warehouse_id: "7068517275539719942"
          locations: [{id: "7000339563971", share: 70}]
        - warehouse_id: "7068517275539719943"
          locations: [{id: "7000339563971", share: 40}, "7000339564126"]
''')
    assert [p.message for p in found] == ["location 7000339563971 gives 110% of its stock to the warehouses it "
                                          "feeds; at most 100% can be offered"]
    assert found[0].location.file.endswith("merchant.yaml") and found[0].location.line > 80


def test_a_warehouse_is_listed_once_and_buffers_are_units_or_percents(tmp_path):
    found = problems_with(tmp_path, SHIPPED, SHIPPED + '''        - warehouse_id: "7068517275539719942"
          locations: ["7000339563971"]
''')
    assert any("listed twice" in p.message for p in found)
    found = problems_with(tmp_path / "b", "safety_buffer: 1 ", "safety_buffer: ten ")
    assert found and "safety_buffer" in found[0].path
