"""A Rithum catalog made from the sandbox's generated catalog (simulators/catalog.py), so the
Rithum sandbox lists the same products, images and stock as the Shopify one: a product with one
"Default Title" variant becomes a standalone product, the others a parent whose variations are
children with their option values as attributes."""

from __future__ import annotations

from decimal import Decimal

MAIN_DC = 2  # the account's first distribution center (Main Warehouse)


def _images(product: dict) -> list[dict]:
    return [{"PlacementName": f"ITEMIMAGEURL{i + 1}", "Url": image["src"]}
            for i, image in enumerate(sorted(product.get("images") or [], key=lambda im: im.get("position", 0)))]


def _variant(variant: dict, title: str, images: list[dict]) -> dict:
    weight = variant.get("weight")
    if weight is not None and variant.get("weight_unit") == "kg":
        weight = (Decimal(str(weight)) * Decimal("2.20462")).quantize(Decimal("0.01"))
    out = {"Sku": variant["sku"], "Title": title, "BuyItNowPrice": Decimal(str(variant["price"])),
           "UPC": variant.get("barcode"), "Weight": None if weight is None else Decimal(str(weight)),
           "DCQuantities": [{"DistributionCenterID": MAIN_DC,
                             "AvailableQuantity": max(int(variant.get("inventory_quantity") or 0), 0)}]}
    if variant.get("compare_at_price"):
        out["RetailPrice"] = Decimal(str(variant["compare_at_price"]))
    if images:
        out["Images"] = images
    return out


def from_generated(products: list[dict]) -> list[dict]:
    out = []
    for product in products:
        variants = [v for v in product["variants"] if v.get("sku")]
        if not variants:
            continue
        common = {"Title": product["title"], "Description": product.get("body_html"), "Brand": product.get("vendor"),
                  "Manufacturer": product.get("vendor"), "Classification": product.get("product_type"),
                  "Images": _images(product)}
        names = [o["name"] for o in product.get("options") or [] if o["name"] != "Title"]
        if len(variants) == 1 and not names:
            out.append({**_variant(variants[0], product["title"], common["Images"]), **common})
            continue
        children = []
        for variant in variants:
            values = [variant.get(f"option{i + 1}") for i in range(len(names))]
            child = _variant(variant, f"{product['title']} - {variant.get('title')}", [])
            child["Attributes"] = [{"Name": n, "Value": v} for n, v in zip(names, values, strict=True) if v]
            children.append(child)
        out.append({**common, "Sku": f"{variants[0]['sku']}-PARENT", "RelationshipName": "-".join(names),
                    "Children": children})
    return out
