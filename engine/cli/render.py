"""How run reports, runs and dead letters look on a terminal, readable at 80 columns.

Ids (run ids, record keys, dead-letter ids) sit in columns that never wrap or shorten, so they
can be copied whole; text (titles, errors) wraps between words in the one column that flexes.
Everything from a platform or a record is printed as text, never read as console markup, and
goes through the redactor first.
"""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from engine.diffs import changes
from engine.project.secrets import REDACTOR

console = Console()

SHOWN_LETTERS = 20  # dead letters listed under a run summary; `connector dlq list` has them all
SHOWN_FIELD_ERRORS = 5


def text(value: Any, style: str = "") -> Text:
    return Text(REDACTOR.text("" if value is None else str(value)), style=style)


def field_diff(previous: Any, current: Any) -> list[str]:
    """Readable field-level changes between the last pushed record and the new one."""
    if previous is None:
        return ["(new record)"]
    lines = []
    for change in changes(previous, current):
        if change.kind in ("changed", "type_changed"):
            lines.append(f"{change.path}: {change.old!r} -> {change.new!r}")
        elif change.kind == "added":
            lines.append(f"{change.path}: added {change.new!r}")
        elif change.kind == "removed":
            lines.append(f"{change.path}: removed")
        else:
            lines.append(f"{change.path}: {change.kind}")
    return lines


def error_lines(error: dict, limit: int = SHOWN_FIELD_ERRORS) -> list[str]:
    """One line per failed rule or field (`rule (field): message`), or the error message when the
    error has no field errors. A check failure is named by its rule, which is what to look up."""
    lines = []
    field_errors = error.get("field_errors") or []
    for item in field_errors[:limit]:
        where = item.get("field") or ""
        head = f"{item['rule']} ({where})" if item.get("rule") else where
        lines.append(f"{head}: {item.get('message', '')}" if head else str(item.get("message", "")))
    if len(field_errors) > limit:
        lines.append(f"... and {len(field_errors) - limit} more")
    return lines or [str(error.get("message", ""))]


def letter_cell(label: str, step: str, error: dict) -> Text:
    """The record's title and SKUs, then what failed where."""
    cell = Text()
    if label:
        cell.append(REDACTOR.text(label) + "\n", style="bold")
    lines = error_lines(error)
    if len(lines) > 1:  # the step's own message, then each failed rule or field
        message = str(error.get("message", ""))
        cell.append(REDACTOR.text(f"{step}: {message}" if step else message), style="red")
        for line in lines:
            cell.append("\n- " + REDACTOR.text(line))
    else:  # one failed rule or field says it all
        cell.append(REDACTOR.text(f"{step}: {lines[0]}" if step else lines[0]), style="red")
    return cell


def plain_table(title: str | None = None) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                 show_edge=False)


class RecordTable:
    """Rows of ids (never wrapped) and one text column that wraps. When the ids leave that column
    too little room (a long key, a narrow terminal), each row becomes a block instead: its ids on
    one line, the text indented below. Ids stay whole either way."""

    def __init__(self, title: str | None, text_column: str, *, min_text: int = 36) -> None:
        self.title, self.text_column, self.min_text = title, text_column, min_text
        self.columns: list[tuple[str, str]] = []  # (name, justify)
        self.rows: list[tuple[list[Text], Text]] = []

    def add_column(self, name: str, justify: str = "left") -> None:
        self.columns.append((name, justify))

    def add_row(self, cells: list[Any], wrapped: Text) -> None:
        self.rows.append(([c if isinstance(c, Text) else Text(str(c)) for c in cells], wrapped))

    def __rich_console__(self, console: Console, options: Any) -> Any:
        widths = [max([len(name), *(row[0][i].cell_len for row in self.rows)]) for i, (name, _) in
                  enumerate(self.columns)]
        if options.max_width - sum(w + 2 for w in widths) >= self.min_text:
            table = plain_table(self.title)
            for name, justify in self.columns:
                table.add_column(name, no_wrap=True, justify=justify)  # type: ignore[arg-type]
            table.add_column(self.text_column, overflow="fold", ratio=1)
            for cells, wrapped in self.rows:
                table.add_row(*cells, wrapped)
            yield table
            return
        if self.title:
            yield Text(self.title, style="italic")
        for cells, wrapped in self.rows:
            line = Text("  ").join(Text(f"{name} ", style="dim") + cell
                                   for (name, _), cell in zip(self.columns, cells, strict=True))
            yield line
            yield Padding(wrapped, (0, 0, 0, 4))


def dead_letter_table(rows: list[dict], *, title: str | None = None, show_status: bool = False) -> RecordTable:
    """Stored dead letters: id, key, tries (and flow, status when they differ), then the record and
    its error, which wrap."""
    flows = {row["flow"] for row in rows}
    table = RecordTable(title, "record and error")
    table.add_column("id", justify="right")
    if len(flows) > 1:
        table.add_column("flow")
    table.add_column("key")
    table.add_column("tries", justify="right")
    if show_status:
        table.add_column("status")
    for row in rows:
        error = row.get("error") or {}
        cells: list[Any] = [str(row["id"])]
        if len(flows) > 1:
            cells.append(text(row["flow"]))
        cells += [text(row["key"]), str(row.get("attempts", 1))]
        if show_status:
            cells.append(text(row["status"]))
        table.add_row(cells, letter_cell(letter_label(row), row.get("step", ""), error))
    return table


def letter_label(row: dict) -> str:
    """The stored label; for dead letters filed before labels were stored, one read from the payload."""
    label = (row.get("error") or {}).get("label")
    if label is None:
        from engine.flow.runner import FlowRun

        label = FlowRun.record_label(None, row.get("payload"))
    return label


def command(out: Console, line: str) -> None:
    """A command to copy: on a line of its own and never broken, even when longer than the terminal."""
    out.print(text("  " + line), soft_wrap=True)


def print_report(report: Any, merchant_file: Any = None, *, out: Console | None = None) -> None:
    """A run's summary; a dry run first shows, record by record, what would be written."""
    out = out or console
    if report.dry_run:
        print_plan(report, out)
    head = Text(f"{report.merchant} / {report.flow}  ", style="bold")
    head.append("dry run: nothing written" if report.dry_run else f"run {report.run_id}", style="bold")
    out.print()
    out.print(head)
    counts = plain_table()
    counts.add_column("action")
    counts.add_column("records", justify="right")
    for action, count in sorted(report.counts.items()):
        counts.add_row(action, str(count), style="red" if action == "dead_letter" else None)
    counts.add_row("total", str(sum(report.counts.values())), style="bold")
    out.print(counts)
    letters = report.dead_letters
    total = len(letters) + getattr(report, "letters_not_kept", 0)  # a large run keeps the first ones only
    if letters:
        verb = "would go" if report.dry_run else "went"
        out.print()
        out.print(Text(f"{total} record{'s' if total != 1 else ''} {verb} to the dead-letter queue:",
                       style="red"))
        table = RecordTable(None, "record and error")
        table.add_column("key")
        shown = letters if report.dry_run else letters[:SHOWN_LETTERS]  # a dry run has no queue to look in
        for result in shown:
            error = result.get("error") or {}
            table.add_row([text(result["key"])], letter_cell(error.get("label", ""), result.get("step", ""), error))
        out.print(table)
        if total > len(shown):
            out.print(f"... and {total - len(shown)} more")
        if not report.dry_run:
            from engine.cli.common import shell_path

            out.print("See them all, with their payloads:")
            command(out, f"connector dlq list {shell_path(merchant_file) if merchant_file else 'MERCHANT_FILE'}")
    refused = [r for r in letters if (r.get("error") or {}).get("type") == "AuthError"]
    if refused:
        out.print(Text(f"The platform refused the credentials for {len(refused)} record"
                       f"{'s' if len(refused) != 1 else ''}: fix them, then replay the dead letters "
                       "(`connector dlq replay`).", style="bold red"))
    if report.status != "ok":
        out.print(Text(f"The run ended early ({report.status}): ", style="bold red") + text(report.error, "red"))
    out.print(f"{report.seconds:.1f} s")


def print_plan(report: Any, out: Console) -> None:
    """Dry run: the full body of each create and the field changes of each update. The records that
    would be dead-lettered follow in the summary, with their failed rules."""
    from engine.flow.runner import FlowRun

    bodies = {(p["key"], p["action"]): p["body"] for p in report.planned}
    for result in report.results:
        action = result["action"]
        if action in ("skip", "dead_letter"):
            continue
        head = Text(action, style="bold")
        head.append(" ")
        head.append_text(text(result["key"]))
        label = FlowRun.record_label(result.get("canonical"), None)
        if label:
            head.append("  ")
            head.append_text(text(label))
        out.print(head)
        if action == "create" and (result["key"], action) in bodies:
            body = json.dumps(bodies[(result["key"], action)], indent=2, ensure_ascii=False, default=str)
            out.print(text("    the create would send:"))
            # Not wrapped, so that it stays JSON when copied or piped.
            out.print(text("\n".join("    " + line for line in body.splitlines())), soft_wrap=True)
            continue
        for line in field_diff(result.get("previous"), result.get("canonical"))[:20]:
            out.print(text(f"    {line}"))
