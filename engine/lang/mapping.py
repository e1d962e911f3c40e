"""Mappings: compile a mapping document once into a plan of small nodes, then apply it per record.

A field's value is one of these forms:

    title: title                          # JMESPath (a plain string)
    description: {template: "{{ body_html }}"}
    currency: {const: USD}
    status: {lookup: product_status, from: status}
    variants: {each: variants, fields: {sku: sku, price: {path: price, cast: decimal}}}
    package: {fields: {weight: ...}}       # a nested object
    title_or_handle: {coalesce: [title, handle]}
    note: {if: "tags != ''", then: tags, else: {const: none}}

and may carry `cast`, `scale`, `default` and `required`. Target keys may be dotted
(`package.weight.value`). A null result leaves the key out of the output.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.errors import Location, Problem, SpecError
from engine.lang.casts import CASTS
from engine.lang.expr import (
    ExprCompileError,
    ExpressionCompiler,
    ExprEvalError,
    FieldPath,
    Scope,
    current_fields,
)
from engine.project.yamlpos import YDict, YList, format_path, locate, plain, text_location
from engine.registry import Example, Registry

# The value forms, in the order they are tried and listed; each is declared once below with the
# keys it owns (its options schema), a doc and a worked example. VALUE_FORMS is filled from it.
FORMS = Registry("value form")
# Keys any value form may carry besides its own. `cast` takes a registered cast (CASTS), and the
# casts' own options (`scale`) join these in the mapping schema.
MODIFIERS: dict[str, dict[str, Any]] = {
    "cast": {"description": "Convert the value; a failure is a field error."},
    "default": {"description": "Used when the value is null."},
    "required": {"type": "boolean", "description": "Null or empty is a field error."},
    "description": {"type": "string", "description": "A note for readers; the engine ignores it."},
}
_MISSING = object()
_UNKNOWN = object()  # inside an `each` over a computed list: the item shape is not known
_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass
class FieldError:
    """One failed field of one record: where in the output, why, and which mapping line did it."""

    path: str
    message: str
    location: Location | None = None

    def as_dict(self) -> dict:
        return {"field": self.path, "message": self.message, "mapping": str(self.location) if self.location else None}


@dataclass
class MapResult:
    output: dict
    errors: list[FieldError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# ------------------------------------------------------------------------------ runtime nodes


class _Node:
    loc: Location | None = None

    def value(self, scope: Scope, errors: list[FieldError], path: str) -> Any:
        raise NotImplementedError


class _Expr(_Node):
    __slots__ = ("expr", "evaluate", "loc")

    def __init__(self, expr: Any, loc: Location | None) -> None:
        self.expr, self.loc = expr, loc
        self.evaluate = expr.evaluate  # bound once: _Field calls it directly

    def value(self, scope: Scope, errors: list[FieldError], path: str) -> Any:
        try:
            return self.evaluate(scope)
        except ExprEvalError as exc:
            errors.append(FieldError(path, str(exc), self.loc))
            return _MISSING


class _Const(_Node):
    __slots__ = ("const", "loc")

    def __init__(self, const: Any, loc: Location | None) -> None:
        self.const, self.loc = const, loc

    def value(self, scope: Scope, errors: list[FieldError], path: str) -> Any:
        return self.const


@dataclass
class LookupTable:
    name: str
    values: dict
    has_default: bool
    default: Any
    context_key: str | None  # merchant options may supply or extend the table at run time

    def get(self, key: Any, scope: Scope) -> Any:
        text = _key(key)
        if self.context_key:
            supplied = scope.context.get(self.context_key)
            if isinstance(supplied, dict) and text in supplied:
                return supplied[text]
        if text in self.values:
            return self.values[text]
        if self.has_default:
            return self.default
        known = sorted(map(str, self.values))
        supplied = scope.context.get(self.context_key) if self.context_key else None
        if isinstance(supplied, dict):  # a context value of another type supplies nothing
            known = sorted(set(known) | set(map(str, supplied)))
        raise KeyError(f"no entry for {key!r} in lookup table {self.name!r} (known: {', '.join(known) or 'none'})")


def _key(value: Any) -> Any:
    return value if isinstance(value, str) else str(value) if value is not None else None


class _Lookup(_Node):
    __slots__ = ("table", "source", "loc")

    def __init__(self, table: LookupTable, source: _Node, loc: Location | None) -> None:
        self.table, self.source, self.loc = table, source, loc

    def value(self, scope: Scope, errors: list[FieldError], path: str) -> Any:
        key = self.source.value(scope, errors, path)
        if key is _MISSING:
            return _MISSING
        try:
            return self.table.get(key, scope)
        except KeyError as exc:
            errors.append(FieldError(path, exc.args[0], self.loc))
            return _MISSING


class _If(_Node):
    __slots__ = ("cond", "then", "other", "loc", "evaluate")

    def __init__(self, cond: _Node, then: _Node | None, other: _Node | None, loc: Location | None) -> None:
        self.cond, self.then, self.other, self.loc = cond, then, other, loc
        self.evaluate = cond.evaluate if isinstance(cond, _Expr) else None  # skips _Expr.value's frame

    def value(self, scope: Scope, errors: list[FieldError], path: str) -> Any:
        if self.evaluate is not None:
            try:
                test = self.evaluate(scope)
            except ExprEvalError as exc:
                errors.append(FieldError(path, str(exc), self.cond.loc))
                return _MISSING
        else:
            test = self.cond.value(scope, errors, path)
            if test is _MISSING:
                return _MISSING
        branch = self.then if _truthy(test) else self.other
        return None if branch is None else branch.value(scope, errors, path)


def _truthy(value: Any) -> bool:
    """JMESPath truthiness: null, false and empty strings, lists and objects are false; every
    number is true, 0 included (a weight of 0 is a value to check, not a missing one)."""
    if value is None or value is False:
        return False
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


class _Coalesce(_Node):
    __slots__ = ("options", "loc")

    def __init__(self, options: list[_Node], loc: Location | None) -> None:
        self.options, self.loc = options, loc

    def value(self, scope: Scope, errors: list[FieldError], path: str) -> Any:
        for option in self.options:
            result = option.value(scope, errors, path)
            if result is not _MISSING and result not in (None, "", []):
                return result
        return None


class _Object(_Node):
    __slots__ = ("fields", "loc")

    def __init__(self, fields: list[_Field], loc: Location | None) -> None:
        self.fields, self.loc = fields, loc

    def value(self, scope: Scope, errors: list[FieldError], path: str) -> Any:
        out: dict = {}
        for item in self.fields:
            item.apply(scope, out, errors, path)
        return out


class _Each(_Node):
    __slots__ = ("source", "item", "keep", "limit", "loc")

    def __init__(self, source: _Node, item: _Node, keep: _Node | None, limit: int | None, loc: Location | None):
        self.source, self.item, self.keep, self.limit, self.loc = source, item, keep, limit, loc

    def value(self, scope: Scope, errors: list[FieldError], path: str) -> Any:
        items = self.source.value(scope, errors, path)
        if items is _MISSING or items is None:
            return items
        if not isinstance(items, list):
            errors.append(FieldError(path, f"`each` needs a list, got {type(items).__name__}", self.loc))
            return _MISSING
        out = []
        root, parent, context = scope.root, scope.current, scope.context
        item, keep, limit = self.item, self.keep, self.limit
        for index, entry in enumerate(items):
            inner = Scope(entry, root, parent, context)
            item_path = f"{path}[{index}]"
            if keep is not None and not _truthy(keep.value(inner, errors, item_path)):
                continue
            result = item.value(inner, errors, item_path)
            if result is not _MISSING and result is not None:
                out.append(result)
            if limit is not None and len(out) >= limit:
                break
        return out


class _Field:
    """One target key: a value node, then cast, default and the required check."""

    __slots__ = ("target", "name", "node", "cast", "scale", "default", "required", "loc", "key", "evaluate",
                 "plain", "parents", "leaf")

    def __init__(self, target: tuple[str, ...], node: _Node, loc: Location | None, *, cast: Callable | None = None,
                 scale: int | None = None, default: Any = _MISSING, required: bool = False) -> None:
        self.target, self.name, self.node, self.loc = target, ".".join(target), node, loc
        self.cast, self.scale, self.default, self.required = cast, scale, default, required
        # An expression node is evaluated here so that the error path is only built on an error;
        # a one-key path (`{path: price, cast: decimal}`) is read here, without a call.
        self.evaluate = node.evaluate if isinstance(node, _Expr) else None
        self.key = _single_key(node)
        self.plain = cast is None and default is _MISSING and not required  # only "drop a null" applies
        self.parents, self.leaf = target[:-1], target[-1]

    def path(self, prefix: str) -> str:
        return f"{prefix}.{self.name}" if prefix else self.name

    def apply(self, scope: Scope, out: dict, errors: list[FieldError], prefix: str) -> None:
        if self.key is not None:
            current = scope.current
            value = current.get(self.key) if isinstance(current, dict) else None  # FieldPath's rule
        elif self.evaluate is not None:
            try:
                value = self.evaluate(scope)
            except ExprEvalError as exc:
                errors.append(FieldError(self.path(prefix), str(exc), self.node.loc))
                return
        else:
            value = self.node.value(scope, errors, self.path(prefix))
            if value is _MISSING:
                return
        if not self.plain:
            if value is None and self.default is not _MISSING:
                value = self.default
            if value is not None and self.cast is not None:
                try:
                    value = self.cast(value, self.scale)
                except (ValueError, ArithmeticError) as exc:
                    errors.append(FieldError(self.path(prefix), str(exc), self.loc))
                    return
            if self.required and (value is None or (isinstance(value, str | list | dict) and not value)):
                errors.append(FieldError(self.path(prefix), "required value is missing or empty", self.loc))
                return
        if value is None:
            return
        target = out
        for key in self.parents:
            target = target.setdefault(key, {})
        target[self.leaf] = value


class _Copy(_Field):
    """`target: key` and nothing more, the commonest field: one dict read, no expression call."""

    __slots__ = ()

    def apply(self, scope: Scope, out: dict, errors: list[FieldError], prefix: str) -> None:
        current = scope.current
        if isinstance(current, dict):  # FieldPath's rule: a non-object has no fields
            value = current.get(self.key)
            if value is not None:
                out[self.leaf] = value


def _single_key(node: _Node) -> str | None:
    if isinstance(node, _Expr) and isinstance(node.expr, FieldPath) and len(node.expr.keys) == 1:
        return node.expr.keys[0]
    return None


# ------------------------------------------------------------------------------ the plan


class MappingPlan:
    """A compiled mapping. Immutable after compile; safe to share between threads."""

    def __init__(self, name: str, root: _Object, doc: YDict, required: list[str]) -> None:
        self.name = name
        self._root = root
        self.doc = doc
        self.source = doc.get("source") or {}
        self.target = doc.get("target") or {}
        # Plain values: a list default read from YAML is a YList, which JMESPath's functions
        # would not take for an array.
        self.context_defaults = {
            key: plain(spec.get("default")) for key, spec in (doc.get("context") or {}).items()
            if isinstance(spec, dict) and "default" in spec
        }
        self.required = required

    @functools.cached_property
    def _fast(self) -> Any:
        """The same plan as one generated Python function (engine.lang.mapping_codegen): it maps
        a record that has no field error; any other record goes through the nodes. Generated at
        the first record, not at compile: `connector validate` compiles every mapping and maps
        none, and generating is a third of its time."""
        from engine.lang.mapping_codegen import generate

        return generate(self._root, self.name)

    def apply(self, record: Any, context: dict | None = None) -> MapResult:
        ctx = {**self.context_defaults, **(context or {})}
        fast = self._fast
        if fast is not None:
            try:
                return MapResult(fast(record, ctx))
            except Exception:  # noqa: BLE001  (a field error: the interpreter reports it, field by field)
                pass
        errors: list[FieldError] = []
        output = self._root.value(Scope(record, record, None, ctx), errors, "")
        return MapResult(output, errors)

    def interpret(self, record: Any, context: dict | None = None) -> MapResult:
        """`apply` by the interpreter alone: the reference the generated function must equal."""
        ctx = {**self.context_defaults, **(context or {})}
        errors: list[FieldError] = []
        output = self._root.value(Scope(record, record, None, ctx), errors, "")
        return MapResult(output, errors)


# ------------------------------------------------------------------------------ compiler


class _Compiler:
    def __init__(self, doc: YDict, exprs: ExpressionCompiler, schema_lookup: Any | None) -> None:
        self.doc = doc
        self.exprs = exprs
        self.problems: list[Problem] = []
        self.tables = self._tables(doc.get("lookups") or {})
        self.schema_lookup = schema_lookup  # engine.project.schemas.CanonicalSchemas or None

    # -- errors

    def problem(self, container: Any, key: Any, message: str, hint: str = "", *, at_key: bool = False,
                offset: int | None = None, line_offset: int = 0) -> None:
        """Record a problem at `key` of `container`; `offset`/`line_offset` point inside its text."""
        loc = None
        if offset is not None:
            loc = text_location(container, key, offset, line_offset)
        elif isinstance(container, YDict):
            loc = (container.key_locs if at_key else container.value_locs).get(key, container.loc)
        elif isinstance(container, YList) and isinstance(key, int):
            loc = container.item_locs[key]
        self.problems.append(Problem(message, loc, _path_of(container, key), hint))

    # -- lookups

    def _tables(self, specs: Any) -> dict[str, LookupTable]:
        tables = {}
        for name, spec in specs.items():
            spec = spec if isinstance(spec, dict) else {}
            values = {_key(k): v for k, v in (spec.get("values") or {}).items()}
            tables[name] = LookupTable(name, values, "default" in spec, spec.get("default"), spec.get("context"))
        return tables

    # -- expressions

    def jmespath(self, container: Any, key: Any, text: Any) -> Any:
        try:
            return self.exprs.jmespath(text)
        except ExprCompileError as exc:
            self.problem(container, key, str(exc), exc.hint, offset=exc.offset)
            return None

    def template(self, container: Any, key: Any, text: Any) -> Any:
        try:
            compiled = self.exprs.template(text)
        except ExprCompileError as exc:
            self.problem(container, key, str(exc), exc.hint, offset=exc.offset, line_offset=exc.line_offset)
            return None
        self.check_template_names(container, key, compiled)
        return compiled

    def check_template_names(self, container: Any, key: Any, compiled: Any) -> None:
        """Names a template reads as record fields must be fields of the record it sees, when
        that record is a canonical entity (or an item of one) whose fields are all known."""
        base = self.source_items if self.source_items is not None else self.source_schema
        if not self.schema_lookup or base is None or base is _UNKNOWN or self.schema_lookup.is_open(base):
            return
        names = self.schema_lookup.property_names(base)
        for used in getattr(compiled, "names", ()):
            if self.schema_lookup.property(base, used.name) is None:
                close = difflib.get_close_matches(used.name, names, n=1)
                self.problem(container, key, f"the template reads {used.name!r}, which is not a field of the "
                             f"canonical record it sees",
                             (f"did you mean {close[0]!r}? " if close else "fields: " + ", ".join(names) + "; ")
                             + "context values are read as ctx.NAME",
                             offset=used.offset)

    # -- fields

    def object(self, fields: Any, container: Any, key: Any, schema: Any) -> _Object:
        if not isinstance(fields, dict):
            self.problem(container, key, "`fields` must be a mapping of target field -> value")
            return _Object([], None)
        compiled = []
        for target, spec in fields.items():
            parts = tuple(str(target).split("."))
            if not all(parts):  # `""`, `a..b`, `.a`: an error could not name the field
                self.problem(fields, target, f"target field {str(target)!r} has an empty name or part",
                             "name each field, dotted for nesting: price.amount", at_key=True)
                continue
            sub_schema = self.check_target(fields, target, parts, schema)
            compiled_field = self.field(fields, target, parts, spec, sub_schema)
            if compiled_field is not None:
                compiled.append(compiled_field)
        self.check_required(fields, container, key, schema)
        return _Object(compiled, getattr(fields, "loc", None))

    def field(self, container: Any, key: Any, parts: tuple[str, ...], spec: Any, schema: Any) -> _Field | None:
        loc = container.value_locs.get(key) if isinstance(container, YDict) else None
        node = self.node(container, key, spec, schema)
        if node is None:
            return None
        if not isinstance(spec, dict):
            if len(parts) == 1 and _single_key(node) is not None:
                return _Copy(parts, node, loc)
            return _Field(parts, node, loc)
        cast = None
        if "cast" in spec:
            if spec["cast"] in CASTS:
                cast = CASTS.get(spec["cast"]).impl
            else:
                self.problem(spec, "cast", f"unknown cast {spec['cast']!r}", "known casts: " + ", ".join(CASTS.names()))
        return _Field(parts, node, loc, cast=cast, scale=spec.get("scale"),
                      default=spec.get("default", _MISSING), required=bool(spec.get("required", False)))

    def node(self, container: Any, key: Any, spec: Any, schema: Any) -> _Node | None:
        loc = container.value_locs.get(key) if isinstance(container, YDict) else (
            container.item_locs[key] if isinstance(container, YList) else None)
        if isinstance(spec, str):
            expr = self.jmespath(container, key, spec)
            if expr is not None:
                self.check_source(container, key, expr)
            return _Expr(expr, loc) if expr else None
        if not isinstance(spec, dict):
            if spec is None or isinstance(spec, bool | int | float):
                self.problem(container, key, f"a field value must be an expression string or a mapping, got {spec!r}",
                             "write constants as {const: VALUE}")
            else:
                self.problem(container, key, "a field value must be an expression string or a mapping")
            return None
        forms = [form for form in VALUE_FORMS if form in spec and not (form == "fields" and "each" in spec)]
        if len(forms) != 1:
            if not forms:
                self.problem(container, key, "no value form given", "use one of: " + ", ".join(VALUE_FORMS))
            else:
                self.problem(container, key, f"more than one value form: {', '.join(forms)}", "keep exactly one")
            return None
        return FORMS.get(forms[0]).impl(self, spec, loc, schema)

    def lookup(self, spec: YDict, loc: Location | None) -> _Node | None:
        name = spec["lookup"]
        table = self.tables.get(name)
        if table is None:
            close = difflib.get_close_matches(str(name), list(self.tables), n=1)
            self.problem(spec, "lookup", f"unknown lookup table {name!r}",
                         f"did you mean {close[0]!r}?" if close else "declare it under `lookups:`")
            return None
        if "from" not in spec:
            self.problem(spec, "lookup", "a lookup needs `from`: the expression whose value is looked up",
                         f"write {{lookup: {name}, from: EXPRESSION}}")
            return None
        source = self.node(spec, "from", spec["from"], None)
        return _Lookup(table, source, loc) if source else None

    def each(self, spec: YDict, loc: Location | None, schema: Any) -> _Node | None:
        source = self.node(spec, "each", spec["each"], None)
        item_schema = self.schema_lookup.items(schema) if self.schema_lookup and schema else None
        if "fields" in spec and "value" in spec:
            self.problem(spec, "value", "`each` takes `fields` (objects) or `value` (anything), not both")
            return None
        saved = self.source_items
        self.source_items = self._source_item_schema(spec)
        try:
            if "fields" in spec:
                item = self.object(spec["fields"], spec, "fields", item_schema)
            elif "value" in spec:
                item = self.node(spec, "value", spec["value"], item_schema)
            else:
                item = _Expr(self.exprs.jmespath("@"), loc)
        finally:
            self.source_items = saved
        keep = self.node(spec, "filter", spec["filter"], None) if "filter" in spec else None
        limit = spec.get("limit")
        if not (source and item):
            return None
        return _Each(source, item, keep, limit, loc)

    # -- canonical checks (only when the mapping names a canonical source or target)

    source_items: Any = None

    def _source_item_schema(self, spec: YDict) -> Any:
        """The schema of the items `each` walks, or _UNKNOWN when the list is computed."""
        base = self.source_items if self.source_items is not None else self.source_schema
        if not self.schema_lookup or base is None or base is _UNKNOWN:
            return _UNKNOWN
        text = spec.get("each")
        if not (isinstance(text, str) and _SIMPLE.match(text.strip())):
            return _UNKNOWN
        node = base
        for part in text.strip().split("."):
            node = self.schema_lookup.property(node, part)
            if node is None:
                return _UNKNOWN
        return self.schema_lookup.items(node) or _UNKNOWN

    source_schema: Any = None

    def check_source(self, container: Any, key: Any, expr: Any) -> None:
        """Each field an expression reads from the record must be a field of the canonical
        source (or of the item an `each` walks), when that shape is known and closed."""
        base = self.source_items if self.source_items is not None else self.source_schema
        if not self.schema_lookup or base is None or base is _UNKNOWN or self.schema_lookup.is_open(base):
            return
        for first, offset in current_fields(expr):
            if self.schema_lookup.property(base, first) is None:
                names = self.schema_lookup.property_names(base)
                close = difflib.get_close_matches(first, names, n=1)
                where = {} if isinstance(expr, FieldPath) else {"offset": offset}
                self.problem(container, key, f"unknown canonical field {first!r} in the source",
                             f"did you mean {close[0]!r}?" if close else "known: " + ", ".join(names), **where)
                return

    def check_target(self, fields: Any, target: Any, parts: tuple[str, ...], schema: Any) -> Any:
        if not (self.schema_lookup and schema is not None):
            return None
        node = schema
        for i, part in enumerate(parts):
            child = self.schema_lookup.property(node, part)
            if child is None:
                names = self.schema_lookup.property_names(node)
                if not names and self.schema_lookup.is_open(node):
                    return None
                close = difflib.get_close_matches(part, names, n=1)
                where = ".".join(parts[:i]) or "the top level"
                self.problem(fields, target, f"unknown canonical field {part!r} at {where}",
                             f"did you mean {close[0]!r}?" if close else "known: " + ", ".join(names), at_key=True)
                return None
            node = child
        return node

    def check_required(self, fields: Any, container: Any, key: Any, schema: Any) -> None:
        if not (self.schema_lookup and schema is not None) or not isinstance(fields, dict):
            return
        produced = {str(target).split(".")[0] for target in fields}
        for name in self.schema_lookup.required(schema):
            if name not in produced:
                self.problem(container, key, f"required target field {name!r} is not mapped",
                             f"add `{name}:` under these fields", at_key=True)


# ------------------------------------------------------------------------------ the value forms
# Each compiles `spec` (the field's mapping, holding exactly this form's key) into a node, or
# records a problem and returns None. `$ref`s in the options schemas point into the mapping schema.

_VALUE = "#/$defs/value"
_FIELDS = {"$ref": "#/$defs/fields", "description": "Target field -> value, like the top-level `fields:` "
           "(with each: built once per item)."}


@FORMS.register(
    "path",
    options_schema={"type": "object", "required": ["path"], "properties": {
        "path": {"type": "string", "description": "JMESPath expression."}}},
    doc="A JMESPath expression, as a plain string is; written out when modifiers follow (cast, default, required).",
    examples=[Example({"sku": {"path": "variants[0].sku", "required": True}}, {"sku": "TEE-S"},
                      input={"variants": [{"sku": "TEE-S"}]})],
)
def _path_form(c: _Compiler, spec: YDict, loc: Location | None, schema: Any) -> _Node | None:
    expr = c.jmespath(spec, "path", spec["path"])
    if expr is not None:
        c.check_source(spec, "path", expr)
    return _Expr(expr, loc) if expr else None


@FORMS.register(
    "template",
    options_schema={"type": "object", "required": ["template"], "properties": {
        "template": {"type": "string", "description": "Jinja template (sandboxed, undefined names are errors). "
                     "Sees the record's fields, record, root, parent and ctx."}}},
    doc="A sandboxed Jinja template, rendered to text; the registered functions work as filters and globals.",
    examples=[Example({"label": {"template": "{{ title }} ({{ ctx.region }})"}}, {"label": "Tee (US)"},
                      input={"title": "Tee"}, context={"region": "US"})],
)
def _template_form(c: _Compiler, spec: YDict, loc: Location | None, schema: Any) -> _Node | None:
    expr = c.template(spec, "template", spec["template"])
    return _Expr(expr, loc) if expr else None


@FORMS.register(
    "const",
    options_schema={"type": "object", "required": ["const"], "properties": {
        "const": {"description": "A constant value."}}},
    doc="A constant value of any type (a bare number or boolean would not be an expression).",
    examples=[Example({"currency": {"const": "USD"}}, {"currency": "USD"}, input={})],
)
def _const_form(c: _Compiler, spec: YDict, loc: Location | None, schema: Any) -> _Node | None:
    return _Const(spec["const"], loc)


@FORMS.register(
    "lookup",
    options_schema={"type": "object", "required": ["lookup", "from"], "properties": {
        "lookup": {"type": "string", "description": "Name of a table under `lookups`."},
        "from": {"$ref": _VALUE, "description": "With lookup: the value to look up."}}},
    doc="The value of `from` looked up in a table under `lookups:`; a miss without a table default is a field error.",
    examples=[Example({"status": {"lookup": "status", "from": "status"}}, {"status": "active"}, input={"status": "ACTIVATE"},
                      extra={"lookups": {"status": {"values": {"ACTIVATE": "active", "SELLER_DEACTIVATED": "draft"},
                                                    "default": "draft"}}})],
)
def _lookup_form(c: _Compiler, spec: YDict, loc: Location | None, schema: Any) -> _Node | None:
    return c.lookup(spec, loc)


@FORMS.register(
    "each",
    options_schema={"type": "object", "required": ["each"], "properties": {
        "each": {"type": "string", "description": "JMESPath giving a list; `fields` or `value` runs once per item."},
        "filter": {"$ref": _VALUE, "description": "With each: keep items for which this is truthy."},
        "limit": {"type": "integer", "minimum": 1, "description": "With each: keep at most this many items."},
        "value": {"$ref": _VALUE, "description": "With each: the value made from each item (when items are not objects)."},
        "fields": _FIELDS}},
    doc="One output item per item of a list: `fields` builds an object, `value` anything else; "
        "`filter` and `limit` choose the items.",
    examples=[Example(
        {"variants": {"each": "variants", "filter": "price != null",
                      "fields": {"sku": "sku", "price": {"path": "price", "cast": "decimal", "scale": 2}}}},
        {"variants": [{"sku": "TEE-S", "price": "10.00"}]},
        input={"variants": [{"sku": "TEE-S", "price": "10"}, {"sku": "TEE-M", "price": None}]})],
)
def _each_form(c: _Compiler, spec: YDict, loc: Location | None, schema: Any) -> _Node | None:
    return c.each(spec, loc, schema)


@FORMS.register(
    "fields",
    options_schema={"type": "object", "required": ["fields"], "properties": {"fields": _FIELDS}},
    doc="A nested object, built field by field like the top-level `fields:`.",
    examples=[Example({"weight": {"fields": {"value": "weight", "unit": {"const": "GRAM"}}}},
                      {"weight": {"value": "250", "unit": "GRAM"}}, input={"weight": "250"})],
)
def _fields_form(c: _Compiler, spec: YDict, loc: Location | None, schema: Any) -> _Node | None:
    return c.object(spec["fields"], spec, "fields", schema)


@FORMS.register(
    "if",
    options_schema={"type": "object", "required": ["if"], "properties": {
        "if": {"$ref": _VALUE, "description": "Condition; truthy picks `then`, otherwise `else`."},
        "then": {"$ref": _VALUE, "description": "With if: the value when the condition is truthy."},
        "else": {"$ref": _VALUE, "description": "With if: the value otherwise; without it the key is left out."}}},
    doc="A condition picks `then` or `else`; truthiness is JMESPath's (0 is true, empty text and lists are false).",
    examples=[Example({"status": {"if": "inventory_quantity > `0`", "then": {"const": "ACTIVE"},
                                  "else": {"const": "SOLD_OUT"}}},
                      {"status": "SOLD_OUT"}, input={"inventory_quantity": 0})],
)
def _if_form(c: _Compiler, spec: YDict, loc: Location | None, schema: Any) -> _Node | None:
    cond = c.node(spec, "if", spec["if"], None)
    then = c.node(spec, "then", spec["then"], schema) if "then" in spec else None
    other = c.node(spec, "else", spec["else"], schema) if "else" in spec else None
    return _If(cond, then, other, loc) if cond else None


@FORMS.register(
    "coalesce",
    options_schema={"type": "object", "required": ["coalesce"], "properties": {
        "coalesce": {"type": "array", "minItems": 1, "items": {"$ref": _VALUE},
                     "description": "The first value that is not null or empty."}}},
    doc="The first of several values that is not null, empty text or an empty list.",
    examples=[Example({"title": {"coalesce": ["seo_title", "title"]}}, {"title": "Tee"},
                      input={"seo_title": "", "title": "Tee"})],
)
def _coalesce_form(c: _Compiler, spec: YDict, loc: Location | None, schema: Any) -> _Node | None:
    options = spec["coalesce"]
    if not isinstance(options, list) or not options:
        c.problem(spec, "coalesce", "`coalesce` needs a list of values to try in order")
        return None
    nodes = [c.node(options, i, option, schema) for i, option in enumerate(options)]
    return _Coalesce([n for n in nodes if n], loc) if all(nodes) else None


VALUE_FORMS = tuple(entry.name for entry in FORMS.declared())


def _path_of(container: Any, key: Any) -> str:
    return format_path((*getattr(container, "path", ()), *(() if key is None else (key,))))


def compile_mapping(doc: YDict, exprs: ExpressionCompiler | None = None, schemas: Any | None = None) -> MappingPlan:
    """Compile a loaded mapping document. Raises SpecError listing every problem found."""
    compiler = _Compiler(doc, exprs or ExpressionCompiler(), schemas)
    target_schema = None
    if schemas is not None:
        source = doc.get("source") or {}
        target = doc.get("target") or {}
        if isinstance(source, dict) and source.get("canonical"):
            compiler.source_schema = schemas.entity(source["canonical"])
            if compiler.source_schema is None:
                compiler.problem(source, "canonical", f"unknown canonical entity {source['canonical']!r}",
                                 "known: " + ", ".join(schemas.entity_names()))
        if isinstance(target, dict) and target.get("canonical"):
            target_schema = schemas.entity(target["canonical"])
            if target_schema is None:
                compiler.problem(target, "canonical", f"unknown canonical entity {target['canonical']!r}",
                                 "known: " + ", ".join(schemas.entity_names()))
    root = compiler.object(doc.get("fields") or YDict(), doc, "fields", target_schema)
    if compiler.problems:
        raise SpecError(compiler.problems)
    required = sorted(schemas.required(target_schema)) if schemas and target_schema else []
    return MappingPlan(str(doc.get("name", "")), root, doc, required)


def locate_field(doc: YDict, dotted: str) -> Location | None:
    return locate(doc, ["fields", *dotted.split(".")])
