"""price: set each variant's price for the channel from the merchant's price rules (engine/pricing).

It runs on the canonical record before the diff, so a changed price makes a price-only write and an
unchanged one makes none. The run's time ("now", injectable) decides which promotions are in force:
a promotion's prices are written by the first run at or after its start, and the regular prices by
the first run at or after its end; running again at either point changes nothing. The state store
keeps, per record and channel, each SKU's promotion with the regular price it replaced, so the run
that ends a promotion reports what it restored (and whether the regular price moved meanwhile).

Costs for the margin guard are the canonical variants' `cost`; where the catalog's connector says
how to read them (entities.<entity>.costs: a catalog may keep unit costs apart from its products), they
are read for a record whose prices are about to change, so an unchanged catalog costs no call.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
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
    _check_operation,
    _check_role,
    _problem,
)
from engine.flow.steps.filter import OPTION_REF
from engine.lang.expr import Scope
from engine.pricing.rules import PricingError, VariantPrice, compile_price_rules, money_text, to_amount

COSTS = {
    "type": "object", "additionalProperties": False, "required": ["operation", "items"],
    "description": "How to read the unit costs of a record's variants (the margin guard's costs), as the catalog's "
                   "connector declares it in entities.<entity>.costs.",
    "properties": {
        "operation": {"type": "string", "description": "A read operation of the catalog's connector."},
        "query": {"type": "object", "additionalProperties": {**EXPR, **ON_RECORD},
                  "description": "Query parameter -> expression over the canonical record."},
        "items": {**EXPR, "description": "Over the records the read returns: [{sku, cost}] (cost a decimal amount "
                                         "in the catalog's currency, or null when unknown)."},
    },
}


@STEPS.register("price", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "rules"],
    "properties": {
        "on": {**ROLE, "description": "The channel: its connection's currency is the market the prices are for, and "
                                      "its last pushed record tells whether prices are about to change."},
        "entity": {**ENTITY, "description": "The entity priced (product: each of its variants)."},
        "rules": {"anyOf": [OPTION_REF, {"type": "object", "required": ["kind", "currency"]}],
                  "description": "The price rules: {option: NAME}, the flow option in which each binding names a "
                                 "file of kind price_rules (unset: prices are mirrored, the step is left out)."},
        "costs_from": {**ROLE, "description": "The catalog, whose connector says how to read costs "
                                              "(entities.<entity>.costs)."},
        "costs": COSTS,
        "actions": ACTIONS,
    }}, doc="Set each variant's channel price from price rules: markups, rounding, currency, promotions, margin guard.")
class Price(Step):
    kind = "price"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.rules = compile_price_rules(options["rules"], run.exprs)
        self.role = options["on"]
        self.context = run.mapping_context(self.role)
        self.currency = self.context.get("currency") or self.rules.currency
        costs = options.get("costs")
        self.costs = None if not costs or not options.get("costs_from") else {
            "operation": costs["operation"],
            "query": {name: run.exprs.jmespath(expr) for name, expr in (costs.get("query") or {}).items()},
            "items": run.exprs.jmespath(costs["items"]),
        }

    def process(self, record: Record, run: RunContext) -> Record | None:
        product = record.data
        now = datetime.fromtimestamp(run.now() if run.now else time.time(), UTC)
        entity, conn = self.options.get("entity", "product"), run.conn_name(self.role)
        try:
            prices = self.rules.price_product(product, self.currency, now, {**self.context, **record.context})
            if self.rules.margin is not None and prices:
                costs = self._costs(product, prices, record, run, entity, conn)
                self.rules.guard(prices, costs, self.currency)
        except PricingError as exc:
            raise RecordError(str(exc), step="price", field_errors=exc.field_errors) from None
        variants = product.get("variants") or []
        for item in prices:
            variant = variants[item.index]
            variant["price"] = {"amount": money_text(item.price), "currency": item.currency}
            if item.compare_at is not None:
                variant["compare_at_price"] = {"amount": money_text(item.compare_at), "currency": item.currency}
            else:
                variant.pop("compare_at_price", None)
            if item.clamped_from is not None:
                record.detail.setdefault("clamped", []).append(
                    {"sku": item.sku, "price": money_text(item.clamped_from), "raised_to": money_text(item.price)})
        self._promotions(prices, record, run, conn)
        return record

    # -- costs

    def _costs(self, product: dict, prices: list[VariantPrice], record: Record, run: RunContext, entity: str,
               conn: str) -> dict[str, Decimal]:
        """SKU -> unit cost in the catalog's currency: the record's own, else read from the catalog
        when the connector says how and the record's prices are about to change."""
        variants = product.get("variants") or []
        costs = {}
        for item in prices:
            cost = (variants[item.index].get("cost") or {}).get("amount")
            if cost not in (None, ""):
                costs[item.sku] = to_amount(cost)
        missing = [item for item in prices if item.sku not in costs]
        if not missing or self.costs is None or not self._changing(prices, run.store.get_snapshot(entity, conn,
                                                                                                   record.key)):
            return costs
        read = self._read_costs(product, record, run)
        for item in missing:
            if item.sku in read:
                costs[item.sku] = read[item.sku]
                variants[item.index]["cost"] = {"amount": format(read[item.sku], "f"), "currency": self.rules.currency}
        return costs

    @staticmethod
    def _changing(prices: list[VariantPrice], snapshot: Any) -> bool:
        """True unless the last pushed record has every one of these prices already."""
        if not isinstance(snapshot, dict):
            return True
        before = {v.get("sku"): v for v in snapshot.get("variants") or [] if isinstance(v, dict)}
        for item in prices:
            old = before.get(item.sku)
            if old is None:
                return True
            if _amount(old.get("price")) != item.price or _amount(old.get("compare_at_price")) != item.compare_at:
                return True
        return False

    def _read_costs(self, product: dict, record: Record, run: RunContext) -> dict[str, Decimal]:
        scope = Scope(product, product, None, {**self.context, **record.context})
        query = {name: expr.evaluate(scope) for name, expr in self.costs["query"].items()}
        if any(value in (None, "", []) for value in query.values()):
            return {}
        response = run.connection(self.options["costs_from"]).call(self.costs["operation"], query=query)
        records = response.records if response.records is not None else [response.record]
        found = {}
        for row in self.costs["items"].evaluate(Scope(records, records, None, {})) or []:
            if isinstance(row, dict) and row.get("sku") and row.get("cost") not in (None, ""):
                try:
                    found[str(row["sku"])] = to_amount(row["cost"])
                except ValueError:
                    continue
        return found

    # -- promotions

    def _promotions(self, prices: list[VariantPrice], record: Record, run: RunContext, conn: str) -> None:
        """Report the promotions this run starts and ends on the record, and remember the ones in force."""
        memo = (run.store.get_price_memo(conn, record.key) or {}).get("promotions") or {}
        current = {item.sku: item for item in prices if item.promotion}
        started: dict[str, list[str]] = {}
        for sku, item in current.items():
            if (memo.get(sku) or {}).get("promotion") != item.promotion:
                started.setdefault(item.promotion, []).append(sku)
        ended: dict[str, list[dict]] = {}
        regular = {item.sku: item for item in prices}
        for sku, was in memo.items():
            if sku in current and current[sku].promotion == was.get("promotion"):
                continue
            now = regular.get(sku)
            restored = {"sku": sku, "price": money_text(now.price) if now else None}
            if now is not None and now.promotion is None and was.get("regular") not in (None, money_text(now.price)):
                restored["regular_before"] = was["regular"]  # the regular price moved during the promotion
            ended.setdefault(was.get("promotion") or "", []).append(restored)
        if started:
            record.detail["promotion_started"] = started
        if ended:
            record.detail["promotion_ended"] = ended
        remembered = {sku: {"promotion": item.promotion, "price": money_text(item.price),
                            "regular": money_text(item.regular)} for sku, item in current.items()}
        if remembered != memo and not run.dry_run:
            run.store.set_price_memo(conn, record.key, {"promotions": remembered} if remembered else None)

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_role(options, "on", ctx) + _check_role(options, "costs_from", ctx)
        rules = options.get("rules")
        declared = ctx["flow"].get("options") or {}
        if isinstance(rules, dict) and set(rules) == {"option"} and rules["option"] not in declared:
            found.append(_problem(rules, "option", f"the flow declares no option {rules['option']!r}",
                                  "declare it under the flow's options:"))
        costs = options.get("costs")
        if isinstance(costs, dict):
            found += _check_operation(costs, "operation", costs.get("operation"), options.get("costs_from"), ctx)
        if isinstance(rules, dict) and "currency" in rules:
            found += _check_market(options, rules, ctx)
        return found


def _check_market(options: Any, rules: Any, ctx: dict) -> list[Problem]:
    """The channel's currency must be the catalog's or a market of the price rules."""
    connection = (ctx.get("bindings") or {}).get(options.get("on"))
    currency = connection.get("currency") if isinstance(connection, dict) else None
    if not currency or "${" in str(currency) or currency == rules["currency"]:
        return []
    markets = rules.get("markets") or {}
    if currency in markets:
        return []
    return [_problem(rules, "currency", f"the channel of role {options.get('on')!r} sells in {currency}, and price "
                                        f"rules {rules.get('name')!r} are in {rules['currency']} with no {currency} "
                                        f"market", f"add markets: {{{currency}: {{rate: ...}}}} (1 "
                                                   f"{rules['currency']} in {currency}), or a {currency} price list")]


def _amount(money: Any) -> Decimal | None:
    if not isinstance(money, dict) or money.get("amount") in (None, ""):
        return None
    try:
        return to_amount(money["amount"]).quantize(Decimal("0.01"))
    except ValueError:
        return None
