"""Common sub-expressions in generated mappings (engine.lang.mapping_codegen._Memo): a
sub-expression written several times is computed once per record (when it reads only root(),
var() and literals, also inside `each`) or once per item (when it reads the item), lazily, and the
output and the errors stay the interpreter's."""

from __future__ import annotations

import re

from hypothesis import assume, example, given, settings

from engine.lang.expr import ExprCompileError
from engine.lang.mapping import compile_mapping
from tests.core.test_expr_closures import JSON, _expressions
from tests.core.test_mapping_codegen import _outcome

CURRENCY = "items[0].currency || root().payment.currency || var('fallback')"
ORDER = {
    "kind": "mapping", "name": "memo",
    "fields": {
        "currency": "payment.currency",
        "lines": {
            "each": "groups",
            "fields": {
                "price": f"money(items[0].price, {CURRENCY})",
                "discount": f"money(money_sum(items[].discount), {CURRENCY})",
                "total": f"money(money_sub(money_sum(items[].price), money_sum(items[].discount)), {CURRENCY})",
                "shop": "upper(root().payment.currency)",
                "shop_again": "lower(root().payment.currency)",
                "tag": "upper(var('tag') || 'none')",
                "tag_again": "lower(var('tag') || 'none')",
            },
        },
    },
}


def _order(*currencies: str | None) -> dict:
    return {"payment": {"currency": "USD"},
            "groups": [{"items": [{"price": "10.00", "discount": "1", "currency": c},
                                  {"price": "10.00", "discount": "0.5", "currency": c}]} for c in currencies]}


def _loop_body(source: str) -> str:
    return source[source.index("for "):]


class _Reads(dict):
    """A context that counts the reads of each of its keys."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.reads: dict[str, int] = {}

    def get(self, key: str, default: object = None) -> object:
        self.reads[key] = self.reads.get(key, 0) + 1
        return super().get(key, default)


def test_what_reads_the_item_is_remembered_per_item_and_the_rest_per_record() -> None:
    plan = compile_mapping(ORDER)
    source = plan._fast.source
    body = _loop_body(source)
    # root().payment.currency is the same for the whole record: reset once, before the loop.
    head_resets = re.findall(r"^    (m\d+) = UNSET$", source[:source.index("for ")], re.M)
    loop_resets = re.findall(r"^ {12,}(m\d+) = UNSET$", body, re.M)
    assert head_resets and loop_resets
    assert not set(head_resets) & set(loop_resets)
    # var('tag') || 'none' (twice in each of 3 items) is computed once for the record; the
    # currency expression (three times in each item) once per item: only the second item, whose
    # units have no currency and whose order has none either, reads the fallback, once.
    record = {**_order("EUR", None, "GBP"), "payment": {}}
    ctx = _Reads(tag="t", fallback="CAD")
    out = plan._fast(record, ctx)
    assert ctx.reads == {"tag": 1, "fallback": 1}
    assert [line["total"]["currency"] for line in out["lines"]] == ["EUR", "CAD", "GBP"]
    assert [line["tag_again"] for line in out["lines"]] == ["t"] * 3
    # Each line gets its own item's currency, or the order's when it has none: not the first line's.
    result = plan.apply(_order("EUR", None, "GBP"))
    assert result.ok, result.errors
    assert [line["price"]["currency"] for line in result.output["lines"]] == ["EUR", "USD", "GBP"]
    assert [line["total"] for line in result.output["lines"]] == [
        {"amount": "18.50", "currency": c} for c in ("EUR", "USD", "GBP")]
    assert _outcome(result) == _outcome(plan.interpret(_order("EUR", None, "GBP")))
    assert repr(plan._fast(_order("EUR", None, "GBP"), {})) == repr(result.output)


def test_a_remembered_value_is_not_carried_from_one_record_to_the_next() -> None:
    plan = compile_mapping(ORDER)
    first = plan.apply({**_order(None), "payment": {"currency": "USD"}}).output
    second = plan.apply({**_order(None), "payment": {"currency": "CAD"}}).output
    assert first["lines"][0]["shop"] == "USD"
    assert second["lines"][0]["shop"] == "CAD" and second["lines"][0]["price"]["currency"] == "CAD"


def test_a_shared_expression_is_only_computed_where_it_was_and_keeps_short_circuits() -> None:
    # money() raises on text that is not a number; the shared expression sits behind a test that
    # is false, and after a || that is already true. Computing it anyway (a hoisted, eager form)
    # would fail the record, which the generated function must map itself.
    plan = compile_mapping({"kind": "mapping", "name": "lazy", "fields": {
        "a": {"if": "ok", "then": "money(amount, 'USD')"},
        "b": {"if": "ok", "then": "money(amount, 'USD').amount"},
        "c": "name || money(amount, 'USD')",
        "d": "name || money(amount, 'USD')",
    }})
    record = {"ok": False, "amount": "not a number", "name": "n"}
    assert "UNSET" in plan._fast.source
    assert plan._fast(record, {}) == {"c": "n", "d": "n"}  # no exception: no fallback needed
    assert _outcome(plan.apply(record)) == _outcome(plan.interpret(record))


def test_an_error_in_a_shared_expression_still_names_each_field_and_the_item() -> None:
    plan = compile_mapping(ORDER)
    record = _order("EUR", "EUR")
    record["groups"][1]["items"][0]["price"] = "ten"
    result = plan.apply(record)
    reference = plan.interpret(record)
    assert not result.ok
    assert _outcome(result) == _outcome(reference)
    paths = {error.as_dict()["field"] for error in result.errors}
    assert {"lines[1].price", "lines[1].total"} <= paths
    assert not any(path.startswith("lines[0]") for path in paths)


def _shared_plans(text: str) -> list:
    """The expression written several times in one record, in one item, and in an item beside
    root() and parent() forms of it, so that the generated code remembers it."""
    fields = {
        "a": text, "b": {"path": text, "cast": "string", "default": "d"}, "c": {"if": text, "then": text},
        "items": {"each": "items", "filter": text,
                  "fields": {"v": text, "w": f"[{text}, root().{text}, parent()]", "x": f"not_null(root().{text}, @)",
                             "y": f"root().{text}"}},
    }
    try:
        return [compile_mapping({"kind": "mapping", "name": "t", "fields": fields})]
    except ExprCompileError:
        return []
    except Exception:  # noqa: BLE001  (an expression the engine refuses at compile time)
        return []


@settings(max_examples=150, deadline=None)
@given(text=_expressions(), data=JSON, context=JSON)
# parent() is null for the record and the record for an item: one text, two values.
@example(text="type(split((upper(parent())), ','))", data=None, context=None)
def test_generated_expressions_written_several_times_map_the_same(text: str, data: object, context: object) -> None:
    plans = _shared_plans(text)
    assume(plans)
    record = {"items": [data, {"a": data}], "a": data} if not isinstance(data, dict) else {"items": [data], **data}
    ctx = context if isinstance(context, dict) else {"a": context}
    for plan in plans:
        assert _outcome(plan.apply(record, ctx)) == _outcome(plan.interpret(record, ctx))


def test_a_list_of_root_values_still_depends_on_the_item_being_null() -> None:
    # [root(), root()] is null where @ is null: it reads the item, so it is remembered per item.
    text = "[root().a, root().a]"
    plan = compile_mapping({"kind": "mapping", "name": "t", "fields": {
        "items": {"each": "items", "filter": text, "fields": {"v": text, "w": text}}}})
    record = {"items": [None, {"b": 1}, None, {"b": 2}], "a": "x"}
    assert repr(plan._fast(record, {})) == repr(plan.interpret(record).output)
    assert plan.apply(record).output == {"items": [{"v": ["x", "x"], "w": ["x", "x"]}] * 2}


def test_what_a_loop_reads_of_the_record_only_is_computed_once_even_when_written_once() -> None:
    plan = compile_mapping({"kind": "mapping", "name": "t", "fields": {
        "items": {"each": "items", "fields": {"v": "var('tag') || 'none'"}}}})
    ctx = _Reads(tag="t")
    assert plan._fast({"items": [1, 2, 3]}, ctx) == {"items": [{"v": "t"}] * 3}
    assert ctx.reads == {"tag": 1}


def test_sort_by_written_out_sorts_as_jmespath_does_and_gives_up_where_it_raises() -> None:
    plan = compile_mapping({"kind": "mapping", "name": "t", "fields": {
        "sorted": "sort_by(images || `[]`, &not_null(position, `0`))[].id",
        "by_name": "sort_by(images, &name)[].id"}})
    assert "_sort_by_keys" in plan._fast.source
    images = [{"id": 1, "position": 3, "name": "b"}, {"id": 2, "name": "a"}, {"id": 3, "position": 3, "name": "c"},
              {"id": 4, "position": 1.5, "name": "a"}]
    cases = [
        {"images": images},  # stable: 1 before 3; a float among ints is still a number
        {"images": []},
        {},  # sort_by(null, ...) is a type error: by_name's field error, the interpreter's words
        {"images": [{"id": 1, "position": "x", "name": "a"}, {"id": 2, "position": 1, "name": "b"}]},  # mixed keys
        {"images": [{"id": 1, "position": True, "name": None}]},  # neither number nor text
        {"images": "not a list"},
    ]
    for record in cases:
        assert _outcome(plan.apply(record)) == _outcome(plan.interpret(record)), record
    assert plan._fast({"images": images}, {}) == {"sorted": [2, 4, 1, 3], "by_name": [2, 4, 1, 3]}


class _Text(str):
    pass


class _Items(list):
    pass


def test_falsiness_and_numbers_written_out_agree_with_the_interpreter_on_every_type() -> None:
    from collections import OrderedDict
    from decimal import Decimal

    plan = compile_mapping({"kind": "mapping", "name": "t", "fields": {
        "or": "var('a') || 'other'", "and": "var('a') && 'both'", "not": "!var('a')",
        "kept": "var('list')[?@]", "less": "var('a') < `1`", "null": "var('a') == `null`",
        "not_null": "var('a') != `null`", "false": "var('a') == `false`"}})
    values = [None, False, True, 0, 0.0, 1, -1.5, Decimal("0"), Decimal("2"), "", "x", _Text(""), _Text("y"),
              [], [0], _Items(), _Items([1]), {}, {"k": 0}, OrderedDict(), OrderedDict(k=1)]
    for value in values:
        ctx = {"a": value, "list": values}
        assert _outcome(plan.apply({}, ctx)) == _outcome(plan.interpret({}, ctx)), value
        try:
            fast = plan._fast({}, ctx)
        except Exception:  # noqa: BLE001  (text < number: jmespath raises too; apply fell back above)
            continue
        assert repr(fast) == repr(plan.interpret({}, ctx).output), value


def test_what_reads_parent_alone_is_computed_once_per_enclosing_item() -> None:
    plan = compile_mapping({"kind": "mapping", "name": "t", "fields": {
        "groups": {"each": "groups", "fields": {
            "tag": "parent().shop || 'none'",
            "units": {"each": "units", "fields": {"u": "@", "t": "[parent().tag, parent().tag]"}}}}}})
    source = plan._fast.source
    record = {"shop": "s", "groups": [{"tag": "a", "units": [1, 2]}, {"tag": None, "units": [3]},
                                       {"tag": "c", "units": []}, {"tag": "d", "units": [4]}]}
    out = plan._fast(record, {})
    assert [unit["t"] for group in out["groups"] for unit in group["units"]] == [["a", "a"]] * 2 + [[None, None], ["d", "d"]]
    assert repr(out) == repr(plan.interpret(record).output)
    # parent().tag is reset where each group starts, not where each unit does.
    assert re.search(r"^ {12}m\d+ = UNSET$", source, re.M)
    assert not re.search(r"^ {20}m\d+ = UNSET$", source, re.M)
