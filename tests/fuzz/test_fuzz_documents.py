"""The shipped flows and connectors, mutated (a key deleted, a value of another type, unknown keys,
values swapped between positions, huge, unicode and control-character text), through the checks
`connector validate` runs on such a file: the YAML loader, the file's schema, then the kind's own
checks (a connector compiled, a flow's steps and expressions, a merchant's bindings of it). The
answer is a list of problems, each at file:line:col of the mutated file; never an exception.

The checks run unguarded here: `connector validate` itself would print an exception it did not
foresee as a "could not finish" problem, which for this suite is a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_support import ROOT, assert_located, dump, fuzz_settings, mutated, no_hang  # noqa: E402

from engine.errors import SpecError  # noqa: E402
from engine.project.loader import Document, Project  # noqa: E402
from engine.project.schemas import SchemaSet  # noqa: E402
from engine.project.validate import Validator  # noqa: E402
from engine.project.yamlpos import YDict, loads, plain  # noqa: E402

SCHEMAS = SchemaSet()
SHIPPED = Project.load([])
MERCHANT = Project.load([ROOT / "examples" / "acme"], include_shipped=False).documents["merchant"]["acme"]


def _trees(folder: str) -> list[tuple[str, dict]]:
    return [(path.name, plain(loads(path.read_text(encoding="utf-8"), path.name)))
            for path in sorted((ROOT / folder).glob("*.yaml"))]


FLOWS = _trees("flows")
CONNECTORS = _trees("connectors")


def edited(trees: list[tuple[str, dict]], name: str, path: list, value: object) -> tuple[str, tuple[dict, list]]:
    """One shipped file with one value replaced: a regression example in the form `mutated` gives."""
    import copy

    tree = copy.deepcopy(dict(trees)[name])
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return name, (tree, [f"set {'.'.join(map(str, path))}"])


def check_document(kind: str, file: str, text: str, *, with_merchant: bool = False) -> None:
    """One mutated file of `kind` in place of the shipped one of its name: every check validate runs."""
    try:
        doc = loads(text, file)
    except SpecError as exc:
        assert_located(exc.problems, file, text)
        return
    if not isinstance(doc, YDict) or doc.get("kind") != kind:
        return  # the project loader answers these at the file's first line (tests/project covers it)
    project = Project()
    project.documents = {k: dict(v) for k, v in SHIPPED.documents.items()}
    name = str(doc.get("name") or Path(file).stem)
    document = project.documents[kind][name] = Document(kind, name, Path(file), doc)
    if with_merchant:
        project.documents["merchant"]["acme"] = MERCHANT
    validator = Validator(project, SCHEMAS)
    if validator.schema_ok(document):
        getattr(validator, f"check_{kind}")(document)
        if with_merchant and validator.schema_ok(MERCHANT):
            validator.check_merchant(MERCHANT)
    mine = [p for p in validator.problems if p.location is None or Path(p.location.file).name == Path(file).name]
    if validator.problems and mine:
        assert_located(mine, file, text)
    for problem in validator.problems:  # the merchant's own problems too: none may hide an exception
        assert "could not finish" not in problem.message, problem.format()


@fuzz_settings(ci_examples=25)
@given(st.sampled_from(FLOWS).flatmap(lambda f: st.tuples(st.just(f[0]), mutated(f[1]))), st.booleans())
# An option declared with a `type:` that names no JSON type: the merchant's options were checked
# against it and jsonschema's UnknownType ended validate ("could not finish checking").
@example(edited(FLOWS, "catalog_to_tiktok.yaml", ["options", "category_map", "type"], "a long text"), True)
def test_mutated_flows_are_refused_at_a_position_or_pass(flow: tuple, with_merchant: bool) -> None:
    name, (tree, done) = flow
    text = dump(tree)
    with no_hang():
        check_document("flow", f"fuzz_{name}", text, with_merchant=with_merchant)


@fuzz_settings(ci_examples=15)
@given(st.sampled_from(CONNECTORS).flatmap(lambda c: st.tuples(st.just(c[0]), mutated(c[1]))))
def test_mutated_connectors_are_refused_at_a_position_or_pass(connector: tuple) -> None:
    name, (tree, done) = connector
    text = dump(tree)
    with no_hang():
        check_document("connector", f"fuzz_{name}", text)


@pytest.mark.parametrize("kind,name,tree", [("flow", n, t) for n, t in FLOWS] + [("connector", n, t)
                                                                                  for n, t in CONNECTORS])
def test_the_unmutated_files_pass_the_same_checks(kind: str, name: str, tree: dict) -> None:
    """The harness itself: a shipped file, dumped and loaded again, has no problem at all."""
    text = dump(tree)
    doc = loads(text, name)
    project = Project()
    project.documents = {k: dict(v) for k, v in SHIPPED.documents.items()}
    document = project.documents[kind][doc["name"]] = Document(kind, doc["name"], Path(name), doc)
    validator = Validator(project, SCHEMAS)
    assert validator.schema_ok(document)
    getattr(validator, f"check_{kind}")(document)
    assert [p.format() for p in validator.problems if p.severity == "error"] == []
