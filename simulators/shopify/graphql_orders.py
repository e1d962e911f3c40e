"""The GraphQL Admin API's orders, customers, fulfillments, refunds, inventory levels by location
and webhook subscriptions (2.7, 2.8, 2.9, 2.11), on the same shop as the REST API.

Every write goes through the REST modules' functions (orders.create_order, refunds.create_refund,
...): the GraphQL input is turned into the REST body, and the stored REST record is shaped as the
GraphQL object. So an order made by `orderCreate` is the one `GET orders.json` lists, and the
other way round. Money is a MoneyBag ({shopMoney {amount currencyCode}}), ids are gids, an order's
line items are a connection.
"""

from __future__ import annotations

import json
from typing import Any

from .customers import create_customer
from .errors import ApiError
from .graphql_shapes import (
    QueryError,
    _compare,
    connection,
    level_node,
    location_node,
    numeric_id,
    search_terms,
    utc,
    variant_node,
)
from .inventory import LevelIndex
from .order_model import filter_orders
from .orders import cancel_order, create_order
from .paging import ListQuery
from .refunds import create_refund
from .state import ShopState
from .values import gid

SDL = """
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }
type Attribute { key: String! value: String }
type MailingAddress {
  firstName: String lastName: String name: String company: String address1: String address2: String
  city: String province: String provinceCode: String zip: String countryCodeV2: String phone: String
}
type TaxLine { title: String! rate: Float priceSet: MoneyBag! channelLiable: Boolean }
type DiscountAllocation { allocatedAmountSet: MoneyBag! }
type LineItem {
  id: ID! sku: String title: String! variantTitle: String quantity: Int! currentQuantity: Int!
  unfulfilledQuantity: Int! originalUnitPriceSet: MoneyBag! totalDiscountSet: MoneyBag!
  discountAllocations: [DiscountAllocation!]! taxLines: [TaxLine!]! customAttributes: [Attribute!]!
  variant: ProductVariant
}
type LineItemEdge { node: LineItem! cursor: String! }
type LineItemConnection { nodes: [LineItem!]! edges: [LineItemEdge!]! pageInfo: PageInfo! }
type ShippingLine { id: ID title: String! code: String originalPriceSet: MoneyBag! taxLines: [TaxLine!]! }
type ShippingLineEdge { node: ShippingLine! cursor: String! }
type ShippingLineConnection { nodes: [ShippingLine!]! edges: [ShippingLineEdge!]! pageInfo: PageInfo! }
type FulfillmentTrackingInfo { company: String number: String url: URL }
type FulfillmentLineItem { id: ID! quantity: Int! lineItem: LineItem! }
type FulfillmentLineItemEdge { node: FulfillmentLineItem! cursor: String! }
type FulfillmentLineItemConnection { nodes: [FulfillmentLineItem!]! edges: [FulfillmentLineItemEdge!]! pageInfo: PageInfo! }
type Fulfillment implements Node {
  id: ID! legacyResourceId: String! name: String! status: String! displayStatus: String
  createdAt: DateTime! updatedAt: DateTime! trackingInfo(first: Int): [FulfillmentTrackingInfo!]!
  location: Location fulfillmentLineItems(first: Int, after: String): FulfillmentLineItemConnection!
}
type OrderTransaction { id: ID! kind: String! status: String! gateway: String amountSet: MoneyBag! createdAt: DateTime! }
type RefundLineItem { quantity: Int! restockType: String! lineItem: LineItem! location: Location }
type RefundLineItemEdge { node: RefundLineItem! cursor: String! }
type RefundLineItemConnection { nodes: [RefundLineItem!]! edges: [RefundLineItemEdge!]! pageInfo: PageInfo! }
type Refund implements Node {
  id: ID! legacyResourceId: String! note: String createdAt: DateTime! totalRefundedSet: MoneyBag!
  refundLineItems(first: Int, after: String): RefundLineItemConnection!
  transactions(first: Int): [OrderTransaction!]!
}
type Customer implements Node {
  id: ID! legacyResourceId: String! email: String firstName: String lastName: String phone: String
  tags: [String!]! note: String createdAt: DateTime! updatedAt: DateTime!
}
type CustomerEdge { node: Customer! cursor: String! }
type CustomerConnection { nodes: [Customer!]! edges: [CustomerEdge!]! pageInfo: PageInfo! }
type Order implements Node {
  id: ID! legacyResourceId: String! name: String! email: String phone: String
  createdAt: DateTime! updatedAt: DateTime! processedAt: DateTime! cancelledAt: DateTime
  cancelReason: String closedAt: DateTime tags: [String!]! note: String customAttributes: [Attribute!]!
  sourceName: String sourceIdentifier: String currencyCode: String! taxesIncluded: Boolean!
  displayFinancialStatus: String displayFulfillmentStatus: String!
  totalPriceSet: MoneyBag! subtotalPriceSet: MoneyBag totalTaxSet: MoneyBag totalDiscountsSet: MoneyBag
  totalShippingPriceSet: MoneyBag! customer: Customer shippingAddress: MailingAddress
  billingAddress: MailingAddress paymentGatewayNames: [String!]!
  lineItems(first: Int, after: String): LineItemConnection!
  shippingLines(first: Int, after: String): ShippingLineConnection!
  fulfillments(first: Int): [Fulfillment!]!
  transactions(first: Int): [OrderTransaction!]!
  refunds(first: Int): [Refund!]!
}
type OrderEdge { node: Order! cursor: String! }
type OrderConnection { nodes: [Order!]! edges: [OrderEdge!]! pageInfo: PageInfo! }
type Job { id: ID! done: Boolean! }
enum OrderSortKeys { CREATED_AT ID PROCESSED_AT UPDATED_AT }
type WebhookHttpEndpoint { callbackUrl: URL! }
type WebhookSubscription implements Node {
  id: ID! legacyResourceId: String! topic: String! format: String! callbackUrl: URL!
  endpoint: WebhookHttpEndpoint! apiVersion: String createdAt: DateTime! updatedAt: DateTime!
}
type WebhookSubscriptionEdge { node: WebhookSubscription! cursor: String! }
type WebhookSubscriptionConnection { nodes: [WebhookSubscription!]! edges: [WebhookSubscriptionEdge!]! pageInfo: PageInfo! }

extend type Location { inventoryLevels(first: Int, after: String): InventoryLevelConnection! }

extend type Query {
  orders(first: Int, after: String, query: String, sortKey: OrderSortKeys, reverse: Boolean): OrderConnection!
  order(id: ID!): Order
  customers(first: Int, after: String, query: String): CustomerConnection!
  customer(id: ID!): Customer
  location(id: ID!): Location
  webhookSubscriptions(first: Int, after: String, topics: [String!]): WebhookSubscriptionConnection!
}

input MoneyInput { amount: Decimal! currencyCode: String! }
input MoneyBagInput { shopMoney: MoneyInput! presentmentMoney: MoneyInput }
input AttributeInput { key: String! value: String! }
input MailingAddressInput {
  firstName: String lastName: String company: String address1: String address2: String city: String
  provinceCode: String countryCode: String zip: String phone: String
}
input OrderCreateTaxLineInput { title: String! rate: Decimal! priceSet: MoneyBagInput channelLiable: Boolean }
input OrderCreateLineItemPropertyInput { name: String! value: String! }
input OrderCreateLineItemInput {
  variantId: ID quantity: Int! priceSet: MoneyBagInput title: String sku: String
  taxLines: [OrderCreateTaxLineInput!] properties: [OrderCreateLineItemPropertyInput!]
  requiresShipping: Boolean taxable: Boolean
}
input OrderCreateShippingLineInput { title: String! code: String priceSet: MoneyBagInput! taxLines: [OrderCreateTaxLineInput!] }
input OrderCreateOrderTransactionInput { kind: String gateway: String status: String amountSet: MoneyBagInput! }
input OrderCreateFulfillmentInput { locationId: ID! trackingNumber: String trackingCompany: String notifyCustomer: Boolean }
input OrderCreateAssociateCustomerAttributesInput { id: ID! }
input OrderCreateUpsertCustomerAttributesInput { email: String firstName: String lastName: String phone: String }
input OrderCreateCustomerInput {
  toAssociate: OrderCreateAssociateCustomerAttributesInput
  toUpsert: OrderCreateUpsertCustomerAttributesInput
}
input OrderCreateFixedDiscountCodeAttributesInput { code: String! amountSet: MoneyBagInput }
input OrderCreateDiscountCodeInput { itemFixedDiscountCode: OrderCreateFixedDiscountCodeAttributesInput }
input OrderCreateOrderInput {
  name: String currency: String presentmentCurrency: String processedAt: DateTime financialStatus: String
  fulfillmentStatus: String email: String phone: String note: String tags: [String!]
  customAttributes: [AttributeInput!] sourceName: String sourceIdentifier: String taxesIncluded: Boolean
  customer: OrderCreateCustomerInput shippingAddress: MailingAddressInput billingAddress: MailingAddressInput
  lineItems: [OrderCreateLineItemInput!] shippingLines: [OrderCreateShippingLineInput!]
  transactions: [OrderCreateOrderTransactionInput!] fulfillment: OrderCreateFulfillmentInput
  discountCode: OrderCreateDiscountCodeInput
}
input OrderCreateOptionsInput { inventoryBehaviour: String sendReceipt: Boolean sendFulfillmentReceipt: Boolean }
type OrderCreatePayload { order: Order userErrors: [UserError!]! }
type OrderCancelPayload { job: Job orderCancelUserErrors: [UserError!]! userErrors: [UserError!]! }
input CustomerInput {
  email: String firstName: String lastName: String phone: String note: String tags: [String!]
  addresses: [MailingAddressInput!]
}
type CustomerCreatePayload { customer: Customer userErrors: [UserError!]! }
input ShippingRefundInput { amount: Money fullRefund: Boolean }
input RefundLineItemInput { lineItemId: ID! quantity: Int! restockType: String locationId: ID }
input OrderTransactionInput { orderId: ID! gateway: String! kind: String! amount: Money! parentId: ID }
input RefundInput {
  orderId: ID! note: String notify: Boolean currency: String shipping: ShippingRefundInput
  refundLineItems: [RefundLineItemInput!] transactions: [OrderTransactionInput!]
}
type RefundCreatePayload { refund: Refund order: Order userErrors: [UserError!]! }
input WebhookSubscriptionInput { callbackUrl: URL uri: String format: String }
type WebhookSubscriptionCreatePayload { webhookSubscription: WebhookSubscription userErrors: [UserError!]! }
type WebhookSubscriptionDeletePayload { deletedWebhookSubscriptionId: ID userErrors: [UserError!]! }

extend type Mutation {
  orderCreate(order: OrderCreateOrderInput!, options: OrderCreateOptionsInput): OrderCreatePayload
  orderCancel(orderId: ID!, reason: String!, restock: Boolean!, refund: Boolean, notifyCustomer: Boolean,
              staffNote: String): OrderCancelPayload
  customerCreate(input: CustomerInput!): CustomerCreatePayload
  refundCreate(input: RefundInput!): RefundCreatePayload
  webhookSubscriptionCreate(topic: String!, webhookSubscription: WebhookSubscriptionInput!): WebhookSubscriptionCreatePayload
  webhookSubscriptionDelete(id: ID!): WebhookSubscriptionDeletePayload
}
"""


# ------------------------------------------------------------------------------------- shapes


def money_bag(amount: Any, currency: str) -> dict:
    value = {"amount": str(amount if amount is not None else "0.00"), "currencyCode": currency}
    return {"shopMoney": value, "presentmentMoney": value}


def _address(address: dict | None) -> dict | None:
    if not address:
        return None
    return {"firstName": address.get("first_name"), "lastName": address.get("last_name"), "name": address.get("name"),
            "company": address.get("company"), "address1": address.get("address1"), "address2": address.get("address2"),
            "city": address.get("city"), "province": address.get("province"),
            "provinceCode": address.get("province_code"), "zip": address.get("zip"),
            "countryCodeV2": address.get("country_code"), "phone": address.get("phone")}


def _tax_lines(lines: list[dict], currency: str) -> list[dict]:
    return [{"title": t.get("title") or "", "rate": float(t["rate"]) if t.get("rate") is not None else None,
             "priceSet": money_bag(t.get("price"), currency), "channelLiable": t.get("channel_liable")}
            for t in lines or []]


def line_node(state: ShopState, line: dict, currency: str) -> dict:
    variant = state.db.variants.get(line.get("variant_id") or 0)
    return {
        "id": gid("LineItem", line["id"]),
        "sku": line.get("sku"),
        "title": line["title"],
        "variantTitle": line.get("variant_title"),
        "quantity": line["quantity"],
        "currentQuantity": line.get("current_quantity", line["quantity"]),
        "unfulfilledQuantity": line.get("fulfillable_quantity", 0),
        "originalUnitPriceSet": money_bag(line["price"], currency),
        "totalDiscountSet": money_bag(line.get("total_discount"), currency),
        "discountAllocations": [{"allocatedAmountSet": money_bag(a["amount"], currency)}
                                for a in line.get("discount_allocations") or []],
        "taxLines": _tax_lines(line.get("tax_lines"), currency),
        "customAttributes": [{"key": p["name"], "value": p.get("value")} for p in line.get("properties") or []],
        "variant": (lambda info: variant_node(state, variant)) if variant else None,
    }


def transaction_node(txn: dict) -> dict:
    return {"id": gid("OrderTransaction", txn["id"]), "kind": str(txn["kind"]).upper(),
            "status": str(txn["status"]).upper(), "gateway": txn.get("gateway"),
            "amountSet": money_bag(txn["amount"], txn["currency"]), "createdAt": utc(txn.get("created_at"))}


def fulfillment_node(state: ShopState, fulfillment: dict, currency: str) -> dict:
    location = state.db.locations.get(fulfillment.get("location_id") or 0)

    def tracking(info: Any, first: int | None = None) -> list[dict]:
        numbers = fulfillment.get("tracking_numbers") or []
        urls = fulfillment.get("tracking_urls") or []
        return [{"company": fulfillment.get("tracking_company"), "number": n,
                 "url": urls[i] if i < len(urls) else None} for i, n in enumerate(numbers)][:first]

    def lines(info: Any, first: int | None = None, after: str | None = None) -> dict:
        return connection(fulfillment["line_items"], first, after,
                          lambda li: {"id": gid("FulfillmentLineItem", li["id"]), "quantity": li["quantity"],
                                      "lineItem": line_node(state, li, currency)})

    return {
        "id": gid("Fulfillment", fulfillment["id"]),
        "legacyResourceId": str(fulfillment["id"]),
        "name": fulfillment.get("name") or "",
        "status": str(fulfillment["status"]).upper(),
        "displayStatus": str(fulfillment.get("shipment_status") or "fulfilled").upper(),
        "createdAt": utc(fulfillment.get("created_at")),
        "updatedAt": utc(fulfillment.get("updated_at")),
        "trackingInfo": tracking,
        "location": location_node(state, location) if location else None,
        "fulfillmentLineItems": lines,
    }


def refund_node(state: ShopState, refund: dict, currency: str) -> dict:
    txns = list(refund["transactions"])
    total = sum((float(t["amount"]) for t in txns if t["status"] == "success"), 0.0)

    def lines(info: Any, first: int | None = None, after: str | None = None) -> dict:
        def shape(rli: dict) -> dict:
            location = state.db.locations.get(rli.get("location_id") or 0)
            return {"quantity": rli["quantity"], "restockType": str(rli["restock_type"]).upper(),
                    "lineItem": line_node(state, rli["line_item"], currency),
                    "location": location_node(state, location) if location else None}
        return connection(refund["refund_line_items"], first, after, shape)

    return {
        "id": gid("Refund", refund["id"]),
        "legacyResourceId": str(refund["id"]),
        "note": refund.get("note"),
        "createdAt": utc(refund.get("created_at")),
        "totalRefundedSet": money_bag(f"{total:.2f}", currency),
        "refundLineItems": lines,
        "transactions": lambda info, first=None: [transaction_node(t) for t in txns][:first],
    }


def customer_node(customer: dict) -> dict:
    return {
        "id": gid("Customer", customer["id"]),
        "legacyResourceId": str(customer["id"]),
        "email": customer.get("email"),
        "firstName": customer.get("first_name"),
        "lastName": customer.get("last_name"),
        "phone": customer.get("phone"),
        "tags": [t.strip() for t in (customer.get("tags") or "").split(",") if t.strip()],
        "note": customer.get("note"),
        "createdAt": utc(customer.get("created_at")),
        "updatedAt": utc(customer.get("updated_at")),
    }


FINANCIAL = {"partially_paid": "PARTIALLY_PAID", "partially_refunded": "PARTIALLY_REFUNDED"}
FULFILLMENT = {None: "UNFULFILLED", "fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED",
               "restocked": "RESTOCKED"}


def order_node(state: ShopState, order: dict) -> dict:
    currency = order["currency"]
    customer = state.db.customers.get(order.get("_customer_id") or 0)
    shipping_total = sum((float(s["price"]) for s in order["shipping_lines"]), 0.0)

    def line_items(info: Any, first: int | None = None, after: str | None = None) -> dict:
        return connection(order["line_items"], first, after, lambda li: line_node(state, li, currency))

    def shipping_lines(info: Any, first: int | None = None, after: str | None = None) -> dict:
        return connection(order["shipping_lines"], first, after, lambda s: {
            "id": gid("ShippingLine", s["id"]), "title": s["title"], "code": s.get("code"),
            "originalPriceSet": money_bag(s["price"], currency), "taxLines": _tax_lines(s.get("tax_lines"), currency)})

    def fulfillments(info: Any, first: int | None = None) -> list[dict]:
        return [fulfillment_node(state, f, currency) for f in state.db.fulfillments.values()
                if f["order_id"] == order["id"]][:first]

    def transactions(info: Any, first: int | None = None) -> list[dict]:
        return [transaction_node(t) for t in state.db.transactions.values() if t["order_id"] == order["id"]][:first]

    def refunds(info: Any, first: int | None = None) -> list[dict]:
        return [refund_node(state, r, currency) for r in state.db.refunds.values()
                if r["order_id"] == order["id"]][:first]

    redact = state.settings.redact_customer_data
    return {
        "id": gid("Order", order["id"]),
        "legacyResourceId": str(order["id"]),
        "name": order["name"],
        "email": None if redact else order.get("email"),
        "phone": None if redact else order.get("phone"),
        "createdAt": utc(order.get("created_at")),
        "updatedAt": utc(order.get("updated_at")),
        "processedAt": utc(order.get("processed_at")),
        "cancelledAt": utc(order.get("cancelled_at")),
        "cancelReason": str(order["cancel_reason"]).upper() if order.get("cancel_reason") else None,
        "closedAt": utc(order.get("closed_at")),
        "tags": [t.strip() for t in (order.get("tags") or "").split(",") if t.strip()],
        "note": order.get("note"),
        "customAttributes": [{"key": a["name"], "value": a.get("value")} for a in order.get("note_attributes") or []],
        "sourceName": order.get("source_name"),
        "sourceIdentifier": order.get("source_identifier"),
        "currencyCode": currency,
        "taxesIncluded": bool(order.get("taxes_included")),
        "displayFinancialStatus": FINANCIAL.get(order["financial_status"], str(order["financial_status"]).upper()),
        "displayFulfillmentStatus": FULFILLMENT.get(order.get("fulfillment_status"), "UNFULFILLED"),
        "totalPriceSet": money_bag(order["total_price"], currency),
        "subtotalPriceSet": money_bag(order.get("subtotal_price"), currency),
        "totalTaxSet": money_bag(order.get("total_tax"), currency),
        "totalDiscountsSet": money_bag(order.get("total_discounts"), currency),
        "totalShippingPriceSet": money_bag(f"{shipping_total:.2f}", currency),
        "customer": customer_node(customer) if customer and not redact else None,
        "shippingAddress": None if redact else _address(order.get("shipping_address")),
        "billingAddress": None if redact else _address(order.get("billing_address")),
        "paymentGatewayNames": list(order.get("payment_gateway_names") or []),
        "lineItems": line_items,
        "shippingLines": shipping_lines,
        "fulfillments": fulfillments,
        "transactions": transactions,
        "refunds": refunds,
    }


def location_with_levels(state: ShopState, location: dict) -> dict:
    def levels(info: Any, first: int | None = None, after: str | None = None) -> dict:
        index = LevelIndex.of(state)
        keys = sorted(item for item, locations in index.by_item.items() if location["id"] in locations)
        return connection(keys, first, after, lambda item: level_node(state, state.db.levels[(item, location["id"])]))

    return {**location_node(state, location), "inventoryLevels": levels}


def webhook_node(sub: dict) -> dict:
    return {"id": sub["admin_graphql_api_id"], "legacyResourceId": str(sub["id"]),
            "topic": sub["topic"].upper().replace("/", "_"), "format": str(sub.get("format") or "json").upper(),
            "callbackUrl": sub["address"], "endpoint": {"callbackUrl": sub["address"]},
            "apiVersion": sub.get("api_version"), "createdAt": utc(sub.get("created_at")),
            "updatedAt": utc(sub.get("updated_at"))}


# ------------------------------------------------------------------------------------ filters


def filter_graphql_orders(state: ShopState, query: str | None) -> list[dict]:
    """orders(query:) in the part of the search syntax the connector sends: name, status,
    updated_at / created_at bounds, source_identifier; `(a) AND (b)` as the read's filters combine."""
    params: dict[str, str] = {"status": "any"}
    rest: list[tuple[str, str, str]] = []
    for field, op, value in search_terms((query or "").replace("(", " ").replace(")", " ")):
        if field == "name" and op == "=":
            params["name"] = value
        elif field == "status" and op == "=":
            params["status"] = {"open": "open", "closed": "closed", "cancelled": "cancelled"}.get(value.lower(), "any")
        elif field in ("updated_at", "created_at", "source_identifier"):
            rest.append((field, op, value))
        else:
            raise QueryError(f"unsupported search field {field!r}")
    orders = filter_orders(state, ListQuery(limit=0, fields=None, params=params))
    for field, op, value in rest:
        orders = [o for o in orders if _compare(o.get(field), op, value)]
    return sorted(orders, key=lambda o: o["id"])


def filter_customers(state: ShopState, query: str | None) -> list[dict]:
    customers = list(state.db.customers.values())
    for field, op, value in search_terms(query):
        if field in ("email", "phone", "first_name", "last_name"):
            customers = [c for c in customers if _compare(c.get(field), op, value)]
        else:
            raise QueryError(f"unsupported search field {field!r}")
    return customers


# ------------------------------------------------------------------------------- resolvers


def queries(state: ShopState) -> dict:
    def orders(info: Any, first: int | None = None, after: str | None = None, query: str | None = None,
               sortKey: str | None = None, reverse: bool | None = None) -> dict:  # noqa: N803
        found = filter_graphql_orders(state, query)
        if sortKey == "UPDATED_AT":
            found.sort(key=lambda o: o.get("updated_at") or "")
        if reverse:
            found.reverse()
        return connection(found, first, after, lambda o: order_node(state, o))

    def order(info: Any, id: str) -> dict | None:  # noqa: A002
        found = state.db.orders.get(numeric_id(id, "Order"))
        return order_node(state, found) if found else None

    def customers(info: Any, first: int | None = None, after: str | None = None, query: str | None = None) -> dict:
        return connection(filter_customers(state, query), first, after, customer_node)

    def customer(info: Any, id: str) -> dict | None:  # noqa: A002
        found = state.db.customers.get(numeric_id(id, "Customer"))
        return customer_node(found) if found else None

    def location(info: Any, id: str) -> dict | None:  # noqa: A002
        found = state.db.locations.get(numeric_id(id, "Location"))
        return location_with_levels(state, found) if found else None

    def webhook_subscriptions(info: Any, first: int | None = None, after: str | None = None,
                              topics: list[str] | None = None) -> dict:
        subs = [s for s in state.db.webhooks.values()
                if not topics or s["topic"].upper().replace("/", "_") in topics]
        return connection(subs, first, after, webhook_node)

    return {"orders": orders, "order": order, "customers": customers, "customer": customer, "location": location,
            "webhookSubscriptions": webhook_subscriptions}


def _user_errors(exc: ApiError, prefix: list[str]) -> list[dict]:
    errors = exc.errors if isinstance(exc.errors, dict) else {"base": exc.errors}
    out = []
    for field, messages in errors.items():
        for message in messages if isinstance(messages, list) else [messages]:
            out.append({"field": prefix if field == "base" else [*prefix, str(field)],
                        "message": str(message) if field == "base" else f"{field} {message}", "code": "INVALID"})
    return out


def _amount(bag: dict | None) -> str | None:
    return ((bag or {}).get("shopMoney") or {}).get("amount")


def _rest_address(address: dict | None) -> dict | None:
    if not address:
        return None
    return {"first_name": address.get("firstName"), "last_name": address.get("lastName"),
            "company": address.get("company"), "address1": address.get("address1"),
            "address2": address.get("address2"), "city": address.get("city"),
            "province_code": address.get("provinceCode"), "province": address.get("provinceCode"),
            "country_code": address.get("countryCode"), "zip": address.get("zip"), "phone": address.get("phone")}


def _rest_taxes(lines: list[dict] | None) -> list[dict]:
    return [{"title": t["title"], "rate": t.get("rate"), "price": _amount(t.get("priceSet")),
             "channel_liable": t.get("channelLiable")} for t in lines or []]


def rest_order(data: dict, options: dict | None) -> dict:
    """OrderCreateOrderInput (+ options) -> the body POST orders.json takes."""
    options = options or {}
    customer = data.get("customer") or {}
    body: dict[str, Any] = {
        "name": data.get("name"), "currency": data.get("currency"), "processed_at": data.get("processedAt"),
        "financial_status": str(data.get("financialStatus") or "").lower() or None,
        "email": data.get("email"), "phone": data.get("phone"), "note": data.get("note"),
        "tags": data.get("tags") or [], "source_name": data.get("sourceName"),
        "source_identifier": data.get("sourceIdentifier"), "taxes_included": bool(data.get("taxesIncluded")),
        "note_attributes": [{"name": a["key"], "value": a["value"]} for a in data.get("customAttributes") or []],
        "shipping_address": _rest_address(data.get("shippingAddress")),
        "billing_address": _rest_address(data.get("billingAddress")),
        "inventory_behaviour": str(options.get("inventoryBehaviour") or "BYPASS").lower(),
        "send_receipt": bool(options.get("sendReceipt")),
        "send_fulfillment_receipt": bool(options.get("sendFulfillmentReceipt")),
        "line_items": [{"variant_id": numeric_id(li["variantId"], "ProductVariant") if li.get("variantId") else None,
                        "quantity": li["quantity"], "price": _amount(li.get("priceSet")), "title": li.get("title"),
                        "sku": li.get("sku"), "tax_lines": _rest_taxes(li.get("taxLines")),
                        "properties": [{"name": p["name"], "value": p["value"]} for p in li.get("properties") or []]}
                       for li in data.get("lineItems") or []],
        "shipping_lines": [{"title": s["title"], "code": s.get("code"), "price": _amount(s.get("priceSet")),
                            "tax_lines": _rest_taxes(s.get("taxLines"))} for s in data.get("shippingLines") or []],
        "transactions": [{"kind": str(t.get("kind") or "SALE").lower(), "status": str(t.get("status") or "SUCCESS").lower(),
                          "gateway": t.get("gateway"), "amount": _amount(t.get("amountSet"))}
                         for t in data.get("transactions") or []],
    }
    if customer.get("toAssociate"):
        body["customer"] = {"id": numeric_id(customer["toAssociate"]["id"], "Customer")}
    elif customer.get("toUpsert"):
        upsert = customer["toUpsert"]
        body["customer"] = {"email": upsert.get("email"), "first_name": upsert.get("firstName"),
                            "last_name": upsert.get("lastName")}
    fixed = (data.get("discountCode") or {}).get("itemFixedDiscountCode")
    if fixed:
        body["discount_codes"] = [{"code": fixed["code"], "amount": _amount(fixed.get("amountSet")),
                                   "type": "fixed_amount"}]
    if str(data.get("fulfillmentStatus") or "").upper() == "FULFILLED":
        body["fulfillment_status"] = "fulfilled"
        given = data.get("fulfillment")
        if given:
            body["fulfillments"] = [{"location_id": numeric_id(given["locationId"], "Location"),
                                     "tracking_number": given.get("trackingNumber"),
                                     "tracking_company": given.get("trackingCompany")}]
    return body


def rest_refund(state: ShopState, data: dict) -> dict:
    body: dict[str, Any] = {
        "note": data.get("note"), "notify": bool(data.get("notify")), "currency": data.get("currency"),
        "refund_line_items": [{"line_item_id": numeric_id(r["lineItemId"], "LineItem"), "quantity": r["quantity"],
                               "restock_type": str(r.get("restockType") or "NO_RESTOCK").lower(),
                               "location_id": numeric_id(r["locationId"], "Location") if r.get("locationId") else None}
                              for r in data.get("refundLineItems") or []],
        "transactions": [{"kind": str(t["kind"]).lower(), "gateway": t["gateway"], "amount": t["amount"],
                          "parent_id": numeric_id(t["parentId"], "OrderTransaction") if t.get("parentId") else None}
                         for t in data.get("transactions") or []],
    }
    shipping = data.get("shipping") or {}
    if shipping.get("amount") is not None:
        body["shipping"] = {"amount": shipping["amount"]}
    elif shipping.get("fullRefund"):
        body["shipping"] = {"full_refund": True}
    return body


def idempotency_key(info: Any) -> str | None:
    """The key of `@idempotent(key:)` on the field being resolved (a literal or a variable)."""
    for directive in info.field_nodes[0].directives or ():
        if directive.name.value == "idempotent":
            for argument in directive.arguments:
                if argument.name.value == "key":
                    node = argument.value
                    if hasattr(node, "value"):
                        return str(node.value)
                    return str(info.context["variables"].get(node.name.value))
    return None


def idempotent(state: ShopState, info: Any, data: Any, empty: dict, run: Any) -> dict:
    """Run `run()` once per @idempotent key (2.8): the same key with the same input answers what
    the first call answered, with other input IDEMPOTENCY_KEY_PARAMETER_MISMATCH. Without a key
    the call runs, unless the API version requires one."""
    from .graphql_schema import IDEMPOTENT_REQUIRED_SINCE

    key = idempotency_key(info)
    if key is None and info.context["version"] >= IDEMPOTENT_REQUIRED_SINCE:
        return {**empty, "userErrors": [{"field": None, "message": "The @idempotent directive is required for "
                                         "this mutation.", "code": "IDEMPOTENCY_KEY_REQUIRED"}]}
    if key is None:
        return run()
    ledger: dict = state.db.__dict__.setdefault("idempotency_keys", {})  # reset with the shop
    fingerprint = json.dumps([info.field_name, data], sort_keys=True, default=str)
    if key in ledger:
        seen, answer = ledger[key]
        if seen != fingerprint:
            return {**empty, "userErrors": [{"field": None, "message": "The same idempotency key was used with "
                                             "different parameters.", "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"}]}
        return answer
    answer = run()
    ledger[key] = (fingerprint, answer)
    return answer


def mutations(state: ShopState) -> dict:
    def order_create(info: Any, order: dict, options: dict | None = None) -> dict:
        try:
            made = create_order(state, rest_order(order, options))
        except ApiError as exc:
            return {"order": None, "userErrors": _user_errors(exc, ["order"])}
        except QueryError as exc:
            return {"order": None, "userErrors": [{"field": ["order"], "message": str(exc), "code": "INVALID"}]}
        return {"order": order_node(state, made), "userErrors": []}

    def order_cancel(info: Any, orderId: str, reason: str, restock: bool, refund: bool | None = None,  # noqa: N803
                     notifyCustomer: bool | None = None, staffNote: str | None = None) -> dict:  # noqa: N803
        # UNCONFIRMED: Shopify runs the cancel as a job; the simulator cancels at once and answers
        # with a job that is done.
        found = state.db.orders.get(numeric_id(orderId, "Order"))
        if found is None:
            errors = [{"field": ["orderId"], "message": "Order does not exist", "code": "NOT_FOUND"}]
            return {"job": None, "orderCancelUserErrors": errors, "userErrors": errors}
        try:
            cancel_order(state, found, {"reason": reason.lower(), "restock": restock, "email": bool(notifyCustomer)})
        except ApiError as exc:
            errors = _user_errors(exc, [])
            return {"job": None, "orderCancelUserErrors": errors, "userErrors": errors}
        return {"job": {"id": gid("Job", state.new_id()), "done": True}, "orderCancelUserErrors": [], "userErrors": []}

    def customer_create(info: Any, input: dict) -> dict:  # noqa: A002
        body = {"email": input.get("email"), "first_name": input.get("firstName"), "last_name": input.get("lastName"),
                "phone": input.get("phone"), "note": input.get("note"), "tags": ", ".join(input.get("tags") or []),
                "addresses": [a for a in (_rest_address(a) for a in input.get("addresses") or []) if a],
                "verified_email": False, "send_email_invite": False}
        try:
            made = create_customer(state, body)
        except ApiError as exc:
            return {"customer": None, "userErrors": _user_errors(exc, ["input"])}
        return {"customer": customer_node(made), "userErrors": []}

    def refund_create(info: Any, input: dict) -> dict:  # noqa: A002
        def run() -> dict:
            try:
                order = state.db.orders.get(numeric_id(input["orderId"], "Order"))
                if order is None:
                    return {"refund": None, "order": None, "userErrors": [
                        {"field": ["input", "orderId"], "message": "Order does not exist", "code": "NOT_FOUND"}]}
                made = create_refund(state, order, rest_refund(state, input))
            except ApiError as exc:
                return {"refund": None, "order": None, "userErrors": _user_errors(exc, ["input"])}
            except QueryError as exc:
                return {"refund": None, "order": None,
                        "userErrors": [{"field": ["input"], "message": str(exc), "code": "INVALID"}]}
            return {"refund": refund_node(state, made, order["currency"]), "order": order_node(state, order),
                    "userErrors": []}
        return idempotent(state, info, input, {"refund": None, "order": None}, run)

    def webhook_create(info: Any, topic: str, webhookSubscription: dict) -> dict:  # noqa: N803
        address = webhookSubscription.get("callbackUrl") or webhookSubscription.get("uri")
        rest_topic = topic.lower().replace("_", "/", 1)
        # Topics whose REST form has more than one word before the slash keep their underscore.
        rest_topic = {"inventory/levels_update": "inventory_levels/update",
                      "bulk/operations_finish": "bulk_operations/finish",
                      "orders/partially_fulfilled": "orders/partially_fulfilled"}.get(rest_topic, rest_topic)
        if any(s["topic"] == rest_topic and s["address"] == address for s in state.db.webhooks.values()):
            return {"webhookSubscription": None, "userErrors": [
                {"field": ["webhookSubscription", "callbackUrl"], "message": "Address for this topic has already "
                 "been taken", "code": "TAKEN"}]}
        ident = state.new_id()
        sub = {"id": ident, "address": address, "topic": rest_topic, "created_at": state.now(),
               "updated_at": state.now(), "format": str(webhookSubscription.get("format") or "json").lower(),
               "fields": [], "metafield_namespaces": [], "api_version": info.context["version"],
               "private_metafield_namespaces": [], "admin_graphql_api_id": gid("WebhookSubscription", ident)}
        state.db.webhooks[ident] = sub
        return {"webhookSubscription": webhook_node(sub), "userErrors": []}

    def webhook_delete(info: Any, id: str) -> dict:  # noqa: A002
        ident = numeric_id(id, "WebhookSubscription")
        if state.db.webhooks.pop(ident, None) is None:
            return {"deletedWebhookSubscriptionId": None, "userErrors": [
                {"field": ["id"], "message": "Webhook subscription does not exist", "code": "NOT_FOUND"}]}
        return {"deletedWebhookSubscriptionId": id, "userErrors": []}

    return {"orderCreate": order_create, "orderCancel": order_cancel, "customerCreate": customer_create,
            "refundCreate": refund_create, "webhookSubscriptionCreate": webhook_create,
            "webhookSubscriptionDelete": webhook_delete}


__all__ = ["SDL", "mutations", "order_node", "queries"]
