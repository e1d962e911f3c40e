"""`connector audit-skus`: duplicate and unmatched SKUs across a merchant's channels, before they
cost a wrong match. Exits 1 when a channel has duplicate or missing SKUs, so it can gate CI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from engine.cli import exit_codes
from engine.cli.common import merchant_argument, open_merchant
from engine.cli.render import console
from engine.flow.sku_audit import ChannelAudit

SHOWN = 10  # examples per finding in the table; --format json has them all


def print_audit(reports: list[ChannelAudit], skipped: list[str]) -> None:
    summary = Table("connection", title="SKU audit")
    for column in ("products", "SKUs", "duplicate SKUs", "variants without SKU", "not on channel", "orphans"):
        summary.add_column(column, justify="right")
    for r in reports:
        compared = r.compared_with is not None
        summary.add_row(r.connection, str(r.products), str(r.skus), str(len(r.duplicates)),
                        str(sum(b["variants_without_sku"] for b in r.blanks)),
                        str(len(r.missing)) if compared else "-", str(len(r.orphans)) if compared else "-",
                        style=None if r.clean else "red")
    console.print(summary)
    for r in reports:
        for sku, owners in list(r.duplicates.items())[:SHOWN]:
            used = ", ".join(f"{o['key']} ({o['title'][:40]})" for o in owners)
            console.print(f"[red]{r.connection}[/red]: SKU {sku!r} is used by {used}")
        for blank in r.blanks[:SHOWN]:
            console.print(f"[red]{r.connection}[/red]: {blank['key']} ({blank['title'][:40]}) has "
                          f"{blank['variants_without_sku']} variant(s) without a SKU")
        if r.missing:
            console.print(f"{r.connection}: {len(r.missing)} SKU(s) of {r.compared_with} are not listed here, "
                          f"e.g. {', '.join(r.missing[:SHOWN])}")
        if r.orphans:
            console.print(f"{r.connection}: {len(r.orphans)} SKU(s) here are not in {r.compared_with}, "
                          f"e.g. {', '.join(r.orphans[:SHOWN])}")
    for line in skipped:
        console.print(f"skipped {line}")


def register(main: click.Group) -> None:
    @main.command("audit-skus")
    @merchant_argument()
    @click.option("--connection", "only", multiple=True, help="Audit only this connection (repeatable).")
    @click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
    @click.option("--strict", is_flag=True, help="Also exit 1 when a channel lacks primary SKUs or has orphans.")
    def audit_skus(merchant_file: Path, only: tuple[str, ...], fmt: str, strict: bool) -> None:
        """Find duplicate, missing and unmatched SKUs in every channel of MERCHANT_FILE (reads only)."""
        from engine.flow.sku_audit import audit_merchant

        with open_merchant(merchant_file) as merchant:
            try:
                reports, skipped = audit_merchant(merchant, list(only) or None)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None
        if fmt == "json":
            click.echo(json.dumps({"channels": [r.as_dict() for r in reports], "skipped": skipped}, indent=2))
        else:
            print_audit(reports, skipped)
        failed = any(not r.clean for r in reports) or (strict and any(r.missing or r.orphans for r in reports))
        sys.exit(exit_codes.CONFIG if failed else exit_codes.OK)
