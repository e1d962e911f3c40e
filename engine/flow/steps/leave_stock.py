"""leave_stock: a catalog flow that carries stock leaves it to the merchant's stock flow, when one
writes the same channel's stock.

A catalog's own figure is the merchant system's quantity: every location counted, no safety
buffer, no units held for the channel's orders that have not reached the merchant system yet.
Written over what the stock flow offered, it gives those units back to the channel until the
stock flow writes the SKU again: oversold in between. So, when a stock flow writes the channel:

- a change of the stock part alone makes no call (the stock flow writes it, under its locks);
- a create or full edit, which must carry stock, carries what the stock flow last offered for each
  SKU it has offered (a SKU it has not offered yet keeps the catalog's figure: a new listing is
  audited before it sells, and the stock flow's next run writes it, seeing the listing written);
- once they are pushed, the stock flow writes the SKUs it had offered again at once (per-SKU runs,
  or jobs on a worker), since the figure carried may be older than the orders placed since.

Without a stock flow on the channel the step does nothing: the catalog's figure is the stock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.errors import Problem
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps.base import ENTITY, ROLE, Step, _check_role

WRITES_CARRYING_STOCK = ("create", "update")
RESTOCK_CHUNK = 50  # SKUs handed to the stock flow at once


@STEPS.register("leave_stock", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "entity"],
    "properties": {
        "on": {**ROLE, "description": "The channel the flow writes listings to."},
        "entity": {**ENTITY, "description": "The entity of the diff step (its part hashes are kept per entity)."},
        "part": {"type": "string", "default": "inventory",
                 "description": "The diff part that is the stock: its change alone is the `<part>_update` action."},
    }}, doc="When another flow of the merchant writes this channel's stock (a stock step), leave stock to it: a "
            "stock change alone makes no call, a create or full edit carries what that flow last offered "
            "(variants[].inventory_quantity), and the SKUs pushed are written again by it after the run. Place it "
            "after diff, before the map to the channel.")
class LeaveStock(Step):
    kind = "leave_stock"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        # SKUs whose offered stock a create or full edit carried, for the stock flow to write again
        # once they are pushed: handed over in chunks, so a large run holds a bounded list.
        self.pushed: dict[str, None] = {}

    def process(self, record: Record, run: RunContext) -> Record | None:
        conn = run.conn_name(self.options["on"])
        writers = run.stock_writers.get(conn)
        if not writers or not record.action:
            return record
        owner = ", ".join(writers)
        part = self.options.get("part", "inventory")
        actions = record.action.split("+")
        if f"{part}_update" in actions:
            actions.remove(f"{part}_update")
            # Not written, so its hash stays the one last written: the stock flow's check for
            # listings another flow wrote (overwritten_by) must not see a write that did not happen.
            kept = run.store.get_hash(f"{self.options['entity']}:{part}", conn, record.key)
            if kept is None:
                record.hashes.pop(part, None)
            else:
                record.hashes[part] = kept
            record.parts_changed = [name for name in record.parts_changed if name != part]
            record.detail["stock"] = f"left to {owner}"
            if not actions:
                record.action = "skip"
                record.detail["reason"] = f"only the stock changed, which {owner} writes"
                return record
            record.action = "+".join(actions)
        if any(action in WRITES_CARRYING_STOCK for action in actions):
            offered = self._carry_offered(record, run, conn)
            if offered:
                record.detail["stock"] = f"as {owner} last offered it; {owner} writes it again after the push"
                # The records before this one have been pushed (one record goes through every step
                # before the next comes): theirs may be handed over now.
                if len(self.pushed) >= RESTOCK_CHUNK:
                    self._restock(run)
                if not run.dry_run:
                    self.pushed.update(dict.fromkeys(offered))
        return record

    def drain(self, run: RunContext) -> Iterator[Record]:
        self._restock(run)
        return iter(())

    def _restock(self, run: RunContext) -> None:
        skus, self.pushed = list(self.pushed), {}
        if skus and run.restock is not None:
            run.restock(skus)

    @staticmethod
    def _skus(record: Record) -> list[str]:
        variants = (record.data or {}).get("variants") if isinstance(record.data, dict) else None
        return [str(v["sku"]) for v in variants or [] if isinstance(v, dict) and v.get("sku")]

    def _carry_offered(self, record: Record, run: RunContext, conn: str) -> dict[str, int]:
        """Each variant's stock becomes what the stock flow last offered (the ones it has)."""
        offered: dict[str, int] = {}
        for sku in self._skus(record):
            stock = run.store.get_stock(conn, sku)
            if stock is not None and stock.get("salable") is not None:
                offered[sku] = int(stock["salable"])
        if not offered:
            return offered

        def carried(data: Any) -> Any:
            if not isinstance(data, dict) or not isinstance(data.get("variants"), list):
                return data
            variants = [{**v, "inventory_quantity": offered[str(v["sku"])]}
                        if isinstance(v, dict) and str(v.get("sku")) in offered else v for v in data["variants"]]
            return {**data, "variants": variants}

        same = record.canonical is record.data
        record.data = carried(record.data)
        record.canonical = record.data if same else carried(record.canonical)
        return offered

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return _check_role(options, "on", ctx)
