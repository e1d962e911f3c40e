"""`connector serve` serves the page under /ui beside its webhooks, with the server's live health;
bound beyond loopback it needs --ui-auth, and without it only the page is refused."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from ui_helpers import ENV, LOCAL, copy_acme, seed

from engine.errors import ConnectorError
from engine.serve import ServeOptions, Server


@pytest.fixture
def acme_seeded(tmp_path):
    merchant_file = copy_acme(tmp_path / "acme")
    seed(merchant_file)
    return merchant_file


def test_serve_mounts_the_page_with_its_live_health(acme_seeded) -> None:
    server = Server([acme_seeded], ServeOptions(schedule=False), environ=ENV, events=False)
    try:
        server.health.run_finished("acme", ["tiktok_us"], ok=False, error="HTTP 401 from TikTok")
        with TestClient(server.app, base_url=LOCAL) as client:
            html = client.get("/ui/m/acme/health").text
            assert "HTTP 401 from TikTok" in html and "failing" in html
            assert "Pack 0 (SKU PACK-0)" in client.get("/ui/m/acme/dlq").text
            assert client.get("/healthz").status_code == 503  # the server's own report is unchanged
            assert client.get("/ui/static/htmx.min.js").status_code == 200
    finally:
        server.close()


def test_beyond_loopback_without_ui_auth_only_the_page_is_refused(acme_seeded) -> None:
    server = Server([acme_seeded], ServeOptions(host="0.0.0.0", schedule=False), environ=ENV, events=False)
    try:
        with TestClient(server.app, base_url="http://10.1.2.3:8080") as client:
            assert client.get("/ui/m/acme/dlq").status_code == 403
            assert client.get("/healthz").status_code == 200
    finally:
        server.close()


def test_beyond_loopback_the_ui_auth_reference_opens_it(acme_seeded, monkeypatch) -> None:
    monkeypatch.setenv("ACME_UI_TOKEN", "serve-ui-token-29ac")
    server = Server([acme_seeded], ServeOptions(host="0.0.0.0", schedule=False, ui_auth="token:${env:ACME_UI_TOKEN}"),
                    environ=ENV, events=False)
    try:
        with TestClient(server.app, base_url="http://10.1.2.3:8080") as client:
            assert client.get("/ui/m/acme/dlq").status_code == 401
            ok = client.get("/ui/m/acme/dlq", headers={"Authorization": "Bearer serve-ui-token-29ac"})
            assert ok.status_code == 200
    finally:
        server.close()


def test_a_ui_auth_that_is_no_reference_stops_the_server_with_a_clear_error(acme_seeded) -> None:
    with pytest.raises(ConnectorError, match="secret reference"):
        Server([acme_seeded], ServeOptions(schedule=False, ui_auth="token:plain-text-token"), environ=ENV,
               events=False)
