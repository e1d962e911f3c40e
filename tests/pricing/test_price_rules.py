"""Price rules worked by hand: every figure below is computed on paper first (Decimal, never float),
then by the engine. Rounding modes, markups and markdowns, first-match rules, currency conversion
and price lists, compare-at prices, the margin guard and promotions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from engine.lang.expr import ExpressionCompiler
from engine.pricing import PricingError, Rounding, compile_price_rules
from engine.pricing.rules import parse_utc

EXPRS = ExpressionCompiler()
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def rules(**doc):
    return compile_price_rules({"kind": "price_rules", "name": "t.prices", "currency": "USD", **doc}, EXPRS)


def product(*variants, tags=(), category="Mugs"):
    return {"id": "1", "title": "T", "tags": list(tags), "category": {"name": category},
            "variants": [{"sku": sku, "price": {"amount": price, "currency": "USD"},
                          **({"compare_at_price": {"amount": compare, "currency": "USD"}} if compare else {})}
                         for sku, price, compare in variants]}


def one(price_rules, prod, currency="USD", now=NOW):
    [item] = price_rules.price_product(prod, currency, now)
    return item


# ------------------------------------------------------------------------------ rounding

@pytest.mark.parametrize("mode, direction, amount, expected", [
    # to the cent: 22.9885 is 22.98 and 0.885 of a cent
    ("to_cent", "", "22.9885", "22.99"), ("to_cent", "down", "22.9885", "22.98"), ("to_cent", "", "21.725", "21.73"),
    # .99: 24.20 lies between 23.99 and 24.99; up -> 24.99, down -> 23.99, nearest (0.21 vs 0.79) -> 23.99
    ("to_99", "", "24.20", "24.99"), ("to_99", "down", "24.20", "23.99"), ("to_99", "nearest", "24.20", "23.99"),
    ("to_99", "nearest", "24.50", "24.99"),  # 0.51 below vs 0.49 above
    ("to_99", "", "24.99", "24.99"), ("to_99", "", "25.00", "25.99"), ("to_99", "nearest", "25.00", "24.99"),
    ("to_99", "down", "0.40", "0.99"),  # nothing below 0.99 is a .99 price
    # .x5: 12.34 lies between 12.25 and 12.35
    ("to_x5", "", "12.34", "12.35"), ("to_x5", "down", "12.34", "12.25"), ("to_x5", "nearest", "12.34", "12.35"),
    ("to_x5", "nearest", "12.39", "12.35"), ("to_x5", "nearest", "12.30", "12.35"),  # a tie (0.05 each way) goes up
    ("to_x5", "", "28.00", "28.05"),
    # whole units
    ("to_whole", "", "14.01", "15.00"), ("to_whole", "down", "14.99", "14.00"), ("to_whole", "nearest", "14.50", "15.00"),
    ("to_whole", "nearest", "14.49", "14.00"), ("to_whole", "", "15.00", "15.00"),
])
def test_rounding_modes(mode, direction, amount, expected):
    assert Rounding(mode, direction).apply(D(amount)) == D(expected)


# ------------------------------------------------------------------------------ adjustments

@pytest.mark.parametrize("rule, price, expected", [
    ({"mirror": True}, "25.00", "25.00"),
    ({}, "25.00", "25.00"),  # no adjustment is a mirror
    # 19.99 x 1.15 = 22.9885 -> 22.99 (to the cent, half up)
    ({"markup_percent": "15"}, "19.99", "22.99"),
    # 19.99 x 1.15 = 22.9885 -> up to .x5: 23.05
    ({"markup_percent": "15", "round": "to_x5"}, "19.99", "23.05"),
    # 40.00 x (1 - 0.30) = 28.00 -> up to .x5: 28.05
    ({"markdown_percent": 30, "round": "to_x5"}, "40.00", "28.05"),
    # 12.00 + 2.50 = 14.50 -> up to whole: 15.00
    ({"markup_amount": "2.50", "round": "to_whole"}, "12.00", "15.00"),
    # 30.00 - 5 = 25.00 -> nearest .99: 24.99
    ({"markdown_amount": 5, "round": "to_99", "round_direction": "nearest"}, "30.00", "24.99"),
    # 14.00 x 1.08 = 15.12 -> up to .99: 15.99 (the Acme gift rule)
    ({"markup_percent": 8, "round": "to_99"}, "14.00", "15.99"),
    # 12.5% of 10.00 = 1.25: 11.25 stays 11.25
    ({"markup_percent": "12.5"}, "10.00", "11.25"),
])
def test_markups_and_markdowns(rule, price, expected):
    item = one(rules(rules=[{"name": "r", **rule}]), product(("A-1", price, None)))
    assert item.price == D(expected) and item.regular == D(expected) and item.rule == "r"


def test_the_first_rule_that_holds_prices_a_variant_and_none_holding_mirrors():
    price_rules = rules(rules=[
        {"name": "clearance", "tags": ["clearance"], "markdown_percent": 50},
        {"name": "gifts", "tags": ["gift"], "markup_percent": 10},
        {"name": "one_sku", "skus": ["B-1"], "markup_amount": "1.00"},
        {"name": "mugs", "categories": ["Mugs"], "when": "length(variants) > `1`", "markup_amount": "3.00"},
    ])
    # both tags: clearance is first -> 20.00 x 0.5 = 10.00
    assert one(price_rules, product(("A-1", "20.00", None), tags=["gift", "clearance"])).price == D("10.00")
    # gift only -> 20.00 x 1.1 = 22.00
    item = one(price_rules, product(("A-1", "20.00", None), tags=["gift"]))
    assert (item.price, item.rule) == (D("22.00"), "gifts")
    # a two-variant mug: B-1 takes one_sku (+1.00), B-2 takes mugs (+3.00)
    prices = price_rules.price_product(product(("B-1", "20.00", None), ("B-2", "20.00", None)), "USD", NOW)
    assert [(p.sku, p.price, p.rule) for p in prices] == [("B-1", D("21.00"), "one_sku"), ("B-2", D("23.00"), "mugs")]
    # a one-variant candle: no rule holds -> mirrored
    item = one(price_rules, product(("C-1", "20.00", None), category="Candles"))
    assert (item.price, item.rule) == (D("20.00"), None)


def test_a_variant_without_a_positive_catalog_price_is_left_to_the_channel_rules():
    prices = rules(rules=[{"name": "r", "markup_percent": 10}]).price_product(
        product(("A-1", "0.00", None), ("A-2", "-5.00", None), ("A-3", "10.00", None)), "USD", NOW)
    assert [p.sku for p in prices] == ["A-3"]


def test_a_markdown_to_zero_or_less_is_a_field_error_naming_the_sku_and_rule():
    with pytest.raises(PricingError) as caught:
        rules(rules=[{"name": "giveaway", "markdown_amount": "12.00"}]).price_product(
            product(("A-1", "10.00", None)), "USD", NOW)
    [error] = caught.value.field_errors
    assert error["field"] == "variants[0].price" and error["rule"] == "giveaway" and "A-1" in error["message"]


# ------------------------------------------------------------------------------ markets

def test_conversion_with_a_rate_then_rounding():
    price_rules = rules(rules=[{"name": "up", "skus": ["A-2"], "markup_percent": 10}],
                        markets={"GBP": {"rate": "0.79", "round": "to_99"}, "MYR": {"rate": "4.7"}})
    # 25.00 USD x 0.79 = 19.75 GBP -> up to .99: 19.99
    item = one(price_rules, product(("A-1", "25.00", None)), "GBP")
    assert (item.price, item.currency) == (D("19.99"), "GBP")
    # 25.00 x 1.10 = 27.50 USD x 0.79 = 21.725 GBP -> .99 up: 21.99
    assert one(price_rules, product(("A-2", "25.00", None)), "GBP").price == D("21.99")
    # 25.00 x 1.10 = 27.50 x 4.7 = 129.25 MYR (to the cent)
    assert one(price_rules, product(("A-2", "25.00", None)), "MYR").price == D("129.25")
    # the catalog's own currency needs no market: 25.00 x 1.10 = 27.50
    assert one(price_rules, product(("A-2", "25.00", None)), "USD").price == D("27.50")


def test_a_price_list_wins_for_its_skus_and_a_market_without_a_rate_refuses_the_others():
    price_rules = rules(rules=[{"name": "up", "markup_percent": 50}],
                        markets={"GBP": {"prices": {"A-1": "18.00", "A-2": {"price": "30", "compare_at": "35.50"}}}})
    prices = price_rules.price_product(product(("A-1", "25.00", None), ("A-2", "25.00", None)), "GBP", NOW)
    assert [(p.price, p.compare_at, p.by) for p in prices] == [
        (D("18.00"), None, "the GBP price list"), (D("30.00"), D("35.50"), "the GBP price list")]
    with pytest.raises(PricingError) as caught:
        price_rules.price_product(product(("A-3", "25.00", None)), "GBP", NOW)
    assert "no GBP price in the price list and no rate" in caught.value.field_errors[0]["message"]


# ------------------------------------------------------------------------------ compare-at prices

@pytest.mark.parametrize("mode, expected", [
    ("adjust", D("44.00")),  # 40.00 x 1.10
    ("keep", D("40.00")),
    ("drop", None),
])
def test_compare_at_prices(mode, expected):
    price_rules = rules(rules=[{"name": "r", "markup_percent": 10}], compare_at=mode)
    item = one(price_rules, product(("A-1", "30.00", "40.00")))
    assert (item.price, item.compare_at) == (D("33.00"), expected)


def test_a_compare_at_price_not_above_the_price_is_dropped():
    # keep: 31.00 stays 31.00, but the price is 30.00 x 1.10 = 33.00 -> a struck-through 31.00 would lie
    price_rules = rules(rules=[{"name": "r", "markup_percent": 10, "compare_at": "keep"}])
    assert one(price_rules, product(("A-1", "30.00", "31.00"))).compare_at is None


# ------------------------------------------------------------------------------ margin guard

def costs(**amounts):
    return {sku.replace("_", "-"): D(amount) for sku, amount in amounts.items()}


def test_the_margin_guard_refuses_a_price_below_the_floor_naming_the_sku_and_rule():
    # cost 18.00 with a 10% gross margin: floor 18.00 / 0.90 = 20.00
    price_rules = rules(rules=[{"name": "sale", "markdown_percent": "20.05"}], margin={"min_percent": 10})
    prices = price_rules.price_product(product(("A-1", "25.00", None), ("A-2", "25.01", None)), "USD", NOW)
    # 25.00 x 0.7995 = 19.9875 -> 19.99 (below 20.00); 25.01 x 0.7995 = 19.9954... -> 20.00 (at the floor)
    assert [p.price for p in prices] == [D("19.99"), D("20.00")]
    with pytest.raises(PricingError) as caught:
        price_rules.guard(prices, costs(A_1="18.00", A_2="18.00"), "USD")
    [error] = caught.value.field_errors
    assert error["field"] == "variants[0].price" and error["sku"] == "A-1" and error["rule"] == "sale"
    assert error["message"] == ("SKU A-1: 19.99 USD by rule 'sale' is below the margin floor 20.00 USD "
                                "(cost 18.00 USD, minimum margin 10%)")


def test_the_margin_guard_without_a_cost_checks_nothing_and_zero_percent_means_never_below_cost():
    price_rules = rules(margin={"min_percent": 0})
    prices = price_rules.price_product(product(("A-1", "9.99", None), ("A-2", "10.00", None)), "USD", NOW)
    price_rules.guard(prices, costs(A_2="10.00"), "USD")  # A-1's cost is unknown; A-2 sells at cost exactly
    with pytest.raises(PricingError):
        price_rules.guard(prices, costs(A_1="10.00"), "USD")


def test_clamping_raises_the_price_to_the_floor_rounded_up_to_the_cent():
    # cost 10.00 with 15%: 10.00 / 0.85 = 11.7647... -> 11.77
    price_rules = rules(margin={"min_percent": 15, "on_breach": "clamp"})
    [item] = price_rules.price_product(product(("A-1", "11.00", "11.50")), "USD", NOW)
    price_rules.guard([item], costs(A_1="10.00"), "USD")
    assert (item.price, item.clamped_from, item.compare_at) == (D("11.77"), D("11.00"), None)


def test_the_margin_floor_converts_the_cost_with_the_market_rate():
    # cost 18.00 USD x 0.79 = 14.22 GBP; 10% margin: 14.22 / 0.9 = 15.80 GBP
    price_rules = rules(margin={"min_percent": 10}, markets={"GBP": {"rate": "0.79"}})
    # 20.00 USD x 0.79 = 15.80 GBP: at the floor
    [at_floor] = price_rules.price_product(product(("A-1", "20.00", None)), "GBP", NOW)
    price_rules.guard([at_floor], costs(A_1="18.00"), "GBP")
    # 19.98 x 0.79 = 15.7842 -> 15.78 GBP: below
    [below] = price_rules.price_product(product(("A-1", "19.98", None)), "GBP", NOW)
    with pytest.raises(PricingError) as caught:
        price_rules.guard([below], costs(A_1="18.00"), "GBP")
    [error] = caught.value.field_errors
    assert "15.78 GBP by mirror (no rule holds) is below the margin floor 15.80 GBP" in error["message"]
    assert error["rule"] == "mirror"


# ------------------------------------------------------------------------------ promotions

SUMMER = {"name": "summer", "starts_at": "2027-07-01T00:00:00Z", "ends_at": "2027-07-08T00:00:00Z",
          "tags": ["summer"], "markdown_percent": 20, "round": "to_99", "round_direction": "down"}


def test_a_promotion_marks_the_regular_price_down_only_inside_its_window():
    price_rules = rules(rules=[{"name": "gifts", "markup_percent": 8, "round": "to_99"}], promotions=[SUMMER])
    tee = product(("T-1", "45.00", None), tags=["summer"])
    # regular: 45.00 x 1.08 = 48.60 -> 48.99; in the promotion 48.99 x 0.8 = 39.192 -> down to .99: 38.99, and
    # the regular price is shown struck through
    before, start, last, end = (parse_utc(t) for t in ("2027-06-30T23:59:59Z", "2027-07-01T00:00:00Z",
                                                       "2027-07-07T23:59:59Z", "2027-07-08T00:00:00Z"))
    assert (one(price_rules, tee, now=before).price, one(price_rules, tee, now=before).compare_at) == (D("48.99"), None)
    for moment in (start, last):
        item = one(price_rules, tee, now=moment)
        assert (item.price, item.regular, item.compare_at, item.promotion) == (D("38.99"), D("48.99"), D("48.99"),
                                                                                "summer")
    item = one(price_rules, tee, now=end)
    assert (item.price, item.promotion) == (D("48.99"), None)
    # outside its scope nothing changes
    assert one(price_rules, product(("M-1", "45.00", None)), now=start).price == D("48.99")


def test_during_a_promotion_a_higher_compare_at_price_stays_struck_through():
    price_rules = rules(promotions=[{**SUMMER, "compare_at": "regular", "round": "to_cent"}])
    # regular 40.00 with compare-at 50.00; 20% off: 32.00, struck-through 50.00 (higher than 40.00)
    item = one(price_rules, product(("T-1", "40.00", "50.00"), tags=["summer"]), now=parse_utc("2027-07-02T00:00:00Z"))
    assert (item.price, item.compare_at) == (D("32.00"), D("50.00"))


def test_a_markdown_amount_promotion_is_converted_with_the_rate():
    promotion = {**SUMMER, "markdown_amount": "5.00", "round": "to_cent"}
    del promotion["markdown_percent"]
    price_rules = rules(promotions=[promotion], markets={"GBP": {"rate": "0.8"}})
    # regular 30.00 USD x 0.8 = 24.00 GBP; 5.00 USD off = 4.00 GBP off: 20.00 GBP
    item = one(price_rules, product(("T-1", "30.00", None), tags=["summer"]), "GBP", parse_utc("2027-07-02T00:00:00Z"))
    assert item.price == D("20.00")


def test_a_sku_in_two_promotions_at_once_is_refused_when_priced():
    other = {**SUMMER, "name": "tees", "tags": ["tee"]}
    price_rules = rules(promotions=[SUMMER, other])
    with pytest.raises(PricingError) as caught:
        price_rules.price_product(product(("T-1", "30.00", None), tags=["summer", "tee"]), "USD",
                                  parse_utc("2027-07-02T00:00:00Z"))
    assert "promotions 'summer' and 'tees' at once" in caught.value.field_errors[0]["message"]


# ------------------------------------------------------------------------------ the README's worked example

README_RULES = {
    "margin": {"min_percent": 10},
    "rules": [{"name": "gifts", "tags": ["gift"], "markup_percent": 8, "round": "to_99"},
              {"name": "everything_else", "mirror": True}],
    "markets": {"GBP": {"rate": "0.79", "round": "to_99"}},
    "promotions": [{"name": "summer_apparel", "tags": ["apparel"], "markdown_percent": 20, "round": "to_99",
                    "round_direction": "down", "starts_at": "2027-07-01T05:00:00Z", "ends_at": "2027-07-08T05:00:00Z"}],
}


@pytest.mark.parametrize("sku, price, tags_, cost, currency, when, expected, compare_at, error", [
    ("CNDL-1", "14.00", ["gift"], "9.00", "USD", "2027-06-01T00:00:00Z", "15.99", None, None),
    ("CNDL-1", "14.00", ["gift"], "9.00", "GBP", "2027-06-01T00:00:00Z", "11.99", None, None),
    ("TEE-1", "45.00", ["apparel"], "30.00", "USD", "2027-06-30T00:00:00Z", "45.00", None, None),
    ("TEE-1", "45.00", ["apparel"], "30.00", "GBP", "2027-06-30T00:00:00Z", "35.99", None, None),
    ("TEE-1", "45.00", ["apparel"], "30.00", "USD", "2027-07-01T05:00:00Z", "35.99", "45.00", None),
    ("TEE-1", "45.00", ["apparel"], "30.00", "GBP", "2027-07-01T05:00:00Z", "27.99", "35.99", None),
    ("MUG-1", "12.00", [], "11.50", "USD", "2027-06-01T00:00:00Z", "12.00", None,
     "SKU MUG-1: 12.00 USD by rule 'everything_else' is below the margin floor 12.78 USD (cost 11.50 USD, "
     "minimum margin 10%)"),
    ("MUG-1", "12.00", [], "11.50", "GBP", "2027-06-01T00:00:00Z", "9.99", None,
     "SKU MUG-1: 9.99 GBP by rule 'everything_else' is below the margin floor 10.10 GBP (cost 11.50 USD, "
     "minimum margin 10%)"),
], ids=["gift-us", "gift-gb", "tee-us", "tee-gb", "tee-promo-us", "tee-promo-gb", "mug-us", "mug-gb"])
def test_the_readme_worked_example(sku, price, tags_, cost, currency, when, expected, compare_at, error):
    price_rules = rules(**README_RULES)
    item = one(price_rules, product((sku, price, None), tags=tags_), currency, parse_utc(when))
    assert (item.price, item.compare_at) == (D(expected), D(compare_at) if compare_at else None)
    if error is None:
        price_rules.guard([item], {sku: D(cost)}, currency)
        return
    with pytest.raises(PricingError) as caught:
        price_rules.guard([item], {sku: D(cost)}, currency)
    assert caught.value.field_errors[0]["message"] == error
