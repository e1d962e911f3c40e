"""Compiled expressions: JMESPath (with a fast path for plain field paths) and sandboxed Jinja.

Everything is parsed once, when a file is loaded; `evaluate` never parses a string. Compile
errors carry the column inside the expression so callers can point at file:line:col.

A parsed JMESPath expression is turned into nested Python closures, one per AST node, that give
exactly what jmespath's TreeInterpreter gives (same values, same errors): walking the AST dict
and type-checking every function call through the generic registry costs several times more
than the work the expression does. Function calls keep jmespath's argument type checks.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import operator
import re
from collections.abc import Callable
from contextvars import ContextVar
from decimal import Decimal
from numbers import Number
from typing import Any, NamedTuple

import jmespath
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jmespath import exceptions as jp_exceptions
from jmespath.functions import REVERSE_TYPES_MAP
from jmespath.visitor import TreeInterpreter

from engine.lang.functions import (
    CURRENT_SCOPE,
    ENGINE_FUNCTIONS_CLASS,
    FUNCTIONS,
    SCOPE_FUNCTIONS,
    context_value,
    jinja_callables,
    known_function_names,
    signature_of,
)

_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ExprCompileError(Exception):
    def __init__(self, message: str, *, offset: int = 0, line_offset: int = 0, hint: str = "") -> None:
        super().__init__(message)
        self.offset = offset  # 0-based column inside the expression text
        self.line_offset = line_offset  # 0-based line inside a multi-line template
        self.hint = hint


class ExprEvalError(Exception):
    """An expression failed on one record (bad argument type, undefined template variable...)."""


class Scope(NamedTuple):
    """What an expression sees: the current item, the whole record, the enclosing item, context.

    A named tuple: immutable like a frozen dataclass, but one is built per `each` item, and a
    tuple is several times cheaper to build.
    """

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
    __slots__ = ("source", "_parsed", "_interpreter", "_run", "_sets_scope")

    def __init__(self, source: str, parsed: dict, interpreter: TreeInterpreter, run: Run | None = None,
                 sets_scope: bool = True) -> None:
        self.source = source
        self._parsed = parsed
        self._interpreter = interpreter
        # Without compiled closures (an old call site), the interpreter walks the AST itself.
        self._run = run or (lambda value, scope: interpreter.visit(parsed, value))
        # Only expressions that hand a subtree to the interpreter (`&expr`) need CURRENT_SCOPE
        # for var()/root()/parent(); the closures read their scope argument instead.
        self._sets_scope = sets_scope or run is None

    def evaluate(self, scope: Scope) -> Any:
        if not self._sets_scope:
            try:
                return self._run(scope.current, scope)
            except Exception as exc:  # noqa: BLE001  (any function failure is this record's field error)
                raise ExprEvalError(f"{self.source!r}: {exc}") from None
        token = CURRENT_SCOPE.set(scope)
        try:
            return self._run(scope.current, scope)
        except Exception as exc:  # noqa: BLE001
            raise ExprEvalError(f"{self.source!r}: {exc}") from None
        finally:
            CURRENT_SCOPE.reset(token)

    def interpret(self, scope: Scope) -> Any:
        """The reference evaluation, by jmespath's own interpreter (what `evaluate` must equal)."""
        token = CURRENT_SCOPE.set(scope)
        try:
            return self._interpreter.visit(self._parsed, scope.current)
        except Exception as exc:  # noqa: BLE001
            raise ExprEvalError(f"{self.source!r}: {exc}") from None
        finally:
            CURRENT_SCOPE.reset(token)


class TemplateExpr:
    __slots__ = ("source", "_template", "names")

    def __init__(self, source: str, template: Any, names: tuple = ()) -> None:
        self.source = source
        self._template = template
        self.names = names  # TemplateName per record field the template reads (for validate)

    def evaluate(self, scope: Scope) -> str:
        names = {"record": scope.current, "root": scope.root, "parent": scope.parent, "ctx": scope.context}
        if isinstance(scope.current, dict):
            names = {**scope.current, **names}
        token = CURRENT_SCOPE.set(scope)
        steps = _RANGE_STEPS.set([0])
        try:
            return self._template.render(names)
        except RecursionError:
            raise ExprEvalError("template: recursion too deep") from None
        except SecurityError as exc:
            raise ExprEvalError(f"template refused by the sandbox: {exc}") from None
        except UndefinedError as exc:
            raise ExprEvalError(f"template: {exc}") from None
        except Exception as exc:  # noqa: BLE001
            raise ExprEvalError(f"template: {exc}") from None
        finally:
            _RANGE_STEPS.reset(steps)
            CURRENT_SCOPE.reset(token)


# Bounds of one template render: a consultant's typo (or a hostile file) must give an error, not
# hang `validate` or a run. Jinja folds constant expressions while compiling, so `{{ 9**99999999 }}`
# would hang compilation itself; intercepted operators are never folded, and are checked here.
MAX_POWER_DIGITS = 1_000  # digits of a ** result
MAX_REPEAT = 100_000  # items or characters a `*` repetition makes
MAX_LOOP_STEPS = 100_000  # range() items one render may go through, all loops together
MAX_TEMPLATE_CHARS = 20_000  # source characters of one template
_RANGE_STEPS: ContextVar[list[int] | None] = ContextVar("template_range_steps", default=None)


def _bounded_range(*args: Any) -> Any:
    steps = _RANGE_STEPS.get()
    made = range(*args)
    if steps is not None:
        steps[0] += len(made)
        if steps[0] > MAX_LOOP_STEPS:
            raise SecurityError(f"range() would go over {MAX_LOOP_STEPS:,} items in one template (loops nested?)")
    return made


class _BoundedJinja(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"**", "*", "+", "-", "/", "//", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        left, right = _exact(left, right)
        if operator == "**":
            if isinstance(left, int | float) and isinstance(right, int | float) and not isinstance(left, bool):
                magnitude = abs(float(left)) if abs(left) > 1 else 1.0
                digits = abs(float(right)) * math.log10(magnitude) if magnitude > 1 else 0.0
                if digits > MAX_POWER_DIGITS:
                    raise SecurityError(f"{left!r} ** {right!r} would have about {digits:,.0f} digits "
                                        f"(at most {MAX_POWER_DIGITS:,})")
            return left ** right
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and not isinstance(times, bool) \
                        and len(seq) * max(times, 0) > MAX_REPEAT:
                    raise SecurityError(f"repeating {type(seq).__name__} of {len(seq)} {times:,} times would make over "
                                        f"{MAX_REPEAT:,} {'characters' if isinstance(seq, str) else 'items'}")
            return left * right
        return super().call_binop(context, operator, left, right)


class ExpressionCompiler:
    """Owns the one JMESPath interpreter and Jinja environment a plan's expressions share."""

    def __init__(self) -> None:
        self.functions = ENGINE_FUNCTIONS_CLASS()
        self.interpreter = TreeInterpreter(jmespath.Options(custom_functions=self.functions))
        self.jinja = _BoundedJinja(undefined=StrictUndefined, autoescape=False)
        callables = jinja_callables()
        self.jinja.filters.update(callables)
        self.jinja.globals.update(callables)
        self.jinja.globals["range"] = _bounded_range
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
        _check_calls(parsed, text, lead)
        closures = _Closures(self.interpreter, self.functions)
        run = closures.compile(parsed)
        return JMESPathExpr(text, parsed, self.interpreter, run, closures.sets_scope)

    def template(self, source: str) -> TemplateExpr:
        if not isinstance(source, str):
            raise ExprCompileError("a template must be a string")
        if len(source) > MAX_TEMPLATE_CHARS:
            raise ExprCompileError(f"a template of {len(source):,} characters (at most {MAX_TEMPLATE_CHARS:,})",
                                   hint="split the work over several fields or a function")
        try:
            ast = self.jinja.parse(source)
        except RecursionError:
            raise ExprCompileError("the template nests too deeply", hint="fewer brackets inside each other") from None
        except TemplateSyntaxError as exc:
            raise _template_error(source, exc.lineno, None, f"invalid Jinja template: {exc.message}",
                                  "expressions go inside {{ }}, statements inside {% %}") from None
        for node in ast.find_all((nodes.Macro, nodes.CallBlock)):
            raise _template_error(source, node.lineno, None, "template refused: macros are not supported",
                                  "a mapping template computes one value; use registered functions instead")
        for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
            attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(attr, str) and attr.startswith("_"):
                raise _template_error(source, node.lineno, re.escape(attr),
                                      f"template refused: access to the private attribute {attr!r}",
                                      "templates may only read record fields, context values and registered functions")
        self._check_template_calls(source, ast)
        try:
            compiled = self.jinja.from_string(ast)
        except TemplateSyntaxError as exc:  # what parse lets through (e.g. a filter that does not exist)
            raise _template_error(source, exc.lineno, None, f"invalid Jinja template: {exc.message}",
                                  "expressions go inside {{ }}, statements inside {% %}") from None
        except Exception as exc:  # noqa: BLE001  (any other refusal is a compile error, not a crash)
            raise _template_error(source, 1, None, f"invalid Jinja template: {exc}",
                                  "expressions go inside {{ }}, statements inside {% %}") from None
        return TemplateExpr(source, compiled, _template_names(source, ast, self.jinja.globals))

    def _check_template_calls(self, source: str, ast: nodes.Template) -> None:
        """Unknown filters and tests, and calls of registered functions with the wrong number or
        literal types of arguments: all known before any record is rendered."""
        for node in ast.find_all((nodes.Filter, nodes.Test)):
            table, what = (self.jinja.filters, "filter") if isinstance(node, nodes.Filter) else (self.jinja.tests, "test")
            if node.name not in table:
                close = difflib.get_close_matches(node.name, sorted(table), n=1)
                pattern = (r"\|\s*(" if what == "filter" else r"\bis\s+(?:not\s+)?(") + re.escape(node.name) + r")\b"
                raise _template_error(source, node.lineno, pattern, f"unknown Jinja {what} {node.name!r}",
                                      f"did you mean {close[0]!r}?" if close else
                                      f"{what}s: " + ", ".join(n for n in sorted(table) if n.isidentifier()))
            if isinstance(node, nodes.Filter) and node.name in FUNCTIONS and node.node is not None:
                self._check_template_call(source, node, node.name, [node.node, *node.args], node.kwargs,
                                          r"\|\s*(" + re.escape(node.name) + r")\b")
            elif node.name not in FUNCTIONS:  # Jinja's own filters and tests: their Python signature
                pattern = (r"\|\s*(" if what == "filter" else r"\bis\s+(?:not\s+)?(") + re.escape(node.name) + r")\b"
                _check_builtin_call(source, node, what, table[node.name], pattern)
        for node in ast.find_all(nodes.Call):
            if isinstance(node.node, nodes.Name) and node.node.name in FUNCTIONS:
                self._check_template_call(source, node, node.node.name, list(node.args), node.kwargs,
                                          r"\b" + re.escape(node.node.name) + r"\s*\(")

    def _check_template_call(self, source: str, node: Any, name: str, args: list, kwargs: list, pattern: str) -> None:
        if getattr(node, "dyn_args", None) is not None or getattr(node, "dyn_kwargs", None) is not None:
            return
        described = [("literal", arg.value) if isinstance(arg, nodes.Const) else
                     ("literal", []) if isinstance(arg, nodes.List) else
                     ("literal", {}) if isinstance(arg, nodes.Dict) else ("expr", None) for arg in args]
        described += [("expr", None)] * len(kwargs)
        found = check_call(name, described)
        if found is not None:
            raise _template_error(source, node.lineno, pattern, found[0], found[1])


def _check_builtin_call(source: str, node: Any, what: str, func: Any, pattern: str) -> None:
    """A Jinja built-in filter or test called with arguments its signature cannot take."""
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        return
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return
    params = list(signature.parameters.values())
    if getattr(func, "jinja_pass_arg", None) is not None and params \
            and params[0].name in ("context", "eval_ctx", "environment", "env", "ctx"):
        params = params[1:]  # the context or environment Jinja passes itself
    plain = signature.replace(parameters=params, return_annotation=inspect.Signature.empty)
    try:
        plain.bind(*([None] * (1 + len(node.args))), **{kw.key: None for kw in node.kwargs})
    except TypeError as exc:
        shown = ", ".join(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
                          for p in params[1:] if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        raise _template_error(source, node.lineno, pattern, f"the Jinja {what} {node.name!r}: {exc}",
                              f"it takes ({shown}) after the value it applies to") from None


def _template_error(source: str, lineno: int | None, pattern: str | None, message: str, hint: str) -> ExprCompileError:
    """A compile error at line `lineno` of the template, at the first match of `pattern` there."""
    lines = source.split("\n")
    line = min(max((lineno or 1) - 1, 0), max(len(lines) - 1, 0))
    column = 0
    if pattern is not None and line < len(lines):
        match = re.search(pattern, lines[line])
        column = match.start(1 if match and match.re.groups else 0) if match else 0
    return ExprCompileError(message, line_offset=line,
                            offset=sum(len(text) + 1 for text in lines[:line]) + column, hint=hint)


# Names a template sees besides the record's fields (TemplateExpr.evaluate).
TEMPLATE_NAMES = frozenset({"record", "root", "parent", "ctx"})


class TemplateName(NamedTuple):
    """A top-level name a template reads that it does not define: a record field, if anything."""

    name: str
    line_offset: int  # 0-based line inside the template
    offset: int  # 0-based character offset of the name inside the template


def _template_names(source: str, ast: nodes.Template, globals_: dict) -> tuple[TemplateName, ...]:
    """The top-level names read but never bound by the template (loops, set, with, macros excluded),
    other than the context names and globals: the record fields it expects."""
    from jinja2 import meta

    undeclared = meta.find_undeclared_variables(ast) - TEMPLATE_NAMES - set(globals_)
    if not undeclared:
        return ()
    lines = source.split("\n")
    found: dict[str, TemplateName] = {}
    for node in ast.find_all(nodes.Name):
        if node.ctx == "load" and node.name in undeclared and node.name not in found:
            line = min(max(node.lineno - 1, 0), len(lines) - 1)
            match = re.search(rf"(?<![A-Za-z0-9_.]){re.escape(node.name)}(?![A-Za-z0-9_])", lines[line])
            offset = sum(len(text) + 1 for text in lines[:line]) + (match.start() if match else 0)
            found[node.name] = TemplateName(node.name, line, offset)
    return tuple(found.values())


_BUILTIN_HIDE: frozenset[str] = frozenset()


# ------------------------------------------------------------------------------ static call checks


def _value_type(value: Any) -> str:
    """The JMESPath type name of a literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _accepts(types: tuple[str, ...], kind: str) -> bool:
    if "any" in types:
        return True
    return any(t == kind or t.split("-", 1)[0] == kind for t in types)


def _ordinal(index: int) -> str:
    return {0: "1st", 1: "2nd", 2: "3rd"}.get(index, f"{index + 1}th")


def check_call(name: str, args: list[tuple[str, Any]]) -> tuple[str, str] | None:
    """(message, hint) when a call of `name` cannot work whatever the record holds, else None.

    `args` are (kind, value) per argument: kind "literal" (value known), "expref" (&expr) or
    "expr" (known only at run time). Checks the number of arguments and the type of literal ones
    against the function's declared signature.
    """
    signature = signature_of(name)
    if signature is None:
        return None
    shown = signature.text(name)
    low, high = signature.min_args, signature.max_args
    if len(args) < low or (high is not None and len(args) > high):
        if high is None:
            wanted = f"at least {low}"
        elif low == high:
            wanted = str(low)
        else:
            wanted = f"{low} to {high}"
        plural = "" if (high if high is not None else low) == 1 and wanted != "0 to 1" else "s"
        return (f"{name}() takes {wanted} argument{plural}, got {len(args)}", f"signature: {shown}")
    for index, (kind, value) in enumerate(args):
        types = signature.arg_types(index)
        if types is None:
            continue
        if types == ("expref",) and kind != "expref":
            return (f"the {_ordinal(index)} argument of {name}() must be an expression reference",
                    f"prefix it with &; signature: {shown}")
        if kind == "expref" and "expref" not in types and "any" not in types:
            return (f"the {_ordinal(index)} argument of {name}() cannot be an expression reference (&...)",
                    f"remove the &; signature: {shown}")
        if kind == "literal" and not _accepts(types, _value_type(value)):
            return (f"the {_ordinal(index)} argument of {name}() must be {' or '.join(types)}, "
                    f"got {_value_type(value)} {value!r}", f"signature: {shown}")
    return None


def current_fields(expr: Any) -> list[tuple[str, int]]:
    """(name, offset in the source) of each field an expression reads from the record it is
    evaluated on (the first key of each path that starts at the record, not inside projections,
    filters or &expr bodies), for checks against the record's schema."""
    if isinstance(expr, FieldPath):
        return [(expr.keys[0], 0)]
    parsed = getattr(expr, "_parsed", None)
    if parsed is None:
        return []
    names: list[str] = []

    def walk(node: Any, at_record: bool) -> None:
        if not isinstance(node, dict):
            return
        kind, children = node.get("type"), node.get("children") or []
        if kind == "field":
            # a bare null/true/false is a field that is never there; it reads as null, as meant
            if at_record and node["value"] not in names and node["value"] not in ("null", "true", "false"):
                names.append(node["value"])
        elif kind in ("subexpression", "index_expression", "pipe"):
            for index, child in enumerate(children):
                walk(child, at_record and index == 0)
        elif kind in ("projection", "filter_projection", "value_projection"):
            for index, child in enumerate(children):
                walk(child, at_record and index == 0)
        elif kind == "expref":
            return
        else:  # functions, comparisons, and/or/not, multi-selects, flatten: children see the same value
            for child in children:
                walk(child, at_record)

    walk(parsed, True)
    masked = re.sub(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"",
                    lambda m: " " * len(m[0]), expr.source)
    found = []
    for name in names:
        match = re.search(rf"(?<![A-Za-z0-9_.]){re.escape(name)}(?![A-Za-z0-9_(])", masked)
        found.append((name, match.start() if match else 0))
    return found


def _calls_in_order(node: Any) -> list[dict]:
    """Function call nodes in source order (the order they are written)."""
    found: list[dict] = []

    def walk(current: Any) -> None:
        if isinstance(current, dict):
            if current.get("type") == "function_expression":
                found.append(current)
            for child in current.get("children", []):
                walk(child)
        elif isinstance(current, list):
            for child in current:
                walk(child)

    walk(node)
    return found


def _call_offset(text: str, name: str, nth: int) -> int:
    matches = list(re.finditer(rf"(?<![A-Za-z0-9_]){re.escape(name)}\s*\(", text))
    return matches[nth].start() if nth < len(matches) else max(text.find(name), 0)


def _check_calls(parsed: dict, text: str, lead: int) -> None:
    seen: dict[str, int] = {}
    for call in _calls_in_order(parsed):
        name = call["value"]
        nth = seen.get(name, 0)
        seen[name] = nth + 1
        args = [("literal", child["value"]) if child["type"] == "literal" else
                ("expref", None) if child["type"] == "expref" else ("expr", None) for child in call["children"]]
        found = check_call(name, args)
        if found is not None:
            raise ExprCompileError(found[0], offset=lead + _call_offset(text, name, nth), hint=found[1])


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


# ------------------------------------------------------------------------------ JMESPath closures

Run = Callable[[Any, Scope], Any]  # (the value a node applies to, the scope of the evaluation) -> result


def _is_number(value: Any) -> bool:
    """A JMESPath number: bool is not one (True == 1 in Python)."""
    return isinstance(value, Number) and not isinstance(value, bool)


def _is_false(value: Any) -> bool:
    """JMESPath falsiness, tested by equality as the interpreter does (so 0 is true)."""
    return value == "" or value == [] or value == {} or value is None or value is False


_EQUALS = TreeInterpreter.COMPARATOR_FUNC["eq"]  # jmespath's ==: 0 and 1 never equal false and true


def _equals(a: Any, b: Any) -> bool:
    """jmespath's ==, whose 0/1-versus-bool rule needs a bool on one side; else Python's ==.

    (jmespath's own test makes two abstract-class isinstance checks on every comparison.)
    """
    if type(a) is bool or type(b) is bool:
        return _EQUALS(a, b)
    if type(a) is Decimal or type(b) is Decimal:
        a, b = _exact(a, b)
    return a == b


def _exact(a: Any, b: Any) -> tuple[Any, Any]:
    """A float next to a Decimal (a literal `19.99` next to a price read from JSON) as the Decimal
    of its shortest text, so 19.99 equals Decimal('19.99') and arithmetic between them works."""
    if type(a) is float and type(b) is Decimal and math.isfinite(a):
        return Decimal(repr(a)), b
    if type(b) is float and type(a) is Decimal and math.isfinite(b):
        return a, Decimal(repr(b))
    return a, b
_ORDER = {"lt": operator.lt, "gt": operator.gt, "lte": operator.le, "gte": operator.ge}
_CHAIN = ("subexpression", "index_expression", "pipe")  # each child applies to the previous result
_IDENTITY = ("identity", "current")


def _identity(value: Any, scope: Scope) -> Any:
    return value


def _project(right: Run, elements: Any, scope: Scope) -> list:
    """A projection's right side over each element; null results are dropped, as in JMESPath."""
    collected = []
    for element in elements:
        current = right(element, scope)
        if current is not None:
            collected.append(current)
    return collected


class _Closures:
    """Compiles one parsed JMESPath expression into closures `run(value, scope)`.

    Each method mirrors the TreeInterpreter method of the same node type. A node type this class
    does not know is handed to the interpreter, as is the body of an `&expr` (jmespath's own
    functions evaluate it); those are the only places that need CURRENT_SCOPE set.
    """

    def __init__(self, interpreter: TreeInterpreter, functions: Any) -> None:
        self.interpreter = interpreter
        self.functions = functions
        self.sets_scope = False

    def compile(self, node: dict) -> Run:
        method = getattr(self, "_" + node["type"], None)
        return method(node) if method is not None else self._interpreted(node)

    def _interpreted(self, node: dict) -> Run:
        self.sets_scope = True
        visit = self.interpreter.visit
        return lambda value, scope: visit(node, value)

    # -- paths

    def _field(self, node: dict) -> Run:
        return _path((node["value"],))

    def _chain(self, node: dict) -> Run:
        steps: list[Run] = []
        keys: list[str] = []  # consecutive plain fields become one path step
        for child in node["children"]:
            if child["type"] == "field":
                keys.append(child["value"])
                continue
            if keys:
                steps.append(_path(tuple(keys)))
                keys = []
            if child["type"] not in _IDENTITY:
                steps.append(self.compile(child))
        if keys:
            steps.append(_path(tuple(keys)))
        if not steps:
            return _identity
        if len(steps) == 1:
            return steps[0]
        if len(steps) == 2:
            first, second = steps
            return lambda value, scope: second(first(value, scope), scope)

        def run(value: Any, scope: Scope) -> Any:
            for step in steps:
                value = step(value, scope)
            return value

        return run

    _subexpression = _index_expression = _pipe = _chain

    def _index(self, node: dict) -> Run:
        index = node["value"]

        def run(value: Any, scope: Scope) -> Any:
            if not isinstance(value, list):
                return None
            try:
                return value[index]
            except IndexError:
                return None

        return run

    def _slice(self, node: dict) -> Run:
        bounds = node["children"]
        return lambda value, scope: value[slice(*bounds)] if isinstance(value, list) else None

    def _identity(self, node: dict) -> Run:
        return _identity

    _current = _identity

    def _literal(self, node: dict) -> Run:
        constant = node["value"]  # the interpreter also returns this very object each time
        return lambda value, scope: constant

    # -- projections

    def _projection(self, node: dict) -> Run:
        left_node, right_node = node["children"]
        left = self.compile(left_node)
        if right_node["type"] in _IDENTITY:

            def run(value: Any, scope: Scope) -> Any:
                base = left(value, scope)
                if not isinstance(base, list):
                    return None
                return [element for element in base if element is not None]

            return run
        if right_node["type"] == "field":
            key = right_node["value"]

            def run(value: Any, scope: Scope) -> Any:
                base = left(value, scope)
                if not isinstance(base, list):
                    return None
                collected = []
                for element in base:
                    if isinstance(element, dict):
                        current = element.get(key)
                        if current is not None:
                            collected.append(current)
                return collected

            return run
        right = self.compile(right_node)

        def run(value: Any, scope: Scope) -> Any:
            base = left(value, scope)
            return _project(right, base, scope) if isinstance(base, list) else None

        return run

    def _value_projection(self, node: dict) -> Run:
        left, right = (self.compile(child) for child in node["children"])

        def run(value: Any, scope: Scope) -> Any:
            base = left(value, scope)
            try:
                elements = base.values()
            except AttributeError:
                return None
            return _project(right, elements, scope)

        return run

    def _filter_projection(self, node: dict) -> Run:
        left, right, condition = (self.compile(child) for child in node["children"])

        def run(value: Any, scope: Scope) -> Any:
            base = left(value, scope)
            if not isinstance(base, list):
                return None
            collected = []
            for element in base:
                if not _is_false(condition(element, scope)):
                    current = right(element, scope)
                    if current is not None:
                        collected.append(current)
            return collected

        return run

    def _flatten(self, node: dict) -> Run:
        inner = self.compile(node["children"][0])

        def run(value: Any, scope: Scope) -> Any:
            base = inner(value, scope)
            if not isinstance(base, list):
                return None
            merged: list = []
            for element in base:
                if isinstance(element, list):
                    merged.extend(element)
                else:
                    merged.append(element)
            return merged

        return run

    # -- building values

    def _multi_select_list(self, node: dict) -> Run:
        items = [self.compile(child) for child in node["children"]]

        def run(value: Any, scope: Scope) -> Any:
            if value is None:
                return None
            return [item(value, scope) for item in items]

        return run

    def _multi_select_dict(self, node: dict) -> Run:
        pairs = [(child["value"], self.compile(child)) for child in node["children"]]

        def run(value: Any, scope: Scope) -> Any:
            if value is None:
                return None
            return {key: item(value, scope) for key, item in pairs}

        return run

    def _key_val_pair(self, node: dict) -> Run:
        return self.compile(node["children"][0])

    # -- logic

    def _comparator(self, node: dict) -> Run:
        left_node, right_node = node["children"]
        left, right = self.compile(left_node), self.compile(right_node)
        op = node["value"]
        if op in ("eq", "ne"):
            literal = right_node.get("value") if right_node["type"] == "literal" else None
            if isinstance(literal, str):
                # jmespath's 0/1-versus-bool rule cannot apply when one side is text: plain ==.
                if op == "eq":
                    return lambda value, scope: left(value, scope) == literal
                return lambda value, scope: not left(value, scope) == literal
            if op == "eq":
                return lambda value, scope: _equals(left(value, scope), right(value, scope))
            return lambda value, scope: not _equals(left(value, scope), right(value, scope))
        order = _ORDER[op]

        def run(value: Any, scope: Scope) -> Any:
            a, b = left(value, scope), right(value, scope)
            # Ordering is defined for numbers and text only; anything else gives null.
            if not ((_is_number(a) or isinstance(a, str)) and (_is_number(b) or isinstance(b, str))):
                return None
            if type(a) is Decimal or type(b) is Decimal:
                a, b = _exact(a, b)
            return order(a, b)

        return run

    def _or_expression(self, node: dict) -> Run:
        left, right = (self.compile(child) for child in node["children"])

        def run(value: Any, scope: Scope) -> Any:
            matched = left(value, scope)
            return right(value, scope) if _is_false(matched) else matched

        return run

    def _and_expression(self, node: dict) -> Run:
        left, right = (self.compile(child) for child in node["children"])

        def run(value: Any, scope: Scope) -> Any:
            matched = left(value, scope)
            return matched if _is_false(matched) else right(value, scope)

        return run

    def _not_expression(self, node: dict) -> Run:
        inner = self.compile(node["children"][0])

        def run(value: Any, scope: Scope) -> Any:
            result = inner(value, scope)
            if _is_number(result) and result == 0:
                return False  # !0 is false: 0 is not falsy in JMESPath
            return not result

        return run

    def _expref(self, node: dict) -> Run:
        # jmespath's sort_by/max_by/map evaluate `&expr` through the interpreter's own object.
        if not SCOPE_FUNCTIONS.isdisjoint(_function_names(node)):
            self.sets_scope = True
        visit = self.interpreter.visit
        return lambda value, scope: visit(node, value)

    # -- functions

    def _function_expression(self, node: dict) -> Run:
        name, children = node["value"], node["children"]
        args = [self.compile(child) for child in children]
        if name == "root" and not args:
            return lambda value, scope: scope.root
        if name == "parent" and not args:
            return lambda value, scope: scope.parent
        if name == "var" and len(args) == 1 and children[0]["type"] == "literal" \
                and isinstance(children[0]["value"], str):
            parts = tuple(children[0]["value"].split("."))
            return lambda value, scope: context_value(scope.context, parts)
        call_function = self.functions.call_function  # validates, then calls: the interpreter's path
        if name == "var" and len(args) == 1:
            (computed,) = args

            def run(value: Any, scope: Scope) -> Any:
                text = computed(value, scope)
                if type(text) is not str:
                    return call_function(name, [text])  # raises jmespath's type error before any read
                return context_value(scope.context, text.split("."))

            return run
        fast = self._direct_call(name, len(args))
        if fast is None:
            if name in SCOPE_FUNCTIONS:
                self.sets_scope = True
            return lambda value, scope: call_function(name, [arg(value, scope) for arg in args])
        call, checks = fast
        if any(groups for _, _, groups in checks):
            return self._typed_array_call(name, args, call, checks)
        # A literal argument of an accepted type needs no check at run time.
        allowed: list[frozenset[str] | None] = [None] * len(args)
        for index, names, _ in checks:
            child = children[index]
            if not (child["type"] == "literal" and type(child["value"]).__name__ in names):
                allowed[index] = names
        # Unrolled for the usual one to three arguments: no list per call.
        if len(args) == 1:
            (first,) = args
            (names0,) = allowed

            def run(value: Any, scope: Scope) -> Any:
                a = first(value, scope)
                if names0 is not None and type(a).__name__ not in names0:
                    return call_function(name, [a])  # raises jmespath's own type error
                return call(a)

            return run
        if len(args) == 2:
            first, second = args
            names0, names1 = allowed

            def run(value: Any, scope: Scope) -> Any:
                a, b = first(value, scope), second(value, scope)
                if (names0 is not None and type(a).__name__ not in names0) or \
                        (names1 is not None and type(b).__name__ not in names1):
                    return call_function(name, [a, b])
                return call(a, b)

            return run
        if len(args) == 3:
            first, second, third = args
            names0, names1, names2 = allowed

            def run(value: Any, scope: Scope) -> Any:
                a, b, c = first(value, scope), second(value, scope), third(value, scope)
                if (names0 is not None and type(a).__name__ not in names0) or \
                        (names1 is not None and type(b).__name__ not in names1) or \
                        (names2 is not None and type(c).__name__ not in names2):
                    return call_function(name, [a, b, c])
                return call(a, b, c)

            return run
        checked = [(index, names) for index, names in enumerate(allowed) if names is not None]

        def run(value: Any, scope: Scope) -> Any:
            values = [arg(value, scope) for arg in args]
            for index, names in checked:
                if type(values[index]).__name__ not in names:
                    return call_function(name, values)
            return call(*values)

        return run

    def _typed_array_call(self, name: str, args: list[Run], call: Callable, checks: list[_Check]) -> Run:
        """max/min/sort/sum/avg/join: the elements must be of one of the declared types."""
        call_function = self.functions.call_function

        def run(value: Any, scope: Scope) -> Any:
            values = [arg(value, scope) for arg in args]
            for index, names, groups in checks:
                argument = values[index]
                if type(argument).__name__ not in names or (groups and not _elements_agree(argument, groups)):
                    return call_function(name, values)  # raises jmespath's own type error
            return call(*values)

        return run

    def _direct_call(self, name: str, count: int) -> tuple[Callable, list[_Check]] | None:
        """The function itself and its per-argument type checks, or None to go through jmespath.

        Refused here (and so validated by jmespath on each call): unknown functions, a wrong
        number of arguments, an argument that may be an array of one type or something else,
        and the scope functions.
        """
        spec = self.functions.FUNCTION_TABLE.get(name)
        if spec is None or name in SCOPE_FUNCTIONS:
            return None
        signature, method = spec["signature"], spec["function"]
        if signature and signature[-1].get("variadic"):
            if count < len(signature):
                return None
        elif count != len(signature):
            return None
        checks: list[_Check] = []
        for index, arg_spec in enumerate(signature):  # jmespath checks only the declared positions
            types = arg_spec["types"]
            if not types:
                continue
            typed = [declared.split("-", 1) for declared in types if "-" in declared]
            if typed and len(typed) != len(types):
                return None  # `string|array-number` and the like: left to jmespath
            names = frozenset(n for declared in types for n in REVERSE_TYPES_MAP[declared.split("-", 1)[0]])
            groups = tuple(frozenset(REVERSE_TYPES_MAP[element]) for _, element in typed) or None
            checks.append((index, names, groups))
        implementation = getattr(method, "implementation", None)
        if implementation is not None:
            most = method.max_args
            return (implementation, checks) if most is None or count <= most else None
        return functools.partial(method, self.functions), checks


# (argument position, accepted type names, element type names of a typed array or None)
_Check = tuple[int, frozenset[str], tuple[frozenset[str], ...] | None]


def _elements_agree(items: list, groups: tuple[frozenset[str], ...]) -> bool:
    """Every element has a type of the group the first element belongs to (jmespath's rule).

    Only ever stricter than jmespath: a False sends the call through jmespath, which decides.
    """
    if not items:
        return True
    first = type(items[0]).__name__
    for group in groups:
        if first in group:
            for item in items:  # a loop, not all() over a generator: these lists are short
                if type(item).__name__ not in group:
                    return False
            return True
    return False


def _path(keys: tuple[str, ...]) -> Run:
    """Plain fields: None as soon as a step is not an object (jmespath: no `.get`, so null)."""
    if len(keys) == 1:
        (key,) = keys
        return lambda value, scope: value.get(key) if isinstance(value, dict) else None

    def run(value: Any, scope: Scope) -> Any:
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return run
