"""commercetools paging past the offset cap against the emulator, and what `connector validate`
holds a commercetools connection to (no emulator needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from engine.http import Connection
from engine.project.validate import validate_paths
from tests.commercetools.world import CLIENT, EXAMPLE, Project

ROOT = Path(__file__).resolve().parents[2]


def test_paging_switches_from_offsets_to_ids_past_the_cap(emulator):
    project = Project(emulator, "paging-test")
    project.call("POST", "/product-types", {"key": "plain", "name": "Plain", "description": "plain"})
    made = sorted(project.call("POST", "/products", {
        "key": f"p{n}", "productType": {"typeId": "product-type", "key": "plain"}, "name": {"en": f"P{n}"},
        "slug": {"en": f"p{n}"}, "masterVariant": {"sku": f"SKU-{n}"}, "publish": True})["id"] for n in range(7))
    spec = yaml.safe_load((ROOT / "connectors" / "commercetools.yaml").read_text())
    spec["operations"]["list_products"]["paginate"] = {**spec["operations"]["list_products"]["paginate"],
                                                       "limit": 2, "max_offset": 2}
    sent: list[dict] = []
    conn = Connection(spec, settings={"project_key": "paging-test", "price_selections": {"US": {"currency": "USD"}},
                                      "base_url": f"{emulator.url}/paging-test",
                                      "token_url": f"{emulator.url}/oauth/token"},
                      credentials={"client_id": CLIENT[0], "client_secret": CLIENT[1]})
    original = conn._client.request

    def record(method, url, **kwargs):
        if "/oauth/" not in str(url):
            sent.append(dict(kwargs.get("params") or {}))
        return original(method, url, **kwargs)

    conn._client.request = record
    try:
        got = [p["id"] for p in conn.records("list_products")]
    finally:
        conn.close()
    assert got == made  # every product once, in id order
    assert [q["offset"] for q in sent][:2] == ["0", "2"] and all(int(q["offset"]) <= 2 for q in sent)
    assert sent[2]["where"] == f'id > "{made[3]}"'  # by id once the next offset passed the cap


def _example(tmp_path: Path, selection: str) -> Path:
    target = tmp_path / "ct_fjord"
    shutil.copytree(EXAMPLE, target)
    merchant = target / "merchant.yaml"
    text = merchant.read_text()
    assert "US: {currency: USD, country: US}" in text
    merchant.write_text(text.replace("US: {currency: USD, country: US}", selection))
    return target


def test_the_example_project_validates():
    assert [str(p) for p in validate_paths([EXAMPLE])] == []


@pytest.mark.parametrize(("selection", "message"), [
    ("US: {currency: EUR, country: DE}", "the price selection of connection commercetools for US matches no price"),
    ("GB: {currency: GBP}", "connection commercetools has no price selection for US"),
])
def test_validate_refuses_a_price_selection_that_matches_no_price(tmp_path, selection, message):
    folder = _example(tmp_path, selection)
    problems = validate_paths([folder])
    assert len(problems) == 1, [str(p) for p in problems]
    assert message in problems[0].message
    # At the merchant's price_selections line.
    line = 1 + (folder / "merchant.yaml").read_text().splitlines().index("      price_selections:")
    assert problems[0].location.line == line and problems[0].path.endswith("settings.price_selections")


def test_the_token_request_names_the_projects_scopes_with_basic_client_auth():
    import base64
    from urllib.parse import parse_qs

    import httpx

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "tok-1", "token_type": "Bearer", "expires_in": 172800})
        return httpx.Response(200, json={"limit": 500, "offset": 0, "count": 0, "total": 0, "results": []})

    spec = yaml.safe_load((ROOT / "connectors" / "commercetools.yaml").read_text())
    conn = Connection(spec, settings={"project_key": "fjord-outfitters", "region": "us-central1.gcp",
                                      "price_selections": {"US": {"currency": "USD"}}},
                      credentials={"client_id": "cid", "client_secret": "csecret"},
                      transport=httpx.MockTransport(answer))
    try:
        assert list(conn.records("list_products")) == []
    finally:
        conn.close()
    token, call = seen
    assert str(token.url) == "https://auth.us-central1.gcp.commercetools.com/oauth/token"
    assert token.headers["authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()
    form = parse_qs(token.content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert set(form["scope"][0].split()) == {f"{s}:fjord-outfitters" for s in (
        "manage_products", "manage_orders", "manage_customers", "manage_payments", "view_types")}
    assert str(call.url).startswith("https://api.us-central1.gcp.commercetools.com/fjord-outfitters/product-projections")
    assert call.headers["authorization"] == "Bearer tok-1"
