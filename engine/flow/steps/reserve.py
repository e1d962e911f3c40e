"""reserve: hold stock for an order the merchant system must not take yet (a channel's on-hold order: paid,
but the buyer may still cancel and the address is hidden), and let it go once the order moves on.

The hold is kept in the state store, so the inventory flow can count it against what may be sold
while nothing has reached the merchant system."""

from __future__ import annotations

import time
from typing import Any

from engine.errors import Problem, RecordError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps.base import EXPR, ON_RECORD, ROLE, Step, _check_role, _problem
from engine.lang.expr import Scope
from engine.lang.functions import parse_datetime
from engine.lang.mapping import _truthy


@STEPS.register("reserve", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "when"],
    "properties": {
        "on": {**ROLE, "description": "The channel the order came from (reservations are kept per connection)."},
        "when": {**EXPR, **ON_RECORD, "description": "The order is on hold: hold its stock and go no further. "
                                                    "When false, a hold kept earlier is released."},
        "lines": {**EXPR, **ON_RECORD, "default": "lines[].{sku: sku, quantity: quantity}",
                  "description": "[{sku, quantity}] to hold."},
        "since": {**EXPR, **ON_RECORD, "description": "When the hold began (e.g. paid_at), for the hold window."},
        "window_minutes": {"type": "integer", "minimum": 1, "default": 60,
                           "description": "How long a hold may last before it is reported as overdue."},
        "window_option": {"type": "string", "description": "Flow option that, when set, replaces window_minutes."},
    }}, doc="Hold stock for an order on hold (no write to the merchant system yet); release it when the order moves on.")
class Reserve(Step):
    kind = "reserve"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.when = run.exprs.jmespath(options["when"])
        self.lines = run.exprs.jmespath(options.get("lines", "lines[].{sku: sku, quantity: quantity}"))
        self.since = run.exprs.jmespath(options["since"]) if options.get("since") else None
        self.context = run.mapping_context(options["on"])

    def process(self, record: Record, run: RunContext) -> Record | None:
        conn = run.conn_name(self.options["on"])
        scope = Scope(record.data, record.data, None, {**self.context, **record.context})
        if not _truthy(self.when.evaluate(scope)):
            if not run.dry_run and run.store.release_stock(conn, record.key, "order left the hold"):
                record.detail["released"] = True
            return record
        held: dict[str, int] = {}
        for index, line in enumerate(self.lines.evaluate(scope) or []):
            sku, quantity = (line or {}).get("sku"), (line or {}).get("quantity")
            if not sku or not isinstance(quantity, int) or quantity <= 0:
                raise RecordError("a line to hold has no SKU or quantity", step="reserve",
                                  field_errors=[{"field": f"lines[{index}]", "message": "needs sku and quantity"}])
            held[str(sku)] = held.get(str(sku), 0) + quantity
        if held and not run.dry_run:
            run.store.reserve_stock(conn, record.key, held)
        record.action = "held"
        record.detail["held"] = held
        record.detail["reason"] = "on hold: stock reserved, nothing sent to the merchant system yet"
        overdue = self._overdue_minutes(scope, run)
        if overdue is not None:
            record.detail["reason"] += f"; on hold {overdue} min, longer than the hold window"
            record.detail["hold_overdue"] = True
        return record

    def _overdue_minutes(self, scope: Scope, run: RunContext) -> int | None:
        if self.since is None:
            return None
        value = self.since.evaluate(scope)
        if value in (None, ""):
            return None
        option = self.options.get("window_option")
        window = run.options.get(option) if option and run.options.get(option) is not None \
            else self.options.get("window_minutes", 60)
        now = run.now() if run.now else time.time()
        minutes = int((now - parse_datetime(value).timestamp()) // 60)
        return minutes if minutes > int(window) else None

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_role(options, "on", ctx)
        option = options.get("window_option")
        if option and option not in (ctx["flow"].get("options") or {}):
            found.append(_problem(options, "window_option", f"the flow declares no option {option!r}",
                                  "declare it under the flow's options: (an integer number of minutes)"))
        return found
