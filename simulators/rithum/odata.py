"""The OData v4 query options the Rithum (ChannelAdvisor) REST API takes: `$filter`, `$select`,
`$expand` (with nested `$filter`/`$expand`), `$orderby`, `$top`, `$skip`, `$count`.

`$filter` is parsed into a small tree and evaluated on plain dicts: comparisons (`eq ne gt ge lt
le`), `and`, `or`, `not`, parentheses, single-quoted strings ('' escapes a quote), numbers,
true/false/null, unquoted date-times (compared as instants), `Path/any(x: ...)` lambdas over a
collection, and `contains`, `startswith`, `endswith`. Anything else is a 400, as the real service
refuses what it cannot parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


class ODataError(ValueError):
    pass


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<punct>[(),:/])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""", re.VERBOSE)

_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCS = {"contains", "startswith", "endswith"}


def parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ODataError(f"Syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


@dataclass
class _Node:
    op: str
    args: tuple


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.text = text

    def peek(self, value: str | None = None) -> tuple[str, str] | None:
        token = self.tokens[self.i] if self.i < len(self.tokens) else None
        if value is not None and (token is None or token[1] != value):
            return None
        return token

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ODataError(f"Syntax error: expected '{value or 'a value'}' in '{self.text}'.")
        self.i += 1
        return token

    def parse(self) -> _Node:
        node = self.or_()
        if self.peek() is not None:
            raise ODataError(f"Syntax error at '{self.peek()[1]}' in '{self.text}'.")
        return node

    def or_(self) -> _Node:
        node = self.and_()
        while self.peek("or"):
            self.take()
            node = _Node("or", (node, self.and_()))
        return node

    def and_(self) -> _Node:
        node = self.not_()
        while self.peek("and"):
            self.take()
            node = _Node("and", (node, self.not_()))
        return node

    def not_(self) -> _Node:
        if self.peek("not"):
            self.take()
            return _Node("not", (self.not_(),))
        return self.compare()

    def compare(self) -> _Node:
        left = self.operand()
        token = self.peek()
        if token and token[0] == "name" and token[1] in _COMPARE:
            self.take()
            return _Node(token[1], (left, self.operand()))
        return left

    def operand(self) -> _Node:
        kind, value = self.take()
        if value == "(":
            node = self.or_()
            self.take(")")
            return node
        if kind == "str":
            return _Node("lit", (value[1:-1].replace("''", "'"),))
        if kind == "dt":
            return _Node("lit", (parse_datetime(value),))
        if kind == "num":
            return _Node("lit", (Decimal(value),))
        if kind != "name":
            raise ODataError(f"Syntax error at '{value}' in '{self.text}'.")
        if value in ("true", "false"):
            return _Node("lit", (value == "true",))
        if value == "null":
            return _Node("lit", (None,))
        if value in _FUNCS and self.peek("("):
            self.take("(")
            first = self.or_()
            self.take(",")
            second = self.or_()
            self.take(")")
            return _Node(value, (first, second))
        path = [value]
        while self.peek("/"):
            self.take("/")
            name = self.take()[1]
            if name == "any" and self.peek("("):
                self.take("(")
                var = self.take()[1]
                self.take(":")
                body = self.or_()
                self.take(")")
                return _Node("any", (tuple(path), var, body))
            path.append(name)
        return _Node("path", (tuple(path),))


def _value(node: _Node, record: dict, scope: dict) -> Any:
    op = node.op
    if op == "lit":
        return node.args[0]
    if op == "path":
        path = node.args[0]
        current: Any = scope[path[0]] if path[0] in scope else record.get(path[0])
        for part in path[1:]:
            current = current.get(part) if isinstance(current, dict) else None
        return current
    if op == "and":
        return bool(_value(node.args[0], record, scope)) and bool(_value(node.args[1], record, scope))
    if op == "or":
        return bool(_value(node.args[0], record, scope)) or bool(_value(node.args[1], record, scope))
    if op == "not":
        return not _value(node.args[0], record, scope)
    if op == "any":
        path, var, body = node.args
        items = _value(_Node("path", (path,)), record, scope) or []
        return any(_value(body, record, {**scope, var: item}) for item in items)
    if op in _FUNCS:
        text, part = (_value(a, record, scope) for a in node.args)
        if not isinstance(text, str) or not isinstance(part, str):
            return False
        return {"contains": part in text, "startswith": text.startswith(part), "endswith": text.endswith(part)}[op]
    left, right = (_value(a, record, scope) for a in node.args)
    left, right = _comparable(left, right)
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    try:
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
    except TypeError:
        raise ODataError(f"The operator '{op}' cannot compare these operands.") from None


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    def norm(value: Any, other: Any) -> Any:
        if isinstance(other, datetime) and isinstance(value, str):
            try:
                return parse_datetime(value)
            except ValueError:
                return value
        if isinstance(other, Decimal) and isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                return Decimal(str(value))
            except ArithmeticError:
                return value
        return value
    return norm(left, right), norm(right, left)


def compile_filter(text: str | None):  # noqa: ANN201
    """A predicate over a record, or None for no filter."""
    if not text:
        return None
    node = _Parser(text).parse()
    return lambda record: bool(_value(node, record, {}))


def split_top(text: str) -> list[str]:
    """Split a comma list at the top level (commas inside parentheses stay)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    if depth != 0:
        raise ODataError(f"Unbalanced parentheses in '{text}'.")
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return [part for part in out if part]


def parse_expand(text: str | None) -> dict[str, dict[str, str]]:
    """`Items($expand=Promotions),Fulfillments($expand=Items;$filter=...)` -> {name: {option: value}}."""
    out: dict[str, dict[str, str]] = {}
    for part in split_top(text or ""):
        name, _, rest = part.partition("(")
        options: dict[str, str] = {}
        if rest:
            if not rest.endswith(")"):
                raise ODataError(f"Syntax error in $expand '{part}'.")
            for option in _split_semicolons(rest[:-1]):
                key, _, value = option.partition("=")
                if not key.startswith("$") or not value:
                    raise ODataError(f"Unknown expand option '{option}'.")
                options[key.strip()] = value.strip()
        out[name.strip()] = options
    return out


def _split_semicolons(text: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == ";" and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [p.strip() for p in out if p.strip()]


def select(record: dict, fields: str | None, keep: set[str]) -> dict:
    """$select keeps the named properties (and the expanded ones)."""
    if not fields:
        return record
    names = {f.strip() for f in fields.split(",") if f.strip()}
    return {k: v for k, v in record.items() if k in names or k in keep}


def shape(record: dict, kind: str, options: dict[str, str], navigator) -> dict:  # noqa: ANN001
    """One entity as the service answers it: its properties ($select), plus each expanded
    navigation collection (nested $filter, $select, $expand applied); navigation properties that
    were not expanded are left out. `navigator(kind, record)` gives {name: (kind, [records])}."""
    navigation = navigator(kind, record)
    expand = parse_expand(options.get("$expand"))
    unknown = [name for name in expand if name not in navigation]
    if unknown:
        raise ODataError(f"Could not find a property named '{unknown[0]}' on type '{kind}'.")
    out = select(record, options.get("$select"), set())
    for name, nested in expand.items():
        child_kind, items = navigation[name]
        predicate = compile_filter(nested.get("$filter"))
        if predicate is not None:
            items = [item for item in items if predicate(item)]
        out[name] = [shape(item, child_kind, nested, navigator) for item in items]
    return out
