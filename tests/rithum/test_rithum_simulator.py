"""The Rithum simulator's API: OAuth, OData query options and paging, products and quantities per
distribution center, and the order actions (export flag, ship, adjust)."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from simulators.common import LoopbackServer
from simulators.rithum import DEFAULT_CREDENTIALS, create_app


@pytest.fixture
def api():
    with LoopbackServer(create_app(product_page_size=2, order_page_size=2)) as server, \
            httpx.Client(base_url=server.url, timeout=10) as client:
        yield _seeded(client)


def _seeded(client: httpx.Client) -> httpx.Client:
    token = client.post("/oauth2/token", auth=(DEFAULT_CREDENTIALS["application_id"],
                                               DEFAULT_CREDENTIALS["shared_secret"]),
                        data={"grant_type": "refresh_token", "refresh_token": DEFAULT_CREDENTIALS["refresh_token"]})
    assert token.status_code == 200 and token.json()["expires_in"] == 3600
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    client.headers["Content-Type"] = "application/json;IEEE754Compatible=true"
    client.post("/_admin/seed", json={"products": [
        {"Sku": "TEE", "Title": "Tee", "RelationshipName": "Size", "Children": [
            {"Sku": "TEE-S", "Title": "Tee S", "BuyItNowPrice": "19.99", "Attributes": [{"Name": "Size", "Value": "S"}],
             "DCQuantities": [{"DistributionCenterID": 2, "AvailableQuantity": 5}]},
            {"Sku": "TEE-M", "Title": "Tee M", "BuyItNowPrice": "21.50",
             "DCQuantities": [{"DistributionCenterID": 3, "AvailableQuantity": 2}]}]},
        {"Sku": "O'MUG", "Title": "Mug", "BuyItNowPrice": "9.00",
         "DCQuantities": [{"DistributionCenterID": 2, "AvailableQuantity": 7}]}]})
    return client


def ids(api, path: str, **params) -> list[str]:
    out, url = [], path
    while url:
        body = api.get(url, params=params).json()
        params = None
        out += [r["Sku"] for r in body["value"]]
        url = body.get("@odata.nextLink")
    return out


def test_token_grant_refuses_a_wrong_refresh_token_and_requests_need_a_live_token(api):
    bad = api.post("/oauth2/token", auth=(DEFAULT_CREDENTIALS["application_id"], DEFAULT_CREDENTIALS["shared_secret"]),
                   data={"grant_type": "refresh_token", "refresh_token": "nope"})
    assert bad.status_code == 400 and bad.json() == {"error": "invalid_grant"}
    denied = api.get("/v1/Products", headers={"Authorization": "Bearer nope"})
    assert denied.status_code == 401 and "Authorization has been denied" in denied.text


def test_filter_select_expand_and_next_link_paging(api):
    assert ids(api, "/v1/Products") == ["TEE", "TEE-S", "TEE-M", "O'MUG"]
    assert ids(api, "/v1/Products", **{"$filter": "IsParent eq true or IsInRelationship eq false"}) == ["TEE", "O'MUG"]
    assert ids(api, "/v1/Products", **{"$filter": "Sku eq 'O''MUG'"}) == ["O'MUG"]
    assert ids(api, "/v1/Products", **{"$filter": "BuyItNowPrice gt 20 and not (Sku eq 'TEE')"}) == ["TEE-M"]
    assert ids(api, "/v1/Products", **{"$filter": "startswith(Sku, 'TEE-') and UpdateDateUtc ge 2020-01-01T00:00:00Z"}) \
        == ["TEE-S", "TEE-M"]
    assert ids(api, "/v1/Products", **{"$filter": "DCQuantities/any(d: d/DistributionCenterID eq 3)"}) == ["TEE-M"]
    first = api.get("/v1/Products", params={"$filter": "IsParent eq false", "$select": "ID,Sku",
                                            "$expand": "DCQuantities($filter=DistributionCenterID eq 2)"}).json()
    assert set(first["value"][0]) == {"ID", "Sku", "DCQuantities"}
    assert [[q["AvailableQuantity"] for q in r["DCQuantities"]] for r in first["value"]] == [[5], []]
    assert "%24skip=2" in first["@odata.nextLink"] and "DistributionCenterID" in first["@odata.nextLink"]
    parent = api.get("/v1/Products", params={"$filter": "Sku eq 'TEE'", "$expand": "Children($select=Sku)"}).json()
    assert parent["value"][0]["Children"] == [{"Sku": "TEE-S"}, {"Sku": "TEE-M"}]
    assert "Children" not in api.get("/v1/Products", params={"$filter": "Sku eq 'TEE'"}).json()["value"][0]


def test_a_query_the_service_cannot_parse_is_a_400_with_the_odata_error(api):
    for params in ({"$filter": "Sku eq"}, {"$filter": "Sku eq 'x"}, {"$expand": "Nope"}, {"$apply": "x"}):
        answer = api.get("/v1/Products", params=params)
        assert answer.status_code == 400, params
        assert set(answer.json()["error"]) == {"code", "message"}


def test_quantities_per_distribution_center(api):
    tee_s = api.get("/v1/Products", params={"$filter": "Sku eq 'TEE-S'"}).json()["value"][0]
    url = f"/v1/Products({tee_s['ID']})/UpdateQuantity"
    assert api.post(url, json={"Value": {"UpdateType": "Absolute", "Updates": [
        {"DistributionCenterID": 2, "Quantity": 10}, {"DistributionCenterID": 3, "Quantity": 4}]}}).status_code == 204
    assert api.post(url, json={"Value": {"UpdateType": "Relative", "Updates": [
        {"DistributionCenterID": 3, "Quantity": -1}]}}).status_code == 204
    levels = api.get(f"/v1/Products({tee_s['ID']})/DCQuantities").json()["value"]
    assert {q["DistributionCenterID"]: q["AvailableQuantity"] for q in levels} == {2: 10, 3: 3}
    assert api.get(f"/v1/Products({tee_s['ID']})").json()["TotalAvailableQuantity"] == 13
    assert api.post(url, json={"Updates": []}).status_code == 400
    parent = api.get("/v1/Products", params={"$filter": "Sku eq 'TEE'"}).json()["value"][0]
    refused = api.post(f"/v1/Products({parent['ID']})/UpdateQuantity", json={"Value": {
        "UpdateType": "Absolute", "Updates": [{"DistributionCenterID": 2, "Quantity": 1}]}})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "InvalidOperation"


def test_order_export_ship_and_adjust(api):
    created = api.post("/v1/Orders", json={"SiteOrderID": "TT1", "TotalPrice": "43.49", "Items": [
        {"Sku": "TEE-S", "Quantity": 2, "UnitPrice": "19.99"}]})
    assert created.status_code == 201
    order = created.json()
    assert order["Items"][0]["UnitPrice"] == Decimal("19.99") or str(order["Items"][0]["UnitPrice"]) == "19.99"
    oid = order["ID"]
    assert [o["SiteOrderID"] for o in api.get("/v1/Orders", params={"exported": "false"}).json()["value"]] == ["TT1"]
    assert api.post(f"/v1/Orders({oid})/Export").status_code == 204
    assert api.get("/v1/Orders", params={"exported": "false"}).json()["value"] == []
    assert api.delete(f"/v1/Orders({oid})/Export").status_code == 204
    assert len(api.get("/v1/Orders", params={"exported": "false"}).json()["value"]) == 1
    # A refund of one unit; the same SellerAdjustmentID again is refused.
    body = {"Value": {"Reason": "CustomerReturnedItem", "SellerAdjustmentID": "R1", "Adjustments": [
        {"Sku": "TEE-S", "Quantity": 1, "ItemAdjustment": "19.99", "IsRestock": True}]}}
    assert api.post(f"/v1/Orders({oid})/Adjust", json=body).status_code == 200
    again = api.post(f"/v1/Orders({oid})/Adjust", json=body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "DuplicateAdjustment"
    shipped = api.post(f"/v1/Orders({oid})/Ship", json={"Value": {"TrackingNumber": "1Z", "ShippingCarrier": "UPS"}})
    assert shipped.status_code == 204
    read = api.get(f"/v1/Orders({oid})", params={"$expand": "Fulfillments($expand=Items),Adjustments"}).json()
    assert read["ShippingStatus"] == "Shipped"
    assert read["Fulfillments"][0]["TrackingNumber"] == "1Z" and read["Fulfillments"][0]["Items"][0]["Quantity"] == 2
    assert [a["Type"] for a in read["Adjustments"]] == ["Refund"]
    cancel = api.post(f"/v1/Orders({oid})/Adjust", json={"Value": {"Reason": "BuyerCancelled"}})
    assert cancel.status_code == 400  # shipped: refund it instead


def test_a_cancel_puts_the_units_back(api):
    tee_m = api.get("/v1/Products", params={"$filter": "Sku eq 'TEE-M'"}).json()["value"][0]
    oid = api.post("/v1/Orders", json={"Items": [{"Sku": "TEE-M", "Quantity": 2}]}).json()["ID"]
    assert api.get(f"/v1/Products({tee_m['ID']})").json()["TotalAvailableQuantity"] == 0
    assert api.post(f"/v1/Orders({oid})/Adjust", json={"Value": {"Reason": "BuyerCancelled"}}).status_code == 200
    assert api.get(f"/v1/Products({tee_m['ID']})").json()["TotalAvailableQuantity"] == 2
    canceled = api.get("/v1/Orders", params={"$filter": "ShippingStatus eq 'Canceled'"}).json()["value"]
    assert [o["ID"] for o in canceled] == [oid]
    unknown = api.post("/v1/Orders", json={"Items": [{"Sku": "NOPE", "Quantity": 1}]})
    assert unknown.status_code == 400 and "NOPE" in unknown.json()["error"]["message"]


def test_decimals_as_strings_need_ieee754compatible(api):
    body = {"Items": [{"Sku": "TEE-S", "Quantity": 1, "UnitPrice": "19.99"}]}
    refused = api.post("/v1/Orders", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert refused.status_code == 400 and "UnitPrice" in refused.json()["error"]["message"]
    accepted = api.post("/v1/Orders", content=json.dumps(body),
                        headers={"Content-Type": "application/json;IEEE754Compatible=true"})
    assert accepted.status_code == 201
    assert api.post("/v1/Orders", json={"Items": [{"Sku": "TEE-S", "Quantity": 1, "UnitPrice": 19.99}]}).status_code == 201
