"""Every pluggable kind is declared completely (doc, options schema, examples, signature), and
every example in the reference is run here through the real compilers, so the docs never lie."""

from __future__ import annotations

import pytest
import yaml
from jsonschema import Draft202012Validator

from engine.lang.expr import ExpressionCompiler, Scope
from engine.lang.mapping import compile_mapping
from engine.project.schema_gen import load_registries
from engine.project.yamlpos import loads

REGISTRIES = load_registries()
ENTRIES = [(key, entry) for key, registry in REGISTRIES.items() for entry in registry.declared()]


@pytest.mark.parametrize(("key", "entry"), ENTRIES, ids=[f"{k}:{e.name}" for k, e in ENTRIES])
def test_every_entry_has_a_one_line_doc_and_a_valid_options_schema(key: str, entry) -> None:
    assert entry.doc and "\n" not in entry.doc, f"{key} {entry.name!r} needs a one-line doc"
    Draft202012Validator.check_schema(entry.options_schema)


FUNCTIONS = REGISTRIES["function"].entries()


@pytest.mark.parametrize("entry", FUNCTIONS, ids=[e.name for e in FUNCTIONS])
def test_function_example_gives_what_the_docs_say(entry) -> None:
    signature = entry.signature
    assert len(signature.names) == len(signature.types) + len(signature.optional)
    assert signature.returns
    assert entry.examples, f"function {entry.name} needs an example"
    exprs = ExpressionCompiler()
    for example in entry.examples:
        assert f"{entry.name}(" in example.source
        scope = Scope(example.input, example.input, example.parent, dict(example.context or {}))
        assert exprs.jmespath(example.source).evaluate(scope) == example.result


MAPPING_EXAMPLES = [(key, entry) for key in ("form", "cast") for entry in REGISTRIES[key].declared()]


@pytest.mark.parametrize(("key", "entry"), MAPPING_EXAMPLES, ids=[f"{k}:{e.name}" for k, e in MAPPING_EXAMPLES])
def test_mapping_example_gives_what_the_docs_say(key: str, entry) -> None:
    assert entry.examples, f"{key} {entry.name} needs an example"
    for example in entry.examples:
        specs = [spec for spec in example.source.values() if isinstance(spec, dict)]
        if key == "form":
            assert any(entry.name in spec for spec in specs), f"the example does not use `{entry.name}`"
        else:
            assert {spec.get("cast") for spec in specs} == {entry.name}, f"the example does not cast to {entry.name}"
        text = yaml.safe_dump({"kind": "mapping", "name": "docs.example", **(example.extra or {}),
                               "fields": example.source}, sort_keys=False)
        result = compile_mapping(loads(text, "example.yaml")).apply(example.input, example.context)
        assert result.ok, result.errors
        assert result.output == example.result
