"""YAML mistakes in a merchant file are reported on the line that has them: every line of the
example merchant files is misindented (one, then two spaces deeper, one shallower) or loses its
closing quote, one at a time, and the problem must name that line. (Edits that leave valid YAML
with the same structure are not mistakes and are skipped.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.errors import SpecError
from engine.project.yamlpos import loads

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = [EXAMPLES / "acme" / "merchant.yaml", EXAMPLES / "bloom_my" / "merchant.yaml"]


def edits(lines: list[str]):
    for index, line in enumerate(lines):
        if index == 0 or not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        for delta in (1, 2, -1):
            if indent + delta >= 0 and not (delta == -1 and indent == 0):
                yield index, f"indent{delta:+d}", " " * (indent + delta) + line.lstrip()
        quoted = re.search(r'(:\s*|- |\[|\{|, )(["\'])(.*?)\2', line)
        if quoted:
            end = quoted.end() - 1
            yield index, "unclosed-quote", line[:end] + line[end + 1:]


@pytest.mark.parametrize("path", FILES, ids=[p.parent.name for p in FILES])
def test_every_misindented_or_unclosed_line_is_the_line_reported(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    wrong, checked = [], 0
    for index, what, edited in edits(lines):
        text = "\n".join(lines[:index] + [edited] + lines[index + 1:])
        try:
            loads(text, "merchant.yaml")
            continue
        except SpecError as exc:
            problem = exc.problems[0]
        checked += 1
        expected = "bad indentation" if what.startswith("indent") else "opened here"
        if problem.location.line != index + 1 or expected not in problem.message or not problem.hint:
            wrong.append(f"line {index + 1} {what}: {problem.format()}")
    assert checked > 60
    assert not wrong, "\n".join(wrong)
