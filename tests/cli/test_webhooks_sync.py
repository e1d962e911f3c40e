"""`connector webhooks sync` against both simulators: what the merchant's flows name is subscribed
once, at the address `connector serve` receives it on; what is there is left alone; --prune removes
only what no flow needs at that address; failures have their exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import lines_within

from simulators.sandbox import start_sandbox

URL = "https://connector.acme.test"
TIKTOK_ADDRESS = f"{URL}/webhooks/acme/tiktok_us"
SHOPIFY_ADDRESS = f"{URL}/webhooks/acme/shopify"
OTHER = "https://other-app.example.com/hooks"
# The acme flows name these (listing_status, orders and inventory_holds; the inventory flow Shopify's
# inventory_levels/update); the others come from the override below.
TIKTOK_EVENTS = {"ORDER_STATUS_CHANGE", "RECIPIENT_ADDRESS_UPDATE", "PRODUCT_STATUS_CHANGE",
                 "PRODUCT_AUDIT_STATUS_CHANGE"}
SHOPIFY_TOPICS = {"fulfillments/create", "fulfillments/update", "inventory_levels/update"}
# A merchant override: the fulfillment flow also starts on Shopify's fulfillment events.
OVERRIDE = """overrides:
  flows:
    fulfillment_to_tiktok:
      trigger: {webhook: [FULFILLMENTS_CREATE, FULFILLMENTS_UPDATE]}
"""


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(products=0, seed=4) as sandbox:
        yield sandbox


@pytest.fixture
def sims(sandbox):
    for name in ("tiktok_shop", "shopify"):
        sandbox.admin(name, "POST", "reset")
        sandbox.admin(name, "POST", "requests/clear")
    return sandbox


@pytest.fixture
def merchant(acme: Path) -> Path:
    text = acme.read_text()
    assert "\noverrides:\n" in text
    acme.write_text(text.replace("\noverrides:\n", "\n" + OVERRIDE))
    return acme


@pytest.fixture
def sync(cli, sims, merchant):
    environ = sims.environ()

    def run(*args: str, env: dict | None = None):
        return cli("webhooks", "sync", merchant, "--url", URL, *args, env={**environ, **(env or {})})

    return run


def tiktok_subscriptions(sandbox) -> dict[str, str]:
    return {s["event_type"]: s["address"] for s in sandbox.admin("tiktok_shop", "GET", "state")["webhooks"]
            ["subscriptions"]}


def shopify_subscriptions(sandbox) -> list[tuple[str, str, str]]:
    return sorted((s["topic"], s["address"], s["format"]) for s in sandbox.admin("shopify", "GET", "state")["webhooks"])


def writes(sandbox, name: str) -> list[dict]:
    return [r for r in sandbox.admin(name, "GET", "requests")["requests"]
            if r["method"] != "GET" and not r["path"].startswith("/_admin")]


def test_subscribes_what_the_flows_name_on_both_platforms_then_changes_nothing(sync, sims) -> None:
    result = sync()
    assert result.exit_code == 0, result.output
    assert tiktok_subscriptions(sims) == {event: TIKTOK_ADDRESS for event in TIKTOK_EVENTS}
    assert shopify_subscriptions(sims) == [(topic, SHOPIFY_ADDRESS, "json") for topic in sorted(SHOPIFY_TOPICS)]
    assert "7 subscribed" in result.output
    assert TIKTOK_ADDRESS in result.output and SHOPIFY_ADDRESS in result.output
    assert "fulfillment (FULFILLMENTS_CREATE)" in " ".join(result.output.split())  # flow and event of a topic
    assert not lines_within(result.output)

    for name in ("tiktok_shop", "shopify"):
        sims.admin(name, "POST", "requests/clear")
    again = sync()
    assert again.exit_code == 0, again.output
    assert "7 already there" in again.output and "subscribed" not in again.output.replace("already", "")
    assert writes(sims, "tiktok_shop") == [] and writes(sims, "shopify") == []
    assert len(shopify_subscriptions(sims)) == 3


def test_dry_run_lists_and_changes_nothing(sync, sims) -> None:
    result = sync("--dry-run")
    assert result.exit_code == 0, result.output
    assert "7 would subscribe" in result.output and "dry run" in result.output
    assert tiktok_subscriptions(sims) == {} and shopify_subscriptions(sims) == []
    assert writes(sims, "tiktok_shop") == [] and writes(sims, "shopify") == []


def subscribe_by_hand(sandbox, environ: dict) -> None:
    """What another app, an old deployment or an earlier flow left behind."""
    from engine.flow.runner import Merchant

    merchant = Merchant(Path("acme/merchant.yaml"), environ=environ)
    try:
        tiktok, shopify = merchant.connection("tiktok_us"), merchant.connection("shopify")
        tiktok.call("put_webhook", body={"event_type": "ORDER_STATUS_CHANGE", "address": OTHER})
        tiktok.call("put_webhook", body={"event_type": "PRODUCT_CREATION", "address": TIKTOK_ADDRESS})
        for topic, address in (("fulfillments/create", OTHER), ("orders/delete", SHOPIFY_ADDRESS),
                               ("orders/delete", OTHER)):
            shopify.call("create_webhook", body={"webhook": {"topic": topic, "address": address, "format": "json"}})
    finally:
        merchant.close()


def test_leaves_other_addresses_alone_moves_tiktok_types_and_prunes_only_its_own(sync, sims) -> None:
    subscribe_by_hand(sims, sims.environ())
    result = sync()
    assert result.exit_code == 0, result.output
    # TikTok keeps one address per event type: ORDER_STATUS_CHANGE moves here, and the report says from where.
    assert tiktok_subscriptions(sims)["ORDER_STATUS_CHANGE"] == TIKTOK_ADDRESS
    squashed = "".join(result.output.split())  # a long address wraps in its column
    assert "movedhere" in squashed and f"was{OTHER}" in squashed
    # Shopify keeps one per address: the other app's stays, ours is added.
    assert ("fulfillments/create", OTHER, "json") in shopify_subscriptions(sims)
    assert ("fulfillments/create", SHOPIFY_ADDRESS, "json") in shopify_subscriptions(sims)
    # What no flow needs is reported, not removed, without --prune.
    assert "PRODUCT_CREATION" in tiktok_subscriptions(sims)
    assert "2 not needed" in result.output and "--prune removes it" in " ".join(result.output.split())

    dry = sync("--prune", "--dry-run")
    assert "2 would remove" in dry.output and "PRODUCT_CREATION" in tiktok_subscriptions(sims)

    pruned = sync("--prune")
    assert pruned.exit_code == 0, pruned.output
    assert "2 removed" in pruned.output and "7 already there" in pruned.output
    assert tiktok_subscriptions(sims) == {event: TIKTOK_ADDRESS for event in TIKTOK_EVENTS}
    left = shopify_subscriptions(sims)
    assert ("orders/delete", SHOPIFY_ADDRESS, "json") not in left
    assert ("orders/delete", OTHER, "json") in left and ("fulfillments/create", OTHER, "json") in left


def test_json_report(sync, sims) -> None:
    result = sync("--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["addresses"] == {"tiktok_us": TIKTOK_ADDRESS, "shopify": SHOPIFY_ADDRESS}
    rows = {(r["connection"], r["topic"]): r for r in report["subscriptions"]}
    assert rows[("shopify", "fulfillments/update")] == {
        "connection": "shopify", "topic": "fulfillments/update", "status": "subscribed",
        "events": ["FULFILLMENTS_UPDATE"], "flows": ["fulfillment"], "note": ""}
    assert {r["status"] for r in report["subscriptions"]} == {"subscribed"} and report["exit_code"] == 0


def test_a_refused_platform_fails_its_rows_with_exit_4_and_the_other_still_syncs(sync, sims) -> None:
    result = sync(env={"ACME_SHOPIFY_TOKEN": "shpat_wrong_token_value"})
    assert result.exit_code == 4, result.output
    assert tiktok_subscriptions(sims) == {event: TIKTOK_ADDRESS for event in TIKTOK_EVENTS}
    assert "3 failed" in result.output and "shopify: listing the subscriptions failed" in result.output
    assert "shpat_wrong_token_value" not in result.output


def test_an_event_no_connection_maps_is_a_configuration_error(cli, sims, acme) -> None:
    text = acme.read_text().replace("\noverrides:\n", "\noverrides:\n  flows:\n    returns_from_tiktok:\n"
                                                      "      trigger: {webhook: [RETURN_STATUS_CHANGED]}\n")
    acme.write_text(text)
    result = cli("webhooks", "sync", acme, "--url", URL, env=sims.environ())
    assert result.exit_code == 1, result.output
    # Caught when the merchant file is loaded, before anything is subscribed: the trigger would never fire.
    said = " ".join(result.output.split())
    assert "waits for webhook event 'RETURN_STATUS_CHANGED'" in said and "did you mean 'RETURN_STATUS_CHANGE'?" in said
    assert "merchant.yaml:" in said and len(tiktok_subscriptions(sims)) == 0


@pytest.mark.parametrize("url", ["http://connector.acme.test", "ftp://x", "https://h/base?x=1", "not a url"])
def test_the_url_must_be_https_or_this_machine(cli, acme, url) -> None:
    result = cli("webhooks", "sync", acme, "--url", url)
    assert result.exit_code == 2, result.output
    assert "--url" in result.output


def test_a_local_serve_may_take_plain_http(sync, sims, cli, merchant) -> None:
    result = cli("webhooks", "sync", merchant, "--url", "http://127.0.0.1:8080/", env=sims.environ())
    assert result.exit_code == 0, result.output
    assert set(tiktok_subscriptions(sims).values()) == {"http://127.0.0.1:8080/webhooks/acme/tiktok_us"}
