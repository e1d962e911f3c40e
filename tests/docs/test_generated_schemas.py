"""The schemas' pluggable parts are generated from the registries; the committed files must be
exactly what the registered kinds say today, and regenerating must leave hand-written parts alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.project.schema_gen import GENERATED, WRITE_COMMAND, load_registries, regenerate

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"


@pytest.fixture(scope="module")
def registries() -> dict:
    return load_registries()


@pytest.mark.parametrize("target", GENERATED, ids=[t.file for t in GENERATED])
def test_committed_schema_matches_the_registries(registries: dict, target) -> None:
    path = SCHEMAS / target.file
    text = path.read_text(encoding="utf-8")
    assert regenerate(text, target, registries) == text, (
        f"schemas/{target.file} is out of date with the registered kinds; run `{WRITE_COMMAND}` and commit it")


def test_generation_is_idempotent_and_keeps_hand_written_parts(registries: dict) -> None:
    for target in GENERATED:
        text = (SCHEMAS / target.file).read_text(encoding="utf-8")
        once = regenerate(text, target, registries)
        assert regenerate(once, target, registries) == once
        before, after = json.loads(text), json.loads(once)
        assert {k: v for k, v in before.items() if k != "$defs"} == {k: v for k, v in after.items() if k != "$defs"}
        hand = {k: v for k, v in before["$defs"].items() if not target.owns(k)}
        assert hand == {k: v for k, v in after["$defs"].items() if not target.owns(k)}


def test_stale_generated_defs_are_replaced_and_removed(registries: dict) -> None:
    target = next(t for t in GENERATED if t.file == "flow.schema.json")
    text = (SCHEMAS / target.file).read_text(encoding="utf-8")
    doc = json.loads(text)
    doc["$defs"]["step.retired_kind"] = {"type": "object"}
    doc["$defs"]["step.pull"] = {"type": "null"}
    doc["$defs"]["hand_written"] = {"type": "string", "description": "kept"}
    fresh = json.loads(regenerate(json.dumps(doc, indent=2), target, registries))
    assert "step.retired_kind" not in fresh["$defs"]
    assert fresh["$defs"]["step.pull"]["type"] == "object"
    assert fresh["$defs"]["hand_written"] == {"type": "string", "description": "kept"}


def test_every_registered_kind_is_in_its_schema(registries: dict) -> None:
    connector = json.loads((SCHEMAS / "connector.schema.json").read_text(encoding="utf-8"))["$defs"]
    for key, prefix in (("auth", "auth"), ("paginator", "paginate"), ("rate_limit", "rate_limit")):
        for name in registries[key].names():
            assert f"{prefix}.{name}" in connector
            assert {"$ref": f"#/$defs/{prefix}.{name}"} in [rule["then"] for rule in connector[prefix]["allOf"]]
    flow = json.loads((SCHEMAS / "flow.schema.json").read_text(encoding="utf-8"))["$defs"]
    assert sorted(flow["step"]["properties"]) == registries["step"].names()
    mapping = json.loads((SCHEMAS / "mapping.schema.json").read_text(encoding="utf-8"))["$defs"]
    assert mapping["form"]["properties"]["cast"]["enum"] == [c.name for c in registries["cast"].declared()]
    for form in registries["form"].declared():
        assert form.name in mapping["form"]["properties"]
        assert form.name in mapping["value"]["description"]


def test_cli_schemas_reports_and_rewrites(tmp_path: Path) -> None:
    for target in GENERATED:
        (tmp_path / target.file).write_text((SCHEMAS / target.file).read_text(encoding="utf-8"), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["schemas", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    flow = tmp_path / "flow.schema.json"
    doc = json.loads(flow.read_text(encoding="utf-8"))
    doc["$defs"]["step"]["properties"].pop("pull")
    flow.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    result = runner.invoke(main, ["schemas", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "flow.schema.json" in result.output and WRITE_COMMAND in result.output
    result = runner.invoke(main, ["schemas", "--dir", str(tmp_path), "--write"])
    assert result.exit_code == 0
    assert "pull" in json.loads(flow.read_text(encoding="utf-8"))["$defs"]["step"]["properties"]
