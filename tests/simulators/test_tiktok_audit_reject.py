"""TikTok simulator: the admin audit run can turn listings down the way a reviewer would."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from simulators.tiktok_shop import create_app
from simulators.tiktok_shop.products import DEFAULT_REJECTION, new_product, product_view, start_audit


class Clock:
    def __init__(self) -> None:
        self.now = 1_718_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sim_client(clock):
    app = create_app(seed=3, audit_delay_seconds=3600, clock=clock)
    with TestClient(app) as client:
        yield app.state.sim, client


def audited(sim, title: str) -> dict:
    product, _ = new_product(sim, {"title": title}, draft=False)
    start_audit(sim, product)
    return product


def test_rejected_products_fail_with_reasons_and_the_rest_pass(sim_client, clock):
    sim, client = sim_client
    plain, listed, custom = audited(sim, "Tee"), audited(sim, "Mug"), audited(sim, "Boot")
    before = listed["update_time"]
    clock.now += 5  # the reviewers answer later
    reason = {"position": "description", "reasons": ["Medical claims"], "suggestions": ["Remove the claims"]}
    answer = client.post("/_admin/audit/run", json={"reject": {listed["id"]: [DEFAULT_REJECTION],
                                                               custom["id"]: reason}}).json()
    assert answer == {"completed": 3, "rejected": sorted([listed["id"], custom["id"]])}
    assert (plain["status"], plain["audit"]["status"], plain["audit_failed_reasons"]) == ("ACTIVATE", "PASSED", [])
    view = product_view(sim, listed)
    assert (view["status"], view["audit"]["status"]) == ("FAILED", "REJECTED")
    assert view["audit_failed_reasons"] == [DEFAULT_REJECTION]
    assert view["update_time"] == before + 5  # stamped when the result came: it shows in update_time searches
    assert product_view(sim, custom)["audit_failed_reasons"] == [reason]
    events = [e["event_type"] for e in sim.events]
    assert events.count("PRODUCT_STATUS_CHANGE") == 3 and events.count("PRODUCT_AUDIT_STATUS_CHANGE") == 3


def test_a_list_of_ids_gets_the_default_reason_and_a_product_not_under_audit_is_refused(sim_client):
    sim, client = sim_client
    product = audited(sim, "Tee")
    assert client.post("/_admin/audit/run", json={"reject": [product["id"]]}).json()["rejected"] == [product["id"]]
    assert product["audit_failed_reasons"] == [DEFAULT_REJECTION]
    response = client.post("/_admin/audit/run", json={"reject": [product["id"]]})
    assert response.status_code == 409 and product["id"] in response.json()["error"]


def test_a_prohibited_title_word_is_reported_next_to_the_reviewer_reason(sim_client):
    sim, client = sim_client
    product = audited(sim, "Designer replica tee")
    client.post("/_admin/audit/run", json={"reject": [product["id"]]})
    assert [r["position"] for r in product["audit_failed_reasons"]] == ["title", "main_images"]
