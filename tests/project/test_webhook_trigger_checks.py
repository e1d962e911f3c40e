"""A flow's webhook trigger is checked against the connector bound to its pull: an event name the
connector never sends is an error (the trigger would never fire), and a connection that cannot
verify the deliveries, or a system that sends no webhooks, is a warning at the merchant's line."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.project.validate import validate_paths

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "acme"


def project(tmp_path: Path, *, event: str = "INVENTORY_LEVELS_UPDATE", secret: bool = True) -> Path:
    target = tmp_path / "acme"
    shutil.copytree(EXAMPLE, target)
    flow = (ROOT / "flows" / "inventory_to_tiktok.yaml").read_text()
    flow = flow.replace("name: inventory_to_tiktok", "name: stock_watch", 1)
    flow = flow.replace("webhook: [INVENTORY_LEVELS_UPDATE]", f"webhook: [{event}]", 1)
    (target / "stock_watch.yaml").write_text(flow)
    merchant = target / "merchant.yaml"
    text = merchant.read_text().replace("flow: inventory_to_tiktok", "flow: stock_watch", 1)
    if not secret:
        text = text.replace('      webhook_secret: "${env:ACME_SHOPIFY_WEBHOOK_SECRET}"', "", 1)
    merchant.write_text(text)
    return target


def test_a_known_event_passes(tmp_path):
    found = validate_paths([project(tmp_path)])
    assert [p for p in found if p.severity == "error"] == []
    assert not any("stock_watch" in p.message for p in found)


def test_an_event_the_connector_never_sends_is_an_error_with_the_closest_name(tmp_path):
    found = [p for p in validate_paths([project(tmp_path, event="INVENTORY_LEVEL_UPDATE")])
             if p.severity == "error"]
    assert len(found) == 1, [str(p) for p in found]
    problem = found[0]
    assert "'INVENTORY_LEVEL_UPDATE'" in problem.message and "never fires" in problem.message
    assert "did you mean 'INVENTORY_LEVELS_UPDATE'?" in problem.hint
    assert problem.location.file.endswith("merchant.yaml")
    assert problem.path.endswith("inventory.connections.store")


def test_a_missing_webhook_secret_is_a_warning_naming_the_credential(tmp_path):
    found = validate_paths([project(tmp_path, secret=False)])
    assert [p for p in found if p.severity == "error"] == []
    warnings = [p for p in found if "webhook_secret" in p.message]
    assert len(warnings) == 1 and warnings[0].severity == "warning"
    assert "credentials" in warnings[0].hint
