"""`connector map --merchant M --flow NAME --select EXPR`: the mapping sees what a run of the flow
gives it (option defaults, the merchant's options, the connection's region and currency), applied
to one record picked out of an API response file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture
def canonical_tee(cli, tmp_path: Path) -> Path:
    result = cli("map", "shopify.product_to_canonical", FIXTURES / "shopify" / "product_tee.json",
                 "--select", "product")
    assert result.exit_code == 0, result.output
    path = tmp_path / "canonical.json"
    path.write_text(result.stdout, encoding="utf-8")
    return path


def image_context(canonical: Path) -> str:
    images = json.loads(canonical.read_text())["images"]
    return json.dumps({"image_uris": {image["url"]: f"tos-{i}" for i, image in enumerate(images)}})


def test_the_flow_options_and_the_market_apply(cli, acme, canonical_tee) -> None:
    result = cli("map", "tiktok_shop.product_from_canonical", canonical_tee, "--merchant", acme,
                 "--flow", "catalog", "--context", image_context(canonical_tee))
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["category_id"] == "601302"  # category_map, a merchant option of the catalog flow
    assert body["product_attributes"] == [{"id": "100392", "values": [{"id": "1000041", "name": "Cotton"}]}]
    assert body["package_dimensions"]["unit"] == "CENTIMETER"  # default_package_dimensions
    assert body["skus"][0]["price"]["currency"] == "USD"  # the tiktok_us connection's currency
    assert body["skus"][0]["inventory"][0]["warehouse_id"] == "7068517275539719942"
    assert "note: with the options of flow catalog (catalog_to_tiktok) and the market of tiktok_us" in result.stderr


def test_the_one_flow_that_uses_the_mapping_is_found_without_flow(cli, acme, canonical_tee) -> None:
    result = cli("map", "tiktok_shop.product_from_canonical", canonical_tee, "--merchant", acme.parent,
                 "--context", image_context(canonical_tee))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["category_id"] == "601302"
    assert "per record; give them with --context" in result.stderr  # image_uris come from a step


def test_without_the_flow_the_options_are_missing(cli, canonical_tee) -> None:
    result = cli("map", "tiktok_shop.product_from_canonical", canonical_tee)
    assert result.exit_code == 1
    assert "lookup table 'category'" in result.stderr


def test_two_flows_using_the_mapping_need_flow(cli, acme, canonical_tee) -> None:
    text = acme.read_text(encoding="utf-8")
    acme.write_text(text.replace("  listing_status:\n", "  catalog_copy:\n    flow: catalog_to_tiktok\n"
                                 "    connections: {source: shopify, target: tiktok_us}\n"
                                 "    options: {warehouse_id: \"1\", category_map: {T-Shirts: \"999\"}}\n"
                                 "  listing_status:\n"), encoding="utf-8")
    ambiguous = cli("map", "tiktok_shop.product_from_canonical", canonical_tee, "--merchant", acme,
                    "--context", image_context(canonical_tee))
    assert "used by the flows catalog, catalog_copy; pass --flow" in ambiguous.stderr
    chosen = cli("map", "tiktok_shop.product_from_canonical", canonical_tee, "--merchant", acme,
                 "--flow", "catalog_copy", "--context", image_context(canonical_tee))
    assert chosen.exit_code == 0, chosen.output
    assert json.loads(chosen.stdout)["category_id"] == "999"


@pytest.mark.parametrize(("fixture", "select", "title"), [
    ("tiktok_shop/product_detail_202309.json", "data", "Everyday Organic Cotton Tee"),
    ("shopify/product_tee.json", "product", "Everyday Organic Cotton Tee"),
])
def test_select_picks_the_record_out_of_a_response(cli, fixture, select, title) -> None:
    mapping = "tiktok_shop.product_to_canonical" if fixture.startswith("tiktok") else "shopify.product_to_canonical"
    result = cli("map", mapping, FIXTURES / fixture, "--select", select)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["title"] == title


def test_select_a_list_item_and_a_key_jmespath_would_not_parse(cli, tmp_path) -> None:
    tee = json.loads((FIXTURES / "shopify" / "product_tee.json").read_text())["product"]
    response = tmp_path / "page.json"
    response.write_text(json.dumps({"data": {"products": [tee]}, "product-list": [tee, tee]}))
    one = cli("map", "shopify.product_to_canonical", response, "--select", "data.products[0]")
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["title"] == "Everyday Organic Cotton Tee"
    both = cli("map", "shopify.product_to_canonical", response, "--select", "product-list")
    assert both.exit_code == 0, both.output
    assert both.stdout.count('"title": "Everyday Organic Cotton Tee"') == 2


def test_select_and_flow_mistakes_are_usage_errors(cli, acme, canonical_tee) -> None:
    detail = FIXTURES / "tiktok_shop" / "product_detail_202309.json"
    nothing = cli("map", "tiktok_shop.product_to_canonical", detail, "--select", "data.products[0]")
    assert nothing.exit_code == 2
    assert "found nothing" in nothing.output and "top level: code, message, request_id, data" in nothing.output
    bad = cli("map", "tiktok_shop.product_to_canonical", detail, "--select", "data[[")
    assert bad.exit_code == 2 and "not a JMESPath expression" in bad.output
    no_merchant = cli("map", "tiktok_shop.product_to_canonical", detail, "--flow", "catalog")
    assert no_merchant.exit_code == 2 and "--flow needs --merchant" in no_merchant.output
    no_flow = cli("map", "tiktok_shop.product_from_canonical", canonical_tee, "--merchant", acme, "--flow", "x")
    assert no_flow.exit_code == 2 and "has no flow 'x'; its flows: catalog, listing_status" in no_flow.output
    (acme.parent / "broken.json").write_text('{"product": ', encoding="utf-8")
    not_json = cli("map", "tiktok_shop.product_to_canonical", acme.parent / "broken.json")
    assert not_json.exit_code == 2 and "is not JSON" in not_json.output
    bad_context = cli("map", "tiktok_shop.product_to_canonical", detail, "--context", "[1]")
    assert bad_context.exit_code == 2
    for result in (nothing, bad, no_merchant, no_flow, not_json, bad_context):
        assert "Traceback" not in result.output


def test_a_mapping_beside_the_merchant_is_found(cli, acme) -> None:
    shutil.copy(ROOT / "mappings" / "shopify" / "product_to_canonical.yaml", acme.parent / "tee.yaml")
    text = (acme.parent / "tee.yaml").read_text(encoding="utf-8")
    (acme.parent / "tee.yaml").write_text(text.replace("name: shopify.product_to_canonical", "name: acme.tee"),
                                          encoding="utf-8")
    result = cli("map", "acme.tee", FIXTURES / "shopify" / "product_tee.json", "--select", "product",
                 "--merchant", acme)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["title"] == "Everyday Organic Cotton Tee"
