"""The pluggable parts of the file schemas, generated from the registries.

Every auth, paginator, rate-limit and step kind, every cast and every mapping value form is
declared once in code (engine/registry.py). This module turns those declarations into the
`$defs` entries of schemas/*.json that it owns, and splices them into the committed files, leaving
every hand-written byte of them as it is:

    connector.schema.json  auth, auth.KIND, paginate, paginate.KIND, rate_limit, rate_limit.KIND,
                           verifier, verifier.KIND
    flow.schema.json       step, step.KIND
    mapping.schema.json    value, form (the value forms, their modifiers and the cast enum)

The hand-written parts point at these with `$ref`. `connector schemas --write` rewrites them;
tests/docs checks that the committed files are what the registries say.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.project.resources import schemas_dir
from engine.registry import Entry, Registry

WRITE_COMMAND = "connector schemas --write"


def load_registries() -> dict[str, Registry]:
    """Import every module that registers kinds, and return the registries by what they hold."""
    import engine.flow.steps  # noqa: F401  (registers the step kinds)
    import engine.http  # noqa: F401  (auth, paginator and rate-limit kinds, and the platforms' kinds)
    from engine.flow.registry import STEPS
    from engine.http.auth import AUTH_KINDS
    from engine.http.graphql import REQUEST_KINDS
    from engine.http.paginate import PAGINATORS
    from engine.http.ratelimit import RATE_LIMITS
    from engine.http.verify import VERIFIERS
    from engine.lang.casts import CASTS
    from engine.lang.functions import FUNCTIONS
    from engine.lang.mapping import FORMS

    return {"auth": AUTH_KINDS, "paginator": PAGINATORS, "rate_limit": RATE_LIMITS, "step": STEPS,
            "cast": CASTS, "form": FORMS, "function": FUNCTIONS, "verifier": VERIFIERS,
            "request": REQUEST_KINDS}


# ------------------------------------------------------------------------------ the generated defs


def _kind_def(entry: Entry) -> dict[str, Any]:
    """A `{kind: NAME, ...options}` block's schema: the registered options schema, with the doc."""
    schema = copy.deepcopy(entry.options_schema)
    properties = schema.setdefault("properties", {})
    kind = properties.get("kind", {"const": entry.name})
    if "description" not in kind:
        properties["kind"] = {**kind, "description": f"Always `{entry.name}`."}
    return {"description": entry.doc, **{k: v for k, v in schema.items() if k != "description"}}


def _kind_dispatch(registry: Registry, prefix: str, what: str) -> dict[str, Any]:
    """`kind` picks which registered options schema applies (if/then, so an unknown kind is left
    to the compiler, whose message lists the known ones)."""
    names = registry.names()
    return {
        "type": "object",
        "required": ["kind"],
        "description": f"{what} Kinds: {', '.join(names)}; the other keys are the kind's options "
        "(docs/reference/connectors.md).",
        "properties": {
            "kind": {"type": "string", "examples": names,
                     "description": f"Registered {registry.kind} kind; the other keys are its options."},
        },
        "allOf": [
            {"if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
             "then": {"$ref": f"#/$defs/{prefix}.{name}"}}
            for name in names
        ],
    }


def connector_defs(registries: dict[str, Registry]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for key, prefix, what in (
        ("auth", "auth", "How requests are authenticated and expired credentials renewed."),
        ("paginator", "paginate", "How a list operation pages, with explicit `stop_on` rules and a `max_pages` guard."),
        ("rate_limit", "rate_limit", "Proactive per-connection limiter: a call waits instead of earning a 429."),
        ("verifier", "verifier", "How an inbound webhook proves it comes from the platform (checked before anything is stored)."),
        ("request", "request", "How an operation's request body is built when it is not plain REST (e.g. GraphQL)."),
    ):
        registry = registries[key]
        defs[prefix] = _kind_dispatch(registry, prefix, what)
        for entry in registry.entries():
            defs[f"{prefix}.{entry.name}"] = _kind_def(entry)
    return defs


def flow_defs(registries: dict[str, Registry]) -> dict[str, Any]:
    steps = registries["step"]
    defs: dict[str, Any] = {"step": {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "description": "One step: {STEP_KIND: options}. Kinds: " + ", ".join(steps.names())
        + " (docs/reference/steps.md).",
        "properties": {e.name: {"$ref": f"#/$defs/step.{e.name}", "description": e.doc} for e in steps.entries()},
    }}
    for entry in steps.entries():
        schema = copy.deepcopy(entry.options_schema)
        defs[f"step.{entry.name}"] = {"description": entry.doc, **{k: v for k, v in schema.items() if k != "description"}}
    return defs


def mapping_defs(registries: dict[str, Registry]) -> dict[str, Any]:
    from engine.lang.mapping import MODIFIERS

    forms = registries["form"].declared()
    casts = registries["cast"].declared()
    properties: dict[str, Any] = {}
    for form in forms:  # a key two forms share (each's `fields`) has one schema
        for key, schema in form.options_schema.get("properties", {}).items():
            if key in properties and properties[key] != schema:
                raise ValueError(f"value forms disagree on the schema of {key!r}")
            properties.setdefault(key, copy.deepcopy(schema))
    for key, schema in MODIFIERS.items():
        if key == "cast":
            properties["cast"] = {"enum": [c.name for c in casts], **schema}
            for cast in casts:  # the casts' own options (scale)
                for option, option_schema in cast.options_schema.get("properties", {}).items():
                    properties.setdefault(option, copy.deepcopy(option_schema))
        else:
            properties[key] = copy.deepcopy(schema)
    return {
        "value": {
            "description": "A JMESPath expression string, or a mapping with exactly one value form ("
            + ", ".join(f.name for f in forms) + ") and optional modifiers.",
            "anyOf": [
                {"type": "string", "description": "JMESPath, evaluated against the current record."},
                {"$ref": "#/$defs/form"},
            ],
        },
        "form": {"type": "object", "additionalProperties": False, "properties": properties},
    }


@dataclass(frozen=True)
class Generated:
    file: str
    build: Callable[[dict[str, Registry]], dict[str, Any]]
    names: frozenset[str]  # $defs keys it owns outright
    prefixes: tuple[str, ...]  # and every $defs key starting with one of these

    def owns(self, key: str) -> bool:
        return key in self.names or key.startswith(self.prefixes)


GENERATED = (
    Generated("connector.schema.json", connector_defs,
              frozenset({"auth", "paginate", "rate_limit", "verifier", "request"}),
              ("auth.", "paginate.", "rate_limit.", "verifier.", "request.")),
    Generated("flow.schema.json", flow_defs, frozenset({"step"}), ("step.",)),
    Generated("mapping.schema.json", mapping_defs, frozenset({"value", "form"}), ()),
)


# ------------------------------------------------------------------------------ splicing


def regenerate(text: str, target: Generated, registries: dict[str, Registry]) -> str:
    """The schema file `text` with the `$defs` entries `target` owns replaced by fresh ones."""
    defs = target.build(registries)
    top = _Scanner(text).object_members(_skip_ws(text, 0))
    found = [m for m in top if m.key == "$defs"]
    if not found:
        raise ValueError(f"{target.file} has no top-level \"$defs\" object to generate into")
    block = found[0]
    members = _Scanner(text).object_members(block.value_start)
    indent = _column(text, members[0].key_start) if members else _column(text, block.key_start) + 2
    pieces: list[str] = []
    placed = False
    for member in members:
        if target.owns(member.key):
            if not placed:
                pieces.extend(_member(name, value, indent) for name, value in defs.items())
                placed = True
            continue
        pieces.append(" " * indent + text[member.key_start:member.value_end])
    if not placed:
        pieces.extend(_member(name, value, indent) for name, value in defs.items())
    body = "{\n" + ",\n".join(pieces) + "\n" + " " * (indent - 2) + "}" if pieces else "{}"
    return text[:block.value_start] + body + text[block.value_end:]


def _member(name: str, value: Any, indent: int) -> str:
    head = " " * indent + json.dumps(name) + ": "
    return head + _dump(value, indent, len(head))


WIDTH = 120


# Lists of schemas: one per line unless the whole list fits on one.
_ONE_PER_LINE = frozenset({"properties", "$defs", "allOf", "anyOf", "oneOf"})


def _dump(value: Any, indent: int, column: int, key: str | None = None) -> str:
    """JSON laid out like the hand-written parts: one line where it fits in WIDTH columns or is
    shallow (a property's schema: scalars, lists and one level of nesting), else one member per line."""
    flat = json.dumps(value, ensure_ascii=False)
    if column + len(flat) <= WIDTH or (_depth(value) <= 2 and key not in _ONE_PER_LINE):
        return flat
    inner = indent + 2
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            head = " " * inner + json.dumps(key, ensure_ascii=False) + ": "
            lines.append(head + _dump(item, inner, len(head), key))
        return "{\n" + ",\n".join(lines) + "\n" + " " * indent + "}"
    lines = [" " * inner + _dump(item, inner, inner) for item in value]
    return "[\n" + ",\n".join(lines) + "\n" + " " * indent + "]"


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@dataclass(frozen=True)
class _Member:
    key: str
    key_start: int
    value_start: int
    value_end: int


class _Scanner:
    """Just enough JSON scanning to find the members of an object and where their values end."""

    def __init__(self, text: str) -> None:
        self.text = text

    def object_members(self, start: int) -> list[_Member]:
        text = self.text
        if text[start] != "{":
            raise ValueError(f"expected an object at offset {start}")
        members: list[_Member] = []
        pos = _skip_ws(text, start + 1)
        while text[pos] != "}":
            key_start = pos
            key_end = self.string_end(pos)
            key = json.loads(text[key_start:key_end])
            pos = _skip_ws(text, key_end)
            if text[pos] != ":":
                raise ValueError(f"expected ':' at offset {pos}")
            value_start = _skip_ws(text, pos + 1)
            value_end = self.value_end(value_start)
            members.append(_Member(key, key_start, value_start, value_end))
            pos = _skip_ws(text, value_end)
            if text[pos] == ",":
                pos = _skip_ws(text, pos + 1)
        return members

    def string_end(self, pos: int) -> int:
        text = self.text
        if text[pos] != '"':
            raise ValueError(f"expected a string at offset {pos}")
        pos += 1
        while text[pos] != '"':
            pos += 2 if text[pos] == "\\" else 1
        return pos + 1

    def value_end(self, pos: int) -> int:
        text = self.text
        if text[pos] == '"':
            return self.string_end(pos)
        if text[pos] in "{[":
            depth = 0
            while True:
                char = text[pos]
                if char == '"':
                    pos = self.string_end(pos)
                    continue
                if char in "{[":
                    depth += 1
                elif char in "}]":
                    depth -= 1
                    if depth == 0:
                        return pos + 1
                pos += 1
        while pos < len(text) and text[pos] not in ",}] \n\r\t":
            pos += 1
        return pos


def _skip_ws(text: str, pos: int) -> int:
    while text[pos] in " \n\r\t":
        pos += 1
    return pos


def _column(text: str, pos: int) -> int:
    return pos - (text.rfind("\n", 0, pos) + 1)


# ------------------------------------------------------------------------------ the command


def stale_schemas(folder: Path | None = None, *, write: bool = False) -> list[Path]:
    """The schema files whose generated parts differ from the registries (rewritten with `write`)."""
    folder = folder or schemas_dir()
    registries = load_registries()
    stale = []
    for target in GENERATED:
        path = folder / target.file
        text = path.read_text(encoding="utf-8")
        fresh = regenerate(text, target, registries)
        if fresh != text:
            stale.append(path)
            if write:
                path.write_text(fresh, encoding="utf-8")
    return stale
