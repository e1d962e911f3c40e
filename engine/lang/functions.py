"""Custom functions, declared once and usable from both JMESPath and Jinja.

JMESPath calls them by name (`money_mul(price, '1.2')`); Jinja gets each one as a filter and as a
global (`{{ price | money_mul('1.2') }}` or `{{ money_mul(price, '1.2') }}`). Money stays Decimal
inside and comes out as a decimal string; nothing here ever produces a float.
"""

from __future__ import annotations

import contextvars
import html
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from html.parser import HTMLParser
from typing import Any

from jmespath import exceptions as jp_exceptions
from jmespath import functions as jp_functions

from engine.decimal_json import MAX_DIGITS, check_decimal, parse_decimal_text
from engine.registry import Example, Registry

FUNCTIONS = Registry("function")

# JSON numbers with a fraction are Decimal (engine/decimal_json.py): JMESPath's type checks must
# take a Decimal as a number (sum, max, sort_by, abs... refuse an "unknown" type otherwise). Its
# type tables are the only place it learns a type, so Decimal is added to them once, here.
jp_functions.TYPES_MAP["Decimal"] = "number"
if "Decimal" not in jp_functions.REVERSE_TYPES_MAP["number"]:
    jp_functions.REVERSE_TYPES_MAP["number"] = (*jp_functions.REVERSE_TYPES_MAP["number"], "Decimal")

# The record being mapped and the caller's context, for root()/parent()/var(). Set by the
# mapping runtime around each evaluation; a context variable keeps threads independent.
CURRENT_SCOPE: contextvars.ContextVar[Any] = contextvars.ContextVar("mapping_scope", default=None)


@dataclass(frozen=True)
class Signature:
    """Argument names and JMESPath types (required ones, then optional trailing ones), and the
    type of the result. Types are JMESPath's: string, number, boolean, array, object, null, any,
    joined with | where several are accepted. `connector validate` checks calls against it and
    prints its text in hints; the docs show the same text."""

    types: tuple[str, ...]
    optional: tuple[str, ...] = ()
    rest: bool = False  # any number of further arguments of the last type (money_add)
    names: tuple[str, ...] = ()  # one per required and optional argument
    returns: str = "any"

    @property
    def min_args(self) -> int:
        return len(self.types)

    @property
    def max_args(self) -> int | None:
        return None if self.rest else len(self.types) + len(self.optional)

    def arg_types(self, index: int) -> tuple[str, ...] | None:
        """The types argument `index` may have (("any",) for any), or None past the last one."""
        declared = self.types + self.optional
        if index < len(declared):
            return tuple(declared[index].split("|"))
        if self.rest and declared:
            return tuple(declared[-1].split("|"))
        return None

    def text(self, name: str) -> str:
        """`money_mul(amount: string|number, factor: string|number, places?: number) -> string`"""
        def label(i: int) -> str:
            return self.names[i] if i < len(self.names) else f"arg{i + 1}"

        args = [f"{label(i)}: {t}" for i, t in enumerate(self.types)]
        args += [f"{label(len(self.types) + j)}?: {t}" for j, t in enumerate(self.optional)]
        if self.rest:
            args.append(f"...: {self.types[-1]}")
        return f"{name}({', '.join(args)}) -> {self.returns}"


def _param_names(fn: Callable, count: int, skip: int = 0) -> tuple[str, ...]:
    """Parameter names for a signature text; `*values` becomes a, b, c..."""
    params = list(inspect.signature(fn).parameters.values())[skip:]
    names = [p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    if len(names) < count and any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        names += [chr(ord("a") + i) for i in range(count - len(names))]
    return tuple(names)


def function(
    name: str,
    *types: str,
    optional: tuple[str, ...] = (),
    rest: bool = False,
    returns: str,
    example: Example | tuple[str, Any],
    names: tuple[str, ...] = (),
    doc: str = "",
) -> Callable:
    """Declare a function: its JMESPath argument types, result type, one worked example
    (`(expression, result)` or an Example with an input record) and its doc (the docstring).
    Argument names are the Python parameter names unless `names` gives them."""

    def decorate(fn: Callable) -> Callable:
        arg_names = names or tuple(
            p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD
        )
        signature = Signature(tuple(types), tuple(optional), rest, arg_names, returns)
        if len(arg_names) != len(types) + len(optional):
            raise ValueError(f"function {name}: {len(arg_names)} argument names for {len(types) + len(optional)} types")
        worked = example if isinstance(example, Example) else Example(*example)
        FUNCTIONS.register(name, options_schema={}, doc=doc or (fn.__doc__ or ""), signature=signature,
                           examples=(worked,))(fn)
        return fn

    return decorate


# ---------------------------------------------------------------- numbers and money


# Whole numbers within the reader's digit bound convert directly; bigger ones take the checked path.
_INT_BOUND = 10 ** MAX_DIGITS


def to_decimal(value: Any) -> Decimal:
    """Strict decimal conversion; floats go through their shortest repr, never binary noise."""
    if type(value) is str:  # the usual case first (amounts come as text): ASCII digits, bounded,
        return parse_decimal_text(value)  # since Decimal() alone takes '١٩.٩٩' and '1e999999999'
    if type(value) is int and -_INT_BOUND < value < _INT_BOUND:
        return Decimal(value)  # the same value and exponent as Decimal(str(value))
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, str):  # ASCII digits, bounded: Decimal() alone takes '١٩.٩٩' and '1e999999999'
        return parse_decimal_text(value)
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return check_decimal(result)


def decimal_text(value: Decimal) -> str:
    """Plain notation (never 1E+2), keeping the scale the value has."""
    return format(value, "f")


def quantize(value: Decimal, places: int, rounding: str = ROUND_HALF_UP) -> Decimal:
    quantum = _QUANTA.get(places)
    return value.quantize(Decimal(1).scaleb(-places) if quantum is None else quantum, rounding=rounding)


_QUANTA = {places: Decimal(1).scaleb(-places) for places in range(9)}  # 1, 0.1, ... 1E-8, built once


@function("decimal", "string|number", optional=("number",), returns="string",
          example=("decimal('3.14159', `2`)", "3.14"))
def _decimal(value: Any, places: Any = None) -> str:
    """A number or numeric string as a decimal string, rounded half-up to `places` when given."""
    number = to_decimal(value)
    return decimal_text(quantize(number, int(places)) if places is not None else number)


@function("money_add", "string|number", "string|number", rest=True, names=("a", "b"), returns="string",
          example=("money_add('19.99', '0.01', '100')", "120.00"))
def _money_add(*values: Any) -> str:
    """Exact sum of decimal amounts."""
    return decimal_text(_added(values))


def _added(values: tuple) -> Decimal:
    return sum((to_decimal(v) for v in values), Decimal(0))


@function("money_sum", "array|null", optional=("number",), names=("values", "places"), returns="string",
          example=Example("money_sum(units[].discount)", "3.50",
                          input={"units": [{"discount": "1.25"}, {"discount": None}, {"discount": "2.25"}]}))
def _money_sum(values: list | None, places: Any = None) -> str:
    """Exact sum of a list of amounts (nulls and empty text skipped, no amounts: "0"); `places` rounds half-up."""
    return decimal_text(_summed(values, places))


def _summed(values: list | None, places: Any) -> Decimal:
    total = Decimal(0)
    for v in values or ():
        if v is not None and v != "":
            total += to_decimal(v)
    return quantize(total, int(places)) if places is not None else total


@function("money", "string|number|null", "string|null", returns="object|null",
          example=("money('24.5', 'USD')", {"amount": "24.5", "currency": "USD"}))
def _money(amount: Any, currency: str | None) -> dict | None:
    """A money object {amount: decimal string, currency}; a null or empty amount gives null."""
    if amount is None or (isinstance(amount, str) and not amount.strip()):
        return None
    return {"amount": decimal_text(to_decimal(amount)), "currency": currency}


@function("money_sub", "string|number", "string|number", returns="string",
          example=("money_sub('10.00', '0.01')", "9.99"))
def _money_sub(a: Any, b: Any) -> str:
    """Exact difference a - b of decimal amounts."""
    return decimal_text(to_decimal(a) - to_decimal(b))


# ---------------------------------------------------------------- amounts passed on as Decimals
# money(money_sum(...), ...) writes the sum out as text for money() to read it back. Compiled
# mappings hand such an amount over as the Decimal instead (engine.lang.mapping_codegen), through
# these twins: each gives the Decimal that to_decimal() would read from its function's text, or
# raises where that reading would refuse the text.


def reread(value: Decimal) -> Decimal:
    """to_decimal(decimal_text(value)), reading the text only when it may be refused (it may
    hold more digits than the reader takes). Otherwise `value` itself, -0 as 0: the text read
    back is the same number, and its own text and every sum and difference made with it are
    the same text (a whole number written with a positive exponent, 1E+2, is read back as 100:
    the two write and add up alike)."""
    text = format(value, "f")
    if len(text) > MAX_DIGITS:
        return parse_decimal_text(text)
    return value.copy_abs() if text[0] == "-" and value.is_zero() else value


def amount_text(text: str) -> str:
    """decimal_text(to_decimal(text)) for the text money_sum(), money_add() or money_sub() wrote
    (decimal_text of a Decimal): that text itself, read only where the reader may refuse it (more
    digits than it takes) or where it is a -0, which the reader takes as 0."""
    if len(text) > MAX_DIGITS or (text[0] == "-" and not text.strip("-0.")):
        return decimal_text(parse_decimal_text(text))
    return text


def money_sum_amount(values: list | None, places: Any = None) -> Decimal:
    """to_decimal(money_sum(values, places))."""
    return reread(_summed(values, places))


def money_add_amount(*values: Any) -> Decimal:
    """to_decimal(money_add(*values))."""
    return reread(_added(values))


def money_sub_amount(a: Any, b: Any) -> Decimal:
    """to_decimal(money_sub(a, b))."""
    return reread(to_decimal(a) - to_decimal(b))


_ZERO = Decimal(0)


def money_sum_of_field(items: Any, key: str) -> str:
    """money_sum(items[].key), without building the list of amounts first."""
    return decimal_text(_field_total(items, key))


def money_sum_of_field_amount(items: Any, key: str) -> Decimal:
    """to_decimal(money_sum(items[].key))."""
    return reread(_field_total(items, key))


def money_sum_of_fields(*projections: tuple[Any, str]) -> str:
    """money_sum([a[].x, b[].y][]): the projections' amounts one after the other, as one sum."""
    return decimal_text(_fields_total(projections))


def money_sum_of_fields_amount(*projections: tuple[Any, str]) -> Decimal:
    """to_decimal(money_sum([a[].x, b[].y][]))."""
    return reread(_fields_total(projections))


def _fields_total(projections: tuple[tuple[Any, str], ...]) -> Decimal:
    total = _ZERO
    for items, key in projections:
        total = _field_total(items, key, total)
    return total


def field_amounts(items: Any, key: str) -> list[Decimal]:
    """The amounts _field_total adds up for items[].key, read once: a compiled mapping that sums
    one projection in several places (a line's seller discount alone, then with the platform's)
    remembers these and adds them up again, instead of reading the text again."""
    amounts = []
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                value = item.get(key)
                if value is not None and value != "":
                    amounts.append(to_decimal(value))
    return amounts


def money_sum_of_amounts(*amounts: list[Decimal]) -> str:
    """money_sum([a[].x, b[].y][]) from each projection's field_amounts(): the same additions in
    the same order as _field_total's, so the same sum."""
    return decimal_text(_amounts_total(amounts))


def money_sum_of_amounts_amount(*amounts: list[Decimal]) -> Decimal:
    """to_decimal(money_sum_of_amounts(*amounts))."""
    return reread(_amounts_total(amounts))


def _amounts_total(amounts: tuple[list[Decimal], ...]) -> Decimal:
    total = _ZERO
    for listed in amounts:
        total = sum(listed, total)  # total + a1 + a2 ..., left to right, as _field_total adds
    return total


def _field_total(items: Any, key: str, total: Decimal = _ZERO) -> Decimal:
    """What _summed gives for the projection items[].key (added to `total`): the field of each
    object (null for anything else), nulls and empty text skipped."""
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                value = item.get(key)
                if value is not None and value != "":
                    total += to_decimal(value)
    return total


# Each text-writing function with its Decimal twin, and the functions that read the arguments
# at those positions (None: every one) with to_decimal() and nothing else.
AMOUNT_TWINS: dict[Callable, Callable] = {_money_sum: money_sum_amount, _money_add: money_add_amount,
                                           _money_sub: money_sub_amount}
AMOUNT_READERS: dict[Callable, tuple[int, ...] | None] = {_money: (0,), _money_add: None, _money_sub: (0, 1)}


@function("money_mul", "string|number", "string|number", optional=("number",), returns="string",
          example=("money_mul('19.99', '3')", "59.97"))
def _money_mul(amount: Any, factor: Any, places: Any = 2) -> str:
    """amount x factor, rounded half-up to `places` (default 2)."""
    return decimal_text(quantize(to_decimal(amount) * to_decimal(factor), int(places)))


@function("money_round", "string|number", optional=("number",), returns="string",
          example=("money_round('2.675')", "2.68"))
def _money_round(amount: Any, places: Any = 2) -> str:
    """Round half-up to `places` (default 2); banker's rounding is wrong for shelf prices."""
    return decimal_text(quantize(to_decimal(amount), int(places)))


@function("money_round_even", "string|number", optional=("number",), returns="string",
          example=("money_round_even('2.665')", "2.66"))
def _money_round_even(amount: Any, places: Any = 2) -> str:
    """Round half-to-even (banker's rounding) to `places` (default 2)."""
    return decimal_text(quantize(to_decimal(amount), int(places), ROUND_HALF_EVEN))


@function("money_cmp", "string|number", "string|number", returns="number",
          example=("money_cmp('9.99', '10')", -1))
def _money_cmp(a: Any, b: Any) -> int:
    """-1, 0 or 1: compare decimal strings without turning them into floats."""
    x, y = to_decimal(a), to_decimal(b)
    return (x > y) - (x < y)


# ---------------------------------------------------------------- units

_WEIGHT_IN_GRAMS = {
    "g": Decimal(1), "gram": Decimal(1), "grams": Decimal(1),
    "kg": Decimal(1000), "kilogram": Decimal(1000),
    "lb": Decimal("453.59237"), "pound": Decimal("453.59237"),
    "oz": Decimal("28.349523125"), "ounce": Decimal("28.349523125"),
}  # fmt: skip
_LENGTH_IN_MM = {
    "mm": Decimal(1), "cm": Decimal(10), "m": Decimal(1000),
    "in": Decimal("25.4"), "inch": Decimal("25.4"), "ft": Decimal("304.8"),
    "centimeter": Decimal(10), "millimeter": Decimal(1),
}  # fmt: skip


def _unit(table: dict[str, Decimal], unit: str, what: str) -> Decimal:
    try:
        return table[str(unit).strip().lower()]
    except KeyError:
        raise ValueError(f"unknown {what} unit {unit!r}; known: {', '.join(sorted(table))}") from None


@function("convert_weight", "string|number", "string", "string", optional=("number",), returns="string",
          example=("convert_weight('1', 'lb', 'g')", "453.592"))
def _convert_weight(value: Any, from_unit: str, to_unit: str, places: Any = 3) -> str:
    """Convert a weight between g, kg, lb and oz (and their long names), rounded to `places`."""
    grams = to_decimal(value) * _unit(_WEIGHT_IN_GRAMS, from_unit, "weight")
    return decimal_text(quantize(grams / _unit(_WEIGHT_IN_GRAMS, to_unit, "weight"), int(places)))


@function("convert_length", "string|number", "string", "string", optional=("number",), returns="string",
          example=("convert_length('10', 'in', 'cm')", "25.40"))
def _convert_length(value: Any, from_unit: str, to_unit: str, places: Any = 2) -> str:
    """Convert a length between mm, cm, m, in and ft, rounded to `places`."""
    mm = to_decimal(value) * _unit(_LENGTH_IN_MM, from_unit, "length")
    return decimal_text(quantize(mm / _unit(_LENGTH_IN_MM, to_unit, "length"), int(places)))


# ---------------------------------------------------------------- text


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset({"p", "br", "li", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


@function("html_to_text", "string|null", returns="string|null",
          example=("html_to_text('<p>Soft <b>cotton</b> &amp; linen</p><p>Machine wash</p>')", "Soft cotton & linen\nMachine wash"))
def _html_to_text(value: str | None) -> str | None:
    """Visible text of an HTML fragment: tags dropped, entities decoded, blank lines collapsed."""
    if value is None:
        return None
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


@function("escape_html", "string|null", returns="string|null",
          example=("escape_html('Tee & <Cap>')", "Tee &amp; &lt;Cap&gt;"))
def _escape_html(value: str | None) -> str | None:
    """Text made safe inside HTML (&, <, > and quotes escaped); null stays null."""
    return None if value is None else html.escape(value)


@function("split", "string|null", "string", returns="array",
          example=("split('cotton, summer,, tee', ',')", ["cotton", "summer", "tee"]))
def _split(value: str | None, separator: str) -> list[str]:
    """Split and trim; empty pieces dropped (tag lists such as 'a, b, c')."""
    if not value:
        return []
    return [piece.strip() for piece in value.split(separator) if piece.strip()]


@function("quote_literal", "string|number|null", returns="string",
          example=("quote_literal('O\\'Brien')", "'O\\'Brien'"))
def _quote_literal(value: Any) -> str:
    """A string literal for a query language: the value in single quotes, with backslashes and
    single quotes escaped by a backslash; null gives the keyword null."""
    if value is None:
        return "null"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


@function("trim", "string|null", returns="string|null", example=("trim('  TEE-M\n')", "TEE-M"))
def _trim(value: str | None) -> str | None:
    """Leading and trailing whitespace removed (line breaks too); null stays null."""
    return None if value is None else value.strip()


@function("upper", "string|null", returns="string|null", example=("upper('tee-m')", "TEE-M"))
def _upper(value: str | None) -> str | None:
    """Upper case; null stays null."""
    return None if value is None else value.upper()


@function("lower", "string|null", returns="string|null", example=("lower('TEE-M')", "tee-m"))
def _lower(value: str | None) -> str | None:
    """Lower case; null stays null."""
    return None if value is None else value.lower()


@function("title_case", "string|null", returns="string|null",
          example=("title_case('classic cotton tee')", "Classic Cotton Tee"))
def _title_case(value: str | None) -> str | None:
    """Each word capitalised; null stays null."""
    return None if value is None else value.title()


@function("truncate", "string|null", "number", returns="string|null",
          example=("truncate('Classic Cotton Tee', `7`)", "Classic"))
def _truncate(value: str | None, length: Any) -> str | None:
    """The first `length` characters; null stays null."""
    return None if value is None else value[: int(length)]


@function("replace", "string|null", "string", "string", returns="string|null",
          example=("replace('Tee - Black', ' - ', ' / ')", "Tee / Black"))
def _replace(value: str | None, old: str, new: str) -> str | None:
    """Every `old` replaced by `new`; null stays null."""
    return None if value is None else value.replace(old, new)


@function("format_number", "string|number", "number", returns="string", example=("format_number('7', `2`)", "7.00"))
def _format_number(value: Any, places: Any) -> str:
    """A decimal string with exactly `places` decimals, rounded half-up."""
    return decimal_text(quantize(to_decimal(value), int(places)))


# ---------------------------------------------------------------- objects and lists


@function("object_from", "array", "array", returns="object", example=Example(
    "object_from(options[].name, options[].value)", {"Size": "M", "Color": "Black"},
    input={"options": [{"name": "Size", "value": "M"}, {"name": "Color", "value": "Black"}]}))
def _object_from(keys: list, values: list) -> dict:
    """Pair keys with values ({Size: M, Color: Black}); pairs with a null key or value are dropped."""
    return {str(k): v for k, v in zip(keys, values, strict=False) if k is not None and v is not None}


@function("find_by", "array|null", "string", "any", returns="any", example=Example(
    "find_by(variants, 'sku', 'TEE-M').price", "12.00",
    input={"variants": [{"sku": "TEE-S", "price": "10.00"}, {"sku": "TEE-M", "price": "12.00"}]}))
def _find_by(items: list | None, key: str, value: Any) -> Any:
    """The first object in `items` whose `key` equals `value` (ids compare as text), or null."""
    wanted = str(value) if value is not None else None
    for item in items or []:
        if isinstance(item, dict) and item.get(key) is not None and str(item.get(key)) == wanted:
            return item
    return None


@function("get", "object|null", "string|number|null", returns="any", example=Example(
    "get(prices, currency)", "24.00", input={"currency": "USD", "prices": {"USD": "24.00", "EUR": "22.00"}}))
def _get(value: dict | None, key: Any) -> Any:
    """value[key] for a key computed at run time (JMESPath only has literal keys)."""
    return None if value is None or key is None else value.get(str(key))


@function("to_entries", "object|null", returns="array", example=Example(
    "to_entries(options)", [{"key": "Size", "value": "M"}], input={"options": {"Size": "M"}}))
def _to_entries(value: dict | None) -> list[dict]:
    """{a: 1} -> [{key: a, value: 1}], for `each` over an object."""
    return [{"key": k, "value": v} for k, v in (value or {}).items()]


# json.dumps(value, sort_keys=True, default=str) without building an encoder per call.
_GROUP_KEY = json.JSONEncoder(sort_keys=True, default=str)
_SCALAR_TEXT = {None: "null", True: "true", False: "false"}


def _group_text(value: Any) -> str:
    """_GROUP_KEY.encode(value), written out for the usual group keys (text, whole numbers, null,
    booleans, and a flat list of those: the mapping's `[seller_sku, id, is_gift]`), since the
    encoder's set-up costs more than the key. Any other value goes to the encoder itself."""
    kind = type(value)
    if kind is str:
        return _ENCODE_TEXT(value)
    if kind is list:
        # _scalar_text() written out: a call per item was half the key's cost.
        parts = []
        for item in value:
            kind = type(item)
            if kind is str:
                parts.append(_ENCODE_TEXT(item))
            elif item is None or kind is bool:
                parts.append(_SCALAR_TEXT[item])
            elif kind is int:
                parts.append(int.__repr__(item))
            else:
                return _GROUP_KEY.encode(value)
        return "[" + ", ".join(parts) + "]"
    return _scalar_text(value) or _GROUP_KEY.encode(value)


def _scalar_text(value: Any) -> str | None:
    """The encoder's text of text, a whole number, null or a boolean; None for anything else."""
    kind = type(value)
    if kind is str:
        return _ENCODE_TEXT(value)
    if kind is int:
        return int.__repr__(value)
    if value is None or kind is bool:
        return _SCALAR_TEXT[value]
    return None


_ENCODE_TEXT = json.encoder.encode_basestring_ascii  # what the encoder writes text with (ensure_ascii)


@function("group_by", "array|null", "string", returns="array", example=Example(
    "group_by(units, 'sku')[].{sku: key, count: length(items)}",
    [{"sku": "TEE-M", "count": 2}, {"sku": "CAP", "count": 1}],
    input={"units": [{"sku": "TEE-M", "id": "1"}, {"sku": "CAP", "id": "2"}, {"sku": "TEE-M", "id": "3"}]}))
def _group_by(items: list | None, key: str) -> list[dict]:
    """Objects grouped by one field, groups in first-seen order: [{key: value, items: [...]}]; no field: the null group."""
    groups: dict[str, dict] = {}
    for item in items or []:
        value = item.get(key) if isinstance(item, dict) else None
        # Values compare by their JSON text: "1" and 1 are two groups, as are 1 and true.
        identity = _group_text(value)
        group = groups.get(identity)
        if group is None:
            group = groups[identity] = {"key": value, "items": []}
        group["items"].append(item)
    return list(groups.values())


@function("take", "array|null", "number", returns="array",
          example=Example("take(items, n)", ["a", "b"], input={"items": ["a", "b", "c"], "n": 2}))
def _take(items: list | None, count: Any) -> list:
    """The first `count` items (a count read from the record; a slice only takes a literal)."""
    return list((items or [])[: max(0, int(count))])


@function("numbered", "array|null", "string", returns="array", example=Example(
    "numbered(images, 'position')[].{url: url, position: position}",
    [{"url": "a.jpg", "position": 1}, {"url": "b.jpg", "position": 2}],
    input={"images": [{"url": "a.jpg"}, {"url": "b.jpg"}]}))
def _numbered(items: list | None, key: str) -> list:
    """Each object with its 1-based place in the list under `key` (for lists whose order is their position)."""
    return [{**item, key: index} if isinstance(item, dict) else item for index, item in enumerate(items or [], start=1)]


# ---------------------------------------------------------------- dates


def parse_datetime(value: Any) -> datetime:
    """ISO 8601 / RFC 3339 text (offset or Z) or Unix seconds -> aware UTC datetime."""
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, int | float | Decimal) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.fromtimestamp(int(value), tz=UTC)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a date: {value!r}")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"date without a time zone: {value!r} (add Z or an offset)")
    return parsed.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


@function("to_rfc3339", "string|number|null", returns="string|null",
          example=("to_rfc3339('2026-01-01T12:00:00+02:00')", "2026-01-01T10:00:00Z"))
def _to_rfc3339(value: Any) -> str | None:
    """Any supported date form -> RFC 3339 in UTC ('2026-01-01T10:00:00Z')."""
    return None if value is None else rfc3339(parse_datetime(value))


@function("to_unix", "string|number|null", returns="number|null",
          example=("to_unix('2026-01-01T00:00:00Z')", 1767225600))
def _to_unix(value: Any) -> int | None:
    """Any supported date form -> Unix seconds."""
    return None if value is None else int(parse_datetime(value).timestamp())


# ---------------------------------------------------------------- scope access


@function("var", "string", returns="any", example=Example("var('region')", "US", context={"region": "US"}))
def _var(name: str) -> Any:
    """A value from the caller's context (merchant options, settings), by dotted name."""
    scope = CURRENT_SCOPE.get()
    return context_value(scope.context if scope else None, name.split("."))


def context_value(context: Any, parts: Any) -> Any:
    """`var()` without the context variable: compiled expressions pass their scope's context."""
    value = context
    for part in parts:
        value = value.get(part) if isinstance(value, dict) else None
    return value


# The functions that read CURRENT_SCOPE; compiled expressions answer them from their own scope.
SCOPE_FUNCTIONS = frozenset({"var", "root", "parent"})


@function("root", returns="any", example=Example("root().shop", "acme", input={"shop": "acme"}))
def _root() -> Any:
    """The whole input record, from inside an `each`."""
    scope = CURRENT_SCOPE.get()
    return scope.root if scope else None


@function("parent", returns="any",
          example=Example("parent().title", "Tee", input={"sku": "TEE-M"}, parent={"title": "Tee"}))
def _parent() -> Any:
    """The item one `each` level up."""
    scope = CURRENT_SCOPE.get()
    return scope.parent if scope else None


# ---------------------------------------------------------------- bindings


def _jmespath_method(name: str, fn: Callable, sig: Signature) -> Callable:
    """Adapt a declared function to jmespath's signature format.

    jmespath knows only "at least N" (variadic last argument), so optional trailing arguments
    become a variadic last argument whose types cover them, and the upper bound is checked here.
    """
    specs: list[dict[str, Any]] = [{"types": _types(t)} for t in sig.types]
    if sig.optional or sig.rest:
        merged = {t for spec in sig.types[-1:] + sig.optional for t in spec.split("|")}
        specs[-1] = {"types": [] if "any" in merged else sorted(merged), "variadic": True}
    most = None if sig.rest else len(sig.types) + len(sig.optional)

    def method(self: Any, *args: Any) -> Any:
        if most is not None and len(args) > most:
            raise jp_exceptions.ArityError(most, len(args), name)
        return fn(*args)

    method.signature = specs  # type: ignore[attr-defined]  # read by jmespath's function registry
    # Compiled expressions whose arity is known to be within bounds call `fn` directly.
    method.implementation = fn  # type: ignore[attr-defined]
    method.max_args = most  # type: ignore[attr-defined]
    return method


def _types(declared: str) -> list[str]:
    """jmespath spells "any type" as an empty list."""
    return [] if declared == "any" else declared.split("|")


@jp_functions.signature({"types": []})
def _func_to_number(self: Any, arg: Any) -> Any:
    """JMESPath's to_number; a Decimal stays as it is (jmespath's int() would drop its fraction).
    Text still becomes an int or a float: to_number is how a mapping asks for a JSON number."""
    if isinstance(arg, Decimal):
        return arg
    return jp_functions.Functions._func_to_number(self, arg)  # type: ignore[attr-defined]


@jp_functions.signature({"types": []})
def _func_to_string(self: Any, arg: Any) -> str:
    """JMESPath's to_string; a Decimal as its plain digits (`3.10`), as a JSON number would be written."""
    if isinstance(arg, str):
        return arg
    if isinstance(arg, Decimal):
        return decimal_text(arg)
    return json.dumps(arg, separators=(",", ":"), default=str)


@jp_functions.signature({"types": []})
def _func_type(self: Any, arg: Any) -> str:
    """JMESPath's type; a Decimal is a number."""
    if isinstance(arg, Decimal):
        return "number"
    return jp_functions.Functions._func_type(self, arg)  # type: ignore[attr-defined]


def _build_jmespath_functions() -> type[jp_functions.Functions]:
    attrs = {f"_func_{e.name}": _jmespath_method(e.name, e.impl, e.signature) for e in FUNCTIONS.entries()}
    attrs.update({"_func_to_number": _func_to_number, "_func_to_string": _func_to_string, "_func_type": _func_type})
    return type("EngineFunctions", (jp_functions.Functions,), attrs)


ENGINE_FUNCTIONS_CLASS = _build_jmespath_functions()
JMESPATH_BUILTINS = frozenset(
    name for name in jp_functions.Functions.FUNCTION_TABLE  # type: ignore[attr-defined]
)


def known_function_names() -> frozenset[str]:
    return JMESPATH_BUILTINS | frozenset(FUNCTIONS.names())


def _builtin_signature(name: str) -> Signature | None:
    """A JMESPath built-in's signature in the same terms as the engine's own functions."""
    spec = jp_functions.Functions.FUNCTION_TABLE.get(name)  # type: ignore[attr-defined]
    if spec is None:
        return None
    types = tuple("|".join(arg.get("types") or ["any"]) for arg in spec["signature"])
    rest = bool(spec["signature"] and spec["signature"][-1].get("variadic"))
    return Signature(types, (), rest, _param_names(spec["function"], len(types), skip=1))


def signature_of(name: str) -> Signature | None:
    """The declared signature of a function callable from expressions (engine or JMESPath built-in)."""
    if name in FUNCTIONS:
        return FUNCTIONS.get(name).signature
    return _builtin_signature(name)


def jinja_callables() -> dict[str, Callable]:
    return {entry.name: entry.impl for entry in FUNCTIONS.entries()}
