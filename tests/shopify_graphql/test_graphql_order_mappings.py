"""The GraphQL order mappings' own cases (mappings/orders.test.yaml), run as `connector test` runs them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from engine.cli.main import main


def test_the_graphql_order_mapping_cases_pass() -> None:
    result = CliRunner().invoke(main, ["test", str(Path(__file__).parent / "mappings")])
    assert result.exit_code == 0, result.output
    assert "2 passed, 0 failed" in result.output
