"""Named casts a mapping field can apply to its value: decimal, int, bool, string, datetime."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.lang.functions import decimal_text, parse_datetime, quantize, rfc3339, to_decimal
from engine.registry import Registry

CASTS = Registry("cast")

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off", ""}


@CASTS.register("decimal", doc="A decimal string ('24.00'); `scale` rounds half-up to that many places.")
def cast_decimal(value: Any, scale: int | None = None) -> str:
    number = to_decimal(value)
    return decimal_text(quantize(number, scale) if scale is not None else number)


@CASTS.register("int", doc="A whole number; '3', 3 and '3.0' are accepted, '3.5' is an error.")
def cast_int(value: Any, scale: int | None = None) -> int:
    number = to_decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"not a whole number: {value!r}")
    return int(number)


@CASTS.register("bool", doc="true/false, yes/no, 1/0 (text or values).")
def cast_bool(value: Any, scale: int | None = None) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


@CASTS.register("string", doc="Text; numbers keep their exact decimal form.")
def cast_string(value: Any, scale: int | None = None) -> str:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise ValueError(f"cannot turn a {type(value).__name__} into text")
    return str(value)


@CASTS.register("datetime", doc="RFC 3339 in UTC, from ISO 8601 with an offset or Unix seconds.")
def cast_datetime(value: Any, scale: int | None = None) -> str:
    return rfc3339(parse_datetime(value))
