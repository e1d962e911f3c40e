"""`connector audit-skus`: duplicate and blank SKUs within a channel, and what the channels do not
share, computed from what the channels return (the simulators' own state is the reference)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.flow.runner import FlowRun, Merchant
from engine.flow.sku_audit import CatalogProduct, audit_catalogs, merchant_sku_maps
from simulators.catalog import invalid_reason
from simulators.sandbox import start_sandbox

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "acme"


def test_duplicates_blanks_missing_and_orphans_per_channel() -> None:
    shop = [CatalogProduct("1", "Tee", ["TEE-S", "TEE-M"]), CatalogProduct("2", "Tee copy", ["TEE-M", None]),
            CatalogProduct("3", "Mug", ["MUG", "MUG"])]
    tiktok = [CatalogProduct("t1", "Tee", ["TEE-S"]), CatalogProduct("t9", "Old", ["GONE"])]
    reports = {r.connection: r for r in audit_catalogs({"shop": shop, "tiktok": tiktok}, primary="shop")}
    assert reports["shop"].duplicates == {
        "MUG": [{"key": "3", "title": "Mug"}, {"key": "3", "title": "Mug"}],
        "TEE-M": [{"key": "1", "title": "Tee"}, {"key": "2", "title": "Tee copy"}],
    }
    assert reports["shop"].blanks == [{"key": "2", "title": "Tee copy", "variants_without_sku": 1}]
    assert not reports["shop"].clean and reports["shop"].compared_with is None
    assert reports["tiktok"].clean
    assert reports["tiktok"].missing == ["MUG", "TEE-M"] and reports["tiktok"].orphans == ["GONE"]


def test_channel_sku_maps_translate_primary_skus_before_comparing() -> None:
    reports = audit_catalogs({"shop": [CatalogProduct("1", "Tee", ["TEE-S"])],
                              "tiktok": [CatalogProduct("t1", "Tee", ["TT-TEE-S"])]},
                             primary="shop", sku_maps={"tiktok": {"TEE-S": "TT-TEE-S"}})
    assert reports[1].missing == [] and reports[1].orphans == []


def test_sku_maps_come_from_flow_options_and_skip_the_primary() -> None:
    doc = {"flows": {"catalog": {"connections": {"source": "shop", "target": "tiktok"},
                                 "options": {"sku_map": {"A": "TT-A"}}},
                     "other": {"connections": {"source": "shop", "target": "outlet"}}}}
    assert merchant_sku_maps(doc, "shop") == {"tiktok": {"A": "TT-A"}}


@pytest.fixture(scope="module")
def acme_after_sync(tmp_path_factory):
    sandbox = start_sandbox(products=20, seed=5, max_variants=4, invalid_share=0.4)
    workdir = tmp_path_factory.mktemp("audit")
    shutil.copytree(EXAMPLE, workdir / "acme")
    merchant_file = workdir / "acme" / "merchant.yaml"
    merchant = Merchant(merchant_file, environ=sandbox.environ())
    try:
        FlowRun(merchant, "catalog").run()
    finally:
        merchant.close()
    yield sandbox, merchant_file
    sandbox.stop()


def _audit(sandbox, merchant_file: Path, monkeypatch, *args: str):
    for name, value in sandbox.environ().items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(main, ["audit-skus", str(merchant_file), *args])


def test_audit_of_the_example_merchant_matches_the_simulators(acme_after_sync, monkeypatch) -> None:
    sandbox, merchant_file = acme_after_sync
    shop = sandbox.admin("shopify", "GET", "state")["products"]
    reasons = {invalid_reason(p) for p in shop}
    assert {"duplicate_sku", "empty_sku"} <= reasons, "the seed must plant both defects"
    # What the channels really hold, from the simulators' state.
    used: dict[str, set[str]] = {}
    blank_products = set()
    for product in shop:
        for variant in product["variants"]:
            if variant.get("sku"):
                used.setdefault(variant["sku"], set()).add(str(product["id"]))
            else:
                blank_products.add(str(product["id"]))
    tiktok_skus = {s["seller_sku"] for p in sandbox.admin("tiktok_shop", "GET", "state")["products"]
                   if p["status"] != "DELETED" for s in p["skus"]}

    result = _audit(sandbox, merchant_file, monkeypatch, "--format", "json")
    assert result.exit_code == 1, result.output  # the planted duplicates and blanks fail the audit
    channels = {c["connection"]: c for c in json.loads(result.output)["channels"]}
    shopify, tiktok = channels["shopify"], channels["tiktok_us"]
    assert set(shopify["duplicates"]) == {sku for sku, owners in used.items() if len(owners) > 1}
    assert {b["key"] for b in shopify["blanks"]} == blank_products
    assert tiktok["clean"] and tiktok["compared_with"] == "shopify"
    assert set(tiktok["missing"]) == set(used) - tiktok_skus
    assert tiktok["missing"], "dead-lettered products are not listed, so their SKUs are missing on TikTok"
    assert tiktok["orphans"] == []


def test_a_listing_only_the_channel_has_is_an_orphan(acme_after_sync, monkeypatch) -> None:
    sandbox, merchant_file = acme_after_sync
    sandbox.admin("tiktok_shop", "POST", "seed", json={"products": [
        {"title": "Listed by hand in Seller Center", "skus": [{"seller_sku": "HAND-LISTED-1",
                                                                "price": {"amount": "5.00", "currency": "USD"}}]}]})
    result = _audit(sandbox, merchant_file, monkeypatch, "--connection", "tiktok_us", "--connection", "shopify")
    assert result.exit_code == 1
    assert "HAND-LISTED-1" in result.output and "not in shopify" in result.output
    text = " ".join(result.output.split())  # the table wraps long lines
    assert "is used by" in text and "without a SKU" in text, result.output


def test_an_unknown_connection_is_a_usage_error(acme_after_sync, monkeypatch) -> None:
    sandbox, merchant_file = acme_after_sync
    result = _audit(sandbox, merchant_file, monkeypatch, "--connection", "tiktok_uk")
    assert result.exit_code == 2 and "unknown connection(s): tiktok_uk" in result.output


def test_a_connector_sku_audit_naming_an_unknown_operation_is_refused(tmp_path: Path) -> None:
    from engine.project.loader import Project
    from engine.project.validate import Validator

    (tmp_path / "shop.yaml").write_text(
        "kind: connector\nname: demo_shop\nbase_url: https://shop.example.test\n"
        "auth: {kind: shopify_access_token}\ncredentials: [access_token]\n"
        "operations:\n  list_products: {method: GET, path: /products.json, records: products}\n"
        "sku_audit:\n  operation: list_product\n  skus: \"variants[].sku\"\n", encoding="utf-8")
    [problem] = Validator(Project.load([tmp_path], include_shipped=False)).run()
    assert (problem.location.line, problem.location.col) == (9, 14)
    assert problem.message == "unknown operation 'list_product'" and "list_products" in problem.hint
