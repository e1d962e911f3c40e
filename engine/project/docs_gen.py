"""The reference a consultant reads (docs/reference/), written from the registries.

Every step kind, mapping value form, cast, function, auth kind, paginator, rate-limit and verifier kind is
declared once in code with its options schema, a one-line doc and examples; this module renders
those declarations as Markdown, one file per section. `connector docs` writes them; tests/docs
checks the committed files are current and runs every example, so the reference never lies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from engine.registry import Entry, Example, Registry

WRITE_COMMAND = "connector docs"
HEADER = "<!-- Generated from the registries by `connector docs`; do not edit by hand. -->\n\n"


def render_reference(registries: dict[str, Registry]) -> dict[str, str]:
    """File name -> Markdown text."""
    files = {
        "steps.md": _steps(registries["step"]),
        "mappings.md": _mappings(registries["form"], registries["cast"]),
        "functions.md": _functions(registries["function"]),
        "connectors.md": _connectors(registries["auth"], registries["paginator"], registries["rate_limit"],
                                     registries["verifier"], registries["request"]),
    }
    files["README.md"] = _index(registries)
    return {name: HEADER + text.rstrip("\n") + "\n" for name, text in sorted(files.items())}


# ------------------------------------------------------------------------------ sections


def _index(registries: dict[str, Registry]) -> str:
    def names(key: str, declared: bool = False) -> str:
        registry = registries[key]
        entries = registry.declared() if declared else registry.entries()
        return ", ".join(f"`{e.name}`" for e in entries)

    return f"""# Reference

What the engine understands, generated from the one place each piece is declared in code
(`engine/registry.py` registries), so it is always the engine's own word. Regenerate with
`connector docs`; the JSON Schemas in `schemas/` come from the same declarations
(`connector schemas --write`).

| section | what |
|---|---|
| [Flow steps](steps.md) | {names("step")} |
| [Mappings](mappings.md) | value forms {names("form", True)}; casts {names("cast", True)} |
| [Functions](functions.md) | {names("function")} |
| [Connectors](connectors.md) | auth {names("auth")}; paginators {names("paginator")}; rate limits {names("rate_limit")}; webhook verifiers {names("verifier")}; request kinds {names("request")} |
"""


def _steps(steps: Registry) -> str:
    out = ["# Flow steps", "",
           "A flow's `steps:` is a list; each item is one step kind with its options, `- KIND: {options}`.",
           "Records go through the steps in order; a record that fails a step goes to the dead-letter queue",
           "with the step and the reason, and the run goes on.", ""]
    out += _contents(steps.entries(), "step")
    for entry in steps.entries():
        out += [f"## `{entry.name}`", "", entry.doc, ""]
        out += _options_table(entry.options_schema)
    return "\n".join(out)


def _mappings(forms: Registry, casts: Registry) -> str:
    from engine.lang.mapping import MODIFIERS

    out = ["# Mappings", "",
           "A mapping's `fields:` maps each target field (dotted for nesting: `package.weight.value`) to a",
           "value. A plain string is a JMESPath expression over the current record; a mapping holds exactly",
           "one of the value forms below, plus optional modifiers. A null result leaves the key out.", "",
           "## Value forms", ""]
    out += _contents(forms.declared(), "form")
    for entry in forms.declared():
        out += [f"### `{entry.name}`", "", entry.doc, ""]
        out += _options_table(entry.options_schema)
        out += _field_examples(entry.examples)
    out += ["## Modifiers", "", "Any value form may also carry these keys.", "",
            "| key | type | description |", "|---|---|---|"]
    cast_names = ", ".join(f"`{c.name}`" for c in casts.declared())
    for key, schema in MODIFIERS.items():
        kind = f"one of {cast_names}" if key == "cast" else _type_text(schema)
        out.append(f"| `{key}` | {kind} | {_cell(schema.get('description', ''))} |")
        if key == "cast":
            for cast in casts.declared():
                for option, option_schema in cast.options_schema.get("properties", {}).items():
                    out.append(f"| `{option}` | {_type_text(option_schema)} | "
                               f"{_cell(option_schema.get('description', ''))} |")
    out += ["", "## Casts", "", "`cast:` converts a field's value after it is read; a value that does not convert is a",
            "field error of that record.", ""]
    for entry in casts.declared():
        out += [f"### `{entry.name}`", "", entry.doc, ""]
        if entry.options_schema.get("properties"):
            out += _options_table(entry.options_schema)
        out += _field_examples(entry.examples)
    return "\n".join(out)


def _functions(functions: Registry) -> str:
    out = ["# Functions", "",
           "Registered functions work in JMESPath (`money_mul(price, '1.2')`) and in Jinja templates, as",
           "globals and as filters (`{{ price | money_mul('1.2') }}`). JMESPath's own built-ins (`length`,",
           "`join`, `contains`, `not_null`, ... see jmespath.org) are there too. Money is a decimal string",
           "in and out; nothing is ever a float. Types are JMESPath's; `?` marks an optional argument.", "",
           "| function | what |", "|---|---|"]
    for entry in functions.entries():
        out.append(f"| [`{entry.name}`](#{entry.name}) | {_cell(entry.doc)} |")
    out.append("")
    for entry in functions.entries():
        out += [f"## {entry.name}", "", f"`{entry.signature.text(entry.name)}`", "", entry.doc, ""]
        for example in entry.examples:
            out += ["```text"]
            if example.input is not None:
                out.append(f"record:  {_json(example.input)}")
            if example.parent is not None:
                out.append(f"parent:  {_json(example.parent)}")
            if example.context:
                out.append(f"context: {_json(example.context)}")
            out += [example.source, f"=> {_json(example.result)}", "```", ""]
    return "\n".join(out)


def _connectors(auth: Registry, paginators: Registry, rate_limits: Registry, verifiers: Registry,
                requests: Registry) -> str:
    out = ["# Connectors: auth, pagination, rate limits, webhook verifiers", "",
           "A connector spec names one kind for each and gives the kind's options next to `kind:`:", "",
           "```yaml", "auth: {kind: header_token, header: X-Api-Key}", "rate_limit: {kind: token_bucket, rate: 2, burst: 40}",
           "operations:", "  list_products:", "    paginate: {kind: link_header, stop_on: [missing_link]}", "```", ""]
    for title, registry, key, intro in (
        ("Auth kinds", auth, "auth", "How each request is authenticated, and how an expired credential is renewed."),
        ("Paginators", paginators, "paginate", "How an operation's pages are read. Each names its stop rules "
         "(`stop_on`) and a loop guard (`max_pages`); a repeated token or URL is always an error."),
        ("Rate limits", rate_limits, "rate_limit", "A per-connection limiter: a call waits before it is sent "
         "instead of earning a 429. Without `rate_limit:` the kind is `none`."),
        ("Webhook verifiers", verifiers, "webhooks.verifier", "How `connector serve` checks that an inbound webhook "
         "comes from the platform, before anything is stored: the connector's `webhooks:` section names one "
         "(`webhooks: {verifier: {kind: KIND, ...}, event_id: ..., topic: ...}`). A missing, badly encoded, "
         "forged or tampered signature is refused with 401, compared in constant time."),
        ("Request kinds", requests, "request", "How an operation's body is built when the API is not plain REST: "
         "`request: {kind: KIND, ...}` next to the operation's method and path."),
    ):
        out += [f"## {title}", "", intro, ""]
        for entry in registry.entries():
            out += [f"### `{entry.name}`", "", entry.doc, ""]
            credentials = getattr(entry.impl, "credential_names", ())
            if credentials:
                out += ["Credentials the connection must supply: " + ", ".join(f"`{c}`" for c in credentials)
                        + ".", ""]
            read = tuple(getattr(entry.impl, "credential_options", {}).values())
            if read:
                out += ["Credentials a connection supplies to receive webhooks (these names by default; the "
                        "options name others): " + ", ".join(f"`{c}`" for c in read) + ".", ""]
            out += _options_table(entry.options_schema, skip=("kind",), empty=f"No options besides `{key}: "
                                  f"{{kind: {entry.name}}}`.")
    return "\n".join(out)


# ------------------------------------------------------------------------------ pieces


def _contents(entries: list[Entry], what: str) -> list[str]:
    rows = [f"| {what} | what |", "|---|---|"]
    rows += [f"| `{e.name}` | {_cell(e.doc)} |" for e in entries]
    return [*rows, ""]


def _options_table(schema: dict[str, Any], *, skip: tuple[str, ...] = (), empty: str = "No options.") -> list[str]:
    rows = _option_rows(schema, "", skip)
    if not rows:
        return [empty, ""]
    lines = ["| option | type | default | required | description |", "|---|---|---|---|---|"]
    for name, kind, default, required, description in rows:
        lines.append(f"| `{name}` | {kind} | {default} | {required} | {_cell(description)} |")
    return [*lines, ""]


def _option_rows(schema: dict[str, Any], prefix: str, skip: tuple[str, ...]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    required = set(schema.get("required", []))
    for name, sub in (schema.get("properties") or {}).items():
        if name in skip:
            continue
        default = f"`{_json(sub['default'])}`" if "default" in sub else ""
        rows.append((prefix + name, _type_text(sub), default, "yes" if name in required else "",
                     sub.get("description", "")))
        if sub.get("properties"):
            rows += _option_rows(sub, f"{prefix}{name}.", ())
        items = sub.get("items")
        if isinstance(items, dict) and items.get("properties"):
            rows += _option_rows(items, f"{prefix}{name}[].", ())
    return rows


_REF_NAMES = {"#/$defs/value": "value (expression or form)", "#/$defs/fields": "fields"}


def _type_text(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "any"
    if "$ref" in schema:
        return _REF_NAMES.get(schema["$ref"], schema["$ref"].rsplit("/", 1)[-1])
    if "const" in schema:
        return f"`{_json(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v if isinstance(v, str) else _json(v)}`" for v in schema["enum"])
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema and "type" not in schema:
            return " or ".join(_type_text(s) for s in schema[combinator])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        items = schema.get("items")
        return f"list of {_type_text(items)}" if isinstance(items, dict) else "list"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not schema.get("properties"):
            return f"map of {_type_text(extra)}"
        return "object"
    return kind or "any"


def _field_examples(examples: tuple[Example, ...]) -> list[str]:
    out = []
    for example in examples:
        out += ["Example:", "", "```yaml", *_yaml(example.extra or {}), "fields:",
                *("  " + line for line in _yaml(example.source)), "```", ""]
        record = f"on the record `{_json(example.input)}`" if example.input is not None else "on any record"
        context = f" with the context `{_json(example.context)}`" if example.context else ""
        out += [f"{record}{context} gives `{_json(example.result)}`.", ""]
    return out


def _yaml(value: dict[str, Any]) -> list[str]:
    if not value:
        return []
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)
    return text.rstrip("\n").split("\n")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def stale_reference(folder: Path, *, write: bool = False) -> list[str]:
    """The reference files in `folder` that differ from the registries, or should not be there
    (written, and the extra ones removed, with `write`)."""
    from engine.project.schema_gen import load_registries

    files = render_reference(load_registries())
    present = {p.name for p in folder.glob("*.md")} if folder.is_dir() else set()
    stale = sorted(name for name, text in files.items()
                   if name not in present or (folder / name).read_text(encoding="utf-8") != text)
    extra = sorted(present - set(files))
    if write:
        folder.mkdir(parents=True, exist_ok=True)
        for name in stale:
            (folder / name).write_text(files[name], encoding="utf-8")
        for name in extra:
            (folder / name).unlink()
    return stale + extra
