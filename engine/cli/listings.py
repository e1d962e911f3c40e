"""`connector listings`: each product's listing status and audit result, as the last listing-status
run or event recorded them. Reads the state store only; it never calls a platform."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.markup import escape
from rich.table import Table

from engine.cli.common import merchant_argument, open_merchant
from engine.cli.render import console
from engine.project.overrides import effective
from engine.project.secrets import REDACTOR
from engine.project.yamlpos import plain

ENTITY = "product"
NOT_SEEN = "NOT_SEEN"  # listed by the catalog flow, but no status read back yet
STATUS_STYLE = {"ACTIVATE": "green", "FAILED": "red", "PENDING": "yellow", "DRAFT": "yellow",
                NOT_SEEN: "dim"}
WIDE = 100  # columns from which the table has room for titles


def tracking_connections(merchant: Any) -> list[str]:
    """Connections on which one of the merchant's flows tracks product state (a `track` step).
    Without such a flow: every connection that has products in the ID map."""
    found: list[str] = []
    for binding in (merchant.doc.get("flows") or {}).values():
        flow = effective(merchant.project, merchant.document, "flow", binding["flow"])
        roles = plain(binding.get("connections") or {})
        for raw in (flow or {}).get("steps") or []:
            kind, options = next(iter(raw.items()))
            if kind == "track" and (options or {}).get("entity") == ENTITY:
                name = roles.get(options.get("on"))
                if name and name not in found:
                    found.append(name)
    if found:
        return found
    return [name for name in (merchant.doc.get("connections") or {})
            if merchant.store.list_mappings(ENTITY, name)]


def listing_rows(store: Any, connections: list[str], statuses: set[str] | None = None) -> list[dict]:
    rows = []
    for connection in connections:
        for mapping in store.list_mappings(ENTITY, connection):
            extra = mapping.get("extra") or {}
            status = extra.get("status")
            if statuses and (status or NOT_SEEN).upper() not in statuses:
                continue
            rows.append({
                "connection": connection,
                "key": mapping["key"],
                "product_id": mapping["remote_id"],
                "title": extra.get("title"),
                "status": status,
                "audit_status": extra.get("audit_status"),
                "audit_failed_reasons": extra.get("audit_failed_reasons") or [],
                "sku_count": extra.get("sku_count"),
                "seller_skus": extra.get("seller_skus") or [],
                "update_time": extra.get("update_time"),
                "seen_at": extra.get("seen_at"),
            })
    return rows


def reasons_text(reasons: list[dict]) -> str:
    lines = []
    for part in reasons:
        where = part.get("position") or "product"
        for reason in part.get("reasons") or []:
            lines.append(f"{where}: {reason}")
        for suggestion in part.get("suggestions") or []:
            lines.append(f"  fix: {suggestion}")
    return "\n".join(lines)


def print_listings(merchant: str, rows: list[dict]) -> None:
    several = len({row["connection"] for row in rows}) > 1
    titles = console.width >= WIDE  # ids, status and time come first on a narrow terminal
    table = Table(title=f"listings of {merchant}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    if several:
        table.add_column("connection", no_wrap=True)
    table.add_column("product key", no_wrap=True)
    table.add_column("product id", no_wrap=True)
    if titles:
        table.add_column("title", overflow="ellipsis", no_wrap=True, ratio=1)
    table.add_column("status", no_wrap=True)
    table.add_column("audit", no_wrap=True)
    table.add_column("SKUs", justify="right")
    table.add_column("seen (UTC)")
    for row in rows:
        status = row["status"] or NOT_SEEN
        # Remote text (titles, reviewer reasons) is shown as text, never read as console markup.
        cells = [_text(row["connection"])] if several else []
        cells += [_text(row["key"]), _text(row["product_id"])] + ([_text(row["title"] or "")] if titles else [])
        cells += [f"[{STATUS_STYLE.get(status, 'default')}]{_text(status)}[/]", _text(row["audit_status"] or ""),
                  "" if row["sku_count"] is None else str(row["sku_count"]),
                  (row["seen_at"] or "")[:16].replace("T", " ")]
        table.add_row(*cells)
    console.print(table)
    counts = Counter(row["status"] or NOT_SEEN for row in rows)
    summary = ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
    console.print(f"{len(rows)} listing{'s' if len(rows) != 1 else ''}" + (f": {summary}" if summary else ""))
    failed = [row for row in rows if row["audit_failed_reasons"]]
    if failed:
        console.print("[bold]Audit failure reasons[/bold]")
    for row in failed:
        console.print(f"[red]{_text(row['status'] or '')}[/red] {_text(row['key'])} -> {_text(row['product_id'])} "
                      f"{_text(row['title'] or '')}")
        for line in reasons_text(row["audit_failed_reasons"]).splitlines():
            console.print(f"    {_text(line)}")


def _text(value: object) -> str:
    return escape(REDACTOR.text(str(value)))


def register(main: click.Group) -> None:
    @main.command()
    @merchant_argument()
    @click.option("--flow-connection", "connection", metavar="NAME",
                  help="Only this connection's listings (default: every connection a flow tracks).")
    @click.option("--status", "statuses", multiple=True, metavar="STATUS",
                  help=f"Only listings in this status (ACTIVATE, FAILED, PENDING...; {NOT_SEEN} for listings "
                       "no status has been read for). Repeatable.")
    @click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
    def listings(merchant_file: Path, connection: str | None, statuses: tuple[str, ...], fmt: str) -> None:
        """Listing status and audit result of each product of MERCHANT_FILE, from its state store."""
        with open_merchant(merchant_file) as merchant:
            known = list(merchant.doc.get("connections") or {})
            if connection is not None and connection not in known:
                raise click.BadParameter(f"no connection {connection!r}; the merchant has: {', '.join(known)}",
                                         param_hint="--flow-connection")
            connections = [connection] if connection else tracking_connections(merchant)
            rows = listing_rows(merchant.store, connections, {s.upper() for s in statuses} or None)
        if fmt == "json":
            counts = Counter(row["status"] or NOT_SEEN for row in rows)
            click.echo(REDACTOR.text(json.dumps({"merchant": merchant.name, "connections": connections,
                                                 "counts": dict(sorted(counts.items())), "listings": rows},
                                                indent=2, ensure_ascii=False)))
        else:
            print_listings(merchant.name, rows)
