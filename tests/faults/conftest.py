"""The fault suite's end-of-run table: what the suite injected and what it measured.

Each scenario of test_fault_suite.py adds its measured figures to FIGURES (`record`); at the end
of the session pytest_terminal_summary prints one row per scenario and a total. The figures that
must be zero are asserted zero by the scenarios themselves; the table shows them.
"""

from __future__ import annotations

from fault_table import COLUMNS, FIGURES


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if not FIGURES:
        return
    width = max(len("scenario"), *(len(name) for name in FIGURES))
    head = "scenario".ljust(width) + "".join(f" | {c:>{len(c)}}" for c in COLUMNS)
    terminalreporter.write_sep("=", "fault suite")
    terminalreporter.write_line(head)
    terminalreporter.write_line("-" * len(head))
    total = dict.fromkeys(COLUMNS, 0)
    for name, row in FIGURES.items():
        terminalreporter.write_line(name.ljust(width) + "".join(f" | {row[c]:>{len(c)}}" for c in COLUMNS))
        for c in COLUMNS:
            total[c] += row[c]
    if len(FIGURES) > 1:
        terminalreporter.write_line("-" * len(head))
        terminalreporter.write_line("total".ljust(width) + "".join(f" | {total[c]:>{len(c)}}" for c in COLUMNS))
