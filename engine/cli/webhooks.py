"""`connector webhooks sync`: subscribe, on each platform, the webhook topics the merchant's flows
need, at the address `connector serve` receives them on.

What a flow needs is its `trigger.webhook` events; what an event is on a platform, and how to list,
create and delete a subscription there, is the connector's `subscriptions:` block. Nothing here
knows a platform. The sync lists first, creates only what is missing and leaves what is there, so
running it twice changes nothing the second time.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from rich.text import Text

from engine.cli import exit_codes
from engine.cli.common import merchant_argument, open_merchant
from engine.cli.render import RecordTable, console, text
from engine.http.subscriptions import Listed, Need, Unmapped, needed, webhook_address
from engine.project.secrets import REDACTOR

log = logging.getLogger("engine.cli.webhooks")

# Statuses of a row; the first group changed something (or would, in a dry run).
SUBSCRIBED, MOVED, THERE, FAILED = "subscribed", "moved here", "already there", "failed"
REMOVED, NOT_NEEDED = "removed", "not needed"
WOULD = {SUBSCRIBED: "would subscribe", MOVED: "would move here", REMOVED: "would remove"}
STYLE = {SUBSCRIBED: "green", MOVED: "yellow", THERE: "", FAILED: "red", REMOVED: "yellow", NOT_NEEDED: "dim"}


@dataclass
class Row:
    connection: str
    topic: str
    status: str
    events: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class SyncReport:
    merchant: str
    url: str
    dry_run: bool
    addresses: dict[str, str] = field(default_factory=dict)  # connection -> its webhook address
    rows: list[Row] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # connection -> why nothing could be done on it

    @property
    def exit_code(self) -> int:
        if any(r.status == FAILED for r in self.rows):
            return exit_codes.PLATFORM
        return exit_codes.CONFIG if self.unmapped else exit_codes.OK

    def as_dict(self) -> dict[str, Any]:
        return {"merchant": self.merchant, "url": self.url, "dry_run": self.dry_run, "addresses": self.addresses,
                "subscriptions": [asdict(r) for r in self.rows], "errors": self.errors,
                "unmapped_events": [asdict(u) for u in self.unmapped], "exit_code": self.exit_code}


def check_url(url: str) -> str:
    """The base URL without a trailing slash; an https URL, or http to this machine (a local serve)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError as exc:
        raise click.BadParameter(f"not a URL: {exc}", param_hint="--url") from None
    if parts.scheme not in ("http", "https") or not host:
        raise click.BadParameter("give the server's base URL, e.g. https://connector.example.com",
                                 param_hint="--url")
    if parts.query or parts.fragment:
        raise click.BadParameter("a base URL has no ?query or #fragment", param_hint="--url")
    if parts.scheme == "http" and host not in ("localhost", "127.0.0.1", "::1"):
        raise click.BadParameter(f"http://{host} would send the platforms' events unencrypted; use https:// "
                                 "(http:// is accepted for this machine only)", param_hint="--url")
    return url.strip().rstrip("/")


def sync(merchant: Any, url: str, *, dry_run: bool = False, prune: bool = False) -> SyncReport:
    """Subscribe what the merchant's flows need on each of its connections; with `prune`, remove
    subscriptions to the merchant's addresses that no flow needs. A connection that fails does not
    stop the others."""
    connections = merchant.doc.get("connections") or {}
    needs, unmapped = needed(merchant.plan, merchant.name, connections)
    report = SyncReport(merchant.name, url, dry_run, unmapped=unmapped)
    for item in unmapped:
        log.warning("flow %s names the event %s, which no connection of the flow subscribes to", item.flow, item.event)
    for name, conn in connections.items():
        compiled = merchant.plan.connectors.get(conn.get("connector"))
        subs = getattr(compiled, "subscriptions", None)
        wanted = [n for n in needs if n.connection == name]
        if subs is None or not (wanted or prune):
            continue
        address = webhook_address(url, merchant.name, name)
        report.addresses[name] = address
        report.rows += _sync_connection(merchant.connection(name), subs, address, wanted, dry_run, prune,
                                        report.errors)
    return report


def _sync_connection(conn: Any, subs: Any, address: str, wanted: list[Need], dry_run: bool,
                     prune: bool, errors: dict[str, str]) -> list[Row]:
    from engine.http import HttpCallError

    name = conn.name
    try:
        listed = _list(conn, subs)
    except HttpCallError as exc:
        errors[name] = f"listing the subscriptions failed: {REDACTOR.text(str(exc))}"
        log.warning("%s: %s", name, errors[name])
        return [Row(name, n.topic, FAILED, list(n.events), list(n.flows), "could not list (below)") for n in wanted]
    log.debug("%s: %d subscription(s) listed: %s", name, len(listed),
              ", ".join(f"{item.topic} -> {item.address}" for item in listed) or "none")
    ours = {item.topic: item for item in listed if item.address == address}
    rows: list[Row] = []
    for need in wanted:
        row = Row(name, need.topic, THERE, list(need.events), list(need.flows))
        rows.append(row)
        if need.topic in ours:
            continue
        elsewhere = [item.address for item in listed if item.topic == need.topic and item.address != address]
        row.status = MOVED if subs.one_address_per_topic and elsewhere else SUBSCRIBED
        if row.status == MOVED:
            row.note = f"was {elsewhere[0]}"
        if dry_run:
            continue
        try:
            conn.call(subs.create.operation, **subs.create.render({"topic": need.topic, "address": address}))
            log.info("%s: subscribed %s at %s", name, need.topic, address)
        except HttpCallError as exc:
            row.status, row.note = FAILED, REDACTOR.text(exc.platform_message or str(exc))
            log.warning("%s: subscribing %s failed: %s", name, need.topic, REDACTOR.text(str(exc)))
    if any(r.status == FAILED for r in rows):
        _recheck(conn, subs, address, rows)
    needed_topics = {n.topic for n in wanted}
    for topic, item in sorted(ours.items()):
        if topic in needed_topics:
            continue
        row = Row(name, topic, NOT_NEEDED, note="no flow needs it; --prune removes it")
        rows.append(row)
        if not prune:
            continue
        row.status, row.note = REMOVED, "no flow needs it"
        if subs.delete is None:
            row.status, row.note = FAILED, "the connector declares no `subscriptions.delete`"
        elif not dry_run:
            try:
                conn.call(subs.delete.operation, **subs.delete.render(
                    {"topic": item.topic, "address": item.address, "id": item.id}))
                log.info("%s: removed %s at %s", name, topic, address)
            except HttpCallError as exc:
                row.status, row.note = FAILED, REDACTOR.text(exc.platform_message or str(exc))
    return rows


def _list(conn: Any, subs: Any) -> list[Listed]:
    return [subs.read(record) for record in conn.records(subs.list_operation, query=dict(subs.list_query))]


def _recheck(conn: Any, subs: Any, address: str, rows: list[Row]) -> None:
    """A create that failed may have been done all the same (an answer lost, then a retry refused as
    a duplicate): what the platform lists now decides."""
    from engine.http import HttpCallError

    try:
        present = {item.topic for item in _list(conn, subs) if item.address == address}
    except HttpCallError:
        return
    for row in rows:
        if row.status == FAILED and row.topic in present:
            row.status, row.note = SUBSCRIBED, ""


# ------------------------------------------------------------------ output


def print_sync(report: SyncReport) -> None:
    head = f"webhooks of {report.merchant}" + ("  dry run: nothing changed" if report.dry_run else "")
    console.print(Text(head, style="bold"))
    for name, address in report.addresses.items():
        console.print(text(f"  {name}: {address}"), soft_wrap=True)  # an address to copy, never broken
    table = RecordTable(None, "flows (events), or why", min_text=16)
    for column in ("connection", "topic", "status"):
        table.add_column(column)
    for row in report.rows:
        status = WOULD.get(row.status, row.status) if report.dry_run else row.status
        why = ", ".join(row.flows)
        if row.events and row.events != [row.topic]:  # a platform whose topics are its event names
            why += f" ({', '.join(row.events)})"
        cell = text(why)
        if row.note:
            cell.append(("\n" if why else "") + REDACTOR.text(row.note), style=STYLE.get(row.status, ""))
        table.add_row([text(row.connection), text(row.topic), text(status, STYLE.get(row.status, ""))], cell)
    if report.rows:
        console.print(table)
    else:
        console.print("no flow of the merchant names a webhook event (`trigger.webhook`); nothing to subscribe")
    for name, error in report.errors.items():
        console.print(text(f"{name}: {error}", "red"))
    for item in report.unmapped:
        console.print(text(f"flow {item.flow} names the event {item.event}, which no connection of the flow "
                           f"subscribes to ({', '.join(item.connections)}): check the name against the "
                           "connectors' `subscriptions.topics`", "red"))
    counts: dict[str, int] = {}
    for row in report.rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    if counts:
        order = [SUBSCRIBED, MOVED, THERE, REMOVED, NOT_NEEDED, FAILED]
        parts = [f"{counts[s]} {WOULD.get(s, s) if report.dry_run else s}" for s in order if counts.get(s)]
        console.print(", ".join(parts))


def register(main: click.Group) -> None:
    @main.group()
    def webhooks() -> None:
        """Webhook subscriptions on the platforms, for `connector serve`."""

    @webhooks.command("sync")
    @merchant_argument()
    @click.option("--url", required=True, metavar="URL",
                  help="The base URL `connector serve` is reached at, e.g. https://connector.example.com; each "
                       "connection is subscribed at URL/webhooks/MERCHANT/CONNECTION.")
    @click.option("--dry-run", is_flag=True, help="List what would be subscribed or removed; change nothing.")
    @click.option("--prune", is_flag=True, help="Also remove subscriptions to these addresses that no flow needs.")
    @click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
    def sync_command(merchant_file: Path, url: str, dry_run: bool, prune: bool, fmt: str) -> None:
        """Subscribe, on each platform, the webhook topics the flows of MERCHANT_FILE need
        (their `trigger.webhook` events). Lists first: what is there is left alone, so running it
        again changes nothing.

        Exit 0 when every topic is subscribed, 1 when a flow names an event no connection maps, 4
        when a platform refused a call."""
        base = check_url(url)
        with open_merchant(merchant_file) as merchant:
            report = sync(merchant, base, dry_run=dry_run, prune=prune)
        if fmt == "json":
            click.echo(REDACTOR.text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False)))
        else:
            print_sync(report)
        log.info("webhooks sync of %s: exit %d", report.merchant, report.exit_code)
        sys.exit(report.exit_code)
