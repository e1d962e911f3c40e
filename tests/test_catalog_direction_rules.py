"""Which way listings may flow is checked before anything runs: the flow's primary-catalog role
must be bound to the merchant's primary_catalog, TikTok Shop takes product pushes only in the
markets its connector declares, and options that need a connector capability (channel SKU
mapping) are refused where the connector lacks it. Each finding points at the merchant file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.project.loader import Project
from engine.project.validate import Validator

SHOPIFY = """  shopify:
    connector: shopify
    settings: {shop: acme}
    credentials: {access_token: '${env:SHOP_TOKEN}'}
"""


def tiktok(name: str, region: str | None) -> str:
    region_line = f"    region: {region}\n" if region else ""
    return (f"  {name}:\n    connector: tiktok_shop\n{region_line}"
            "    credentials: {app_key: '${env:K}', app_secret: '${env:S}', access_token: '${env:A}', "
            "refresh_token: '${env:R}'}\n")


FLOW_OPTIONS = "    options: {warehouse_id: '1'}\n"


def merchant(*, primary: str | None, connections: str, source: str, target: str, options: str = FLOW_OPTIONS) -> str:
    head = "kind: merchant\nname: acme\n" + (f"primary_catalog: {primary}\n" if primary else "")
    return (head + "connections:\n" + connections + "flows:\n  catalog:\n    flow: catalog_to_tiktok\n"
            f"    connections: {{source: {source}, target: {target}}}\n" + options)


def problems(tmp_path: Path, text: str) -> list:
    (tmp_path / "merchant.yaml").write_text(text, encoding="utf-8")
    return [p for p in Validator(Project.load([tmp_path], include_shipped=True)).run()
            if p.location and Path(p.location.file).name == "merchant.yaml"]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_us_shop_fed_from_the_primary_shopify_store_is_valid(tmp_path: Path) -> None:
    text = merchant(primary="shopify", connections=SHOPIFY + tiktok("tiktok_us", "US"),
                    source="shopify", target="tiktok_us")
    assert problems(tmp_path, text) == []


def test_the_uk_is_accepted_under_its_iso_code(tmp_path: Path) -> None:
    text = merchant(primary="shopify", connections=SHOPIFY + tiktok("tiktok_gb", "GB"),
                    source="shopify", target="tiktok_gb")
    assert problems(tmp_path, text) == []


@pytest.mark.parametrize("region", ["MY", "ID", "DE"])
def test_product_push_outside_us_and_gb_is_refused(tmp_path: Path, region: str) -> None:
    text = merchant(primary="shopify", connections=SHOPIFY + tiktok("tiktok_x", region),
                    source="shopify", target="tiktok_x")
    found = problems(tmp_path, text)
    assert len(found) == 1, [p.format() for p in found]
    problem = found[0]
    assert f"accepts product push only in US, GB; connection 'tiktok_x' is in {region}" in problem.message
    assert "must be the primary_catalog" in problem.hint
    assert problem.path == "flows.catalog.connections.target"
    assert problem.location.line == line_of(text, "connections: {source")


def test_a_tiktok_connection_without_a_region_is_refused_for_product_push(tmp_path: Path) -> None:
    text = merchant(primary="shopify", connections=SHOPIFY + tiktok("tiktok", None), source="shopify", target="tiktok")
    [problem] = problems(tmp_path, text)
    assert "has no region" in problem.message and "GB for the UK" in problem.hint


def test_the_catalog_must_flow_out_of_the_primary_catalog(tmp_path: Path) -> None:
    text = merchant(primary="tiktok_us", connections=SHOPIFY + tiktok("tiktok_us", "US"),
                    source="shopify", target="tiktok_us")
    [problem] = problems(tmp_path, text)
    assert "bound to 'shopify', but the primary catalog is 'tiktok_us'" in problem.message
    assert "other direction" in problem.hint
    assert problem.path == "flows.catalog.connections.source"


def test_a_catalog_flow_needs_a_primary_catalog(tmp_path: Path) -> None:
    text = merchant(primary=None, connections=SHOPIFY + tiktok("tiktok_us", "US"), source="shopify", target="tiktok_us")
    [problem] = problems(tmp_path, text)
    assert "has no primary_catalog" in problem.message
    assert "primary_catalog: shopify" in problem.hint


def test_channel_sku_mapping_needs_a_connector_that_declares_it(tmp_path: Path) -> None:
    other_store = SHOPIFY.replace("  shopify:", "  outlet:")
    text = merchant(primary="shopify", connections=SHOPIFY + other_store, source="shopify", target="outlet",
                    options="    options:\n      warehouse_id: '1'\n      sku_map: {A-1: TT-A-1}\n")
    [problem] = problems(tmp_path, text)
    assert "option 'sku_map' needs sku_mapping on role 'target'" in problem.message
    assert problem.path == "flows.catalog.options.sku_map"
    assert (problem.location.line, problem.location.col) == (line_of(text, "sku_map"), 7)


def test_channel_sku_mapping_is_accepted_where_declared(tmp_path: Path) -> None:
    text = merchant(primary="shopify", connections=SHOPIFY + tiktok("tiktok_us", "US"), source="shopify",
                    target="tiktok_us", options="    options:\n      warehouse_id: '1'\n      sku_map: {A-1: TT-A-1}\n")
    assert problems(tmp_path, text) == []


def test_the_primary_catalog_must_be_able_to_pull_products(tmp_path: Path) -> None:
    (tmp_path / "orders_only.yaml").write_text(
        "kind: connector\nname: orders_only\nbase_url: https://oms.example.test\n"
        "auth: {kind: shopify_access_token}\ncredentials: [access_token]\n"
        "operations:\n  list_orders: {method: GET, path: /orders, records: orders}\n"
        "capabilities: {pull: [order], push: [order]}\n", encoding="utf-8")
    text = ("kind: merchant\nname: acme\nprimary_catalog: oms\nconnections:\n  oms:\n    connector: orders_only\n"
            "    credentials: {access_token: '${env:OMS_TOKEN}'}\n")
    [problem] = problems(tmp_path, text)
    assert (problem.location.line, problem.location.col) == (3, 18)
    assert "cannot pull products" in problem.message and problem.path == "primary_catalog"
