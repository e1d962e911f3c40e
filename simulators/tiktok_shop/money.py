"""Money as decimal strings in major units; arithmetic in Decimal, never float.

TikTok writes amounts without padding: "117.5", "110", "72000", "0.01" (202309 product and order
samples in shared/payloads/tiktok_shop), never "117.50". `fmt` rounds to the currency's minor
unit and then drops trailing zeros, so every amount the simulator sends reads the same way.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
# Currencies without minor units in practice on TikTok Shop.
WHOLE_UNIT = {"IDR", "VND"}


def dec(value: object, default: str = "0") -> Decimal:
    if value is None or value == "":
        return Decimal(default)
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc


def quantize(value: Decimal, currency: str = "USD") -> Decimal:
    """`value` rounded half-up to the currency's minor unit."""
    return value.quantize(Decimal("1") if currency in WHOLE_UNIT else CENT, rounding=ROUND_HALF_UP)


def plain(value: Decimal) -> str:
    """A Decimal as TikTok writes it: fixed point, no trailing zeros, no exponent, no "-0"."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt(value: Decimal, currency: str = "USD") -> str:
    """An amount in the currency's minor unit, written unpadded: 117.50 -> "117.5", 110.00 -> "110"."""
    return plain(quantize(value, currency))
