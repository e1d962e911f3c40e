"""What the real-payload tests share: where the payloads are, the shipped mappings, the canonical check.

The payloads live outside the repository, in `shared/payloads` beside the clone (`../shared` in
CI). A git worktree sits deeper than its main clone, so the nearest ancestor of the repository
root that holds `shared/payloads` is used. Without one, the checked-in copies in
tests/simulators/payloads (kept equal to shared/payloads by a test there) are used, so these tests
run on any checkout.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from engine.lang.mapping import MappingPlan, MapResult
from engine.project.loader import Project
from engine.project.overrides import effective
from engine.project.testing import _jsonable
from engine.project.validate import Validator

ROOT = Path(__file__).resolve().parents[2]


def _find_payloads() -> Path | None:
    for base in ROOT.parents:
        candidate = base / "shared" / "payloads"
        if candidate.is_dir():
            return candidate
    copies = ROOT / "tests" / "simulators" / "payloads"
    return copies if copies.is_dir() else None


PAYLOADS = _find_payloads()

needs_payloads = pytest.mark.skipif(
    PAYLOADS is None,
    reason=f"no shared/payloads folder beside the repository ({ROOT.parent / 'shared' / 'payloads'} or an ancestor's)",
)


def load(relative: str) -> Any:
    """A payload read afresh, as the HTTP runtime reads a body: json.loads keeps integer ids exact
    (64-bit ones too) and turns other numbers into floats."""
    assert PAYLOADS is not None
    return json.loads((PAYLOADS / relative).read_text(encoding="utf-8"))


@functools.cache
def _validator() -> Validator:
    return Validator(Project.load([]))


@functools.cache
def plan(name: str) -> MappingPlan:
    validator = _validator()
    doc = effective(validator.project, None, "mapping", name)
    assert doc is not None, f"no shipped mapping {name}"
    compiled = validator.compile_mapping(doc)
    assert compiled is not None, "\n".join(p.format() for p in validator.problems)
    return compiled


def apply(name: str, record: Any, context: dict | None = None) -> MapResult:
    result = plan(name).apply(record, context or {})
    result.output = _jsonable(result.output)
    return result


def mapped(name: str, record: Any, context: dict | None = None) -> dict:
    """The output of a mapping that must succeed."""
    result = apply(name, record, context)
    assert not result.errors, [e.as_dict() for e in result.errors]
    return result.output


def error_fields(result: MapResult) -> list[str]:
    return [e.path for e in result.errors]


def canonical_problems(entity: str, record: Any) -> list[str]:
    """What the flow's validate step would refuse in a canonical record."""
    validator = _validator().schemas.canonical.validator(entity)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(record))
