"""In-memory shop: the stores, id and token generators, the shop clock and simulator settings."""

from __future__ import annotations

import base64
import random
import uuid
import zlib
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime

from .values import gid, iso, shop_tz

DEFAULT_LOCATIONS = ("Main warehouse", "East DC")


@dataclass
class Settings:
    """Behaviour the reference leaves UNCONFIRMED, each set to the most plausible choice.

    Change them with `POST /_admin/config`.
    """

    # Shop-local offset used on every timestamp; the fixtures show North American offsets.
    utc_offset_minutes: int = -300
    currency: str = "USD"
    # New variants made through the API get inventory tracking on (Shopify admin's default).
    new_variants_tracked: bool = True
    # 2.10: `inventory_levels/set` and `adjust` need the item connected to the location unless
    # `disconnect_if_necessary` is passed (which then connects it).
    set_requires_connection: bool = True
    # `orders/{id}/cancel.json` puts unfulfilled, decremented stock back only when asked.
    cancel_restocks_by_default: bool = False
    # Cancelled orders are also closed, so the default `status=open` listing hides them.
    cancel_closes_order: bool = True
    # Orders created without financial_status or transactions are treated as paid.
    default_financial_status: str = "paid"
    # `source_name` when the caller sends none: the creating app's id, as in the fixtures.
    app_id: int = 755357713
    # Webhooks: attempts per delivery and consecutive failures before a subscription is removed.
    webhook_max_attempts: int = 8
    webhook_failures_before_removal: int = 8
    webhook_timeout_seconds: float = 5.0
    max_variants: int = 100
    # A variant without a SKU: the samples (REST product 2025-01, webhooks 2023-10 and 2025-01)
    # give "sku": null, and so do the simulator's reads; off gives "" (older shops' data).
    blank_sku_reads_null: bool = True
    # Line-level discount inputs POST orders.json honours, comma-separated: "total_discount",
    # "discount_allocations" (UNCONFIRMED which ones the real create takes; "" ignores both).
    line_discount_inputs: str = "total_discount,discount_allocations"
    # The app lacks protected customer data access (Level 2): names, addresses, email and phone
    # read null in order and customer answers and webhooks. Off: the app has the access.
    redact_customer_data: bool = False

    def update(self, values: dict) -> None:
        known = {f.name: f for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown setting {key!r}; known: {', '.join(sorted(known))}")
            current = getattr(self, key)
            setattr(self, key, value if isinstance(current, str) else type(current)(value))


@dataclass
class Stores:
    products: dict[int, dict] = field(default_factory=dict)
    variants: dict[int, dict] = field(default_factory=dict)
    inventory_items: dict[int, dict] = field(default_factory=dict)
    levels: dict[tuple[int, int], dict] = field(default_factory=dict)  # (item_id, location_id)
    locations: dict[int, dict] = field(default_factory=dict)
    orders: dict[int, dict] = field(default_factory=dict)
    transactions: dict[int, dict] = field(default_factory=dict)
    fulfillment_orders: dict[int, dict] = field(default_factory=dict)
    fulfillments: dict[int, dict] = field(default_factory=dict)
    refunds: dict[int, dict] = field(default_factory=dict)
    customers: dict[int, dict] = field(default_factory=dict)
    webhooks: dict[int, dict] = field(default_factory=dict)
    deliveries: list[dict] = field(default_factory=list)


class ShopState:
    def __init__(self, *, seed: int, shop: str, api_version: str, webhook_secret: str) -> None:
        self.seed = seed
        self.shop = shop
        self.domain = f"{shop}.myshopify.com"
        self.api_version = api_version
        self.webhook_secret = webhook_secret
        self.settings = Settings()
        self.silent = False  # seeding changes the shop without firing webhooks
        # Set by POST /_admin/webhooks/point: deliveries go there, keeping each address's path (a reset keeps it).
        self.webhook_base: str | None = None
        self.reset()

    def reset(self) -> None:
        self.rng = random.Random(self.seed)
        # Real ids are 13-digit and grow over time, which `since_id` paging relies on.
        self._next_id = 7_000_000_000_000 + self.rng.randrange(1_000_000) * 1000
        self.next_order_number = 1001
        self.db = Stores()
        self.requests: list[dict] = []
        self.stats = {"throttled": 0, "requests": 0}
        for name in DEFAULT_LOCATIONS:
            self.add_location({"name": name})

    # identifiers -------------------------------------------------------------------------

    def new_id(self) -> int:
        self._next_id += self.rng.randint(1, 997)
        return self._next_id

    def token(self, nbytes: int = 16) -> str:
        return self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def shop_number(self) -> int:
        """The shop's numeric id (in order status URLs), steady for a shop name."""
        return 500_000_000 + zlib.crc32(self.domain.encode()) % 100_000_000

    def business_entity_id(self) -> str:
        """merchant_business_entity_id: the sample's "MTU0ODM4MDAwOQ" is base64 of the shop number."""
        return base64.b64encode(str(self.shop_number()).encode()).decode().rstrip("=")

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # time --------------------------------------------------------------------------------

    def now(self) -> str:
        return iso(datetime.now(UTC), shop_tz(self.settings.utc_offset_minutes))

    def stamp(self, record: dict, given: dict | None = None) -> None:
        """Set created_at/updated_at, keeping ones a seed supplied."""
        given = given or {}
        now = self.now()
        record["created_at"] = given.get("created_at") or record.get("created_at") or now
        record["updated_at"] = given.get("updated_at") or now

    # locations ---------------------------------------------------------------------------

    def add_location(self, data: dict) -> dict:
        ident = int(data.get("id") or self.new_id())
        location = {
            "id": ident,
            "name": data.get("name") or f"Location {len(self.db.locations) + 1}",
            "address1": data.get("address1", ""),
            "address2": data.get("address2"),
            "city": data.get("city", "Ottawa"),
            "zip": data.get("zip", "K2P 0V6"),
            "province": data.get("province", "Ontario"),
            "country": data.get("country", "CA"),
            "phone": data.get("phone"),
            "country_code": data.get("country_code", data.get("country", "CA")),
            "country_name": data.get("country_name", "Canada"),
            "province_code": data.get("province_code", "ON"),
            "legacy": False,
            "active": bool(data.get("active", True)),
            "localized_country_name": data.get("country_name", "Canada"),
            "localized_province_name": data.get("province", "Ontario"),
            "admin_graphql_api_id": gid("Location", ident),
        }
        self.stamp(location, data)
        self.db.locations[ident] = location
        return location

    def location_ids(self) -> list[int]:
        return [lid for lid, loc in self.db.locations.items() if loc["active"]]

    def primary_location(self) -> int:
        return next(iter(self.db.locations))

    def dump(self) -> dict:
        db = self.db
        return {
            "shop": {"name": self.shop, "domain": self.domain, "api_version": self.api_version},
            "settings": asdict(self.settings),
            "locations": list(db.locations.values()),
            "products": list(db.products.values()),
            "inventory_items": list(db.inventory_items.values()),
            "inventory_levels": list(db.levels.values()),
            "orders": list(db.orders.values()),
            "transactions": list(db.transactions.values()),
            "fulfillment_orders": list(db.fulfillment_orders.values()),
            "fulfillments": list(db.fulfillments.values()),
            "refunds": list(db.refunds.values()),
            "customers": list(db.customers.values()),
            "webhooks": list(db.webhooks.values()),
            "webhook_deliveries": [
                {k: v for k, v in d.items() if k != "body"} | {"body": d["body"].decode()}
                for d in db.deliveries
            ],
            "stats": dict(self.stats),
        }
