"""TikTok Shop simulator: gateway checks, catalog, orders, after-sales, webhooks and faults."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from engine.platforms.tiktok_shop import tiktok_sign, verify_tiktok_webhook
from simulators.common import LoopbackServer
from simulators.tiktok_shop import DEFAULT_CREDENTIALS, create_app

CREDS = DEFAULT_CREDENTIALS
T0 = 1_718_000_000
WAREHOUSE = "7068517275539719942"
OTHER_WAREHOUSE = "7068517275539719943"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (800).to_bytes(4, "big") + (600).to_bytes(4, "big") + b"\x08"


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Api:
    """A tiny signed-request client: signs exactly the bytes it sends (1.3)."""

    def __init__(self, client, clock=time.time, creds=CREDS) -> None:
        self.client = client
        self.clock = clock
        self.creds = dict(creds)

    def call(self, method: str, path: str, *, query: dict | None = None, body: object = None,
             cipher: bool = True, timestamp: int | None = None, token: str | None = None,
             tamper: bool = False, files: dict | None = None, data: dict | None = None) -> httpx.Response:
        q = {"app_key": self.creds["app_key"], "timestamp": str(timestamp or int(self.clock()))}
        if cipher:
            q["shop_cipher"] = self.creds["shop_cipher"]
        q.update(query or {})
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        content_type = "multipart/form-data" if files else "application/json"
        q["sign"] = tiktok_sign(self.creds["app_secret"], path, q, raw, content_type)
        headers = {"x-tts-access-token": token or self.creds["access_token"]}
        if files:
            return self.client.request(method, path, params=q, files=files, data=data, headers=headers)
        headers["content-type"] = "application/json"
        return self.client.request(method, path, params=q, content=(raw + b" ") if tamper else raw,
                                   headers=headers)

    def ok(self, method: str, path: str, **kw) -> dict:
        response = self.call(method, path, **kw)
        payload = response.json()
        assert response.status_code == 200 and payload["code"] == 0, payload
        return payload["data"]

    def upload_image(self) -> str:
        return self.ok("POST", "/product/202309/images/upload", cipher=False,
                       files={"data": ("a.png", PNG, "image/png")}, data={"use_case": "MAIN_IMAGE"})["uri"]


def product_body(uri: str, **over) -> dict:
    body = {
        "title": "Classic Cotton Tee",
        "description": "<p>Soft cotton.</p>",
        "category_id": "601302",
        "category_version": "v2",
        "main_images": [{"uri": uri}],
        "package_weight": {"value": "0.30", "unit": "KILOGRAM"},
        "package_dimensions": {"length": "20", "width": "15", "height": "3", "unit": "CENTIMETER"},
        "product_attributes": [{"id": "100392", "values": [{"id": "1000041", "name": "Cotton"}]}],
        "skus": [
            {"seller_sku": "TEE-BLK-M", "price": {"amount": "19.90", "currency": "USD"},
             "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 10}],
             "sales_attributes": [{"name": "Color", "value_name": "Black"}, {"name": "Size", "value_name": "M"}]},
            {"seller_sku": "TEE-WHT-M", "price": {"amount": "19.90", "currency": "USD"},
             "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 5}],
             "sales_attributes": [{"name": "Color", "value_name": "White"}, {"name": "Size", "value_name": "M"}]},
        ],
    }
    body.update(over)
    return body


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def app(clock):
    return create_app(seed=1, clock=clock)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def api(client, clock):
    return Api(client, clock)


def create_active_product(api: Api, client: TestClient, **over) -> dict:
    data = api.ok("POST", "/product/202309/products", body=product_body(api.upload_image(), **over))
    client.post("/_admin/audit/run")
    return data


# -- gateway ---------------------------------------------------------------------------------------
def test_signed_request_is_accepted_and_tampered_body_rejected(api):
    data = api.ok("GET", "/authorization/202309/shops", cipher=False)
    assert data["shops"][0]["cipher"] == CREDS["shop_cipher"]
    response = api.call("POST", "/product/202309/products/search", query={"page_size": "10"}, body={}, tamper=True)
    assert response.status_code == 401 and response.json()["code"] == 106001
    assert set(response.json()) == {"code", "message", "request_id", "data"}


def test_bad_app_key_missing_sign_and_unknown_path(api, client, clock):
    api.creds["app_key"] = "someone-else"
    response = api.call("GET", "/logistics/202309/warehouses")
    assert (response.status_code, response.json()["code"]) == (400, 36009004)
    response = client.get("/logistics/202309/warehouses", params={"app_key": CREDS["app_key"], "timestamp": T0})
    assert response.json()["code"] == 36009004 and "sign" in response.json()["message"]
    api.creds["app_key"] = CREDS["app_key"]
    response = api.call("GET", "/logistics/202309/nowhere")
    assert (response.status_code, response.json()["code"]) == (404, 36009009)


@pytest.mark.parametrize("offset, code", [(-299, 0), (29, 0), (-301, 36009004), (31, 36009004)])
def test_timestamp_window(api, offset, code):
    response = api.call("GET", "/logistics/202309/warehouses", timestamp=T0 + offset)
    assert response.json()["code"] == code


def test_expired_token_then_refresh_rotates_both_tokens(api, client, clock):
    assert api.ok("GET", "/logistics/202309/warehouses")["warehouses"]
    client.post("/_admin/expire_token")
    response = api.call("GET", "/logistics/202309/warehouses")
    assert response.json()["code"] == 105002
    assert api.call("GET", "/logistics/202309/warehouses", token="made-up").json()["code"] == 36009004

    refresh = {"app_key": CREDS["app_key"], "app_secret": CREDS["app_secret"],
               "refresh_token": CREDS["refresh_token"], "grant_type": "refresh_token"}
    payload = client.get("/api/v2/token/refresh", params=refresh).json()
    assert payload["code"] == 0 and payload["message"] == "success"
    data = payload["data"]
    assert data["access_token"] != CREDS["access_token"] and data["refresh_token"] != CREDS["refresh_token"]
    assert data["access_token_expire_in"] == T0 + 7 * 24 * 3600  # absolute unix time
    assert data["refresh_token_expire_in"] > T0
    # the old refresh token is spent; the old access token stays expired
    assert client.get("/api/v2/token/refresh", params=refresh).json()["code"] == 36004005
    assert api.call("GET", "/logistics/202309/warehouses").json()["code"] == 105002
    assert api.ok("GET", "/logistics/202309/warehouses", token=data["access_token"])["warehouses"]


def test_token_get_with_single_use_auth_code(client):
    code = client.post("/_admin/auth_code").json()["auth_code"]
    query = {"app_key": CREDS["app_key"], "app_secret": CREDS["app_secret"], "auth_code": code,
             "grant_type": "authorized_code"}
    assert client.get("/api/v2/token/get", params=query).json()["code"] == 0
    assert client.get("/api/v2/token/get", params=query).json()["code"] == 36004004


def test_shop_cipher_rules(api):
    response = api.call("POST", "/product/202309/products/search", query={"page_size": "5"}, body={}, cipher=False)
    assert response.json()["code"] == 106013
    response = api.call("GET", "/authorization/202309/shops", cipher=True)
    assert response.json()["code"] == 36009004
    response = api.call("POST", "/product/202309/images/upload", cipher=True,
                        files={"data": ("a.png", PNG, "image/png")}, data={"use_case": "MAIN_IMAGE"})
    assert response.json()["code"] == 36009004
    api.creds["shop_cipher"] = "ROW_other"
    assert api.call("GET", "/logistics/202309/warehouses").json()["code"] == 36009004


def test_rate_limit_per_endpoint_answers_429_with_retry_after(clock):
    with TestClient(create_app(clock=clock, rate_limit_per_second=2)) as client:
        api = Api(client, clock)
        codes = [api.call("GET", "/logistics/202309/warehouses").json()["code"] for _ in range(3)]
        assert codes == [0, 0, 36009002]
        throttled = api.call("GET", "/logistics/202309/warehouses")
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
        assert api.ok("GET", "/product/202309/categories")  # another endpoint has its own bucket
        clock.now += 1
        assert api.call("GET", "/logistics/202309/warehouses").json()["code"] == 0


# -- catalog ----------------------------------------------------------------------------------
def test_default_seed_data(api):
    warehouses = api.ok("GET", "/logistics/202309/warehouses")["warehouses"]
    assert [w["type"] for w in warehouses].count("SALES_WAREHOUSE") == 2
    assert sum(w["is_default"] for w in warehouses if w["type"] == "SALES_WAREHOUSE") == 1
    assert any(w["type"] == "RETURN_WAREHOUSE" for w in warehouses)
    leaves = [c for c in api.ok("GET", "/product/202309/categories")["categories"] if c["is_leaf"]]
    attrs = api.ok("GET", f"/product/202309/categories/{leaves[0]['id']}/attributes")["attributes"]
    assert {a["type"] for a in attrs} == {"PRODUCT_PROPERTY", "SALES_PROPERTY"}
    assert any(a["is_required"] for a in attrs) and any(not a["is_required"] for a in attrs)
    assert "package_dimension" in api.ok("GET", f"/product/202309/categories/{leaves[0]['id']}/rules")
    brands = api.ok("GET", "/product/202309/brands", query={"page_size": "20"})["brands"]
    assert {b["authorized_status"] for b in brands} == {"AUTHORIZED", "UNAUTHORIZED"}
    assert api.ok("POST", "/product/202309/categories/recommend",
                  body={"product_title": "Ceramic coffee mug"})["leaf_category_id"] == "600050"


def test_image_upload_returns_dimensions_and_rejects_empty_file(api):
    data = api.ok("POST", "/product/202309/images/upload", cipher=False,
                  files={"data": ("a.png", PNG, "image/png")}, data={"use_case": "MAIN_IMAGE"})
    assert (data["width"], data["height"]) == (800, 600) and data["uri"] and data["url"].startswith("https://")
    response = api.call("POST", "/product/202309/images/upload", cipher=False,
                        files={"data": ("a.png", b"", "image/png")}, data={"use_case": "MAIN_IMAGE"})
    assert response.json()["code"] != 0


def test_product_create_audits_to_activate(clock):
    with TestClient(create_app(seed=3, clock=clock, audit_delay_seconds=60)) as client:
        api = Api(client, clock)
        created = api.ok("POST", "/product/202309/products", body=product_body(api.upload_image()))
        assert len(created["product_id"]) == 19 and created["product_id"].isdigit()
        assert [s["seller_sku"] for s in created["skus"]] == ["TEE-BLK-M", "TEE-WHT-M"]
        path = f"/product/202309/products/{created['product_id']}"
        product = api.ok("GET", path)
        assert (product["status"], product["audit"]["status"]) == ("PENDING", "AUDITING")
        clock.now += 61
        product = api.ok("GET", path)
        assert (product["status"], product["audit"]["status"]) == ("ACTIVATE", "PASSED")
        assert product["skus"][0]["price"] == {"currency": "USD", "sale_price": "19.9", "tax_exclusive_price": "19.9",
                                                "unit_price": "19.9"}
        assert product["category_chains"][-1]["id"] == "601302"


def test_forbidden_word_fails_the_audit(api, client):
    created = create_active_product(api, client, title="Designer replica tee")
    product = api.ok("GET", f"/product/202309/products/{created['product_id']}")
    assert (product["status"], product["audit"]["status"]) == ("FAILED", "REJECTED")
    assert product["audit_failed_reasons"][0]["position"] == "title"


@pytest.mark.parametrize("over, code", [
    ({"category_id": "601265"}, 12052024),
    ({"title": "x" * 256}, 12052051),
    ({"description": "d" * 10_001}, 12052013),
    ({"product_attributes": []}, 12052036),
    ({"package_weight": {"value": "0", "unit": "KILOGRAM"}}, 12052181),
    ({"main_images": [{"uri": "never-uploaded"}]}, 12052008),
    ({"skus": [{"seller_sku": "S" * 51, "price": {"amount": "1.00", "currency": "USD"},
                "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 1}]}]}, 12052054),
    ({"skus": [{"seller_sku": "A", "price": {"amount": "1.00", "currency": "USD"}, "inventory": []}]}, 12019022),
    ({"skus": [{"seller_sku": "A", "price": {"amount": "0", "currency": "USD"},
                "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 1}]}]}, 12052230),
    ({"skus": [{"seller_sku": f"S{i}", "price": {"amount": "1.00", "currency": "USD"},
                "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 1}]} for i in range(101)]}, 12052050),
])
def test_create_validation_codes(api, client, over, code):
    response = api.call("POST", "/product/202309/products", body=product_body(api.upload_image(), **over))
    assert response.status_code == 200 and response.json()["code"] == code
    assert client.get("/_admin/state").json()["products"] == []


def test_create_idempotency_key_returns_first_result(api, client):
    body = product_body(api.upload_image(), idempotency_key="create-tee-1")
    first = api.ok("POST", "/product/202309/products", body=body)
    second = api.ok("POST", "/product/202309/products", body=body)
    assert first == second
    assert len(client.get("/_admin/state").json()["products"]) == 1


def test_batch_endpoints_report_per_item_errors(api, client):
    created = create_active_product(api, client)
    sku_id = created["skus"][0]["id"]
    data = api.ok("POST", f"/product/202309/products/{created['product_id']}/inventory/update", body={"skus": [
        {"id": sku_id, "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 42}]},
        {"id": "1700000000000000000", "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 1}]},
        {"id": sku_id, "inventory": [{"warehouse_id": "9999", "quantity": 1}]},
    ]})
    assert [e["detail"]["sku_id"] for e in data["errors"]] == ["1700000000000000000", sku_id]
    assert data["errors"][1]["detail"]["extra_errors"][0] == {
        "code": 12019022, "message": "SKU must contain a valid warehouse", "warehouse_id": "9999"}
    product = api.ok("GET", f"/product/202309/products/{created['product_id']}")
    assert product["skus"][0]["inventory"] == [{"warehouse_id": WAREHOUSE, "quantity": 42}]
    assert product["status"] == "ACTIVATE"  # inventory skips audit

    data = api.ok("POST", "/product/202309/products/activate",
                  body={"product_ids": [created["product_id"], "1799999999999999999"]})
    assert [(e["code"], e["detail"]["product_id"]) for e in data["errors"]] == [(12052048, "1799999999999999999")]


def test_price_update_skips_audit_and_is_logged(api, client):
    created = create_active_product(api, client)
    client.post("/_admin/requests/clear")
    path = f"/product/202309/products/{created['product_id']}/prices/update"
    for amount in ("18.00", "17.00", "16.50"):
        api.ok("POST", path, body={"skus": [{"id": created["skus"][0]["id"],
                                             "price": {"amount": amount, "currency": "USD"}}]})
    product = api.ok("GET", f"/product/202309/products/{created['product_id']}")
    assert product["status"] == "ACTIVATE" and product["skus"][0]["price"]["sale_price"] == "16.5"  # unpadded, as TikTok writes it
    log = client.get("/_admin/requests").json()["requests"]
    assert sum(r["path"] == path for r in log) == 3
    assert all(r["status"] == 200 and r["code"] == 0 for r in log)


def test_full_edit_deletes_omitted_skus_and_reaudits(api, client):
    created = create_active_product(api, client)
    body = product_body(api.upload_image())
    body["skus"] = [dict(body["skus"][0], id=created["skus"][0]["id"])]
    data = api.ok("PUT", f"/product/202309/products/{created['product_id']}", body=body)
    assert [s["id"] for s in data["skus"]] == [created["skus"][0]["id"]]
    client.post("/_admin/audit/run")
    product = api.ok("GET", f"/product/202309/products/{created['product_id']}")
    assert len(product["skus"]) == 1 and product["status"] == "ACTIVATE"


def test_pagination_across_pages_ends_with_empty_token(api, client):
    client.post("/_admin/seed", json={"products": [
        {"title": f"Seeded {i}", "category_id": "600050",
         "skus": [{"seller_sku": f"SEED-{i}", "price": {"amount": "5.00"},
                   "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 3}]}]} for i in range(25)]})
    seen, token, tokens = [], "", []
    while True:
        query = {"page_size": "10", **({"page_token": token} if token else {})}
        data = api.ok("POST", "/product/202309/products/search", query=query, body={"status": "ACTIVATE"})
        assert data["total_count"] == 25
        seen += [p["id"] for p in data["products"]]
        token = data["next_page_token"]
        if not token:
            break
        tokens.append(token)
    assert len(seen) == len(set(seen)) == 25 and len(tokens) == 2
    assert all(set("+/=") <= set(t) for t in tokens)  # clients must percent-encode these
    response = api.call("POST", "/product/202309/products/search", query={"page_size": "101"}, body={})
    assert response.json()["code"] == 36009004


def test_ids_are_deterministic_under_a_seed(clock):
    ids = []
    for _ in range(2):
        with TestClient(create_app(seed=9, clock=clock)) as client:
            api = Api(client, clock)
            ids.append(create_active_product(api, client)["product_id"])
    assert ids[0] == ids[1]


# -- orders -----------------------------------------------------------------------------------
def test_order_state_machine(api, client, clock):
    created = create_active_product(api, client)
    sku_id = created["skus"][0]["id"]
    order = client.post("/_admin/orders", json={"line_items": [{"sku_id": sku_id, "quantity": 2,
                                                                 "seller_discount": "1.00"}]}).json()
    order_id = order["id"]
    assert order["status"] == "UNPAID" and len(order["line_items"]) == 2  # one line per unit
    detail = api.ok("GET", "/order/202309/orders", query={"ids": order_id})["orders"][0]
    assert "recipient_address" not in detail
    pay = detail["payment"]
    assert pay["original_total_product_price"] == "39.8" and pay["seller_discount"] == "2"
    assert pay["sub_total"] == "37.8"
    from decimal import Decimal
    assert Decimal(pay["total_amount"]) == (Decimal(pay["sub_total"]) + Decimal(pay["shipping_fee"])
                                            + Decimal(pay["tax"]) + Decimal(pay["retail_delivery_fee"]))

    inv = api.ok("POST", "/product/202309/inventory/search", body={"sku_ids": [sku_id]})["inventory"][0]["skus"][0]
    assert (inv["total_available_quantity"], inv["total_committed_quantity"]) == (8, 2)

    times = [detail["update_time"]]
    for status in ("ON_HOLD", "AWAITING_SHIPMENT"):
        clock.now += 1  # each step a second later, so each stamps its own update_time
        assert client.post(f"/_admin/orders/{order_id}/advance", json={"to": status}).status_code == 200
        detail = api.ok("GET", "/order/202309/orders", query={"ids": order_id})["orders"][0]
        times.append(detail["update_time"])
    assert detail["status"] == "AWAITING_SHIPMENT" and detail["recipient_address"]["name"]
    assert len(detail["packages"]) == 1
    assert client.post(f"/_admin/orders/{order_id}/advance", json={"to": "UNPAID"}).status_code == 409

    clock.now += 1
    shipped = api.ok("POST", f"/fulfillment/202309/orders/{order_id}/packages",
                     body={"tracking_number": "1Z999", "shipping_provider_id": "7117858858072016686",
                           "order_line_item_ids": [order["line_items"][0]["id"]]})
    assert shipped["package_id"]
    detail = api.ok("GET", "/order/202309/orders", query={"ids": order_id})["orders"][0]
    assert detail["status"] == "PARTIALLY_SHIPPING"
    api.ok("POST", f"/fulfillment/202309/orders/{order_id}/packages",
           body={"tracking_number": "1Z998", "shipping_provider_id": "7117858858072016686"})
    for status in ("IN_TRANSIT", "DELIVERED", "COMPLETED"):
        clock.now += 1
        if status != "IN_TRANSIT":
            client.post(f"/_admin/orders/{order_id}/advance", json={"to": status})
        detail = api.ok("GET", "/order/202309/orders", query={"ids": order_id})["orders"][0]
        assert detail["status"] == status
        times.append(detail["update_time"])
    assert times == sorted(times) and len(set(times)) == len(times)
    tracking = api.ok("GET", f"/fulfillment/202309/orders/{order_id}/tracking")["tracking"]
    assert tracking[0]["description"] == "Order completed"

    found = api.ok("POST", "/order/202309/orders/search", query={"page_size": "10"},
                   body={"order_status": "COMPLETED"})
    assert found["total_count"] == 1 and found["next_page_token"] == ""
    too_many = ",".join(str(i) for i in range(51))
    assert api.call("GET", "/order/202309/orders", query={"ids": too_many}).json()["code"] == 36009004


def test_cancellation_and_return_flows(api, client):
    created = create_active_product(api, client)
    sku_id = created["skus"][0]["id"]
    order_id = client.post("/_admin/orders", json={"line_items": [{"sku_id": sku_id}],
                                                   "status": "AWAITING_SHIPMENT"}).json()["id"]
    request = client.post("/_admin/cancellations", json={"order_id": order_id}).json()
    assert request["cancel_status"] == "CANCELLATION_REQUEST_PENDING"
    path = f"/return_refund/202309/cancellations/{request['cancel_id']}/approve"
    api.ok("POST", path, query={"idempotency_key": "k1"})
    api.ok("POST", path, query={"idempotency_key": "k1"})  # a retry with the same key is a no-op
    assert api.call("POST", path).json()["code"] != 0
    order = api.ok("GET", "/order/202309/orders", query={"ids": order_id})["orders"][0]
    assert order["status"] == "CANCELLED"
    found = api.ok("POST", "/return_refund/202309/cancellations/search", body={"order_ids": [order_id]})
    assert found["cancellations"][0]["cancel_status"] == "CANCELLATION_REQUEST_COMPLETE"
    inv = api.ok("POST", "/product/202309/inventory/search", body={"sku_ids": [sku_id]})["inventory"][0]["skus"][0]
    assert inv["total_committed_quantity"] == 0 and inv["total_available_quantity"] == 10

    order_id = client.post("/_admin/orders", json={"line_items": [{"sku_id": sku_id}],
                                                   "status": "DELIVERED"}).json()["id"]
    ret = client.post("/_admin/returns", json={"order_id": order_id, "return_type": "RETURN_AND_REFUND"}).json()
    base = f"/return_refund/202309/returns/{ret['return_id']}"
    api.ok("POST", f"{base}/approve", body={"decision": "APPROVE_RETURN"})
    client.post(f"/_admin/returns/{ret['return_id']}/advance", json={"to": "BUYER_SHIPPED_ITEM"})
    api.ok("POST", f"{base}/approve", body={"decision": "APPROVE_RECEIVED_PACKAGE"})
    found = api.ok("POST", "/return_refund/202309/returns/search", body={"order_ids": [order_id]})
    assert found["return_orders"][0]["return_status"] == "RETURN_OR_REFUND_REQUEST_COMPLETE"
    assert found["return_orders"][0]["refund_amount"]["refund_subtotal"] == "19.9"


# -- webhooks ---------------------------------------------------------------------------------
class Receiver:
    """A webhook endpoint that records raw bodies and can fail the first N deliveries."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[tuple[bytes, str | None]] = []
        self.fail_first = fail_first

        async def hook(request: Request) -> JSONResponse:
            self.received.append((await request.body(), request.headers.get("authorization")))
            if self.fail_first > 0:
                self.fail_first -= 1
                return JSONResponse({"ok": False}, status_code=500)
            return JSONResponse({"code": 0})

        self.server = LoopbackServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))


def test_webhook_delivery_is_signed_and_retried():
    receiver = Receiver(fail_first=1)
    with receiver.server, TestClient(create_app(seed=2)) as client:
        api = Api(client)
        api.ok("PUT", "/event/202309/webhooks",
               body={"address": f"{receiver.server.url}/hook", "event_type": "ORDER_STATUS_CHANGE"})
        assert api.ok("GET", "/event/202309/webhooks")["total_count"] == 1
        created = create_active_product(api, client)
        order = client.post("/_admin/orders", json={"line_items": [{"sku_id": created["skus"][0]["id"]}]}).json()
        client.post(f"/_admin/orders/{order['id']}/advance", json={"to": "AWAITING_SHIPMENT"})

        first = client.post("/_admin/webhooks/deliver").json()
        assert first["failed"] == 1 and first["delivered"] == 1 and first["pending"] == 1
        second = client.post("/_admin/webhooks/deliver").json()
        assert second["delivered"] == 1 and second["pending"] == 0

        delivered = [json.loads(raw) for raw, _ in receiver.received]
        assert [e["data"]["order_status"] for e in delivered] == ["UNPAID", "AWAITING_SHIPMENT", "UNPAID"]
        for raw, auth in receiver.received:
            assert verify_tiktok_webhook(CREDS["app_key"], CREDS["app_secret"], raw, auth)
        event = delivered[0]
        assert set(event) == {"type", "tts_notification_id", "shop_id", "timestamp", "data"}
        assert event["type"] == 1 and event["shop_id"] == CREDS["shop_id"]
        assert delivered[2]["tts_notification_id"] == event["tts_notification_id"]  # a retry keeps its id
        log = client.get("/_admin/state").json()["webhooks"]["deliveries"]
        assert [d["status"] for d in log] == [500, 200, 200]


def test_webhooks_deliver_automatically_in_the_background():
    receiver = Receiver()
    app = create_app(seed=4, auto_deliver_webhooks=True)
    with receiver.server, LoopbackServer(app) as server, httpx.Client(base_url=server.url) as http:
        api = Api(http)
        api.ok("PUT", "/event/202309/webhooks",
               body={"address": f"{receiver.server.url}/hook", "event_type": "PRODUCT_AUDIT_STATUS_CHANGE"})
        created = api.ok("POST", "/product/202309/products", body=product_body(api.upload_image()))
        http.post("/_admin/audit/run")
        deadline = time.monotonic() + 5
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
        raw, auth = receiver.received[0]
        event = json.loads(raw)
        assert event["type"] == 37 and event["data"]["product_id"] == created["product_id"]
        assert event["data"]["audit"]["status"] == "PASSED"
        assert verify_tiktok_webhook(CREDS["app_key"], CREDS["app_secret"], raw, auth)


# -- faults -----------------------------------------------------------------------------------
def _fault_run(seed: int) -> list[int]:
    with TestClient(create_app(seed=seed)) as client:
        client.post("/_admin/faults", json={"error_rate": 0.5, "seed": seed})
        api = Api(client)
        return [api.call("GET", "/logistics/202309/warehouses").json()["code"] for _ in range(20)]


def test_fault_knobs_are_deterministic_under_a_seed():
    first, second = _fault_run(7), _fault_run(7)
    assert first == second
    assert set(first) == {0, 36009003}
    with TestClient(create_app()) as client:
        client.post("/_admin/faults", json={"error_rate": 1.0})
        response = Api(client).call("GET", "/logistics/202309/warehouses")
        assert response.status_code == 503 and response.json()["code"] == 36009003
        client.post("/_admin/faults", json={"error_rate": 0.0, "burst_429": 1})
        response = Api(client).call("GET", "/logistics/202309/warehouses")
        assert response.status_code == 429 and response.json()["code"] == 36009002
        assert response.headers["Retry-After"] == "1"
        assert Api(client).call("GET", "/logistics/202309/warehouses").json()["code"] == 0
        assert [r["status"] for r in client.get("/_admin/requests").json()["requests"]] == [503, 429, 200]


# -- the rest of the surface ------------------------------------------------------------------
def test_partial_edit_draft_listing_check_and_status_batches(api, client):
    created = create_active_product(api, client)
    pid = created["product_id"]
    api.ok("POST", f"/product/202309/products/{pid}/partial_edit", body={"title": "Classic Cotton Tee v2"})
    client.post("/_admin/audit/run")
    product = api.ok("GET", f"/product/202309/products/{pid}")
    assert product["title"] == "Classic Cotton Tee v2" and len(product["skus"]) == 2
    assert product["status"] == "ACTIVATE"

    assert api.ok("POST", "/product/202309/products/deactivate", body={"product_ids": [pid]})["errors"] == []
    assert api.ok("GET", f"/product/202309/products/{pid}")["status"] == "SELLER_DEACTIVATED"
    api.ok("POST", "/product/202309/products/activate", body={"product_ids": [pid]})
    assert api.ok("GET", f"/product/202309/products/{pid}")["status"] == "ACTIVATE"  # audit delay 0
    api.ok("DELETE", "/product/202309/products", body={"product_ids": [pid]})
    assert api.call("GET", f"/product/202309/products/{pid}").json()["code"] == 12052048
    api.ok("POST", "/product/202309/products/recover", body={"product_ids": [pid]})
    assert api.ok("GET", f"/product/202309/products/{pid}")["status"] == "SELLER_DEACTIVATED"

    draft = api.ok("POST", "/product/202309/products", body={"title": "Half done", "save_mode": "AS_DRAFT"})
    assert api.ok("GET", f"/product/202309/products/{draft['product_id']}")["status"] == "DRAFT"

    check = api.ok("POST", "/product/202309/products/listing_check", body={"title": "x", "category_id": "601265"})
    assert check["check_result"] == "FAILED" and {r["code"] for r in check["fail_reasons"]} >= {12052024}
    prereq = api.ok("GET", "/product/202312/prerequisites")["check_results"]
    assert not any(c["is_failed"] for c in prereq)


def test_brand_create_file_upload_and_logistics(api):
    brand = api.ok("POST", "/product/202309/brands", cipher=False, body={"name": "Sandbox Label"})
    names = [b["name"] for b in api.ok("GET", "/product/202309/brands",
                                         query={"page_size": "50", "brand_name": "sandbox"})["brands"]]
    assert names == ["Sandbox Label"] and brand["id"].isdigit()
    file = api.ok("POST", "/product/202309/files/upload", cipher=False,
                  files={"data": ("manual.pdf", b"%PDF-1.4", "application/pdf")}, data={"name": "manual.pdf"})
    assert file["format"] == "PDF"
    options = api.ok("GET", f"/logistics/202309/warehouses/{WAREHOUSE}/delivery_options")["delivery_options"]
    providers = api.ok("GET", f"/logistics/202309/delivery_options/{options[0]['id']}/shipping_providers")
    assert {"id": "7117858858072016686", "name": "USPS"} in providers["shipping_providers"]
    response = api.call("POST", "/product/202309/products/search", query={"page_size": "5"}, body={})
    assert response.json()["data"]["next_page_token"] == ""


def test_tiktok_logistics_package_flow_and_seller_cancel(api, client):
    created = create_active_product(api, client)
    sku_id = created["skus"][1]["id"]
    order = client.post("/_admin/orders", json={"line_items": [{"sku_id": sku_id, "quantity": 2}],
                                                "status": "AWAITING_SHIPMENT"}).json()
    package_id = order["packages"][0]["id"]
    api.ok("POST", f"/fulfillment/202309/packages/{package_id}/ship", body={"handover_method": "PICKUP"})
    detail = api.ok("GET", "/order/202309/orders", query={"ids": order["id"]})["orders"][0]
    assert detail["status"] == "AWAITING_COLLECTION" and detail["tracking_number"]
    pkg = api.ok("GET", f"/fulfillment/202309/packages/{package_id}")
    assert pkg["package_status"] == "PROCESSING" and len(pkg["orders"][0]["skus"]) == 2
    client.post(f"/_admin/orders/{order['id']}/advance", json={"to": "IN_TRANSIT"})
    found = api.ok("POST", "/fulfillment/202309/packages/search", query={"page_size": "10"},
                   body={"package_status": "FULFILLING"})
    assert [p["id"] for p in found["packages"]] == [package_id]
    api.ok("POST", f"/fulfillment/202309/packages/{package_id}/shipping_info/update",
           body={"tracking_number": "NEW123", "shipping_provider_id": "7117859084333745966"})
    assert api.ok("GET", f"/fulfillment/202309/packages/{package_id}")["shipping_provider_name"] == "UPS"

    other = client.post("/_admin/orders", json={"line_items": [{"sku_id": sku_id, "quantity": 2}],
                                                "status": "AWAITING_SHIPMENT"}).json()
    one_line = other["line_items"][0]["id"]
    data = api.ok("POST", "/return_refund/202309/cancellations",
                  body={"order_id": other["id"], "order_line_item_ids": [one_line], "cancel_reason": "Out of stock"})
    assert data["cancel_status"] == "CANCELLATION_REQUEST_COMPLETE"
    detail = api.ok("GET", "/order/202309/orders", query={"ids": other["id"]})["orders"][0]
    assert detail["status"] == "AWAITING_SHIPMENT"
    assert [li["display_status"] for li in detail["line_items"]] == ["CANCELLED", "AWAITING_SHIPMENT"]
    api.ok("POST", "/return_refund/202309/cancellations",
           body={"order_id": other["id"], "cancel_reason": "Out of stock"})
    assert api.ok("GET", "/order/202309/orders", query={"ids": other["id"]})["orders"][0]["status"] == "CANCELLED"


def test_buyer_cannot_overbuy_and_return_reject(api, client):
    created = create_active_product(api, client)
    sku_id = created["skus"][1]["id"]  # 5 units
    assert client.post("/_admin/orders", json={"line_items": [{"sku_id": sku_id, "quantity": 6}]}).status_code == 400
    order = client.post("/_admin/orders", json={"line_items": [{"sku_id": sku_id}], "status": "DELIVERED"}).json()
    ret = client.post("/_admin/returns", json={"order_id": order["id"], "return_type": "REFUND"}).json()
    response = api.call("POST", f"/return_refund/202309/returns/{ret['return_id']}/approve",
                        body={"decision": "APPROVE_RETURN"})
    assert response.json()["code"] != 0  # a refund-only request cannot be approved as a return
    api.ok("POST", f"/return_refund/202309/returns/{ret['return_id']}/reject",
           body={"decision": "REJECT_REFUND", "reject_reason": "Item was delivered intact"})
    found = api.ok("POST", "/return_refund/202309/returns/search", body={"return_ids": [ret["return_id"]]})
    assert found["return_orders"][0]["return_status"] == "REFUND_OR_RETURN_REQUEST_REJECT"
    seller = api.ok("POST", "/return_refund/202309/returns", query={"idempotency_key": "r-1"},
                    body={"order_id": order["id"], "return_type": "REFUND", "return_reason": "Goodwill"})
    again = api.ok("POST", "/return_refund/202309/returns", query={"idempotency_key": "r-1"},
                   body={"order_id": order["id"], "return_type": "REFUND", "return_reason": "Goodwill"})
    assert seller == again and seller["return_status"] == "RETURN_OR_REFUND_REQUEST_COMPLETE"


def test_reset_and_state_dump(api, client):
    create_active_product(api, client)
    state = client.get("/_admin/state").json()
    assert {"products", "orders", "packages", "cancellations", "returns", "webhooks", "warehouses",
            "images"} <= set(state)
    assert state["products"][0]["skus"][0]["inventory"][0]["quantity"] == 10
    client.post("/_admin/reset")
    assert client.get("/_admin/state").json()["products"] == []


def test_dropped_connection_cuts_the_socket_and_is_logged():
    app = create_app()
    with LoopbackServer(app) as server, httpx.Client(base_url=server.url) as http:
        http.post("/_admin/faults", json={"drop_rate": 1.0})
        with pytest.raises(httpx.RemoteProtocolError):
            Api(http).call("GET", "/logistics/202309/warehouses")
        assert http.get("/_admin/requests").json()["requests"][0]["status"] == 0
