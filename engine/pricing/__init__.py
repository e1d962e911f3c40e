"""Prices with rules: the `kind: price_rules` file compiled (rules.py), its rounding modes
(rounding.py) and what `connector validate` checks in it (check.py). The `price` step
(engine/flow/steps/price.py) applies it in a catalog flow."""

from engine.pricing.rounding import Rounding
from engine.pricing.rules import PriceRules, PricingError, VariantPrice, compile_price_rules

__all__ = ["PriceRules", "PricingError", "Rounding", "VariantPrice", "compile_price_rules"]
