"""A replay from the page is `connector dlq replay`: two copies of one merchant with the same dead
letter, one replayed by the command and one by the page, end in the same state. So does a replay
with an edited payload (the command's --payload)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from ui_helpers import ENV, LOCAL, copy_acme, csrf_of, listing_status_stub

import engine.flow.runner as runner
from engine.cli import main
from engine.flow.runner import FlowRun, Merchant
from engine.ui import Access, Operations, standalone_app


def failed_once(merchant_file: Path, refused: set[str]) -> None:
    """Seed the ID map and run listing_status once with product 171 refused: one dead letter."""
    from engine.state import open_store

    store = open_store(str(merchant_file.parent / ".state" / "acme.db"))
    for i in range(3):
        store.map_id("product", "tiktok_us", f"shop-{i}", f"17{i}")
    store.close()
    merchant = Merchant(merchant_file, environ=ENV, transports={"tiktok_us": httpx.MockTransport(
        listing_status_stub(refused))})
    try:
        assert FlowRun(merchant, "listing_status").run().counts.get("dead_letter") == 1
    finally:
        merchant.close()


def state_of(merchant_file: Path) -> dict:
    """What a replay changes, without the times and run ids that always differ."""
    from engine.state import open_store

    store = open_store(str(merchant_file.parent / ".state" / "acme.db"))
    try:
        letters = [{k: letter[k] for k in ("id", "key", "status", "replay_ok", "attempts", "payload")}
                   for letter in store.list_dead_letters(status=None)]
        products = {m["key"]: {k: v for k, v in (m["extra"] or {}).items() if k != "seen_at"} | {"id": m["remote_id"]}
                    for m in store.list_mappings("product", "tiktok_us")}
        runs = store.list_runs(limit=10)
        last = runs[0]
        results = [{k: r[k] for k in ("entity", "key", "action", "status")} for r in store.run_results(last["run_id"])]
        return {"letters": letters, "products": products, "runs": len(runs), "last_status": last["status"],
                "last_counts": (last["summary"] or {}).get("counts"), "results": results}
    finally:
        store.close()


@pytest.fixture
def twins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    refused = {"171"}
    by_cli, by_page = copy_acme(tmp_path / "cli" / "acme"), copy_acme(tmp_path / "page" / "acme")
    for merchant_file in (by_cli, by_page):
        failed_once(merchant_file, refused)
    refused.clear()  # TikTok serves the product now
    handler = listing_status_stub(refused)
    original = runner.Merchant

    class StubbedMerchant(original):  # the command opens its own merchant
        def __init__(self, *args, **kwargs) -> None:
            kwargs.setdefault("transports", {"tiktok_us": httpx.MockTransport(handler)})
            kwargs.setdefault("environ", ENV)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(runner, "Merchant", StubbedMerchant)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    merchant = Merchant(by_page, environ=ENV, transports={"tiktok_us": httpx.MockTransport(handler)})
    client = TestClient(standalone_app(Operations({"acme": merchant}, Access("127.0.0.1"))), base_url=LOCAL)
    yield by_cli, by_page, client
    client.close()
    merchant.close()


def test_replay_from_the_page_leaves_the_state_the_command_leaves(twins) -> None:
    by_cli, by_page, client = twins
    before = state_of(by_page)
    assert [letter["status"] for letter in before["letters"]] == ["open"]
    result = CliRunner().invoke(main, ["dlq", "replay", str(by_cli), "listing_status"])
    assert result.exit_code == 0, result.output
    [letter] = before["letters"]
    page = client.post("/ui/m/acme/dlq/replay", data={"csrf": csrf_of(client), "ids": str(letter["id"])},
                       follow_redirects=True)
    assert "all replayed" in page.text
    after_cli, after_page = state_of(by_cli), state_of(by_page)
    assert after_page == after_cli
    assert after_page["letters"][0]["status"] == "replayed" and after_page["letters"][0]["replay_ok"] is True
    assert after_page["products"]["shop-1"]["title"] == "Trail Product 1"  # tracked by the replay
    assert after_page["runs"] == before["runs"] + 1


def test_an_edited_payload_replays_as_the_commands_payload_file(twins, tmp_path: Path) -> None:
    by_cli, by_page, client = twins
    [letter] = state_of(by_page)["letters"]
    fixed = {**letter["payload"], "title": "Trail Product 1, fixed by hand"}
    (tmp_path / "fixed.json").write_text(json.dumps(fixed))
    result = CliRunner().invoke(main, ["dlq", "replay", str(by_cli), "listing_status", "--id", str(letter["id"]),
                                       "--payload", str(tmp_path / "fixed.json")])
    assert result.exit_code == 0, result.output
    page = client.post("/ui/m/acme/dlq/replay", data={"csrf": csrf_of(client), "ids": str(letter["id"]),
                                                      "payload": json.dumps(fixed),
                                                      "back": f"/ui/m/acme/dlq/{letter['id']}"},
                       follow_redirects=True)
    assert "all replayed" in page.text
    after_cli, after_page = state_of(by_cli), state_of(by_page)
    assert after_page == after_cli
    assert after_page["letters"][0]["payload"]["title"] == "Trail Product 1, fixed by hand"


def test_a_payload_that_is_not_json_replays_nothing(twins) -> None:
    _, by_page, client = twins
    before = state_of(by_page)
    [letter] = before["letters"]
    page = client.post("/ui/m/acme/dlq/replay", data={"csrf": csrf_of(client), "ids": str(letter["id"]),
                                                      "payload": "{not json"}, follow_redirects=True)
    assert "is not JSON" in page.text
    assert state_of(by_page) == before


def test_dead_lettered_webhook_events_are_replayed_as_the_command_does(page, monkeypatch) -> None:
    """Letters of flow `webhooks` go through the same function as `connector dlq replay MERCHANT
    webhooks`: the event replay of the serve package, with the ids chosen on the page."""
    from types import SimpleNamespace

    import engine.serve.replay as event_replay

    client, merchant, _ = page
    letter = merchant.store.add_dead_letter(None, "acme", "webhooks", "webhook", "event", "tiktok_us:e1",
                                            {"order_id": "1"}, {"message": "flow orders: the shop was down"})
    calls = []

    def replayed(target, ids=None, **kwargs):
        calls.append((target.name, ids))
        target.store.mark_replayed(letter, "events", True)
        return [SimpleNamespace(letter_id=letter, key="tiktok_us:e1", status="done", error="")]

    monkeypatch.setattr(event_replay, "replay_dead_lettered_events", replayed)
    page_result = client.post("/ui/m/acme/dlq/replay", data={"csrf": csrf_of(client), "ids": str(letter)},
                              follow_redirects=True)
    assert "Replayed 1 webhook event (done 1): all replayed." in page_result.text
    result = CliRunner().invoke(main, ["dlq", "replay", str(page[2]["file"]), "webhooks", "--id", str(letter)],
                                env=ENV)
    assert calls == [("acme", [letter]), ("acme", [letter])], result.output
    [entry] = merchant.store.list_audit_entries("acme")
    assert entry["detail"] == {"flow": "webhooks", "events": {"done": 1}}
