"""What every benchmark row shares: the row itself, interleaved rounds, the one table, helpers.

A row is one figure measured against a baseline doing the same work in the same process. Rounds
alternate the measured side and the baseline, so that a machine that slows down for a while
slows both; each side's figure is the median of its rounds, and the ratio is the median of the
per-round ratios. Absolute figures are shown, never judged: only ratios are held to a goal.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Config:
    full: bool = False  # the sizes (100k products and the like) instead of the quick ones
    rounds: int = 5
    seed: int = 42

    def size(self, quick: int, full: int) -> int:
        return full if self.full else quick


@dataclass
class Row:
    id: str
    what: str
    value: str = ""
    baseline: str = ""
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None  # None: not judged (not built yet, a note, or no goal on this row)
    note: str = ""  # "not built yet (issue 11)", "mapping not present", a failure...
    extra: dict[str, Any] = field(default_factory=dict)  # raw figures for --json


def not_built(id: str, what: str, goal: str, why: str) -> Row:
    return Row(id, what, goal=goal, note=why)


def interleaved(sides: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each side once per round, in turn (the order alternating between rounds), and return
    every side's figures. A side returns its own figure (a rate or a time)."""
    names = list(sides)
    figures: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        order = names if index % 2 == 0 else list(reversed(names))
        for name in order:
            figures[name].append(sides[name]())
    return figures


def median_ratio(top: list[float], bottom: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(top, bottom, strict=True) if b)


def rate(fn: Callable[[Any], Any], items: list) -> Callable[[], float]:
    """A side that maps every item once and returns items per second."""

    def run() -> float:
        start = time.perf_counter()
        for item in items:
            fn(item)
        return len(items) / (time.perf_counter() - start)

    return run


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two JSON-like values first differ, as a path with both values; None when equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'the engine' if key in a else 'the baseline'}"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b and type(a) is type(b) else f"{path}: {a!r} vs {b!r}"


def fmt_rate(value: float, unit: str = "/s") -> str:
    return f"{value:,.0f}{unit}" if value >= 100 else f"{value:,.1f}{unit}"


def fmt_secs(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    fork and exec, so a child started by a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def print_table(rows: list[Row], *, title: str, file: Any = None) -> None:
    """One table at 80 columns; a row's long note goes below it as a numbered footnote."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file, width=80, highlight=False, soft_wrap=False)
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left", width=80)
    table.add_column("id", no_wrap=True, width=3)
    table.add_column("what", overflow="fold", min_width=18)
    # Folded rather than cut: at 80 columns rich drops what does not fit.
    table.add_column("value", justify="right", overflow="fold", max_width=13)
    table.add_column("baseline", justify="right", overflow="fold", max_width=11)
    table.add_column("ratio", justify="right", no_wrap=True)
    table.add_column("goal", overflow="fold", max_width=12)
    notes: list[str] = []
    for row in rows:
        note = ""
        if row.note:
            if len(row.note) <= 16:
                note = row.note
            else:
                notes.append(row.note)
                note = f"see [{len(notes)}]"
        if not row.value:
            table.add_row(row.id, row.what, f"[dim]{note}[/dim]", "", "", row.goal)
            continue
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        goal = row.goal + ("" if row.met is None else " ok" if row.met else " [bold]NO[/bold]")
        what = row.what + (f" [dim]({note})[/dim]" if note else "")
        table.add_row(row.id, what, row.value, row.baseline, ratio, goal)
    console.print(table)
    for index, note in enumerate(notes, start=1):
        console.print(f"[{index}] {note}", markup=False)


def standalone(doc: str | None, rows: Any, title: str, argv: list[str] | None = None, *, rounds: bool = False) -> None:
    """A bench file run on its own (`python bench/p4_rerun.py [--full]`): its rows as one table."""
    import argparse

    parser = argparse.ArgumentParser(description=(doc or title).splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's sizes instead of the quick ones")
    if rounds:
        parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print_table(rows(Config(full=args.full, rounds=getattr(args, "rounds", 5))), title=title)
