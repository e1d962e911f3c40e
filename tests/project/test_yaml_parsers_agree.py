"""The project reader takes libyaml's parser for speed and PyYAML's pure-Python one for the files
libyaml does not take as they are: both must read every file alike, values and positions, or
refuse it alike (the message then comes from the pure-Python parser)."""

from __future__ import annotations

import random

import pytest

from engine.errors import SpecError
from engine.project import yamlpos
from tests.project.test_validate_never_crashes import ODD_FILES, ROOT, SOURCES, mutate

pytestmark = pytest.mark.skipif(yamlpos._FastConstructor is None, reason="PyYAML built without libyaml")

SHIPPED = sorted(p for folder in ("connectors", "mappings", "flows", "examples", "rules")
                 for p in (ROOT / folder).rglob("*.yaml"))


def read(text: str, reader) -> object:
    try:
        return reader(text, "f.yaml")
    except SpecError as exc:
        return ("refused", str(exc))


def same(a: object, b: object, path: tuple = ()) -> None:
    assert type(a) is type(b), path
    for attr in ("loc", "key_locs", "value_locs", "spans", "item_locs", "path"):
        assert getattr(a, attr, None) == getattr(b, attr, None), (path, attr)
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            same(a[key], b[key], (*path, key))
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, (*path, index))
    else:
        assert a == b, path


def test_every_shipped_file_reads_the_same_with_either_parser() -> None:
    assert len(SHIPPED) > 50
    for path in SHIPPED:
        text = path.read_text(encoding="utf-8")
        same(read(text, yamlpos.loads), read(text, yamlpos._loads_slowly), (path.name,))


def test_edited_and_odd_files_read_or_are_refused_the_same() -> None:
    rng = random.Random(11)
    texts = [t for t in ODD_FILES.values() if t is not None]
    texts += ["a: [" * 999 + "]" * 999, "a: [" * 1001 + "]" * 1001, "a: 1\n---\nb: 2\n", "a: 'x\x07'\n"]
    for _ in range(400):
        texts.append(mutate((ROOT / rng.choice(SOURCES)).read_text(encoding="utf-8"), rng))
    for text in texts:
        fast, slow = read(text, yamlpos.loads), read(text, yamlpos._loads_slowly)
        if isinstance(slow, tuple) and "nested more than" in slow[1]:
            # The pure-Python parser runs out of recursion first and points at the deepest
            # bracket; libyaml's nodes reach the depth check, which names the 65th level's path.
            assert isinstance(fast, tuple) and "nested more than 64 levels deep" in fast[1]
            continue
        same(fast, slow, (text[:60],))
