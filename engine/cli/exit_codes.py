"""The exit codes of every `connector` command, defined once (README.md, "Exit codes", shows the same table).

A scheduler or CI job decides from the code alone whether to page someone (4: the platform or the
credentials), to open the dead-letter queue (3), or to fix the project (1).
"""

from __future__ import annotations

from typing import Any

import click

OK = 0  # everything synced; every check passed
CONFIG = 1  # configuration or check failed: validate problems, a bad merchant file or secret reference,
#             failing test cases, a mapping that fails on its input, SKU audit findings
USAGE = 2  # the command line is wrong: unknown command or option, missing argument, no such file (click's own)
DEAD_LETTERED = 3  # the run finished, but records went to the dead-letter queue
PLATFORM = 4  # a platform outage or an auth failure: the run ended early, or the platform refused the credentials
UNEXPECTED = 5  # anything else (the state store cannot be opened, a bug): one line; `connector -v` shows the traceback
BUSY = 6  # another run of the same merchant flow is still going: nothing was done; try again later
INTERRUPTED = 130  # Ctrl-C

TABLE = [  # for `connector --help`; README.md explains each at length
    (OK, "success: every record synced, every check passed"),
    (CONFIG, "configuration or check failed (validate, test, map, audit-skus)"),
    (USAGE, "usage error: bad option or argument; no such file, flow or id"),
    (DEAD_LETTERED, "the run finished, but records were dead-lettered"),
    (PLATFORM, "platform outage or auth failure (the run ended early)"),
    (UNEXPECTED, "unexpected error; `connector -v ...` shows the traceback"),
    (BUSY, "another run of the same flow is still going; nothing was done"),
    (INTERRUPTED, "interrupted (Ctrl-C)"),
]


class CliError(click.ClickException):
    """An error for the person at the terminal: one message, one exit code, no traceback."""

    def __init__(self, message: str, code: int = CONFIG) -> None:
        super().__init__(message)
        self.exit_code = code

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def for_report(report: Any) -> int:
    """The exit code of a finished run (or replay): an early end beats dead letters, which beat success."""
    if report.status != "ok":
        return PLATFORM
    letters = [r for r in report.results if r.get("action") == "dead_letter"]
    if any((r.get("error") or {}).get("type") == "AuthError" for r in letters):
        return PLATFORM  # the platform refused the credentials record by record: a person must act
    return DEAD_LETTERED if letters else OK
