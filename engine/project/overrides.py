"""Merchant overrides: a shared mapping or flow as one merchant sees it, merged key by key with
the merchant's `overrides:` block, every value keeping the position of the file it came from.

The rules (README.md, "Overrides"):

- Mappings merge key by key (`lookups:`, `context:`, `fields:` ...); a null value removes a key.
- A mapping field given with a value form (path, template, const, lookup, each, fields, if,
  coalesce) replaces the shared field entirely: changing `lookup` to `if`, or a string to a
  `template`, needs no nulling of the old keys.
- A field given with modifiers only (cast, default, required, ...) merges into the shared field.
- `fields:` alone merges into the item fields of a shared `each` (or a nested `fields` object).
- Flows merge key by key; lists (such as `steps:`) are replaced whole.
"""

from __future__ import annotations

from typing import Any

from engine.project.loader import Document, Project
from engine.project.yamlpos import YDict, copy_entry

VALUE_FORMS = ("path", "template", "const", "lookup", "each", "fields", "if", "coalesce")
# Keys of a field form whose value is itself a field value (merged by the same rules).
VALUE_POSITIONS = ("from", "filter", "value", "then", "else")


def merge(base: Any, override: Any) -> Any:
    """Deep-merge `override` onto `base`. Mappings merge key by key, anything else replaces,
    and a null override value removes the key. Each merged value keeps the position (and field
    path) of the file it came from, so an error in an override points at the merchant file.
    """
    return _merge(base, override, _merge_child)


def _merge_child(key: Any, base: Any, value: Any) -> Any:
    return merge(base, value) if isinstance(base, dict) else value


def _merge(base: Any, override: Any, child: Any) -> Any:
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    # the merged mapping exists because the override names it: field paths follow the override
    out = YDict(loc=getattr(base, "loc", None), path=getattr(override, "path", None) or getattr(base, "path", ()))
    for key in base:
        copy_entry(out, base, key)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
            continue
        copy_entry(out, override, key, child(key, base[key], value) if key in base else value)
    return out


def merge_mapping(base: Any, override: Any) -> Any:
    """A mapping document with a merchant's partial mapping merged in (the rules above)."""
    return _merge(base, override, lambda key, old, new: merge_fields(old, new) if key == "fields"
                  else _merge_child(key, old, new))


def merge_fields(base: Any, override: Any) -> Any:
    """`fields:` blocks: target field by target field."""
    return _merge(base, override, lambda key, old, new: merge_field(old, new))


def form_of(spec: Any) -> str | None:
    """The value form of a field (`each` for an each with fields), None for modifiers only."""
    if not isinstance(spec, dict):
        return "path" if isinstance(spec, str) else None
    forms = [form for form in VALUE_FORMS if form in spec and not (form == "fields" and "each" in spec)]
    return forms[0] if forms else None


def extends_fields(base: Any, override: Any) -> bool:
    """True when `override` is `fields:` (plus modifiers) aimed at the fields of an each or object."""
    return (isinstance(base, dict) and isinstance(override, dict) and form_of(override) == "fields"
            and form_of(base) in ("each", "fields"))


def merge_field(base: Any, override: Any) -> Any:
    """One field: a value form replaces, modifiers merge, `fields:` extends an each or object."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    if extends_fields(base, override):
        return _merge(base, override, lambda key, old, new: merge_fields(old, new) if key == "fields"
                      else _merge_child(key, old, new))
    if form_of(override) is not None:
        return override
    return _merge(base, override, lambda key, old, new: merge_field(old, new) if key in VALUE_POSITIONS
                  else _merge_child(key, old, new))


def effective(project: Project, merchant: Document | None, kind: str, name: str) -> YDict | None:
    """The document `name` of `kind` as a merchant sees it (shared file + the merchant's override)."""
    base = project.get(kind, name)
    if base is None:
        return None
    overrides = ((merchant.doc.get("overrides") or {}).get(kind + "s") or {}) if merchant else {}
    if not isinstance(overrides, dict):
        return base.doc
    if name in overrides and isinstance(overrides[name], dict):
        return merge_mapping(base.doc, overrides[name]) if kind == "mapping" else merge(base.doc, overrides[name])
    return base.doc
