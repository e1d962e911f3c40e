"""The fault suite's figures (a uniquely named module, not conftest, so `from fault_table import`
is never another folder's conftest): each scenario records what it injected and measured."""

from __future__ import annotations

from collections import OrderedDict

COLUMNS = ("faults injected", "orders", "created", "duplicates", "lost", "oversold", "dead letters",
           "secrets found", "tracebacks", "hangs")
FIGURES: OrderedDict[str, dict[str, int]] = OrderedDict()


def record(scenario: str, **figures: int) -> None:
    row = FIGURES.setdefault(scenario, dict.fromkeys(COLUMNS, 0))
    for key, value in figures.items():
        column = key.replace("_", " ")
        if column not in row:
            raise KeyError(f"unknown column {key!r}")
        row[column] = int(value)
