"""A dry run shows the whole body each create would send, the field changes of each update, and the
failed rule of each record that would be dead-lettered."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import EXAMPLE, console, lines_within
from test_cli_output_width import report_with_letters

from engine.cli.render import print_report
from engine.flow.runner import RunReport


def test_a_create_shows_its_full_body_and_a_dead_letter_its_rule() -> None:
    out, buffer = console()
    report = report_with_letters(dry_run=True)
    report.planned[0]["body"] = {"title": "Mug", "description": "word " * 60,
                                 "skus": [{"seller_sku": "MUG-0", "price": {"amount": "12.00", "currency": "USD"}}]}
    print_report(report, out=out)
    text = buffer.getvalue()
    start = text.index("create 7000339500000  Mug (SKU MUG-0)")
    body = text[text.index("{", start):text.index("\n    }\n", start) + 6]
    assert json.loads(body) == report.planned[0]["body"]  # printed whole and unbroken: it is still JSON
    assert "dry run: nothing written" in text
    flat = " ".join(text.split())
    for rule in ("title_length (title): title has 281 characters", "positive_prices (variants.price)"):
        assert rule in flat
    assert "3 records would go to the dead-letter queue" in flat
    assert "connector dlq list" not in text  # nothing was filed
    # Only the bodies (data to copy) may be wider than the terminal; the rest fits.
    assert [line for line in lines_within(text) if not line.startswith("      ")] == []


def test_an_update_shows_the_changed_fields() -> None:
    out, buffer = console()
    report = RunReport("dry-run", "acme", "catalog", True)
    report.add("update")
    report.results.append({"key": "1", "action": "update", "status": "ok",
                           "previous": {"title": "Old tee", "variants": [{"sku": "T-1"}]},
                           "canonical": {"title": "Renamed tee", "variants": [{"sku": "T-1"}]}})
    report.planned.append({"key": "1", "action": "update", "body": {"title": "Renamed tee"}})
    print_report(report, out=out)
    text = buffer.getvalue()
    assert "update 1  Renamed tee (SKU T-1)" in text
    assert "'Old tee' -> 'Renamed tee'" in text


@pytest.mark.slow
def test_connector_run_dry_run_against_the_sandbox(tmp_path) -> None:
    from simulators.sandbox import start_sandbox

    shutil.copytree(EXAMPLE, tmp_path / "acme", ignore=shutil.ignore_patterns(".state"))
    with start_sandbox(products=12, seed=7, max_variants=3, invalid_share=0.3) as sandbox:
        env = {**os.environ, **sandbox.environ(), "COLUMNS": "80"}
        command = [sys.executable, "-m", "engine.cli", "run", "acme", "catalog", "--dry-run"]
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        state = sandbox.admin("tiktok_shop", "GET", "state")
    assert done.returncode == 3, done.stdout + done.stderr  # records would be dead-lettered
    assert "Traceback" not in done.stderr
    out = done.stdout
    assert out.count("the create would send:") == len(re.findall(r"^create \d+  ", out, re.M)) > 0
    assert '"seller_sku":' in out and '"package_weight":' in out and "(would upload http" in out
    flat = " ".join(out.split())
    assert "would go to the dead-letter queue" in flat
    assert any(rule in flat for rule in ("title_length (title)", "main_images (images)", "package_weight (",
                                         "positive_prices (", "variants[0].sku"))
    assert not state.get("products")  # a dry run writes nothing: no listing, no dead letter
    listed = subprocess.run([sys.executable, "-m", "engine.cli", "dlq", "list", "acme"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and listed.stdout.strip() == "open dead letters of acme: 0"
