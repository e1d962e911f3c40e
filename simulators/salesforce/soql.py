"""The part of SOQL the connectors send: SELECT fields (dotted parent fields, one level of child
subquery), FROM one object, WHERE comparisons joined by AND / OR with parentheses (=, !=, <, <=,
>, >=, IN, NOT IN, LIKE), ORDER BY and LIMIT. Literals: 'text' (backslash escapes), numbers,
true/false/null, date and datetime literals. Anything else is a MALFORMED_QUERY, as in Salesforce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


class SoqlError(ValueError):
    pass


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:\\.|[^'\\])*')
     |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
     |(?P<date>\d{4}-\d{2}-\d{2})
     |(?P<number>-?\d+(?:\.\d+)?)
     |(?P<op><=|>=|!=|<>|=|<|>)
     |(?P<punct>[(),])
     |(?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    )""", re.VERBOSE)


def tokenize(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise SoqlError(f"unexpected token at position {pos}: {text[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


@dataclass
class Query:
    obj: str
    fields: list[str]
    children: list[Query] = field(default_factory=list)
    relationship: str = ""  # a child subquery's relationship name (FROM ShipmentItems)
    where: Any = None
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    limit: int | None = None


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.i = tokens, 0

    def peek(self, upper: bool = True) -> str | None:
        if self.i >= len(self.tokens):
            return None
        value = self.tokens[self.i][1]
        return value.upper() if upper else value

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise SoqlError("unexpected end of query")
        self.i += 1
        return self.tokens[self.i - 1]

    def expect(self, word: str) -> None:
        kind, value = self.take()
        if value.upper() != word:
            raise SoqlError(f"expected {word}, found {value!r}")

    def query(self, child: bool = False) -> Query:
        self.expect("SELECT")
        fields: list[str] = []
        children: list[Query] = []
        while True:
            if self.peek() == "(":
                self.take()
                children.append(self.query(child=True))
                self.expect(")")
            else:
                kind, value = self.take()
                if kind != "name":
                    raise SoqlError(f"expected a field name, found {value!r}")
                fields.append(value)
            if self.peek() == ",":
                self.take()
                continue
            break
        self.expect("FROM")
        kind, obj = self.take()
        if kind != "name":
            raise SoqlError(f"expected an object name, found {obj!r}")
        query = Query(obj, fields, children)
        if child:
            query.relationship = obj
        if self.peek() == "WHERE":
            self.take()
            query.where = self.condition()
        if self.peek() == "ORDER":
            self.take()
            self.expect("BY")
            while True:
                _, name = self.take()
                desc = False
                if self.peek() in ("ASC", "DESC"):
                    desc = self.take()[1].upper() == "DESC"
                query.order_by.append((name, desc))
                if self.peek() != ",":
                    break
                self.take()
        if self.peek() == "LIMIT":
            self.take()
            query.limit = int(self.take()[1])
        return query

    def condition(self) -> Any:
        left = self.conjunction()
        while self.peek() == "OR":
            self.take()
            left = ("or", left, self.conjunction())
        return left

    def conjunction(self) -> Any:
        left = self.atom()
        while self.peek() == "AND":
            self.take()
            left = ("and", left, self.atom())
        return left

    def atom(self) -> Any:
        if self.peek() == "NOT":
            self.take()
            return ("not", self.atom())
        if self.peek() == "(":
            self.take()
            inner = self.condition()
            self.expect(")")
            return inner
        kind, name = self.take()
        if kind != "name":
            raise SoqlError(f"expected a field name, found {name!r}")
        word = self.peek()
        if word == "IN" or word == "NOT":
            negate = self.take()[1].upper() == "NOT"
            if negate:
                self.expect("IN")
            self.expect("(")
            values = []
            while True:
                values.append(self.literal())
                if self.peek() == ",":
                    self.take()
                    continue
                break
            self.expect(")")
            return ("in", name, values, negate)
        if word == "LIKE":
            self.take()
            return ("like", name, self.literal())
        kind, op = self.take()
        if kind != "op":
            raise SoqlError(f"expected an operator after {name}, found {op!r}")
        return ("cmp", name, "!=" if op == "<>" else op, self.literal())

    def literal(self) -> Any:
        kind, value = self.take()
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "number":
            return Decimal(value)
        if kind in ("date", "datetime"):
            return value
        if kind == "name" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind == "name" and value.lower() == "null":
            return None
        raise SoqlError(f"expected a value, found {value!r}")


def parse(text: str) -> Query:
    parser = _Parser(tokenize(text))
    query = parser.query()
    if parser.i != len(parser.tokens):
        raise SoqlError(f"unexpected {parser.tokens[parser.i][1]!r} after the query")
    return query


def _norm(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    text = str(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:?00)", text):
        return text[:19]  # compare datetimes in UTC to the second
    return text


def matches(cond: Any, get: Any) -> bool:
    """`get(field)` reads a (possibly dotted) field of the candidate record."""
    if cond is None:
        return True
    kind = cond[0]
    if kind == "and":
        return matches(cond[1], get) and matches(cond[2], get)
    if kind == "or":
        return matches(cond[1], get) or matches(cond[2], get)
    if kind == "not":
        return not matches(cond[1], get)
    if kind == "in":
        value = _norm(get(cond[1]))
        found = value in [_norm(v) for v in cond[2]]
        return found != cond[3]
    if kind == "like":
        pattern = "^" + re.escape(str(cond[2])).replace("%", ".*").replace("_", ".") + "$"
        return re.match(pattern, str(get(cond[1]) or ""), re.IGNORECASE) is not None
    _, name, op, literal = cond
    value, literal = _norm(get(name)), _norm(literal)
    if op == "=":
        return value == literal
    if op == "!=":
        return value != literal
    if value is None or literal is None:
        return False
    try:
        return {"<": value < literal, "<=": value <= literal, ">": value > literal, ">=": value >= literal}[op]
    except TypeError:
        return False
