"""The merchant's folder is its project: a flow beside the merchant file runs as `validate FOLDER`
sees it; MERCHANT_FILE may name the folder; the hints a run prints work as printed; `connector test`
collects test files only."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from conftest import EXAMPLE, ROOT, console
from test_dead_letter_labels import listing_status_stub, seed_listings

from engine.cli.render import print_report
from engine.flow.runner import FlowRun, Merchant, RunReport


def own_flow(acme: Path) -> None:
    """A copy of the shipped listing-status flow under the merchant's own name, bound as `status`."""
    (acme.parent / "flows").mkdir()
    text = (ROOT / "flows" / "listing_status_tiktok.yaml").read_text(encoding="utf-8")
    (acme.parent / "flows" / "status.yaml").write_text(
        text.replace("name: listing_status_tiktok", "name: acme_listing_status"), encoding="utf-8")
    merchant = acme.read_text(encoding="utf-8")
    acme.write_text(merchant.replace("\noverrides:", "\n  status:\n    flow: acme_listing_status\n"
                                                     "    connections: {channel: tiktok_us}\n\noverrides:"),
                    encoding="utf-8")


def test_a_flow_beside_the_merchant_file_runs_as_validate_sees_it(cli, acme, transports) -> None:
    own_flow(acme)
    assert cli("validate", acme.parent).exit_code == 0
    merchant = Merchant(acme, state_url=":memory:")
    try:
        assert FlowRun(merchant, "status").ctx.flow_name == "acme_listing_status"
    finally:
        merchant.close()
    transports["tiktok_us"], _ = listing_status_stub(refused="none")
    seed_listings(acme)
    result = cli("run", acme, "status")
    assert result.exit_code == 0, result.output
    assert "tracked" in result.output


def test_merchant_file_may_be_its_folder(cli, acme, tmp_path) -> None:
    assert cli("runs", acme.parent).exit_code == 0
    assert cli("dlq", "list", "acme").exit_code == 0
    shutil.copy(acme, acme.parent / "second.yaml")
    several = cli("dlq", "list", acme.parent)
    assert several.exit_code == 2 and "several merchant files (merchant.yaml, second.yaml); name one" in several.output


def test_the_dlq_hint_of_a_run_works_as_printed(cli, filled) -> None:
    out, buffer = console()
    report = RunReport(filled["runs"][1], "acme", "catalog", False)
    report.add("dead_letter")
    report.results.append({"key": filled["keys"][0], "action": "dead_letter", "step": "check",
                           "error": {"message": "1 rule(s) failed", "label": "Pack"}})
    print_report(report, filled["file"], out=out)
    [hint] = [line.strip() for line in buffer.getvalue().splitlines() if "connector dlq" in line]
    assert hint == "connector dlq list acme/merchant.yaml"
    args = shlex.split(hint)[1:]
    result = cli(*args)
    assert result.exit_code == 0 and filled["keys"][0] in result.output


def test_the_dlq_hint_quotes_a_path_with_spaces(cli, tmp_path, monkeypatch) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "my shop", ignore=shutil.ignore_patterns(".state"))
    monkeypatch.chdir(tmp_path)
    out, buffer = console()
    report = RunReport("r", "acme", "catalog", False)
    report.add("dead_letter")
    report.results.append({"key": "1", "action": "dead_letter", "step": "map", "error": {"message": "m"}})
    print_report(report, Path("my shop") / "merchant.yaml", out=out)
    [hint] = [line.strip() for line in buffer.getvalue().splitlines() if "connector dlq" in line]
    assert hint == "connector dlq list 'my shop/merchant.yaml'"
    assert cli(*shlex.split(hint)[1:]).exit_code == 0


TEST_FILE = """kind: test
name: {name}
mapping: shopify.product_to_canonical
{merchant}cases:
  - name: {name} case
    input: {{id: 1, title: Tee, vendor: V, product_type: T-Shirts, options: [],
             variants: [{{id: 2, sku: TEE-1, price: "10.00"}}], images: []}}
    expect_contains: {{title: Tee, brand: {brand}}}
"""


def test_connector_test_without_paths_collects_only_test_files(cli, tmp_path, monkeypatch) -> None:
    project = tmp_path / "repo"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "tee.test.yaml").write_text(TEST_FILE.format(name="plain", merchant="", brand="V"))
    # A merchant project whose test sees the merchant's override of the brand.
    shutil.copytree(EXAMPLE, project / "shop", ignore=shutil.ignore_patterns(".state"))
    (project / "shop" / "tests").mkdir()
    (project / "shop" / "tests" / "brand_test.yaml").write_text(
        TEST_FILE.format(name="merchant", merchant="merchant: ../merchant.yaml\n", brand="Acme Outdoors"))
    # Everything else below the folder is not a test file and must not be loaded.
    (project / "docker-compose.yaml").write_text("services: {db: {image: postgres}}\n")
    (project / ".github" / "workflows").mkdir(parents=True)
    (project / ".github" / "workflows" / "ci.yaml").write_text("on: push\n")
    for hidden in (".venv/lib", "node_modules/pkg", ".state", ".git"):
        (project / hidden).mkdir(parents=True)
        (project / hidden / "broken.test.yaml").write_text("kind: test\ncases: [\n")
    monkeypatch.chdir(project)
    result = cli("test", "-v")
    assert result.exit_code == 0, result.output
    assert "2 passed, 0 failed" in result.output
    assert "PASS" in result.output and "merchant case" in result.output

    (project / "tests" / "wrong.test.yaml").write_text(TEST_FILE.format(name="wrong", merchant="", brand="Other"))
    failing = cli("test")
    assert failing.exit_code == 1 and "2 passed, 1 failed" in failing.output

    only = cli("test", "tests/tee.test.yaml")
    assert only.exit_code == 0 and "1 passed, 0 failed" in only.output


def test_connector_test_says_when_there_is_nothing_to_test(cli, tmp_path, monkeypatch) -> None:
    (tmp_path / "notes.yaml").write_text("a: 1\n")
    monkeypatch.chdir(tmp_path)
    result = cli("test")
    assert result.exit_code == 2
    assert result.output.strip() == f"error: no test files (*.test.yaml) below {tmp_path}; pass a folder or file to test"
