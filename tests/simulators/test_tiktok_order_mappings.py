"""Orders, cancellations and returns the TikTok Shop simulator serves, through the shipped mappings.

Orders are placed with the admin API (the buyer's side) and read back as the seller reads them
(order detail and order search), then mapped and checked against the canonical schemas. The
simulator's amounts are self-consistent, so the canonical money must reconcile here:
sum over lines of (quantity x unit_price - discount) == subtotal, and
subtotal + shipping + tax + fees == total. (The documentation samples are not self-consistent;
tests/payloads/test_tiktok_shop_order.py checks them field by field instead.)
"""

from __future__ import annotations

import functools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_tiktok_sim import WAREHOUSE, Api, FakeClock, product_body

from engine.lang.mapping import MappingPlan
from engine.project.loader import Project
from engine.project.overrides import effective
from engine.project.testing import _jsonable
from engine.project.validate import Validator
from simulators.tiktok_shop import create_app

CONTEXT = {"connection": "tiktok_us"}
STATUSES = {
    "UNPAID": "pending_payment",
    "ON_HOLD": "on_hold",
    "AWAITING_SHIPMENT": "awaiting_fulfillment",
    "PARTIALLY_SHIPPING": "partially_fulfilled",
    "AWAITING_COLLECTION": "awaiting_fulfillment",
    "IN_TRANSIT": "fulfilled",
    "DELIVERED": "delivered",
    "COMPLETED": "completed",
    "CANCELLED": "cancelled",
}
SKUS = [("TEE-BLK-M", "19.99"), ("SOCK-3PK", "7.45")]


# ------------------------------------------------------------------ the mappings and the check


@functools.cache
def _validator() -> Validator:
    return Validator(Project.load([]))


@functools.cache
def _plan(name: str) -> MappingPlan:
    validator = _validator()
    compiled = validator.compile_mapping(effective(validator.project, None, "mapping", name))
    assert compiled is not None, "\n".join(p.format() for p in validator.problems)
    return compiled


def mapped(name: str, record: dict, context: dict | None = None) -> dict:
    result = _plan(name).apply(record, context or CONTEXT)
    assert not result.errors, [e.as_dict() for e in result.errors]
    return _jsonable(result.output)


def canonical_problems(entity: str, record: dict) -> list[str]:
    validator = _validator().schemas.canonical.validator(entity)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(record))


def canonical(entity: str, name: str, record: dict) -> dict:
    out = mapped(name, record)
    assert canonical_problems(entity, out) == [], out
    return out


def amount(money: dict | None) -> Decimal:
    return Decimal(money["amount"]) if money else Decimal(0)


def assert_reconciles(order: dict) -> None:
    money = order["money"]
    lines = order["lines"]
    assert {m["currency"] for m in money.values()} == {order["currency"]}
    goods = sum((line["quantity"] * amount(line["unit_price"]) - amount(line.get("discount")) for line in lines),
                Decimal(0))
    assert goods == amount(money["subtotal"])
    assert (amount(money["subtotal"]) + amount(money["shipping"]) + amount(money["tax"]) + amount(money.get("fees"))
            == amount(money["total"]))
    assert sum((amount(line.get("tax")) for line in lines), Decimal(0)) == amount(money["product_tax"])
    assert sum((amount(line["total"]) for line in lines), Decimal(0)) == (
        amount(money["subtotal"]) + amount(money["product_tax"]))
    for line in lines:
        assert amount(line["discount"]) == amount(line["discount_seller"]) + amount(line["discount_platform"])
        assert len(line["channel_line_ids"]) == line["quantity"]


# ------------------------------------------------------------------ the simulator


class Shop:
    """One simulated shop with two active SKUs in stock, driven from both sides."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self._client_cm = TestClient(create_app(seed=7, clock=self.clock))
        self.client = self._client_cm.__enter__()
        self.api = Api(self.client, self.clock)
        uri = self.api.upload_image()
        skus = [{"seller_sku": sku, "price": {"amount": price, "currency": "USD"},
                 "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 100_000}],
                 "sales_attributes": [{"name": "Color", "value_name": sku}]} for sku, price in SKUS]
        created = self.api.ok("POST", "/product/202309/products", body=product_body(uri, skus=skus))
        self.client.post("/_admin/audit/run")
        self.sku_ids = {s["seller_sku"]: s["id"] for s in created["skus"]}

    def close(self) -> None:
        self._client_cm.__exit__(None, None, None)

    def admin(self, path: str, body: dict) -> dict:
        response = self.client.post(f"/_admin/{path}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def place(self, lines: list[dict], **spec) -> str:
        self.clock.now += 1
        items = [{**line, "sku_id": self.sku_ids[line.pop("sku")]} for line in (dict(x) for x in lines)]
        return self.admin("orders", {"line_items": items, **spec})["id"]

    def detail(self, order_id: str) -> dict:
        return self.api.ok("GET", "/order/202309/orders", query={"ids": order_id})["orders"][0]

    def searched(self, order_id: str, status: str) -> dict:
        found = self.api.ok("POST", "/order/202309/orders/search", query={"page_size": "100"},
                            body={"order_status": status})["orders"]
        return next(o for o in found if o["id"] == order_id)

    def cancellation(self, cancel_id: str) -> dict:
        return self.api.ok("POST", "/return_refund/202309/cancellations/search",
                           body={"cancel_ids": [cancel_id]})["cancellations"][0]

    def return_case(self, return_id: str) -> dict:
        return self.api.ok("POST", "/return_refund/202309/returns/search",
                           body={"return_ids": [return_id]})["return_orders"][0]


@pytest.fixture(scope="module")
def shop():
    made = Shop()
    yield made
    made.close()


# 3 units of the tee and 2 of the socks; each spec discounts its units its own way.
MIXED = [
    {"sku": "TEE-BLK-M", "quantity": 2, "seller_discount": "1.25", "platform_discount": "0.50"},
    {"sku": "SOCK-3PK", "quantity": 2, "seller_discount": "0.33"},
    {"sku": "TEE-BLK-M", "quantity": 1, "platform_discount": "2.01"},
]


# ------------------------------------------------------------------ orders


@pytest.mark.parametrize("status", list(STATUSES))
def test_an_order_in_every_status_maps_validates_and_reconciles(shop, status):
    order_id = shop.place(MIXED, status=status, shipping_fee_seller_discount="1.00",
                          shipping_fee_platform_discount="0.99")
    for record in (shop.detail(order_id), shop.searched(order_id, status)):
        order = canonical("order", "tiktok_shop.order_to_canonical", record)
        assert order["status"] == STATUSES[status]
        assert order["channel"] == "tiktok_us" and order["channel_order_id"] == order_id
        # An order cancelled straight from UNPAID was never paid: void.
        assert order["financial_status"] == {"UNPAID": "pending", "CANCELLED": "voided"}.get(status, "paid")
        assert ("shipping_address" in order) == (status not in ("UNPAID", "ON_HOLD"))
        assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [("TEE-BLK-M", 3), ("SOCK-3PK", 2)]
        assert order["buyer"]["email_is_relay"] is True  # the simulator's buyers have relay addresses
        assert_reconciles(order)


def test_mixed_order_lines_to_the_cent(shop):
    order = canonical("order", "tiktok_shop.order_to_canonical", shop.detail(shop.place(MIXED)))
    tee, socks = order["lines"]
    # Tee: 3 x 19.99 = 59.97; seller 1.25 + 1.25 + 0 = 2.50; platform 0.50 + 0.50 + 2.01 = 3.01;
    # tax at 8.25%: 18.24 x 0.0825 = 1.5048 -> 1.50 twice, 17.98 x 0.0825 = 1.48335 -> 1.48; 4.48.
    assert tee["unit_price"] == {"amount": "19.99", "currency": "USD"}
    assert (tee["discount_seller"]["amount"], tee["discount_platform"]["amount"], tee["discount"]["amount"]) == (
        "2.50", "3.01", "5.51")
    assert tee["tax"]["amount"] == "4.48" and tee["tax_rate"] == "0.0825"
    assert tee["total"]["amount"] == "58.94"  # 59.97 - 5.51 + 4.48
    # Socks: 2 x 7.45 = 14.90; seller 0.33 x 2 = 0.66; tax 7.12 x 0.0825 = 0.5874 -> 0.59 twice = 1.18.
    assert (socks["discount"]["amount"], socks["tax"]["amount"], socks["total"]["amount"]) == ("0.66", "1.18", "15.42")
    assert order["money"]["subtotal"]["amount"] == "68.7"  # 59.97 - 5.51 + 14.90 - 0.66
    assert_reconciles(order)


def test_address_levels_of_the_simulator_become_city_and_region(shop):
    order = canonical("order", "tiktok_shop.order_to_canonical",
                      shop.detail(shop.place(MIXED[:1], status="AWAITING_SHIPMENT")))
    address = order["shipping_address"]
    buyer = order["buyer"]
    assert address["country_code"] == "US"
    assert address["city"] and address["region"] and address["line1"] and address["postal_code"]
    assert "line2" not in address and "line3" not in address  # the simulator's blank lines
    assert (buyer["name"], buyer["first_name"], buyer["last_name"]) == (
        address["name"], address["first_name"], address["last_name"])


def test_line_fulfilment_follows_the_packages(shop):
    order_id = shop.place([{"sku": "TEE-BLK-M", "quantity": 2}, {"sku": "SOCK-3PK", "quantity": 1}],
                          status="PARTIALLY_SHIPPING")  # the first unit ships alone
    order = canonical("order", "tiktok_shop.order_to_canonical", shop.detail(order_id))
    assert [line["fulfillment_status"] for line in order["lines"]] == ["partial", "unfulfilled"]
    shop.admin(f"orders/{order_id}/advance", {"to": "DELIVERED"})
    order = canonical("order", "tiktok_shop.order_to_canonical", shop.detail(order_id))
    assert [line["fulfillment_status"] for line in order["lines"]] == ["fulfilled", "fulfilled"]
    assert order["metadata"]["package_ids"]


def _specs():
    spec = st.fixed_dictionaries({
        "sku": st.sampled_from([s for s, _ in SKUS]),
        "quantity": st.integers(1, 3),
        # at most 5.00 + 2.00 off the 7.45 socks
        "seller_discount": st.integers(0, 500).map(lambda c: str(Decimal(c) / 100)),
        "platform_discount": st.integers(0, 200).map(lambda c: str(Decimal(c) / 100)),
    })
    return st.lists(spec, min_size=1, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=_specs(),
    status=st.sampled_from(list(STATUSES)),
    tax_rate=st.sampled_from(["0", "0.0825", "0.07", "0.1025", "0.06625"]),
    shipping=st.sampled_from([("5.99", "0", "0"), ("5.99", "1.00", "4.99"), ("0", "0", "0"), ("12.50", "2.5", "0")]),
    retail_delivery_fee=st.sampled_from(["0", "0.28", "1.28"]),
)
def test_any_simulator_order_reconciles(shop, lines, status, tax_rate, shipping, retail_delivery_fee):
    if status == "PARTIALLY_SHIPPING" and sum(x["quantity"] for x in lines) < 2:
        status = "AWAITING_SHIPMENT"  # one unit cannot ship in part
    fee, seller_off, platform_off = shipping
    order_id = shop.place(lines, status=status, tax_rate=tax_rate, shipping_fee=fee,
                          shipping_fee_seller_discount=seller_off, shipping_fee_platform_discount=platform_off,
                          retail_delivery_fee=retail_delivery_fee)
    order = canonical("order", "tiktok_shop.order_to_canonical", shop.detail(order_id))
    assert order["status"] == STATUSES[status]
    assert sum(line["quantity"] for line in order["lines"]) == sum(x["quantity"] for x in lines)
    assert len(order["lines"]) == len({x["sku"] for x in lines})
    assert_reconciles(order)


# ------------------------------------------------------------------ cancellations


def test_a_buyer_cancellation_request_then_its_approval(shop):
    order_id = shop.place(MIXED, status="AWAITING_SHIPMENT")
    request = shop.admin("cancellations", {"order_id": order_id, "cancel_reason": "Changed my mind"})
    cancel_id = request["cancel_id"]
    pending = canonical("cancellation", "tiktok_shop.cancellation_to_canonical", shop.cancellation(cancel_id))
    assert pending["status"] == "requested" and pending["initiator"] == "buyer"
    assert pending["order_id"] == order_id and pending["channel_cancellation_id"] == cancel_id
    assert pending["reason"] == "Changed my mind"
    assert pending["lines"] == [{"sku": "TEE-BLK-M", "quantity": 3}, {"sku": "SOCK-3PK", "quantity": 2}]
    assert pending["metadata"]["cancel_type"] == "BUYER_CANCEL"
    assert len(pending["metadata"]["order_line_item_ids"]) == 5
    detail = shop.detail(order_id)
    assert pending["refund"] == {"amount": detail["payment"]["total_amount"], "currency": "USD"}

    shop.api.ok("POST", f"/return_refund/202309/cancellations/{cancel_id}/approve")
    done = canonical("cancellation", "tiktok_shop.cancellation_to_canonical", shop.cancellation(cancel_id))
    assert done["status"] == "completed"
    order = canonical("order", "tiktok_shop.order_to_canonical", shop.detail(order_id))
    assert order["status"] == "cancelled"
    assert [line["fulfillment_status"] for line in order["lines"]] == ["cancelled", "cancelled"]


def test_a_rejected_cancellation_request_reads_as_withdrawn(shop):
    order_id = shop.place(MIXED, status="AWAITING_SHIPMENT")
    cancel_id = shop.admin("cancellations", {"order_id": order_id})["cancel_id"]
    shop.api.ok("POST", f"/return_refund/202309/cancellations/{cancel_id}/reject",
                body={"reject_reason": "seller_reject_apply_product_has_been_packed"})
    record = shop.cancellation(cancel_id)
    assert record["cancel_status"] == "CANCELLATION_REQUEST_CANCEL"
    assert canonical("cancellation", "tiktok_shop.cancellation_to_canonical", record)["status"] == "withdrawn"


def test_a_seller_cancellation_of_some_units(shop):
    order_id = shop.place(MIXED, status="AWAITING_SHIPMENT")
    socks = [li["id"] for li in shop.detail(order_id)["line_items"] if li["seller_sku"] == "SOCK-3PK"]
    answer = shop.api.ok("POST", "/return_refund/202309/cancellations",
                         body={"order_id": order_id, "order_line_item_ids": socks, "cancel_reason": "Out of stock"})
    cancellation = canonical("cancellation", "tiktok_shop.cancellation_to_canonical",
                             shop.cancellation(answer["cancel_id"]))
    assert cancellation["status"] == "completed" and cancellation["initiator"] == "seller"
    assert cancellation["lines"] == [{"sku": "SOCK-3PK", "quantity": 2}]
    assert sorted(cancellation["metadata"]["order_line_item_ids"]) == sorted(socks)
    # 2 x (7.45 - 0.33) = 14.24 of goods and 2 x 0.59 of tax, no shipping for part of the order
    assert cancellation["refund"] == {"amount": "15.42", "currency": "USD"}
    order = canonical("order", "tiktok_shop.order_to_canonical", shop.detail(order_id))
    assert order["status"] == "awaiting_fulfillment"
    assert [line["fulfillment_status"] for line in order["lines"]] == ["unfulfilled", "cancelled"]


# ------------------------------------------------------------------ returns


def test_a_return_and_refund_through_every_step(shop):
    order_id = shop.place(MIXED, status="DELIVERED")
    case = shop.admin("returns", {"order_id": order_id, "return_type": "RETURN_AND_REFUND"})
    return_id = case["return_id"]
    base = f"/return_refund/202309/returns/{return_id}"

    def current() -> dict:
        return canonical("return", "tiktok_shop.return_to_canonical", shop.return_case(return_id))

    opened = current()
    assert (opened["type"], opened["status"], opened["metadata"]["initiator"]) == (
        "return_and_refund", "requested", "buyer")
    assert opened["order_id"] == order_id and opened["channel_return_id"] == return_id
    assert [(line["sku"], line["quantity"]) for line in opened["lines"]] == [("TEE-BLK-M", 3), ("SOCK-3PK", 2)]
    # Tee 3 x 19.99 - 5.51 + tax 4.48 = 58.94; socks 14.90 - 0.66 + 1.18 = 15.42
    assert [line["refund"]["amount"] for line in opened["lines"]] == ["58.94", "15.42"]
    assert opened["refund"] == {"subtotal": {"amount": "68.7", "currency": "USD"},
                                "shipping": {"amount": "0", "currency": "USD"},
                                "tax": {"amount": "5.66", "currency": "USD"},
                                "total": {"amount": "74.36", "currency": "USD"}}
    assert "return_tracking" not in opened
    assert opened["metadata"]["seller_next_actions"][0]["action"] == "SELLER_RESPOND_RETURN"

    shop.api.ok("POST", f"{base}/approve", body={"decision": "APPROVE_RETURN"})
    assert current()["status"] == "approved"
    shop.admin(f"returns/{return_id}/advance", {"to": "BUYER_SHIPPED_ITEM", "tracking_number": "9400111"})
    shipped = current()
    assert shipped["status"] == "in_transit"
    assert shipped["return_tracking"] == {"carrier": "USPS", "tracking_number": "9400111"}
    shop.api.ok("POST", f"{base}/approve", body={"decision": "APPROVE_RECEIVED_PACKAGE"})
    assert current()["status"] == "completed"


@pytest.mark.parametrize(("return_type", "decision", "status"), [
    ("REFUND", "REJECT_REFUND", "rejected"),
    ("REFUND", "APPROVE_REFUND", "completed"),
    ("REFUND", "OFFER_PARTIAL_REFUND", "requested"),  # AWAITING_BUYER_RESPONSE
    ("REPLACEMENT", "APPROVE_REPLACEMENT", "approved"),
    ("REPLACEMENT", "ISSUE_REPLACEMENT_REFUND", "completed"),
])
def test_refund_and_replacement_decisions(shop, return_type, decision, status):
    order_id = shop.place([{"sku": "SOCK-3PK", "quantity": 1}], status="DELIVERED")
    return_id = shop.admin("returns", {"order_id": order_id, "return_type": return_type})["return_id"]
    body = {"decision": decision, "reject_reason": "reason"}
    if decision == "OFFER_PARTIAL_REFUND":
        body["partial_refund"] = {"amount": "3.00", "currency": "USD"}
    action = "reject" if decision.startswith("REJECT") else "approve"
    shop.api.ok("POST", f"/return_refund/202309/returns/{return_id}/{action}", body=body)
    case = canonical("return", "tiktok_shop.return_to_canonical", shop.return_case(return_id))
    assert case["status"] == status
    assert case["type"] == {"REFUND": "refund_only", "REPLACEMENT": "replacement"}[return_type]
    if decision == "OFFER_PARTIAL_REFUND":
        assert case["refund"]["total"] == {"amount": "3", "currency": "USD"}


def test_a_buyer_withdrawn_return_is_cancelled(shop):
    order_id = shop.place([{"sku": "TEE-BLK-M", "quantity": 1}], status="DELIVERED")
    return_id = shop.admin("returns", {"order_id": order_id, "return_type": "RETURN_AND_REFUND"})["return_id"]
    shop.admin(f"returns/{return_id}/advance", {"to": "RETURN_OR_REFUND_REQUEST_CANCEL"})
    case = canonical("return", "tiktok_shop.return_to_canonical", shop.return_case(return_id))
    assert case["status"] == "cancelled"
