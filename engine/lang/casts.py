"""Named casts a mapping field can apply to its value: decimal, int, bool, string, datetime.

Each is declared once in CASTS with its options (the field keys it reads besides `cast`) and a
worked example; the mapping schema's `cast` enum and `scale` key are generated from them.
A cast is called as `cast(value, scale)`; casts without options ignore `scale`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.lang.functions import decimal_text, parse_datetime, quantize, rfc3339, to_decimal
from engine.registry import Example, Registry

CASTS = Registry("cast")

_NO_OPTIONS: dict = {"type": "object", "properties": {}, "additionalProperties": False}

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off", ""}


@CASTS.register(
    "decimal",
    options_schema={"type": "object", "additionalProperties": False, "properties": {
        "scale": {"type": "integer", "minimum": 0, "maximum": 8,
                  "description": "With cast decimal: round half-up to this many places."}}},
    doc="A decimal string ('24.00'); `scale` rounds half-up to that many places.",
    examples=[Example({"price": {"path": "price", "cast": "decimal", "scale": 2}}, {"price": "24.50"},
                      input={"price": 24.5})],
)
def cast_decimal(value: Any, scale: int | None = None) -> str:
    number = to_decimal(value)
    return decimal_text(quantize(number, scale) if scale is not None else number)


@CASTS.register("int", options_schema=_NO_OPTIONS,
                doc="A whole number; '3', 3 and '3.0' are accepted, '3.5' is an error.",
                examples=[Example({"quantity": {"path": "quantity", "cast": "int"}}, {"quantity": 3},
                                  input={"quantity": "3.0"})])
def cast_int(value: Any, scale: int | None = None) -> int:
    if type(value) is int:  # a whole number already (bool is not one: it goes the general way)
        return value
    number = to_decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"not a whole number: {value!r}")
    return int(number)


@CASTS.register("bool", options_schema=_NO_OPTIONS, doc="true/false, yes/no, 1/0 (text or values).",
                examples=[Example({"taxable": {"path": "taxable", "cast": "bool"}}, {"taxable": True},
                                  input={"taxable": "yes"})])
def cast_bool(value: Any, scale: int | None = None) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


@CASTS.register("string", options_schema=_NO_OPTIONS, doc="Text; numbers keep their exact decimal form.",
                examples=[Example({"id": {"path": "id", "cast": "string"}}, {"id": "1729535012345678901"},
                                  input={"id": 1729535012345678901})])
def cast_string(value: Any, scale: int | None = None) -> str:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise ValueError(f"cannot turn a {type(value).__name__} into text")
    return str(value)


@CASTS.register("datetime", options_schema=_NO_OPTIONS,
                doc="RFC 3339 in UTC, from ISO 8601 with an offset or Unix seconds.",
                examples=[Example({"created_at": {"path": "create_time", "cast": "datetime"}},
                                  {"created_at": "2026-01-01T00:00:00Z"}, input={"create_time": 1767225600})])
def cast_datetime(value: Any, scale: int | None = None) -> str:
    return rfc3339(parse_datetime(value))


@CASTS.register("number", options_schema=_NO_OPTIONS,
                doc="A JSON number, for a measure an API types as a float (a weight); never for money.",
                examples=[Example({"value": {"path": "weight", "cast": "number"}}, {"value": 0.604},
                                  input={"weight": "0.604"})])
def cast_number(value: Any, scale: int | None = None) -> int | float:
    number = to_decimal(value)
    return int(number) if number == number.to_integral_value() else float(number)
