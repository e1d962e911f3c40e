"""YAML test cases for mappings: input, then the expected output, part of it, or an expected error.

`connector test` runs them; pytest collects the same files through engine.pytest_plugin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import jmespath

from engine import decimal_json
from engine.diffs import Change, changes
from engine.errors import SpecError
from engine.lang.mapping import MappingPlan, MapResult
from engine.project.loader import Document, Project
from engine.project.overrides import effective
from engine.project.validate import Validator
from engine.project.yamlpos import load_file, plain


@dataclass
class CaseResult:
    file: Path
    name: str
    line: int
    passed: bool
    detail: str = ""
    output: Any = None


@dataclass
class TestSuite:
    document: Document
    cases: list[dict]
    plans: dict[str, MappingPlan] = field(default_factory=dict)


def load_suites(project: Project) -> list[TestSuite]:
    """Compile the mappings every test file needs (with its merchant's overrides, if any)."""
    validator = Validator(project)
    suites = []
    for document in project.documents["test"].values():
        if not validator.schema_ok(document):
            raise SpecError(validator.problems)
        merchant = None
        if document.doc.get("merchant"):
            wanted = (document.path.parent / document.doc["merchant"]).resolve()
            merchant = next((m for m in project.documents["merchant"].values() if m.path.resolve() == wanted), None)
        plans: dict[str, MappingPlan] = {}
        cases = list(document.doc.get("cases") or [])
        for case in cases:
            name = case.get("mapping") or document.doc.get("mapping")
            if name and name not in plans:
                doc = effective(project, merchant, "mapping", name)
                if doc is None:
                    raise SpecError(validator.problems or [])
                plan = validator.compile_mapping(doc)
                if plan is None:
                    raise SpecError(validator.problems)
                plans[name] = plan
        suites.append(TestSuite(document, cases, plans))
    return suites


def _input(document: Document, case: dict) -> Any:
    if "input" in case:
        record = plain(case["input"])
    else:
        path = document.path.parent / case["input_file"]
        record = decimal_json.loads(path.read_text(encoding="utf-8")) if path.suffix == ".json" else plain(load_file(path))
    return jmespath.search(case["select"], record) if case.get("select") else record


def run_case(suite: TestSuite, case: dict) -> CaseResult:
    document = suite.document
    name = case.get("mapping") or document.doc.get("mapping")
    line = case.loc.line if getattr(case, "loc", None) else 0
    result: MapResult = suite.plans[name].apply(_input(document, case), plain(case.get("context") or {}))
    output = _jsonable(result.output)
    label = case.get("name", "?")
    if "expect_error" in case:
        want = case["expect_error"]
        for error in result.errors:
            if want.get("field", error.path) == error.path and want.get("message", "") in error.message:
                return CaseResult(document.path, label, line, True, output=output)
        got = "\n".join(f"  {e.path}: {e.message}" for e in result.errors) or "  (no errors; output below)\n" + _dump(output)
        return CaseResult(document.path, label, line, False, f"expected an error {dict(want)}, got:\n{got}", output)
    if result.errors:
        listed = "\n".join(f"  {e.path}: {e.message}  ({e.location})" for e in result.errors)
        return CaseResult(document.path, label, line, False, f"the mapping failed:\n{listed}", output)
    if "expect" in case:
        found = changes(plain(case["expect"]), output)
    else:
        expected = plain(case.get("expect_contains") or {})
        found = changes(expected, _project_onto(expected, output))
    if found:
        return CaseResult(document.path, label, line, False, _readable(found), output)
    return CaseResult(document.path, label, line, True, output=output)


def _project_onto(expected: Any, actual: Any) -> Any:
    """The part of `actual` that `expected` talks about, so extra output fields do not count."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: _project_onto(v, actual[k]) for k, v in expected.items() if k in actual}
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [_project_onto(e, a) for e, a in zip(expected, actual, strict=True)]
    return actual


def _readable(found: list[Change]) -> str:
    lines = []
    for change in found:
        where = "output" + change.path
        if change.kind == "changed":
            lines.append(f"  {where}: expected {change.old!r}, got {change.new!r}")
        elif change.kind == "type_changed":
            lines.append(f"  {where}: expected {change.old!r} ({type(change.old).__name__}), "
                         f"got {change.new!r} ({type(change.new).__name__})")
        elif change.kind == "added":
            lines.append(f"  {where}: not expected, got {change.new!r}")
        elif change.kind == "removed":
            lines.append(f"  {where}: missing (expected {change.old!r})")
        else:
            lines.append(f"  {where}: {change.kind} {change.new!r}")
    return "output differs:\n" + "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def run_all(project: Project) -> list[CaseResult]:
    return [run_case(suite, case) for suite in load_suites(project) for case in suite.cases]
