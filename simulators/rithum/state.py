"""In-memory Rithum (ChannelAdvisor) account: products (parents and children), distribution
centers with per-DC quantities, orders with items, fulfillments and adjustments, the export flag,
OAuth tokens, and the request log and counters tests read.

Field names follow shared/platforms (section 4, from the C# client's models). Behaviour that no
source confirms is marked UNCONFIRMED and, where a test may want the other choice, is a setting.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

PROFILE_ID = 12345678


class ApiError(Exception):
    """An error answer: {"error": {"code", "message"}} with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def now() -> str:
    """UTC with milliseconds, as the service writes its *Utc fields."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def dec(value: Any, field: str) -> Decimal:
    if value is None or value == "":
        return Decimal("0")
    if isinstance(value, bool):
        raise ApiError(400, "InvalidValue", f"The value of '{field}' is not a number.")
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise ApiError(400, "InvalidValue", f"The value of '{field}' is not a number.") from None
    if not out.is_finite():
        raise ApiError(400, "InvalidValue", f"The value of '{field}' is not a number.")
    return out


@dataclass
class Settings:
    """Change with POST /_admin/config."""

    # 4.3: per account (profile) 2,000 requests per minute; per integration 5 concurrent requests.
    requests_per_minute: int = 2000
    window_seconds: float = 60.0
    max_concurrent: int = 5
    # Seconds the answer is held back (makes concurrency observable in tests).
    latency_seconds: float = 0.0
    # 4.2: orders at most 100 per page. UNCONFIRMED: the product page size; 100 is taken.
    order_page_size: int = 100
    product_page_size: int = 100
    # 4.1: access tokens live an hour.
    token_ttl_seconds: int = 3600
    # UNCONFIRMED: the Retry-After header on a 429 (CAA backs off on its own).
    retry_after_seconds: int = 1

    def update(self, values: dict) -> None:
        known = {f.name: f for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown setting {key!r}; known: {', '.join(sorted(known))}")
            setattr(self, key, type(getattr(self, key))(value))


PRODUCT_FIELDS = ("Sku", "Title", "Subtitle", "ShortDescription", "Description", "Brand", "Manufacturer", "MPN",
                  "UPC", "EAN", "ISBN", "ASIN", "Classification", "Condition", "Flag", "Warranty",
                  "RelationshipName", "HarmonizedCode", "TaxProductCode")
PRODUCT_MONEY = ("Cost", "RetailPrice", "StartingPrice", "ReservePrice", "BuyItNowPrice", "StorePrice",
                 "SecondChancePrice", "MinPrice", "MaxPrice", "RetailMAP")
PRODUCT_DIMENSIONS = ("Weight", "Height", "Length", "Width")
ORDER_MONEY = ("TotalPrice", "TotalTaxPrice", "TotalShippingPrice", "TotalShippingTaxPrice", "TotalInsurancePrice",
               "TotalGiftOptionPrice", "TotalGiftOptionTaxPrice", "AdditionalCostOrDiscount")
ADDRESS_PARTS = ("FirstName", "LastName", "CompanyName", "Phone", "AddressLine1", "AddressLine2", "City",
                 "StateOrProvince", "StateOrProvinceName", "PostalCode", "Country")
ITEM_MONEY = ("UnitPrice", "TaxPrice", "ShippingPrice", "ShippingTaxPrice", "GiftPrice", "GiftTaxPrice",
              "RecyclingFee", "UnitEstimatedShippingCost")


class Account:
    def __init__(self, *, application_id: str, shared_secret: str, refresh_token: str) -> None:
        self.application_id = application_id
        self.shared_secret = shared_secret
        self.refresh_token = refresh_token
        self.settings = Settings()
        self.reset()

    def reset(self) -> None:
        self.products: dict[int, dict] = {}
        self.dcs: dict[int, dict] = {}
        self.dc_quantities: dict[tuple[int, int], dict] = {}  # (product id, dc id)
        self.attributes: dict[int, list[dict]] = {}
        self.images: dict[int, list[dict]] = {}
        self.orders: dict[int, dict] = {}
        self.items: dict[int, dict] = {}
        self.fulfillments: dict[int, dict] = {}
        self.adjustments: dict[int, dict] = {}
        self.exported: set[int] = set()  # per developer key + application: one application here
        self.tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
        self.requests: list[dict] = []
        self.stats = {"requests": 0, "throttled": 0, "throttled_rate": 0, "throttled_concurrency": 0,
                      "peak_concurrency": 0, "token_grants": 0, "unauthorized": 0}
        self._next = {"product": 1_000_001, "dc": 1, "order": 500_001, "item": 800_001, "fulfillment": 900_001,
                      "adjustment": 700_001}
        self.add_dc({"Name": "Main Warehouse", "Code": "MAIN", "Type": "Warehouse"})
        self.add_dc({"Name": "East DC", "Code": "EAST", "Type": "Warehouse"})

    def next_id(self, kind: str) -> int:
        self._next[kind] += 1
        return self._next[kind]

    # -- distribution centers ------------------------------------------------------------------

    def add_dc(self, data: dict) -> dict:
        ident = int(data.get("ID") or self.next_id("dc"))
        dc = {"ID": ident, "ProfileID": PROFILE_ID, "Code": data.get("Code") or f"DC{ident}",
              "Name": data.get("Name") or f"DC {ident}", "ContactName": None, "ContactEmail": None,
              "ContactPhone": None, "Address1": data.get("Address1"), "Address2": None,
              "City": data.get("City"), "StateOrProvince": data.get("StateOrProvince"),
              "Country": data.get("Country", "US"), "PostalCode": data.get("PostalCode"),
              "PickupLocation": False, "ShipLocation": True, "Type": data.get("Type", "Warehouse"),
              "FulfillmentPartnerName": None, "ExternallyManaged": False, "IsExternallyManaged": False,
              "IsDeleted": False, "DeletedDateUtc": None}
        self.dcs[ident] = dc
        return dc

    # -- products ------------------------------------------------------------------------------

    def create_product(self, data: dict) -> dict:
        if not isinstance(data, dict):
            raise ApiError(400, "InvalidRequest", "The request body must be a JSON object.")
        sku = data.get("Sku")
        if not isinstance(sku, str) or not sku.strip():
            raise ApiError(400, "RequiredField", "The field 'Sku' is required.")
        if any(p["Sku"] == sku for p in self.products.values()):
            raise ApiError(409, "DuplicateSku", f"A product with Sku '{sku}' already exists.")
        parent_id = data.get("ParentProductID")
        if parent_id is not None:
            parent = self.products.get(int(parent_id))
            if parent is None:
                raise ApiError(400, "InvalidValue", f"Parent product {parent_id} does not exist.")
            parent["IsParent"], parent["IsInRelationship"] = True, True
        stamp = now()
        ident = self.next_id("product")
        product: dict[str, Any] = {
            "ID": ident, "ProfileID": PROFILE_ID, "CreateDateUtc": stamp, "UpdateDateUtc": stamp,
            "QuantityUpdateDateUtc": stamp, "LastSaleDateUtc": None, "IsAvailableInStore": True,
            "IsBlocked": bool(data.get("IsBlocked", False)), "IsExternalQuantityBlocked": False,
            "IsParent": bool(data.get("IsParent", False)), "IsInRelationship": parent_id is not None
            or bool(data.get("IsParent", False)), "ParentProductID": None if parent_id is None else int(parent_id),
            "TotalAvailableQuantity": 0, "OpenAllocatedQuantity": 0, "PendingCheckoutQuantity": 0,
            "PendingPaymentQuantity": 0, "PendingShipmentQuantity": 0, "TotalQuantity": 0,
        }
        for name in PRODUCT_FIELDS:
            product[name] = data.get(name)
        for name in PRODUCT_MONEY + PRODUCT_DIMENSIONS:
            product[name] = None if data.get(name) is None else dec(data[name], name)
        self.products[ident] = product
        self.attributes[ident] = [{"ProductID": ident, "ProfileID": PROFILE_ID, "Name": a["Name"],
                                   "Value": a.get("Value")} for a in data.get("Attributes") or []]
        self.images[ident] = [{"ProductID": ident, "ProfileID": PROFILE_ID,
                               "PlacementName": img.get("PlacementName") or f"ITEMIMAGEURL{i + 1}",
                               "Abbreviation": f"IMG{i + 1}", "Url": img["Url"]}
                              for i, img in enumerate(data.get("Images") or [])]
        for entry in data.get("DCQuantities") or []:
            self._set_quantity(ident, int(entry["DistributionCenterID"]), int(entry.get("AvailableQuantity", 0)))
        self._totals(ident)
        return product

    def product(self, ident: int) -> dict:
        found = self.products.get(ident)
        if found is None:
            raise ApiError(404, "NotFound", f"Product with ID {ident} was not found.")
        return found

    def update_product(self, ident: int, data: dict) -> None:
        product = self.product(ident)
        if not isinstance(data, dict):
            raise ApiError(400, "InvalidRequest", "The request body must be a JSON object.")
        for key, value in data.items():
            if key in PRODUCT_FIELDS:
                product[key] = value
            elif key in PRODUCT_MONEY + PRODUCT_DIMENSIONS:
                product[key] = None if value is None else dec(value, key)
            elif key in ("IsBlocked",):
                product[key] = bool(value)
            else:
                raise ApiError(400, "InvalidProperty", f"The property '{key}' cannot be updated.")
        product["UpdateDateUtc"] = now()

    def _set_quantity(self, product_id: int, dc_id: int, quantity: int) -> None:
        if dc_id not in self.dcs:
            raise ApiError(400, "InvalidValue", f"Distribution center {dc_id} does not exist.")
        self.dc_quantities[(product_id, dc_id)] = {"ProductID": product_id, "ProfileID": PROFILE_ID,
                                                   "DistributionCenterID": dc_id, "AvailableQuantity": quantity}

    def _totals(self, product_id: int) -> None:
        product = self.products[product_id]
        total = sum(q["AvailableQuantity"] for (pid, _), q in self.dc_quantities.items() if pid == product_id)
        product["TotalAvailableQuantity"] = total
        product["TotalQuantity"] = total + product["OpenAllocatedQuantity"]

    def update_quantity(self, product_id: int, body: Any) -> None:
        """4.4 POST Products({id})/UpdateQuantity: {"Value": {"UpdateType", "Updates": [{DistributionCenterID,
        Quantity}]}}. Absolute and Available set the DC's available quantity; Relative adds to it;
        InStock and UnShipped take the count on the shelf, from which the units of open (unshipped)
        orders are taken (UNCONFIRMED: how exactly UnShipped splits open orders across DCs; here
        the product's open allocation is taken from the first DC updated)."""
        product = self.product(product_id)
        value = body.get("Value") if isinstance(body, dict) else None
        if not isinstance(value, dict):
            raise ApiError(400, "InvalidRequest", "The request body must have a 'Value' object.")
        kind = value.get("UpdateType")
        if kind not in ("Absolute", "Relative", "Available", "InStock", "UnShipped"):
            raise ApiError(400, "InvalidValue", f"UpdateType '{kind}' is not valid.")
        updates = value.get("Updates")
        if not isinstance(updates, list) or not updates:
            raise ApiError(400, "RequiredField", "The field 'Updates' is required.")
        if product["IsParent"]:
            raise ApiError(400, "InvalidOperation", "Quantities of a parent product cannot be updated.")
        allocated = product["OpenAllocatedQuantity"]
        for update in updates:
            try:
                dc_id, quantity = int(update["DistributionCenterID"]), int(update["Quantity"])
            except (KeyError, TypeError, ValueError):
                raise ApiError(400, "InvalidValue", "Each update needs DistributionCenterID and Quantity.") from None
            current = self.dc_quantities.get((product_id, dc_id), {}).get("AvailableQuantity", 0)
            if kind == "Relative":
                quantity = current + quantity
            elif kind in ("InStock", "UnShipped"):
                quantity, allocated = quantity - allocated, 0
            self._set_quantity(product_id, dc_id, quantity)
        product["QuantityUpdateDateUtc"] = product["UpdateDateUtc"] = now()
        self._totals(product_id)

    def _take_stock(self, product_id: int, quantity: int) -> None:
        """An order's units leave the available quantity (first DC with stock first) and are allocated."""
        product = self.products[product_id]
        left = quantity
        for (pid, _dc), level in sorted(self.dc_quantities.items()):
            if pid == product_id and left > 0:
                taken = min(left, max(level["AvailableQuantity"], 0))
                level["AvailableQuantity"] -= taken
                left -= taken
        if left > 0:
            first = min((k for k in self.dc_quantities if k[0] == product_id), default=None)
            if first is not None:
                self.dc_quantities[first]["AvailableQuantity"] -= left
        product["OpenAllocatedQuantity"] += quantity
        product["QuantityUpdateDateUtc"] = product["UpdateDateUtc"] = now()
        self._totals(product_id)

    def _release(self, product_id: int, quantity: int, restock: bool) -> None:
        product = self.products[product_id]
        product["OpenAllocatedQuantity"] = max(0, product["OpenAllocatedQuantity"] - quantity)
        if restock:
            first = min((k for k in self.dc_quantities if k[0] == product_id), default=None)
            if first is not None:
                self.dc_quantities[first]["AvailableQuantity"] += quantity
        product["QuantityUpdateDateUtc"] = product["UpdateDateUtc"] = now()
        self._totals(product_id)

    def by_sku(self, sku: str) -> dict | None:
        return next((p for p in self.products.values() if p["Sku"] == sku), None)

    # -- orders ----------------------------------------------------------------------------------

    def create_order(self, data: Any) -> dict:
        """POST /v1/Orders (UNCONFIRMED beyond third-party code: an order from a channel Rithum does
        not connect to itself). Items name a Sku of the account; the units are allocated."""
        if not isinstance(data, dict):
            raise ApiError(400, "InvalidRequest", "The request body must be a JSON object.")
        items = data.get("Items")
        if not isinstance(items, list) or not items:
            raise ApiError(400, "RequiredField", "An order needs at least one item.")
        resolved = []
        for i, item in enumerate(items):
            product = self.by_sku(str(item.get("Sku") or ""))
            if product is None:
                raise ApiError(400, "InvalidValue", f"Items[{i}].Sku '{item.get('Sku')}' is not a product.")
            if product["IsParent"]:
                raise ApiError(400, "InvalidValue", f"Items[{i}].Sku '{item.get('Sku')}' is a parent product.")
            quantity = int(item.get("Quantity") or 0)
            if quantity < 1:
                raise ApiError(400, "InvalidValue", f"Items[{i}].Quantity must be at least 1.")
            resolved.append((product, quantity, item))
        stamp = now()
        ident = self.next_id("order")
        order: dict[str, Any] = {
            "ID": ident, "ProfileID": PROFILE_ID, "SiteID": int(data.get("SiteID") or 0),
            "SiteName": data.get("SiteName"), "UserDataPresent": True, "UserDataRemovalDateUTC": None,
            "SiteAccountID": data.get("SiteAccountID"), "SiteOrderID": data.get("SiteOrderID"),
            "SecondarySiteOrderID": data.get("SecondarySiteOrderID"), "SellerOrderID": data.get("SellerOrderID"),
            "CheckoutSourceID": None, "Currency": data.get("Currency") or "USD",
            "CreatedDateUtc": stamp, "ImportDateUtc": stamp, "PublicNotes": data.get("PublicNotes"),
            "PrivateNotes": data.get("PrivateNotes"), "SpecialInstructions": data.get("SpecialInstructions"),
            "AcknowledgedDateUtc": None, "UpdatedDateUtc": stamp,
            "CheckoutDateUtc": data.get("CheckoutDateUtc") or stamp,
            "PaymentDateUtc": data.get("PaymentDateUtc") or stamp, "ShippingDateUtc": None,
            "BuyerUserID": data.get("BuyerUserID"), "BuyerEmailAddress": data.get("BuyerEmailAddress"),
            "BuyerEmailOptIn": False, "OrderTaxType": data.get("OrderTaxType", "Exclusive"),
            "ShippingTaxType": "Exclusive", "GiftOptionsTaxType": "Exclusive",
            "PaymentMethod": data.get("PaymentMethod"), "PaymentTransactionID": data.get("PaymentTransactionID"),
            "PaymentMerchantReferenceNumber": data.get("PaymentMerchantReferenceNumber"),
            "CheckoutStatus": data.get("CheckoutStatus") or "Completed",
            "PaymentStatus": data.get("PaymentStatus") or "Cleared",
            "ShippingStatus": data.get("ShippingStatus") or "Unshipped",
            "RequestedShippingCarrier": data.get("RequestedShippingCarrier"),
            "RequestedShippingClass": data.get("RequestedShippingClass"),
            "DistributionCenterTypeRollup": "ExternallyManaged" if data.get("IsExternallyFulfilled")
            else "SellerManaged", "IsExternallyFulfilled": bool(data.get("IsExternallyFulfilled")),
            "IsInRelationship": False,
        }
        for name in ORDER_MONEY:
            order[name] = dec(data.get(name), name)
        for prefix in ("Shipping", "Billing"):
            for part in ADDRESS_PARTS:
                order[f"{prefix}{part}"] = data.get(f"{prefix}{part}")
        self.orders[ident] = order
        for product, quantity, item in resolved:
            item_id = self.next_id("item")
            row: dict[str, Any] = {"ID": item_id, "ProfileID": PROFILE_ID, "OrderID": ident,
                                   "ProductID": product["ID"], "SiteListingID": item.get("SiteListingID"),
                                   "SiteOrderItemID": item.get("SiteOrderItemID"),
                                   "SellerOrderItemID": item.get("SellerOrderItemID"), "Sku": product["Sku"],
                                   "Title": item.get("Title") or product["Title"], "Quantity": quantity,
                                   "GiftMessage": None, "GiftNotes": None}
            for name in ITEM_MONEY:
                row[name] = dec(item.get(name), name)
            self.items[item_id] = row
            # A marketplace that ships from its own warehouse takes nothing from the account's DCs;
            # an order that shipped before it arrived took its units already.
            if not order["IsExternallyFulfilled"]:
                self._take_stock(product["ID"], quantity)
                if order["ShippingStatus"] == "Shipped":
                    self._release(product["ID"], quantity, restock=False)
        fulfillment_id = self.next_id("fulfillment")
        # 4.4/Fulfillment: every order starts with one fulfillment that carries the requested carrier and class.
        self.fulfillments[fulfillment_id] = {
            "ID": fulfillment_id, "ProfileID": PROFILE_ID, "OrderID": ident, "CreatedDateUtc": stamp,
            "UpdatedDateUtc": stamp, "Type": "Ship", "DeliveryStatus": "NoChange", "TrackingNumber": None,
            "ShippingCarrier": order["RequestedShippingCarrier"], "ShippingClass": order["RequestedShippingClass"],
            "DistributionCenterID": min(self.dcs), "ShippedDateUtc": None, "SellerFulfillmentID": None,
            "ShippingCost": Decimal("0"), "InsuranceCost": Decimal("0"), "TaxCost": Decimal("0"),
            "Items": [{"FulfillmentID": fulfillment_id, "OrderItemID": i["ID"], "ProductID": i["ProductID"],
                       "Quantity": i["Quantity"], "OrderID": ident, "ProfileID": PROFILE_ID}
                      for i in self.items.values() if i["OrderID"] == ident],
        }
        return order

    def order(self, ident: int) -> dict:
        found = self.orders.get(ident)
        if found is None:
            raise ApiError(404, "NotFound", f"Order with ID {ident} was not found.")
        return found

    def order_items(self, ident: int) -> list[dict]:
        return [i for i in self.items.values() if i["OrderID"] == ident]

    def order_fulfillments(self, ident: int) -> list[dict]:
        return [f for f in self.fulfillments.values() if f["OrderID"] == ident]

    def order_adjustments(self, ident: int) -> list[dict]:
        return [a for a in self.adjustments.values() if a["OrderID"] == ident]

    def _touch(self, order: dict) -> None:
        order["UpdatedDateUtc"] = now()

    def export(self, ident: int, exported: bool) -> None:
        """4.4 POST (mark) / DELETE (unmark) Orders({id})/Export."""
        order = self.order(ident)
        if exported:
            self.exported.add(ident)
            order["AcknowledgedDateUtc"] = order["AcknowledgedDateUtc"] or now()
        else:
            self.exported.discard(ident)

    def ship(self, ident: int, body: Any) -> None:
        """4.4 POST Orders({id})/Ship: the order's open fulfillment becomes a shipped one with the
        tracking; the allocated units leave the account."""
        order = self.order(ident)
        value = body.get("Value") if isinstance(body, dict) else None
        if not isinstance(value, dict):
            raise ApiError(400, "InvalidRequest", "The request body must have a 'Value' object.")
        if order["ShippingStatus"] == "Canceled":
            raise ApiError(400, "InvalidOperation", "A canceled order cannot be shipped.")
        if order["ShippingStatus"] == "Shipped":
            raise ApiError(400, "InvalidOperation", "The order is already shipped.")
        open_ = [f for f in self.order_fulfillments(ident) if f["DeliveryStatus"] in ("NoChange", "InTransit")
                 and f["ShippedDateUtc"] is None]
        fulfillment = open_[0]
        stamp = now()
        fulfillment.update({
            "DeliveryStatus": value.get("DeliveryStatus") or "Complete", "TrackingNumber": value.get("TrackingNumber"),
            "ShippingCarrier": value.get("ShippingCarrier") or fulfillment["ShippingCarrier"],
            "ShippingClass": value.get("ShippingClass") or fulfillment["ShippingClass"],
            "ShippedDateUtc": value.get("ShippedDateUtc") or stamp, "UpdatedDateUtc": stamp,
            "SellerFulfillmentID": value.get("SellerFulfillmentID"),
            "DistributionCenterID": int(value.get("DistributionCenterID") or fulfillment["DistributionCenterID"]),
        })
        for name in ("ShippingCost", "InsuranceCost", "TaxCost"):
            if value.get(name) is not None:
                fulfillment[name] = dec(value[name], name)
        for item in self.order_items(ident):
            self._release(item["ProductID"], item["Quantity"], restock=False)
        order["ShippingStatus"], order["ShippingDateUtc"] = "Shipped", fulfillment["ShippedDateUtc"]
        self._touch(order)

    def adjust(self, ident: int, body: Any) -> dict:
        """4.4 POST Orders({id})/Adjust. UNCONFIRMED body: {"Value": {"Reason", "SellerAdjustmentID",
        "PreventSiteProcessing", "Adjustments"?: [{"Sku" | "OrderItemID", "Quantity", "ItemAdjustment",
        "TaxAdjustment", "ShippingAdjustment", "ShippingTaxAdjustment", "IsRestock"}]}}. Without
        item adjustments it cancels the whole order (the units go back); with them it records
        refunds (Type Refund) on those items. A SellerAdjustmentID seen before on the order is
        refused (409), so a resent adjustment never counts twice."""
        order = self.order(ident)
        value = body.get("Value") if isinstance(body, dict) else None
        if not isinstance(value, dict):
            raise ApiError(400, "InvalidRequest", "The request body must have a 'Value' object.")
        seller_id = value.get("SellerAdjustmentID")
        if seller_id and any(a["SellerAdjustmentID"] == seller_id for a in self.order_adjustments(ident)):
            raise ApiError(409, "DuplicateAdjustment", f"Adjustment '{seller_id}' exists on order {ident}.")
        reason = value.get("Reason") or "GeneralAdjustment"
        stamp = now()
        created = []
        lines = value.get("Adjustments")
        items = self.order_items(ident)
        if not lines:
            if order["ShippingStatus"] == "Shipped":
                raise ApiError(400, "InvalidOperation", "A shipped order cannot be canceled; refund it instead.")
            if order["ShippingStatus"] == "Canceled":
                raise ApiError(400, "InvalidOperation", "The order is already canceled.")
            for item in items:
                self._release(item["ProductID"], item["Quantity"], restock=True)
                created.append(self._adjustment(order, item, "Cancellation", reason, seller_id, stamp, {
                    "Quantity": item["Quantity"], "IsRestock": True}))
            order["ShippingStatus"] = "Canceled"
            for f in self.order_fulfillments(ident):
                if f["ShippedDateUtc"] is None:
                    f["DeliveryStatus"], f["UpdatedDateUtc"] = "Canceled", stamp
        else:
            for i, line in enumerate(lines):
                item = next((it for it in items if it["ID"] == line.get("OrderItemID")
                             or (line.get("Sku") and it["Sku"] == line.get("Sku"))), None)
                if item is None:
                    raise ApiError(400, "InvalidValue", f"Adjustments[{i}] names no item of order {ident}.")
                quantity = int(line.get("Quantity") or 0)
                if quantity > item["Quantity"]:
                    raise ApiError(400, "InvalidValue", f"Adjustments[{i}].Quantity is more than was ordered.")
                restock = bool(line.get("IsRestock"))
                if restock and quantity:
                    first = min((k for k in self.dc_quantities if k[0] == item["ProductID"]), default=None)
                    if first is not None:
                        self.dc_quantities[first]["AvailableQuantity"] += quantity
                        self._totals(item["ProductID"])
                created.append(self._adjustment(order, item, "Refund", reason, seller_id, stamp, {
                    "Quantity": quantity, "IsRestock": restock, **{k: dec(line.get(k), k) for k in (
                        "ItemAdjustment", "TaxAdjustment", "ShippingAdjustment", "ShippingTaxAdjustment")}}))
        self._touch(order)
        return {"ID": created[0]["ID"] if created else None, "Adjustments": created}

    def _adjustment(self, order: dict, item: dict, kind: str, reason: str, seller_id: Any, stamp: str,
                    extra: dict) -> dict:
        ident = self.next_id("adjustment")
        row = {"ID": ident, "ProfileID": PROFILE_ID, "OrderID": order["ID"], "OrderItemID": item["ID"],
               "Sku": item["Sku"], "IsRestock": False, "Quantity": 0, "Source": "APIUser", "Type": kind,
               "Reason": reason, "RequestStatus": "Successful", "ItemAdjustment": Decimal("0"),
               "TaxAdjustment": Decimal("0"), "ShippingAdjustment": Decimal("0"),
               "ShippingTaxAdjustment": Decimal("0"), "GiftWrapAdjustment": Decimal("0"),
               "GiftWrapTaxAdjustment": Decimal("0"), "RecyclingFeeAdjustment": Decimal("0"),
               "Comment": None, "SellerAdjustmentID": seller_id, "RmaNumber": None,
               "ReturnTrackingNumberOrUrl": None, "CreatedDateUtc": stamp, "UpdatedDateUtc": stamp, **extra}
        self.adjustments[ident] = row
        return row

    # -- tokens ----------------------------------------------------------------------------------

    def grant(self, clock: float) -> dict:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = clock + self.settings.token_ttl_seconds
        self.stats["token_grants"] += 1
        return {"access_token": token, "token_type": "bearer", "expires_in": self.settings.token_ttl_seconds}

    def dump(self) -> dict:
        return {
            "settings": asdict(self.settings),
            "distribution_centers": list(self.dcs.values()),
            "products": [{**p, "DCQuantities": [q for (pid, _), q in sorted(self.dc_quantities.items())
                                                if pid == p["ID"]]} for p in self.products.values()],
            "orders": [{**o, "Exported": o["ID"] in self.exported, "Items": self.order_items(o["ID"]),
                        "Fulfillments": self.order_fulfillments(o["ID"]),
                        "Adjustments": self.order_adjustments(o["ID"])} for o in self.orders.values()],
            "stats": dict(self.stats),
        }
