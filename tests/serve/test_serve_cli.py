"""`connector serve` at the command line: registered with the other commands, and a merchant that
cannot be served stops it before it listens, with the configuration exit code."""

from __future__ import annotations

from click.testing import CliRunner
from serve_helpers import ENV

from engine.cli import main
from engine.cli.exit_codes import CONFIG


def test_serve_is_a_command_with_its_options():
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--workers", "--no-schedule", "--max-body", "--max-event-age", "--synchronous"):
        assert option in result.output


def test_a_merchant_with_an_unset_secret_is_not_served(acme_file, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ACME_TIKTOK_APP_SECRET")
    result = CliRunner().invoke(main, ["serve", str(acme_file), "--port", "0"])
    assert result.exit_code == CONFIG, result.output
    assert "ACME_TIKTOK_APP_SECRET" in result.output
