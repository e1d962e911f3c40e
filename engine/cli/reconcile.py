"""`connector reconcile`: compare every SKU's salable stock with what the channel holds, repair
exactly the SKUs in drift, and print each of them."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from engine.cli import exit_codes
from engine.cli.common import merchant_argument, open_merchant, shell_path
from engine.cli.exit_codes import CliError
from engine.cli.render import RecordTable, command, console, text

log = logging.getLogger("engine.cli")


def drift_rows(report: Any) -> list[dict]:
    """One row per SKU in drift: listing, SKU, what it may sell, what the channel offered, and
    what was done (repaired, would repair, or why it failed)."""
    rows = []
    for result in report.results:
        detail = result.get("detail") or {}
        for entry in detail.get("drift") or []:
            rows.append({"listing": result["key"], "sku": entry["sku"], "salable": entry["salable"],
                         "channel": entry["channel"], "result": entry["result"]})
        if result["action"] == "dead_letter":
            for item in (result.get("error") or {}).get("field_errors") or []:
                field = str(item.get("field", ""))
                if field.startswith("skus[") and "salable" in item:
                    rows.append({"listing": result["key"], "sku": field[5:-1], "salable": item["salable"],
                                 "channel": item.get("channel", "?"), "result": f"failed: {item.get('message')}"})
    return sorted(rows, key=lambda row: (row["listing"], row["sku"]))


def compared(report: Any) -> tuple[int, int]:
    """SKUs and listings compared."""
    listings = [r for r in report.results if "compared" in (r.get("detail") or {})]
    return sum(r["detail"]["compared"] for r in listings), len(listings)


def print_reconciliation(report: Any, merchant_file: Any = None, *, out: Any = None) -> None:
    out = out or console
    rows = drift_rows(report)
    skus, listings = compared(report)
    head = Text(f"{report.merchant} / {report.flow}  ", style="bold")
    head.append("reconciliation, dry run: nothing written" if report.dry_run else f"reconciliation {report.run_id}",
                style="bold")
    out.print(head)
    out.print(f"{skus} SKU{'s' * (skus != 1)} of {listings} listing{'s' * (listings != 1)} compared with the "
              f"channel; {len(rows)} in drift.")
    if rows:
        table = RecordTable(None, "result", min_text=16)
        for name, justify in (("listing", "left"), ("sku", "left"), ("salable", "right"), ("channel", "right")):
            table.add_column(name, justify)
        for row in rows:
            style = "red" if row["result"].startswith("failed") else ""
            table.add_row([text(row["listing"]), text(row["sku"]), str(row["salable"]), str(row["channel"])],
                          text(row["result"], style))
        out.print(table)
    repaired = sum(row["result"] == "repaired" for row in rows)
    failed = sum(row["result"].startswith("failed") for row in rows)
    if report.dry_run:
        out.print(f"{len(rows)} SKU{'s' * (len(rows) != 1)} would be repaired; nothing else would be written.")
    elif rows:
        out.print(f"Repaired {repaired} SKU{'s' * (repaired != 1)}" + (f"; {failed} failed" if failed else "")
                  + "; no other SKU was written.")
    others = [r for r in report.dead_letters
              if not any(str(i.get("field", "")).startswith("skus[") and "salable" in i
                         for i in (r.get("error") or {}).get("field_errors") or [])]
    if others:
        out.print(Text(f"{len(others)} listing{'s' * (len(others) != 1)} could not be compared:", style="red"))
        for result in others:
            out.print(text(f"  {result['key']}: {(result.get('error') or {}).get('message', '')}", "red"))
    if failed or others:
        out.print("See them, with their errors:")
        command(out, f"connector dlq list {shell_path(merchant_file) if merchant_file else 'MERCHANT_FILE'}")
    if report.status != "ok":
        out.print(Text(f"The reconciliation ended early ({report.status}): ", style="bold red")
                  + text(report.error, "red"))
    out.print(f"{report.seconds:.1f} s")


def register(main: click.Group) -> None:
    @main.command()
    @merchant_argument()
    @click.argument("flow")
    @click.option("--dry-run", is_flag=True, help="Read both sides and show the drift; write nothing.")
    def reconcile(merchant_file: Path, flow: str, dry_run: bool) -> None:
        """Compare every SKU's salable stock with the channel's, for the stock FLOW of the merchant
        in MERCHANT_FILE (its local name, e.g. inventory); repair each SKU in drift, and only those.

        Each listing is compared and repaired under its SKUs' locks, after reading both sides again,
        so a reconciliation may run beside the flow's own runs and webhooks. Exit 0 when every
        drift was repaired, 3 when some could not be, 4 when a platform outage ended it."""
        from engine.flow.runner import FlowRun

        with open_merchant(merchant_file) as merchant:
            if flow not in merchant.flow_names():
                raise CliError(f"merchant {merchant.name} has no flow {flow!r}; its flows: "
                               f"{', '.join(merchant.flow_names()) or 'none'}", exit_codes.USAGE)
            kinds = {step.kind for step in merchant.plan.flow(merchant.name, flow).steps}
            if "stock" not in kinds:
                raise CliError(f"flow {flow!r} of merchant {merchant.name} writes no stock (it has no stock step); "
                               "name the merchant's inventory flow", exit_codes.USAGE)
            log.info("%s / %s: reconciliation%s", merchant.name, flow, " (dry run)" if dry_run else "")
            report = FlowRun(merchant, flow, dry_run=dry_run, mode="reconcile").run()
            print_reconciliation(report, merchant_file)
        sys.exit(exit_codes.for_report(report))
