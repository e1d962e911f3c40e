"""Merchant overrides: a shared mapping or flow as one merchant sees it, merged key by key with
the merchant's `overrides:` block, every value keeping the position of the file it came from."""

from __future__ import annotations

from typing import Any

from engine.project.loader import Document, Project
from engine.project.yamlpos import YDict


def merge(base: Any, override: Any) -> Any:
    """Deep-merge `override` onto `base`. Mappings merge key by key, anything else replaces,
    and a null override value removes the key. Each merged value keeps the position (and field
    path) of the file it came from, so an error in an override points at the merchant file.
    """
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    # the merged mapping exists because the override names it: field paths follow the override
    out = YDict(loc=getattr(base, "loc", None), path=getattr(override, "path", None) or getattr(base, "path", ()))
    for key, value in base.items():
        out[key] = value
        _copy_locs(out, base, key)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
            continue
        out[key] = merge(base[key], value) if key in base and isinstance(base[key], dict) else value
        _copy_locs(out, override, key)
    return out


def _copy_locs(target: YDict, source: Any, key: Any) -> None:
    if isinstance(source, YDict):
        if key in source.key_locs:
            target.key_locs[key] = source.key_locs[key]
        if key in source.value_locs:
            target.value_locs[key] = source.value_locs[key]
        if key in source.spans:
            target.spans[key] = source.spans[key]
        else:
            target.spans.pop(key, None)


def effective(project: Project, merchant: Document | None, kind: str, name: str) -> YDict | None:
    """The document `name` of `kind` as a merchant sees it (shared file + the merchant's override)."""
    base = project.get(kind, name)
    if base is None:
        return None
    overrides = ((merchant.doc.get("overrides") or {}).get(kind + "s") or {}) if merchant else {}
    if name in overrides and isinstance(overrides[name], dict):
        return merge(base.doc, overrides[name])
    return base.doc


