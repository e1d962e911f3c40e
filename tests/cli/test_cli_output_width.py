"""Run summaries, `runs` and `dlq` read at 80 columns: ids whole (never cut or shortened with an
ellipsis), long titles and errors wrapped between words, no line wider than the terminal."""

from __future__ import annotations

import json

from conftest import LONG_KEY, LONG_TITLE, console, lines_within

from engine.cli.render import print_report
from engine.flow.runner import FlowRun, RunReport

RUN_ID = "20261130T114316159612Z-cb438e38"


def report_with_letters(dry_run: bool = False) -> RunReport:
    report = RunReport("dry-run" if dry_run else RUN_ID, "acme", "catalog", dry_run)
    keys = ["7000339579588", LONG_KEY, "7000339891142"]
    errors = [
        {"message": "1 rule(s) failed", "type": "RecordError",
         "label": FlowRun.record_label({"title": LONG_TITLE, "variants": [{"sku": f"ACME-TEE00{i}-XL-OLV"}
                                                                         for i in range(6)]}, None),
         "field_errors": [{"field": "title", "rule": "title_length",
                           "message": "title has 281 characters; TikTok allows 255"}]},
        {"message": "mapping shopify.product_to_canonical failed on 1 field(s)", "type": "RecordError",
         "label": "Lightweight Hiking Boot",
         "field_errors": [{"field": "variants[0].sku", "message": "required value is missing or empty"}]},
        {"message": "1 rule(s) failed", "type": "RecordError", "label": "Everyday Boxy Tee (SKUs A, B, C)",
         "field_errors": [{"field": "variants.price", "rule": "positive_prices",
                           "message": "every SKU needs a price above zero; these have none: "
                                      "ACME-TEE009-LIN-EXTRA-LONG-SKU-NAME-0001, ACME-TEE009-LIN-0002"}]},
    ]
    for key, error in zip(keys, errors, strict=True):
        report.add("dead_letter")
        report.results.append({"key": key, "action": "dead_letter", "status": "failed", "step": "check",
                               "error": error})
    for i in range(3):
        report.add("create")
        report.results.append({"key": f"70003395{i:05d}", "action": "create", "status": "ok", "previous": None,
                               "canonical": {"title": "Mug", "variants": [{"sku": f"MUG-{i}"}]}})
        report.planned.append({"key": f"70003395{i:05d}", "action": "create",
                               "body": {"title": "Mug", "skus": [{"seller_sku": f"MUG-{i}"}]}})
    return report


def test_run_summary_keeps_the_run_id_and_keys_whole_within_80_columns() -> None:
    out, buffer = console()
    report = report_with_letters()
    print_report(report, "acme/merchant.yaml", out=out)
    text = buffer.getvalue()
    assert lines_within(text) == []
    assert RUN_ID in text
    for result in report.dead_letters:
        assert result["key"] in text
    assert "title_length (title): title has 281 characters; TikTok allows 255" in " ".join(text.split())
    assert "Weatherproof Commuter Pack" in text and "+3 more" in text
    assert "connector dlq list acme/merchant.yaml" in text
    assert "3 records went to the dead-letter queue" in text


def test_a_run_that_ended_early_says_so_within_80_columns() -> None:
    out, buffer = console()
    report = RunReport(RUN_ID, "acme", "catalog", False, status="failed",
                       error="list_products failed, HTTP 401: [API] Invalid API key or access token "
                             "[https://acme-outdoors.myshopify.com/admin/api/2025-01/products.json?limit=250]")
    print_report(report, "acme/merchant.yaml", out=out)
    text = buffer.getvalue()
    assert lines_within(text) == [] and RUN_ID in text
    assert "The run ended early (failed)" in text and "HTTP 401" in text


def test_dlq_list_at_80_columns_names_records_and_rules(cli, filled) -> None:
    result = cli("dlq", "list", filled["file"])
    assert result.exit_code == 0, result.output
    assert lines_within(result.output) == []
    for dlq_id, key in zip(filled["ids"], filled["keys"], strict=True):
        # on one line: as a table row, or (the long key leaves the text too little room) a block's first line
        assert any(str(dlq_id) in line.split() and key in line.split() for line in result.output.splitlines())
    flat = " ".join(result.output.split())
    assert "check: title_length (title): title has 288 characters; TikTok allows 255" in flat
    assert "Weatherproof Commuter Pack with extra long marketing copy… (SKUs RDGL-PACK002-OLV-0-NYL" in flat
    assert "- variants[0].sku: required value is missing or empty" in flat  # two field errors: each listed
    assert "Studio Grip Mat (SKU FLOW-MAT004-3)" in flat  # an old entry: the label comes from its payload
    assert "7000339000001" not in result.output  # resolved: only with --all
    assert "open dead letters of acme, flow catalog: 4" in result.output


def test_dlq_list_is_a_table_when_the_keys_leave_room(cli, filled) -> None:
    from engine.state import open_store

    store = open_store(str(filled["file"].parent / ".state" / "acme.db"))
    try:
        store.resolve_dead_letter(filled["ids"][1], "the one with the long key")
    finally:
        store.close()
    result = cli("dlq", "list", filled["file"])
    assert lines_within(result.output) == []
    assert result.output.splitlines()[1].split() == ["id", "key", "tries", "record", "and", "error"]
    assert "4  7000339769167      1  Studio Grip Mat (SKU FLOW-MAT004-3)" in result.output


def test_dlq_list_all_adds_the_status_and_still_fits(cli, filled) -> None:
    result = cli("dlq", "list", filled["file"], "--all")
    assert result.exit_code == 0, result.output
    assert lines_within(result.output) == []
    assert "7000339000001" in result.output and "resolved" in result.output
    for key in filled["keys"]:
        assert key in result.output


def test_runs_list_and_one_run_keep_ids_whole(cli, filled) -> None:
    listed = cli("runs", filled["file"])
    assert listed.exit_code == 0, listed.output
    assert lines_within(listed.output) == []
    for run_id in filled["runs"]:
        assert run_id in listed.output
    assert "create 54, dead_letter 4, price_update 3" in " ".join(listed.output.split())

    one = cli("runs", filled["file"], "--run", filled["runs"][1])
    assert one.exit_code == 0, one.output
    assert lines_within(one.output) == []
    assert filled["runs"][1] in one.output and "1746768432152974787" in one.output
    for key in filled["keys"]:
        assert key in one.output
    assert "Lightweight Hiking Boot" in one.output

    letters = cli("runs", filled["file"], "--run", filled["runs"][1], "--status", "dead_letter")
    assert "7000339564531" not in letters.output and LONG_KEY in letters.output


def test_dlq_show_names_the_record_and_every_failed_field(cli, filled) -> None:
    result = cli("dlq", "show", filled["file"], str(filled["ids"][1]))
    assert result.exit_code == 0, result.output
    assert "Lightweight Hiking Boot" in result.output and LONG_KEY in result.output
    assert "variants[0].sku: required value is missing or empty" in result.output
    assert "variants[0].price.amount: not a decimal: 'abc'" in result.output
    payload = result.output[result.output.index("\n{") + 1:]
    assert json.loads(payload) == {"title": "Lightweight Hiking Boot", "variants": [{"sku": ""}]}
    assert f"  connector dlq replay acme/merchant.yaml catalog --id {filled['ids'][1]} --payload FIXED.json\n" \
        in result.output

    as_json = cli("dlq", "show", filled["file"], str(filled["ids"][0]), "--format", "json")
    assert json.loads(as_json.output)["error"]["label"].startswith("Weatherproof Commuter Pack")


def test_unknown_ids_are_usage_errors_in_one_line(cli, filled) -> None:
    for args in (("dlq", "show", filled["file"], "999"), ("dlq", "resolve", filled["file"], "999"),
                 ("runs", filled["file"], "--run", "no-such-run")):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output and result.output.startswith("error: ")
        assert len(result.output.strip().splitlines()) == 1
