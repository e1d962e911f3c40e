"""The simulator's in-memory world: one authorized shop, its catalog, orders and after-sales.

Handlers in the sibling modules read and mutate this object; nothing here knows about HTTP.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from .ids import IdFactory
from .ratelimit import RateLimiter

DATA_FILE = Path(__file__).parent / "data" / "defaults.yaml"
ACCESS_TOKEN_TTL = 7 * 24 * 3600  # 1.4: access tokens live 7 days
# 1.4: a refresh token lives as long as the authorization; a year stands in for that.
REFRESH_TOKEN_TTL = 365 * 24 * 3600


@functools.cache
def _load_defaults() -> dict:
    with DATA_FILE.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def defaults() -> dict:
    return copy.deepcopy(_load_defaults())


@dataclass
class Credentials:
    app_key: str
    app_secret: str
    access_token: str
    refresh_token: str
    shop_cipher: str
    shop_id: str
    region: str


@dataclass
class Tokens:
    access_token: str
    refresh_token: str
    access_expires: int
    refresh_expires: int
    retired_access: set[str] = field(default_factory=set)
    retired_refresh: set[str] = field(default_factory=set)
    auth_codes: dict[str, int] = field(default_factory=dict)  # code -> expiry


class SimState:
    def __init__(self, *, seed: int, creds: Credentials, clock: Callable[[], float],
                 audit_delay_seconds: float, rate_limit_per_second: float,
                 sale_tax_rate: Decimal | None = None, weight_read_unit: str | None = None) -> None:
        self.seed = seed
        self._sale_tax_rate = sale_tax_rate
        self.weight_read_unit = weight_read_unit  # None: reads give package_weight as written
        self.creds = creds
        self.clock = clock
        self.audit_delay_seconds = audit_delay_seconds
        self.rate_limit_per_second = rate_limit_per_second
        self.on_event: Callable[[], None] | None = None  # set by the webhook dispatcher
        # Set by POST /_admin/webhooks/point: deliveries go there, keeping each address's path (a reset keeps it).
        self.webhook_base: str | None = None
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------
    def reset(self) -> None:
        data = defaults()
        self.data = data
        self.ids = IdFactory(self.seed)
        now = int(self.clock())
        self.tokens = Tokens(self.creds.access_token, self.creds.refresh_token,
                             now + ACCESS_TOKEN_TTL, now + REFRESH_TOKEN_TTL)
        self.limiter = RateLimiter(self.rate_limit_per_second, self.clock)
        self.shop = data["shop"]
        self.region_rules = data["regions"]
        self.forbidden_words = [w.lower() for w in data["forbidden_words"]]
        self.warehouses = {w["id"]: w for w in data["warehouses"]}
        self.delivery_options = {d["id"]: d for d in data["delivery_options"]}
        self.categories = {c["id"]: c for c in data["categories"]}
        self.attribute_sets = data["attribute_sets"]
        self.category_attributes = data["category_attributes"]
        self.category_rules = data["category_rules"]
        self.brands = {b["id"]: b for b in data["brands"]}
        self.order_defaults = data["order_defaults"]
        self.buyers = data["buyers"]
        self.images: dict[str, dict] = {}
        self.files: dict[str, dict] = {}
        self.products: dict[str, dict] = {}
        self.sku_index: dict[str, str] = {}  # sku id -> product id
        self.custom_attr_ids: dict[tuple, str] = {}  # custom sales attribute names -> ids
        self.idempotency: dict[tuple[str, str], object] = {}
        self.orders: dict[str, dict] = {}
        self.packages: dict[str, dict] = {}
        self.cancellations: dict[str, dict] = {}
        self.returns: dict[str, dict] = {}
        self.webhooks: dict[str, dict] = {}  # event_type -> subscription
        self.events: list[dict] = []
        self.deliveries: list[dict] = []
        self.requests: list[dict] = []
        self.muted = False

    # -- time ------------------------------------------------------------------------------
    def now(self) -> int:
        return int(self.clock())

    def later_than(self, previous: int | None) -> int:
        """The time of a change to a record last stamped `previous`: now, never before `previous`
        and never ahead of the clock. Two changes within one second share their Unix second, as
        update_time does on TikTok; stamping previous + 1 instead put times in the future, so a
        reader polling by update_time saw changes "from" a second that had not begun."""
        now = self.now()
        return now if previous is None else max(now, previous)

    # -- region helpers --------------------------------------------------------------------
    @property
    def region(self) -> dict:
        return self.region_rules.get(self.creds.region, self.region_rules["US"])

    @property
    def currency(self) -> str:
        return self.region["currency"]

    @property
    def sale_tax_rate(self) -> Decimal:
        """Tax the buyer's price includes on top of the seller's tax-exclusive price (0: none)."""
        if self._sale_tax_rate is not None:
            return self._sale_tax_rate
        return Decimal(str(self.region.get("sale_tax_rate") or "0"))

    def sales_warehouses(self) -> list[dict]:
        return [w for w in self.warehouses.values() if w["type"] == "SALES_WAREHOUSE"]

    def default_warehouse_id(self) -> str:
        sales = self.sales_warehouses()
        return next((w["id"] for w in sales if w.get("is_default")), sales[0]["id"])

    # -- events ----------------------------------------------------------------------------
    @contextmanager
    def silenced(self):
        """Seeding builds state without announcing it to webhook subscribers."""
        previous, self.muted = self.muted, True
        try:
            yield
        finally:
            self.muted = previous

    def emit(self, event_type: str, data: dict) -> None:
        from .webhooks import queue_event  # webhooks imports nothing from here at runtime

        if not self.muted:
            queue_event(self, event_type, data)
