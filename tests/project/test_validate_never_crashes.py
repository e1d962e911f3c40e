"""`connector validate` answers every input with problems, never with a traceback: hand-picked
odd files, and copies of the shipped files with random small edits (lines dropped, repeated or
re-indented, values swapped for other types, keys misspelt)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.project.loader import Project
from engine.project.validate import Validator

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["examples/acme/merchant.yaml", "examples/bloom_my/merchant.yaml", "flows/catalog_to_tiktok.yaml",
           "flows/catalog_from_tiktok.yaml", "flows/listing_status_tiktok.yaml",
           "mappings/tiktok_shop/product_from_canonical.yaml", "mappings/shopify/product_to_canonical.yaml",
           "connectors/shopify.yaml"]
VALUES = ["null", "[]", "{}", "123", "true", "'${X}'", "'${env:X}'", "http://x.example", "[a, {b: c}]",
          "{a: [1, 2]}", "'{{ x|nope }}'", "\"money_mul(a)\"", "'a: b'", "-1", "1.5", "UK", "2024-13-45",
          "&a [*a]", "!!int x", "'${file:nope}'", "\"{% for %}\""]

ODD_FILES = {
    "control-character": "kind: merchant\nname: a\x07b\n",
    "recursive-alias": "kind: merchant\nname: acme\nconnections: &c {x: *c}\n",
    "impossible-date": "kind: merchant\nname: acme\nconnections:\n  s: {connector: shopify, region: 2024-13-45}\n",
    "top-level-list": "- kind: merchant\n",
    "top-level-text": "just text\n",
    "empty": "",
    "only-comment": "# nothing\n",
    "null-connections": "kind: merchant\nname: acme\nconnections:\n",
    "connection-is-text": "kind: merchant\nname: acme\nconnections: {shop: shopify}\n",
    "flows-null-binding": ("kind: merchant\nname: acme\nconnections:\n  s: {connector: shopify, settings: {shop: a},"
                           " credentials: {access_token: '${env:T}'}}\nflows:\n  c:\n"),
    "override-fields-list": ("kind: merchant\nname: acme\nconnections:\n  s: {connector: shopify, settings: {shop: a},"
                             " credentials: {access_token: '${env:T}'}}\noverrides:\n  mappings:\n"
                             "    shopify.product_to_canonical: {fields: {title: [1, 2]}}\n"),
    "override-flow-steps-text": ("kind: merchant\nname: acme\nconnections:\n  s: {connector: shopify, settings: {shop: a},"
                                 " credentials: {access_token: '${env:T}'}}\noverrides:\n  flows:\n"
                                 "    catalog_to_tiktok: {steps: text, options: {currency: {type: nope}}}\n"),
    "override-field-without-form": ("kind: merchant\nname: acme\nconnections:\n  s: {connector: shopify, settings: "
                                    "{shop: a}, credentials: {access_token: '${env:T}'}}\noverrides:\n  mappings:\n"
                                    "    shopify.product_to_canonical:\n      fields:\n        brand: {x: [a, {b: c}]}\n"),
    "flow-step-null": "kind: flow\nname: odd\nroles: {a: {}}\nsteps:\n  - pull:\n  - map: [x]\n  - nope: {}\n",
    "flow-option-bad-schema": ("kind: flow\nname: odd2\noptions:\n  a: {type: texts, must_match: x, keys_in: {option: b}}\n"
                               "  b: {required: true}\nsteps:\n  - pull: {from: a, operation: x}\n"),
    "mapping-deep": "kind: mapping\nname: deep.x\nfields:\n" + "".join("  " * (i + 1) + f"f{i}:\n" + "  " * (i + 2)
                                                                      + "fields:\n" for i in range(0, 40, 2)),
    "huge-number": "kind: mapping\nname: huge.x\nfields:\n  a: {const: 1e999999}\n  b: {path: a, scale: 99999999999999}\n",
    "not-utf8": None,
}


def check(project: Path) -> None:
    problems = Validator(Project.load([project], include_shipped=True)).run()
    assert not [p for p in problems if "could not finish" in p.message], [p.format() for p in problems]
    assert all(p.location is not None for p in problems), [p.format() for p in problems if p.location is None]


@pytest.mark.parametrize("name", sorted(ODD_FILES))
def test_odd_files_are_problems_not_tracebacks(tmp_path: Path, name: str) -> None:
    path = tmp_path / "odd.yaml"
    if ODD_FILES[name] is None:
        path.write_bytes(b"kind: merchant\nname: \xff\xfe\n")
    else:
        path.write_text(ODD_FILES[name], encoding="utf-8")
    check(tmp_path)
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output


def mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.choice([1, 1, 2, 3])):
        index = rng.randrange(len(lines))
        line, op = lines[index], rng.randrange(6)
        key, colon, _ = line.partition(":")
        if op == 0:
            del lines[index]
        elif op == 1 and colon:
            lines[index] = f"{key}: {rng.choice(VALUES)}"
        elif op == 2:
            lines.insert(index, line)
        elif op == 3:
            lines[index] = " " * rng.randrange(1, 3) + line
        elif op == 4 and colon and key.strip():
            name = key.strip()
            cut = rng.randrange(len(name))
            lines[index] = key[: len(key) - len(key.lstrip())] + (name[:cut] + name[cut + 1:] or "x") + ":" + line[len(key) + 1:]
        elif op == 5 and colon:
            lines[index] = f"{key}:\n{' ' * (len(key) - len(key.lstrip()) + 2)}x: {rng.choice(VALUES)}"
    return "\n".join(lines)


def fuzz(tmp_path: Path, seed: int, count: int) -> None:
    rng = random.Random(seed)
    for round_ in range(count):
        source = rng.choice(SOURCES)
        text = mutate((ROOT / source).read_text(encoding="utf-8"), rng)
        if "merchant" not in source:  # a consultant's own copy, under a name of its own
            text = re.sub(r"^name: (\S+)", r"name: \1x", text, count=1, flags=re.M)
        project = tmp_path / f"p{round_}"
        project.mkdir()
        (project / Path(source).name).write_text(text, encoding="utf-8")
        try:
            check(project)
        except AssertionError as exc:
            raise AssertionError(f"round {round_} ({source}):\n{text}\n{exc}") from None


def test_edited_shipped_files_never_crash_validate(tmp_path: Path) -> None:
    fuzz(tmp_path, seed=20240901, count=40)


@pytest.mark.slow
def test_many_edited_shipped_files_never_crash_validate(tmp_path: Path) -> None:
    fuzz(tmp_path, seed=7, count=150)  # tests/fuzz covers the same ground with hypothesis
