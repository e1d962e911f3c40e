"""Hostile records: numbers are read exactly (Decimal, never float), bounded, and a bad number costs
the record that holds it a dead letter naming the field, never the run."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from engine.decimal_json import (
    MAX_DIGITS,
    NumberError,
    RefusedNumber,
    loads,
    parse_decimal_text,
    refused_error,
)
from engine.flow.runner import FlowRun, Merchant
from engine.lang.casts import CASTS
from engine.lang.expr import ExpressionCompiler, Scope

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
ENV = {"ACME_SHOPIFY_TOKEN": "shpat_test", "ACME_SHOPIFY_WEBHOOK_SECRET": "whsec_test",
       "ACME_TIKTOK_SHOP_CIPHER": "cipher", "ACME_TIKTOK_APP_KEY": "key", "ACME_TIKTOK_APP_SECRET": "secret-value",
       "ACME_TIKTOK_ACCESS_TOKEN": "access", "ACME_TIKTOK_REFRESH_TOKEN": "refresh",
       "ACME_TIKTOK_URL": "https://tiktok.test"}
EXACT = "19.99999999999999999"


# ------------------------------------------------------------------------------ the reader


def test_numbers_are_decimal_and_keep_every_digit() -> None:
    assert json.loads(EXACT) == 20.0  # what a float reader does
    value = loads(b'{"price": ' + EXACT.encode() + b', "qty": 3, "big": 18446744073709551617}')
    assert value == {"price": Decimal(EXACT), "qty": 3, "big": 18446744073709551617}
    assert type(value["price"]) is Decimal and type(value["qty"]) is int


@pytest.mark.parametrize("text", ["-0", "-0.0", "-0e3"])
def test_negative_zero_is_zero(text: str) -> None:
    value = loads(text)
    assert value == 0 and not (isinstance(value, Decimal) and value.is_signed())


@pytest.mark.parametrize(("text", "path", "why"), [
    ('{"a": {"b": [1, 1e999999999]}}', "a.b[1]", "exponent 999999999"),
    ('{"a": 1E-31}', "a", "exponent -31"),
    ('{"a": ' + "9" * 1000 + "}", "a", "1000 digits"),
    ('{"a": 0.' + "1" * MAX_DIGITS + "}", "a", f"{MAX_DIGITS + 1} digits"),
    ('{"x y": NaN}', '["x y"]', "NaN"),
    ('[Infinity]', "[0]", "NaN and Infinity"),
    ('{"a": -Infinity}', "a", "NaN and Infinity"),
])
def test_refused_numbers_name_their_path(text: str, path: str, why: str) -> None:
    with pytest.raises(NumberError) as caught:
        loads(text)
    assert caught.value.path == path and why in str(caught.value)
    assert isinstance(caught.value, json.JSONDecodeError)  # every handler of unreadable JSON catches it


def test_limits_hold_at_their_bounds() -> None:
    assert loads("1e30") == Decimal("1e30") and loads("1e-30") == Decimal("1e-30")
    assert loads("9" * MAX_DIGITS) == int("9" * MAX_DIGITS)


def test_unicode_digits_are_refused_in_numbers_and_in_numeric_text() -> None:
    with pytest.raises(json.JSONDecodeError):  # the C scanner takes ASCII digits only
        loads('{"price": ١٩.٩٩}')
    assert Decimal("١٩.٩٩") == Decimal("19.99")  # which is why numeric text is checked before Decimal()
    for cast in ("decimal", "int", "number"):
        with pytest.raises(ValueError, match="ASCII"):
            CASTS.get(cast).impl("١٩.٩٩")
    for text in ("NaN", "1_000", "1e999999999", "inf"):
        with pytest.raises(ValueError):
            parse_decimal_text(text)
    assert CASTS.get("decimal").impl(Decimal(EXACT)) == EXACT


def test_kept_refusals_find_the_record_and_field() -> None:
    page = loads('{"products": [{"id": "1", "price": 2.5}, {"id": "2", "skus": [{"price": 1e99999}]}]}',
                 keep_refused=True)
    good, bad = page["products"]
    assert refused_error(good) is None
    error = refused_error(bad)
    assert isinstance(bad["skus"][0]["price"], RefusedNumber)
    assert error is not None and error.field_errors[0]["field"] == "skus[0].price"


def test_expressions_take_decimal_numbers() -> None:
    exprs = ExpressionCompiler()
    data = {"items": [{"p": Decimal("1.5")}, {"p": Decimal("2.25")}], "x": Decimal("3.10")}
    scope = Scope(data, data, None, {})

    def ev(text: str):
        return exprs.jmespath(text).evaluate(scope)

    assert ev("sum(items[].p)") == Decimal("3.75") and ev("max(items[].p)") == Decimal("2.25")
    assert ev("sort_by(items, &p)[0].p") == Decimal("1.5") and ev("abs(x)") == Decimal("3.10")
    assert ev("x == `3.1`") is True and ev("items[?p > `1.6`].p") == [Decimal("2.25")]
    assert ev("to_string(x)") == "3.10" and ev("type(x)") == "number" and ev("to_number(x)") == Decimal("3.10")
    assert exprs.template("{{ x + 0.5 }}").evaluate(scope) == "3.60"


# ------------------------------------------------------------------------------ through a run

FLOW = """kind: flow
name: hostile_prices
entity: product
roles:
  channel: {description: the shop, pull: [product], push: [product]}
steps:
  - pull: {from: channel, operation: search_products}
  - map: {mapping: hostile.price_echo}
  - match: {on: channel, entity: product}
  - diff: {on: channel, entity: product, parts: {content: "@"}}
  - push:
      to: channel
      entity: product
      create: {operation: partial_edit_product, path_params: {product_id: key}, id: id}
"""

MAPPING = """kind: mapping
name: hostile.price_echo
source: {platform: tiktok_shop, entity: product}
target: {platform: tiktok_shop, entity: price_echo}
fields:
  id: id
  price: {path: "skus[0].price.amount", cast: decimal}
  weight: "package_weight.value"
"""

PRODUCTS = [
    ("101", EXACT), ("102", "1e999999999"), ("103", "9" * 1000), ("104", "-0.0"), ("105", "NaN"), ("106", "0.1"),
]


def _page() -> bytes:
    products = ",".join(
        f'{{"id": "{pid}", "title": "P{pid}", "skus": [{{"seller_sku": "S{pid}", "price": {{"amount": {amount}}}}}],'
        f' "package_weight": {{"value": 0.604}}}}' for pid, amount in PRODUCTS)
    return ('{"code": 0, "message": "Success", "request_id": "r", "data": {"products": [' + products +
            '], "next_page_token": ""}}').encode()


def test_a_pull_keeps_every_digit_and_bad_numbers_are_dead_letters_of_their_records(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "acme", ignore=shutil.ignore_patterns(".state"))
    (tmp_path / "acme" / "hostile_prices.yaml").write_text(FLOW)
    (tmp_path / "acme" / "price_echo.yaml").write_text(MAPPING)
    path = tmp_path / "acme" / "merchant.yaml"
    path.write_text(path.read_text().replace("\nflows:\n", "\nflows:\n  hostile:\n    flow: hostile_prices\n"
                                                           "    connections: {channel: tiktok_us}\n", 1))
    sent: dict[str, bytes] = {}

    def platform(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/products/search"):
            return httpx.Response(200, content=_page(), headers={"content-type": "application/json"})
        sent[request.url.path.split("/")[-2]] = request.content
        return httpx.Response(200, json={"code": 0, "message": "Success", "request_id": "r",
                                         "data": {"id": request.url.path.split("/")[-2]}})

    merchant = Merchant(path, environ=ENV, state_url=":memory:", transports={"tiktok_us": httpx.MockTransport(platform)})
    try:
        FlowRun(merchant, "hostile").run()
        letters = {letter["key"]: letter for letter in merchant.store.list_dead_letters(merchant="acme")}
    finally:
        merchant.close()
    assert sorted(letters) == ["102", "103", "105"], {k: (v["step"], v["error"]["message"]) for k, v in letters.items()}
    for key, why in (("102", "exponent"), ("103", "1000 digits"), ("105", "NaN")):
        error = letters[key]["error"]
        assert letters[key]["step"] == "pull" and why in error["message"]
        assert error["field_errors"][0]["field"] == "skus[0].price.amount"
    assert sorted(sent) == ["101", "104", "106"]  # the rest of the run went on
    body = json.loads(sent["101"], parse_float=Decimal)
    assert body["price"] == EXACT and EXACT.encode() in sent["101"]  # every digit, pull to push body
    assert json.loads(sent["104"])["price"] == "0.0"  # -0.0 arrives as 0
    assert Decimal(str(json.loads(sent["106"])["weight"])) == Decimal("0.604")


# ------------------------------------------------------------------------------ price rules


def _price(doc: dict, variants: list[dict], currency: str | None = None) -> list | list[dict]:
    from datetime import UTC, datetime

    from engine.pricing.rules import PricingError, compile_price_rules

    rules = compile_price_rules(doc, ExpressionCompiler())
    try:
        return [(p.sku, p.price) for p in rules.price_product({"variants": variants}, currency,
                                                               datetime(2026, 1, 1, tzinfo=UTC))]
    except PricingError as exc:
        return exc.field_errors


def _variant(sku: str, amount: str, currency: str = "USD") -> dict:
    return {"sku": sku, "price": {"amount": amount, "currency": currency}}


def test_amounts_finer_than_the_currency_unit_are_refused_naming_sku_and_field() -> None:
    errors = _price({"currency": "USD"}, [_variant("A", "19.999"), _variant("B", "0.004"), _variant("C", "19.99")])
    assert [(e["sku"], e["field"]) for e in errors] == [("A", "variants[0].price"), ("B", "variants[1].price")]
    assert "would round to 0.00" in errors[1]["message"] and "round" not in errors[0]["message"]
    assert [e["sku"] for e in _price({"currency": "JPY"}, [_variant("Y", "12.5", "JPY")])] == ["Y"]
    assert _price({"currency": "KWD"}, [_variant("K", "1.235", "KWD")]) == [("K", Decimal("1.235"))]
    assert _price({"currency": "USD", "markets": {"KWD": {"rate": "0.30712"}}}, [_variant("A", "10.00")],
                  "KWD") == [("A", Decimal("3.071"))]  # to the fils, not to a cent KWD does not have


def test_a_price_that_rounds_to_zero_is_refused_unless_the_rule_allows_free_items() -> None:
    cut = {"name": "cut", "markdown_percent": "99.99"}
    [error] = _price({"currency": "USD", "rules": [cut]}, [_variant("A", "10.00")])
    assert error["sku"] == "A" and error["rule"] == "cut" and "rounds to 0.00" in error["message"]
    assert _price({"currency": "USD", "rules": [{**cut, "allow_free": True}]}, [_variant("A", "10.00")]) == [
        ("A", Decimal("0.00"))]


def test_validate_refuses_a_listed_price_finer_than_the_market_unit() -> None:
    from engine.pricing.check import check_price_rules

    doc = {"currency": "USD", "markets": {"JPY": {"prices": {"A": "1200", "B": "99.5", "C": {"price": "10.999"}}}}}
    found = check_price_rules(doc, lambda node, key: None)
    assert [p.message.split(":")[0] for p in found] == ["SKU B", "SKU C"]


def test_a_webhook_body_with_a_refused_number_is_dead_lettered_with_the_reason() -> None:
    from engine.serve.replay import _payload_bytes
    from engine.serve.workers import EventDispatcher

    payload, reason = EventDispatcher._read({"payload_raw": b'{"data": {"amount": 1e400}}', "topic": "ORDER_STATUS_CHANGE"})
    assert payload == {"raw": '{"data": {"amount": 1e400}}'} and "data.amount: number 1e400 refused" in reason
    payload, reason = EventDispatcher._read({"payload_raw": ('{"amount": ' + EXACT + "}").encode(), "topic": "T"})
    assert payload == {"amount": Decimal(EXACT)} and reason == ""
    # An edited payload holding an exact number is written back with every digit.
    assert EXACT.encode() in _payload_bytes({"payload": payload}, {"payload_raw": b"{}"})
