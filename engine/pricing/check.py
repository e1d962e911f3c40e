"""`connector validate` for a price rules file, beyond its JSON Schema: amounts in range, one
adjustment per rule, UTC windows that end after they start, and promotions that may cover the same
SKU at the same time, refused with the places of both.

Two promotions may overlap when their windows overlap (each runs from its start, inclusive, to its
end, exclusive) and nothing shows their scopes apart. Scopes are apart when both list SKUs and
share none, both list categories and share none, or both list tags and share none: a product holds
one category, while tags are many, so a product carrying tags of two concurrent promotions is
refused when it is priced (a field error naming both). A `when:` expression cannot be compared, so
it separates nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.errors import Problem
from engine.pricing.rounding import beyond_minor_units, minor_units
from engine.pricing.rules import ADJUSTMENTS, parse_utc, to_amount
from engine.project.yamlpos import locate, problem_at

HUNDRED = Decimal(100)
PROMOTION_ADJUSTMENTS = ("markdown_percent", "markdown_amount")


def check_price_rules(doc: Any, compile_when: Callable[[Any, str], None]) -> list[Problem]:
    """Problems of a schema-valid price rules document. `compile_when(container, key)` compiles
    the `when:` expression at container[key] (reporting its own problems)."""
    found: list[Problem] = []
    _check_percent(doc.get("margin"), "min_percent", found)
    names: dict[str, Any] = {}
    for index, rule in enumerate(doc.get("rules") or []):
        _unique(doc.get("rules"), index, rule, names, "rule", found)
        adjustments = [k for k in ADJUSTMENTS if k in rule]
        if len(adjustments) > 1:
            found.append(problem_at(rule, [adjustments[1]], f"rule {rule['name']!r} has {' and '.join(adjustments)}",
                                    "a rule makes one adjustment; split it into two rules, or keep one"))
        _check_percent(rule, "markdown_percent", found)
        if "when" in rule:
            compile_when(rule, "when")
    for currency, market in (doc.get("markets") or {}).items():
        market = market or {}
        if market.get("rate") is not None and to_amount(market["rate"]) <= 0:
            found.append(problem_at(market, ["rate"], "a rate must be above zero",
                                    f"1 {doc.get('currency')} is how many {currency}"))
        if market.get("rate") is None and not market.get("prices") and currency != doc.get("currency"):
            found.append(problem_at(doc, ["markets", currency], f"market {currency} has neither a rate nor prices",
                                    f"add rate: (1 {doc.get('currency')} in {currency}) or a price list"))
        if market.get("rate") is None and currency != doc.get("currency") and doc.get("margin") is not None:
            found.append(problem_at(doc, ["markets", currency], f"market {currency} has no rate, so the margin guard "
                                                                 f"cannot hold its prices to costs in "
                                                                 f"{doc.get('currency')}",
                                    f"add rate: (1 {doc.get('currency')} in {currency})"))
        for sku, entry in (market.get("prices") or {}).items():
            _check_unit(market["prices"], sku, entry, str(currency), found)
            if isinstance(entry, dict) and entry.get("compare_at") is not None \
                    and to_amount(entry["compare_at"]) <= to_amount(entry["price"]):
                found.append(problem_at(entry, ["compare_at"], f"SKU {sku}: the compare-at price is not above "
                                                               f"the price", "a compare-at price shows what the "
                                                                             "price was; make it higher or remove it"))
    windows: list[tuple[int, Any, datetime, datetime]] = []
    names = {}
    promotions = doc.get("promotions") or []
    rateless = [c for c, m in (doc.get("markets") or {}).items() if (m or {}).get("rate") is None
                and c != doc.get("currency")]
    for index, promotion in enumerate(promotions):
        _unique(promotions, index, promotion, names, "promotion", found)
        adjustments = [k for k in PROMOTION_ADJUSTMENTS if k in promotion]
        if not adjustments:
            found.append(problem_at(promotions, [index], f"promotion {promotion['name']!r} changes no price",
                                    "add markdown_percent: or markdown_amount:"))
        elif len(adjustments) > 1:
            found.append(problem_at(promotion, [adjustments[1]], f"promotion {promotion['name']!r} has "
                                                                 f"{' and '.join(adjustments)}",
                                    "a promotion makes one markdown; keep one"))
        if "markdown_amount" in promotion and rateless:
            found.append(problem_at(promotion, ["markdown_amount"], f"markdown_amount is in {doc.get('currency')}, "
                                                                    f"and market {rateless[0]} has no rate to "
                                                                    f"convert it", "use markdown_percent, or give "
                                                                                   "the market a rate"))
        _check_percent(promotion, "markdown_percent", found)
        if "when" in promotion:
            compile_when(promotion, "when")
        times = []
        for key in ("starts_at", "ends_at"):
            try:
                times.append(parse_utc(promotion[key]))
            except ValueError as exc:
                found.append(problem_at(promotion, [key], str(exc),
                                        "write an RFC 3339 time in UTC ending in Z, e.g. 2025-11-28T05:00:00Z"))
        if len(times) < 2:
            continue
        if times[1] <= times[0]:
            found.append(problem_at(promotion, ["ends_at"], f"promotion {promotion['name']!r} ends before it starts",
                                    "ends_at must be later than starts_at"))
            continue
        windows.append((index, promotion, times[0], times[1]))
    found.extend(_overlaps(promotions, windows))
    return found


def _overlaps(promotions: Any, windows: list[tuple[int, Any, datetime, datetime]]) -> list[Problem]:
    found = []
    for later in range(len(windows)):
        j, b, b_start, b_end = windows[later]
        for earlier in range(later):
            i, a, a_start, a_end = windows[earlier]
            if not (a_start < b_end and b_start < a_end):
                continue
            shared = _shared_scope(a, b)
            if shared is None:
                continue
            here, there = _item_loc(promotions, j), _item_loc(promotions, i)
            found.append(Problem(
                f"promotion {b['name']!r} ({_when(b_start)} to {_when(b_end)}) overlaps promotion {a['name']!r} "
                f"({_when(a_start)} to {_when(a_end)}) at {there} on {shared}",
                here, _path(promotions, j),
                f"a SKU takes one promotion at a time: start one at or after the other's end ({_when(min(a_end, b_end))}), "
                f"or give them scopes apart (different SKUs, categories or tags)"))
    return found


def _shared_scope(a: Any, b: Any) -> str | None:
    """What two promotions' scopes may both hold (for the message), or None when they are apart."""
    shared = []
    for key, what in (("skus", "SKU"), ("categories", "category"), ("tags", "tag")):
        if key in a and key in b:
            common = sorted(set(map(str, a[key])) & set(map(str, b[key])))
            if not common:
                return None
            shared.append(f"{what}{'s' if len(common) > 1 else ''} {', '.join(common)}")
    if not shared:
        scoped = [key for key in ("skus", "categories", "tags", "when") if key in a or key in b]
        if not scoped:
            return "every product"
        return "products both may cover (scopes by " + " and ".join(scoped) + " cannot be told apart)"
    return " and ".join(shared)


def _check_percent(node: Any, key: str, found: list[Problem]) -> None:
    if isinstance(node, dict) and node.get(key) is not None and to_amount(node[key]) >= HUNDRED:
        found.append(problem_at(node, [key], f"{key} must be below 100", "100% or more leaves no price"))


def _check_unit(prices: Any, sku: Any, entry: Any, currency: str, found: list[Problem]) -> None:
    """A listed price finer than the market currency's smallest unit (19.999 USD, 12.5 JPY)."""
    for node, key in ((entry, "price"), (entry, "compare_at")) if isinstance(entry, dict) else ((prices, sku),):
        value = node.get(key) if isinstance(node, dict) else None
        if value is None:
            continue
        try:
            amount = to_amount(value)
        except ValueError:
            continue
        if beyond_minor_units(amount, currency):
            places = minor_units(currency)
            found.append(problem_at(node, [key], f"SKU {sku}: {amount:f} {currency} has digits below the smallest "
                                                 f"unit of {currency}", f"{currency} prices have {places} decimals"))


def _unique(container: Any, index: int, node: Any, names: dict[str, Any], what: str, found: list[Problem]) -> None:
    name = node.get("name")
    if name in names:
        found.append(problem_at(node, ["name"], f"two {what}s are named {name!r} (also at {_item_loc(container, names[name])})",
                                f"{what} names are shown in errors and reports; make them unique"))
    else:
        names[name] = index


def _item_loc(container: Any, index: int) -> Any:
    locs = getattr(container, "item_locs", None)
    return locs[index] if locs and index < len(locs) else locate(container, [index])


def _path(container: Any, index: int) -> str:
    from engine.project.yamlpos import format_path

    return format_path([*getattr(container, "path", ()), index])


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
