"""JSON read with exact numbers: every JSON text from outside the engine (HTTP answers, webhook
bodies, stored payloads, fixtures, input files) is read here, never with a plain ``json.loads``.

- A number with a fraction or an exponent is a ``Decimal`` (``19.99999999999999999`` keeps every
  digit; a float would make it 20.0); a whole number is an ``int``.
- Numbers are bounded: at most MAX_DIGITS digits and an exponent of at most ±MAX_EXPONENT, so a
  hostile ``1e999999999`` cannot make later Decimal arithmetic or formatting run for ever.
- ``NaN``, ``Infinity`` and ``-Infinity`` (which Python's reader accepts) are refused.
- ``-0`` and ``-0.0`` are read as 0 (a sign on zero means nothing in an amount or a quantity).
- Digits are ASCII only. The C scanner behind ``json.loads`` already refuses other digits in a
  number; ``parse_decimal_text`` applies the same rule to numeric *text* (``Decimal('١٩.٩٩')``
  is 19.99 to Python), for the casts.

A refused number is an error naming its JSON path (``loads``). Where one bad record must not
spoil a page of good ones, ``loads(..., keep_refused=True)`` keeps each refused number as a
``RefusedNumber`` (its text, and why) and ``refused_error(record)`` tells the reader which record
holds one, and where.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_DIGITS = 100
MAX_EXPONENT = 30

# A plain decimal number, ASCII digits only: what a numeric text may be before it becomes a Decimal.
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_NOT_FINITE = frozenset({"nan", "snan", "inf", "infinity"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


class RefusedNumber(str):
    """A number a JSON text held and the reader refused: its text as written, and why (`reason`)."""

    reason: str = ""

    @classmethod
    def of(cls, text: str, reason: str) -> RefusedNumber:
        refused = cls(text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text)} characters)")
        refused.reason = reason
        return refused


class NumberError(json.JSONDecodeError):
    """A refused number, at a JSON path. A JSONDecodeError (and so a ValueError) so that every
    handler of unreadable JSON handles it too; `field_errors` names the field, as a record's
    errors do."""

    def __init__(self, reason: str, path: str, text: str, field_errors: list[dict] | None = None) -> None:
        message = f"{path or 'the value'}: number {text} refused: {reason}"
        ValueError.__init__(self, message)
        self.msg, self.doc, self.pos, self.lineno, self.colno = message, "", 0, 1, 1
        self.reason, self.path, self.text = reason, path, text
        self.field_errors = field_errors if field_errors is not None else [{"field": path, "message": message}]

    def __str__(self) -> str:
        return self.msg

    def __reduce__(self) -> tuple:
        return self.__class__, (self.reason, self.path, self.text, self.field_errors)


def number_problem(text: str) -> str | None:
    """Why the text of a number (JSON or plain decimal text) is refused; None when it is accepted."""
    if not text.isascii():
        return "digits must be ASCII 0-9"
    mantissa, _, exponent = text.partition("e") if "e" in text else text.partition("E")
    digits = sum(1 for c in mantissa if "0" <= c <= "9")
    if digits > MAX_DIGITS:
        return f"{digits} digits (at most {MAX_DIGITS})"
    if exponent:
        shown = exponent.lstrip("+-").lstrip("0") or "0"
        if len(shown) > 6 or int(shown) > MAX_EXPONENT:
            return f"exponent {exponent if len(exponent) <= 12 else exponent[:12] + '...'} " \
                   f"(at most ±{MAX_EXPONENT})"
    return None


def _unsigned_zero(value: Decimal) -> Decimal:
    return value.copy_abs() if value.is_zero() else value


def parse_decimal_text(text: str) -> Decimal:
    """A Decimal from numeric text (surrounding spaces allowed), under the reader's rules: plain
    ASCII notation (no NaN, Infinity, underscores or other scripts' digits), bounded digits and
    exponent, -0 as 0. ValueError says why."""
    stripped = text.strip()
    if not _NUMBER_TEXT.fullmatch(stripped):
        if stripped.lstrip("+-").lower() in _NOT_FINITE:
            raise ValueError(f"not a finite number: {text!r}")
        if not stripped.isascii() and any(c.isdigit() for c in stripped):
            raise ValueError(f"not a decimal number: {text!r} (digits must be ASCII 0-9)")
        raise ValueError(f"not a decimal number: {text!r}")
    # Short ASCII text without an exponent is within every limit (amounts are: "19.99"), so the
    # digit and exponent count is only made for the rest; -0 only needs a look when signed.
    if len(stripped) > MAX_DIGITS or not stripped.isascii() or "e" in stripped or "E" in stripped:
        problem = number_problem(stripped)
        if problem:
            raise ValueError(f"number {RefusedNumber.of(stripped, '')} refused: {problem}")
    value = Decimal(stripped)
    return _unsigned_zero(value) if stripped[0] == "-" else value


def check_decimal(value: Decimal) -> Decimal:
    """`value` when it is finite and within the reader's bounds (its digits, and a magnitude a
    number written within them can have); ValueError otherwise."""
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value}")
    digits = len(value.as_tuple().digits)
    if digits > MAX_DIGITS:
        raise ValueError(f"number refused: {digits} digits (at most {MAX_DIGITS})")
    if value and abs(value.adjusted()) > MAX_DIGITS + MAX_EXPONENT:
        raise ValueError(f"number refused: magnitude 1E{value.adjusted()} (at most "
                         f"1E±{MAX_DIGITS + MAX_EXPONENT})")
    return _unsigned_zero(value)


def loads(data: str | bytes | bytearray, *, keep_refused: bool = False) -> Any:
    """Parse a JSON text with Decimal numbers (see the module). A refused number raises
    NumberError naming its path, unless `keep_refused`: then it stays in the result as a
    RefusedNumber. Bad syntax raises json.JSONDecodeError, as json.loads does."""
    refused: list[RefusedNumber] = []

    def refuse(text: str, reason: str) -> RefusedNumber:
        item = RefusedNumber.of(text, reason)
        refused.append(item)
        return item

    def number(text: str) -> Decimal | RefusedNumber:
        # The usual short plain number (the scanner hands over ASCII JSON numbers only) skips the checks.
        if len(text) > 40 or "e" in text or "E" in text or not text.isascii():
            problem = number_problem(text)
            if problem:
                return refuse(text, problem)
        try:
            value = Decimal(text)
        except InvalidOperation:  # the scanner hands over only JSON numbers; kept for safety
            return refuse(text, "not a number")
        return value.copy_abs() if text[0] == "-" and value.is_zero() else value

    def integer(text: str) -> int | RefusedNumber:
        if len(text) > MAX_DIGITS:
            problem = number_problem(text)
            if problem:
                return refuse(text, problem)
        return int(text)

    def constant(text: str) -> RefusedNumber:
        return refuse(text, "NaN and Infinity are not numbers an amount or a quantity can have")

    try:
        value = json.loads(data, parse_float=number, parse_int=integer, parse_constant=constant)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply to read", "", 0) from None
    if refused and not keep_refused:
        path, item = find_refused(value)[0]
        raise NumberError(item.reason, path, str(item))
    return value


def number_text(value: Any) -> str:
    """`default=` for json.dumps: a Decimal as its plain digits (a string, as every engine encoder
    writes it: stdlib json cannot write a number it did not make)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot write a value of type {type(value).__name__} as JSON")


def find_refused(value: Any, path: str = "") -> list[tuple[str, RefusedNumber]]:
    """Each refused number inside `value`, with its path (`variants[0].price`)."""
    found: list[tuple[str, RefusedNumber]] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        at, node = stack.pop()
        if isinstance(node, RefusedNumber):
            found.append((at, node))
        elif isinstance(node, dict):
            for key, item in reversed(node.items()):
                if isinstance(item, dict | list | RefusedNumber):
                    stack.append((_join(at, key), item))
        elif isinstance(node, list):
            for index in range(len(node) - 1, -1, -1):
                if isinstance(node[index], dict | list | RefusedNumber):
                    stack.append((f"{at}[{index}]", node[index]))
    return found


def _join(path: str, key: str) -> str:
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def refused_error(record: Any) -> NumberError | None:
    """The error of a record read with `keep_refused` that holds refused numbers (naming each
    field), or None. A record holding none costs one walk over its containers."""
    found = find_refused(record)
    if not found:
        return None
    path, item = found[0]
    errors = [{"field": at, "message": f"number {bad} refused: {bad.reason}"} for at, bad in found]
    error = NumberError(item.reason, path, str(item), errors)
    if len(found) > 1:
        error.msg = f"{error.msg} (and {len(found) - 1} more refused number(s))"
        ValueError.__init__(error, error.msg)
    return error
