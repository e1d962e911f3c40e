"""Who may use the page: loopback needs nothing but a loopback Host; any other bind needs a token
or basic credentials given by reference; every action needs the CSRF token. A refused action
changes nothing and writes nothing to the audit log."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient
from ui_helpers import ENV, LOCAL, csrf_of

from engine.errors import ConnectorError
from engine.flow.runner import Merchant
from engine.ui import Access, Operations, standalone_app

TOKEN = "ui-page-token-7f3a9c"
PASSWORD = "ui-page-password-51bd"


@pytest.fixture
def served(seeded):
    """A factory: the page over the seeded acme with the given Access, and the merchant."""
    opened = []

    def make(access: Access, base_url: str = "http://10.1.2.3:8081") -> tuple[TestClient, Merchant]:
        merchant = Merchant(seeded["file"], environ=ENV)
        client = TestClient(standalone_app(Operations({"acme": merchant}, access)), base_url=base_url,
                            follow_redirects=False)
        opened.append((client, merchant))
        return client, merchant

    yield make
    for client, merchant in opened:
        client.close()
        merchant.close()


def unchanged(merchant: Merchant, ids: list[int]) -> bool:
    return (all(merchant.store.get_dead_letter(i)["status"] == "open" for i in ids)
            and merchant.store.list_audit_entries("acme") == [])


def test_credentials_are_references_and_required_beyond_loopback() -> None:
    env = {"UI_TOKEN": TOKEN, "UI_PASSWORD": PASSWORD}
    assert Access.configure("0.0.0.0", "token:${env:UI_TOKEN}", env).token == TOKEN
    basic = Access.configure("10.0.0.5", "basic:ops:${env:UI_PASSWORD}", env)
    assert (basic.user, basic.password) == ("ops", PASSWORD)
    with pytest.raises(ConnectorError, match="secret reference"):
        Access.configure("0.0.0.0", f"token:{TOKEN}", env)  # a pasted secret, not a reference
    with pytest.raises(ConnectorError, match="is not set"):
        Access.configure("0.0.0.0", "token:${env:UI_MISSING}", env)
    with pytest.raises(ConnectorError, match="reachable from other machines"):
        Access.configure("0.0.0.0", None).require_for_bind()
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        Access.configure(host, None).require_for_bind()


def test_the_cli_refuses_to_bind_beyond_loopback_without_credentials(acme) -> None:
    from click.testing import CliRunner

    from engine.cli import main

    result = CliRunner().invoke(main, ["ui", str(acme), "--host", "0.0.0.0"], env=ENV)
    assert result.exit_code != 0 and "reachable from other machines" in result.output


def test_without_the_token_a_page_and_an_action_are_refused_and_nothing_changes(served, seeded) -> None:
    client, merchant = served(Access("0.0.0.0", token=TOKEN))
    ids = seeded["too_long"]
    assert client.get("/ui/m/acme/dlq").status_code == 401  # the sign-in form
    # a CSRF token of its own does not help without the access token
    anonymous = client.get("/ui/m/acme/dlq").cookies.get("connector_ui_csrf")
    refused = client.post("/ui/m/acme/dlq/resolve", data={"csrf": anonymous or "x" * 43, "ids": ",".join(map(str, ids))},
                          cookies={"connector_ui_csrf": anonymous or "x" * 43})
    assert refused.status_code == 401
    wrong = client.post("/ui/m/acme/dlq/resolve", data={"ids": str(ids[0])}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert unchanged(merchant, ids)

    client.headers["Authorization"] = f"Bearer {TOKEN}"
    token = csrf_of(client)
    done = client.post("/ui/m/acme/dlq/resolve", data={"csrf": token, "ids": str(ids[0])})
    assert done.status_code == 303
    assert merchant.store.get_dead_letter(ids[0])["status"] == "resolved"
    [entry] = merchant.store.list_audit_entries("acme")
    assert entry["actor"] == "token" and entry["action"] == "resolve"


def test_the_sign_in_form_sets_the_token_cookie(served) -> None:
    client, _ = served(Access("0.0.0.0", token=TOKEN))
    form = client.get("/ui/m/acme/health")
    assert form.status_code == 401 and 'name="token"' in form.text
    csrf = client.cookies.get("connector_ui_csrf")
    signed = client.post("/ui/login", data={"csrf": csrf, "token": TOKEN, "next": "/ui/m/acme/health"})
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/m/acme/health"
    assert client.get("/ui/m/acme/health").status_code == 200
    evil = client.post("/ui/login", data={"csrf": csrf, "token": TOKEN, "next": "https://evil.test/"})
    assert evil.headers["location"] == "/ui/"


def test_basic_credentials(served, seeded) -> None:
    client, merchant = served(Access("0.0.0.0", user="ops", password=PASSWORD))
    assert client.get("/ui/m/acme/dlq").headers.get("www-authenticate") == 'Basic realm="connector"'
    bad = base64.b64encode(b"ops:guess").decode()
    assert client.get("/ui/m/acme/dlq", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    client.headers["Authorization"] = "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()
    token = csrf_of(client)
    assert client.post("/ui/m/acme/dlq/resolve", data={"csrf": token, "ids": str(seeded["auth"][0])}).status_code == 303
    assert merchant.store.list_audit_entries("acme")[0]["actor"] == "ops"


def test_without_the_csrf_token_an_action_is_refused_and_nothing_changes(served, seeded) -> None:
    client, merchant = served(Access("127.0.0.1"), base_url=LOCAL)
    ids = seeded["too_long"]
    token = csrf_of(client)
    body = {"ids": ",".join(map(str, ids))}
    assert client.post("/ui/m/acme/dlq/resolve", data=body).status_code == 403
    assert client.post("/ui/m/acme/dlq/replay", data=body).status_code == 403
    assert client.post("/ui/m/acme/dlq/resolve", data={**body, "csrf": "y" * 43}).status_code == 403
    # the right token from another origin (a page elsewhere posting a copied token)
    foreign = client.post("/ui/m/acme/dlq/resolve", data={**body, "csrf": token},
                          headers={"Origin": "https://evil.test"})
    assert foreign.status_code == 403
    # the token without its cookie
    client.cookies.clear()
    assert client.post("/ui/m/acme/dlq/resolve", data={**body, "csrf": token}).status_code == 403
    assert unchanged(merchant, ids)


def test_a_get_never_changes_anything(served, seeded) -> None:
    client, merchant = served(Access("127.0.0.1"), base_url=LOCAL)
    assert client.get("/ui/m/acme/dlq/resolve").status_code in (404, 405)
    assert client.get("/ui/m/acme/dlq/replay").status_code in (404, 405)
    assert unchanged(merchant, seeded["too_long"] + seeded["auth"])


def test_loopback_without_credentials_wants_a_loopback_host(served, seeded) -> None:
    client, _ = served(Access("127.0.0.1"), base_url="http://rebound.evil.test:8081")
    assert client.get("/ui/m/acme/dlq").status_code == 401


def test_beyond_loopback_without_credentials_everything_is_refused(served, seeded) -> None:
    client, merchant = served(Access("0.0.0.0"))
    assert client.get("/ui/").status_code == 403
    assert client.post("/ui/m/acme/dlq/resolve", data={"ids": str(seeded["auth"][0])}).status_code == 403
    assert unchanged(merchant, seeded["auth"])
