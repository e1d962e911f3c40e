"""docs/reference/ is generated from the registries; the committed files must be exactly what
the registered kinds say today."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.project.docs_gen import WRITE_COMMAND, render_reference
from engine.project.schema_gen import load_registries

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"


@pytest.fixture(scope="module")
def registries() -> dict:
    return load_registries()


def test_committed_reference_matches_the_registries(registries: dict) -> None:
    files = render_reference(registries)
    present = sorted(p.name for p in REFERENCE.glob("*.md"))
    assert present == sorted(files), f"docs/reference/ has other files than the generator writes; run `{WRITE_COMMAND}`"
    stale = [name for name, text in files.items() if (REFERENCE / name).read_text(encoding="utf-8") != text]
    assert not stale, f"docs/reference/{', '.join(stale)} out of date with the registries; run `{WRITE_COMMAND}`"


def test_cli_docs_writes_the_reference(tmp_path: Path) -> None:
    out = tmp_path / "reference"
    runner = CliRunner()
    result = runner.invoke(main, ["docs", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for path in REFERENCE.glob("*.md"):
        assert (out / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
    (out / "steps.md").write_text("old", encoding="utf-8")
    (out / "retired.md").write_text("old", encoding="utf-8")
    result = runner.invoke(main, ["docs", "--out", str(out), "--check"])
    assert result.exit_code == 1 and "steps.md" in result.output and "retired.md" in result.output
    assert runner.invoke(main, ["docs", "--out", str(out)]).exit_code == 0
    assert not (out / "retired.md").exists()
    assert runner.invoke(main, ["docs", "--out", str(out), "--check"]).exit_code == 0
