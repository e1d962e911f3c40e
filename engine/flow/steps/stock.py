"""Stock: what a channel may sell of each SKU, computed from the source of truth (the merchant
system) and written without overselling.

- identify: the SKU of a record that names none (a stock level names its inventory item), from
  the source connector's SKU index.
- hold: units of a channel order the merchant system has not taken yet, held in the state store
  until it has (or the order is cancelled or shipped), so no write gives them back to the channel.
- stock: gathers stock levels per SKU and per channel listing; then, listing by listing, under the
  SKUs' locks, reads the source again, computes what may be sold and writes the SKUs whose value
  changed (or, reconciling, those that differ from what the channel holds), with per-SKU results.
  Optionally it deactivates a sold-out listing and activates it again when stock returns.

The accounting (one unit is counted once, wherever it is):

    on hand    = the source's available units at the locations mapped to the channel's warehouses
                 (a merchant system's `available` already leaves out the units of the orders it
                 has, the channel's orders among them once they are imported)
    held       = units of the channel's orders that are paid but not yet in the source (on hold,
                 or not imported yet); an order is counted once whichever holds name it, and no
                 longer once the source has it (it left `available` then)
    buffer     = the safety buffer: units, or a percentage of on hand (rounded up); per SKU or per
                 connection
    salable    = max(0, on hand - held - buffer), handed to the warehouses in the order they are
                 listed, each at most what its own locations hold
"""

from __future__ import annotations

import math
import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

from engine.errors import Problem, RecordError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps.base import (
    ACTIONS,
    ENTITY,
    EXPR,
    ON_RECORD,
    ROLE,
    Step,
    _check_mapping,
    _check_operation,
    _check_role,
    _problem,
)
from engine.flow.steps.read import PARAM_FORMAT, format_param, paginated
from engine.flow.steps.sku_index import SKU_INDEX_OPTIONS, read_sku_index
from engine.http import HttpCallError
from engine.lang.expr import Scope
from engine.lang.mapping import _truthy
from engine.project.yamlpos import problem_at
from engine.state.store import utc_rfc3339

# Prefix of the holds kept by `hold`, beside the holds an order flow keeps under the order's own key.
TRANSIT = "transit:"


# -- identify -------------------------------------------------------------------------------------
@STEPS.register("identify", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "entity"],
    "properties": {
        "on": {**ROLE, "description": "The connection the records come from."},
        "entity": {**ENTITY, "description": "Their entity; its connector's sku_of says through which SKU index "
                                            "and which id the SKU is found."},
        "as": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "default": "sku",
               "description": "Later steps and mappings read the SKU as var(KEY)."},
        "by": {"type": "string", "description": "The id field, in the record and in the index entries (from the "
                                                "connector's sku_of)."},
        **SKU_INDEX_OPTIONS,
    }}, doc="Find the SKU of a record that names only an id (a stock level names its inventory item): the ID map "
            "first, then the catalog read again; a record of no known SKU is skipped.")
class Identify(Step):
    kind = "identify"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.items = run.exprs.jmespath(options["items"]) if options.get("items") else None
        self.index: dict[str, str] | None = None  # id -> SKU, built on first use
        self.refreshed = False

    def process(self, record: Record, run: RunContext) -> Record | None:
        by = self.options.get("by")
        value = record.data.get(by) if isinstance(record.data, dict) and by else None
        if value in (None, ""):
            raise RecordError(f"the record has no {by}, so it is no {self.options['entity']} record (stock "
                              f"dead letters are repaired by the next run or a reconciliation, not replayed)",
                              step="identify")
        conn = run.conn_name(self.options["on"])
        sku = self._known(run, conn).get(str(value))
        if sku is None and self._refresh(run, conn):
            sku = self._known(run, conn).get(str(value))
        if sku is None:
            record.action = "skip"
            record.detail["reason"] = f"{by} {value} is no SKU of {conn}'s catalog"
            return record
        record.context[self.options.get("as", "sku")] = sku
        return record

    def _known(self, run: RunContext, conn: str) -> dict[str, str]:
        if self.index is None:
            by = self.options["by"]
            self.index = {str(row["extra"][by]): row["key"] for row in run.store.list_mappings("sku", conn)
                          if (row.get("extra") or {}).get(by) not in (None, "")}
        return self.index

    def _refresh(self, run: RunContext, conn: str) -> bool:
        """Read the catalog's SKUs again: once per run, and at most once per refresh window (the
        window is shared with resolve_skus, which reads the same index)."""
        if self.refreshed:
            return False
        self.refreshed = True
        by, index = self.options["by"], self._known(run, conn)

        def found(sku: str, remote_id: str, extra: dict) -> None:
            if extra.get(by):
                index[extra[by]] = sku

        return read_sku_index(run, self.options, self.items, conn, found)

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_role(options, "on", ctx) + _check_operation(options, "operation", options.get("operation"),
                                                                   options.get("on"), ctx)
        if ctx.get("bindings") and not options.get("by"):
            found.append(_problem(options, "entity", "no way to find the SKU of these records",
                                  "declare sku_of on the connector's entity"))
        return found


# -- hold -----------------------------------------------------------------------------------------
@STEPS.register("hold", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "when"],
    "properties": {
        "on": {**ROLE, "description": "The channel the order came from (holds are kept per connection)."},
        "when": {**EXPR, **ON_RECORD, "description": "Hold the order's units while this is true (paid, not in the "
                                                    "merchant system yet); when false, let them go."},
        "lines": {**EXPR, **ON_RECORD, "default": "lines[].{sku: sku, quantity: quantity}",
                  "description": "[{sku, quantity}] to hold."},
        "actions": ACTIONS,
    }}, doc="Hold the units of a channel order the merchant system has not taken yet, so no stock write gives "
            "them back to the channel; let them go once it has (or the order is cancelled or shipped).")
class Hold(Step):
    kind = "hold"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.when = run.exprs.jmespath(options["when"])
        self.lines = run.exprs.jmespath(options.get("lines", "lines[].{sku: sku, quantity: quantity}"))
        self.context = run.mapping_context(options["on"])

    def process(self, record: Record, run: RunContext) -> Record | None:
        conn, key = run.conn_name(self.options["on"]), TRANSIT + record.key
        scope = Scope(record.data, record.data, None, {**self.context, **record.context,
                                                       "remote_id": record.remote_id})
        if not _truthy(self.when.evaluate(scope)):
            skus = ([row["sku"] for row in run.store.reservations(conn, key)]
                    if run.defer_stock is not None and not run.dry_run else [])
            released = not run.dry_run and run.store.release_stock(conn, key, "in the merchant system, cancelled "
                                                                            "or shipped")
            if released and skus:
                run.defer_stock(sorted(set(skus)))
            record.action = "release" if released else "skip"
            if not released:
                record.detail["reason"] = "nothing held"
            return record
        held: dict[str, int] = {}
        for index, line in enumerate(self.lines.evaluate(scope) or []):
            sku, quantity = (line or {}).get("sku"), (line or {}).get("quantity")
            if not sku or not isinstance(quantity, int) or quantity <= 0:
                raise RecordError("a line to hold has no SKU or quantity", step="hold",
                                  field_errors=[{"field": f"lines[{index}]", "message": "needs sku and quantity"}])
            held[str(sku)] = held.get(str(sku), 0) + quantity
        changed = bool(held) and not run.dry_run and run.store.reserve_stock(conn, key, held)
        # An event claimed before may have had its hold stored by a process that died before it
        # handed the SKUs over: the hold is there ("held already"), the stock jobs are not.
        if run.defer_stock is not None and held and not run.dry_run and (changed or run.redelivered):
            run.defer_stock(sorted(held))
        record.action = "hold" if changed else "skip"
        record.detail["held"] = held
        if not changed:
            record.detail["reason"] = "held already"
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return _check_role(options, "on", ctx)


def held_units(store: Any, source: str, skus: set[str]) -> dict[str, int]:
    """SKU -> units held for channel orders the source has not taken yet. One order may be held
    under its own key (an order flow's hold while it is on hold) and under the transit key (the
    hold step's): it counts once. An order the source has (the order ID map names it there) no
    longer counts: its units left the source's available stock."""
    per_order: dict[tuple[str, str], dict[str, int]] = {}
    for row in store.reservations(status="held"):
        if row["sku"] not in skus:
            continue
        order = row["order_key"].removeprefix(TRANSIT)
        lines = per_order.setdefault((row["connection"], order), {})
        lines[row["sku"]] = max(lines.get(row["sku"], 0), int(row["quantity"]))
    out: dict[str, int] = {}
    for (_, order), lines in per_order.items():
        if store.get_remote_id("order", source, order) is not None:
            continue
        for sku, units in lines.items():
            out[sku] = out.get(sku, 0) + units
    return out


# -- the arithmetic -------------------------------------------------------------------------------
def warehouse_feeds(option: Any) -> list[tuple[str, list[tuple[str, int]]]]:
    """The `warehouses` option as [(warehouse, [(location, share %)])], in the order written."""
    out = []
    for entry in option or []:
        feeds = []
        for location in entry.get("locations") or []:
            if isinstance(location, dict):
                feeds.append((str(location["id"]), int(location.get("share", 100))))
            else:
                feeds.append((str(location), 100))
        out.append((str(entry["warehouse_id"]), feeds))
    return out


def split_levels(levels: dict[str, int], feeds: list[tuple[str, list[tuple[str, int]]]]) -> dict[str, int]:
    """Units per warehouse from available units per location. A location feeding several
    warehouses gives each its share, rounded down, and the rounding's leftover to the first when
    the shares add up to 100 (less than 100 keeps the rest back). A negative location (the source
    oversold it) counts once, against the first warehouse it feeds."""
    per_location: dict[str, list[tuple[str, int]]] = {}
    for warehouse, locations in feeds:
        for location, share in locations:
            per_location.setdefault(location, []).append((warehouse, share))
    out = {warehouse: 0 for warehouse, _ in feeds}
    for location, taking in per_location.items():
        units = levels.get(location)
        if units is None:
            continue
        if units <= 0:
            out[taking[0][0]] += units
            continue
        given = 0
        for warehouse, share in taking:
            part = units * share // 100
            out[warehouse] += part
            given += part
        if sum(share for _, share in taking) >= 100:
            out[taking[0][0]] += units - given
    return out


def buffer_units(spec: Any, on_hand: int) -> int:
    """A safety buffer: a number of units, or "N%" of what is on hand (rounded up)."""
    if spec in (None, "", 0):
        return 0
    if isinstance(spec, str) and spec.strip().endswith("%"):
        return math.ceil(max(on_hand, 0) * float(spec.strip()[:-1]) / 100)
    return int(spec)


def salable(per_warehouse: dict[str, int], held: int, buffer: int) -> tuple[int, dict[str, int]]:
    """What may be sold, and how it is spread over the warehouses (in their order, each at most
    what its locations hold)."""
    on_hand = sum(per_warehouse.values())
    total = max(0, on_hand - held - buffer)
    left, spread = total, {}
    for warehouse, units in per_warehouse.items():
        spread[warehouse] = min(max(units, 0), left)
        left -= spread[warehouse]
    return total, spread


# -- stock ----------------------------------------------------------------------------------------
READ = {"type": "object", "additionalProperties": False, "required": ["operation", "param"],
        "properties": {"operation": {"type": "string"}, "param": {"type": "string"},
                       "in": {"enum": ["path", "query", "body"], "default": "query"},
                       "size": {"type": "integer", "minimum": 1, "default": 1},
                       "many": {"type": "boolean"}, "result": {"type": "string"},
                       "mapping": {"type": "string", "description": "To the canonical entity."},
                       "by": {"type": "string", "description": "The id field the read takes (sku_of.by)."},
                       "join": {"type": "string", "default": ","}, **PARAM_FORMAT}}
CHANNEL_WRITE = {"type": "object", "additionalProperties": True, "required": ["operation"],
                 "properties": {"operation": {"type": "string"},
                                "mapping": {"type": "string"},
                                "path_params": {"type": "object", "additionalProperties": EXPR}}}
FLOW_OPTIONS = ("warehouses", "safety_buffer", "sku_buffers", "deactivate_when_sold_out")
LOCK_TTL_SECONDS = 60.0
LOCK_WAIT_SECONDS = 30.0
WAREHOUSES_KEPT_SECONDS = 3600.0


@STEPS.register("stock", options_schema={
    "type": "object", "additionalProperties": False, "required": ["from", "to", "entity"],
    "properties": {
        "from": {**ROLE, "description": "The source of truth for stock (the merchant system)."},
        "to": {**ROLE, "description": "The channel whose listings are written."},
        "entity": {**ENTITY, "description": "The channel's stock entity (inventory); its writes (update, "
                                            "deactivate, activate), get and mappings come from the connector."},
        "levels": {**ENTITY, "default": "inventory_level",
                   "description": "The source's stock entity; its get (many), sku_of and to_canonical re-read "
                                  "the levels of a listing's SKUs under their locks."},
        "read": {**READ, "description": "Resolved from the source: how the levels of given SKUs are read again."},
        "write": {**CHANNEL_WRITE, "description": "Resolved from the channel: the stock update of one listing."},
        "current": {**READ, "description": "Resolved from the channel: how its stock of given listings is read "
                                          "(reconciliation)."},
        "activate": {**CHANNEL_WRITE, "description": "Resolved from the channel: put a listing back on sale."},
        "deactivate": {**CHANNEL_WRITE, "description": "Resolved from the channel: take a listing off sale."},
        "overwritten_by": {"type": "object", "additionalProperties": False, "required": ["entity", "parts"],
                           "description": "Another flow writes this channel's listings with their stock (a catalog "
                                          "flow's create or full edit carries it): when one of these parts of its "
                                          "content hashes moved since a SKU's stock was written, it is written again.",
                           "properties": {"entity": ENTITY,
                                          "parts": {"type": "array", "items": {"type": "string"}, "minItems": 1}}},
        "warehouses_read": {"type": "object", "additionalProperties": False, "required": ["operation", "sellable"],
                            "description": "Resolved from the channel: its warehouses, and which may hold stock "
                                           "for sale (a returns warehouse may not).",
                            "properties": {"operation": {"type": "string"}, "id": {**EXPR, "default": "id"},
                                           "sellable": EXPR}},
    }}, doc="Per channel listing, under its SKUs' locks: read the source again, compute salable = on hand at the "
            "mapped locations - held - safety buffer (never below 0), write the SKUs that changed (reconciling: "
            "that differ from the channel), one call per listing with per-SKU results; optionally take a sold-out "
            "listing off sale and put it back. Reads the flow options warehouses, safety_buffer, sku_buffers and "
            "deactivate_when_sold_out.")
class Stock(Step):
    kind = "stock"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.levels: dict[str, dict[str, dict]] = {}  # gathered: SKU -> location -> canonical level
        self.items: dict[str, str] = {}  # SKU -> the source's id for reading it again
        self.feeds = warehouse_feeds(run.options.get("warehouses"))
        # Listings are read again in windows (one read for as many listings' items as it takes):
        # window -> its listings; what was read for a listing, and the SKUs whose locks it holds.
        self.windows: dict[int, list[str]] = {}
        self.groups: dict[str, dict] = {}
        self.fresh: dict[str, dict[str, dict[str, dict]]] = {}
        self.fresh_held: dict[str, dict[str, int]] = {}  # listing -> SKU -> units held, read before `fresh`
        self.current_read: dict[str, dict[str, dict[str, int]]] = {}
        self.held: dict[str, list[str]] = {}
        self.ignored: dict[str, str] = {}  # warehouse -> why it takes no stock (read once)
        self._warehouses_read = False
        write = options.get("write") or {}
        self.write_params = {k: run.exprs.jmespath(v) for k, v in (write.get("path_params") or {}).items()}
        wh = options.get("warehouses_read") or {}
        self.wh_id = run.exprs.jmespath(wh.get("id", "id")) if wh else None
        self.wh_sellable = run.exprs.jmespath(wh["sellable"]) if wh else None

    # -- gathering
    def process(self, record: Record, run: RunContext) -> Record | None:
        group = record.context.get("stock_group")
        if group is not None:
            return self._listing(record, group, run)
        level = record.data
        sku = str(level["sku"])
        self.levels.setdefault(sku, {})[str(level["location_id"])] = level
        by = (self.options.get("read") or {}).get("by")
        if by and isinstance(record.native, dict) and record.native.get(by) not in (None, ""):
            self.items[sku] = str(record.native[by])
        record.action = "gathered"
        return record

    def drain(self, run: RunContext) -> Iterator[Record]:
        """One record per channel listing of the SKUs gathered (reconciling: of every SKU the
        channel lists that the source knows), once the read has ended."""
        channel, source = run.conn_name(self.options["to"]), run.conn_name(self.options["from"])
        listed = {row["key"]: row for row in run.store.list_mappings("sku", channel)}
        by_listing: dict[str, list[str]] = {}
        all_skus: dict[str, list[str]] = {}
        for sku, row in listed.items():
            parent = (row.get("extra") or {}).get("parent")
            if parent:
                all_skus.setdefault(str(parent), []).append(sku)
        # A run about given SKUs takes those the source's SKU index can read again (else none).
        wanted = set() if run.skus else set(self.levels)
        if run.mode == "reconcile" or run.skus:
            by = (self.options.get("read") or {}).get("by")
            for sku in (run.skus or listed):
                if sku in self.items:
                    continue
                known = run.store.get_mapping("sku", source, sku) if by else None
                if known and (known.get("extra") or {}).get(by):
                    self.items[sku] = str(known["extra"][by])
                    wanted.add(sku)
        for sku in sorted(wanted):
            parent = (listed.get(sku, {}).get("extra") or {}).get("parent")
            if parent:
                by_listing.setdefault(str(parent), []).append(sku)
        if run.defer_stock is not None and run.mode == "run" and not run.skus and not run.dry_run:
            # Each SKU gathered becomes a job of its own, which reads it again and writes it under
            # its lock (see engine.jobs); nothing is written here. Not only the SKUs whose figure
            # differs from the one last written: a job running now may have read the store before
            # this change, and the figure it is about to write is not the one compared with here.
            due = sorted(sku for skus in by_listing.values() for sku in skus)
            if due:
                run.defer_stock(due)
            return
        self._read_warehouses(run)
        size = int((self.options.get("read") or {}).get("size", 1))
        window, items = -1, size
        groups = []
        for listing in sorted(by_listing):
            skus = sorted(by_listing[listing])
            group = {"listing": listing, "skus": skus, "listing_skus": sorted(all_skus.get(listing, skus)),
                     "sku_ids": {sku: listed[sku]["remote_id"] for sku in skus}}
            first = self._plan({sku: self.levels.get(sku, {}) for sku in skus}, skus, run)
            stored = {sku: run.store.get_stock(channel, sku) for sku in skus}
            group["due"] = run.mode != "run" or bool(run.skus) or self._due(first, stored, group, run)
            if group["due"]:
                count = sum(1 for sku in skus if sku in self.items)
                if items + count > size:
                    window, items = window + 1, 0
                items += count
                group["window"] = window
                self.windows.setdefault(window, []).append(listing)
            self.groups[listing] = group
            groups.append(group)
        try:
            for group in groups:
                skus = group["skus"]
                native = {"listing_id": group["listing"], "skus": [{"sku": sku} for sku in skus]}
                yield Record(key=group["listing"], native=native, data=native,
                             canonical={"variants": [{"sku": s} for s in skus]}, remote_id=group["listing"],
                             context={"stock_group": group})
        finally:
            for listing in list(self.held):  # a run that ended early frees the locks it read ahead for
                self._release(listing, run)

    # -- one listing
    def _listing(self, record: Record, group: dict, run: RunContext) -> Record:
        listing = group["listing"]
        if not group["due"]:
            record.action = "skip"
            record.detail["reason"] = "stock unchanged"
            return record
        try:
            if listing not in self.fresh:
                self._read_ahead(group, run)
            return self._locked(record, group, run)
        finally:
            self._release(listing, run)
            self.fresh.pop(listing, None)
            self.fresh_held.pop(listing, None)
            self.current_read.pop(listing, None)

    def _read_ahead(self, group: dict, run: RunContext) -> None:
        """Lock the SKUs of this listing and of the listings after it in its window, then read
        all their levels again in as few reads as the source takes. When another writer holds one
        of them, only this listing's SKUs are locked (waiting for them)."""
        source = run.conn_name(self.options["from"])
        listing = group["listing"]
        ahead = [name for name in self.windows.get(group.get("window"), [listing])
                 if name not in self.fresh and name not in self.held and self.groups[name]["due"]]
        if listing not in ahead:
            ahead = [listing]
        if not run.dry_run:  # a dry run reads and writes nothing, so it takes no lock
            skus = [sku for name in ahead for sku in self.groups[name]["skus"]]
            if len(ahead) > 1 and run.store.acquire_stock_locks(source, skus, self.owner, LOCK_TTL_SECONDS):
                self.held.update({name: self.groups[name]["skus"] for name in ahead})
            else:
                ahead = [listing]
                self._wait_for_locks(group["skus"], run)
                self.held[listing] = group["skus"]
        skus = [sku for name in ahead for sku in self.groups[name]["skus"]]
        # The holds before the levels. An order the store takes between the two reads is then
        # counted twice (held, and gone from the levels): one unit too few offered until its hold
        # is let go, which writes the SKU again. Read the other way round, it would count nowhere
        # (not held any more, not yet gone from the levels read): one unit oversold.
        held = held_units(run.store, source, set(skus))
        levels = self._reread(skus, run)
        for name in ahead:
            self.fresh[name] = {sku: levels[sku] for sku in self.groups[name]["skus"]}
            self.fresh_held[name] = {sku: held.get(sku, 0) for sku in self.groups[name]["skus"]}
        if run.mode == "reconcile":
            current = self._current(ahead, run)
            for name in ahead:
                self.current_read[name] = current.get(name, {})

    def _wait_for_locks(self, skus: list[str], run: RunContext) -> None:
        source = run.conn_name(self.options["from"])
        deadline, delay = time.monotonic() + LOCK_WAIT_SECONDS, 0.01
        while not run.store.acquire_stock_locks(source, skus, self.owner, LOCK_TTL_SECONDS):
            if time.monotonic() >= deadline:
                busy = ", ".join(sorted(run.store.stock_lock_holders(source, skus))) or "none any more"
                raise RecordError(f"another writer holds the stock of {', '.join(skus)} (held: {busy}); the next "
                                  "run or event writes it", step="stock", retryable=True)
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def _release(self, listing: str, run: RunContext) -> None:
        skus = self.held.pop(listing, None)
        if skus:
            run.store.release_stock_locks(run.conn_name(self.options["from"]), skus, self.owner)

    def _locked(self, record: Record, group: dict, run: RunContext) -> Record:
        """Read the source again, compute, write: nothing another writer does to these SKUs can
        come between (they wait for the locks). A dry run reads and computes, and writes nothing."""
        channel = run.conn_name(self.options["to"])
        skus, listing = group["skus"], group["listing"]
        plan = self._plan(self.fresh[listing], skus, run, self.fresh_held.get(listing))
        stored = {sku: run.store.get_stock(channel, sku) for sku in skus}
        stamp = self._stamp(listing, run)
        drift: list[dict] = []
        if run.mode == "reconcile":
            current = self.current_read.get(listing, {})
            targets = []
            for sku in skus:
                if not plan[sku]["managed"] or sku not in current:
                    continue
                have = {w: current[sku].get(w, 0) for w in plan[sku]["warehouses"]}
                if have != plan[sku]["warehouses"]:
                    targets.append(sku)
                    drift.append({"sku": sku, "salable": plan[sku]["salable"], "channel": sum(have.values()),
                                  "warehouses": have})
        else:
            targets = [sku for sku in skus if self._changed(sku, plan, stored, stamp)]
        if run.mode == "reconcile":
            record.detail["compared"] = sum(1 for sku in skus if plan[sku]["managed"] and sku in current)
        # What a dry run's plan (and a run's report) shows: each SKU's units before and after.
        channel_had = {entry["sku"]: entry["channel"] for entry in drift}
        before = {sku: channel_had.get(sku, (stored[sku] or {}).get("salable")) for sku in targets}
        record.previous = {**record.canonical, "salable": before}
        record.canonical = {**record.canonical, "salable": {sku: plan[sku]["salable"] for sku in targets}}
        if run.dry_run:
            record.action = "inventory_update" if targets else "skip"
            record.detail["would_write"] = {sku: plan[sku]["salable"] for sku in targets}
            if drift:
                record.detail["drift"] = [{**entry, "result": "would repair"} for entry in drift]
            if targets:
                run.planned.append({"key": record.key, "action": record.action,
                                    "body": self._canonical(listing, targets, plan)})
            return record
        actions, failures = [], []
        paused = run.store.get_stock_paused(channel, listing)
        sold_out = self._sold_out(plan, group, run)
        if paused and sold_out is False:
            # Back on sale first, then the quantities: no quantity is written to a listing that is
            # off sale (a channel may refuse that in some states).
            error = self._status_write("activate", listing, run)
            if error is None:
                run.store.set_stock_paused(channel, listing, None)
                actions.append("activate")
            else:
                record.detail["activate_refused"] = error
        written, failures = self._write(listing, targets, plan, group, run) if targets else ({}, [])
        for sku in written:
            # The source's side of the figure too (on hand at the mapped locations, held, buffer),
            # so what was offered can be read beside what it was computed from.
            run.store.set_stock(channel, sku, {"salable": plan[sku]["salable"], "warehouses": plan[sku]["warehouses"],
                                               "on_hand": plan[sku]["on_hand"], "held": plan[sku]["held"],
                                               "buffer": plan[sku]["buffer"],
                                               "at": utc_rfc3339(time.time()), "overwritten_by": stamp})
        if written:
            actions.insert(0, "inventory_update")
        if (run.options.get("deactivate_when_sold_out") and not paused and not failures
                and self._sold_out(plan, group, run)):
            error = self._status_write("deactivate", listing, run)
            if error is None:
                run.store.set_stock_paused(channel, listing, {"at": utc_rfc3339(time.time()),
                                                              "reason": "every SKU sold out"})
                actions.append("deactivate")
            else:
                record.detail["deactivate_refused"] = error
        failed = {f["sku"] for f in failures}
        for entry in drift:
            entry["result"] = "failed" if entry["sku"] in failed else "repaired"
        record.action = "+".join(actions) or "skip"
        if written:
            record.detail["written"] = {sku: f"{_total(stored[sku])}->{plan[sku]['salable']}" for sku in written}
        if drift:
            record.detail["drift"] = drift
        unmanaged = [sku for sku in skus if not plan[sku]["managed"]]
        if unmanaged:
            record.detail["untracked"] = unmanaged
        if self.ignored:
            record.detail["ignored_warehouses"] = dict(self.ignored)
        if not actions and not failures:
            record.detail["reason"] = "stock unchanged" if run.mode == "run" else "no drift"
        if failures:
            retryable = any(f.get("retryable") for f in failures)
            raise RecordError(f"{len(failures)} of {len(targets)} SKU(s) of listing {listing} were not written"
                              + (f"; {len(written)} were" if written else ""), step="stock", retryable=retryable,
                              field_errors=[{"field": f"skus[{f['sku']}]", "message": f["message"],
                                             "salable": plan[f["sku"]]["salable"],
                                             "channel": next((d["channel"] for d in drift if d["sku"] == f["sku"]),
                                                             _total(stored[f["sku"]]))} for f in failures])
        return record

    def _stamp(self, listing: str, run: RunContext) -> dict | None:
        """The content hashes of the other flow that writes this listing (overwritten_by)."""
        other = self.options.get("overwritten_by")
        if not other:
            return None
        channel = run.conn_name(self.options["to"])
        key = run.store.find_key_by_remote_id(other["entity"], channel, listing)
        if key is None:
            return None
        return {part: run.store.get_hash(f"{other['entity']}:{part}", channel, key) for part in other["parts"]}

    def _changed(self, sku: str, plan: dict, stored: dict, stamp: dict | None) -> bool:
        """The SKU's offer differs from what was written, or the other writer wrote the listing since."""
        if not plan[sku]["managed"]:
            return False
        if _offered(stored[sku]) != plan[sku]["warehouses"]:
            return True
        return stamp is not None and (stored[sku] or {}).get("overwritten_by") != stamp

    def _due(self, plan: dict, stored: dict, group: dict, run: RunContext) -> bool:
        """Anything to write: a SKU whose offer changed, or a listing to put back on sale."""
        stamp = self._stamp(group["listing"], run)
        if any(self._changed(sku, plan, stored, stamp) for sku in plan):
            return True
        channel = run.conn_name(self.options["to"])
        return bool(run.store.get_stock_paused(channel, group["listing"])) and self._sold_out(plan, group, run) is False

    def _sold_out(self, plan: dict, group: dict, run: RunContext) -> bool | None:
        """True when every SKU of the listing may sell nothing, False when one may sell, None when
        a SKU's stock is not known (never offered by this flow): then nothing is switched."""
        channel = run.conn_name(self.options["to"])
        for sku in group["listing_skus"]:
            if sku in plan:
                if not plan[sku]["managed"]:
                    return None
                units = plan[sku]["salable"]
            else:
                known = run.store.get_stock(channel, sku)
                if known is None:
                    return None
                units = int(known.get("salable", 0))
            if units > 0:
                return False
        return True

    # -- arithmetic on a listing's SKUs
    def _plan(self, levels: dict[str, dict[str, dict]], skus: list[str], run: RunContext,
              held: dict[str, int] | None = None) -> dict[str, dict]:
        """Each SKU's figures; `held`: the holds read before `levels` were (read now if not given)."""
        feeds = [(w, locs) for w, locs in self.feeds if w not in self.ignored]
        if held is None:
            held = held_units(run.store, run.conn_name(self.options["from"]), set(skus))
        buffers = run.options.get("sku_buffers") or {}
        plan = {}
        for sku in skus:
            at = levels.get(sku, {})
            tracked = {loc: int(level["available"]) for loc, level in at.items()
                       if level.get("tracked", True) and level.get("available") is not None}
            managed = bool(tracked) or not at
            per_warehouse = split_levels(tracked, feeds)
            on_hand = sum(per_warehouse.values())
            buffer = buffer_units(buffers.get(sku, run.options.get("safety_buffer")), on_hand)
            total, spread = salable(per_warehouse, held.get(sku, 0), buffer)
            plan[sku] = {"managed": managed, "salable": total, "warehouses": spread, "on_hand": on_hand,
                         "held": held.get(sku, 0), "buffer": buffer}
        return plan

    # -- reads
    def _reread(self, skus: list[str], run: RunContext) -> dict[str, dict[str, dict]]:
        """The levels of these SKUs, read from the source now (under their locks)."""
        read = self.options.get("read")
        ids = {self.items[sku]: sku for sku in skus if sku in self.items}
        out: dict[str, dict[str, dict]] = {sku: {} for sku in skus}
        if not read or not ids:
            return out
        plan, by = run.plans[read["mapping"]], read["by"]
        context = run.mapping_context(self.options["from"])
        for native in self._read_many(run.connection(self.options["from"]), read, list(ids)):
            sku = ids.get(str((native or {}).get(by)))
            if sku is None:
                continue
            result = plan.apply(native, {**context, "sku": sku})
            if result.errors:
                raise RecordError(f"mapping {plan.name} failed on a level read again", step="stock",
                                  field_errors=[e.as_dict() for e in result.errors])
            out[sku][str(result.output["location_id"])] = result.output
        return out

    @staticmethod
    def _read_many(conn: Any, read: dict, ids: list[str]) -> Iterator[Any]:
        size = int(read.get("size", 1))
        for start in range(0, len(ids), size):
            chunk = ids[start:start + size]
            args = ({"body": {read["param"]: chunk}} if read.get("in") == "body"
                    else {"query": {read["param"]: format_param(read, chunk)}})
            if paginated(conn, read["operation"]):
                # A read that pages (more records than one answer holds) is read to its last page:
                # a level left unread would count as none.
                for page in conn.paginate(read["operation"], **args):
                    yield from page.records or []
            else:
                yield from conn.call(read["operation"], **args).records or []

    def _current(self, listings: list[str], run: RunContext) -> dict[str, dict[str, dict[str, int]]]:
        """What the channel holds now, per listing, SKU and warehouse (reconciliation)."""
        current = self.options.get("current")
        if not current:
            raise RecordError("the channel's connector declares no way to read its stock (entities.<entity>.get "
                              "with many: true, and to_canonical)", step="stock")
        plan = run.plans[current["mapping"]]
        by_id = {str(v): (name, sku) for name in listings for sku, v in self.groups[name]["sku_ids"].items()}
        out: dict[str, dict[str, dict[str, int]]] = {name: {} for name in listings}
        context = run.mapping_context(self.options["to"])
        for native in self._read_many(run.connection(self.options["to"]), current, listings):
            result = plan.apply(native, context)
            if result.errors:
                raise RecordError(f"mapping {plan.name} failed on the channel's stock", step="stock",
                                  field_errors=[e.as_dict() for e in result.errors])
            for entry in result.output.get("skus") or []:
                found = by_id.get(str(entry.get("id")))
                if found is not None:
                    out[found[0]][found[1]] = {str(w["warehouse_id"]): int(w["quantity"])
                                               for w in entry.get("warehouses") or []}
        return out

    def _read_warehouses(self, run: RunContext) -> None:
        """The mapped warehouses the channel says take no stock for sale are left out. The channel's
        answer is kept for an hour (per connection), so a run with nothing to write calls nothing."""
        if self._warehouses_read or self.wh_sellable is None:
            return
        self._warehouses_read = True
        channel = run.conn_name(self.options["to"])
        now = run.now() if run.now else time.time()
        kept = run.store.kv_get("channel_warehouses", channel) or {}
        sellable = kept.get("sellable") if now - kept.get("at", 0) < WAREHOUSES_KEPT_SECONDS else None
        if sellable is None:
            response = run.connection(self.options["to"]).call(self.options["warehouses_read"]["operation"])
            sellable = {}
            for warehouse in response.records or []:
                scope = Scope(warehouse, warehouse, None, {})
                sellable[str(self.wh_id.evaluate(scope))] = _truthy(self.wh_sellable.evaluate(scope))
            if not run.dry_run:
                run.store.kv_set("channel_warehouses", channel, {"at": now, "sellable": sellable})
        for warehouse, _ in self.feeds:
            if warehouse not in sellable:
                self.ignored[warehouse] = "not a warehouse of this shop"
            elif not sellable[warehouse]:
                self.ignored[warehouse] = "takes no stock for sale (a returns warehouse, or disabled)"

    # -- writes
    @staticmethod
    def _canonical(listing: str, skus: list[str], plan: dict) -> dict:
        return {"listing_id": listing, "skus": [
            {"sku": sku, "salable": plan[sku]["salable"],
             "warehouses": [{"warehouse_id": w, "quantity": q} for w, q in plan[sku]["warehouses"].items()]}
            for sku in skus]}

    def _write(self, listing: str, skus: list[str], plan: dict, group: dict,
               run: RunContext) -> tuple[dict[str, int], list[dict]]:
        """One call for the listing; each SKU succeeds or fails on its own (the channel's per-item
        errors). Returns the SKUs written and the failures."""
        write = self.options["write"]
        mapping = run.plans[write["mapping"]]
        canonical = self._canonical(listing, skus, plan)
        context = {**run.mapping_context(self.options["to"]), "sku_ids": group["sku_ids"]}
        result = mapping.apply(canonical, context)
        if result.errors:
            raise RecordError(f"mapping {mapping.name} failed", step="stock",
                              field_errors=[e.as_dict() for e in result.errors])
        scope_data = {"remote_id": listing, "key": listing, "record": canonical, "body": result.output}
        scope = Scope(scope_data, scope_data, None, context)
        params = {name: str(expr.evaluate(scope)) for name, expr in self.write_params.items()}
        try:
            response = run.connection(self.options["to"]).call(write["operation"], path_params=params or None,
                                                               body=result.output)
        except HttpCallError as exc:
            return {}, [{"sku": sku, "message": str(exc), "retryable": exc.retryable} for sku in skus]
        by_id = {str(v): sku for sku, v in group["sku_ids"].items()}
        failures, unplaced = [], []
        for error in response.item_errors:
            message = f"{error.code}: {error.message}" if error.code else error.message
            sku = by_id.get(str(error.key)) if error.key is not None else None
            if sku in skus:
                failures.append({"sku": sku, "message": message})
            else:
                unplaced.append(message)
        if unplaced:  # an error that names no SKU of the call: none is known to be written
            failures = [{"sku": sku, "message": "; ".join(unplaced)} for sku in skus]
        failed = {f["sku"] for f in failures}
        return {sku: plan[sku]["salable"] for sku in skus if sku not in failed}, failures

    def _status_write(self, name: str, listing: str, run: RunContext) -> str | None:
        """Activate or deactivate the listing; None when done, else why not."""
        spec = self.options.get(name)
        if not spec:
            return f"the channel's connector declares no {name} write"
        conn = run.connection(self.options["to"])
        try:
            if getattr(conn.operation(spec["operation"]), "batch", None) is not None:
                result = conn.call_batched(spec["operation"], [listing])[0]
                if result.ok:
                    return None
                if result.error is not None:
                    return str(result.error)
                return "; ".join(f"{e.code}: {e.message}" for e in result.errors)
            conn.call(spec["operation"], path_params={"product_id": listing})
            return None
        except HttpCallError as exc:
            return str(exc)

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_role(options, "from", ctx) + _check_role(options, "to", ctx)
        declared = ctx["flow"].get("options") or {}
        for name in FLOW_OPTIONS:
            if name not in declared:
                found.append(_problem(options, "entity", f"the stock step reads the flow option {name!r}, which the "
                                                         "flow does not declare",
                                      f"declare {name} under the flow's options:"))
        for key in ("read", "write", "current"):
            node = options.get(key)
            if isinstance(node, dict):
                found += _check_mapping(node, "mapping", ctx)
                role = options.get("from") if key == "read" else options.get("to")
                found += _check_operation(node, "operation", node.get("operation"), role, ctx)
        found += _check_warehouse_shares(ctx)
        return found


def _check_warehouse_shares(ctx: dict) -> list[Problem]:
    """A location's shares of the warehouses it feeds add up to at most 100%, and a warehouse is
    listed once (checked on each merchant binding of the flow)."""
    merchant = ctx.get("merchant")
    if merchant is None:
        return []
    found = []
    for binding in (merchant.doc.get("flows") or {}).values():
        if not isinstance(binding, dict) or binding.get("flow") != ctx["flow"].get("name"):
            continue
        option = (binding.get("options") or {}).get("warehouses")
        if not isinstance(option, list):
            continue
        shares: dict[str, int] = {}
        seen: set[str] = set()
        for index, entry in enumerate(option):
            if not isinstance(entry, dict):
                continue
            warehouse = str(entry.get("warehouse_id"))
            if warehouse in seen:
                found.append(problem_at(option, [index, "warehouse_id"], f"warehouse {warehouse} is listed twice",
                                        "list each warehouse once, with all the locations that feed it"))
            seen.add(warehouse)
            for spot, location in enumerate(entry.get("locations") or []):
                name = str(location.get("id") if isinstance(location, dict) else location)
                share = int(location.get("share", 100)) if isinstance(location, dict) else 100
                shares[name] = shares.get(name, 0) + share
                if shares[name] > 100:
                    found.append(problem_at(entry, ["locations", spot],
                                            f"location {name} gives {shares[name]}% of its stock to the warehouses "
                                            "it feeds; at most 100% can be offered",
                                            "give it a share: in each warehouse, e.g. {id: ..., share: 50}"))
    return found


def _offered(stored: dict | None) -> dict[str, int] | None:
    return None if stored is None else {str(k): int(v) for k, v in (stored.get("warehouses") or {}).items()}


def _total(stored: dict | None) -> str:
    return "?" if stored is None else str(stored.get("salable", "?"))
