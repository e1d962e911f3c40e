"""Every page of the operations page shows what the state store holds, with secrets masked."""

from __future__ import annotations

import re

from ui_helpers import csrf_of


def test_health_shows_each_connection_with_its_numbers(page) -> None:
    client, _, _ = page
    html = client.get("/ui/m/acme/health").text
    for name in ("shopify", "tiktok_us"):
        assert f"<b>{name}</b>" in html
    # five records of six dead-lettered in the catalog run; the orders run failed
    assert "83.3%" in html and "5 of 6 records" in html
    assert "HTTP 503 from tiktok_us" in html
    assert html.count(">closed<") == 2  # both breakers closed
    assert 'hx-trigger="every 5s [' in html and "/ui/static/htmx.min.js" in html
    assert "<svg" in html and "records and failures per hour, tiktok_us" in html


def test_the_home_page_lists_every_merchant(page) -> None:
    client, _, _ = page
    response = client.get("/ui/")
    assert response.status_code == 200 and "<h1>acme</h1>" in response.text


def test_runs_filter_by_flow_and_status_and_show_per_record_results(page) -> None:
    client, _, seeded = page
    listed = client.get("/ui/m/acme/runs").text
    assert seeded["run"] in listed and seeded["failed_run"] in listed
    failed = client.get("/ui/m/acme/runs", params={"status": "failed"}).text
    assert seeded["failed_run"] in failed and seeded["run"] not in failed
    by_flow = client.get("/ui/m/acme/runs", params={"flow": "catalog"}).text
    assert seeded["run"] in by_flow and seeded["failed_run"] not in by_flow
    results = client.get(f"/ui/m/acme/runs/{seeded['run']}").text
    assert "7000339601" in results and "remote_id: 1746" in results
    only = client.get(f"/ui/m/acme/runs/{seeded['run']}", params={"status": "dead_letter"}).text
    assert "7000339601" not in only and "800033960" in only
    assert client.get("/ui/m/acme/runs/nope").status_code == 404


def test_dead_letters_are_grouped_by_root_error_with_the_record_and_no_secret(page) -> None:
    client, _, seeded = page
    html = client.get("/ui/m/acme/dlq").text
    groups = re.findall(r'data-ids="([^"]+)"', html)
    assert sorted(groups) == sorted([",".join(map(str, seeded["too_long"])), ",".join(map(str, seeded["auth"]))])
    assert "title_length: title has # characters; TikTok allows #" in html
    assert "Pack 1 (SKU PACK-1)" in html and "Candle 0 (SKU CNDL-0)" in html
    detail = client.get(f"/ui/m/acme/dlq/{seeded['too_long'][0]}").text
    assert "title_length (title): title has 250 characters; TikTok allows 255" in detail
    assert "ui-access-token-value" not in detail and "***" in detail
    assert '<textarea name="payload"' in detail


def test_listings_orders_stock_and_audit_pages(page) -> None:
    client, _, _ = page
    listings = client.get("/ui/m/acme/listings").text
    assert "Trail Product 1" in listings and "title: Too short" in listings and "FAILED 1" in listings
    orders = client.get("/ui/m/acme/orders").text
    assert "576461413038785752" in orders and "awaiting_shipment" in orders and "shopify 5001" in orders
    assert "42.50 USD" in orders
    assert "576461413099999999" in orders and "MUG-1 x2" in orders  # on hold, not in the store yet
    stock = client.get("/ui/m/acme/stock").text
    assert "MUG-1" in stock and ">17<" in stock and "tiktok_us: offered" in stock
    assert "MUG-1 held: 2" in stock  # the chart's bar for the held units
    assert "tiktok_us: store on hand" in stock and ">20<" in stock and "MUG-1 store: 20" in stock
    assert "Nothing done by hand yet" in client.get("/ui/m/acme/audit").text


def test_an_unknown_merchant_or_letter_is_a_404(page) -> None:
    client, _, _ = page
    assert client.get("/ui/m/nobody/dlq").status_code == 404
    assert client.get("/ui/m/acme/dlq/99999").status_code == 404


def test_resolving_a_group_closes_it_and_is_audited(page) -> None:
    client, merchant, seeded = page
    token = csrf_of(client)
    ids = ",".join(map(str, seeded["auth"]))
    response = client.post("/ui/m/acme/dlq/resolve", data={"csrf": token, "ids": ids, "note": "rotated the key"},
                           follow_redirects=True)
    assert response.status_code == 200 and "Resolved 2 dead letters." in response.text
    for dlq_id in seeded["auth"]:
        letter = merchant.store.get_dead_letter(dlq_id)
        assert letter["status"] == "resolved" and letter["note"] == "rotated the key"
    [entry] = merchant.store.list_audit_entries("acme")
    assert entry["action"] == "resolve" and entry["actor"].endswith("@local")
    assert entry["target"] == ",".join(f"dead_letter:{i}" for i in seeded["auth"])
    assert "resolve" in client.get("/ui/m/acme/audit").text


def test_a_big_group_lists_its_first_letters_and_acts_on_all(page, monkeypatch) -> None:
    import engine.ui.app as ui_app

    client, _, seeded = page
    monkeypatch.setattr(ui_app, "LETTERS_SHOWN", 2)
    html = client.get("/ui/m/acme/dlq").text
    assert "and 1 more; the group's buttons act on all 3." in html
    assert f'id="letter-{seeded["too_long"][2]}"' not in html
    assert f'value="{",".join(map(str, seeded["too_long"]))}"' in html
