"""Salesforce core REST (v60.0) with Order Management: the org's records, sObject reads, writes and
upserts by external id, SOQL with nextRecordsUrl, Composite (all or none), the SOM Connect
actions, the daily API allocation (Sforce-Limit-Info, 403 REQUEST_LIMIT_EXCEEDED) and OAuth's
refresh-token grant. Facts: shared/platforms/commercetools-salesforce-rithum.md, part 3.

Handlers are plain functions `(org, method, path, query, body) -> (status, body)`, so a Composite
subrequest runs exactly what the same call on its own would run.
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import soql

API = "/services/data/v60.0"
VERSIONS = ("58.0", "59.0", "60.0", "61.0")

# 3-character key prefixes of the objects the connectors touch (the first characters of an Id).
PREFIX = {
    "Account": "001", "Order": "801", "OrderItem": "802", "Product2": "01t", "Pricebook2": "01s",
    "PricebookEntry": "01u", "OrderDeliveryGroup": "0ag", "OrderDeliveryMethod": "2Dm", "OrderItemTaxLineItem": "0ti",
    "OrderSummary": "1Os", "OrderItemSummary": "10u", "OrderDeliveryGroupSummary": "0ah", "FulfillmentOrder": "0a3",
    "FulfillmentOrderLineItem": "0a4", "Shipment": "0OB", "ShipmentItem": "0OC", "ReturnOrder": "0RO",
    "ReturnOrderLineItem": "0RL", "Location": "131", "ProductItem": "0Co", "Case": "500", "Contact": "003",
}
# Lookup relationship name -> its Id field, where the two differ by more than the "Id" suffix.
RELATIONSHIP_FIELDS = {"OriginalOrder": "OriginalOrderId"}
# Child relationship name -> (child object, the child's field pointing at the parent).
CHILDREN = {
    "ShipmentItems": ("ShipmentItem", "ShipmentId"), "OrderItems": ("OrderItem", "OrderId"),
    "OrderItemSummaries": ("OrderItemSummary", "OrderSummaryId"),
    "FulfillmentOrderLineItems": ("FulfillmentOrderLineItem", "FulfillmentOrderId"),
    "ReturnOrderLineItems": ("ReturnOrderLineItem", "ReturnOrderId"),
}
# Fields an insert must carry (a light version of the objects' required fields).
REQUIRED = {
    "Order": ("AccountId", "EffectiveDate", "Status"),
    "OrderItem": ("OrderId", "PricebookEntryId", "Quantity", "UnitPrice"),
    "OrderDeliveryGroup": ("OrderId", "OrderDeliveryMethodId", "DeliverToName"),
    "OrderItemTaxLineItem": ("OrderItemId", "Amount", "Type", "Name", "TaxEffectiveDate"),
    "ReturnOrder": ("OrderId",),
    "ReturnOrderLineItem": ("ReturnOrderId", "QuantityExpected"),
    "Account": ("LastName",),
    "Case": ("Subject",),
}
MONEY = {"UnitPrice", "ListPrice", "TotalLineAmount", "Amount", "Quantity", "QuantityOnHand", "QuantityExpected",
         "QuantityReceived", "Rate", "TotalAmount", "TotalTaxAmount", "GrandTotalAmount"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []

    def body(self) -> list[dict]:
        return [{"message": self.message, "errorCode": self.code, "fields": self.fields}]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@dataclass
class Settings:
    client_id: str = "sf-client-id"
    client_secret: str = "sf-client-secret"
    refresh_token: str = "sf-refresh-token"
    instance_url: str = ""  # what the token answer names; empty: this simulator's own URL
    daily_limit: int = 100000
    limit_exceeded_burst: int = 0  # the next N API calls are refused with REQUEST_LIMIT_EXCEEDED
    query_batch_size: int = 2000  # records per SOQL page (Salesforce: 2,000 by default)
    token_lifetime: int = 7200
    expire_tokens: bool = False  # the next API call finds its access token expired (INVALID_SESSION_ID)


@dataclass
class Org:
    settings: Settings = field(default_factory=Settings)
    records: dict[str, dict[str, dict]] = field(default_factory=dict)  # object -> Id -> record
    by_id: dict[str, tuple[str, dict]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    api_usage: int = 0
    cursors: dict[str, tuple[list[dict], int]] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _numbers: Any = field(default_factory=lambda: itertools.count(1))

    # -- records
    def new_id(self, obj: str) -> str:
        n = next(self._ids)
        return f"{PREFIX.get(obj, 'a0X')}{n:012d}AAA"

    def insert(self, obj: str, values: dict, rid: str | None = None) -> dict:
        rid = rid or self.new_id(obj)
        stamp = now()
        record = {"Id": rid, **values, "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp}
        if obj in ("Order", "OrderSummary", "FulfillmentOrder", "ReturnOrder", "Shipment") and "OrderNumber" not in record:
            record[{"Order": "OrderNumber", "OrderSummary": "OrderNumber", "FulfillmentOrder": "FulfillmentOrderNumber",
                    "ReturnOrder": "ReturnOrderNumber", "Shipment": "ShipmentNumber"}[obj]] = f"{next(self._numbers):08d}"
        self.records.setdefault(obj, {})[rid] = record
        self.by_id[rid] = (obj, record)
        return record

    def touch(self, record: dict, values: dict) -> None:
        record.update(values)
        record["LastModifiedDate"] = record["SystemModstamp"] = now()

    def get(self, rid: str | None) -> dict | None:
        found = self.by_id.get(rid or "")
        return found[1] if found else None

    def type_of(self, rid: str) -> str | None:
        found = self.by_id.get(rid)
        return found[0] if found else None

    def all(self, obj: str) -> list[dict]:
        return list(self.records.get(obj, {}).values())

    def find(self, obj: str, **where: Any) -> list[dict]:
        return [r for r in self.all(obj) if all(r.get(k) == v for k, v in where.items())]

    def snapshot(self) -> tuple:
        return copy.deepcopy((self.records, self.api_usage)), next(self._ids)

    def restore(self, snap: tuple) -> None:
        (records, usage), _ = snap
        self.records = records
        self.by_id = {rid: (obj, rec) for obj, recs in records.items() for rid, rec in recs.items()}

    # -- field reads (dotted parents)
    def read(self, record: dict, path: str) -> Any:
        current: Any = record
        parts = path.split(".")
        for i, part in enumerate(parts):
            if current is None:
                return None
            if i == len(parts) - 1:
                return current.get(part)
            current = self.get(current.get(RELATIONSHIP_FIELDS.get(part, part + "Id")))
        return current

    def totals(self, order: dict) -> dict:
        items = self.find("OrderItem", OrderId=order["Id"])
        total = sum((Decimal(str(i.get("TotalLineAmount") or 0)) for i in items), Decimal(0))
        tax = sum((Decimal(str(t.get("Amount") or 0)) for i in items
                   for t in self.find("OrderItemTaxLineItem", OrderItemId=i["Id"])), Decimal(0))
        return {"TotalAmount": total, "TotalTaxAmount": tax, "GrandTotalAmount": total + tax}


def _attributes(obj: str, rid: str) -> dict:
    return {"type": obj, "url": f"{API}/sobjects/{obj}/{rid}"}


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral() else int(value)
    return value


def present(org: Org, obj: str, record: dict, fields: list[str] | None = None) -> dict:
    """A record as the API shows it: attributes first, money as JSON numbers, parents nested."""
    out: dict[str, Any] = {"attributes": _attributes(obj, record["Id"])}
    if obj == "Order":
        record = {**record, **org.totals(record)}
    if fields is None:
        out.update({k: _json_value(v) for k, v in record.items()})
        return out
    for name in fields:
        parts = name.split(".")
        if len(parts) == 1:
            out[name] = _json_value(record.get(name))
            continue
        # Parent fields nest: Product2.StockKeepingUnit -> {"Product2": {"attributes", "StockKeepingUnit"}}
        target, current = out, record
        for part in parts[:-1]:
            parent = org.get(current.get(RELATIONSHIP_FIELDS.get(part, part + "Id"))) if current else None
            if parent is None:
                target[part] = target.get(part) if isinstance(target.get(part), dict) else None
                break
            ptype = org.type_of(parent["Id"]) or ""
            if not isinstance(target.get(part), dict):
                target[part] = {"attributes": _attributes(ptype, parent["Id"])}
            target, current = target[part], parent
            if ptype == "Order":
                current = {**parent, **org.totals(parent)}
        else:
            target[parts[-1]] = _json_value(current.get(parts[-1]))
    return out


def run_query(org: Org, text: str) -> list[dict]:
    try:
        query = soql.parse(text)
    except soql.SoqlError as exc:
        raise ApiError(400, "MALFORMED_QUERY", str(exc)) from None
    if query.obj not in PREFIX:
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{query.obj}' is not supported.")
    return _select(org, query, org.all(query.obj))


def _select(org: Org, query: soql.Query, candidates: list[dict]) -> list[dict]:
    rows = [r for r in candidates if soql.matches(query.where, lambda f, r=r: org.read(r, f))]
    for name, desc in reversed(query.order_by):
        rows.sort(key=lambda r, n=name: (org.read(r, n) is None, str(org.read(r, n) or "")), reverse=desc)
    if query.limit is not None:
        rows = rows[:query.limit]
    out = []
    for row in rows:
        item = present(org, query.obj, row, query.fields)
        for child in query.children:
            if child.relationship not in CHILDREN:
                raise ApiError(400, "INVALID_TYPE", f"Didn't understand relationship '{child.relationship}'")
            obj, parent_field = CHILDREN[child.relationship]
            sub = _select(org, soql.Query(obj, child.fields, [], "", child.where, child.order_by, child.limit),
                          org.find(obj, **{parent_field: row["Id"]}))
            item[child.relationship] = {"totalSize": len(sub), "done": True, "records": sub} if sub else None
        out.append(item)
    return out


def query_page(org: Org, rows: list[dict], start: int) -> dict:
    size = org.settings.query_batch_size
    page = rows[start:start + size]
    body: dict[str, Any] = {"totalSize": len(rows), "done": start + size >= len(rows), "records": page}
    if not body["done"]:
        locator = f"01g{len(org.cursors):012d}AAA"
        org.cursors[locator] = (rows, start + size)
        body["nextRecordsUrl"] = f"{API}/query/{locator}-{start + size}"
    return body


# ------------------------------------------------------------------------------ writes


def _resolve_references(org: Org, obj: str, values: dict) -> dict:
    """Relationship fields given by external id ({"OrderItem": {"Channel_Line_Id__c": "x"}}) -> the Id."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict) and len(value) == 1 and not key.endswith("Id"):
            ext_field, ext_value = next(iter(value.items()))
            target = key if key in PREFIX else None
            if target is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on entity '{obj}'.", [key])
            found = org.find(target, **{ext_field: ext_value})
            if not found:
                raise ApiError(400, "INVALID_FIELD", f"Foreign key external ID: {ext_value} not found for field "
                                                      f"{ext_field} in entity {target}", [key])
            out[RELATIONSHIP_FIELDS.get(key, key + "Id")] = found[0]["Id"]
        elif key in MONEY and value is not None:
            try:
                out[key] = Decimal(str(value))
            except ArithmeticError:
                raise ApiError(400, "JSON_PARSER_ERROR", f"Cannot deserialize {value!r} as a number for {key}",
                               [key]) from None
        else:
            out[key] = value
    return out


def _check_write(org: Org, obj: str, values: dict, existing: dict | None) -> None:
    for key, value in values.items():
        if key.endswith("Id") and key not in ("Id",) and value not in (None, "") and isinstance(value, str):
            if org.get(value) is None:
                raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {value}", [key])
    if existing is None:
        missing = [f for f in REQUIRED.get(obj, ()) if values.get(f) in (None, "")]
        if missing:
            raise ApiError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
    order_id = values.get("OrderId") or (existing or {}).get("OrderId")
    if obj in ("OrderItem", "OrderDeliveryGroup") and order_id:
        order = org.get(order_id)
        if order and order.get("Status") == "Activated":
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION",
                           "You can't add or change products, delivery groups or prices of an activated order.")
    if obj == "Order" and existing is not None and values.get("Status") == "Activated" \
            and existing.get("Status") != "Activated":
        if not org.find("OrderItem", OrderId=existing["Id"]):
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", "You can't activate an order without products.")
    if obj == "Order" and existing is not None and existing.get("Status") == "Activated" \
            and values.get("Status") not in (None, "Activated"):
        raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", "You can't change the status of an activated order.")


def create(org: Org, obj: str, values: dict) -> dict:
    values = _resolve_references(org, obj, values)
    _check_write(org, obj, values, None)
    return org.insert(obj, values)


def update(org: Org, obj: str, record: dict, values: dict) -> None:
    values = _resolve_references(org, obj, values)
    _check_write(org, obj, values, record)
    org.touch(record, values)


def upsert(org: Org, obj: str, ext_field: str, ext_value: str, values: dict) -> tuple[int, dict]:
    if ext_field in values and values[ext_field] != ext_value:
        raise ApiError(400, "INVALID_FIELD", f"{ext_field} in the body does not match the URL", [ext_field])
    found = org.find(obj, **{ext_field: ext_value})
    if len(found) > 1:
        raise ApiError(300, "MULTIPLE_CHOICES", f"more than one record has {ext_field} {ext_value}")
    if found:
        update(org, obj, found[0], values)
        return 200, {"id": found[0]["Id"], "success": True, "errors": [], "created": False}
    record = create(org, obj, {**values, ext_field: ext_value})
    return 201, {"id": record["Id"], "success": True, "errors": [], "created": True}


# ------------------------------------------------------------------------------ Connect (SOM)


def create_order_summary(org: Org, body: dict) -> tuple[int, Any]:
    order = org.get((body or {}).get("orderId"))
    if order is None or org.type_of(order["Id"]) != "Order":
        raise ApiError(400, "INVALID_ID_FIELD", "Specify a valid order ID.")
    if order.get("Status") != "Activated":
        raise ApiError(400, "INVALID_STATUS", "The order must be activated before an order summary is created.")
    if org.find("OrderSummary", OriginalOrderId=order["Id"]):
        raise ApiError(400, "DUPLICATE_VALUE", "An order summary already exists for this order.")
    lifecycle = (body or {}).get("orderLifeCycleType") or "MANAGED"
    if lifecycle not in ("MANAGED", "UNMANAGED"):
        raise ApiError(400, "INVALID_API_INPUT", f"orderLifeCycleType {lifecycle!r} is not MANAGED or UNMANAGED")
    totals = org.totals(order)
    summary = org.insert("OrderSummary", {
        "OriginalOrderId": order["Id"], "AccountId": order.get("AccountId"), "Status": "Created",
        "OrderLifeCycleType": lifecycle, "OrderedDate": order.get("OrderedDate"),
        "SalesChannelId": order.get("SalesChannelId"), **totals,
        # Custom fields with the same name on Order and OrderSummary are copied over.
        **{k: v for k, v in order.items() if k.endswith("__c")}})
    groups = {}
    for group in org.find("OrderDeliveryGroup", OrderId=order["Id"]):
        groups[group["Id"]] = org.insert("OrderDeliveryGroupSummary", {
            "OrderSummaryId": summary["Id"], "OriginalOrderDeliveryGroupId": group["Id"],
            "OrderDeliveryMethodId": group.get("OrderDeliveryMethodId"), "DeliverToName": group.get("DeliverToName")})
    for item in org.find("OrderItem", OrderId=order["Id"]):
        product = org.get(item.get("Product2Id")) or {}
        org.insert("OrderItemSummary", {
            "OrderSummaryId": summary["Id"], "OriginalOrderItemId": item["Id"], "Product2Id": item.get("Product2Id"),
            "StockKeepingUnit": product.get("StockKeepingUnit"), "Quantity": item.get("Quantity"),
            "QuantityOrdered": item.get("Quantity"), "QuantityFulfilled": Decimal(0), "Type": item.get("Type"),
            "UnitPrice": item.get("UnitPrice"), "TotalLineAmount": item.get("TotalLineAmount"),
            "OrderDeliveryGroupSummaryId": (groups.get(item.get("OrderDeliveryGroupId")) or {}).get("Id"),
            "Status": "ORDERED"})
    return 201, {"orderSummaryId": summary["Id"], "success": True, "errors": []}


def create_fulfillment_orders(org: Org, body: dict) -> tuple[int, Any]:
    body = body or {}
    summary = org.get(body.get("orderSummaryId"))
    if summary is None:
        raise ApiError(400, "INVALID_ID_FIELD", "Specify a valid order summary ID.")
    group = org.get(body.get("orderDeliveryGroupSummaryId"))
    if group is None:
        raise ApiError(400, "INVALID_ID_FIELD", "Specify a valid order delivery group summary ID.")
    ids = []
    for plan in body.get("fulfillmentGroups") or []:
        location = org.get(plan.get("fulfilledFromLocationId"))
        if location is None:
            raise ApiError(400, "INVALID_ID_FIELD", "Specify a valid location ID.")
        fo = org.insert("FulfillmentOrder", {
            "OrderSummaryId": summary["Id"], "FulfilledFromLocationId": location["Id"],
            "DeliveryMethodId": group.get("OrderDeliveryMethodId"), "FulfilledToName": group.get("DeliverToName"),
            "Status": "Allocated", "StatusCategory": "Activated", "Type": plan.get("fulfillmentType") or "Warehouse",
            "AccountId": summary.get("AccountId")})
        for line in plan.get("orderItemSummaries") or []:
            ois = org.get(line.get("orderItemSummaryId"))
            if ois is None:
                raise ApiError(400, "INVALID_ID_FIELD", "Specify a valid order item summary ID.")
            org.insert("FulfillmentOrderLineItem", {
                "FulfillmentOrderId": fo["Id"], "OrderItemSummaryId": ois["Id"], "OrderItemId": ois["OriginalOrderItemId"],
                "Product2Id": ois.get("Product2Id"), "Quantity": Decimal(str(line.get("quantity"))),
                "Type": ois.get("Type")})
        ids.append(fo["Id"])
    return 201, {"fulfillmentOrderIds": ids, "success": True, "errors": []}


CONNECT = {
    "commerce/order-management/order-summaries": create_order_summary,
    "commerce/fulfillment/fulfillment-orders": create_fulfillment_orders,
}


# ------------------------------------------------------------------------------ dispatch


_SOBJECT = re.compile(r"^/sobjects/(?P<obj>[A-Za-z0-9_]+)(?:/(?P<a>[^/]+)(?:/(?P<b>[^/]+))?)?/?$")


def dispatch(org: Org, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
    """One API call (path after /services/data/vXX.X). Raises ApiError for the error answers."""
    method = method.upper()
    if path == "/query" or path == "/queryAll":
        if method != "GET":
            raise ApiError(405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed")
        text = query.get("q")
        if not text:
            raise ApiError(400, "MALFORMED_QUERY", "The q parameter is required")
        return 200, query_page(org, run_query(org, text), 0)
    more = re.fullmatch(r"/query/(?P<locator>[A-Za-z0-9]+)-(?P<start>\d+)", path)
    if more:
        found = org.cursors.get(more.group("locator"))
        if found is None:
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return 200, query_page(org, found[0], int(more.group("start")))
    if path == "/composite" and method == "POST":
        return 200, composite(org, body)
    if path.startswith("/commerce/"):
        handler = CONNECT.get(path.strip("/"))
        if handler is None or method != "POST":
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return handler(org, body)
    match = _SOBJECT.match(path)
    if not match:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    obj, a, b = match.group("obj"), match.group("a"), match.group("b")
    if obj not in PREFIX:
        raise ApiError(404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{obj}'")
    if a is None:
        if method == "POST":
            record = create(org, obj, dict(body or {}))
            return 201, {"id": record["Id"], "success": True, "errors": []}
        if method == "GET":
            return 200, {"objectDescribe": {"name": obj}, "recentItems": []}
        raise ApiError(405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed")
    if b is not None:  # /sobjects/Obj/ExtField/value: upsert (PATCH) or read by external id (GET)
        value = unquote(b)
        if method == "PATCH":
            return upsert(org, obj, a, value, dict(body or {}))
        if method == "GET":
            found = org.find(obj, **{a: value})
            if not found:
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            return 200, present(org, obj, found[0])
        raise ApiError(405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed")
    record = org.get(a)
    if record is None or org.type_of(a) != obj:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    if method == "GET":
        fields = query.get("fields")
        return 200, present(org, obj, record, fields.split(",") if fields else None)
    if method == "PATCH":
        update(org, obj, record, dict(body or {}))
        return 204, None
    if method == "DELETE":
        del org.records[obj][a]
        del org.by_id[a]
        return 204, None
    raise ApiError(405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed")


_REF = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        def one(match: re.Match) -> str:
            ref, path = match.group(1), match.group(2)
            if ref not in results:
                raise ApiError(400, "INVALID_REFERENCE", f"Invalid reference specified. No value for {ref} found")
            current = results[ref]
            for part in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
                try:
                    current = current[part[0]] if part[0] else current[int(part[1])]
                except (KeyError, IndexError, TypeError):
                    raise ApiError(400, "INVALID_REFERENCE",
                                   f"Invalid reference specified. No value for {ref}{path} found in {ref}") from None
            return str(current)
        return _REF.sub(one, value)
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    return value


def composite(org: Org, body: Any) -> dict:
    body = body or {}
    requests = body.get("compositeRequest") or []
    if not requests or len(requests) > 25:
        raise ApiError(400, "INVALID_BATCH_REQUEST",
                       f"A composite request holds 1 to 25 subrequests; this one has {len(requests)}")
    refs = [str(r.get("referenceId") or "") for r in requests]
    bad = [ref for ref in refs if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", ref)]
    if bad:
        raise ApiError(400, "INVALID_INPUT", f"referenceId {bad[0]!r}: letters, digits and _ only, starting with a letter")
    if len(set(refs)) != len(refs):
        duplicate = next(ref for ref in refs if refs.count(ref) > 1)
        raise ApiError(400, "INVALID_INPUT", f"Duplicate referenceId provided in the request: {duplicate}")
    queries = sum(1 for r in requests if "/query" in str(r.get("url", "")))
    if queries > 5:
        raise ApiError(400, "INVALID_BATCH_REQUEST", "A composite request holds at most 5 queries")
    all_or_none = bool(body.get("allOrNone"))
    snap = org.snapshot() if all_or_none else None
    results: dict[str, Any] = {}
    out: list[dict] = []
    failed = False
    for sub in requests:
        ref = sub.get("referenceId")
        if failed and all_or_none:
            out.append({"body": [{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back "
                                  "since another operation in the same transaction failed."}],
                        "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref})
            continue
        try:
            url = _substitute(sub.get("url") or "", results)
            parts = urlsplit(url)
            path = re.sub(r"^/services/data/v[0-9.]+", "", parts.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            status, answer = dispatch(org, sub.get("method") or "GET", path, query, _substitute(sub.get("body"), results))
            results[ref] = answer
            out.append({"body": answer, "httpHeaders": {}, "httpStatusCode": status, "referenceId": ref})
        except ApiError as exc:
            failed = True
            out.append({"body": exc.body(), "httpHeaders": {}, "httpStatusCode": exc.status, "referenceId": ref})
    if failed and all_or_none and snap is not None:
        org.restore(snap)
        out = [entry if entry["httpStatusCode"] >= 400 else
               {**entry, "body": [{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back "
                                   "since another operation in the same transaction failed."}],
                "httpStatusCode": 400} for entry in out]
    return {"compositeResponse": out}
