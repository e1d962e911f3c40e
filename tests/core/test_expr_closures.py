"""Compiled JMESPath closures give exactly what jmespath's interpreter gives: values and errors.

Expressions are generated from a small grammar covering every node type the closures compile
(paths, indexes, slices, projections, filters, comparisons, logic, multi-selects, pipes, literals,
builtin and engine functions, `&expr`), then evaluated on generated records both ways.
"""

from __future__ import annotations

import jmespath
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.lang.expr import ExprCompileError, ExpressionCompiler, ExprEvalError, JMESPathExpr, Scope
from engine.lang.functions import ENGINE_FUNCTIONS_CLASS

EXPRS = ExpressionCompiler()
KEYS = ["a", "b", "c", "sku", "_x"]
SCALARS = st.none() | st.booleans() | st.integers(-2, 3) | st.sampled_from(["", "a", "b", "1", "x,y"]) | \
    st.sampled_from([0.0, 1.0, -0.5, 2.5])
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5),
    max_leaves=20,
)
LITERALS = ["`1`", "`0`", "`-1`", "`2.5`", "`true`", "`false`", "`null`", "`[]`", "`{}`", "'a'", "''",
            "`\"b\"`", "`[1, 2]`", "`{\"a\": 1}`", "'x,y'"]


def _expressions() -> st.SearchStrategy[str]:
    field = st.sampled_from(KEYS)
    atom = field | st.sampled_from(["@", "root()", "parent()", "var('a')", "var('a.b')", *LITERALS])

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        one = inner.map(lambda x: f"({x})")
        two = st.tuples(inner, inner)
        functions = st.one_of(
            one.map(lambda x: f"length{x}"),
            one.map(lambda x: f"type{x}"),
            one.map(lambda x: f"keys{x}"),
            one.map(lambda x: f"to_array{x}"),
            one.map(lambda x: f"max{x}"),
            one.map(lambda x: f"upper{x}"),
            one.map(lambda x: f"to_entries{x}"),
            one.map(lambda x: f"decimal{x}"),
            one.map(lambda x: f"split({x}, ',')"),
            one.map(lambda x: f"get({x}, 'a')"),
            one.map(lambda x: f"var{x}"),
            one.map(lambda x: f"parent{x}"),
            st.tuples(inner, field).map(lambda p: f"sort_by({p[0]}, &{p[1]})"),
            st.tuples(inner, field).map(lambda p: f"max_by({p[0]}, &{p[1]})"),
            two.map(lambda p: f"not_null({p[0]}, {p[1]})"),
            two.map(lambda p: f"contains({p[0]}, {p[1]})"),
            two.map(lambda p: f"object_from({p[0]}, {p[1]})"),
            two.map(lambda p: f"find_by({p[0]}, 'a', {p[1]})"),
            two.map(lambda p: f"money_add({p[0]}, {p[1]})"),
            two.map(lambda p: f"join({p[0]}, {p[1]})"),
            st.tuples(inner, inner, inner).map(lambda p: f"money_round({p[0]}, {p[1]}, {p[2]})"),
        )
        # Structure dominates: random function arguments mostly end in type errors, which say
        # little about the closures that walk values.
        return st.one_of(
            st.tuples(inner, field).map(lambda p: f"({p[0]}).{p[1]}"),
            st.tuples(field, field, field).map(".".join),
            st.tuples(inner, st.sampled_from(["[0]", "[-1]", "[1]", "[]", "[*]", "[1:]", "[::-1]", ".*"]))
            .map(lambda p: f"({p[0]}){p[1]}"),
            st.tuples(inner, field).map(lambda p: f"({p[0]})[*].{p[1]}"),
            st.tuples(inner, field).map(lambda p: f"({p[0]})[].{p[1]}"),
            st.tuples(inner, field).map(lambda p: f"({p[0]}).*.{p[1]}"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]})[].({p[1]})"),
            st.tuples(inner, field, st.sampled_from(["==", "!=", "<", ">="]), inner)
            .map(lambda p: f"({p[0]})[?{p[1]} {p[2]} ({p[3]})]"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]})[?{p[1]}]"),
            st.tuples(inner, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), inner)
            .map(lambda p: f"({p[0]}) {p[1]} ({p[2]})"),
            st.tuples(inner, st.sampled_from(["||", "&&", "|"]), inner).map(lambda p: f"({p[0]}) {p[1]} ({p[2]})"),
            st.tuples(field, st.sampled_from(["== 'a'", "!= 'a'", "== ''", "!= `1`", "== `0`", "== `false`"]))
            .map(" ".join),
            one.map(lambda x: f"!{x}"),
            two.map(lambda p: f"[{p[0]}, {p[1]}]"),
            two.map(lambda p: f"{{k: {p[0]}, m: {p[1]}}}"),
            st.tuples(inner, two).map(lambda p: f"({p[0]}).[{p[1][0]}, {p[1][1]}]"),
            functions,
        )

    return st.recursive(atom, grow, max_leaves=6)


def _outcome(run: object, scope: Scope) -> tuple[str, str]:
    try:
        return "value", repr(run(scope))  # repr: True and 1, or key order, would differ
    except ExprEvalError as exc:
        return "error", str(exc)


@settings(max_examples=1500, deadline=None)
@given(text=_expressions(), data=JSON, parent=JSON, context=JSON)
def test_closures_match_the_interpreter(text: str, data: object, parent: object, context: object) -> None:
    try:
        compiled = EXPRS.jmespath(text)
    except ExprCompileError:
        assume(False)
    assume(isinstance(compiled, JMESPathExpr))
    scope = Scope(data, {"a": data}, parent, context if isinstance(context, dict) else {"a": context})
    assert _outcome(compiled.evaluate, scope) == _outcome(compiled.interpret, scope), text


@settings(max_examples=300, deadline=None)
@given(text=_expressions(), data=JSON)
def test_interpreter_reference_is_jmespath_search(text: str, data: object) -> None:
    """`interpret`, the reference above, is jmespath.search with the engine's functions."""
    assume(not any(name in text for name in ("root(", "parent(", "var(")))
    try:
        compiled = EXPRS.jmespath(text)
    except ExprCompileError:
        assume(False)
    assume(isinstance(compiled, JMESPathExpr))
    options = jmespath.Options(custom_functions=ENGINE_FUNCTIONS_CLASS())
    try:
        want = ("value", repr(jmespath.search(text, data, options=options)))
    except Exception as exc:  # noqa: BLE001
        want = ("error", f"{text!r}: {exc}")
    assert _outcome(compiled.evaluate, Scope(data, data, None, {})) == want


# Every node type against the values where JMESPath differs from Python: 0 and 0.0 are true,
# {} and [] are false, 0/1 never equal false/true, nulls drop out of projections, ordering is
# only for numbers and text, and a path through a non-object is null.
EDGE_EXPRESSIONS = [
    "a", "a.b", "a.b.c", "@", "a[0]", "a[-1]", "a[5]", "a[1:]", "a[::-1]", "a[]", "a[*]", "a[].b", "a[*].b",
    "a[*].b.c", "a[].[b, c]", "a[*].{k: b}", "a.*", "a.*.b", "a[][]", "a[?b]", "a[?b == `0`].c", "a[?b > `0`]",
    "a[?!b]", "a[?b == 'x'] | [0]", "a || b", "a && b", "!a", "!b", "a == b", "a != b", "a < b", "a <= b",
    "a > b", "a >= b", "a == `0`", "a == `false`", "a == `1`", "a == `true`", "a != `0`", "a == 'x'",
    "a != 'x'", "b == ''", "a == null", "a != null", "[a, b]", "{x: a, y: b}", "a.[b, c]", "a.{k: b}",
    "a | b", "a | [0]", "`{}` || a", "`[]` || a", "'' || a", "`0` || a", "`0.0` || a", "`false` || a",
    "`null` && a", "`{}` && a", "`1` && a", "not_null(a, b, `0`)", "length(a)", "type(a)", "to_array(a)",
    "keys(a)", "contains(a, `0`)", "max(a)", "sort_by(a, &b)", "max_by(a, &b)", "object_from(a, b)",
    "find_by(a, 'b', `1`)", "find_by(a, 'b', `1`).c", "split(a, ',')", "upper(a)", "get(a, 'b')",
    "to_entries(a)", "decimal(a)", "money_add(a, b)", "var('a')", "var('a.b')", "var(a)", "root().a",
    "parent().a", "parent()[0]", "join(',', a)", "abs(a)", "money_mul(a, '2')", "find_by(a, b, `1`)",
    "money_add(a, b, a)", "convert_weight(a, 'kg', 'g', b)", "convert_weight(`1`, 'kg', b, a)", "not_null(a, b, a, b)",
    "sum(a)", "avg(a)", "min(a)", "sort(a)", "join(b, a)", "max(a[*].b)", "max([a, b])", "truncate(a, b)", "replace(a, b, '-')", "replace(a, '-', b)", "convert_weight(a, 'kg', b)",
]
EDGE_RECORDS = [
    None, 0, "", [], {}, "x", [0, 1, None],
    {"a": 0, "b": 0.0}, {"a": 1, "b": True}, {"a": True, "b": 1}, {"a": 0, "b": False}, {"a": {}, "b": []}, {"a": "", "b": None},
    {"a": "x", "b": "y"}, {"a": 2.5, "b": 2}, {"a": "1", "b": 1}, {"a": "a,b", "b": ","},
    {"a": {"b": {"c": 1}, "x": {"b": 2}}}, {"a": {"b": [1, 2]}},
    {"a": [{"b": 1, "c": "x"}, {"b": 0, "c": None}, None, {"b": "x"}, [{"b": 2}], 3]},
    {"a": [[1, 2], [3], [], None, 4], "b": [None, "v", "w"]}, {"a": ["S", "M"], "b": ["s", None, "m"]},
    {"a": [{"b": 2, "c": 1}, {"b": 1, "c": 2}]}, {"a": [{"b": "x"}, {"b": 1}]}, {"a": [1, "x"]},
    {"a": [3, 1, 2]}, {"a": ["b", "a"]}, {"a": [2.5, 1, True]}, {"a": ["b", 1]}, {"a": [None]},
    {"a": ["x", "y"], "b": "-"}, {"a": None, "b": {"c": 0}},
]


@pytest.mark.parametrize("text", EDGE_EXPRESSIONS)
def test_edge_values_match_the_interpreter(text: str) -> None:
    compiled = EXPRS.jmespath(text)  # plain paths compile to FieldPath, the rest to closures
    reference = JMESPathExpr(text, jmespath.compile(text).parsed, EXPRS.interpreter)  # no closures
    for data in EDGE_RECORDS:
        scope = Scope(data, data, {"a": data}, data if isinstance(data, dict) else {"a": data})
        assert _outcome(compiled.evaluate, scope) == _outcome(reference.evaluate, scope), (text, data)


@pytest.mark.parametrize(("text", "data", "want"), [
    ("object_from(parent().options[].name, [option1, option2, option3])",
     {"option1": "M", "option2": None, "option3": "x"}, {"Size": "M", "Fit": "x"}),
    ("find_by(parent().images, 'id', image_id).src", {"image_id": 7}, "s7"),
    ("var('currency')", {}, "USD"),
    ("inventory_management == 'shopify'", {"inventory_management": "shopify"}, True),
    ("weight != null", {"weight": 0}, True),
    ("variants[0].weight", {"variants": [{"weight": 1}]}, 1),
    ("sort_by(images || `[]`, &position)[].p", {"images": [{"position": 2, "p": "b"}, {"position": 1, "p": "a"}]},
     ["a", "b"]),
    ("[{w: var('currency'), q: max([not_null(q, `0`), `0`])}]", {"q": 3}, [{"w": "USD", "q": 3}]),
])
def test_shapes_the_shipped_mappings_use(text: str, data: dict, want: object) -> None:
    parent = {"options": [{"name": "Size"}, {"name": "Color"}, {"name": "Fit"}],
              "images": [{"id": 6, "src": "s6"}, {"id": "7", "src": "s7"}]}
    scope = Scope(data, parent, parent, {"currency": "USD"})
    compiled = EXPRS.jmespath(text)
    assert compiled.evaluate(scope) == want == compiled.interpret(scope)


def test_type_errors_are_jmespaths_own() -> None:
    scope = Scope({"k": "not a list", "n": 5}, {}, None, {})
    # A wrong number of arguments (root(n), money_round with three) is refused at compile time.
    for text in ("object_from(k, k)", "split(n, ',')", "var(n)", "max(k)", "sort_by(k, &a)", "abs(k)"):
        compiled = EXPRS.jmespath(text)
        with pytest.raises(ExprEvalError) as fast:
            compiled.evaluate(scope)
        with pytest.raises(ExprEvalError) as reference:
            compiled.interpret(scope)
        assert str(fast.value) == str(reference.value), text


def test_every_node_type_has_its_own_closure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only `&expr` bodies go to the interpreter; a node type without a closure would too, slowly."""
    from engine.lang import expr as expr_module

    def refuse(self: object, node: dict) -> None:
        raise AssertionError(f"no closure for {node['type']}")

    monkeypatch.setattr(expr_module._Closures, "_interpreted", refuse)
    compiler = ExpressionCompiler()
    for text in EDGE_EXPRESSIONS:
        compiled = compiler.jmespath(text)
        if isinstance(compiled, JMESPathExpr) and "&" not in text:
            assert not compiled._sets_scope, text
