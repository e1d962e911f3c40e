"""Deterministic demo catalog: realistic Shopify REST product dicts for the simulators and the demo.

`generate_shopify_products(n, seed=...)` returns products shaped like the body of
`POST /admin/api/2025-01/products.json` (the `product` object, without ids: the Shopify simulator's
seeder assigns them). Every product has 1..max_variants variants built as the Cartesian product of
up to three options (size, color, material and the like), and every SKU is unique across the
catalog except where a duplicate is planted on purpose.

About `invalid_share` of the products are broken on purpose, each in one way that a TikTok Shop
listing rejects, and each carries the tag `demo-invalid:<reason>`:

- `empty_sku`: one variant has an empty `sku` (the SKU is the cross-channel key).
- `non_positive_price`: one variant's price is "0.00" or negative.
- `no_images`: the product has no images (a listing needs 1 to 9 main images).
- `title_too_long`: the title is longer than 255 characters.
- `zero_weight`: every variant weighs zero (TikTok requires a package weight above zero).
- `duplicate_sku`: one variant reuses the SKU of a valid product earlier in the catalog, when
  there is one (otherwise of any valid product).

More images than a listing accepts (over 9) are *not* a defect: the mapping trims them, so some
valid products carry up to 10 images on purpose.

`generate_tiktok_listings(n, seed=..., currency=..., warehouse_ids=...)` turns the same families
into TikTok Shop product bodies (202309 create shape, section 1.10) for the TikTok simulator's
`POST /_admin/seed`: the catalog of a shop where TikTok is the primary catalog.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

INVALID_TAG_PREFIX = "demo-invalid:"
INVALID_REASONS: tuple[str, ...] = (
    "empty_sku",
    "non_positive_price",
    "no_images",
    "title_too_long",
    "zero_weight",
    "duplicate_sku",
)
IMAGE_HOST = "https://cdn.example-shop.test"

_GRAMS_PER_UNIT = {
    "g": Decimal(1),
    "kg": Decimal(1000),
    "lb": Decimal("453.59237"),
    "oz": Decimal("28.349523125"),
}
_WEIGHT_DECIMALS = {"g": 0, "kg": 3, "lb": 2, "oz": 1}


@dataclass(frozen=True)
class _Axis:
    """One option a family can vary on: its name and (value, SKU code) pairs in display order."""

    name: str
    values: tuple[tuple[str, str], ...]
    surcharge: dict[str, str] | None = None  # value -> extra price, e.g. bigger sizes cost more


@dataclass(frozen=True)
class _Family:
    product_type: str
    vendor: str
    brand_code: str
    code: str
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    axes: tuple[_Axis, ...]
    grams: tuple[int, int]
    weight_unit: str
    price: tuple[int, int]
    tags: tuple[str, ...]
    intro: str
    bullets: tuple[str, ...]
    care: str


_COLORS = _Axis(
    "Color",
    (
        ("Black", "BLK"),
        ("White", "WHT"),
        ("Natural", "NAT"),
        ("Heather Grey", "HGR"),
        ("Navy", "NVY"),
        ("Sage", "SGE"),
        ("Olive", "OLV"),
        ("Rust", "RST"),
        ("Sand", "SND"),
        ("Plum", "PLM"),
    ),
)
_APPAREL_SIZES = _Axis(
    "Size",
    (("XS", "XS"), ("S", "S"), ("M", "M"), ("L", "L"), ("XL", "XL"), ("XXL", "XXL")),
    {"XL": "2.00", "XXL": "4.00"},
)

_FAMILIES: tuple[_Family, ...] = (
    _Family(
        "T-Shirts",
        "Acme Apparel",
        "ACME",
        "TEE",
        ("Crew Tee", "Pocket Tee", "V-Neck Tee", "Heavyweight Tee", "Boxy Tee"),
        ("Everyday", "Garment-Dyed", "Organic", "Vintage Wash", "Relaxed"),
        (
            _APPAREL_SIZES,
            _COLORS,
            _Axis("Material", (("Organic Cotton", "COT"), ("Linen Blend", "LIN"), ("Hemp", "HMP"))),
        ),
        (150, 230),
        "kg",
        (22, 38),
        ("apparel", "basics", "tee"),
        "A soft, pre-shrunk tee cut for an easy fit that holds its shape wash after wash.",
        (
            "Ribbed crew neck with double-needle stitching",
            "Side-seamed for a cleaner drape",
            "Tagless neck label",
            "Ethically sewn in small runs",
        ),
        "Machine wash cold with like colors; tumble dry low.",
    ),
    _Family(
        "Hoodies",
        "Acme Apparel",
        "ACME",
        "HOOD",
        ("Pullover Hoodie", "Zip Hoodie", "Fleece Hoodie"),
        ("Weekend", "Brushed", "Midweight", "Classic"),
        (_APPAREL_SIZES, _COLORS),
        (480, 760),
        "kg",
        (48, 78),
        ("apparel", "fleece", "hoodie"),
        "A brushed-back fleece hoodie with a lined hood and roomy kangaroo pocket.",
        ("Lined hood with flat drawcords", "Rib-knit cuffs and hem", "Brushed interior for warmth"),
        "Wash inside out, cold; hang to dry to keep the fleece soft.",
    ),
    _Family(
        "Candles",
        "Hearthside Goods",
        "HRTH",
        "CNDL",
        ("Soy Candle", "Travel Tin Candle", "Two-Wick Candle"),
        ("Cedar & Sage", "Fig Leaf", "Sea Salt", "Amber Woods", "Wild Lavender"),
        (
            _Axis(
                "Size", (("4 oz", "04"), ("8 oz", "08"), ("14 oz", "14")), {"8 oz": "10.00", "14 oz": "20.00"}
            ),
            _Axis("Vessel", (("Amber Glass", "AMB"), ("Matte Ceramic", "CER"), ("Tin", "TIN"))),
        ),
        (180, 620),
        "oz",
        (14, 28),
        ("candle", "gift", "home fragrance"),
        "Hand-poured soy wax with a cotton wick for a clean, even burn.",
        ("100% soy wax, phthalate-free fragrance", "Burn time up to 60 hours", "Reusable vessel"),
        "Trim the wick to 1/4 inch before each burn; never leave a burning candle unattended.",
    ),
    _Family(
        "Face Serums",
        "Lumen Botanics",
        "LUMN",
        "SRM",
        ("Brightening Serum", "Hydrating Serum", "Retinol Night Serum", "Niacinamide Serum"),
        ("Vitamin C", "Hyaluronic", "Daily", "Gentle", "Peptide"),
        (
            _Axis(
                "Size",
                (("15 ml", "15"), ("30 ml", "30"), ("50 ml", "50")),
                {"30 ml": "12.00", "50 ml": "26.00"},
            ),
        ),
        (55, 160),
        "g",
        (24, 58),
        ("skincare", "serum", "vegan"),
        "A lightweight serum that sinks in fast and layers under moisturiser and SPF.",
        ("Fragrance-free and vegan", "Dermatologist tested", "Glass dropper bottle"),
        "Patch test before first use. Store away from direct sunlight.",
    ),
    _Family(
        "Hiking Boots",
        "Ridgeline Outfitters",
        "RDGL",
        "BOOT",
        ("Hiking Boot", "Trail Boot", "Approach Shoe"),
        ("Trailhead", "Summit", "Waterproof", "Lightweight"),
        (
            _Axis(
                "Size",
                tuple(
                    (s, s.replace(".", "H"))
                    for s in ("7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12")
                ),
            ),
            _Axis("Color", (("Walnut", "WAL"), ("Charcoal", "CHR"), ("Moss", "MOS"))),
            _Axis("Width", (("Regular", "R"), ("Wide", "W"))),
        ),
        (950, 1450),
        "lb",
        (119, 189),
        ("boots", "footwear", "hiking", "outdoor"),
        "A supportive mid-height boot with a waterproof membrane and a grippy lugged outsole.",
        (
            "Full-grain leather and recycled mesh upper",
            "Cushioned EVA midsole",
            "Gusseted tongue keeps debris out",
        ),
        "Brush off dirt after each hike and let dry away from direct heat.",
    ),
    _Family(
        "Mugs",
        "Kiln & Co",
        "KILN",
        "MUG",
        ("Stoneware Mug", "Camp Mug", "Latte Mug"),
        ("Speckled", "Hand-Thrown", "Glazed", "Stackable"),
        (
            _Axis(
                "Color",
                (("Speckled White", "SPW"), ("Ocean", "OCN"), ("Terracotta", "TRC"), ("Charcoal", "CHR")),
            ),
            _Axis("Size", (("12 oz", "12"), ("16 oz", "16")), {"16 oz": "4.00"}),
        ),
        (280, 480),
        "lb",
        (18, 34),
        ("ceramics", "kitchen", "mug"),
        "A stoneware mug glazed by hand, so no two are quite the same.",
        ("Lead-free glaze", "Microwave and dishwasher safe", "Comfortable wide handle"),
        "Dishwasher safe; hand washing keeps the glaze bright longer.",
    ),
    _Family(
        "Yoga Mats",
        "Flowstate",
        "FLOW",
        "MAT",
        ("Yoga Mat", "Travel Mat", "Grip Mat"),
        ("Natural Rubber", "Cork", "Alignment", "Studio"),
        (
            _Axis("Color", (("Black", "BLK"), ("Sage", "SGE"), ("Dusk", "DSK"), ("Clay", "CLY"))),
            _Axis("Thickness", (("3 mm", "3"), ("5 mm", "5"), ("6 mm", "6")), {"6 mm": "10.00"}),
        ),
        (900, 2300),
        "kg",
        (54, 118),
        ("fitness", "yoga"),
        "A dense, non-slip mat that cushions joints without feeling spongy.",
        ("Natural tree rubber base", "Sweat-resistant top layer", "Includes carry strap"),
        "Wipe down with a damp cloth; keep out of direct sunlight.",
    ),
    _Family(
        "Backpacks",
        "Ridgeline Outfitters",
        "RDGL",
        "PACK",
        ("Daypack", "Rolltop Backpack", "Commuter Pack"),
        ("Everyday", "Weatherproof", "Packable", "Trail"),
        (
            _Axis("Color", (("Black", "BLK"), ("Olive", "OLV"), ("Rust", "RST"), ("Navy", "NVY"))),
            _Axis(
                "Capacity",
                (("18 L", "18"), ("24 L", "24"), ("30 L", "30")),
                {"24 L": "15.00", "30 L": "30.00"},
            ),
            _Axis("Material", (("Recycled Nylon", "NYL"), ("Waxed Canvas", "CNV"))),
        ),
        (650, 1250),
        "lb",
        (69, 149),
        ("bags", "backpack", "outdoor"),
        "A carry-everything pack with a padded laptop sleeve and a weather-resistant shell.",
        ("Padded 16-inch laptop sleeve", "Water bottle side pockets", "Lifetime warranty on zips"),
        "Spot clean with mild soap; air dry.",
    ),
)


def generate_shopify_products(
    n: int, *, seed: int, invalid_share: float = 0.1, max_variants: int = 20
) -> list[dict]:
    """Return `n` Shopify REST product dicts; the same arguments always give the same catalog."""
    if n < 0:
        raise ValueError("n must be zero or more")
    if not 0.0 <= invalid_share <= 1.0:
        raise ValueError("invalid_share must be between 0 and 1")
    if max_variants < 1:
        raise ValueError("max_variants must be at least 1")

    rng = random.Random(seed)
    styles: dict[str, int] = {}
    barcodes = _BarcodeCounter(seed)
    products = [_product(rng, styles, barcodes, max_variants) for _ in range(n)]

    invalid_count = round(n * invalid_share)
    chosen = sorted(rng.sample(range(n), invalid_count))
    reasons = list(INVALID_REASONS)
    rng.shuffle(reasons)
    invalid = {index: reasons[k % len(reasons)] for k, index in enumerate(chosen)}
    valid_indices = [i for i in range(n) if i not in invalid]
    for index, reason in invalid.items():
        if reason == "duplicate_sku" and not valid_indices:
            reason = "empty_sku"  # nothing valid to copy a SKU from
        _break(rng, products, index, reason, valid_indices)
    return products


# Leaf categories of the TikTok simulator's default tree, per demo product type.
_TIKTOK_CATEGORY = {"T-Shirts": "601302", "Hoodies": "601303", "Mugs": "600050", "Face Serums": "848648"}
_TIKTOK_OTHER_CATEGORY = "600050"


def generate_tiktok_listings(
    n: int, *, seed: int, currency: str, warehouse_ids: list[str], max_variants: int = 8
) -> list[dict]:
    """Return `n` valid TikTok Shop product bodies (no ids: the simulator assigns them).

    Prices keep the demo numbers in `currency`; stock is split over `warehouse_ids` (the first
    holds the larger part); options become sales attributes, barcodes UPC identifier codes, a
    compare-at price the list price. At most 9 main images (1.13), weight in KILOGRAM and
    dimensions in CENTIMETER, the pair every region accepts.
    """
    if not warehouse_ids:
        raise ValueError("give at least one warehouse id")
    from .tiktok_shop.state import defaults  # the category tree and attribute sets the simulator serves

    tree = defaults()
    listings = []
    for product in generate_shopify_products(n, seed=seed, invalid_share=0.0, max_variants=max_variants):
        options = [o["name"] for o in product["options"] if o["name"] != "Title"]
        skus = []
        for variant in product["variants"]:
            quantity = int(variant["inventory_quantity"])
            shares = [quantity - quantity // 3, quantity // 3][: len(warehouse_ids)]
            shares[0] += quantity - sum(shares)
            sku = {
                "seller_sku": variant["sku"],
                "price": {"amount": variant["price"], "currency": currency},
                "inventory": [{"warehouse_id": wid, "quantity": q} for wid, q in zip(warehouse_ids, shares, strict=False)],
                "sales_attributes": [{"name": name, "value_name": variant[f"option{k}"]}
                                     for k, name in enumerate(options, start=1)],
            }
            if variant.get("compare_at_price"):
                sku["list_price"] = {"amount": variant["compare_at_price"], "currency": currency}
            if variant.get("barcode"):
                sku["identifier_code"] = {"code": variant["barcode"], "type": "UPC"}
            skus.append(sku)
        grams = max(int(v["grams"]) for v in product["variants"])
        slug = product["handle"]
        category = _TIKTOK_CATEGORY.get(product["product_type"], _TIKTOK_OTHER_CATEGORY)
        # The category's required product properties, first value each, so a listing passes the
        # simulator's checks when it is edited through the API later.
        attributes = [{"id": a["id"], "values": [a["values"][0]]}
                      for a in tree["attribute_sets"].get(tree["category_attributes"].get(category), [])
                      if a["type"] == "PRODUCT_PROPERTY" and a["is_required"] and a["values"]]
        listings.append({
            "title": f"{product['title']} by {product['vendor']}",
            "description": product["body_html"].replace("\n", ""),
            "category_id": category,
            "category_version": "v2",
            "product_attributes": attributes,
            "main_images": [{"uri": f"tos-alisg-i-demo/{slug}-{k}"} for k in range(1, min(len(product["images"]), 9) + 1)],
            "package_weight": {"value": str((Decimal(max(grams, 1)) / 1000).quantize(Decimal("0.001"))),
                               "unit": "KILOGRAM"},
            "package_dimensions": {"length": "20", "width": "15", "height": "8", "unit": "CENTIMETER"},
            "skus": skus,
        })
    return listings


def generate_category_map(products: list[dict]) -> list[str]:
    """The distinct product types of a catalog, sorted: the keys a merchant maps to TikTok leaf categories."""
    return sorted({p["product_type"] for p in products if p.get("product_type")})


def invalid_reason(product: dict) -> str | None:
    """The planted defect of a demo product (from its `demo-invalid:` tag), or None if it is valid."""
    for tag in product.get("tags", "").split(","):
        tag = tag.strip()
        if tag.startswith(INVALID_TAG_PREFIX):
            return tag[len(INVALID_TAG_PREFIX) :]
    return None


class _BarcodeCounter:
    """Hands out unique 12-digit UPC-A codes with a valid check digit."""

    def __init__(self, seed: int) -> None:
        self.prefix = f"08{seed % 1000:03d}"
        self.next = 0

    def take(self) -> str:
        self.next += 1
        body = f"{self.prefix}{self.next:06d}"
        total = sum(int(d) * (3 if k % 2 == 0 else 1) for k, d in enumerate(reversed(body)))
        return body + str((10 - total % 10) % 10)


def _product(
    rng: random.Random, styles: dict[str, int], barcodes: _BarcodeCounter, max_variants: int
) -> dict:
    family = rng.choice(_FAMILIES)
    key = f"{family.brand_code}-{family.code}"
    styles[key] = styles.get(key, 0) + 1
    style = f"{family.code}{styles[key]:03d}"

    title = f"{rng.choice(family.adjectives)} {rng.choice(family.nouns)}"
    handle = f"{_slug(title)}-{style.lower()}"
    axes = _pick_axes(rng, family, max_variants)

    base_price = Decimal(rng.randint(*family.price)) + Decimal(rng.choice(("0.00", "0.50", "0.99", "0.00")))
    on_sale = rng.random() < 0.3
    grams_base = rng.randint(*family.grams)
    with_barcode = rng.random() < 0.7

    rows: list[tuple[tuple[str, str], ...]] = [()]
    for _, values in axes:
        rows = [row + (value,) for row in rows for value in values]

    variants = []
    for position, row in enumerate(rows, start=1):
        price = base_price
        for (axis, _), (value, _code) in zip(axes, row, strict=True):
            price += Decimal((axis.surcharge or {}).get(value, "0"))
        grams = grams_base + 15 * (position - 1) // max(1, len(rows) // 3)
        variant = {
            "title": " / ".join(v for v, _ in row) if row else "Default Title",
            "sku": "-".join([family.brand_code, style, *(code for _, code in row)]),
            "price": _money(price),
            "compare_at_price": _money(price * Decimal("1.25")) if on_sale else None,
            "position": position,
            "option1": None,
            "option2": None,
            "option3": None,
            "barcode": barcodes.take() if with_barcode else None,
            "grams": grams,
            "weight": _weight_in(grams, family.weight_unit),
            "weight_unit": family.weight_unit,
            "inventory_quantity": 0 if rng.random() < 0.08 else rng.randint(1, 250),
            "inventory_policy": "deny",
            "inventory_management": "shopify",
            "taxable": True,
            "requires_shipping": True,
        }
        for k, (value, _code) in enumerate(row or (("Default Title", ""),), start=1):
            variant[f"option{k}"] = value
        variants.append(variant)

    if axes:
        options = [
            {"name": axis.name, "position": k, "values": [v for v, _ in values]}
            for k, (axis, values) in enumerate(axes, start=1)
        ]
    else:
        options = [{"name": "Title", "position": 1, "values": ["Default Title"]}]

    image_count = rng.choice((1, 2, 3, 3, 4, 4, 5, 6, 7, 10))
    images = [
        {
            "src": f"{IMAGE_HOST}/products/{handle}/{k}.jpg",
            "position": k,
            "alt": f"{title}, view {k}",
            "width": 2000,
            "height": 2000,
        }
        for k in range(1, image_count + 1)
    ]

    bullets = rng.sample(family.bullets, k=min(len(family.bullets), rng.randint(2, 3)))
    body_html = (
        f"<p>{_html(family.intro)}</p>\n<ul>\n"
        + "".join(f"<li>{_html(b)}</li>\n" for b in bullets)
        + f"</ul>\n<p><em>{_html(family.care)}</em></p>"
    )
    tags = list(family.tags) + [_slug(family.vendor)]
    return {
        "title": title,
        "body_html": body_html,
        "vendor": family.vendor,
        "product_type": family.product_type,
        "handle": handle,
        "status": "active",
        "tags": ", ".join(tags),
        "options": options,
        "images": images,
        "variants": variants,
    }


def _pick_axes(
    rng: random.Random, family: _Family, max_variants: int
) -> list[tuple[_Axis, tuple[tuple[str, str], ...]]]:
    """Choose 0..3 of the family's options and a subset of each one's values, keeping the product of
    the value counts (the variant count) within max_variants."""
    count = rng.choice([0] + list(range(1, len(family.axes) + 1)) * 2)
    if count == 0:
        return []
    picked = sorted(rng.sample(range(len(family.axes)), count))
    chosen = []
    product = 1
    for n, axis_index in enumerate(picked):
        axis = family.axes[axis_index]
        remaining = count - n - 1
        cap = max(1, min(len(axis.values), (max_variants // product) // (2**remaining)))
        size = rng.randint(min(2, cap), cap)
        keep = sorted(rng.sample(range(len(axis.values)), size))
        chosen.append((axis, tuple(axis.values[i] for i in keep)))
        product *= size
    return chosen


def _break(rng: random.Random, products: list[dict], index: int, reason: str, valid: list[int]) -> None:
    product = products[index]
    variants = product["variants"]
    if reason == "empty_sku":
        rng.choice(variants)["sku"] = ""
    elif reason == "non_positive_price":
        rng.choice(variants)["price"] = rng.choice(("0.00", "-5.00", "-0.01"))
    elif reason == "no_images":
        product["images"] = []
    elif reason == "title_too_long":
        filler = (
            " with extra long marketing copy that keeps going well past what any listing title allows,"
            " repeated so the limit is clearly exceeded"
        )
        title = product["title"]
        while len(title) <= 255:
            title += filler
        product["title"] = title
    elif reason == "zero_weight":
        for variant in variants:
            variant["grams"] = 0
            variant["weight"] = 0.0
    elif reason == "duplicate_sku":
        earlier = [i for i in valid if i < index] or valid
        source = products[rng.choice(earlier)]
        rng.choice(variants)["sku"] = rng.choice(source["variants"])["sku"]
    else:
        raise ValueError(f"unknown invalid reason {reason!r}")
    product["tags"] = f"{product['tags']}, {INVALID_TAG_PREFIX}{reason}"


def _money(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _weight_in(grams: int, unit: str) -> float:
    value = Decimal(grams) / _GRAMS_PER_UNIT[unit]
    return float(round(value, _WEIGHT_DECIMALS[unit]))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
