"""The market decides region and currency; the region list ships with the package; functions
carry their signatures for hints and docs."""

from __future__ import annotations

from pathlib import Path

from engine.flow.context import RunContext
from engine.lang.functions import FUNCTIONS, signature_of
from engine.project.loader import Project
from engine.project.regions import countries, is_country, region_hint
from engine.project.resources import shipped
from engine.project.yamlpos import load_file


def context(options: dict, meta: dict) -> RunContext:
    return RunContext(merchant="m", flow="f", flow_name="f", options=options, connections={},
                      connection_names={"target": "tt"}, connection_meta={"target": meta}, store=None)


def test_the_connections_currency_wins_over_an_option() -> None:
    ctx = context({"currency": "USD", "warehouse_id": "1"}, {"region": "GB", "currency": "GBP"})
    assert ctx.mapping_context("target") == {"currency": "GBP", "region": "GB", "warehouse_id": "1",
                                             "connection": "tt"}


def test_an_option_fills_in_when_the_connection_has_no_currency() -> None:
    ctx = context({"currency": "EUR"}, {"region": None, "currency": None})
    assert ctx.mapping_context("target") == {"currency": "EUR", "region": None, "connection": "tt"}


def test_no_shipped_flow_option_that_must_match_a_connection_has_a_default() -> None:
    """A default lands in the options at run time; it must not stand in for the market's value."""
    for path in sorted(shipped("flows").glob("*.yaml")):
        for name, spec in (load_file(path).get("options") or {}).items():
            if "must_match" in spec:
                assert "default" not in spec, f"{path.name}: option {name}"


def test_the_catalog_flow_currency_follows_the_target_connection() -> None:
    spec = load_file(shipped("flows") / "catalog_to_tiktok.yaml")["options"]["currency"]
    assert spec["must_match"] == {"role": "target", "field": "currency"}


def test_iso_3166_codes_ship_with_the_package() -> None:
    codes = countries()
    assert len(codes) == 249
    assert is_country("GB") and is_country("MY") and not is_country("UK")
    assert "GB" in region_hint("UK") and "US" in region_hint("usa")


def test_functions_declare_their_signature_once_for_hints_and_docs() -> None:
    entry = FUNCTIONS.get("money_mul")
    assert entry.signature.text("money_mul") == \
        "money_mul(amount: string|number, factor: string|number, places?: number) -> string"
    assert entry.signature.names == ("amount", "factor", "places")
    for name in FUNCTIONS.names():
        signature = signature_of(name)
        assert signature.text(name).startswith(name + "(")
        assert signature is FUNCTIONS.get(name).signature  # one declaration for hints and docs
    assert signature_of("sort_by").text("sort_by") == "sort_by(array: array, expref: expref) -> any"


def test_examples_load_without_problems() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    assert Project.load([examples]).problems == []
