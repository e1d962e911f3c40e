"""The generated form of a mapping plan (engine.lang.mapping_codegen) gives what the interpreter
gives: the same output for every record without a field error, and for every other record the
interpreter's own errors (the generated function gives up on it, and apply falls back).

Checked on every mapping test case in the repository, on generated catalogs run through the
shipped mappings, and on generated JMESPath expressions placed in every position a field can be.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import assume, given, settings

from engine.lang.expr import ExprCompileError
from engine.lang.mapping import compile_mapping
from engine.project.loader import Project
from engine.project.testing import _input, load_suites
from engine.project.validate import Validator
from simulators.catalog import generate_shopify_products
from tests.core.test_expr_closures import EDGE_EXPRESSIONS, EDGE_RECORDS, JSON, _expressions

ROOT = Path(__file__).resolve().parents[2]


def _outcome(result) -> tuple:  # noqa: ANN001
    # repr: True and 1, 1 and 1.0, or a different key order would compare equal otherwise
    return repr(result.output), [error.as_dict() for error in result.errors]


def _same(plan, record, context=None) -> None:  # noqa: ANN001
    assert _outcome(plan.apply(record, context)) == _outcome(plan.interpret(record, context))


def _cases():  # noqa: ANN202
    project = Project.load([ROOT / "tests", ROOT / "examples"], include_shipped=True)
    for suite in load_suites(project):
        for case in suite.cases:
            name = case.get("mapping") or suite.document.doc.get("mapping")
            if name:
                yield pytest.param(suite, case, name, id=f"{suite.document.path.name}:{case.get('name')}")


@pytest.mark.parametrize(("suite", "case", "name"), list(_cases()))
def test_every_mapping_test_case_maps_the_same(suite, case, name) -> None:  # noqa: ANN001
    plan = suite.plans[name]
    assert plan._fast is not None, f"{name}: no generated form"
    record = _input(suite.document, case)
    context = case.get("context")
    _same(plan, record, context)
    reference = plan.interpret(record, context)
    if reference.ok:  # a record without field errors never needs the interpreter
        ctx = {**plan.context_defaults, **(context or {})}
        assert repr(plan._fast(record, ctx)) == repr(reference.output)


def _shipped(name: str):  # noqa: ANN202
    project = Project.load([], include_shipped=True)
    validator = Validator(project)
    plan = validator.compile_mapping(project.get("mapping", name).doc)
    assert plan is not None, validator.problems
    return plan


def test_generated_catalogs_map_the_same_both_ways() -> None:
    to_canonical = _shipped("shopify.product_to_canonical")
    to_tiktok = _shipped("tiktok_shop.product_from_canonical")
    products = generate_shopify_products(150, seed=3, invalid_share=0.3, max_variants=12)
    for index, product in enumerate(products):
        product["id"] = 7_000_000 + index
        for number, variant in enumerate(product.get("variants") or []):
            variant["id"] = 8_000_000 + index * 100 + number
            if number % 3 == 0:
                variant["sku"] = None if number % 2 else ""
        context = {"variants_without_sku": "reject"} if index % 5 == 0 else None
        _same(to_canonical, product, context)
        canonical = to_canonical.interpret(product, context).output
        categories = {"category_map": {canonical.get("category", {}).get("name", "x"): "600001"},
                      "image_uris": {i.get("url"): f"u{n}" for n, i in enumerate(canonical.get("images") or [])},
                      "warehouse_id": "1", "sku_ids": {v.get("sku"): "9" for v in canonical.get("variants", [])[:1]}}
        _same(to_tiktok, canonical, categories if index % 4 else {})


def _plans(text: str) -> list:
    """The expression as a plain field, a cast field, a condition, a lookup key, an each source,
    an each item and filter (where parent() and root() differ from @), a coalesce option and a
    required field: each its own mapping, so that one position's field error does not send the
    whole record to the interpreter and hide what the others do."""
    positions = [
        {"plain": text},
        {"cast": {"path": text, "cast": "string", "default": "d"}},
        {"when": {"if": text, "then": {"const": 1}, "else": {"fields": {"x": text}}}},
        {"looked": {"lookup": "t", "from": text}},
        {"each": {"each": text, "value": "@"}},
        {"items": {"each": "items", "filter": text, "fields": {"v": text, "n.d": text}}},
        {"items": {"each": "items", "limit": 1, "value": {"coalesce": [text, {"const": "c"}]}}},
        {"nested.deep": {"path": text, "required": True}},
    ]
    plans = []
    for fields in positions:
        doc = {"kind": "mapping", "name": "t", "fields": fields,
               "lookups": {"t": {"values": {"1": "one", "a": "A"}, "default": "none"}}}
        try:
            plans.append(compile_mapping(doc))
        except Exception:  # noqa: BLE001  (an expression the engine refuses at compile time)
            return []
    return plans


def _checked(plans: list, record: object, context: dict) -> int:
    """Compare every plan both ways; the number of them the generated function mapped itself."""
    mapped = 0
    for plan in plans:
        assert plan._fast is not None
        _same(plan, record, context)
        try:
            plan._fast(record, {**plan.context_defaults, **context})
            mapped += 1
        except Exception:  # noqa: BLE001
            pass
    return mapped


@pytest.mark.parametrize("text", EDGE_EXPRESSIONS)
def test_edge_expressions_map_the_same(text: str) -> None:
    plans = _plans(text)
    assert plans
    mapped = 0
    for data in EDGE_RECORDS:
        record = {"items": [data, data], **data} if isinstance(data, dict) else data
        mapped += _checked(plans, record, data if isinstance(data, dict) else {"a": data})
    assert mapped, "the generated functions gave up on every record"


@settings(max_examples=600, deadline=None)
@given(text=_expressions(), data=JSON, context=JSON)
def test_generated_expressions_map_the_same(text: str, data: object, context: object) -> None:
    try:
        plans = _plans(text)
    except ExprCompileError:
        plans = []
    assume(plans)
    record = {"items": [data, {"a": data}], "a": data} if not isinstance(data, dict) else {"items": [data], **data}
    _checked(plans, record, context if isinstance(context, dict) else {"a": context})


# Amounts that make money_sum() and the like write text the reader treats apart: -0, a whole
# number with a positive exponent, more digits in plain notation than the reader takes, text.
_AMOUNTS = [None, "", "0", "-0", "-0.00", "1.25", "2", Decimal("-0"), Decimal("-0.00"), Decimal("1E+2"),
            Decimal("1E+40"), Decimal("-1E+40"), Decimal("1.5E+30"), Decimal("1E-40"), "1e30",
            "9" * 100, "0." + "1" * 99, Decimal("1" * 28 + "E+80"), 7, 1.5, "x", True]


def test_amounts_handed_over_as_decimals_map_as_their_text_would() -> None:
    """money(money_sum(...)) and the like: the generated function hands the sum to money() as a
    Decimal (AMOUNT_TWINS); the output, and every refusal, is what reading its text gives."""
    plan = compile_mapping({"kind": "mapping", "name": "t", "fields": {
        "sum": "money(money_sum(items), 'USD')",
        "net": "money(money_add(money_sub(money_sum(items), var('b')), var('a') && '0' || money_sum(items)), 'USD')",
        "sub": "money_sub(money_add(var('a'), var('b')), money_sum([var('b')]))",
        "twice": "money_add(money_sum(items), money_sum(items), money_sub(var('a'), var('a')))",
        "fields": "money(money_sum(units[].a), 'USD')", "field_text": "money_sum(units[].a)",
        "nested": "money_add(money_sum(units[].a), money_sum(units[].b[].a))",
        "flat": "money(money_sum([units[].a, items][]), 'USD')", "flat_text": "money_sum([items, units][])",
        "pair": "money(money_sum([units[].a, units[].b[].a][]), 'USD')", "pair_text": "money_sum([units[].a, items[].a][])",
        # Projections summed once each: their amounts are added up as they are read.
        "once": "money(money_sum(units[].c), 'USD')", "apart": "money(money_add(money_sum([units[].d, items[].d][]), '0'), 'USD')",
        # Summed per item in several places: the amounts are read once per item and remembered.
        "lines": {"each": "units", "fields": {
            "a": "money(money_sum(b[].a), 'USD')", "both": "money(money_sum([b[].a, b[].c][]), 'USD')",
            "text": "money_sum([b[].a, b[].c][])", "net": "money(money_sub(money_sum(b[].c), money_sum(b[].a)), 'USD')"}}}})
    generated = repr(plan._fast.__globals__.values())
    for name in ("money_sum_amount", "money_sum_of_field_amount", "money_sum_of_fields_amount", "field_amounts",
                 "money_sum_of_amounts_amount", "money_sum_of_amounts ", "amount_text"):
        assert name in generated, name
    for a in _AMOUNTS:
        for b in _AMOUNTS:
            units = [{"a": a, "c": b, "d": a}, {"a": b, "b": [{"a": a, "c": b}, "x", None], "c": a},
                     None, "x", {"b": {"a": b}, "d": b}]
            for record in ({"items": [a, b, a], "units": units}, {"items": [a], "units": {"a": a}}):
                ctx = {"a": a, "b": b}
                assert _outcome(plan.apply(record, ctx)) == _outcome(plan.interpret(record, ctx)), (a, b)


def test_money_of_an_amount_s_text_is_what_reading_it_gives() -> None:
    """money(money_sum(...)) and the like where the sum is not remembered: money() takes the
    text the function writes, read again only where the reader may refuse it or it is a -0."""
    fields = {"sum": "money(money_sum(units[].c), 'USD')", "sub": "money(money_sub(var('a'), var('b')), 'USD')",
              "add": "money(money_add(var('a'), var('b'), var('a')), 'USD')",
              "pair": "money(money_sum([units[].c, units[].d][]), 'USD')"}
    # One mapping per field, so that one field's error does not send the others to the interpreter.
    plans = [compile_mapping({"kind": "mapping", "name": "t", "fields": {name: text}}) for name, text in fields.items()]
    assert all("amount_text" in repr(plan._fast.__globals__.values()) for plan in plans)
    mapped = 0
    for a in _AMOUNTS:
        for b in _AMOUNTS:
            record = {"units": [{"c": a, "d": b}, None, {"c": b}, {"d": a}]}
            mapped += _checked(plans, record, {"a": a, "b": b})
    assert mapped > len(_AMOUNTS) ** 2


def test_lookups_written_out_read_the_context_table_first_then_their_own() -> None:
    plan = compile_mapping({"kind": "mapping", "name": "t", "fields": {
        "status": {"lookup": "status", "from": "s"},
        "kept": {"lookup": "kept", "from": "s"},
        "items": {"each": "items", "fields": {"v": {"lookup": "status", "from": "@"}}}},
        "lookups": {"status": {"context": "status_map", "values": {"A": "a", "1": "one", "None": "none"}},
                    "kept": {"values": {"A": "kept"}, "default": None}}})
    mapped = 0
    for table in [None, {}, {"B": "b", "A": "override"}, {"1": "uno", "None": "n"}, ["A"], "A"]:
        for key in ["A", "B", 1, 1.0, True, None, Decimal("1"), [1], {"A": 1}]:
            record, ctx = {"s": key, "items": ["A", 1, Decimal("1")]}, {"status_map": table}
            assert _outcome(plan.apply(record, ctx)) == _outcome(plan.interpret(record, ctx)), (table, key)
            try:
                plan._fast(record, ctx)
                mapped += 1
            except Exception:  # noqa: BLE001  (a miss: the interpreter reports it)
                pass
    assert mapped > 10


def test_what_is_known_of_a_value_s_type_keeps_every_answer() -> None:
    """Where a value can only be of some types (a comparison's boolean, a function's text, a
    list built by the expression), the generated code tests it the plain Python way; the
    answers must stay JMESPath's for every value met on the other side."""
    fields = {
        "eq_text": "trim(var('t')) == var('a')", "eq_len": "length(var('l')) == var('a')",
        "eq_len_lit": "length(var('l')) == `1`", "ne_list": "var('l')[?@ != `null`] != var('a')",
        "not_cmp": "!(var('a') == `1`)", "not_list": "!var('l')[?@]", "not_text": "!trim(var('t'))",
        "and": "var('a') == `0` && trim(var('t')) || length(var('l'))",
        "filter": "var('l')[?@ == `1` || trim(to_string(@)) == '']",
        "amount": "money(money_sum(var('l')[?@ != `true`]), var('t'))",
        "true": "var('a') == `true`", "not_false": "var('l')[?@ != `false`]",
        "merge": "merge(var('a'), {k: var('t')}, {a: var('l')})", "merge_one": "merge(var('a'))",
        "max": "max(var('l'))", "min": "min(var('l')[?@ != `true`])", "contains": "contains(var('l'), var('a'))",
        "length": "length(var('a'))", "trim": "trim(var('t'))", "upper": "upper(var('a'))",
        "to_string": "to_string(var('a'))", "eq_unknown": "var('a') == var('l')[0]",
        "ne_unknown": "var('l')[?@ != parent().a]"}
    # One mapping per field, so that one field's error does not send the others to the interpreter.
    plans = [compile_mapping({"kind": "mapping", "name": "t", "fields": {name: text}}) for name, text in fields.items()]
    assert "_equals" not in plans[0]._fast.source and "_equals" not in plans[2]._fast.source
    values = [None, True, False, 0, 1, 1.0, 0.0, Decimal("1"), Decimal("0"), "", "1", " x ", [], [1], {}, {"a": 1},
              OrderedDict(k=1, z=2), [("k", 1)]]
    mapped = 0
    for plan in plans:
        for a in values:
            for t in [None, "", " x ", "USD"]:
                for items in [[], [1], [1, True, "1", Decimal("1"), 1.0, None, ""], ["0.5", " "], [2, Decimal("1.5")]]:
                    ctx = {"a": a, "t": t, "l": items}
                    assert _outcome(plan.apply({}, ctx)) == _outcome(plan.interpret({}, ctx)), (plan.doc, a, t, items)
                    mapped += _checked([plan], {}, ctx)
    assert mapped > len(plans) * len(values)


class _ObjectByName(Mapping):
    """An object to jmespath, which takes it by its type's name, without being a dict."""

    def __init__(self, **items: object) -> None:
        self._items = items

    def __getitem__(self, key: str) -> object:
        return self._items[key]

    def __iter__(self):  # noqa: ANN204
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


_ObjectByName.__name__ = "OrderedDict"


def test_merge_of_the_current_element_reads_it_as_an_object() -> None:
    """merge(@, {...}) over a projection: once @ passed merge()'s check, the rest reads its
    fields without testing it again; what is not a dict goes to the interpreter."""
    fields = {"keyed": "group_by(units[].merge(@, {k: [sku, !sku && to_string(id) || null, gift == `true`]}), 'k')",
              "nested": "units[].merge(@, {a: merge(@, {b: sku}), c: [@][0].sku}, {d: id})",
              "list": "units[].merge(@, [@][0])", "items": {"each": "units", "value": "merge(@, {s: sku})"}}
    plans = [compile_mapping({"kind": "mapping", "name": "t", "fields": {name: spec}}) for name, spec in fields.items()]
    assert "isinstance(_j4, dict) else None" not in plans[0]._fast.source
    for unit in [None, {}, {"sku": "A", "id": 1, "gift": True}, {"sku": "", "id": "2"}, {"sku": None, "id": None},
                 OrderedDict(sku="B", id=3), _ObjectByName(sku="C", id=4), "x", 1, [{"sku": "A"}]]:
        for units in ([unit], [unit, {"sku": "A", "id": 5}, unit]):
            _checked(plans, {"units": units}, {})


def test_not_null_written_out_computes_what_can_raise() -> None:
    fields = {"lazy": "not_null(a.b, a[0], `5`)", "eager": "not_null(a, length(a), `0`)",
              "single": "not_null(missing)", "items": {"each": "l", "value": "not_null(@, parent().a)"}}
    plans = [compile_mapping({"kind": "mapping", "name": "t", "fields": {name: spec}}) for name, spec in fields.items()]
    assert all("not_null" not in repr(plan._fast.__globals__.values()) for plan in plans)
    for a in [None, 0, "x", [], [None, 2], {"b": None}, {"b": 1}, True]:
        for items in [[], [None, 1, a]]:
            _checked(plans, {"a": a, "l": items}, {})


def test_each_over_to_entries_reads_the_object_s_items() -> None:
    fields = {"attrs": {"each": "to_entries(options)", "fields": {"name": "key", "value.text": "value"}},
              "first": {"each": "to_entries(options)", "limit": 1, "fields": {"v": "value"}},
              "nested": {"each": "groups", "fields": {"kv": {"each": "to_entries(@)", "fields": {"k": "key"}}}},
              "general": {"each": "to_entries(options)", "fields": {"k": "key", "up": "parent().id"}}}
    plans = [compile_mapping({"kind": "mapping", "name": "t", "fields": {name: spec}}) for name, spec in fields.items()]
    assert all("_to_entries" not in repr(plan._fast.__globals__.values()) for plan in plans[:3])
    for options in [None, {}, {"a": 1, "b": None, "c": [1]}, OrderedDict(z=1, a=2), OrderedDict(), "x", [], [["a", 1]], 0]:
        record = {"id": 7, "options": options, "groups": [options, {"k": 1}, None]}
        _checked(plans, record, {})
