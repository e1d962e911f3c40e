"""A commercetools project in the emulator, seeded as a merchant's would be, and the example
merchant project (examples/ct_fjord) pointed at it and at the TikTok simulator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ct_fjord"
PROJECT = "fjord-outfitters"
CLIENT = ("fjord-client", "fjord-client-secret")
EXAMPLE_CHANNELS = ("2f8a2c4e-9d0b-4c55-8f59-0d7f8c1f0a11", "6b1d3e70-1c2a-4f0e-9a53-3b3f6a2d7c22")


class Project:
    """The merchant's own calls to commercetools (what their warehouse or back office does)."""

    def __init__(self, emulator, key: str = PROJECT) -> None:
        self.base = f"{emulator.url}/{key}"
        self.headers = {"Authorization": f"Bearer {emulator.token(key, *CLIENT)}"}

    def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        response = httpx.request(method, f"{self.base}{path}", json=body, params=query or None,
                                 headers=self.headers, timeout=30)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def all(self, resource: str, **query: Any) -> list[dict]:
        return self.call("GET", f"/{resource}", limit=500, **query)["results"]

    def update(self, resource: str, obj: dict, *actions: dict) -> dict:
        current = self.call("GET", f"/{resource}/{obj['id']}")
        return self.call("POST", f"/{resource}/{obj['id']}", {"version": current["version"], "actions": list(actions)})

    def orders(self) -> dict[str, dict]:
        return {o["orderNumber"]: o for o in self.all("orders")}


def money(cents: int, currency: str = "USD") -> dict:
    return {"currencyCode": currency, "centAmount": cents}


def seed(project: Project, image_host: str) -> dict:
    """Product types, channels, a customer group, the order custom Type, a shipping method, three
    products with prices in several scopes, and stock in two supply channels."""
    types = {}
    for key, name in (("jackets", "Jackets"), ("mugs", "Mugs")):
        types[key] = project.call("POST", "/product-types", {
            "key": key, "name": name, "description": name,
            "attributes": [{"name": attr, "label": {"en-US": attr}, "type": {"name": "text"}, "isRequired": False,
                            "attributeConstraint": "None", "isSearchable": True}
                           for attr in ("color", "size", "brand", "weight")]})
    supply = [project.call("POST", "/channels", {"key": key, "roles": ["InventorySupply"]})["id"]
              for key in ("oslo-dc", "bergen-dc")]
    outlet = project.call("POST", "/channels", {"key": "outlet", "roles": ["ProductDistribution"]})["id"]
    vip = project.call("POST", "/customer-groups", {"key": "vip", "groupName": "VIP"})["id"]
    project.call("POST", "/types", {
        "key": "tiktok-shop-order", "name": {"en": "TikTok Shop order"}, "resourceTypeIds": ["order"],
        "fieldDefinitions": [{"name": name, "label": {"en": name}, "required": False, "type": {"name": "String"},
                              "inputHint": "SingleLine"}
                             for name in ("channel", "channel_order_id", "fulfillment_type", "platform_subsidy")]})
    zone = project.call("POST", "/zones", {"key": "us", "name": "US", "locations": [{"country": "US"}]})
    tax = project.call("POST", "/tax-categories", {"key": "standard", "name": "Standard", "rates": [
        {"name": "none", "amount": 0, "includedInPrice": False, "country": "US"}]})
    project.call("POST", "/shipping-methods", {
        "key": "tiktok-standard", "name": "TikTok Standard", "isDefault": False,
        "taxCategory": {"typeId": "tax-category", "id": tax["id"]},
        "zoneRates": [{"zone": {"typeId": "zone", "id": zone["id"]},
                       "shippingRates": [{"price": money(0)}]}]})

    def variant(sku: str, color: str, size: str, prices: list[dict], **extra: Any) -> dict:
        return {"sku": sku, "prices": prices, "images": [{"url": f"{image_host}/ct/{sku}.jpg",
                                                          "dimensions": {"w": 800, "h": 800}}],
                "attributes": [{"name": "color", "value": color}, {"name": "size", "value": size},
                               {"name": "brand", "value": "Fjord"}, {"name": "weight", "value": 900}], **extra}

    def jacket_prices(us: int) -> list[dict]:
        return [{"value": money(us), "country": "US"},                      # the US market's price
                {"value": money(7900, "EUR"), "country": "DE"},
                {"value": money(us - 1500), "customerGroup": {"typeId": "customer-group", "id": vip}},
                {"value": money(us + 600), "channel": {"typeId": "channel", "id": outlet}},
                {"value": money(us + 900)}]                                   # open: any country
    products = [
        {"key": "storm-jacket", "productType": {"typeId": "product-type", "key": "jackets"},
         "name": {"en-US": "Storm Jacket"}, "slug": {"en-US": "storm-jacket"},
         "description": {"en-US": "<p>A waterproof shell for fjord weather, taped seams and a storm hood.</p>"},
         "masterVariant": variant("JKT-BLK-M", "Black", "M", jacket_prices(8900)),
         "variants": [variant("JKT-BLK-L", "Black", "L", jacket_prices(8900)),
                      variant("JKT-RED-M", "Red", "M", jacket_prices(9400))],
         "publish": True},
        # Only an open USD price: the US selection falls back to it.
        {"key": "fjord-mug", "productType": {"typeId": "product-type", "key": "mugs"},
         "name": {"en-US": "Fjord Mug"}, "slug": {"en-US": "fjord-mug"},
         "description": {"en-US": "<p>A stoneware mug, glazed by hand, 350 ml, dishwasher safe.</p>"},
         "masterVariant": variant("MUG-BLUE", "Blue", "350ml", [{"value": money(1250)}]),
         "publish": True},
        # Priced for Germany only: no price the US market could sell at.
        {"key": "wool-socks", "productType": {"typeId": "product-type", "key": "jackets"},
         "name": {"en-US": "Wool Socks"}, "slug": {"en-US": "wool-socks"},
         "description": {"en-US": "<p>Merino socks for long walks, reinforced heel and toe.</p>"},
         "masterVariant": variant("SOCK-GRY-M", "Grey", "M", [{"value": money(1900, "EUR"), "country": "DE"}]),
         "publish": True},
    ]
    created = [project.call("POST", "/products", p) for p in products]
    stock = {"JKT-BLK-M": (10, 5), "JKT-BLK-L": (3, 0), "JKT-RED-M": (0, 7), "MUG-BLUE": (40, 2), "SOCK-GRY-M": (9, 9)}
    for sku, quantities in stock.items():
        for channel, quantity in zip(supply, quantities, strict=True):
            project.call("POST", "/inventory", {"sku": sku, "quantityOnStock": quantity,
                                                "supplyChannel": {"typeId": "channel", "id": channel}})
    return {"types": types, "supply": supply, "outlet": outlet, "vip": vip, "products": created, "stock": stock}


def merchant_dir(tmp: Path, supply: list[str]) -> Path:
    """The example project, its supply channel ids replaced by the emulator's."""
    target = tmp / "ct_fjord"
    shutil.copytree(EXAMPLE, target)
    text = (target / "merchant.yaml").read_text()
    for placeholder, actual in zip(EXAMPLE_CHANNELS, supply, strict=True):
        assert placeholder in text
        text = text.replace(placeholder, actual)
    (target / "merchant.yaml").write_text(text)
    return target / "merchant.yaml"


def environ(emulator, sandbox) -> dict[str, str]:
    return {**sandbox.environ("FJORD"), "FJORD_CT_URL": f"{emulator.url}/{PROJECT}",
            "FJORD_CT_TOKEN_URL": f"{emulator.url}/oauth/token",
            "FJORD_CT_CLIENT_ID": CLIENT[0], "FJORD_CT_CLIENT_SECRET": CLIENT[1]}


class Recorder(httpx.BaseTransport):
    """The commercetools connection's transport: every request is recorded (method, path, JSON
    body), then sent to the emulator. Tests read what was sent for the actions the emulator does
    not apply (it stores no shipmentState and applies no inventoryMode on an import)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[dict] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode(errors="replace")
        self.sent.append({"method": request.method, "path": request.url.path, "query": dict(request.url.params),
                          "body": parsed})
        return self.inner.handle_request(request)

    def bodies(self, method: str, path_end: str) -> list[Any]:
        return [r["body"] for r in self.sent if r["method"] == method and r["path"].endswith(path_end)]
