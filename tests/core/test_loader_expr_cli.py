"""Loader positions, the JMESPath fast path, the Jinja sandbox, secrets, and the map/test commands."""

from __future__ import annotations

import json
from pathlib import Path

import jmespath
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cli import main
from engine.errors import SecretError, SpecError
from engine.lang.expr import ExprCompileError, ExpressionCompiler, ExprEvalError, FieldPath, Scope
from engine.project.overrides import merge
from engine.project.secrets import REDACTOR, Redactor, SecretRef, resolve_credentials
from engine.project.yamlpos import YList, field_path, loads, locate, text_location

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# ---------------------------------------------------------------------------------- loader


def test_positions_of_nested_lists() -> None:
    doc = loads("a:\n  - x\n  - [1, 2]\n  - k: v\n    m:\n      - deep\n", "f.yaml")
    assert isinstance(doc["a"], YList)
    assert [(loc.line, loc.col) for loc in doc["a"].item_locs] == [(2, 5), (3, 5), (4, 5)]
    assert (locate(doc, ["a", 1, 1]).line, locate(doc, ["a", 1, 1]).col) == (3, 9)
    assert (locate(doc, ["a", 2, "m", 0]).line, locate(doc, ["a", 2, "m", 0]).col) == (6, 9)
    assert (locate(doc, ["a", 2, "m"], key=True).line, locate(doc, ["a", 2, "m"], key=True).col) == (5, 5)
    assert doc["a"][2]["m"].path == ("a", 2, "m")
    # a path that does not exist falls back to the deepest known ancestor
    assert locate(doc, ["a", 2, "nope", "x"]).line == 4


def test_merge_keys_keep_their_positions() -> None:
    doc = loads("base: &b\n  x: 1\n  y: 2\nderived:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert doc["derived"] == {"x": 1, "y": 3}
    assert doc["derived"].value_locs["x"].line == 2  # where the merged value was written
    assert doc["derived"].value_locs["y"].line == 6


def test_yaml_12_booleans_and_safe_tags() -> None:
    assert loads("on: yes\nNO: off\nt: true\n") == {"on": "yes", "NO": "off", "t": True}
    for text in ("x: !!python/object/apply:os.system ['true']\n", "x: !!python/name:os.system\n",
                 "x: !!python/object:builtins.dict {a: 1}\n"):
        with pytest.raises(SpecError, match="tag"):
            loads(text)


def test_duplicate_key_after_a_merge_is_still_an_error() -> None:
    with pytest.raises(SpecError, match="duplicate key 'y'"):
        loads("base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n  y: 3\n")


def test_override_values_point_at_the_merchant_file() -> None:
    base = loads("fields:\n  title: title\n  brand: vendor\n", "shared.yaml")
    merchant = loads("overrides:\n  mappings:\n    m:\n      fields:\n        brand: \"vendor || 'x'\"\n        title: null\n",
                     "merchant.yaml")
    merged = merge(base, merchant["overrides"]["mappings"]["m"])
    assert "title" not in merged["fields"]
    loc = merged["fields"].value_locs["brand"]
    assert (loc.file, loc.line, loc.col) == ("merchant.yaml", 5, 16)
    assert text_location(merged["fields"], "brand", 7).col == 24  # the 'v' after `|| ` ... inside quotes
    assert field_path(merged, ["fields", "brand"]) == "overrides.mappings.m.fields.brand"


def test_text_location_inside_block_scalars() -> None:
    doc = loads("a: |\n  first\n  second line\nb: >-\n  one\n  two\n", "f.yaml")
    assert (text_location(doc, "a", 6).line, text_location(doc, "a", 6).col) == (3, 3)
    assert (text_location(doc, "a", 0, line_offset=1).line, text_location(doc, "a", 0, line_offset=1).col) == (3, 3)
    assert (text_location(doc, "b", 5).line, text_location(doc, "b", 5).col) == (6, 4)


# ---------------------------------------------------------------------------------- fast path

FAST = ExpressionCompiler()
KEYS = st.sampled_from(["a", "b", "c", "sku", "_x"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(data=JSON, path=st.lists(KEYS, min_size=1, max_size=4))
def test_field_path_matches_jmespath(data: object, path: list[str]) -> None:
    text = ".".join(path)
    compiled = FAST.jmespath(text)
    assert isinstance(compiled, FieldPath)
    assert compiled.evaluate(Scope(data, data, None, {})) == jmespath.search(text, data)


def test_only_plain_paths_take_the_fast_path() -> None:
    assert isinstance(FAST.jmespath("  a.b  "), FieldPath)
    for text in ("a[0]", "a.b[]", "`1`", "a || b", "\"quoted key\"", "a.*"):
        assert not isinstance(FAST.jmespath(text), FieldPath), text


# ---------------------------------------------------------------------------------- Jinja sandbox


def test_sandbox_refuses_private_attribute_at_compile_time() -> None:
    with pytest.raises(ExprCompileError, match="private attribute '__class__'"):
        FAST.template("{{ ''.__class__ }}")
    with pytest.raises(ExprCompileError, match="private attribute '__globals__'"):
        FAST.template("{{ x['__globals__'] }}")


def test_sandbox_refuses_attr_filter_at_run_time() -> None:
    template = FAST.template("{{ x|attr('__class__') }}")  # compiles: the name is only known at run time
    with pytest.raises(ExprEvalError, match="sandbox|unsafe|__class__"):
        template.evaluate(Scope({"x": "text"}, {}, None, {}))


def test_templates_are_strict_about_undefined_names() -> None:
    with pytest.raises(ExprEvalError, match="undefined"):
        FAST.template("{{ nope }}").evaluate(Scope({}, {}, None, {}))


# ---------------------------------------------------------------------------------- secrets


def test_secret_refs_parse() -> None:
    assert SecretRef.parse("${env:SHOP_TOKEN}") == SecretRef("env", "SHOP_TOKEN")
    assert SecretRef.parse(" ${file:secrets/token.txt} ").name == "secrets/token.txt"
    for bad in ("${vault:x}", "${env:}", "plain-token", "${env:BAD-NAME}", "${env:1X}"):
        with pytest.raises(SecretError):
            SecretRef.parse(bad)


def test_refused_literal_is_not_echoed() -> None:
    with pytest.raises(SecretError) as info:
        SecretRef.parse("shpat_0123456789abcdef")
    assert "shpat" not in str(info.value) and "22 characters" in str(info.value)


def test_secrets_resolve_from_env_and_file_and_are_redacted(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("file-secret-7f3a\n", encoding="utf-8")
    values = resolve_credentials({"a": "${env:DEMO_TOKEN}", "b": "${file:token.txt}"}, tmp_path,
                                 {"DEMO_TOKEN": "env-secret-91c2"})
    assert values == {"a": "env-secret-91c2", "b": "file-secret-7f3a"}
    text = "calling with env-secret-91c2 and file-secret-7f3a"
    assert REDACTOR.text(text) == "calling with *** and ***"
    assert REDACTOR.data({"h": ["x env-secret-91c2"]}) == {"h": ["x ***"]}
    with pytest.raises(SecretError, match="MISSING_ONE is not set") as info:
        SecretRef.parse("${env:MISSING_ONE}").resolve({})
    assert "secret-91c2" not in str(info.value)


def test_redactor_ignores_tiny_values() -> None:
    redactor = Redactor()
    redactor.remember("ab")
    redactor.remember("longer-one")
    assert redactor.text("ab longer-one") == "ab ***"


# ---------------------------------------------------------------------------------- CLI


def test_cli_map_shopify_to_canonical_to_tiktok(tmp_path: Path) -> None:
    tee = json.loads((FIXTURES / "shopify" / "product_tee.json").read_text())["product"]
    (tmp_path / "tee.json").write_text(json.dumps(tee), encoding="utf-8")
    runner = CliRunner()
    first = runner.invoke(main, ["map", "shopify.product_to_canonical", str(tmp_path / "tee.json")])
    assert first.exit_code == 0, first.output
    canonical = json.loads(first.stdout)
    assert canonical["title"] == "Everyday Organic Cotton Tee" and len(canonical["variants"]) == 12
    (tmp_path / "canonical.json").write_text(first.stdout, encoding="utf-8")
    context = {"category_map": {"T-Shirts": "601226"}, "warehouse_id": "WH-1",
               "image_uris": {image["url"]: f"tos-{i}" for i, image in enumerate(canonical["images"])}}
    second = runner.invoke(main, ["map", "tiktok_shop.product_from_canonical", str(tmp_path / "canonical.json"),
                                  "--context", json.dumps(context)])
    assert second.exit_code == 0, second.output
    body = json.loads(second.stdout)
    assert body["category_id"] == "601226"
    assert body["main_images"] == [{"uri": "tos-0"}, {"uri": "tos-1"}, {"uri": "tos-2"}, {"uri": "tos-3"}]
    assert [s["seller_sku"] for s in body["skus"]][:2] == ["ACME-TEE-BLK-S", "ACME-TEE-BLK-M"]
    assert body["skus"][8]["list_price"] == {"amount": "34.00", "currency": "USD"}
    assert body["skus"][0]["sales_attributes"] == [{"name": "Size", "value_name": "S"},
                                                   {"name": "Color", "value_name": "Black"}]


def test_cli_map_reports_field_errors(tmp_path: Path) -> None:
    bad = json.loads((FIXTURES / "shopify" / "product_invalid.json").read_text())["product"]
    (tmp_path / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    # reject: the empty SKU is an error too, not a variant left out
    result = CliRunner().invoke(main, ["map", "shopify.product_to_canonical", str(tmp_path / "bad.json"),
                                       "--context", '{"variants_without_sku": "reject"}'])
    assert result.exit_code == 1
    errors = json.loads(result.stderr)["errors"]
    assert {e["field"] for e in errors} == {"variants[1].sku", "variants[2].price.amount"}
    assert all(e["mapping"].endswith(".yaml:" + e["mapping"].rsplit(":", 2)[1] + ":" + e["mapping"].rsplit(":", 1)[1])
               for e in errors)


def test_cli_test_runs_the_shipped_mapping_tests() -> None:
    folder = Path(__file__).resolve().parents[1] / "mappings"
    result = CliRunner().invoke(main, ["test", str(folder)])
    assert result.exit_code == 0, result.output
    assert "17 passed, 0 failed" in result.output or " 0 failed" in result.output


def test_wrong_expectation_shows_a_readable_diff(tmp_path: Path) -> None:
    fixture = FIXTURES / "shopify" / "product_candle.json"
    (tmp_path / "wrong.test.yaml").write_text(
        "kind: test\nmapping: shopify.product_to_canonical\ncases:\n"
        f"  - name: wrong price\n    input_file: {fixture}\n    select: product\n"
        "    expect_contains:\n      title: Cedar & Sage Soy Candle\n"
        "      variants: [{sku: HRTH-CNDL-CDRSG-08, price: {amount: \"25.00\"}}]\n"
        "      vendor: Someone Else\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["test", str(tmp_path)])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "wrong.test.yaml:4 wrong price" in result.output
    assert "output['variants'][0]['price']['amount']: expected '25.00', got '24.00'" in result.output
    assert "output['vendor']: expected 'Someone Else', got 'Hearthside Goods'" in result.output
    assert "0 passed, 1 failed" in result.output


def test_wrong_expected_error_shows_the_errors_that_happened(tmp_path: Path) -> None:
    (tmp_path / "err.test.yaml").write_text(
        "kind: test\nmapping: shopify.product_to_canonical\ncases:\n"
        "  - name: expects the wrong field\n    input: {id: 1, title: T, options: [], variants: [{sku: '', price: '1'}]}\n"
        "    expect_error: {field: title}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["test", str(tmp_path)])
    assert result.exit_code == 1
    assert "expected an error {'field': 'title'}" in result.output
    assert "variants[0].sku: required value is missing or empty" in result.output
