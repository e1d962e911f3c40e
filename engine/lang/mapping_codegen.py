"""A compiled mapping plan turned into the source of one Python function, compiled once.

The interpreter (engine.lang.mapping) walks a tree of small nodes per record: a method call, a
path string and a few checks per field, a Scope and an item path per list item. The generated
function does the same work written out as straight-line code, as a hand-written mapping would:
plain dict reads for field paths, the casts and lookups called directly, loops for `each`.

It only ever produces the output of a record that maps without a field error. Wherever the
interpreter would record one (an expression that fails, a cast that refuses, a lookup miss, a
required value missing, `each` over a non-list), the generated code raises, and
MappingPlan.apply maps that record again with the interpreter, which reports the errors exactly
as before. So the errors, their paths and mapping locations come from one place, and a record
the generated code cannot vouch for costs one extra pass, never a different answer.

Expressions are not re-implemented: a plain field path (`a.b.c`) is read inline, anything else
calls the closures engine.lang.expr compiled for it, with the same scope.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine.lang import mapping as m
from engine.lang.expr import FieldPath, JMESPathExpr, Scope


class Fallback(Exception):
    """This record has a field error: the interpreter maps it and says which."""


_EMPTY: dict = {}  # read-only stand-in for "the current value is not an object"
_EMPTIES = (None, "", [])  # what coalesce skips (the interpreter's own test, same comparisons)
_UNSET = object()  # a remembered sub-expression not computed yet (see _Memo)


def _truthy_code(name: str) -> str:
    """JMESPath truthiness of variable `name`, inline (engine.lang.mapping._truthy)."""
    return (f"({name} is not None and {name} is not False and "
            f"(len({name}) > 0 if isinstance({name}, (str, list, dict)) else True))")


_SHAREABLE = frozenset({frozenset, str, int, bool, type(None)})  # immutable: one object serves every use


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"Scope": Scope, "Fallback": Fallback, "EMPTY": _EMPTY, "EMPTIES": _EMPTIES,
                                      "UNSET": _UNSET, "_key": m._key}
        self._ids: dict[int, str] = {}
        self._count = 0
        self._memo_count = 0  # its own counter: the other names are the same in both passes
        self._expression_count = 0
        self.supplied: dict[str, str] = {}  # context key of a lookup table -> its per-record name

    def memo_name(self) -> str:
        self._memo_count += 1
        return f"m{self._memo_count}"

    def temp(self, prefix: str = "v") -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def expression_temp(self) -> str:
        """A name for a value inside one expression (one statement). Each statement starts them
        again from 1: a function with more than 256 local names reads the others with an
        extra instruction each, and a statement never reads another's."""
        self._expression_count += 1
        return f"_j{self._expression_count}"

    def start_expression(self) -> None:
        self._expression_count = 0

    def bind(self, value: Any, prefix: str) -> str:
        """A global name for a constant object of the plan (a closure, a table, a cast, a default).
        Equal immutable constants (the type checks' sets of type names, text) share one name:
        past 256 global names, every read of the others takes an extra instruction."""
        key: Any = id(value)
        if type(value) in _SHAREABLE:
            key = (type(value), value)
        if key not in self._ids:
            name = self.temp(prefix)
            self.names[name] = value
            self._ids[key] = name
        return self._ids[key]

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)


class _Level:
    """Where code runs: the variable holding the current item, its Scope (built when needed), the
    item's enclosing value (for parent()) and its dict view for plain field reads."""

    def __init__(self, cur: str, scope: str, parent: str, view: str | None = None) -> None:
        self.cur, self.scope, self.parent, self.view = cur, scope, parent, view


def generate(root: Any, name: str = "") -> Callable[[Any, dict], dict] | None:
    """The fast form of a plan's root object node, or None when a node kind is not known here."""
    memo = _Memo()
    try:
        # First pass: only counts the sub-expressions (see _Memo); the second writes the code.
        _Gen(_Writer(), memo).object_into(root, _Level("record", "scope0", "None"), "out", 1)
        memo.counting = False
        writer = _Writer()
        body = _Gen(writer, memo)
        body.object_into(root, _Level("record", "scope0", "None"), "out", 1)
        writer.line(1, "return out")
        # The record's Scope only when an expression's closures are called with it.
        scope = ["    scope0 = Scope(record, record, None, ctx)"] if _uses("scope0", writer.lines) else []
        writer.lines[0:0] = scope + memo.resets("record", 1) + _supplied_tables(writer, 1)
    except _Unsupported:
        return None
    source = "def mapped(record, ctx):\n" + "\n".join(writer.lines) + "\n"
    namespace = dict(writer.names)
    exec(compile(source, f"<mapping {name or 'plan'}>", "exec"), namespace)  # noqa: S102 (our own code)
    function = namespace["mapped"]
    function.source = source  # type: ignore[attr-defined]  # for tests and for reading
    return function


class _Unsupported(Exception):
    pass


def _uses(name: str, lines: list[str]) -> bool:
    used = re.compile(rf"\b{name}\b")
    return any(used.search(text) for text in lines)


def _supplied_tables(writer: _Writer, depth: int) -> list[str]:
    """The lines that read, once per record, each lookup table the context supplies: an object
    there is the table (LookupTable.get's test), anything else supplies no entry."""
    lines = []
    for context_key, name in writer.supplied.items():
        lines.append("    " * depth + f"{name} = ctx.get({context_key!r})")
        lines.append("    " * depth + f"if not isinstance({name}, dict):")
        lines.append("    " * (depth + 1) + f"{name} = EMPTY")
    return lines


class _Memo:
    """Common sub-expressions of a plan's JMESPath expressions, each computed once per record or
    per `each` item instead of once per place it is written.

    A sub-expression is remembered where its value cannot change: one that reads neither the
    current item nor parent() (only root(), var() and literals) for the whole record, even inside
    `each` loops (hoisted out of them); one that reads parent() but not the item for the
    enclosing item (or record), hoisted out of the loop too; one read against the current item
    (and parent()) for that item. Anything read against a projection's element is not. Only the sub-expressions
    written at least twice are (the first pass counts them), and those hoisted out of a loop
    even when written once (computed once, not once per item).

    The value is computed lazily, where the expression first needs it: `(m1 if m1 is not UNSET
    else (m1 := ...))`. So nothing is evaluated that the expressions would not evaluate (the
    short-circuits of ||, && and if keep their order), and an expression that raises raises at
    the same place as before (the record then falls back to the interpreter, as always).
    JMESPath functions are pure, so a second evaluation could only give the same value again.
    """

    def __init__(self) -> None:
        self.counting = True
        self.counts: dict[tuple, int] = {}
        self.names: dict[tuple, str] = {}
        self.by_scope: dict[str, list[str]] = {}

    def resets(self, scope: str, depth: int) -> list[str]:
        """The lines that forget what `scope` (a record, an item) remembered: at its start."""
        return ["    " * depth + f"{name} = UNSET" for name in self.by_scope.get(scope, [])]


def _deps(node: dict) -> frozenset[str]:
    """What a JMESPath node reads besides root(), var() and literals: "@" (the value it is
    applied to) and/or "parent" (parent())."""
    kind, children = node["type"], node.get("children", [])
    if kind in ("field", "index", "slice", "identity", "current"):
        return _AT
    if kind == "literal":
        return _NONE
    if kind == "function_expression":
        if node["value"] == "root" and not children:
            return _NONE
        if node["value"] == "parent" and not children:
            return _PARENT
        if node["value"] == "var" and not children:
            return _NONE
    if kind in ("subexpression", "index_expression", "pipe", "projection", "filter_projection", "flatten") \
            and children:
        # The first child reads the value; the others read what it gave.
        later = frozenset().union(*(_deps(child) for child in children[1:])) if children[1:] else _NONE
        return _deps(children[0]) | (later - _AT)
    if kind == "multi_select_dict":  # null when @ is null: reads @ itself too
        return _AT.union(*(_deps(child["children"][0]) for child in children))
    if kind == "multi_select_list":
        return _AT.union(*(_deps(child) for child in children))
    if kind in ("expref",):
        return _AT | _PARENT  # never remembered
    return frozenset().union(*(_deps(child) for child in children)) if children else _AT


_AT, _PARENT, _NONE = frozenset({"@"}), frozenset({"parent"}), frozenset()
_TRIVIAL = frozenset({"field", "literal", "identity", "current"})
_PASSES_AMOUNTS = frozenset({"function_expression", "or_expression", "and_expression"})  # see _JMESPath.code  # as cheap to read again as to remember


class _Gen:
    def __init__(self, writer: _Writer, memo: _Memo | None = None) -> None:
        self.w = writer
        self.memo = memo or _Memo()

    # -- objects and fields

    def object_into(self, node: Any, level: _Level, out: str, depth: int) -> None:
        w = self.w
        w.line(depth, f"{out} = {{}}")
        if level.view is None and any(self._reads_view(f) for f in node.fields):
            view = w.temp("d")
            w.line(depth, f"{view} = {level.cur} if isinstance({level.cur}, dict) else EMPTY")
            level = _Level(level.cur, level.scope, level.parent, view)
        for item in node.fields:
            self.field(item, level, out, depth)

    def _reads_view(self, item: Any) -> bool:
        return item.key is not None or _plain_path(item.node) is not None

    def field(self, item: Any, level: _Level, out: str, depth: int) -> None:
        w = self.w
        value = w.temp()
        if item.key is not None:
            w.line(depth, f"{value} = {level.view}.get({item.key!r})")
        else:
            self.value(item.node, level, value, depth)
        if not isinstance(item, m._Copy) and not item.plain:
            if item.default is not m._MISSING:
                w.line(depth, f"if {value} is None:")
                w.line(depth + 1, f"{value} = {w.bind(item.default, 'default')}")
            if item.cast is not None:
                w.line(depth, f"if {value} is not None:")
                w.line(depth + 1, f"{value} = {w.bind(item.cast, 'cast')}({value}, {item.scale!r})")
            if item.required:
                w.line(depth, f"if {value} is None or (isinstance({value}, (str, list, dict)) and not {value}):")
                w.line(depth + 1, "raise Fallback")
        always = type(item.node) is m._Object and (isinstance(item, m._Copy) or item.plain)  # an object is never null
        if not always:
            w.line(depth, f"if {value} is not None:")
        target = out
        for key in item.parents:
            target = f"{target}.setdefault({key!r}, {{}})"
        w.line(depth + int(not always), f"{target}[{item.leaf!r}] = {value}")

    # -- values

    def value(self, node: Any, level: _Level, target: str, depth: int) -> None:
        kind = type(node)
        if kind is m._Const:
            self.w.line(depth, f"{target} = {self.w.bind(node.const, 'const')}")
        elif kind is m._Expr:
            self.expr(node.expr, level, target, depth)
        elif kind is m._Lookup:
            self.lookup(node, level, target, depth)
        elif kind is m._If:
            self.condition(node, level, target, depth)
        elif kind is m._Coalesce:
            self.coalesce(node, level, target, depth)
        elif kind is m._Object:
            self.object_into(node, level, target, depth)
        elif kind is m._Each:
            self.each(node, level, target, depth)
        else:
            raise _Unsupported(kind.__name__)

    def expr(self, expr: Any, level: _Level, target: str, depth: int) -> None:
        w = self.w
        if isinstance(expr, FieldPath):
            keys = expr.keys
            source = level.view if level.view is not None else f"({level.cur} if isinstance({level.cur}, dict) else EMPTY)"
            w.line(depth, f"{target} = {source}.get({keys[0]!r})")
            for key in keys[1:]:
                w.line(depth, f"{target} = {target}.get({key!r}) if isinstance({target}, dict) else None")
        elif isinstance(expr, JMESPathExpr) and not expr._sets_scope:
            try:
                w.start_expression()
                code = _JMESPath(w, expr, level, self.memo).code(expr._parsed, level.cur)
            except _Unsupported:
                code = None
            if code is not None:
                w.line(depth, f"{target} = {code}")
            else:
                # What JMESPathExpr.evaluate does, minus the wrapping of errors (any error falls back).
                w.line(depth, f"{target} = {w.bind(expr._run, 'run')}({level.cur}, {level.scope})")
        else:
            w.line(depth, f"{target} = {w.bind(expr.evaluate, 'evaluate')}({level.scope})")

    def each_entry(self, node: Any, level: _Level, target: str, depth: int) -> bool:
        """`each: to_entries(options)` with fields copying `key` and `value`: a loop over the
        object's items (to_entries reads `(value or {}).items()`), after to_entries' own type
        check (an object or null). False when the each is not of that form."""
        argument = _entries_of(node)
        if argument is None:
            return False
        w = self.w
        source, key, value, result = w.temp("items"), w.temp("ek"), w.temp("ev"), w.temp("r")
        w.start_expression()
        jmespath = _JMESPath(w, node.source.expr, level, self.memo)
        w.line(depth, f"{source} = {jmespath.code(argument, level.cur)}")
        names = jmespath.closures._direct_call("to_entries", 1)[1][0][1]
        w.line(depth, f"if {source} is not None and type({source}) is not dict and "
                      f"type({source}).__name__ not in {w.bind(names, 'types')}:")
        w.line(depth + 1, "raise Fallback")
        w.line(depth, f"{target} = []")
        w.line(depth, f"for {key}, {value} in ({source} or EMPTY).items():")
        w.line(depth + 1, f"{result} = {{}}")
        for field in node.item.fields:
            read = key if field.key == "key" else value
            w.line(depth + 1, f"if {read} is not None:")
            out = result
            for parent in field.parents:
                out = f"{out}.setdefault({parent!r}, {{}})"
            w.line(depth + 2, f"{out}[{field.leaf!r}] = {read}")
        w.line(depth + 1, f"{target}.append({result})")
        if node.limit is not None:
            w.line(depth + 1, f"if len({target}) >= {int(node.limit)}:")
            w.line(depth + 2, "break")
        return True

    def lookup(self, node: Any, level: _Level, target: str, depth: int) -> None:
        """LookupTable.get written out (a call per item costs as much as the rest of a small
        field): the key as text, the table the context supplies first, then the mapping's own
        values, then the default; a miss without a default falls back like any field error."""
        w, table = self.w, node.table
        key = w.temp("k")
        self.value(node.source, level, key, depth)
        w.line(depth, f"{key} = {key} if type({key}) is str else _key({key})")
        test = "if"
        if table.context_key:
            supplied = self.supplied_table(table.context_key)
            w.line(depth, f"if {key} in {supplied}:")
            w.line(depth + 1, f"{target} = {supplied}[{key}]")
            test = "elif"
        values = w.bind(table.values, "values")
        w.line(depth, f"{test} {key} in {values}:")
        w.line(depth + 1, f"{target} = {values}[{key}]")
        w.line(depth, "else:")
        w.line(depth + 1, f"{target} = {w.bind(table.default, 'default')}" if table.has_default else "raise Fallback")

    def supplied_table(self, context_key: str) -> str:
        """The name of the table the context supplies under `context_key`, read once per record
        (an empty one when the context has none, or something other than an object there)."""
        w = self.w
        name = w.supplied.get(context_key)
        if name is None:
            name = w.supplied[context_key] = w.temp("supplied")
        return name

    def condition(self, node: Any, level: _Level, target: str, depth: int) -> None:
        w = self.w
        test = w.temp("c")
        self.value(node.cond, level, test, depth)
        w.line(depth, f"if {_truthy_code(test)}:")
        self.branch(node.then, level, target, depth + 1)
        w.line(depth, "else:")
        self.branch(node.other, level, target, depth + 1)

    def branch(self, node: Any, level: _Level, target: str, depth: int) -> None:
        if node is None:
            self.w.line(depth, f"{target} = None")
        else:
            self.value(node, level, target, depth)

    def coalesce(self, node: Any, level: _Level, target: str, depth: int) -> None:
        w = self.w
        for option in node.options:
            self.value(option, level, target, depth)
            w.line(depth, f"if {target} in EMPTIES:")
            depth += 1
        w.line(depth, f"{target} = None")

    def each(self, node: Any, level: _Level, target: str, depth: int) -> None:
        w = self.w
        if self.each_entry(node, level, target, depth):
            return
        items, entry, result = w.temp("items"), w.temp("e"), w.temp("r")
        self.value(node.source, level, items, depth)
        w.line(depth, f"if {items} is None:")
        w.line(depth + 1, f"{target} = None")
        w.line(depth, f"elif not isinstance({items}, list):")
        w.line(depth + 1, "raise Fallback")
        w.line(depth, "else:")
        inner = depth + 1
        w.line(inner, f"{target} = []")
        w.line(inner, f"for {entry} in {items}:")
        body = inner + 1
        scope = w.temp("s")
        start = len(w.lines)
        item_level = _Level(entry, scope, level.cur)
        if node.keep is not None:
            keep = w.temp("c")
            self.value(node.keep, item_level, keep, body)
            w.line(body, f"if not {_truthy_code(keep)}:")
            w.line(body + 1, "continue")
        self.value(node.item, item_level, result, body)
        if type(node.item) is m._Object:  # an object is never null
            w.line(body, f"{target}.append({result})")
        else:
            w.line(body, f"if {result} is not None:")
            w.line(body + 1, f"{target}.append({result})")
        if node.limit is not None:
            w.line(body, f"if len({target}) >= {int(node.limit)}:")
            w.line(body + 1, "break")
        # Scope(current, root, parent, context), as _Each builds it for every item: only when
        # something in the item calls an expression's closures with it.
        if _uses(scope, w.lines[start:]):
            w.lines.insert(start, "    " * body + f"{scope} = Scope({entry}, record, {level.cur}, ctx)")
        w.lines[start:start] = self.memo.resets(entry, body)


def _entries_of(node: Any) -> dict | None:
    """The argument node of `each: to_entries(x)` (the engine's to_entries) when every field
    of the item only copies its `key` or `value`: such an each can read the object's items
    without building the entry objects. None otherwise."""
    from engine.lang.functions import _to_entries

    source, item = node.source, node.item
    expr = getattr(source, "expr", None) if type(source) is m._Expr else None
    if not isinstance(expr, JMESPathExpr) or expr._sets_scope or type(item) is not m._Object \
            or node.keep is not None:
        return None
    parsed = expr._parsed
    if parsed["type"] != "function_expression" or parsed["value"] != "to_entries" or len(parsed["children"]) != 1:
        return None
    spec = expr._interpreter._functions.FUNCTION_TABLE.get("to_entries", {}).get("function")
    if getattr(spec, "implementation", None) is not _to_entries:
        return None
    if not all(field.key in ("key", "value") and (isinstance(field, m._Copy) or field.plain) for field in item.fields):
        return None
    return parsed["children"][0]


def _plain_path(node: Any) -> FieldPath | None:
    expr = getattr(node, "expr", None) if type(node) is m._Expr else None
    return expr if isinstance(expr, FieldPath) else None


# ------------------------------------------------------------------------------ JMESPath, inline
# A parsed JMESPath expression written as one Python expression, node for node what the closures
# of engine.lang.expr._Closures compute (their results, and an exception wherever they raise).
# A node kind not known here (an `&expr`, a function without a direct implementation...) leaves
# the whole expression to its closures.

_JSON_TYPES = (str, int, float, bool, list, dict, type(None))
_JP = __import__("jmespath.functions").functions
_JP_SORT_BY = getattr(_JP.Functions, "_func_sort_by", None)
_ORDER_OPS = {"lt": "<", "gt": ">", "lte": "<=", "gte": ">="}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_BOOL, _BOOL_OR_NULL = frozenset({bool}), frozenset({bool, type(None)})
_LIST_OR_NULL, _DICT_OR_NULL = frozenset({list, type(None)}), frozenset({dict, type(None)})
_NOT_NUMBERS = frozenset({str, list, dict, type(None)})
_DECIMAL = frozenset({Decimal})
_TRUTH_BY_NOT = frozenset({bool, str, list, dict, type(None)})  # JMESPath's falsiness is `not` for these


def _within(kinds: frozenset[type] | None, allowed: frozenset[type]) -> bool:
    return kinds is not None and kinds <= allowed


def _result_kinds(call: Callable, amount: bool) -> frozenset[type] | None:
    """The types a function's result can have, for the functions whose code says so plainly."""
    from engine.lang import functions as f

    if amount and call in f.AMOUNT_TWINS:
        return _DECIMAL
    text, maybe_text = frozenset({str}), frozenset({str, type(None)})
    known = {f._money_sum: text, f._money_add: text, f._money_sub: text, f._money_mul: text,
             f._money_round: text, f._money_round_even: text, f._decimal: text,
             f._money: _DICT_OR_NULL, f._trim: maybe_text, f._upper: maybe_text, f._lower: maybe_text,
             f._group_by: frozenset({list}), f._to_entries: frozenset({list}),
             f._func_to_string: text, _JP.Functions._func_length: frozenset({int}),
             _JP.Functions._func_contains: _BOOL}
    return known.get(getattr(call, "func", call))


def _projected_fields(node: dict) -> list[tuple[dict, str]] | None:
    """[a[].x, b[].y][] as [(a[], "x"), (b[], "y")]: a flattened list of field projections,
    whose flattening only puts the projections' lists one after the other. None otherwise."""
    if node["type"] != "flatten" or node["children"][0]["type"] != "multi_select_list":
        return None
    found = []
    for child in node["children"][0]["children"]:
        if child["type"] != "projection" or child["children"][1]["type"] != "field":
            return None
        found.append((child["children"][0], child["children"][1]["value"]))
    return found


def _written_out(call: Callable, args: list[str], name: str, temp: Callable[[], str]) -> str | None:
    """The body of a function as Python, once its arguments passed its type checks:
    contains(subject, search) is `search in subject`, length(x) is len(x), max(x) is max(x)
    or null for an empty list, trim(x) is x.strip() or null, to_string(x) of text is x. None
    for the others."""
    from engine.lang import functions as f

    if call in (f._trim, f._upper, f._lower) and len(args) == 1 and _IDENTIFIER.match(args[0]):
        method = {f._trim: "strip", f._upper: "upper", f._lower: "lower"}[call]
        return f"(None if {args[0]} is None else {args[0]}.{method}())"
    function = getattr(call, "func", None)
    if function is f._func_to_string and len(args) == 1:
        t, bound = (args[0], args[0]) if _IDENTIFIER.match(args[0]) else (temp(), f"({temp.last} := {args[0]})")
        return f"({t} if type({bound}) is str else {name}({t}))"
    if function is _JP.Functions._func_contains and len(args) == 2:
        return f"({args[1]} in {args[0]})"
    if function is _JP.Functions._func_length and len(args) == 1:
        return f"len({args[0]})"
    if function in (_JP.Functions._func_max, _JP.Functions._func_min) and len(args) == 1 \
            and _IDENTIFIER.match(args[0]):  # read twice: only a name
        return f"({function.__name__[6:]}({args[0]}) if {args[0]} else None)"
    return None


def _money_sum() -> Callable:
    from engine.lang.functions import _money_sum

    return _money_sum


def _cannot_raise(node: dict) -> bool:
    """A literal, or fields and indexes read from one: null where there is nothing, never an error."""
    kind = node["type"]
    if kind in ("literal", "field", "identity", "current", "index"):
        return True
    return kind in ("subexpression", "index_expression") and all(_cannot_raise(c) for c in node["children"])


def _is_current(node: dict) -> bool:
    return node["type"] in ("identity", "current")


def _false_code(name: str, value: str) -> str:
    """engine.lang.expr._is_false of `value` (bound to `name` on the way), inline: JMESPath
    falsiness by equality (0 is true). Text, lists, objects (those very types) are false when
    empty and numbers never are, without building an empty list and object to compare with;
    any other type (a subclass) is compared as the interpreter compares it."""
    return (f'(({name} := {value}) is None or {name} is False or (not {name} if type({name}) in _SLD else '
            f'(type({name}) not in _NUMS and ({name} == "" or {name} == [] or {name} == {{}}))))')


def _number_code(name: str) -> str:
    """engine.lang.expr._is_number(name), inline: int and float at once, text, lists, objects,
    null and booleans at once (none is a number), any other type by the abstract Number test."""
    return (f"(type({name}) is int or type({name}) is float or "
            f"(type({name}) not in _NOT_NUMBERS and _is_number({name})))")


class _JMESPath:
    def __init__(self, writer: _Writer, expr: JMESPathExpr, level: _Level, memo: _Memo | None = None) -> None:
        from engine.lang.expr import _Closures, _elements_agree, _equals, _is_number

        self.w, self.level, self.memo = writer, level, memo or _Memo()
        # Names known to hold an object where the code being written runs (see _merged_rest).
        self.objects: set[str] = set()
        self.closures = _Closures(expr._interpreter, expr._interpreter._functions)
        self.names = writer.names
        self.names.setdefault("_equals", _equals)
        self.names.setdefault("_is_number", _is_number)
        self.names.setdefault("_elements_agree", _elements_agree)
        self.names.setdefault("_SLD", frozenset((str, list, dict)))
        self.names.setdefault("_NOT_NUMBERS", frozenset((str, list, dict, bool, type(None))))
        self.names.setdefault("_NUMS", frozenset((int, float, bool)))
        self.names.setdefault("_PLAIN_KINDS", frozenset((*_JSON_TYPES, Decimal)))
        self.names.setdefault("_EQUAL_KINDS", frozenset((str, int, type(None), list, dict)))

    def code(self, node: dict, value: str, amount: bool = False) -> str:
        """`node` applied to `value`. With `amount`, the value only goes to to_decimal() (an
        amount argument of money() and the like): an amount written as text by money_sum() and
        the like may then come as the Decimal that text would be read as (AMOUNT_TWINS)."""
        method = getattr(self, "_" + node["type"], None)
        if method is None:
            raise _Unsupported(node["type"])
        if amount and node["type"] in _PASSES_AMOUNTS:
            method = functools.partial(method, amount=True)
        else:
            amount = False
        key = self._memo_key(node, value, amount)
        if key is None:
            return method(node, value)
        memo = self.memo
        if memo.counting:
            memo.counts[key] = memo.counts.get(key, 0) + 1
            return method(node, value)
        if not self._kept(key):
            return method(node, value)  # written once, and not inside a loop it could leave
        name = memo.names.get(key)
        if name is None:
            name = memo.names[key] = self.w.memo_name()
            memo.by_scope.setdefault(key[0], []).append(name)
        return f"({name} if {name} is not UNSET else ({name} := {method(node, value)}))"

    def _kept(self, key: tuple) -> bool:
        """Whether the sub-expression of this memo key is remembered (in the writing pass)."""
        return self.memo.counts.get(key, 0) >= 2 or key[0] != self.level.cur

    def _memo_key(self, node: dict, value: str, amount: bool = False) -> tuple | None:
        """(the record or item it is remembered for, the node) when `node` applied to `value`
        can be remembered; None otherwise."""
        if node["type"] in _TRIVIAL:
            return None
        if node["type"] == "function_expression" and node["value"] in ("root", "parent", "var"):
            return None  # read inline, as cheaply as a remembered value
        deps = _deps(node)
        if not deps:
            scope = "record"
        elif deps == _PARENT:
            scope = self.level.parent if self.level.cur != "record" else "record"  # the enclosing item's
        elif "@" in deps and value != self.level.cur:
            return None  # read against a projection's element, or a value computed on the way
        else:
            scope = self.level.cur
        # What parent() reads is part of the key: the record's parent() is null, an item's is the
        # record, so the same text at both levels is two values, though both are kept per record.
        reads = self.level.parent if "parent" in deps else None
        return scope, reads, amount, json.dumps(node, sort_keys=True, default=repr)

    def _tmp(self) -> str:
        return self.w.expression_temp()

    def _name(self, value: str) -> tuple[str, str]:
        """A name for `value` and the code that binds it: none when it is a name already."""
        if _IDENTIFIER.match(value):
            return value, value
        t = self._tmp()
        return t, f"({t} := {value})"

    # -- paths

    def _field(self, node: dict, value: str) -> str:
        t, bound = self._name(value)
        if t in self.objects:
            return f"{t}.get({node['value']!r})"
        return f"({t}.get({node['value']!r}) if isinstance({bound}, dict) else None)"

    def _chain(self, node: dict, value: str) -> str:
        for child in node["children"]:
            if child["type"] in ("identity", "current"):
                continue
            value = self.code(child, value)
        return value

    _subexpression = _index_expression = _pipe = _chain

    def _index(self, node: dict, value: str) -> str:
        (t, bound), index = self._name(value), int(node["value"])
        return f"({t}[{index}] if isinstance({bound}, list) and -len({t}) <= {index} < len({t}) else None)"

    def _slice(self, node: dict, value: str) -> str:
        t = self._tmp()
        bounds = self.w.bind(tuple(node["children"]), "bounds")
        return f"({t}[slice(*{bounds})] if isinstance({t} := {value}, list) else None)"

    def _identity(self, node: dict, value: str) -> str:
        return value

    _current = _identity

    def _literal(self, node: dict, value: str) -> str:
        return self.w.bind(node["value"], "lit")  # the interpreter returns this very object each time

    # -- projections

    def _projection(self, node: dict, value: str) -> str:
        left_node, right_node = node["children"]
        base, element, out = self._tmp(), self._tmp(), self._tmp()
        left = self.code(left_node, value)
        if right_node["type"] in ("identity", "current"):
            body = f"[{element} for {element} in {base} if {element} is not None]"
        else:
            right = self.code(right_node, element)
            body = f"[{out} for {element} in {base} if ({out} := {right}) is not None]"
        return f"({body} if isinstance({base} := {left}, list) else None)"

    def _filter_projection(self, node: dict, value: str) -> str:
        left_node, right_node, condition_node = node["children"]
        base, element, test, out = self._tmp(), self._tmp(), self._tmp(), self._tmp()
        left = self.code(left_node, value)
        condition = self.code(condition_node, element)
        right = self.code(right_node, element)
        falsy = self._false(test, condition, condition_node)
        body = f"[{out} for {element} in {base} if not {falsy} and ({out} := {right}) is not None]"
        return f"({body} if isinstance({base} := {left}, list) else None)"

    def _flatten(self, node: dict, value: str) -> str:
        base = self._tmp()
        inner = self.code(node["children"][0], value)
        flatten = self.names.setdefault("_flatten", _flatten)
        return f"({flatten.__name__}({base}) if isinstance({base} := {inner}, list) else None)"

    # -- building values

    def _multi_select_list(self, node: dict, value: str) -> str:
        t, bound = self._name(value)
        items = ", ".join(self.code(child, t) for child in node["children"])
        return f"[{items}]" if t in self.objects else f"(None if {bound} is None else [{items}])"

    def _multi_select_dict(self, node: dict, value: str) -> str:
        t, bound = self._name(value)
        pairs = self._pairs(node, t)
        return f"{{{pairs}}}" if t in self.objects else f"(None if {bound} is None else {{{pairs}}})"

    def _pairs(self, node: dict, value: str) -> str:
        """The `key: value` items of a multi-select dict's display."""
        return ", ".join(f"{child['value']!r}: {self.code(child['children'][0], value)}" for child in node["children"])

    # -- logic

    def _then(self, v: str, bound: str, expression: str) -> str:
        """`expression` (which reads `v`) after binding `v`, when `v` needed binding."""
        return expression if bound == v else f"({bound}, {expression})[1]"

    def _comparator(self, node: dict, value: str) -> str:
        left_node, right_node = node["children"]
        op = node["value"]
        v, bound = self._name(value)
        left = self.code(left_node, v)
        if op in ("eq", "ne"):
            literal = right_node.get("value") if right_node["type"] == "literal" else None
            if isinstance(literal, str):
                test = f"{left} == {literal!r}"
            elif right_node["type"] == "literal" and literal is None:
                test = f"{left} == None"  # _equals(x, None): a bool is never null either way
            elif isinstance(literal, bool):
                # _equals(x, true) is x is true for the JSON types: 1 and 1.0 are not true to
                # jmespath, nor a Decimal 1; anything else is compared by _equals itself.
                t = self._tmp()
                test = f"(({t} is {literal!r}) if type({t} := {left}) in _PLAIN_KINDS else _equals({t}, {literal!r}))"
            elif self._plain_equality(left_node, right_node):
                test = f"{left} == {self.code(right_node, v)}"
            else:
                # _equals is == unless a boolean or a Decimal is on one side: both sides are
                # looked at (& does not stop at the first), then only those go to _equals.
                a, b = self._tmp(), self._tmp()
                test = (f"(({a} == {b}) if (type({a} := {left}) in _EQUAL_KINDS) & "
                        f"(type({b} := {self.code(right_node, v)}) in _EQUAL_KINDS) else _equals({a}, {b}))")
            return self._then(v, bound, test if op == "eq" else f"(not {test})")
        a, b = self._tmp(), self._tmp()
        right = self.code(right_node, v)
        orderable = "(type({0}) is str or " + _number_code("{0}") + " or isinstance({0}, str))"
        return self._then(v, bound, f"((({a} := {left}), ({b} := {right}), ({a} {_ORDER_OPS[op]} {b}) if "
                                    f"{orderable.format(a)} and {orderable.format(b)} else None)[2])")

    # `a || b` and `a && b` give one of their operands as it is: the right one may be an amount
    # (see code()); the left one is tested for truth, as text.

    def _plain_equality(self, left: dict, right: dict) -> bool:
        """Whether _equals(a, b) is a == b for these operands: it only differs when a boolean
        meets a number (1 is not true) or a float meets a Decimal; text, null, lists and
        objects on either side, or whole numbers on both, never do."""
        a, b = self.kinds(left), self.kinds(right)
        return _within(a, _NOT_NUMBERS) or _within(b, _NOT_NUMBERS) or (
            _within(a, _NOT_NUMBERS | {int}) and _within(b, _NOT_NUMBERS | {int}))

    def _or_expression(self, node: dict, value: str, amount: bool = False) -> str:
        v, bound = self._name(value)
        t = self._tmp()
        left, right = self.code(node["children"][0], v), self.code(node["children"][1], v, amount)
        return self._then(v, bound, f"({right} if {self._false(t, left, node['children'][0])} else {t})")

    def _and_expression(self, node: dict, value: str, amount: bool = False) -> str:
        v, bound = self._name(value)
        t = self._tmp()
        left, right = self.code(node["children"][0], v), self.code(node["children"][1], v, amount)
        return self._then(v, bound, f"({t} if {self._false(t, left, node['children'][0])} else {right})")

    def _not_expression(self, node: dict, value: str) -> str:
        t = self._tmp()
        inner = self.code(node["children"][0], value)
        if _within(self.kinds(node["children"][0]), _TRUTH_BY_NOT):
            return f"(not {inner})"
        return f"(False if ({t} := {inner}, {_number_code(t)})[1] and {t} == 0 else not {t})"

    def _false(self, name: str, value: str, node: dict) -> str:
        """_false_code, or Python's `not` where the value can only be of a type for which the
        two agree (a comparison's boolean, text, a list built here...)."""
        if _within(self.kinds(node), _TRUTH_BY_NOT):
            return f"(not ({name} := {value}))"
        return _false_code(name, value)

    # -- what a node's value can be, where that is known without running it

    def kinds(self, node: dict, amount: bool = False) -> frozenset[type] | None:
        """The Python types `node` can give (when it gives a value rather than raising), or None
        when that is not known here: a field of the record can be anything."""
        kind, children = node["type"], node.get("children", [])
        if kind == "literal":
            return frozenset({type(node["value"])})
        if kind == "comparator":
            return _BOOL if node["value"] in ("eq", "ne") else _BOOL_OR_NULL
        if kind == "not_expression":
            return _BOOL
        if kind in ("and_expression", "or_expression"):  # one operand or the other, as it is
            left, right = self.kinds(children[0]), self.kinds(children[1], amount)
            return None if left is None or right is None else left | right
        if kind in ("projection", "filter_projection", "flatten", "multi_select_list"):
            return _LIST_OR_NULL
        if kind == "multi_select_dict":
            return _DICT_OR_NULL
        if kind == "function_expression" and node["value"] not in ("root", "parent", "var", "sort_by"):
            fast = self.closures._direct_call(node["value"], len(children))
            if fast is not None:
                return _result_kinds(fast[0], amount)
        return None

    # -- functions

    def _sort_by(self, children: list, value: str) -> str:
        """sort_by(array, &key): the keys computed here, one per element, then jmespath's rules."""
        from jmespath.functions import REVERSE_TYPES_MAP

        v, bound = self._name(value)
        base, element = self._tmp(), self._tmp()
        array = self.code(children[0], v)
        key = self.code(children[1]["children"][0], element)
        names = frozenset(REVERSE_TYPES_MAP["array"])
        sort = self.names.setdefault("_sort_by_keys", _sort_by_keys)
        refuse = self.names.setdefault("_refuse", _refuse)
        test = f"type({base}) is list or type({base}).__name__ in {self.w.bind(names, 'types')}"
        code = (f"({sort.__name__}({base}, [{key} for {element} in {base}]) if ({base} := {array}) is not None "
                f"and ({test}) else {refuse.__name__}())")
        return self._then(v, bound, code)

    def _money_sum_of_projection(self, projection: dict, value: str, amount: bool) -> str | None:
        """money_sum(items[].price): the amounts summed as the projection reads them (a list
        or null, so no type check), without the list in between. money_sum([a[], b[]][]): the
        projection only drops nulls, which money_sum skips too, so the flattened list is summed
        as it is. None for any other projection."""
        from engine.lang.functions import _money_sum as money_sum
        from engine.lang.functions import (
            money_sum_amount,
            money_sum_of_field,
            money_sum_of_field_amount,
            money_sum_of_fields,
            money_sum_of_fields_amount,
        )

        left, right = projection["children"]
        fields = [(left, right["value"])] if right["type"] == "field" else \
            _projected_fields(left) if right["type"] in ("identity", "current") else None
        if fields:
            summed = self._money_sum_of_amounts(fields, value, amount)
            if summed is not None:
                return summed
        if right["type"] == "field":
            function = self.w.bind(money_sum_of_field_amount if amount else money_sum_of_field, "fn")
            return f"{function}({self.code(left, value)}, {right['value']!r})"
        if fields:
            function = self.w.bind(money_sum_of_fields_amount if amount else money_sum_of_fields, "fn")
            pairs = ", ".join(f"({self.code(base, value)}, {key!r})" for base, key in fields)
            return f"{function}({pairs})"
        if right["type"] in ("identity", "current") and _within(self.kinds(left), _LIST_OR_NULL):
            function = self.w.bind(money_sum_amount if amount else money_sum, "fn")
            return f"{function}({self.code(left, value)})"
        return None

    def _money_sum_of_amounts(self, fields: list[tuple[dict, str]], value: str, amount: bool) -> str | None:
        """money_sum(a[].x) or money_sum([a[].x, b[].y][]) from the projections' amounts, read once
        per record or item (field_amounts, remembered) where one of them is summed in more than
        one place: a line's seller discount alone, then with the platform's, then in its total.
        None where none is: reading the amounts as they are added up spares the list."""
        from engine.lang.functions import money_sum_of_amounts, money_sum_of_amounts_amount

        nodes = [{"type": "field_amounts", "value": key, "children": [base]} for base, key in fields]
        if not self.memo.counting and not any(self._kept_node(node, value) for node in nodes):
            return None
        function = self.w.bind(money_sum_of_amounts_amount if amount else money_sum_of_amounts, "fn")
        return f"{function}({', '.join(self.code(node, value) for node in nodes)})"

    def _kept_node(self, node: dict, value: str) -> bool:
        key = self._memo_key(node, value)
        return key is not None and self._kept(key)

    def _field_amounts(self, node: dict, value: str) -> str:
        """The amounts of the projection base[].key (see _money_sum_of_amounts)."""
        from engine.lang.functions import field_amounts

        return f"{self.w.bind(field_amounts, 'fn')}({self.code(node['children'][0], value)}, {node['value']!r})"

    def _temp_keeper(self) -> Callable[[], str]:
        """A function giving a new temporary name, which also keeps the last one (`.last`)."""
        def temp() -> str:
            temp.last = self._tmp()  # type: ignore[attr-defined]
            return temp.last  # type: ignore[attr-defined]

        return temp

    def _money_of_amount(self, call: Callable, children: list, args: list[str], as_text: bool = False) -> str | None:
        """money(amount, currency) where the amount can only be a Decimal (money_sum() and the
        like handing theirs over): money() would return {amount: its text, currency}. With
        `as_text`, the amount is the text money_sum() and the like write (see _money_of_text)."""
        from engine.lang.functions import _money, amount_text

        if as_text:
            return f"{{'amount': {self.w.bind(amount_text, 'fn')}({args[0]}), 'currency': {args[1]}}}"
        if call is not _money or len(args) != 2 or self.kinds(children[0], amount=True) != _DECIMAL:
            return None
        return f"{{'amount': format({args[0]}, 'f'), 'currency': {args[1]}}}"

    def _money_of_text(self, call: Callable, children: list, v: str) -> bool:
        """Whether money(money_sum(...), currency) and the like take the amount as the text the
        function writes (and amount_text()): that text is most often the amount's own, where the
        Decimal handed over would be written out once to be checked, then again for money().
        Not where that Decimal is remembered for other uses (one sum for both)."""
        from engine.lang.functions import _money

        if call is not _money or len(children) != 2 or self.memo.counting:
            return False
        amount = children[0]
        if amount["type"] != "function_expression" or self.kinds(amount, amount=True) != _DECIMAL \
                or self.kinds(amount) != frozenset({str}):
            return False
        key = self._memo_key(amount, v, True)
        return key is None or not self._kept(key)

    def _merge(self, children: list, value: str, checks: list) -> str:
        """merge(a, {...}): one dict display. jmespath checks only the first argument (an
        object); the others are objects or null here (null fails in both: update(None) and
        **None raise), and ** copies an object as update() does."""
        ((_, names, _),) = checks
        v, bound = self._name(value)
        first = self._tmp()
        rest = self._merged_rest(children, v)
        named = f"type({first}).__name__ not in {self.w.bind(names, 'types')}"
        if _is_current(children[0]):
            # The rest reads @ as a dict: an object of another type that jmespath takes by its
            # name goes to the interpreter instead.
            named = f"({named} or not isinstance({first}, dict))"
        test = f"type({first} := {self.code(children[0], v)}) not in {self.w.bind(frozenset((dict,)), 'plain')} and {named}"
        return self._then(v, bound, f"(_refuse() if {test} else {{**{first}{rest}}})")


    def _merged_rest(self, children: list, v: str) -> str:
        """The items after the first of merge()'s dict display. merge(@, {...}): they are only
        computed once @ passed the check that it is an object, so they read its fields as an
        object's, and {...} (then never null) is written as the display's own items."""
        known, added = _is_current(children[0]), v not in self.objects
        if known:
            self.objects.add(v)
        try:
            return "".join(f", {self._pairs(child, v)}" if known and child["type"] == "multi_select_dict"
                           else f", **{self.code(child, v)}" for child in children[1:])
        finally:
            if known and added:
                self.objects.discard(v)

    def _not_null(self, children: list, value: str) -> str:
        """not_null(a, b, ...): the first argument that is not null. Every argument is computed
        (one that raises gives up on the record, as jmespath would raise), unless none of them
        can raise: plain fields and literals are then read only until one is not null."""
        v, bound = self._name(value)
        names = [self._tmp() for _ in children]
        codes = [self.code(child, v) for child in children]
        pick = "None"
        if all(_cannot_raise(child) for child in children):
            for name, code in zip(reversed(names), reversed(codes), strict=True):
                pick = f"({name} if ({name} := {code}) is not None else {pick})"
            return self._then(v, bound, pick)
        for name in reversed(names):
            pick = f"({name} if {name} is not None else {pick})"
        computed = ", ".join(f"({name} := {code})" for name, code in zip(names, codes, strict=True))
        return self._then(v, bound, f"({computed}, {pick})[-1]")

    def _function_expression(self, node: dict, value: str, amount: bool = False) -> str:
        from engine.lang.functions import AMOUNT_READERS, AMOUNT_TWINS, context_value

        name, children = node["value"], node["children"]
        if name == "root" and not children:
            return "record"
        if name == "parent" and not children:
            return self.level.parent
        if name == "var" and len(children) == 1 and children[0]["type"] == "literal" \
                and isinstance(children[0]["value"], str):
            parts = tuple(children[0]["value"].split("."))
            if len(parts) == 1:
                return f"(ctx.get({parts[0]!r}) if isinstance(ctx, dict) else None)"
            return f"{self.w.bind(context_value, 'context_value')}(ctx, {parts!r})"
        if name == "sort_by" and len(children) == 2 and children[1]["type"] == "expref" and \
                self.closures.functions.FUNCTION_TABLE.get(name, {}).get("function") is _JP_SORT_BY:
            return self._sort_by(children, value)
        if name == "not_null" and children and \
                self.closures.functions.FUNCTION_TABLE.get(name, {}).get("function") is _JP.Functions._func_not_null:
            return self._not_null(children, value)
        fast = self.closures._direct_call(name, len(children))
        if fast is None:
            raise _Unsupported(name)
        call, checks = fast
        if getattr(call, "func", None) is _JP.Functions._func_merge and \
                all(_within(self.kinds(child), _DICT_OR_NULL) for child in children[1:]):
            return self._merge(children, value, checks)
        if call is _money_sum() and len(children) == 1 and children[0]["type"] == "projection":
            summed = self._money_sum_of_projection(children[0], value, amount)
            if summed is not None:
                return summed
        read_as_amounts = AMOUNT_READERS.get(call, ())
        if amount and call in AMOUNT_TWINS:
            call = AMOUNT_TWINS[call]
        v, bound = self._name(value)
        as_text = self._money_of_text(call, children, v)
        amounts = [(read_as_amounts is None or index in read_as_amounts) and not (as_text and index == 0)
                   for index in range(len(children))]
        args = [self._tmp() for _ in children]
        parts = [] if bound == v else [bound]
        parts += [f"({arg} := {self.code(child, v, amounts[index])})"
                  for index, (arg, child) in enumerate(zip(args, children, strict=True))]
        tests = []
        for index, names, groups in checks:
            child = children[index]
            if groups is None and child["type"] == "literal" and type(child["value"]).__name__ in names:
                continue  # a literal of an accepted type needs no check at run time
            known = self.kinds(child, amounts[index])
            if groups is None and known is not None and all(kind.__name__ in names for kind in known):
                continue  # nor does a value that can only be of accepted types (money_sum() gives text)
            # The plain JSON types by identity first (one look-up), then by name as jmespath checks.
            plain = frozenset(t for t in _JSON_TYPES if t.__name__ in names)
            test = (f"(type({args[index]}) not in {self.w.bind(plain, 'plain')} and "
                    f"type({args[index]}).__name__ not in {self.w.bind(names, 'types')})")
            if groups:
                test = f"({test} or not _elements_agree({args[index]}, {self.w.bind(groups, 'groups')}))"
            tests.append(test)
        fail = self.names.setdefault("_refuse", _refuse)
        call_name = self.w.bind(call, "fn")
        if bound == v:
            # No tuple to build: an argument with a type check is computed (and named) in its
            # check, one without is written in the call. Arguments are pure; one that raises
            # gives up on the record wherever it is computed.
            codes = [part[len(arg) + 5:-1] for arg, part in zip(args, parts, strict=True)]  # "(arg := code)"
            checked = {index for index, _, _ in checks if any(f"type({args[index]})" in t for t in tests)}
            tests = [test.replace(f"type({args[index]})", f"type(({args[index]} := {codes[index]}))", 1)
                     if index in checked else test
                     for index, test in self._tests_by_arg(tests, args)]
            call_args = [args[i] if i in checked else codes[i] for i in range(len(args))]
            result = self._money_of_amount(call, children, call_args, as_text) or _written_out(call, call_args, call_name, self._temp_keeper()) \
                or f"{call_name}({', '.join(call_args)})"
            return f"({fail.__name__}() if {' or '.join(tests)} else {result})" if tests else result
        result = self._money_of_amount(call, children, args, as_text) or _written_out(call, args, call_name, self._temp_keeper()) \
            or f"{call_name}({', '.join(args)})"
        if tests:
            result = f"({fail.__name__}() if {' or '.join(tests)} else {result})"
        return f"({', '.join(parts)}, {result})[-1]"

    @staticmethod
    def _tests_by_arg(tests: list[str], args: list[str]) -> list[tuple[int, str]]:
        """Each test with the index of the argument it checks (the first type() it names)."""
        found = []
        for test in tests:
            index = next(i for i, arg in enumerate(args) if f"type({arg})" in test)
            found.append((index, test))
        return found


def _sort_by_keys(array: list, keys: list) -> list:
    """jmespath's sort_by, given each element's key: every key a number, or every key text (else
    jmespath raises: so does this); a stable sort; an empty array is returned as it is."""
    if not array:
        return array
    kind = _SORT_KINDS.get(type(keys[0]).__name__)
    if kind is None:
        raise Fallback
    for key in keys:
        if _SORT_KINDS.get(type(key).__name__) != kind:
            raise Fallback
    return [array[index] for index in sorted(range(len(array)), key=keys.__getitem__)]


_SORT_KINDS = {"str": "string", "unicode": "string", "int": "number", "float": "number", "long": "number"}


def _refuse() -> Any:
    """An argument of a type the function does not take: jmespath would raise; so does this."""
    raise Fallback


def _flatten(base: list) -> list:
    merged: list = []
    for element in base:
        if isinstance(element, list):
            merged.extend(element)
        else:
            merged.append(element)
    return merged
