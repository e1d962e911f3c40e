"""Custom functions and casts: exact money, unit conversions, text, dates. Never a float."""

from __future__ import annotations

from decimal import Decimal

import jmespath
import pytest

from engine.lang.casts import CASTS
from engine.lang.expr import ExpressionCompiler, Scope


@pytest.fixture(scope="module")
def exprs() -> ExpressionCompiler:
    return ExpressionCompiler()


def ev(exprs: ExpressionCompiler, text: str, data: object = None, context: dict | None = None) -> object:
    return exprs.jmespath(text).evaluate(Scope(data, data, None, context or {}))


@pytest.mark.parametrize(("expr", "want"), [
    ("money_add('0.1', '0.2')", "0.3"),
    ("money_add('19.99', '0.01', '100')", "120.00"),
    ("money_sub('10.00', '0.01')", "9.99"),
    ("money_mul('19.99', '3')", "59.97"),
    ("money_mul('10.00', '0.075')", "0.75"),
    ("money_mul('0.125', '1', `2`)", "0.13"),  # half-up, not banker's
    ("money_round('2.675')", "2.68"),
    ("money_round_even('2.665')", "2.66"),
    ("money_cmp('10.0', '10.00')", 0),
    ("money_cmp('9.99', '10')", -1),
    ("decimal(`0.1`)", "0.1"),
    ("decimal('1e2')", "100"),
    ("decimal('3.14159', `2`)", "3.14"),
    ("format_number('7', `2`)", "7.00"),
])
def test_money_is_exact(exprs: ExpressionCompiler, expr: str, want: object) -> None:
    got = ev(exprs, expr)
    assert got == want
    assert not isinstance(got, float)


def test_money_from_float_input_has_no_binary_noise(exprs: ExpressionCompiler) -> None:
    assert ev(exprs, "money_add(a, b)", {"a": 0.1, "b": 0.2}) == "0.3"
    assert ev(exprs, "money_mul(p, '3')", {"p": 19.99}) == "59.97"


def test_money_refuses_non_numbers(exprs: ExpressionCompiler) -> None:
    from engine.lang.expr import ExprEvalError

    with pytest.raises(ExprEvalError, match="not a decimal number"):
        ev(exprs, "money_add('abc', '1')")
    with pytest.raises(ExprEvalError, match="not a finite number"):
        ev(exprs, "decimal('NaN')")


@pytest.mark.parametrize(("expr", "data", "want"), [
    ("money_sum(v)", {"v": ["19.99", "0.01", "100"]}, "120.00"),
    ("money_sum(v)", {"v": ["0.1", 0.2, None, "", "5"]}, "5.3"),  # nulls and empty text skipped
    ("money_sum(v)", {"v": []}, "0"),
    ("money_sum(v)", {"v": None}, "0"),
    ("money_sum(v)", {}, "0"),
    ("money_sum(v, `2`)", {"v": ["1.005", "0.0001"]}, "1.01"),  # half-up, after the exact sum
    ("money_sum(v, `2`)", {"v": ["0.125"]}, "0.13"),
    ("money_sum(v, `0`)", {"v": ["2.5"]}, "3"),
    ("money_sum(v)", {"v": ["-1.50", "1.5"]}, "0.00"),
    ("money(a, 'USD')", {"a": "5000"}, {"amount": "5000", "currency": "USD"}),
    ("money(a, 'USD')", {"a": 19.99}, {"amount": "19.99", "currency": "USD"}),
    ("money(a, 'USD')", {"a": "1e2"}, {"amount": "100", "currency": "USD"}),
    ("money(a, 'USD')", {"a": None}, None),
    ("money(a, 'USD')", {"a": " "}, None),
])
def test_money_sum_and_money_objects(exprs: ExpressionCompiler, expr: str, data: dict, want: object) -> None:
    assert ev(exprs, expr, data) == want


def test_money_sum_refuses_non_numbers(exprs: ExpressionCompiler) -> None:
    from engine.lang.expr import ExprEvalError

    with pytest.raises(ExprEvalError, match="not a decimal number"):
        ev(exprs, "money_sum(v)", {"v": ["1", "one"]})
    with pytest.raises(ExprEvalError, match="not a number"):
        ev(exprs, "money_sum(v)", {"v": [True]})


@pytest.mark.parametrize(("expr", "want"), [
    ("convert_weight('1', 'lb', 'g')", "453.592"),
    ("convert_weight('2.5', 'lb', 'kg', `2`)", "1.13"),
    ("convert_weight('1000', 'g', 'kg')", "1.000"),
    ("convert_weight('95', 'g', 'lb', `2`)", "0.21"),
    ("convert_weight('16', 'oz', 'lb')", "1.000"),
    ("convert_weight('1', 'KG', 'pound', `4`)", "2.2046"),
    ("convert_length('10', 'in', 'cm')", "25.40"),
    ("convert_length('1', 'ft', 'mm', `0`)", "305"),
    ("convert_length('250', 'mm', 'm', `3`)", "0.250"),
])
def test_unit_conversions(exprs: ExpressionCompiler, expr: str, want: str) -> None:
    assert ev(exprs, expr) == want


def test_unknown_unit_is_an_error(exprs: ExpressionCompiler) -> None:
    from engine.lang.expr import ExprEvalError

    with pytest.raises(ExprEvalError, match="unknown weight unit 'stone'"):
        ev(exprs, "convert_weight('1', 'stone', 'kg')")


def test_html_to_text(exprs: ExpressionCompiler) -> None:
    html = ("<p>Soft <strong>cotton</strong> &amp; linen.</p><ul><li>Cold wash</li><li>Line dry</li></ul>"
            "<script>alert(1)</script><style>p{}</style><table><tr><td>S</td><td>36</td></tr></table>")
    assert ev(exprs, "html_to_text(h)", {"h": html}) == "Soft cotton & linen.\nCold wash\nLine dry\nS 36"
    assert ev(exprs, "html_to_text(h)", {"h": None}) is None


@pytest.mark.parametrize(("expr", "data", "want"), [
    ("split(tags, ',')", {"tags": "a, b ,, c"}, ["a", "b", "c"]),
    ("split(tags, ',')", {"tags": ""}, []),
    ("upper(s)", {"s": "ab"}, "AB"),
    ("lower(s)", {"s": "AB"}, "ab"),
    ("title_case(s)", {"s": "red wine"}, "Red Wine"),
    ("truncate(s, `3`)", {"s": "abcdef"}, "abc"),
    ("replace(s, '-', ' ')", {"s": "a-b"}, "a b"),
    ("escape_html(s)", {"s": "<b>&"}, "&lt;b&gt;&amp;"),
    ("object_from(k, v)", {"k": ["Size", "Color", None], "v": ["M", None, "x"]}, {"Size": "M"}),
    ("find_by(items, 'id', `7`).n", {"items": [{"id": "7", "n": "seven"}]}, "seven"),
    ("find_by(items, 'id', `8`)", {"items": [{"id": 7}]}, None),
    ("to_entries(o)", {"o": {"a": 1}}, [{"key": "a", "value": 1}]),
])
def test_text_and_object_functions(exprs: ExpressionCompiler, expr: str, data: dict, want: object) -> None:
    assert ev(exprs, expr, data) == want


UNITS = [{"sku": "A", "id": 1}, {"sku": "B", "id": 2}, {"id": 3}, {"sku": "A", "id": 4}, {"sku": None, "id": 5},
         {"sku": "1", "id": 6}, {"sku": 1, "id": 7}]


def test_group_by_keeps_first_seen_order_and_puts_missing_keys_under_null(exprs: ExpressionCompiler) -> None:
    groups = ev(exprs, "group_by(u, 'sku')", {"u": UNITS})
    assert [g["key"] for g in groups] == ["A", "B", None, "1", 1]  # "1" and 1 are not the same key
    assert [[i["id"] for i in g["items"]] for g in groups] == [[1, 4], [2], [3, 5], [6], [7]]
    assert ev(exprs, "group_by(u, 'sku')[].{k: key, n: length(items)}", {"u": UNITS})[0] == {"k": "A", "n": 2}


@pytest.mark.parametrize(("data", "want"), [
    ({"u": None}, []),
    ({"u": []}, []),
    ({}, []),
    ({"u": ["x", {"k": "a"}, "x"]}, [{"key": None, "items": ["x", "x"]}, {"key": "a", "items": [{"k": "a"}]}]),
    # keys may be lists or objects: compared by value
    ({"u": [{"k": ["a", 1]}, {"k": ["a", 1]}, {"k": {"b": 2}}]},
     [{"key": ["a", 1], "items": [{"k": ["a", 1]}, {"k": ["a", 1]}]}, {"key": {"b": 2}, "items": [{"k": {"b": 2}}]}]),
])
def test_group_by_edges(exprs: ExpressionCompiler, data: dict, want: list) -> None:
    assert ev(exprs, "group_by(u, 'k')", data) == want


@pytest.mark.parametrize("value", [
    "a", "é\n\"x", "", 1, -5, 10**30, True, False, None, 1.5, float("nan"), Decimal("1.0"), {"b": 1, "a": [1]},
    ["SKU-1", None, False], ["x", "1", 1, True, None, "ü"], [], [[1]], [Decimal(1)], ["x", 2.0], [{"a": 1}],
])
def test_group_by_key_text_is_the_encoders(value: object) -> None:
    """The usual keys are written out by hand; each must be the encoder's own text, or two keys
    the encoder tells apart (1 and true, "1" and 1) could share a group."""
    from engine.lang.functions import _GROUP_KEY, _group_text

    assert _group_text(value) == _GROUP_KEY.encode(value)


@pytest.mark.parametrize(("data", "want"), [
    ({"i": [1, 2, 3], "n": 2}, [1, 2]),
    ({"i": [1, 2, 3], "n": 5}, [1, 2, 3]),
    ({"i": [1, 2, 3], "n": 0}, []),
    ({"i": [1, 2, 3], "n": -1}, []),  # not "all but the last"
    ({"i": [1, 2, 3], "n": 2.0}, [1, 2]),
    ({"i": None, "n": 2}, []),
])
def test_take_counts_from_the_record(exprs: ExpressionCompiler, data: dict, want: list) -> None:
    assert ev(exprs, "take(i, n)", data) == want


@pytest.mark.parametrize(("value", "want"), [
    ("  TEE-M\n", "TEE-M"), ("\t", ""), ("a b", "a b"), (None, None),
])
def test_trim(exprs: ExpressionCompiler, value: object, want: object) -> None:
    assert ev(exprs, "trim(s)", {"s": value}) == want


@pytest.mark.parametrize(("value", "want"), [
    ("2024-06-03T09:15:22-04:00", "2024-06-03T13:15:22Z"),
    ("2025-01-10T08:44:19+05:30", "2025-01-10T03:14:19Z"),
    ("2025-01-10T08:44:19Z", "2025-01-10T08:44:19Z"),
    ("2025-01-10T08:44:19.250+00:00", "2025-01-10T08:44:19.250000Z"),
    (1700000000, "2023-11-14T22:13:20Z"),
    ("1700000000", "2023-11-14T22:13:20Z"),
])
def test_dates_become_utc_z(exprs: ExpressionCompiler, value: object, want: str) -> None:
    assert ev(exprs, "to_rfc3339(d)", {"d": value}) == want
    assert CASTS.get("datetime").impl(value) == want


def test_unix_seconds(exprs: ExpressionCompiler) -> None:
    assert ev(exprs, "to_unix(d)", {"d": "2023-11-14T17:13:20-05:00"}) == 1700000000
    assert ev(exprs, "to_unix(d)", {"d": None}) is None


def test_date_without_zone_is_refused(exprs: ExpressionCompiler) -> None:
    from engine.lang.expr import ExprEvalError

    with pytest.raises(ExprEvalError, match="without a time zone"):
        ev(exprs, "to_rfc3339(d)", {"d": "2024-06-03T09:15:22"})


def test_var_root_parent(exprs: ExpressionCompiler) -> None:
    scope = Scope({"n": 1}, {"r": 2}, {"p": 3}, {"shop": {"currency": "EUR"}})
    assert exprs.jmespath("var('shop.currency')").evaluate(scope) == "EUR"
    assert exprs.jmespath("var('nope.x')").evaluate(scope) is None
    assert exprs.jmespath("root().r").evaluate(scope) == 2
    assert exprs.jmespath("parent().p").evaluate(scope) == 3


def test_too_many_arguments_is_an_error_before_any_record(exprs: ExpressionCompiler) -> None:
    from engine.lang.expr import ExprCompileError

    with pytest.raises(ExprCompileError, match="takes 1 to 2 arguments, got 3") as info:
        exprs.jmespath("money_round('1', `2`, `3`)")
    assert "money_round(amount: string|number, places?: number)" in info.value.hint


def test_functions_work_from_jinja_too(exprs: ExpressionCompiler) -> None:
    template = exprs.template("{{ price | money_mul('2') }} / {{ money_add(price, '0.01') }}")
    assert template.evaluate(Scope({"price": "1.10"}, {}, None, {})) == "2.20 / 1.11"


@pytest.mark.parametrize(("name", "value", "scale", "want"), [
    ("decimal", "24", None, "24"),
    ("decimal", 24.5, None, "24.5"),
    ("decimal", "24.005", 2, "24.01"),
    ("decimal", Decimal("1.10"), None, "1.10"),
    ("int", "3", None, 3),
    ("int", "3.0", None, 3),
    ("int", 7, None, 7),
    ("bool", "yes", None, True),
    ("bool", "0", None, False),
    ("bool", False, None, False),
    ("string", 12, None, "12"),
    ("string", Decimal("1.50"), None, "1.50"),
    ("string", True, None, "true"),
    ("datetime", "2024-01-01T00:00:00+01:00", None, "2023-12-31T23:00:00Z"),
])
def test_casts(name: str, value: object, scale: int | None, want: object) -> None:
    got = CASTS.get(name).impl(value, scale)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("int", "3.5", "not a whole number"),
    ("int", "x", "not a decimal number"),
    ("bool", "maybe", "not a boolean"),
    ("string", {"a": 1}, "cannot turn a dict into text"),
    ("decimal", True, "not a number"),
    ("datetime", "yesterday", "not an ISO 8601 date"),
])
def test_cast_failures(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CASTS.get(name).impl(value, None)


def test_builtin_jmespath_functions_still_work(exprs: ExpressionCompiler) -> None:
    data = {"a": [3, 1, 2]}
    assert ev(exprs, "sort(a)", data) == jmespath.search("sort(a)", data)
    assert ev(exprs, "max(a)", data) == 3
