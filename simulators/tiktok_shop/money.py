"""Money as decimal strings in major units; arithmetic in Decimal, never float."""

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


def fmt(value: Decimal, currency: str = "USD") -> str:
    quantum = Decimal("1") if currency in WHOLE_UNIT else CENT
    return str(value.quantize(quantum, rounding=ROUND_HALF_UP))
