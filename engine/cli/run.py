"""`connector run`, `runs` and `dlq`: the commands that touch state and the network."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from engine.cli import exit_codes
from engine.cli.exit_codes import CliError
from engine.diffs import changes
from engine.project.secrets import REDACTOR

console = Console()
log = logging.getLogger("engine.cli")


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


def print_report(report: Any) -> None:
    table = Table(title=f"{report.merchant} / {report.flow}" + (" (dry run: nothing written)" if report.dry_run else
                                                                 f"  run {report.run_id}"))
    table.add_column("action")
    table.add_column("records", justify="right")
    for action, count in sorted(report.counts.items()):
        table.add_row(action, str(count))
    table.add_row("total", str(sum(report.counts.values())), style="bold")
    console.print(table)
    if report.dry_run:
        for result in report.results:
            if result["action"] in ("skip",):
                continue
            console.print(f"[bold]{result['action']}[/bold] {result['key']}")
            if result["action"] == "dead_letter":
                console.print(f"    {result['error']['message']}")
                continue
            for line in field_diff(result.get("previous"), result.get("canonical"))[:20]:
                console.print(f"    {REDACTOR.text(line)}")
    letters = [r for r in report.results if r["action"] == "dead_letter"]
    if letters and not report.dry_run:
        console.print(f"{len(letters)} record(s) in the dead-letter queue: `connector dlq list {report.merchant}`")
    if report.status != "ok":
        console.print(f"[red]run {report.status}: {report.error}[/red]")
    console.print(f"{report.seconds:.1f} s")


def _flow_of(merchant: Any, flow: str) -> str:
    if flow not in merchant.flow_names():
        raise CliError(f"merchant {merchant.name} has no flow {flow!r}; its flows: "
                       f"{', '.join(merchant.flow_names()) or 'none'}", exit_codes.USAGE)
    return flow


def _run_started(merchant: Any, flow: str, dry_run: bool) -> None:
    log.info("%s / %s: %s", merchant.name, flow, "dry run" if dry_run else "run")


def _run_finished(report: Any) -> int:
    code = exit_codes.for_report(report)
    log.info("%s / %s: %s %s, counts %s, exit %d", report.merchant, report.flow, report.run_id, report.status,
             report.counts, code)
    return code


def register(main: click.Group) -> None:
    @main.command()
    @click.argument("merchant_file", type=click.Path(exists=True, path_type=Path))
    @click.argument("flow")
    @click.option("--dry-run", is_flag=True, help="Show what would be created, updated or skipped; write nothing.")
    @click.option("--limit", type=int, help="Process at most N records.")
    def run(merchant_file: Path, flow: str, dry_run: bool, limit: int | None) -> None:
        """Run FLOW of the merchant in MERCHANT_FILE.

        Exit 0 when every record synced, 3 when records were dead-lettered, 4 when a platform outage
        or an auth failure ended the run; see README.md, "Exit codes"."""
        from engine.flow.runner import FlowRun, Merchant

        merchant = Merchant(merchant_file)
        try:
            flow_run = FlowRun(merchant, _flow_of(merchant, flow), dry_run=dry_run, limit=limit)
            _run_started(merchant, flow, dry_run)
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(f"{flow}", total=limit)
                report = flow_run.run(progress=lambda record, action: progress.advance(task))
            print_report(report)
        finally:
            merchant.close()
        sys.exit(_run_finished(report))

    @main.command()
    @click.argument("merchant_file", type=click.Path(exists=True, path_type=Path))
    @click.option("--run", "run_id", help="Show the per-record results of one run.")
    @click.option("--status", help="With --run: only results with this status.")
    def runs(merchant_file: Path, run_id: str | None, status: str | None) -> None:
        """List runs, or one run's per-record results."""
        from engine.flow.runner import Merchant

        merchant = Merchant(merchant_file)
        try:
            store = merchant.store
            if run_id:
                table = Table("entity", "key", "action", "status", "detail", title=f"run {run_id}")
                for row in store.run_results(run_id, status=status):
                    table.add_row(row["entity"], row["key"], row["action"], row["status"],
                                  REDACTOR.text(json.dumps(row.get("detail") or {}))[:80])
            else:
                table = Table("run", "flow", "status", "started", "counts", title=f"runs of {merchant.name}")
                for row in store.list_runs(merchant=merchant.name):
                    counts = (row.get("summary") or {}).get("counts", {})
                    table.add_row(row["run_id"], row["flow"], row.get("status") or "running", row["started_at"],
                                  ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
            console.print(table)
        finally:
            merchant.close()

    @main.group()
    def dlq() -> None:
        """The dead-letter queue: records that failed, with their payload and root error."""

    @dlq.command("list")
    @click.argument("merchant_file", type=click.Path(exists=True, path_type=Path))
    @click.option("--all", "show_all", is_flag=True, help="Include resolved and replayed entries.")
    def dlq_list(merchant_file: Path, show_all: bool) -> None:
        from engine.flow.runner import Merchant

        merchant = Merchant(merchant_file)
        try:
            table = Table("id", "flow", "key", "step", "attempts", "error", "status")
            for row in merchant.store.list_dead_letters(merchant=merchant.name, status=None if show_all else "open"):
                error = row.get("error") or {}
                first = (error.get("field_errors") or [{}])[0]
                text = error.get("message", "") + (f" ({first.get('field')}: {first.get('message')})" if first else "")
                table.add_row(str(row["id"]), row["flow"], row["key"], row["step"], str(row["attempts"]),
                              REDACTOR.text(text)[:100], row["status"])
            console.print(table)
        finally:
            merchant.close()

    @dlq.command("show")
    @click.argument("merchant_file", type=click.Path(exists=True, path_type=Path))
    @click.argument("dlq_id", type=int)
    def dlq_show(merchant_file: Path, dlq_id: int) -> None:
        from engine.flow.runner import Merchant

        merchant = Merchant(merchant_file)
        try:
            row = merchant.store.get_dead_letter(dlq_id)
            if row is None:
                raise CliError(f"no dead letter {dlq_id}", exit_codes.USAGE)
            click.echo(REDACTOR.text(json.dumps(row, indent=2, default=str)))
        finally:
            merchant.close()

    @dlq.command("replay")
    @click.argument("merchant_file", type=click.Path(exists=True, path_type=Path))
    @click.argument("flow")
    @click.option("--id", "ids", type=int, multiple=True, help="Only these entries (default: all open of FLOW).")
    @click.option("--payload", type=click.Path(exists=True, path_type=Path),
                  help="With one --id: replace the stored payload with this JSON file first (a hand fix).")
    def dlq_replay(merchant_file: Path, flow: str, ids: tuple[int, ...], payload: Path | None) -> None:
        """Run FLOW again on its dead-lettered records, with the current configuration.

        Exits like `connector run`: 3 while records still fail."""
        from engine.flow.runner import FlowRun, Merchant, replay_records

        merchant = Merchant(merchant_file)
        try:
            if payload is not None:
                if len(ids) != 1:
                    raise click.UsageError("--payload needs exactly one --id")
                merchant.store.update_dead_letter_payload(ids[0], json.loads(payload.read_text(encoding="utf-8")))
            flow_run = FlowRun(merchant, _flow_of(merchant, flow))
            _run_started(merchant, flow, False)
            report = flow_run.run(records=replay_records(merchant.store, merchant.name, flow, list(ids) or None))
            print_report(report)
        finally:
            merchant.close()
        sys.exit(_run_finished(report))

    @dlq.command("resolve")
    @click.argument("merchant_file", type=click.Path(exists=True, path_type=Path))
    @click.argument("dlq_id", type=int)
    @click.option("--note", default="", help="Why it needs no replay.")
    def dlq_resolve(merchant_file: Path, dlq_id: int, note: str) -> None:
        from engine.flow.runner import Merchant

        merchant = Merchant(merchant_file)
        try:
            if merchant.store.get_dead_letter(dlq_id) is None:
                raise CliError(f"no dead letter {dlq_id}", exit_codes.USAGE)
            merchant.store.resolve_dead_letter(dlq_id, note)
            click.echo(f"resolved {dlq_id}")
        finally:
            merchant.close()
