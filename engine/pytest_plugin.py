"""pytest collects connector test files (*.test.yaml / *_test.yaml with `kind: test`) as test items."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import SpecError


def pytest_collect_file(parent: pytest.Collector, file_path: Path):  # noqa: ANN201
    name = file_path.name
    if name.endswith((".test.yaml", "_test.yaml", ".test.yml", "_test.yml")):
        return ConnectorTestFile.from_parent(parent, path=file_path)
    return None


class ConnectorTestFile(pytest.File):
    def collect(self):  # noqa: ANN201
        from engine.project.loader import Project
        from engine.project.testing import load_suites

        project = Project.load([self.path, *self._merchant_paths()])
        try:
            suites = load_suites(project)
        except SpecError as exc:
            raise self.CollectError(str(exc)) from None
        if project.problems:
            raise self.CollectError("\n".join(p.format() for p in project.problems))
        for suite in suites:
            if suite.document.path.resolve() != self.path.resolve():
                continue
            for case in suite.cases:
                yield ConnectorCase.from_parent(self, name=str(case.get("name")), suite=suite, case=case)

    def _merchant_paths(self) -> list[Path]:
        from engine.project.yamlpos import load_file

        doc = load_file(self.path)
        merchant = doc.get("merchant") if isinstance(doc, dict) else None
        return [self.path.parent / merchant] if merchant else []

    class CollectError(Exception):
        pass


class ConnectorCase(pytest.Item):
    def __init__(self, *, suite, case, **kwargs) -> None:  # noqa: ANN001
        super().__init__(**kwargs)
        self.suite, self.case = suite, case

    def runtest(self) -> None:
        from engine.project.testing import run_case

        result = run_case(self.suite, self.case)
        if not result.passed:
            raise CaseFailed(result.detail)

    def repr_failure(self, excinfo, style=None):  # noqa: ANN001, ANN201
        if isinstance(excinfo.value, CaseFailed):
            return f"{self.path}:{self.case.loc.line if self.case.loc else 0}: {self.name}\n{excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):  # noqa: ANN201
        return self.path, (self.case.loc.line - 1) if self.case.loc else 0, f"case: {self.name}"


class CaseFailed(AssertionError):
    pass
