"""~100 hostile merchant files through `connector validate`, and hostile record files through
`connector map`: no traceback, no hang, bounded memory; what must be refused is refused with
file:line:col. Each case runs in a forked child with a timeout (tests/hostile/forked.py)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forked import run  # noqa: E402
from hostile_cases import MAP_CASES, merchant_cases  # noqa: E402

CASES = list(merchant_cases())
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
POSITION = re.compile(r"merchant\.yaml:\d+:\d+")


def test_there_are_about_a_hundred_cases():
    assert len(CASES) >= 100 and len({c.name for c in CASES}) == len(CASES)


def _write(tmp_path: Path, case) -> Path:
    folder = tmp_path / case.name
    folder.mkdir()
    shutil.copy(EXAMPLE / "prices.yaml", folder / "prices.yaml")  # the merchant's price rules
    content = case.content(folder) if callable(case.content) else case.content
    path = folder / "merchant.yaml"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_validate_answers_a_hostile_merchant_file_with_a_clear_error(tmp_path, case):
    path = _write(tmp_path, case)
    outcome = run(["validate", str(path)], env={"CONNECTOR_SECRETS_DIR": ""})
    assert not outcome.hang, f"{case.name}: validate did not finish in time"
    assert not outcome.traceback, f"{case.name}: {outcome.output[-3000:]}"
    if case.refused:
        assert outcome.code == 1, f"{case.name}: exit {outcome.code}: {outcome.output[-2000:]}"
        assert POSITION.search(outcome.output), f"{case.name}: no file:line:col in {outcome.output[-2000:]}"
    else:
        assert outcome.code in (0, 1), f"{case.name}: exit {outcome.code}: {outcome.output[-2000:]}"
    if case.where:
        assert case.where in " ".join(outcome.output.split()), f"{case.name}: {outcome.output[-2000:]}"


@pytest.mark.parametrize("name,content", MAP_CASES, ids=[n for n, _ in MAP_CASES])
def test_map_answers_a_hostile_record_file_without_a_traceback(tmp_path, name, content):
    record = tmp_path / "record.json"
    record.write_bytes(content)
    outcome = run(["map", "product_to_canonical", str(record)])
    assert not outcome.hang, f"{name}: map did not finish in time"
    assert not outcome.traceback, f"{name}: {outcome.output[-3000:]}"
    assert outcome.code in (0, 1, 2), f"{name}: exit {outcome.code}: {outcome.output[-2000:]}"
