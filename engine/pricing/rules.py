"""Price rules: what a product's variants sell for on one channel market, computed from the primary
catalog's prices with Decimal arithmetic only.

For each variant, in this order:

1. The market's price list, when it names the SKU: that price, in the market's currency (steps 2-4
   are skipped).
2. The first rule (in file order) whose scope holds: mirror, or a markup or markdown by a percentage
   or an amount (amounts in the catalog's currency). No rule holds: the price is mirrored.
3. Conversion to the market's currency with the market's rate (1 unit of the catalog's currency =
   `rate` units of the market's).
4. Rounding: the rule's, else the market's, else the file's, else to the cent.
5. The promotion in force at the run's time whose scope holds: its markdown on that regular price,
   then its rounding (default: the same as the regular price's).
6. Compare-at (list) price: the catalog's compare-at price through the same rule, conversion and
   rounding (`adjust`), as it is (`keep`, converted only) or none (`drop`). During a promotion it
   is the higher of the regular price and that compare-at price (`regular`), or left as the rules
   make it (`keep`). A compare-at price not above the selling price is dropped.
7. Margin guard (with the variant's cost known): the price must leave at least the minimum gross
   margin, i.e. price >= cost x rate / (1 - min_margin_percent / 100). A price below that floor is
   an error naming the SKU and the rule, or, with `on_breach: clamp`, is raised to the floor
   (rounded up to the cent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from engine.lang.expr import Scope as ExprScope
from engine.lang.mapping import _truthy
from engine.pricing.rounding import (
    CENT,
    Rounding,
    beyond_minor_units,
    minor_unit,
    minor_units,
    round_up_to_cent,
)

ADJUSTMENTS = ("mirror", "markup_percent", "markdown_percent", "markup_amount", "markdown_amount")
SCOPE_KEYS = ("skus", "tags", "categories", "when")
HUNDRED = Decimal(100)


class PricingError(ValueError):
    """A variant cannot be priced; `field_errors` name each SKU, field and rule."""

    def __init__(self, message: str, field_errors: list[dict]) -> None:
        super().__init__(message)
        self.field_errors = field_errors


def to_amount(value: Any) -> Decimal:
    """A decimal string or integer from a price rules file (floats are refused by the schema)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return amount


def money_text(amount: Decimal) -> str:
    """Two decimals, or the amount's own when it has more (a price in a three-decimal currency)."""
    exponent = amount.as_tuple().exponent
    return format(amount if isinstance(exponent, int) and exponent < -2 else amount.quantize(CENT), "f")


def parse_utc(value: Any) -> datetime:
    """A UTC time from a price rules file: an RFC 3339 string ending in Z (or +00:00), or the
    timestamp YAML reads from such a text when it is not quoted."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an RFC 3339 date-time") from None
    else:
        raise ValueError(f"{value!r} is not a date-time")
    if moment.tzinfo is None or moment.utcoffset() != UTC.utcoffset(None):
        raise ValueError(f"{value!s} is not in UTC")
    return moment.astimezone(UTC)


# ------------------------------------------------------------------------------ compiled parts


@dataclass(frozen=True)
class Selection:
    """Which variants a rule or promotion covers: every condition given must hold (SKUs: the
    variant's SKU is listed; tags: the product has one of them; categories: the product's category
    name is one of them; when: the expression over the canonical product is truthy)."""

    skus: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    when: Any = None  # a compiled JMESPath expression
    when_text: str = ""

    def holds(self, product: dict, sku: str, when_value: bool | None = None) -> bool:
        if self.skus is not None and sku not in self.skus:
            return False
        if self.tags is not None and not self.tags.intersection(product.get("tags") or []):
            return False
        if self.categories is not None and ((product.get("category") or {}).get("name") not in self.categories):
            return False
        if self.when is not None:
            return bool(when_value)
        return True

    def evaluate_when(self, product: dict, context: dict) -> bool | None:
        if self.when is None:
            return None
        return _truthy(self.when.evaluate(ExprScope(product, product, None, context)))

    def describe(self) -> str:
        parts = []
        if self.skus is not None:
            parts.append("SKUs " + ", ".join(sorted(self.skus)))
        if self.tags is not None:
            parts.append("tags " + ", ".join(sorted(self.tags)))
        if self.categories is not None:
            parts.append("categories " + ", ".join(sorted(self.categories)))
        if self.when is not None:
            parts.append(f"when {self.when_text}")
        return "; ".join(parts) or "every product"


@dataclass(frozen=True)
class Adjustment:
    kind: str = "mirror"
    value: Decimal = Decimal(0)

    def apply(self, amount: Decimal, rate: Decimal = Decimal(1)) -> Decimal:
        """The adjusted amount. Percentages scale `amount`; amounts (in the catalog's currency) are
        converted with `rate` first, so they can be applied to a price already converted."""
        if self.kind == "markup_percent":
            return amount * (HUNDRED + self.value) / HUNDRED
        if self.kind == "markdown_percent":
            return amount * (HUNDRED - self.value) / HUNDRED
        if self.kind == "markup_amount":
            return amount + self.value * rate
        if self.kind == "markdown_amount":
            return amount - self.value * rate
        return amount

    def describe(self) -> str:
        if self.kind == "mirror":
            return "mirror"
        sign = "+" if self.kind.startswith("markup") else "-"
        unit = "%" if self.kind.endswith("percent") else ""
        return f"{sign}{self.value}{unit}"


@dataclass(frozen=True)
class Rule:
    name: str
    selection: Selection
    adjustment: Adjustment
    rounding: Rounding | None = None
    compare_at: str | None = None  # adjust | keep | drop; None: the file's
    allow_free: bool = False  # a price that rounds to zero is kept (0), not refused


@dataclass(frozen=True)
class Promotion:
    name: str
    starts_at: datetime
    ends_at: datetime
    selection: Selection
    adjustment: Adjustment
    rounding: Rounding | None = None
    compare_at: str = "regular"  # regular | keep
    allow_free: bool = False

    def in_force(self, now: datetime) -> bool:
        """From its start (inclusive) to its end (exclusive)."""
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class Market:
    currency: str
    rate: Decimal | None = None
    rounding: Rounding | None = None
    prices: dict[str, tuple[Decimal, Decimal | None]] = field(default_factory=dict)  # SKU -> (price, compare-at)


@dataclass(frozen=True)
class Margin:
    min_percent: Decimal = Decimal(0)
    on_breach: str = "reject"  # reject | clamp

    def floor(self, cost: Decimal) -> Decimal:
        """The lowest price that leaves the minimum gross margin on `cost` (same currency)."""
        return cost * HUNDRED / (HUNDRED - self.min_percent)


@dataclass
class VariantPrice:
    """What one variant sells for, and why."""

    sku: str
    index: int  # in the product's variants
    regular: Decimal  # the price without a promotion
    price: Decimal  # what it sells for now
    compare_at: Decimal | None
    currency: str
    by: str  # the rule, price list or promotion that set it, for messages
    rule: str | None = None
    promotion: str | None = None
    floor: Decimal | None = None
    clamped_from: Decimal | None = None

    @property
    def rule_name(self) -> str:
        """What set the price, named as the file names it: a promotion, a rule, the market's price
        list (markets.GBP.prices) or mirror (no rule holds)."""
        if self.promotion or self.rule:
            return self.promotion or self.rule or ""
        return f"markets.{self.currency}.prices" if self.by.endswith("price list") else "mirror"


@dataclass(frozen=True)
class PriceRules:
    name: str
    currency: str
    rules: tuple[Rule, ...] = ()
    promotions: tuple[Promotion, ...] = ()
    markets: dict[str, Market] = field(default_factory=dict)
    margin: Margin | None = None
    rounding: Rounding | None = None
    compare_at: str = "adjust"

    # -- computing

    def market(self, currency: str | None) -> Market:
        currency = currency or self.currency
        found = self.markets.get(currency)
        if found is not None:
            if found.rate is None and currency == self.currency:
                return Market(currency, Decimal(1), found.rounding, found.prices)
            return found
        if currency == self.currency:
            return Market(currency, Decimal(1))
        return Market(currency)

    def price_product(self, product: dict, currency: str | None, now: datetime,
                      context: dict | None = None) -> list[VariantPrice]:
        """Each priced variant of a canonical product for the market whose currency is `currency`.
        Variants without a positive catalog price are left out (the channel's rules judge them)."""
        market = self.market(currency)
        context = context or {}
        when_cache: dict[int, bool | None] = {}

        def holds(selection: Selection, sku: str) -> bool:
            key = id(selection)
            if key not in when_cache:
                when_cache[key] = selection.evaluate_when(product, context)
            return selection.holds(product, sku, when_cache[key])

        out: list[VariantPrice] = []
        errors: list[dict] = []
        for index, variant in enumerate(product.get("variants") or []):
            sku = variant.get("sku")
            base = _amount_of(variant.get("price"))
            if not sku or base is None or base <= 0:
                continue
            compare_base = _amount_of(variant.get("compare_at_price"))
            finer = self._finer_than_unit(sku, index, variant, base, compare_base)
            if finer:
                errors.extend(finer)
                continue
            try:
                out.append(self._price_variant(product, market, now, index, sku, base, compare_base, holds))
            except PricingError as exc:
                errors.extend(exc.field_errors)
        if errors:
            raise PricingError(f"{len(errors)} price(s) could not be set", errors)
        return out

    def _finer_than_unit(self, sku: str, index: int, variant: dict, base: Decimal,
                         compare_base: Decimal | None) -> list[dict]:
        """Field errors for catalog amounts with digits below their currency's smallest unit
        (19.999 USD, 0.004 USD, 12.5 JPY): a price is never silently rounded into another one."""
        found = []
        for key, amount in (("price", base), ("compare_at_price", compare_base)):
            currency = (variant.get(key) or {}).get("currency") or self.currency
            if amount is None or not beyond_minor_units(amount, currency):
                continue
            places = minor_units(currency)
            zero = amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP).is_zero()
            found.append({"field": f"variants[{index}].{key}", "sku": sku, "rule": "",
                          "message": f"SKU {sku}: {key} {amount:f} {currency} has digits below the smallest unit "
                                     f"of {currency} ({places} decimal{'s' if places != 1 else ''})"
                                     + (f" and would round to {Decimal(0).quantize(minor_unit(currency)):f}"
                                        if zero else "")})
        return found

    def _price_variant(self, product: dict, market: Market, now: datetime, index: int, sku: str, base: Decimal,
                       compare_base: Decimal | None, holds: Any) -> VariantPrice:
        field = f"variants[{index}].price"
        listed = market.prices.get(sku)
        rule = None
        if listed is not None:
            regular, compare_at = listed
            rounding = market.rounding or self.rounding or Rounding()
            by = f"the {market.currency} price list"
        else:
            if market.rate is None:
                raise PricingError("no rate", [{"field": field, "sku": sku, "rule": f"markets.{market.currency}",
                                                "message": f"SKU {sku}: no {market.currency} price in the price list "
                                                           f"and no rate to convert {self.currency} prices"}])
            rule = next((r for r in self.rules if holds(r.selection, sku)), None)
            adjustment = rule.adjustment if rule else Adjustment()
            rounding = (rule.rounding if rule else None) or market.rounding or self.rounding or Rounding()
            by = f"rule {rule.name!r}" if rule else "mirror (no rule holds)"
            raw = adjustment.apply(base) * market.rate
            unit = minor_unit(market.currency)
            free = bool(rule and rule.allow_free)
            if (raw <= 0 or raw.quantize(unit, rounding=ROUND_HALF_UP).is_zero()) and not free:
                what = "not above zero" if raw <= 0 else f"which rounds to {Decimal(0).quantize(unit):f}"
                raise PricingError("not positive", [{"field": field, "sku": sku, "rule": rule.name if rule else "",
                                                     "message": f"SKU {sku}: {by} makes {base} {self.currency} "
                                                                f"{raw.normalize():f} {market.currency}, {what} "
                                                                f"(a rule with allow_free: true may set a price of 0)"}])
            regular = _free(unit) if free and raw.quantize(unit, rounding=ROUND_HALF_UP) <= 0 \
                else rounding.apply(raw, unit)
            mode = (rule.compare_at if rule else None) or self.compare_at
            compare_at = None
            if compare_base is not None and mode != "drop":
                compare_at = rounding.apply(adjustment.apply(compare_base) * market.rate) if mode == "adjust" \
                    else (compare_base * market.rate).quantize(CENT)
        price, promotion = regular, None
        active = [p for p in self.promotions if p.in_force(now) and holds(p.selection, sku)]
        if len(active) > 1:
            names = " and ".join(repr(p.name) for p in active)
            raise PricingError("promotions overlap", [{"field": field, "sku": sku, "rule": active[0].name,
                                                       "message": f"SKU {sku} is in promotions {names} at once; "
                                                                  f"a SKU takes one promotion at a time"}])
        if active:
            promotion = active[0]
            raw = promotion.adjustment.apply(regular, market.rate or Decimal(1))
            unit = minor_unit(market.currency)
            zero = raw <= 0 or raw.quantize(unit, rounding=ROUND_HALF_UP).is_zero()
            if zero and not promotion.allow_free:
                what = "not above zero" if raw <= 0 else f"which rounds to {Decimal(0).quantize(unit):f}"
                raise PricingError("not positive", [{"field": field, "sku": sku, "rule": promotion.name,
                                                     "message": f"SKU {sku}: promotion {promotion.name!r} makes "
                                                                f"{regular} {market.currency} {raw.normalize():f}, "
                                                                f"{what} (a promotion with allow_free: true may "
                                                                f"set a price of 0)"}])
            price = _free(unit) if zero else (promotion.rounding or rounding).apply(raw, unit)
            if promotion.compare_at == "regular":
                compare_at = max(regular, compare_at) if compare_at is not None else regular
            by = f"promotion {promotion.name!r} on {by}"
        if compare_at is not None and compare_at <= price:
            compare_at = None
        return VariantPrice(sku, index, regular, price, compare_at, market.currency, by,
                            rule.name if rule else None, promotion.name if promotion else None)

    # -- the margin guard

    def guard(self, prices: list[VariantPrice], costs: dict[str, Decimal], market_currency: str | None) -> None:
        """Hold each price to the margin floor of its SKU's cost (in the catalog's currency). Raises
        PricingError naming every SKU below its floor, unless the file clamps them."""
        if self.margin is None:
            return
        market = self.market(market_currency)
        errors = []
        for item in prices:
            cost = costs.get(item.sku)
            if cost is None or market.rate is None:
                continue
            floor = self.margin.floor(cost * market.rate)
            item.floor = floor
            if item.price >= floor:
                continue
            if self.margin.on_breach == "clamp":
                item.clamped_from, item.price = item.price, round_up_to_cent(floor)
                if item.compare_at is not None and item.compare_at <= item.price:
                    item.compare_at = None
                continue
            errors.append({"field": f"variants[{item.index}].price", "sku": item.sku, "rule": item.rule_name,
                           "message": f"SKU {item.sku}: {money_text(item.price)} {item.currency} by {item.by} is "
                                      f"below the margin floor {money_text(round_up_to_cent(floor))} "
                                      f"{item.currency} (cost {cost} {self.currency}, minimum margin "
                                      f"{self.margin.min_percent}%)"})
        if errors:
            raise PricingError(f"{len(errors)} price(s) below the margin floor", errors)


def _free(unit: Decimal) -> Decimal:
    return Decimal(0).quantize(min(unit, CENT))


def _amount_of(money: Any) -> Decimal | None:
    if not isinstance(money, dict) or money.get("amount") in (None, ""):
        return None
    try:
        return to_amount(money["amount"])
    except ValueError:
        return None


# ------------------------------------------------------------------------------ compiling a file


def _rounding(node: Any) -> Rounding | None:
    if not isinstance(node, dict) or not node.get("round"):
        return None
    return Rounding(node["round"], node.get("round_direction") or "")


def _adjustment(node: dict) -> Adjustment:
    for kind in ADJUSTMENTS[1:]:
        if kind in node:
            return Adjustment(kind, to_amount(node[kind]))
    return Adjustment()


def _selection(node: dict, exprs: Any) -> Selection:
    def names(key: str) -> frozenset[str] | None:
        values = node.get(key)
        return None if values is None else frozenset(str(v) for v in values)

    when = node.get("when")
    return Selection(names("skus"), names("tags"), names("categories"),
                     exprs.jmespath(when) if when else None, when or "")


def compile_price_rules(doc: Any, exprs: Any) -> PriceRules:
    """A `kind: price_rules` document (already checked by `connector validate`) as PriceRules."""
    rules = tuple(Rule(str(node.get("name") or f"rules[{i}]"), _selection(node, exprs), _adjustment(node),
                       _rounding(node), node.get("compare_at"), bool(node.get("allow_free")))
                  for i, node in enumerate(doc.get("rules") or []))
    promotions = tuple(Promotion(str(node["name"]), parse_utc(node["starts_at"]), parse_utc(node["ends_at"]),
                                 _selection(node, exprs), _adjustment(node), _rounding(node),
                                 node.get("compare_at") or "regular", bool(node.get("allow_free")))
                       for node in doc.get("promotions") or [])
    markets = {}
    for currency, node in (doc.get("markets") or {}).items():
        node = node or {}
        prices = {}
        for sku, entry in (node.get("prices") or {}).items():
            if isinstance(entry, dict):
                compare = entry.get("compare_at")
                prices[str(sku)] = (to_amount(entry["price"]).quantize(CENT),
                                    None if compare in (None, "") else to_amount(compare).quantize(CENT))
            else:
                prices[str(sku)] = (to_amount(entry).quantize(CENT), None)
        markets[str(currency)] = Market(str(currency), to_amount(node["rate"]) if node.get("rate") is not None else None,
                                        _rounding(node), prices)
    margin = doc.get("margin")
    return PriceRules(
        name=str(doc.get("name") or ""), currency=str(doc["currency"]), rules=rules, promotions=promotions,
        markets=markets,
        margin=Margin(to_amount(margin.get("min_percent", 0)), margin.get("on_breach") or "reject")
        if isinstance(margin, dict) else None,
        rounding=_rounding(doc), compare_at=doc.get("compare_at") or "adjust")
