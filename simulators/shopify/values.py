"""Value formats of the REST API: string money, gid strings, timestamps with an offset."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from starlette.responses import JSONResponse as _StarletteJSONResponse

from .errors import bad_param, invalid

CENT = Decimal("0.01")
ZERO = Decimal("0")


def dec(value: object, field: str = "price") -> Decimal:
    """Money from a request: Shopify accepts numbers and numeric strings alike."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, bool):
        raise invalid(field, "is not a number")
    try:
        # str() first so a float like 41.94 becomes Decimal("41.94"), not its binary expansion
        result = Decimal(str(value))
    except InvalidOperation:
        raise invalid(field, "is not a number") from None
    if not result.is_finite():
        raise invalid(field, "is not a number")
    return result


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def money_number(value: Decimal) -> Decimal:
    """Money the REST API writes as a JSON number, not a string: refund line items' `subtotal` and
    `total_tax` (2025-01 order sample: 195.66, 3.98). Kept a Decimal; `dumps` writes its digits."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


_NUMBER = "\x00number:"
_NUMBER_TEXT = re.compile(r'"\\u0000number:(-?[0-9]+(?:\.[0-9]+)?)"')


def _number_marker(value: object) -> str:
    if isinstance(value, Decimal) and value.is_finite():
        return f"{_NUMBER}{value:f}"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(content: Any) -> str:
    """Compact JSON in which a Decimal is a number literal with exactly its digits (no float)."""
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                      default=_number_marker)
    return _NUMBER_TEXT.sub(r"\1", text)


class JSONResponse(_StarletteJSONResponse):
    """Starlette's JSONResponse, writing Decimals as number literals (see `dumps`)."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def money_set(value: Decimal, currency: str) -> dict:
    amount = {"amount": money(value), "currency_code": currency}
    return {"shop_money": dict(amount), "presentment_money": dict(amount)}


def gid(kind: str, ident: int) -> str:
    return f"gid://shopify/{kind}/{ident}"


def shop_tz(offset_minutes: int) -> timezone:
    return timezone(timedelta(minutes=offset_minutes))


def iso(moment: datetime, tz: timezone) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds")


def parse_time(value: str, param: str = "created_at_min") -> datetime:
    """Filter timestamps: ISO-8601, with or without an offset (no offset is read as UTC)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except (ValueError, AttributeError):
        raise bad_param(param) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def epoch(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else 0.0


def as_int(value: object, field: str) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise invalid(field, "is not a number") from None
