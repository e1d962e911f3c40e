"""`connector run`, `runs` and `dlq`: the commands that touch state and the network."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import Progress
from rich.text import Text

from engine import decimal_json
from engine.cli import exit_codes
from engine.cli.common import merchant_argument, open_merchant, shell_path
from engine.cli.exit_codes import CliError
from engine.cli.render import (
    RecordTable,
    command,
    console,
    dead_letter_table,
    error_lines,
    field_diff,
    letter_label,
    plain_table,
    print_report,
    text,
)
from engine.project.secrets import REDACTOR

__all__ = ["console", "field_diff", "print_report", "register", "replay_dead_letters"]

log = logging.getLogger("engine.cli")


def _flow_of(merchant: Any, flow: str) -> str:
    if flow not in merchant.flow_names():
        raise CliError(f"merchant {merchant.name} has no flow {flow!r}; its flows: "
                       f"{', '.join(merchant.flow_names()) or 'none'}", exit_codes.USAGE)
    return flow


def _print_event_replays(merchant: Any, ids: list[int] | None, results: list) -> int:
    """The results of replaying dead-lettered webhook events; the exit code."""
    if not results:
        console.print(f"no open dead-lettered events of {merchant.name}" + (" with those ids" if ids else ""))
        return exit_codes.USAGE if ids else exit_codes.OK
    table = plain_table(f"webhook events replayed for {merchant.name}: {len(results)}")
    for name in ("id", "event", "result"):
        table.add_column(name, overflow="fold")
    for result in results:
        cell = text(result.status)
        if result.error:
            cell.append("\n" + REDACTOR.text(result.error), style="red")
        table.add_row(text(str(result.letter_id)), text(result.key), cell)
    console.print(table)
    statuses = {r.status for r in results}
    if statuses & {"failed", "gone"}:
        return exit_codes.DEAD_LETTERED
    return exit_codes.BUSY if "waiting" in statuses else exit_codes.OK


def _run_started(merchant: Any, flow: str, dry_run: bool) -> None:
    log.info("%s / %s: %s", merchant.name, flow, "dry run" if dry_run else "run")


def _run_finished(report: Any) -> int:
    code = exit_codes.for_report(report)
    log.info("%s / %s: %s %s, counts %s, exit %d", report.merchant, report.flow, report.run_id, report.status,
             report.counts, code)
    return code


def _detail_cell(detail: dict) -> Text:
    """A result's detail: the record's label first (dead letters), then the other fields."""
    cell = Text()
    if detail.get("label"):
        cell.append(REDACTOR.text(str(detail["label"])) + "\n", style="bold")
    parts = []
    for key, value in detail.items():
        if key == "label" or value in (None, "", [], {}):
            continue
        parts.append(f"{key}: {value if isinstance(value, str) else json.dumps(value, default=str)}")
    cell.append(REDACTOR.text(", ".join(parts)))
    return cell


def replay_dead_letters(merchant: Any, flow: str, ids: list[int] | None = None, payload: Any = None) -> Any:
    """Run `flow` again on its open dead letters (`ids`, or all of the flow's), with the current
    configuration; `payload` first replaces the stored payload of the one id given (a hand fix).
    Returns the run's report; for flow `webhooks` (dead-lettered events, replayed through the flows
    they trigger) the list of each event's result. What `connector dlq replay` does, and the
    operations page's replay button."""
    from engine.flow.runner import FlowRun, replay_records
    from engine.serve.workers import EVENTS_FLOW

    if payload is not None:
        if not ids or len(ids) != 1:
            raise CliError("a fixed payload replaces the payload of exactly one dead letter", exit_codes.USAGE)
        if merchant.store.get_dead_letter(ids[0]) is None:
            raise CliError(f"no dead letter {ids[0]}", exit_codes.USAGE)
        merchant.store.update_dead_letter_payload(ids[0], payload)
    if flow == EVENTS_FLOW and flow not in merchant.flow_names():
        from engine.serve.replay import replay_dead_lettered_events

        return replay_dead_lettered_events(merchant, list(ids or []) or None)
    flow_run = FlowRun(merchant, _flow_of(merchant, flow))
    _run_started(merchant, flow, False)
    return flow_run.run(records=replay_records(merchant.store, merchant.name, flow, list(ids or []) or None))


def register(main: click.Group) -> None:
    @main.command()
    @merchant_argument()
    @click.argument("flow")
    @click.option("--dry-run", is_flag=True, help="Show what would be created (the full body), updated (the field "
                                                  "changes) or dead-lettered (the failed rules); write nothing.")
    @click.option("--limit", type=int, help="Process at most N records.")
    def run(merchant_file: Path, flow: str, dry_run: bool, limit: int | None) -> None:
        """Run FLOW of the merchant in MERCHANT_FILE (the file, or its folder).

        Exit 0 when every record synced, 3 when records were dead-lettered, 4 when a platform outage
        or an auth failure ended the run; see README.md, "Exit codes"."""
        from engine.flow.runner import FlowRun

        with open_merchant(merchant_file) as merchant:
            flow_run = FlowRun(merchant, _flow_of(merchant, flow), dry_run=dry_run, limit=limit)
            _run_started(merchant, flow, dry_run)
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(f"{flow}", total=limit)
                report = flow_run.run(progress=lambda record, action: progress.advance(task))
            print_report(report, merchant_file)
        sys.exit(_run_finished(report))

    @main.command()
    @merchant_argument()
    @click.option("--run", "run_id", help="Show the per-record results of one run.")
    @click.option("--status", help="With --run: only results with this status (ok, skipped, dead_letter, failed).")
    def runs(merchant_file: Path, run_id: str | None, status: str | None) -> None:
        """List the recent runs of the merchant, or one run's per-record results."""
        with open_merchant(merchant_file) as merchant:
            store = merchant.store
            if run_id:
                if store.get_run(run_id) is None:
                    raise CliError(f"no run {run_id!r} in the state of {merchant.name}; "
                                   f"`connector runs {merchant_file}` lists them", exit_codes.USAGE)
                rows = store.run_results(run_id, status=status)
                entities = sorted({row["entity"] for row in rows})
                table = RecordTable(f"run {run_id}" + (f" ({entities[0]})" if len(entities) == 1 else ""), "detail")
                for name in (["entity"] if len(entities) > 1 else []) + ["key", "action", "status"]:
                    table.add_column(name)
                for row in rows:
                    cells = [text(row["entity"])] if len(entities) > 1 else []
                    cells += [text(row["key"]), text(row["action"]), text(row["status"])]
                    table.add_row(cells, _detail_cell(row.get("detail") or {}))
            else:
                table = RecordTable(f"runs of {merchant.name}, most recent first", "started (UTC) and counts",
                                    min_text=20)
                for name in ("run", "flow", "status"):
                    table.add_column(name)
                for row in store.list_runs(merchant=merchant.name):
                    summary = row.get("summary") or {}
                    counts = ", ".join(f"{k} {v}" for k, v in sorted((summary.get("counts") or {}).items()))
                    when = (row.get("started_at") or "")[:19].replace("T", " ")
                    cell = text(when + (f"\n{counts}" if counts else ""))
                    if summary.get("error"):
                        cell.append("\n" + REDACTOR.text(str(summary["error"])), style="red")
                    table.add_row([text(row["run_id"]), text(row["flow"]), text(row.get("status") or "running")], cell)
            console.print(table)
            if not run_id:  # a connection whose circuit breaker is open: its runs end at once until it closes
                from engine.http.breaker import describe

                for name in (merchant.doc.get("connections") or {}):
                    state = store.get_breaker(name)
                    if state and state.get("state") != "closed":
                        console.print(Text(f"connection {name}: {REDACTOR.text(describe(state))}", style="bold red"))

    @main.group()
    def dlq() -> None:
        """The dead-letter queue: records that failed, with their payload and root error."""

    @dlq.command("list")
    @merchant_argument()
    @click.option("--all", "show_all", is_flag=True, help="Include resolved and replayed entries.")
    @click.option("--flow", help="Only this flow's entries.")
    def dlq_list(merchant_file: Path, show_all: bool, flow: str | None) -> None:
        """List the dead letters of the merchant: each record's title and SKUs, and the rule or field that failed."""
        with open_merchant(merchant_file) as merchant:
            rows = merchant.store.list_dead_letters(merchant=merchant.name, flow=flow,
                                                    status=None if show_all else "open")
            which = "dead letters" if show_all else "open dead letters"
            flows = sorted({row["flow"] for row in rows})
            title = f"{which} of {merchant.name}" + (f", flow {flows[0]}" if len(flows) == 1 else "") + f": {len(rows)}"
            if not rows:
                console.print(title)
                return
            console.print(dead_letter_table(rows, title=title, show_status=show_all))
            console.print("Details and payload:")
            command(console, f"connector dlq show {shell_path(merchant_file)} ID")

    @dlq.command("show")
    @merchant_argument()
    @click.argument("dlq_id", type=int)
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                  help="json: the whole stored entry, as `dlq replay --payload` takes its payload.")
    def dlq_show(merchant_file: Path, dlq_id: int, fmt: str) -> None:
        """One dead letter: the record, every failed rule or field, the error chain and the payload."""
        with open_merchant(merchant_file) as merchant:
            row = merchant.store.get_dead_letter(dlq_id)
            if row is None or row.get("merchant") not in (None, merchant.name):
                raise CliError(f"no dead letter {dlq_id} for {merchant.name}; `connector dlq list {merchant_file}` "
                               "lists them", exit_codes.USAGE)
        if fmt == "json":
            click.echo(REDACTOR.text(json.dumps(row, indent=2, default=str, ensure_ascii=False)))
            return
        error = row.get("error") or {}
        grid = plain_table(f"dead letter {row['id']} of {row['merchant']}, flow {row['flow']}: {row['status']}")
        grid.show_header = False
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold", ratio=1)
        label = letter_label(row)
        for name, value in (("record", label), ("key", row["key"]), ("step", row["step"]),
                            ("tries", row.get("attempts")), ("run", row.get("run_id")),
                            ("error", error.get("message")), ("note", row.get("note"))):
            if value not in (None, ""):
                grid.add_row(name, text(value))
        failed = error_lines(error) if error.get("field_errors") else []
        for index, line in enumerate(failed):
            grid.add_row("failed" if index == 0 else "", text(line))
        for index, line in enumerate((error.get("chain") or [])[1:]):  # the first is the error itself
            grid.add_row("cause" if index == 0 else "", text(line))
        console.print(grid)
        console.print()
        console.print(Text("payload", style="bold") + text(" (to fix it by hand, save it as FIXED.json, edit it, "
                                                           "then replay it):"))
        command(console, f"connector dlq replay {shell_path(merchant_file)} {shell_path(row['flow'])} "
                         f"--id {row['id']} --payload FIXED.json")
        # Not wrapped, so that it stays JSON when copied or piped.
        console.print(text(json.dumps(row.get("payload"), indent=2, default=str, ensure_ascii=False)),
                      soft_wrap=True)

    @dlq.command("replay")
    @merchant_argument()
    @click.argument("flow")
    @click.option("--id", "ids", type=int, multiple=True, help="Only these entries (default: all open of FLOW).")
    @click.option("--payload", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="With one --id: replace the stored payload with this JSON file first (a hand fix).")
    def dlq_replay(merchant_file: Path, flow: str, ids: tuple[int, ...], payload: Path | None) -> None:
        """Run FLOW again on its dead-lettered records, with the current configuration.

        FLOW `webhooks`: the events given up on, processed again now through the flows they
        trigger. Exits like `connector run`: 3 while records still fail."""
        if payload is not None and len(ids) != 1:
            raise click.UsageError("--payload needs exactly one --id")
        with open_merchant(merchant_file) as merchant:
            fixed = None
            if payload is not None:
                try:
                    fixed = decimal_json.loads(payload.read_text(encoding="utf-8"))
                except json.JSONDecodeError as exc:
                    raise CliError(f"{payload} is not JSON: {exc}", exit_codes.USAGE) from None
            report = replay_dead_letters(merchant, flow, list(ids), fixed)
            if isinstance(report, list):  # dead-lettered webhook events
                sys.exit(_print_event_replays(merchant, list(ids) or None, report))
            print_report(report, merchant_file)
        sys.exit(_run_finished(report))

    @dlq.command("resolve")
    @merchant_argument()
    @click.argument("dlq_id", type=int)
    @click.option("--note", default="", help="Why it needs no replay.")
    def dlq_resolve(merchant_file: Path, dlq_id: int, note: str) -> None:
        """Close a dead letter by hand (fixed elsewhere, or not worth replaying)."""
        with open_merchant(merchant_file) as merchant:
            if merchant.store.get_dead_letter(dlq_id) is None:
                raise CliError(f"no dead letter {dlq_id}", exit_codes.USAGE)
            merchant.store.resolve_dead_letter(dlq_id, note)
        click.echo(f"resolved {dlq_id}")
