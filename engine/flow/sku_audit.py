"""The duplicate-SKU audit: read every channel's catalog and report the SKUs that cannot be matched.

SKUs are how a product in the primary catalog is matched to its listing on each channel, so a SKU
used by two products (or twice in one), or a variant without a SKU, makes matching ambiguous.
Across channels, a SKU of the primary catalog that a channel lacks is not listed there yet, and a
channel SKU that the primary catalog lacks is an orphan listing. How each connector's catalog is
read is declared in its YAML (`sku_audit:`), not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.lang.expr import ExpressionCompiler, Scope


@dataclass
class CatalogProduct:
    key: str
    title: str
    skus: list[str | None]


@dataclass
class ChannelAudit:
    connection: str
    products: int = 0
    skus: int = 0
    duplicates: dict[str, list[dict]] = field(default_factory=dict)  # sku -> the products using it
    blanks: list[dict] = field(default_factory=list)  # products with variants that have no SKU
    missing: list[str] = field(default_factory=list)  # primary SKUs not on this channel
    orphans: list[str] = field(default_factory=list)  # channel SKUs the primary catalog does not have
    compared_with: str | None = None

    @property
    def clean(self) -> bool:
        return not self.duplicates and not self.blanks

    def as_dict(self) -> dict:
        return {"connection": self.connection, "products": self.products, "skus": self.skus,
                "duplicates": self.duplicates, "blanks": self.blanks, "compared_with": self.compared_with,
                "missing": self.missing, "orphans": self.orphans, "clean": self.clean}


def read_catalog(connection: Any, spec: dict, exprs: ExpressionCompiler | None = None) -> Iterator[CatalogProduct]:
    """Page through a connection's catalog as `spec` (the connector's sku_audit section) says."""
    exprs = exprs or ExpressionCompiler()
    key, skus = exprs.jmespath(spec.get("key", "id")), exprs.jmespath(spec["skus"])
    title = exprs.jmespath(spec["title"]) if spec.get("title") else None
    for page in connection.paginate(spec["operation"], query=spec.get("query"), body=spec.get("body")):
        for item in page.records:
            scope = Scope(item, item, None, {})
            found = skus.evaluate(scope) or []
            yield CatalogProduct(
                key=str(key.evaluate(scope)),
                title=str(title.evaluate(scope) or "") if title else "",
                skus=[str(s) if s not in (None, "") else None for s in found],
            )


def audit_channel(connection: str, products: Iterable[CatalogProduct]) -> tuple[ChannelAudit, set[str]]:
    """Duplicates and blanks within one channel; also returns the set of SKUs it has."""
    report = ChannelAudit(connection)
    users: dict[str, list[dict]] = {}
    for product in products:
        report.products += 1
        blank = 0
        for sku in product.skus:
            if sku is None:
                blank += 1
                continue
            report.skus += 1
            users.setdefault(sku, []).append({"key": product.key, "title": product.title})
        if blank:
            report.blanks.append({"key": product.key, "title": product.title, "variants_without_sku": blank})
    report.duplicates = {sku: owners for sku, owners in sorted(users.items()) if len(owners) > 1}
    return report, set(users)


def audit_catalogs(catalogs: dict[str, Iterable[CatalogProduct]], primary: str | None = None,
                   sku_maps: dict[str, dict[str, str]] | None = None) -> list[ChannelAudit]:
    """Audit each channel; with a primary catalog, also compare every other channel's SKUs with it.

    `sku_maps[channel]` translates a primary (master) SKU to that channel's SKU, for connectors that
    map SKUs.
    """
    reports, sku_sets = {}, {}
    for name, products in catalogs.items():
        reports[name], sku_sets[name] = audit_channel(name, products)
    if primary in sku_sets:
        for name, report in reports.items():
            if name == primary:
                continue
            translate = (sku_maps or {}).get(name) or {}
            expected = {translate.get(sku, sku) for sku in sku_sets[primary]}
            report.compared_with = primary
            report.missing = sorted(expected - sku_sets[name])
            report.orphans = sorted(sku_sets[name] - expected)
    return list(reports.values())


def merchant_sku_maps(doc: dict, primary: str | None) -> dict[str, dict[str, str]]:
    """Channel SKU maps from the merchant's flow options: each `sku_map` applies to the connections
    its flow binds other than the primary catalog."""
    maps: dict[str, dict[str, str]] = {}
    for binding in (doc.get("flows") or {}).values():
        table = (binding.get("options") or {}).get("sku_map")
        if not table:
            continue
        for conn in (binding.get("connections") or {}).values():
            if conn != primary:
                maps.setdefault(conn, {}).update({str(k): str(v) for k, v in table.items()})
    return maps


def audit_merchant(merchant: Any, only: list[str] | None = None) -> tuple[list[ChannelAudit], list[str]]:
    """Read the catalogs of a merchant's connections (those whose connector declares sku_audit) and
    audit them. Returns the reports and the connections that were skipped, with the reason."""
    from engine.project.yamlpos import plain

    doc = merchant.doc
    connections = doc.get("connections") or {}
    unknown = [name for name in only or [] if name not in connections]
    if unknown:
        raise ValueError(f"unknown connection(s): {', '.join(unknown)}; the merchant has {', '.join(connections)}")
    exprs, catalogs, skipped = ExpressionCompiler(), {}, []
    for name, conn in connections.items():
        if only and name not in only:
            continue
        spec = merchant.project.get("connector", conn["connector"]).doc.get("sku_audit")
        if spec is None:
            skipped.append(f"{name}: connector {conn['connector']!r} declares no sku_audit")
            continue
        catalogs[name] = list(read_catalog(merchant.connection(name), plain(spec), exprs))
    primary = doc.get("primary_catalog")
    return audit_catalogs(catalogs, primary, merchant_sku_maps(plain(doc), primary)), skipped
