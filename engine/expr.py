"""Compiled expressions: JMESPath (with a fast path for plain field paths) and sandboxed Jinja.

Everything is parsed once, when a file is loaded; `evaluate` never parses a string. Compile
errors carry the column inside the expression so callers can point at file:line:col.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import jmespath
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jmespath import exceptions as jp_exceptions
from jmespath.visitor import TreeInterpreter

from .functions import CURRENT_SCOPE, ENGINE_FUNCTIONS_CLASS, jinja_callables, known_function_names

_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ExprCompileError(Exception):
    def __init__(self, message: str, *, offset: int = 0, line_offset: int = 0, hint: str = "") -> None:
        super().__init__(message)
        self.offset = offset  # 0-based column inside the expression text
        self.line_offset = line_offset  # 0-based line inside a multi-line template
        self.hint = hint


class ExprEvalError(Exception):
    """An expression failed on one record (bad argument type, undefined template variable...)."""


@dataclass(frozen=True)
class Scope:
    """What an expression sees: the current item, the whole record, the enclosing item, context."""

    current: Any
    root: Any
    parent: Any
    context: dict


class FieldPath:
    """`a.b.c` without the JMESPath machinery: the same semantics (None on any miss), less work."""

    __slots__ = ("source", "keys")

    def __init__(self, source: str) -> None:
        self.source = source
        self.keys = tuple(source.split("."))

    def evaluate(self, scope: Scope) -> Any:
        value = scope.current
        for key in self.keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value


class JMESPathExpr:
    __slots__ = ("source", "_parsed", "_interpreter")

    def __init__(self, source: str, parsed: dict, interpreter: TreeInterpreter) -> None:
        self.source = source
        self._parsed = parsed
        self._interpreter = interpreter

    def evaluate(self, scope: Scope) -> Any:
        token = CURRENT_SCOPE.set(scope)
        try:
            return self._interpreter.visit(self._parsed, scope.current)
        except Exception as exc:  # noqa: BLE001  (any function failure is this record's field error)
            raise ExprEvalError(f"{self.source!r}: {exc}") from None
        finally:
            CURRENT_SCOPE.reset(token)


class TemplateExpr:
    __slots__ = ("source", "_template")

    def __init__(self, source: str, template: Any) -> None:
        self.source = source
        self._template = template

    def evaluate(self, scope: Scope) -> str:
        names = {"record": scope.current, "root": scope.root, "parent": scope.parent, "ctx": scope.context}
        if isinstance(scope.current, dict):
            names = {**scope.current, **names}
        token = CURRENT_SCOPE.set(scope)
        try:
            return self._template.render(names)
        except SecurityError as exc:
            raise ExprEvalError(f"template refused by the sandbox: {exc}") from None
        except UndefinedError as exc:
            raise ExprEvalError(f"template: {exc}") from None
        except Exception as exc:  # noqa: BLE001
            raise ExprEvalError(f"template: {exc}") from None
        finally:
            CURRENT_SCOPE.reset(token)


class ExpressionCompiler:
    """Owns the one JMESPath interpreter and Jinja environment a plan's expressions share."""

    def __init__(self) -> None:
        self.interpreter = TreeInterpreter(jmespath.Options(custom_functions=ENGINE_FUNCTIONS_CLASS()))
        self.jinja = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        callables = jinja_callables()
        self.jinja.filters.update(callables)
        self.jinja.globals.update(callables)
        self._functions = known_function_names()

    def jmespath(self, source: str) -> FieldPath | JMESPathExpr:
        if not isinstance(source, str) or not source.strip():
            raise ExprCompileError("an expression must be a non-empty string")
        text = source.strip()
        lead = len(source) - len(source.lstrip())  # offsets below are into `text`; errors use `source`
        if _FIELD_PATH.match(text):
            return FieldPath(text)
        try:
            parsed = jmespath.compile(text).parsed
        except jp_exceptions.LexerError as exc:  # a ParseError subclass: catch it first
            raise ExprCompileError(
                f"invalid JMESPath: {exc.message}", offset=lead + (exc.lexer_position or 0),
                hint="check quotes and brackets",
            ) from None
        except jp_exceptions.IncompleteExpressionError as exc:
            raise ExprCompileError(
                "invalid JMESPath: the expression ends too early", offset=lead + (exc.lex_position or len(text)),
                hint="an operator, bracket or function call is not finished",
            ) from None
        except jp_exceptions.ParseError as exc:
            raise ExprCompileError(
                f"invalid JMESPath: {exc.msg} (token {exc.token_value!r})",
                offset=lead + (exc.lex_position or 0),
                hint="literals need backticks (`0`) or single quotes ('text'); see jmespath.org",
            ) from None
        for name in _function_names(parsed):
            if name not in self._functions:
                close = difflib.get_close_matches(name, sorted(self._functions), n=1)
                raise ExprCompileError(
                    f"unknown function {name}()", offset=lead + max(text.find(name + "("), 0),
                    hint=(f"did you mean {close[0]}()? " if close else "") + "registered functions: "
                    + ", ".join(sorted(self._functions - _BUILTIN_HIDE)),
                )
        return JMESPathExpr(text, parsed, self.interpreter)

    def template(self, source: str) -> TemplateExpr:
        if not isinstance(source, str):
            raise ExprCompileError("a template must be a string")
        try:
            ast = self.jinja.parse(source)
        except TemplateSyntaxError as exc:
            line = max((exc.lineno or 1) - 1, 0)
            raise ExprCompileError(
                f"invalid Jinja template: {exc.message}", line_offset=line,
                offset=sum(len(text) + 1 for text in source.split("\n")[:line]),
                hint="expressions go inside {{ }}, statements inside {% %}",
            ) from None
        for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
            attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(attr, str) and attr.startswith("_"):
                line = max(node.lineno - 1, 0)
                lines = source.split("\n")
                column = max(lines[line].find(attr), 0) if line < len(lines) else 0
                raise ExprCompileError(
                    f"template refused: access to the private attribute {attr!r}",
                    offset=sum(len(text) + 1 for text in lines[:line]) + column,
                    hint="templates may only read record fields, context values and registered functions",
                )
        return TemplateExpr(source, self.jinja.from_string(ast))


_BUILTIN_HIDE: frozenset[str] = frozenset()


def _function_names(node: Any) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if current.get("type") == "function_expression":
                found.append(current["value"])
            stack.extend(current.get("children", []))
        elif isinstance(current, list):
            stack.extend(current)
    return found
