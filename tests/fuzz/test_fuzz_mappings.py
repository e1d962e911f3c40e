"""Random mapping documents, built from the mapping schema's own vocabulary (value forms, casts,
functions, modifiers) with wrong types at every position, through the path `connector validate`
and `connector map` take: the YAML loader, the mapping schema, the mapping compiler. Each either
compiles or is refused with the engine's SpecError whose every problem names file:line:col; a
mapping that compiles then maps a random record without raising."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_support import (  # noqa: E402
    HOSTILE_TEXT,
    JMESPATH,
    TEMPLATE,
    assert_located,
    dump,
    fuzz_settings,
    json_values,
    no_hang,
)

from engine.errors import SpecError  # noqa: E402
from engine.lang.casts import CASTS  # noqa: E402
from engine.project.loader import Document, Project  # noqa: E402
from engine.project.schemas import SchemaSet  # noqa: E402
from engine.project.validate import Validator  # noqa: E402
from engine.project.yamlpos import loads  # noqa: E402

FILE = "fuzz/random_mapping.yaml"
SCHEMAS = SchemaSet()
ENTITIES = SCHEMAS.canonical.entity_names()
TARGETS = st.one_of(st.sampled_from(["title", "sku", "price.amount", "price.currency", "variants", "id", "a.b.c",
                                     "status", "quantity", "line_items"]),
                    HOSTILE_TEXT, st.integers(), st.booleans())
JUNK = json_values(5)  # a wrong type, wherever it lands
LOOKUP_NAMES = st.sampled_from(["t", "u", "nope"])


def modifiers(draw: st.DrawFn, form: dict) -> dict:
    if draw(st.booleans()):
        form["cast"] = draw(st.one_of(st.sampled_from(CASTS.names()), JUNK))
    if draw(st.integers(0, 3)) == 0:
        form["scale"] = draw(st.one_of(st.integers(-2, 12), JUNK))
    if draw(st.integers(0, 3)) == 0:
        form["default"] = draw(JUNK)
    if draw(st.integers(0, 3)) == 0:
        form["required"] = draw(st.one_of(st.booleans(), JUNK))
    if draw(st.integers(0, 9)) == 0:
        form[draw(st.sampled_from(["nope", "Path", "value", "from", "then", "limit"]))] = draw(JUNK)
    return form


@st.composite
def values(draw: st.DrawFn, depth: int = 0) -> object:
    """One mapping value: an expression string or a mapping holding one value form."""
    deeper = st.deferred(lambda: values(depth + 1)) if depth < 3 else st.one_of(JMESPATH, JUNK)
    kind = draw(st.sampled_from(["expr", "path", "template", "const", "lookup", "each", "fields", "if",
                                 "coalesce", "junk"]))
    if kind == "expr":
        return draw(JMESPATH)
    if kind == "junk":
        return draw(JUNK)
    if kind == "path":
        form = {"path": draw(st.one_of(JMESPATH, JUNK))}
    elif kind == "template":
        form = {"template": draw(st.one_of(TEMPLATE, JUNK))}
    elif kind == "const":
        form = {"const": draw(json_values(8))}
    elif kind == "lookup":
        form = {"lookup": draw(st.one_of(LOOKUP_NAMES, JUNK)), "from": draw(deeper)}
    elif kind == "each":
        form = {"each": draw(st.one_of(JMESPATH, JUNK))}
        if draw(st.booleans()):
            form["fields"] = draw(field_maps(depth + 1))
        else:
            form["value"] = draw(deeper)
        if draw(st.booleans()):
            form["filter"] = draw(deeper)
        if draw(st.booleans()):
            form["limit"] = draw(st.one_of(st.integers(-1, 10**12), JUNK))
    elif kind == "fields":
        form = {"fields": draw(field_maps(depth + 1))}
    elif kind == "if":
        form = {"if": draw(deeper), "then": draw(deeper)}
        if draw(st.booleans()):
            form["else"] = draw(deeper)
    else:
        form = {"coalesce": draw(st.one_of(st.lists(deeper, max_size=3), JUNK))}
    return modifiers(draw, form)


@st.composite
def field_maps(draw: st.DrawFn, depth: int = 0) -> object:
    if depth > 3:
        return {draw(TARGETS): draw(JMESPATH)}
    if draw(st.integers(0, 12)) == 0:
        return draw(JUNK)
    return draw(st.dictionaries(TARGETS, values(depth), max_size=4 if depth else 6))


@st.composite
def mappings(draw: st.DrawFn) -> dict:
    doc: dict = {"kind": "mapping", "name": draw(st.one_of(st.just("fuzz.random_mapping"), HOSTILE_TEXT))}
    side = st.one_of(st.fixed_dictionaries({"canonical": st.one_of(st.sampled_from(ENTITIES), HOSTILE_TEXT)}),
                     st.fixed_dictionaries({"platform": st.sampled_from(["shopify", "x"]), "entity": st.just("p")}),
                     JUNK)
    if draw(st.booleans()):
        doc["source"] = draw(side)
    if draw(st.booleans()):
        doc["target"] = draw(side)
    if draw(st.integers(0, 2)) == 0:
        doc["context"] = draw(st.one_of(st.dictionaries(st.sampled_from(["x", "category_map"]), st.one_of(
            st.fixed_dictionaries({}, optional={"type": st.sampled_from(["string", "object", "array", "nope"]),
                                                "default": JUNK}), JUNK), max_size=2), JUNK))
    if draw(st.integers(0, 2)) == 0:
        doc["lookups"] = draw(st.one_of(st.dictionaries(LOOKUP_NAMES, st.one_of(
            st.fixed_dictionaries({}, optional={"values": st.one_of(st.dictionaries(HOSTILE_TEXT, JUNK, max_size=3),
                                                                    JUNK),
                                                "default": JUNK, "context": st.one_of(st.just("x"), JUNK)}),
            JUNK), max_size=2), JUNK))
    doc["fields"] = draw(field_maps())
    if draw(st.integers(0, 9)) == 0:
        doc[draw(HOSTILE_TEXT)] = draw(JUNK)
    return doc


def check_mapping_text(text: str, record: object = None) -> None:
    """The loader, schema and compiler on one mapping file's text; then, when it compiles, one record."""
    try:
        doc = loads(text, FILE)
    except SpecError as exc:
        assert_located(exc.problems, FILE, text)
        return
    if not isinstance(doc, dict):
        return  # the project loader refuses a file that is not a mapping, at 1:1
    validator = Validator(Project(), SCHEMAS)
    document = Document("mapping", str(doc.get("name")), Path(FILE), doc)
    if not validator.schema_ok(document):
        assert_located(validator.problems, FILE, text)
        return
    plan = validator.compile_mapping(doc)
    if plan is None:
        assert_located(validator.problems, FILE, text)
        return
    assert not validator.problems, [p.format() for p in validator.problems]
    result = plan.apply(record, {"x": record})
    for error in result.errors:
        assert error.path and error.message, error
    assert plan.interpret(record, {"x": record}).errors == result.errors or not result.errors


@fuzz_settings(ci_examples=60)
@given(mappings(), json_values(8))
@example({"kind": "mapping", "name": "a", "fields": {"a": {"path": "a", "cast": "decimal", "scale": 8}}},
         {"a": "1e999999"})
# A target field with an empty name compiled, and its field error named no field.
@example({"kind": "mapping", "name": "a", "fields": {"": {"template": "{{ title }}"}}}, None)
@example({"kind": "mapping", "name": "a", "fields": {"a..b": "title"}}, {})
def test_random_mappings_compile_or_are_refused_at_a_position(doc: dict, record: object) -> None:
    text = dump(doc)
    with no_hang():
        check_mapping_text(text, record)
