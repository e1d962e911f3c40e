"""Field-level changes between two JSON-like values, for test failures and dry-run reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deepdiff import DeepDiff


@dataclass(frozen=True)
class Change:
    path: str  # e.g. ['variants'][0]['price'], relative to the compared values
    kind: str  # changed, type_changed, added, removed, or another DeepDiff report name
    old: Any = None
    new: Any = None


def changes(old: Any, new: Any) -> list[Change]:
    found = []
    for report, items in DeepDiff(old, new, verbose_level=2).items():
        for path, detail in (items.items() if isinstance(items, dict) else ((p, None) for p in items)):
            where = path.removeprefix("root")
            if report == "values_changed":
                found.append(Change(where, "changed", detail["old_value"], detail["new_value"]))
            elif report == "type_changes":
                found.append(Change(where, "type_changed", detail["old_value"], detail["new_value"]))
            elif "added" in report:
                found.append(Change(where, "added", new=detail))
            elif "removed" in report:
                found.append(Change(where, "removed", old=detail))
            else:
                found.append(Change(where, report, new=detail))
    return found
