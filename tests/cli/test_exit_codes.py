"""Exit codes, defined once and documented: a scheduler tells dead letters (3) from a platform outage or
an auth failure (4) from a broken project (1) from a wrong command line (2). No traceback ever."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from test_dead_letter_labels import listing_status_stub, seed_listings

from engine.cli import exit_codes
from engine.flow.runner import RunReport


def test_the_codes_are_distinct_and_the_readme_documents_each() -> None:
    codes = [code for code, _ in exit_codes.TABLE]
    assert len(codes) == len(set(codes))
    assert (exit_codes.OK, exit_codes.CONFIG, exit_codes.USAGE, exit_codes.DEAD_LETTERED, exit_codes.PLATFORM) == \
        (0, 1, 2, 3, 4)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Exit codes"):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    documented = {int(m) for m in re.findall(r"^\| `?(\d+)`? \|", section, re.M)}
    assert documented == set(codes)


def _report(status: str = "ok", errors: tuple[str, ...] = ()) -> RunReport:
    report = RunReport("r", "acme", "catalog", False, status=status)
    report.results = [{"key": str(i), "action": "dead_letter", "error": {"type": t}} for i, t in enumerate(errors)]
    report.results.append({"key": "x", "action": "create"})
    return report


def test_a_report_maps_to_one_code() -> None:
    assert exit_codes.for_report(_report()) == exit_codes.OK
    assert exit_codes.for_report(_report(errors=("RecordError",))) == exit_codes.DEAD_LETTERED
    assert exit_codes.for_report(_report(errors=("RecordError", "AuthError"))) == exit_codes.PLATFORM
    assert exit_codes.for_report(_report(status="failed")) == exit_codes.PLATFORM
    assert exit_codes.for_report(_report(status="failed", errors=("RecordError",))) == exit_codes.PLATFORM


def test_a_run_with_dead_letters_exits_3(cli, acme, transports) -> None:
    transports["tiktok_us"], _ = listing_status_stub(refused="171")
    seed_listings(acme)
    result = cli("run", acme, "listing_status")
    assert result.exit_code == exit_codes.DEAD_LETTERED, result.output


def test_a_run_where_every_record_syncs_exits_0(cli, acme, transports) -> None:
    transports["tiktok_us"], _ = listing_status_stub(refused="none")
    seed_listings(acme)
    result = cli("run", acme, "listing_status")
    assert result.exit_code == exit_codes.OK, result.output


def test_an_auth_failure_never_exits_0(cli, acme, transports) -> None:
    def refuse_everything(request):
        import httpx

        return httpx.Response(401, json={"code": 106001, "message": "Invalid credentials", "data": None})

    transports["tiktok_us"] = refuse_everything
    seed_listings(acme)
    ended = cli("run", acme, "listing_status")
    assert ended.exit_code == exit_codes.PLATFORM, ended.output
    assert "The run ended early" in ended.output and "Traceback" not in ended.output


def test_credentials_refused_record_by_record_exit_4(cli, acme, transports) -> None:
    """A step after the pull (here the category read) is refused: the record is dead-lettered, and
    the run still must not pass for a mere dead letter."""
    import json

    import httpx

    tee = json.loads((ROOT / "tests" / "fixtures" / "shopify" / "product_tee.json").read_text())["product"]
    transports["shopify"] = lambda request: httpx.Response(200, json={"products": [tee]})
    transports["tiktok_us"] = lambda request: httpx.Response(
        401, json={"code": 106001, "message": "Invalid credentials", "request_id": "r", "data": None})
    result = cli("run", acme, "catalog")
    assert result.exit_code == exit_codes.PLATFORM, result.output
    assert "refused the credentials for 1 record" in " ".join(result.output.split())


def test_an_auth_failure_reading_one_record_ends_the_run_with_4(cli, acme, transports) -> None:
    transports["tiktok_us"], _ = listing_status_stub(refused="171", status=401)
    seed_listings(acme)
    result = cli("run", acme, "listing_status")
    assert result.exit_code == exit_codes.PLATFORM, result.output


def test_configuration_errors_exit_1(cli, acme, tmp_path) -> None:
    missing = cli("run", acme, "catalog", env={"ACME_TIKTOK_APP_KEY": None})
    assert missing.exit_code == exit_codes.CONFIG, missing.output
    assert missing.output.strip() == "error: environment variable ACME_TIKTOK_APP_KEY is not set"

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "merchant.yaml").write_text("kind: merchant\nname: broken\nflows:\n  catalog: {flow: nope}\n")
    for args in (("run", broken / "merchant.yaml", "catalog"), ("dlq", "list", broken), ("validate", broken)):
        result = cli(*args)
        assert result.exit_code == exit_codes.CONFIG, (args, result.output)
        assert "merchant.yaml:" in result.output and "Traceback" not in result.output

    text = acme.read_text(encoding="utf-8")
    acme.write_text(text.replace("primary_catalog:",
                                 'state: {url: "postgresql://me:pw@127.0.0.1:1/acme"}\nprimary_catalog:'))
    backend = cli("runs", acme)
    assert backend.exit_code == exit_codes.CONFIG, backend.output
    assert backend.output.startswith("error: state store: cannot connect to the PostgreSQL state at "
                                     "postgresql://me:***@127.0.0.1:1/acme")


def test_usage_errors_exit_2(cli, acme, tmp_path) -> None:
    assert cli("run", acme).exit_code == exit_codes.USAGE  # FLOW missing
    assert cli("run", acme, "catalog", "--bogus").exit_code == exit_codes.USAGE
    assert cli("run", tmp_path / "nowhere.yaml", "catalog").exit_code == exit_codes.USAGE
    unknown = cli("run", acme, "no_such_flow")
    assert unknown.exit_code == exit_codes.USAGE
    assert unknown.output.strip() == ("error: merchant acme has no flow 'no_such_flow'; its flows: catalog, "
                                      "listing_status, orders, fulfillment, cancellation_requests, cancellations, "
                                      "returns, inventory, inventory_holds")
    empty = tmp_path / "empty"
    empty.mkdir()
    no_merchant = cli("dlq", "list", empty)
    assert no_merchant.exit_code == exit_codes.USAGE and "without a merchant file" in no_merchant.output


def test_an_unexpected_error_is_one_line_with_code_5(cli, acme, monkeypatch) -> None:
    import engine.flow.runner as runner

    def broken(self, *args, **kwargs):
        raise RuntimeError("something nobody planned for\nsecond line")

    monkeypatch.setattr(runner.FlowRun, "run", broken)
    result = cli("run", acme, "catalog")
    assert result.exit_code == exit_codes.UNEXPECTED
    assert result.output.strip().splitlines() == [
        "error: unexpected RuntimeError: something nobody planned for (`connector -v ...` shows the traceback)"]

    verbose = cli("-v", "run", acme, "catalog")
    assert verbose.exit_code == exit_codes.UNEXPECTED and "Traceback" in verbose.output


def test_a_state_store_failure_is_code_5(cli, acme, monkeypatch) -> None:
    from engine.state.store import StateError

    def closed(*args, **kwargs):
        raise StateError("database is locked")

    monkeypatch.setattr("engine.flow.runner.open_store", closed)
    result = cli("dlq", "list", acme)
    assert result.exit_code == exit_codes.UNEXPECTED
    assert result.output.strip() == "error: state store: database is locked"


@pytest.mark.parametrize("args", [("runs",), ("dlq", "list"), ("listings",), ("audit-skus",)])
def test_ctrl_c_is_130_without_a_traceback(cli, acme, monkeypatch, args) -> None:
    import engine.flow.runner as runner

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "open_store", interrupted)
    result = cli(*args, acme)
    assert result.exit_code == exit_codes.INTERRUPTED, result.output
    assert result.output.strip() == "interrupted"
