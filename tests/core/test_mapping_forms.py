"""Each mapping form, compiled from YAML text and applied to records."""

from __future__ import annotations

import textwrap

import pytest

from engine.errors import SpecError
from engine.lang.expr import FieldPath, JMESPathExpr
from engine.lang.mapping import compile_mapping
from engine.project.schemas import SchemaSet
from engine.project.yamlpos import loads


def plan(fields: str, extra: str = "", schemas: object = None):  # noqa: ANN201
    text = "kind: mapping\nname: t.t\n" + textwrap.dedent(extra) + "fields:\n" + textwrap.indent(textwrap.dedent(fields), "  ")
    return compile_mapping(loads(text, "t.yaml"), schemas=schemas)


def test_plain_paths_use_the_fast_path_and_expressions_use_jmespath() -> None:
    p = plan("a: title\nb: variants[0].sku\nc: {path: vendor.name}\n")
    nodes = {f.name: f.node.expr for f in p._root.fields}
    assert isinstance(nodes["a"], FieldPath)
    assert isinstance(nodes["b"], JMESPathExpr)
    assert isinstance(nodes["c"], FieldPath)
    out = p.apply({"title": "T", "variants": [{"sku": "S"}], "vendor": {"name": "V"}}).output
    assert out == {"a": "T", "b": "S", "c": "V"}


def test_template_const_and_casts() -> None:
    p = plan("""
        label: {template: "{{ title }} ({{ ctx.region }})"}
        currency: {const: USD}
        price: {path: price, cast: decimal, scale: 2}
        qty: {path: qty, cast: int}
        live: {path: live, cast: bool}
    """)
    r = p.apply({"title": "Tee", "price": "9.5", "qty": "3", "live": "yes"}, {"region": "US"})
    assert r.ok and r.output == {"label": "Tee (US)", "currency": "USD", "price": "9.50", "qty": 3, "live": True}


def test_cast_failure_is_a_field_error_with_the_mapping_line() -> None:
    r = plan("qty: {path: qty, cast: int}\n").apply({"qty": "2.5"})
    assert [(e.path, e.message) for e in r.errors] == [("qty", "not a whole number: '2.5'")]
    assert (r.errors[0].location.line, r.errors[0].location.col) == (4, 8)


def test_nested_each_with_parent_and_root() -> None:
    p = plan("""
        lines:
          each: orders
          fields:
            order: id
            shop: root().shop
            items:
              each: items
              fields:
                sku: sku
                order_id: parent().id
                shop: root().shop
    """)
    record = {"shop": "acme", "orders": [{"id": "o1", "items": [{"sku": "a"}, {"sku": "b"}]}, {"id": "o2", "items": []}]}
    assert p.apply(record).output == {"lines": [
        {"order": "o1", "shop": "acme", "items": [
            {"sku": "a", "order_id": "o1", "shop": "acme"}, {"sku": "b", "order_id": "o1", "shop": "acme"}]},
        {"order": "o2", "shop": "acme", "items": []},  # an empty list is kept; only null is left out
    ]}


def test_each_with_value_filter_and_limit() -> None:
    p = plan("""
        skus: {each: variants, value: sku, filter: "price != null", limit: 2}
        names: {each: tags}
    """)
    record = {"variants": [{"sku": "a", "price": 1}, {"sku": "b"}, {"sku": "c", "price": 2}, {"sku": "d", "price": 3}],
              "tags": ["x", "y"]}
    assert p.apply(record).output == {"skus": ["a", "c"], "names": ["x", "y"]}


def test_each_over_a_non_list_is_a_field_error() -> None:
    r = plan("v: {each: variants, value: sku}\n").apply({"variants": {"sku": "a"}})
    assert [(e.path, e.message) for e in r.errors] == [("v", "`each` needs a list, got dict")]


def test_coalesce_skips_null_and_empty() -> None:
    p = plan("name: {coalesce: [title, handle, {const: untitled}]}\n")
    assert p.apply({"title": "", "handle": "h"}).output == {"name": "h"}
    assert p.apply({}).output == {"name": "untitled"}


def test_if_then_else() -> None:
    p = plan("""
        note: {if: "qty > `0`", then: {const: in stock}, else: {const: sold out}}
        sale: {if: compare_at, then: {fields: {was: compare_at}}}
    """)
    assert p.apply({"qty": 2, "compare_at": "9"}).output == {"note": "in stock", "sale": {"was": "9"}}
    assert p.apply({"qty": 0}).output == {"note": "sold out"}


LOOKUPS = """\
lookups:
  status:
    values: {active: live, draft: hidden}
    default: hidden
  strict:
    values: {a: "1"}
  category:
    context: category_map
    values: {Tees: "100"}
"""


def test_lookup_default_error_and_context_table() -> None:
    p = plan("s: {lookup: status, from: status}\nx: {lookup: strict, from: code}\nc: {lookup: category, from: type}\n",
             LOOKUPS)
    ok = p.apply({"status": "active", "code": "a", "type": "Mugs"}, {"category_map": {"Mugs": "200"}})
    assert ok.ok and ok.output == {"s": "live", "x": "1", "c": "200"}
    assert p.apply({"status": "weird", "code": "a", "type": "Tees"}).output == {"s": "hidden", "x": "1", "c": "100"}
    bad = p.apply({"status": "active", "code": "zz", "type": "Hats"}, {"category_map": {"Mugs": "200"}})
    assert [(e.path, e.message) for e in bad.errors] == [
        ("x", "no entry for 'zz' in lookup table 'strict' (known: a)"),
        ("c", "no entry for 'Hats' in lookup table 'category' (known: Mugs, Tees)"),
    ]
    # context entries win over the file's own values
    assert p.apply({"status": "draft", "code": "a", "type": "Tees"}, {"category_map": {"Tees": "999"}}).output["c"] == "999"


def test_lookup_keys_are_compared_as_text() -> None:
    p = plan("s: {lookup: t, from: code}\n", "lookups:\n  t: {values: {'1': one}}\n")
    assert p.apply({"code": 1}).output == {"s": "one"}


def test_dotted_targets_build_nested_objects() -> None:
    p = plan("package.weight.value: w\npackage.weight.unit: {const: kg}\npackage.note: n\n")
    assert p.apply({"w": "1.5"}).output == {"package": {"weight": {"value": "1.5", "unit": "kg"}}}


def test_required_and_null_omission_and_default() -> None:
    p = plan("""
        sku: {path: sku, required: true}
        barcode: barcode
        currency: {path: currency, default: USD}
        tags: {path: tags, required: true}
    """)
    r = p.apply({"sku": "", "barcode": None, "tags": []})
    assert r.output == {"currency": "USD"}
    assert [(e.path, e.message) for e in r.errors] == [
        ("sku", "required value is missing or empty"), ("tags", "required value is missing or empty")]


def test_context_defaults_from_the_mapping() -> None:
    p = plan("currency: \"var('currency')\"\n", "context:\n  currency: {type: string, default: USD}\n")
    assert p.apply({}).output == {"currency": "USD"}
    assert p.apply({}, {"currency": "EUR"}).output == {"currency": "EUR"}


def test_list_and_object_context_defaults_work_in_functions() -> None:
    # A default read from YAML keeps positions; functions must see a plain array and object.
    p = plan("relay: \"contains(var('domains'), domain)\"\nn: \"length(keys(var('table')))\"\n",
             "context:\n  domains: {type: array, default: [a.example, b.example]}\n"
             "  table: {type: object, default: {x: 1}}\n")
    assert p.apply({"domain": "b.example"}).output == {"relay": True, "n": 1}
    assert p.apply({"domain": "b.example"}, {"domains": ["c.example"]}).output == {"relay": False, "n": 1}


def test_function_failure_is_a_field_error_not_an_exception() -> None:
    r = plan("total: \"money_add(price, tax)\"\n").apply({"price": "1", "tax": "x"})
    assert r.errors and r.errors[0].path == "total" and "not a decimal number" in r.errors[0].message


def test_compile_collects_every_problem() -> None:
    with pytest.raises(SpecError) as info:
        plan("a: \"foo(\"\nb: {lookup: nope, from: x}\nc: {template: '{{ x.__class__ }}'}\n")
    assert len(info.value.problems) == 3


def test_canonical_target_and_plan_required() -> None:
    schemas = SchemaSet().canonical
    p = plan("title: t\nvariants: {each: v, fields: {sku: s, price.amount: p}}\n",
             "target: {canonical: product}\n", schemas)
    assert p.required == ["title", "variants"]
    assert p.apply({"t": "T", "v": [{"s": "A", "p": "1"}]}).output == {
        "title": "T", "variants": [{"sku": "A", "price": {"amount": "1"}}]}


@pytest.mark.parametrize("value, expected", [
    (None, False), (False, False), ("", False), ([], False), ({}, False),
    (0, True), (0.0, True), ("0", True), (True, True), ([0], True), ({"a": None}, True),
])
def test_if_follows_jmespath_truthiness_so_zero_is_a_value(value, expected) -> None:
    import jmespath

    from engine.lang.mapping import _truthy

    assert _truthy(value) is expected
    # the same answer as JMESPath's own `||`, which returns its left side only when it is truthy
    assert (jmespath.search("a || 'fallback'", {"a": value}) != "fallback") is expected
