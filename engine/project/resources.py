"""Where the shipped YAML and schema folders are, in a checkout or in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # engine/
_SHIPPED = _PACKAGE / "_shipped"  # the wheel puts connectors/, mappings/... here
_CHECKOUT = _PACKAGE.parent  # a source checkout or an editable install

FOLDERS = ("connectors", "mappings", "flows", "rules", "schemas")


def shipped(folder: str) -> Path:
    """The shipped copy of one of FOLDERS."""
    if folder not in FOLDERS:
        raise ValueError(f"not a shipped folder: {folder}")
    for base in (_SHIPPED, _CHECKOUT):
        candidate = base / folder
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the shipped {folder}/ folder is missing from this installation")


def schemas_dir() -> Path:
    return shipped("schemas")
