"""Price endings: to the cent, to .99, to .x5 and to whole units, each up, down or to the nearest.

Every mode picks a price from a ladder of allowed prices and keeps Decimal arithmetic all the way:

    to_cent   ..., 24.98, 24.99, 25.00, ...        (every cent)
    to_99     ..., 23.99, 24.99, 25.99, ...        (a whole unit less one cent)
    to_x5     ..., 24.85, 24.95, 25.05, ...        (cents ending in 5)
    to_whole  ..., 24.00, 25.00, 26.00, ...        (whole units)

`up` takes the lowest allowed price at or above the amount, `down` the highest at or below it, and
`nearest` the closer of the two (a tie goes up). An amount already on the ladder stays as it is.
Charm endings (to_99, to_x5, to_whole) default to `up`, so they never take a price below what the
rules computed; to_cent defaults to `nearest` (half a cent rounds up).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

MODES = ("to_cent", "to_99", "to_x5", "to_whole")
DIRECTIONS = ("up", "down", "nearest")
DEFAULT_DIRECTION = {"to_cent": "nearest", "to_99": "up", "to_x5": "up", "to_whole": "up"}

CENT = Decimal("0.01")
# Decimal places of a currency's minor unit (ISO 4217) where it is not 2: yen have none, dinars three.
MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
                     "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def minor_units(currency: str | None) -> int:
    """Decimal places of `currency`'s smallest unit (2 unless the table says otherwise)."""
    return MINOR_UNITS.get(str(currency or "").upper(), 2)


def minor_unit(currency: str | None) -> Decimal:
    """The smallest unit of `currency` as an amount: 0.01 USD, 1 JPY, 0.001 KWD."""
    return Decimal(1).scaleb(-minor_units(currency))


def beyond_minor_units(amount: Decimal, currency: str | None) -> bool:
    """True when `amount` has digits below `currency`'s smallest unit (19.999 USD, 0.5 JPY)."""
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int) or exponent >= -minor_units(currency):
        return False
    return amount.normalize().as_tuple().exponent < -minor_units(currency)  # type: ignore[operator]
# mode -> (step between allowed prices, offset of the ladder from multiples of the step, lowest price)
_LADDERS = {
    "to_cent": (Decimal("0.01"), Decimal("0"), Decimal("0.01")),
    "to_99": (Decimal("1"), Decimal("-0.01"), Decimal("0.99")),
    "to_x5": (Decimal("0.10"), Decimal("0.05"), Decimal("0.05")),
    "to_whole": (Decimal("1"), Decimal("0"), Decimal("1")),
}
_ROUNDING = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "nearest": ROUND_HALF_UP}


@dataclass(frozen=True)
class Rounding:
    mode: str = "to_cent"
    direction: str = ""  # empty: the mode's default

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown rounding {self.mode!r}; one of {', '.join(MODES)}")
        if self.direction and self.direction not in DIRECTIONS:
            raise ValueError(f"unknown rounding direction {self.direction!r}; one of {', '.join(DIRECTIONS)}")

    @property
    def effective_direction(self) -> str:
        return self.direction or DEFAULT_DIRECTION[self.mode]

    def apply(self, amount: Decimal, unit: Decimal = CENT) -> Decimal:
        """The allowed price for `amount`, with two decimals (to_cent: in steps of `unit`, the
        currency's smallest unit, and with its decimals). Never below the mode's lowest price
        (a positive amount never rounds to zero or less; the price rules refuse one that would)."""
        step, offset, lowest = _LADDERS[self.mode]
        if self.mode == "to_cent":
            step, lowest = unit, unit
        steps = ((amount - offset) / step).quantize(Decimal(1), rounding=_ROUNDING[self.effective_direction])
        price = steps * step + offset
        return max(price, lowest).quantize(unit if self.mode == "to_cent" and unit < CENT else CENT)

    def describe(self) -> str:
        return self.mode if not self.direction else f"{self.mode} ({self.direction})"


def round_up_to_cent(amount: Decimal) -> Decimal:
    """The lowest whole-cent amount at or above `amount` (a floor a price may not go under)."""
    return amount.quantize(CENT, rounding=ROUND_CEILING)
