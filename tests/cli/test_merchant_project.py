"""The merchant's folder is its project: a flow beside the merchant file runs as `validate FOLDER`
sees it; MERCHANT_FILE may name the folder; the hints a run prints work as printed."""

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
