"""The canonical entity schemas in schemas/canonical: well-formed, cross-file refs resolve, and
hand-written documents pass or fail for the right reasons."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "schemas" / "canonical"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BASE = "https://first-party-connector.dev/schemas/canonical/"
ENTITIES = [
    "common",
    "product",
    "price",
    "inventory_level",
    "inventory",
    "order",
    "fulfillment",
    "cancellation",
    "return",
    "customer",
    "listing",
]


def _load() -> dict[str, dict]:
    return {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text())
        for p in SCHEMA_DIR.glob("*.schema.json")
    }


SCHEMAS = _load()
# The same registry the engine builds: every file in the folder, keyed by its $id.
REGISTRY = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
    for schema in SCHEMAS.values()
)


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        SCHEMAS[name], registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def errors(name: str, document: dict) -> list[str]:
    return sorted(
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator(name).iter_errors(document)
    )


def _walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for k, value in enumerate(node):
            yield from _walk(value, (*path, k))


# --------------------------------------------------------------------------- the schemas themselves


def test_every_entity_has_a_file():
    assert sorted(SCHEMAS) == sorted(ENTITIES)


@pytest.mark.parametrize("name", ENTITIES)
def test_schema_is_valid_2020_12(name):
    schema = SCHEMAS[name]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{BASE}{name}.schema.json"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", ENTITIES)
def test_every_ref_resolves_through_the_registry(name):
    schema = SCHEMAS[name]
    resolver = REGISTRY.resolver(base_uri=schema["$id"])
    refs = [node["$ref"] for _, node in _walk(schema) if isinstance(node.get("$ref"), str)]
    if name != "common":
        assert any(r.startswith("common.schema.json#/$defs/") for r in refs)
    for ref in refs:
        assert not ref.startswith("http"), f"{name}: use a relative ref, not {ref}"
        resolver.lookup(ref)  # raises if unresolvable


@pytest.mark.parametrize("name", ENTITIES)
def test_every_property_is_described(name):
    missing = []
    for path, node in _walk(SCHEMAS[name]):
        props = node.get("properties")
        if isinstance(props, dict) and path[-1:] != ("properties",):
            missing += [
                "/".join(map(str, (*path, key))) for key, sub in props.items() if "description" not in sub
            ]
    assert not missing, missing


# --------------------------------------------------------------------------- valid documents


def usd(amount: str) -> dict:
    return {"amount": amount, "currency": "USD"}


PRODUCT = {
    "id": "prd_01",
    "external_ids": {"shopify": "8123456789045", "tiktok_us": "1729592969712207234"},
    "handle": "everyday-organic-cotton-tee",
    "title": "Everyday Organic Cotton Tee",
    "description_html": "<p>A relaxed crew-neck tee.</p>",
    "description_text": "A relaxed crew-neck tee.",
    "brand": "Acme Apparel",
    "vendor": "Acme Apparel",
    "category": {"name": "T-Shirts", "path": ["Apparel", "Tops", "T-Shirts"]},
    "status": "active",
    "tags": ["apparel", "basics"],
    "options": [{"name": "Size", "values": ["S", "M"]}, {"name": "Color", "values": ["Black"]}],
    "images": [
        {
            "url": "https://cdn.example-shop.test/products/tee/1.jpg",
            "position": 1,
            "alt": "Black tee, front",
            "variant_skus": ["ACME-TEE-BLK-S", "ACME-TEE-BLK-M"],
        }
    ],
    "attributes": [{"name": "Material", "values": ["Organic cotton"]}],
    "package": {
        "weight": {"value": "0.2", "unit": "kg"},
        "dimensions": {"length": "25", "width": "20", "height": "3", "unit": "cm"},
    },
    "variants": [
        {
            "sku": "ACME-TEE-BLK-S",
            "title": "S / Black",
            "options": {"Size": "S", "Color": "Black"},
            "price": usd("28.00"),
            "compare_at_price": usd("34.00"),
            "barcode": "019612340015",
            "identifier": {"type": "UPC", "code": "019612340015"},
            "weight": {"value": "160", "unit": "g"},
            "inventory_quantity": 12,
            "image_url": "https://cdn.example-shop.test/products/tee/1.jpg",
            "external_ids": {"shopify": "44098765430001", "tiktok_us": "1729592969712200001"},
        },
        {"sku": "ACME-TEE-BLK-M", "options": {"Size": "M", "Color": "Black"}, "price": usd("28.00")},
    ],
    "created_at": "2024-06-03T13:15:22Z",
    "updated_at": "2025-01-10T13:44:19.250Z",
}

ADDRESS = {
    "name": "Jordan Reyes",
    "line1": "1458 Valencia St",
    "line2": "Unit 3",
    "city": "San Francisco",
    "region": "California",
    "region_code": "CA",
    "postal_code": "94110",
    "country_code": "US",
    "phone": "(+1)415*****88",
}

ORDER = {
    "id": "ord_01",
    "channel": "tiktok_us",
    "channel_order_id": "576461413038785752",
    "status": "awaiting_fulfillment",
    "financial_status": "paid",
    "fulfillment_type": "merchant",
    "buyer": {"email": "v2.5f1b7c3ad4e64b2f9a@scs.tiktokw.us", "name": "Jordan Reyes"},
    "shipping_address": ADDRESS,
    "lines": [
        {
            "line_id": "1",
            "sku": "ACME-TEE-BLK-M",
            "title": "Everyday Organic Cotton Tee",
            "quantity": 2,
            "unit_price": usd("28.00"),
            "discount": usd("7.00"),
            "tax": usd("4.04"),
            "total": usd("49.00"),
            "channel_line_ids": ["576461413038851288", "576461413038916824"],
        },
        {"line_id": "2", "sku": "HRTH-CNDL-CDRSG-08", "quantity": 1, "unit_price": usd("24.00")},
    ],
    "money": {
        "subtotal": usd("70.00"),
        "shipping": usd("0.00"),
        "discount_seller": usd("8.00"),
        "discount_platform": usd("2.00"),
        "tax": usd("5.77"),
        "total": usd("75.77"),
    },
    "currency": "USD",
    "placed_at": "2025-01-12T23:42:02Z",
    "paid_at": "2025-01-12T23:42:21Z",
    "updated_at": "2025-01-12T23:43:22Z",
    "notes": "Gift, no receipt please",
    "tags": ["tiktok"],
}

INVENTORY = {
    "sku": "ACME-TEE-BLK-M",
    "location_id": "loc_portland",
    "on_hand": 42,
    "reserved": 2,
    "available": 40,
    "updated_at": "2025-01-12T23:45:00Z",
}

RETURN = {
    "id": "ret_01",
    "order_id": "ord_01",
    "channel_return_id": "4035182939261931234",
    "type": "return_and_refund",
    "status": "received",
    "reason": "Wrong size",
    "lines": [{"sku": "ACME-TEE-BLK-M", "quantity": 1, "line_id": "1", "refund": usd("24.50")}],
    "refund": {"subtotal": usd("24.50"), "shipping": usd("0.00"), "tax": usd("2.02"), "total": usd("26.52")},
    "restock": True,
    "created_at": "2025-01-20T08:00:00Z",
    "updated_at": "2025-01-24T15:30:00Z",
}

OTHERS = {
    "price": {
        "sku": "ACME-TEE-BLK-M",
        "price": usd("24.00"),
        "compare_at_price": usd("28.00"),
        "market": "US",
        "effective": {"starts_at": "2025-11-28T05:00:00Z", "ends_at": "2025-12-02T05:00:00Z"},
    },
    "fulfillment": {
        "order_id": "ord_01",
        "packages": [
            {
                "package_id": "1153132168123859123",
                "lines": [{"sku": "ACME-TEE-BLK-M", "quantity": 2, "line_id": "1"}],
                "carrier": "USPS",
                "tracking_number": "9400111899223197428490",
                "tracking_url": "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899223197428490",
                "shipped_at": "2025-01-13T17:05:00Z",
            }
        ],
    },
    "cancellation": {
        "order_id": "ord_01",
        "channel_cancellation_id": "4035182939261939999",
        "status": "requested",
        "initiator": "buyer",
        "reason": "Ordered by mistake",
        "lines": [{"sku": "HRTH-CNDL-CDRSG-08", "quantity": 1}],
        "restock": True,
        "created_at": "2025-01-13T01:00:00Z",
    },
    "customer": {
        "external_ids": {"shopify": "7234567890123"},
        "email": "maya.okafor@example.com",
        "first_name": "Maya",
        "last_name": "Okafor",
        "addresses": [dict(ADDRESS, name="Maya Okafor", region_code="OR", country_code="US")],
        "accepts_marketing": False,
    },
}


@pytest.mark.parametrize(
    ("name", "document"),
    [("product", PRODUCT), ("order", ORDER), ("inventory_level", INVENTORY), ("return", RETURN)]
    + sorted(OTHERS.items()),
)
def test_valid_document_passes(name, document):
    assert errors(name, document) == []


def test_minimal_product_is_title_and_one_priced_sku():
    assert errors("product", {"title": "Mug", "variants": [{"sku": "MUG-1", "price": usd("12.00")}]}) == []


# --------------------------------------------------------------------------- invalid documents


def _broken(document: dict, path: tuple, value=None, *, delete: bool = False) -> dict:
    out = copy.deepcopy(document)
    node = out
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("name", "document", "where"),
    [
        # money is a decimal string, never a float
        ("product", _broken(PRODUCT, ("variants", 0, "price", "amount"), 28.0), "variants/0/price/amount"),
        ("order", _broken(ORDER, ("money", "total", "amount"), 75.77), "money/total/amount"),
        ("return", _broken(RETURN, ("refund", "total", "amount"), "26,52"), "refund/total/amount"),
        (
            "product",
            _broken(PRODUCT, ("variants", 0, "price", "currency"), "usd"),
            "variants/0/price/currency",
        ),
        # times are UTC with a Z
        ("order", _broken(ORDER, ("placed_at",), "2025-01-12T18:42:02-05:00"), "placed_at"),
        ("product", _broken(PRODUCT, ("updated_at",), "2025-01-10 13:44:19"), "updated_at"),
        ("inventory_level", _broken(INVENTORY, ("updated_at",), 1736725402), "updated_at"),
        # SKU is the key: required and non-empty
        ("product", _broken(PRODUCT, ("variants", 1, "sku"), delete=True), "variants/1"),
        ("product", _broken(PRODUCT, ("variants", 1, "sku"), ""), "variants/1/sku"),
        ("order", _broken(ORDER, ("lines", 1, "sku"), delete=True), "lines/1"),
        ("inventory_level", _broken(INVENTORY, ("sku",), delete=True), ""),
        # ids are strings
        ("order", _broken(ORDER, ("channel_order_id",), 576461413038785752), "channel_order_id"),
        # counts are integers
        ("inventory_level", _broken(INVENTORY, ("available",), "40"), "available"),
        ("order", _broken(ORDER, ("lines", 0, "quantity"), 0), "lines/0/quantity"),
        # enums
        ("order", _broken(ORDER, ("status",), "AWAITING_SHIPMENT"), "status"),
        ("return", _broken(RETURN, ("type",), "exchange"), "type"),
        ("product", _broken(PRODUCT, ("package", "weight", "unit"), "KILOGRAM"), "package/weight/unit"),
        # a product needs at least one variant; unknown fields are typos
        ("product", _broken(PRODUCT, ("variants",), []), "variants"),
        ("product", _broken(PRODUCT, ("descripton_html",), "<p>typo</p>"), ""),
    ],
)
def test_invalid_document_fails_at_the_field(name, document, where):
    found = errors(name, document)
    assert found, "expected a validation error"
    assert any(e.split(": ", 1)[0] == where for e in found), found


def test_customer_needs_a_way_to_identify_them():
    assert errors("customer", {"first_name": "Maya"})
    assert errors("customer", {"phone": "+15035550142"}) == []


# --------------------------------------------------------------------------- fixtures agree with the SKU rule


def test_shopify_fixture_skus_follow_the_canonical_sku_rule():
    sku = Draft202012Validator({"$ref": f"{BASE}common.schema.json#/$defs/sku"}, registry=REGISTRY)
    for path in sorted((FIXTURES / "shopify").glob("product_*.json")):
        product = json.loads(path.read_text())["product"]
        bad = [v["sku"] for v in product["variants"] if not sku.is_valid(v["sku"])]
        if path.name == "product_invalid.json":
            assert bad == [""]
        else:
            assert bad == [], path.name
