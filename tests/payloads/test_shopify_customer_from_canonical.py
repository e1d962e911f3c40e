"""A TikTok buyer through shopify.customer_from_canonical into the Shopify simulator, and found
again by the documented search form query=email:<address>."""

from __future__ import annotations

from payload_helpers import mapped
from shopify_orders import BASE
from starlette.testclient import TestClient

BUYER = {
    "email": "v2b2V5@chat.seller.tiktok.com",
    "first_name": "David",
    "last_name": "Kong",
    "phone": "(+1)213-***-1234",
    "addresses": [{"first_name": "David", "last_name": "Kong", "line1": "5800 Bristol Pkwy", "city": "Culver City",
                   "region_code": "CA", "postal_code": "90230", "country_code": "US"}],
}


def test_the_buyer_is_created_and_found_again_by_email(shop: TestClient):
    body = mapped("shopify.customer_from_canonical", BUYER)
    response = shop.post(f"{BASE}/customers.json", json=body)
    assert response.status_code == 201, response.text
    created = response.json()["customer"]
    assert created["tags"] == "tiktok-relay"
    assert created["phone"] is None and created["verified_email"] is False
    assert created["default_address"]["address1"] == "5800 Bristol Pkwy"

    query = {"query": f"email:{BUYER['email']}"}
    found = shop.get(f"{BASE}/customers/search.json", params=query).json()["customers"]
    assert [c["id"] for c in found if c["email"].lower() == BUYER["email"].lower()] == [created["id"]]
    # A second create of the same address is refused: the search comes first.
    assert shop.post(f"{BASE}/customers.json", json=body).status_code == 422
