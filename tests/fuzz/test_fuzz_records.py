"""Random records through every shipped mapping (mappings/*/): the inputs of the mapping test files,
mutated (keys deleted, values of other types, unknown keys, values swapped, hostile text), random
JSON of every shape (deep nesting, huge strings, numbers of every kind: huge, tiny, -0, NaN,
floats, Decimals, non-ASCII digits), and context values of the wrong type. Each record either maps
or comes back with field errors, each naming the field and the mapping line; never an exception."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_support import ROOT, deeply_nested, fuzz_settings, json_values, mutated, no_hang  # noqa: E402

from engine.project.loader import Project  # noqa: E402
from engine.project.schemas import SchemaSet  # noqa: E402
from engine.project.validate import Validator  # noqa: E402
from engine.project.yamlpos import load_file, plain  # noqa: E402

PROJECT = Project.load([])
_VALIDATOR = Validator(PROJECT, SchemaSet())
PLANS = {name: _VALIDATOR.compile_mapping(doc.doc) for name, doc in sorted(PROJECT.documents["mapping"].items())}
assert PLANS and all(PLANS.values()), [p.format() for p in _VALIDATOR.problems]
NAMES = sorted(PLANS)


def _seeds() -> dict[str, list]:
    """The records the mapping test files feed each mapping."""
    seeds: dict[str, list] = {name: [] for name in NAMES}
    for path in sorted((ROOT / "tests").rglob("*.test.yaml")):
        test = plain(load_file(path))
        mapping = test.get("mapping") if isinstance(test, dict) else None
        for case in (test.get("cases") or []) if mapping in seeds else []:
            record = case.get("input")
            if record is None and case.get("input_file"):
                record = json.loads((path.parent / case["input_file"]).read_text(encoding="utf-8"))
                if case.get("select") and isinstance(record, dict):
                    record = record.get(case["select"])
            if record is not None:
                seeds[mapping].append(record)
    return seeds


SEEDS = _seeds()
# Keys the shipped mappings read: random records made of them reach past the first field.
KEYS = st.sampled_from(sorted({k for records in SEEDS.values() for r in records if isinstance(r, dict) for k in r}
                              | {"title", "sku", "price", "amount", "currency", "variants", "quantity", "id",
                                 "line_items", "status", "images", "options", "skus", "address"}))
RECORD_VALUES = st.one_of(json_values(12, KEYS), st.sampled_from(["\udcff", "١٢٣", "1e999999", "-0", "NaN"]))


@st.composite
def records(draw: st.DrawFn, name: str) -> object:
    seeds = SEEDS.get(name) or [{}]
    how = draw(st.sampled_from(["mutated", "mutated", "random", "nested"]))
    if how == "mutated":
        return draw(mutated(draw(st.sampled_from(seeds)), 4))[0]
    if how == "nested":
        return {draw(KEYS): deeply_nested(draw(st.sampled_from([50, 200, 900])), draw(RECORD_VALUES))}
    return draw(st.one_of(st.dictionaries(KEYS, RECORD_VALUES, max_size=8), RECORD_VALUES))


@st.composite
def contexts(draw: st.DrawFn, name: str) -> dict:
    declared = list((PLANS[name].doc.get("context") or {}).keys())
    if not declared or draw(st.booleans()):
        return {}
    return draw(st.dictionaries(st.sampled_from(declared), json_values(6, KEYS), max_size=len(declared)))


def check_record(name: str, record: object, context: dict) -> None:
    plan = PLANS[name]
    result = plan.apply(record, context)
    for error in result.errors:
        assert error.path and error.message, f"{name}: an error without its field: {error}"
        assert error.location is not None, f"{name}: {error.path}: no mapping line in {error}"
        assert "Traceback" not in error.message, error.message


@fuzz_settings(ci_examples=120)
@given(st.sampled_from(NAMES).flatmap(lambda n: st.tuples(st.just(n), records(n), contexts(n))))
@example(("tiktok_shop.product_from_canonical", {"variants": [{"price": {"amount": "1e999999"}}]}, {}))
# A lookup's context table given as another type (true): a miss listed its keys and raised TypeError.
@example(("tiktok_shop.package_tracking_from_canonical", None, {"carrier_map": True}))
def test_random_records_map_or_fail_field_by_field(case: tuple) -> None:
    name, record, context = case
    with no_hang():
        check_record(name, record, context)
