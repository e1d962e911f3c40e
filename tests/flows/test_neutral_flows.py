"""The platform-neutral design, held to what it promises: flows name no platform's mapping or
operation, generic engine code names no platform, and a broken expression anywhere in a flow's
steps or a connector's entity declarations is reported by `connector validate` at its line and
column (and `connector run` refuses it without a traceback)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.project.loader import Project
from engine.project.validate import Validator

ROOT = Path(__file__).resolve().parents[2]
ACME = ROOT / "examples" / "acme"
PLATFORMS = ("tiktok", "shopify", "rithum", "channeladvisor")


def _shipped(folder: str) -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted((ROOT / folder).rglob("*.yaml"))]


def test_flows_name_no_platform_mapping_or_operation():
    names = {m["name"] for m in _shipped("mappings")}
    for connector in _shipped("connectors"):
        names |= set(connector.get("operations") or {})
    for flow in sorted((ROOT / "flows").glob("*.yaml")):
        text = flow.read_text()
        found = sorted(n for n in names if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", text))
        assert not found, f"{flow.name} names {found}"


def test_generic_engine_code_names_no_platform():
    offenders = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        if "platforms" in path.relative_to(ROOT / "engine").parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(name in line.lower() for name in PLATFORMS):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def _project_with(tmp_path: Path, *, flow_edit=None, connector_edit=None) -> Path:
    project = tmp_path / "acme"
    shutil.copytree(ACME, project)
    if flow_edit:
        text = (ROOT / "flows" / "catalog_to_tiktok.yaml").read_text()
        old, new = flow_edit
        assert old in text
        (project / "catalog_copy.yaml").write_text(text.replace("name: catalog_to_tiktok", "name: catalog_copy")
                                                   .replace(old, new))
        merchant = project / "merchant.yaml"
        merchant.write_text(merchant.read_text().replace("flow: catalog_to_tiktok", "flow: catalog_copy"))
    if connector_edit:
        text = (ROOT / "connectors" / "shopify.yaml").read_text()
        old, new = connector_edit
        assert old in text
        (project / "shopify.yaml").write_text(text.replace(old, new))
    return project


def _line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


BROKEN = "length(("  # an unclosed call


@pytest.mark.parametrize("old, new", [
    ('price: "variants[].{sku: sku, price: price, list: compare_at_price}"', f'price: "{BROKEN}"'),
    ('urls: "sort_by(images || `[]`, &not_null(position, `0`))[].url"', f'urls: "{BROKEN}"'),
    ("      entity: product\n      parts:", "      entity: product\n      parts:\n        broken: \"" + BROKEN + '"'),
], ids=["diff-part", "upload-urls", "new-diff-part"])
def test_a_broken_expression_in_a_flow_step_option_is_reported_at_its_line(tmp_path, old, new):
    project = _project_with(tmp_path, flow_edit=(old, new))
    problems = Validator(Project.load([project])).run()
    flow_file = project / "catalog_copy.yaml"
    line = _line_of(flow_file, BROKEN)
    assert any(p.location and Path(p.location.file).name == "catalog_copy.yaml" and p.location.line == line
               for p in problems), [str(p) for p in problems]


def test_a_broken_expression_in_a_connector_entity_is_reported_at_its_line_and_run_refuses_it(tmp_path):
    old = 'sku_ids: "variants[].{sku: sku, id: id, inventory_item_id: inventory_item_id}"\n        then'
    project = _project_with(tmp_path, connector_edit=(old, f'sku_ids: "{BROKEN}"\n        then'))
    # The shopify connector is the source of catalog_to_tiktok, so bind it as a target through the
    # import flow to make its writes part of a plan.
    merchant = project / "merchant.yaml"
    merchant.write_text(merchant.read_text().replace("\noverrides:", (
        "  import:\n    flow: catalog_from_tiktok\n    connections: {source: tiktok_us, target: shopify}\n"
        "    options: {location_id: '1'}\n\noverrides:")))
    problems = Validator(Project.load([project])).run()
    line = _line_of(project / "shopify.yaml", BROKEN)
    assert any(p.location and Path(p.location.file).name == "shopify.yaml" and p.location.line == line
               for p in problems), [str(p) for p in problems]
    result = subprocess.run([sys.executable, "-m", "engine.cli", "run", str(merchant), "catalog", "--dry-run"],
                            capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output and f"shopify.yaml:{line}:" in output


@pytest.mark.parametrize("old, new, needle, message", [
    ('      skus: "variants[].sku"\n    # Orders take', '      skus: "' + BROKEN + '"\n    # Orders take', BROKEN,
     "invalid JMESPath"),
    ("operation: update_variant", "operation: update_varaint", "update_varaint", "did you mean 'update_variant'"),
    ("from_canonical: shopify.product_from_canonical", "from_canonical: shopify.product_from_canonical_v2",
     "product_from_canonical_v2", "unknown mapping"),
], ids=["lookup-skus", "write-operation", "mapping"])
def test_a_connector_entity_mistake_is_reported_even_when_no_merchant_binds_it(tmp_path, old, new, needle, message):
    project = tmp_path / "project"
    project.mkdir()
    text = (ROOT / "connectors" / "shopify.yaml").read_text()
    assert old in text
    (project / "shopify.yaml").write_text(text.replace(old, new))
    problems = Validator(Project.load([project])).run()
    line = _line_of(project / "shopify.yaml", needle)
    assert any(p.location and p.location.line == line and (message in p.message or message in p.hint)
               for p in problems), [str(p) for p in problems]


def test_a_channel_rule_reading_a_field_the_canonical_entity_lacks_is_reported_at_its_line(tmp_path):
    text = (ROOT / "rules" / "tiktok_shop" / "product_listing.yaml").read_text()
    old = 'assert: "length(title) <= `255`"'
    assert old in text
    (tmp_path / "product_listing.yaml").write_text(text.replace(old, 'assert: "length(titel) <= `255`"'))
    problems = Validator(Project.load([tmp_path])).run()
    line = _line_of(tmp_path / "product_listing.yaml", "titel")
    assert any(p.location and p.location.line == line and "titel" in p.message and "'title'" in p.hint
               for p in problems), [str(p) for p in problems]


def test_a_misspelt_read_is_one_problem_at_its_line_with_the_right_name(tmp_path):
    project = _project_with(tmp_path, flow_edit=("  - pull: {from: source, entity: product}",
                                                 "  - pull: {from: source, entity: product, read: livee}"))
    problems = Validator(Project.load([project])).run()
    line = _line_of(project / "catalog_copy.yaml", "livee")
    found = [p for p in problems if p.location and Path(p.location.file).name == "catalog_copy.yaml"]
    assert len(found) == 1, [str(p) for p in problems]
    assert found[0].location.line == line and "did you mean 'live'" in found[0].hint


def test_a_connection_that_cannot_serve_its_role_is_one_problem_at_the_binding(tmp_path):
    project = tmp_path / "bloom_my"
    shutil.copytree(ROOT / "examples" / "bloom_my", project)
    for source in (ROOT / "tests" / "othercart" / "project").glob("*.yaml"):
        shutil.copy(source, project)
    merchant = project / "merchant.yaml"
    text = merchant.read_text()
    start = text.index("  shopify:\n    connector: shopify")
    end = text.index("\n\n", start)
    merchant.write_text(text[:start] + "  shopify:\n    connector: othercart\n    settings: {base_url: "
                        "\"http://127.0.0.1:9\"}\n    credentials: {api_key: \"${env:OC_KEY}\"}" + text[end:])
    problems = Validator(Project.load([project])).run()
    assert [p.message for p in problems] == ["connector 'othercart' cannot push product"], \
        [str(p) for p in problems]
    assert Path(problems[0].location.file).name == "merchant.yaml"
