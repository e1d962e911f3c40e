"""The merchant's folder is its project: a flow beside the merchant file runs as `validate FOLDER`
sees it."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT
from test_dead_letter_labels import listing_status_stub, seed_listings

from engine.flow.runner import FlowRun, Merchant


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
