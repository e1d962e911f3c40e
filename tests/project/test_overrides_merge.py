"""How a merchant's override merges onto a shared mapping (README.md, "Overrides"): a field given
with a value form replaces the shared field, modifiers merge into it, and `fields:` alone extends
an `each`. Checked on the merged document and through `connector validate`."""

from __future__ import annotations

from pathlib import Path

from engine.lang.mapping import compile_mapping
from engine.project.loader import Project
from engine.project.overrides import merge_mapping
from engine.project.validate import Validator
from engine.project.yamlpos import loads

SHARED = """kind: mapping
name: demo.product
lookups:
  status: {values: {active: live}, default: draft}
fields:
  status: {lookup: status, from: status, required: true}
  title: title
  price: {path: price, cast: decimal, scale: 2}
  skus:
    each: variants
    filter: sku
    fields:
      sku: sku
      qty: {path: stock, cast: int}
"""


def merged(override: str) -> dict:
    base = loads(SHARED, "shared.yaml")
    return merge_mapping(base, loads(override, "merchant.yaml"))


def test_a_new_form_replaces_the_shared_field_without_nulling_old_keys() -> None:
    doc = merged("fields:\n  status: {if: \"status == 'active'\", then: {const: live}, else: {const: draft}}\n")
    assert set(doc["fields"]["status"]) == {"if", "then", "else"}
    plan = compile_mapping(doc)
    assert plan.apply({"status": "active", "title": "T", "variants": []}).output["status"] == "live"


def test_a_string_becomes_a_template() -> None:
    doc = merged("fields:\n  title: {template: \"{{ title|upper }}\"}\n")
    assert compile_mapping(doc).apply({"title": "tee", "variants": []}).output["title"] == "TEE"


def test_modifiers_alone_merge_into_the_shared_field() -> None:
    doc = merged("fields:\n  price: {scale: 0}\n")
    assert doc["fields"]["price"] == {"path": "price", "cast": "decimal", "scale": 0}


def test_fields_alone_extend_an_each_and_keep_it() -> None:
    doc = merged("fields:\n  skus:\n    fields:\n      barcode: barcode\n      qty: null\n")
    skus = doc["fields"]["skus"]
    assert skus["each"] == "variants" and skus["filter"] == "sku"
    assert list(skus["fields"]) == ["sku", "barcode"]
    out = compile_mapping(doc).apply({"status": "x", "title": "t", "price": "1", "variants": [
        {"sku": "A", "barcode": "1", "stock": 3}, {"sku": None}]}).output
    assert out["skus"] == [{"sku": "A", "barcode": "1"}]


def test_a_full_each_replaces_the_shared_one() -> None:
    doc = merged("fields:\n  skus: {each: variants, value: sku}\n")
    assert doc["fields"]["skus"] == {"each": "variants", "value": "sku"}


def test_changing_a_form_in_a_merchant_file_validates(tmp_path: Path) -> None:
    """shopify.product_to_canonical maps status with a lookup; a merchant switches it to `if`."""
    (tmp_path / "merchant.yaml").write_text(
        "kind: merchant\nname: acme\nconnections:\n  shop:\n    connector: shopify\n    settings: {shop: acme}\n"
        "    credentials: {access_token: '${env:T}'}\noverrides:\n  mappings:\n    shopify.product_to_canonical:\n"
        "      fields:\n        status: {if: \"status == 'active'\", then: {const: active}, else: {const: draft}}\n"
        "        description_text: {template: \"{{ title }}\"}\n", encoding="utf-8")
    assert Validator(Project.load([tmp_path], include_shipped=True)).run() == []
