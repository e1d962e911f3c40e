"""The order half of `make demo`: TikTok orders into Shopify, shipments back, a hold released, a
buyer's cancellation, a return refunded and restocked; each step a flow run against the sandbox."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
from rich.table import Table

from engine.cli.run import console, print_report
from engine.flow.runner import FlowRun, Merchant


class Shop:
    """The sandbox's Shopify Admin REST API, as the brand's staff would use it."""

    def __init__(self, sandbox: Any) -> None:
        env = sandbox.environ()
        self.base, self.token = env["ACME_SHOPIFY_URL"], env["ACME_SHOPIFY_TOKEN"]

    def call(self, method: str, path: str, body: dict | None = None, **query: Any) -> dict:
        for _ in range(10):  # the staff's calls share the store's rate limit with the connector
            response = httpx.request(method, f"{self.base}/{path}", json=body, params=query or None,
                                     headers={"X-Shopify-Access-Token": self.token}, timeout=30)
            if response.status_code != 429:
                break
            time.sleep(float(response.headers.get("Retry-After") or 1))
        response.raise_for_status()
        return response.json()

    def order_named(self, name: str) -> dict | None:
        found = self.call("GET", "orders.json", name=name, status="any")["orders"]
        return found[0] if found else None

    def ship(self, order_id: int, company: str, number: str, units: dict[str, int] | None = None) -> dict:
        """Fulfil the order (or the given SKU -> units of it) with a carrier and tracking number."""
        lines = []
        skus = {li["id"]: li.get("sku") for li in self.call("GET", f"orders/{order_id}.json")["order"]["line_items"]}
        for fo in self.call("GET", f"orders/{order_id}/fulfillment_orders.json")["fulfillment_orders"]:
            items = []
            for item in fo["line_items"]:
                sku = skus.get(item["line_item_id"])
                wanted = item["fulfillable_quantity"] if units is None else min(units.get(sku, 0),
                                                                                item["fulfillable_quantity"])
                if wanted:
                    items.append({"id": item["id"], "quantity": wanted})
            if items:
                lines.append({"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": items})
        return self.call("POST", "fulfillments.json", {"fulfillment": {
            "line_items_by_fulfillment_order": lines, "tracking_info": {"company": company, "number": number},
            "notify_customer": False}})["fulfillment"]


def _place(sandbox: Any, spec: dict) -> dict:
    return sandbox.admin("tiktok_shop", "POST", "orders", json=spec)


def _tiktok_order(sandbox: Any, order_id: str) -> dict:
    orders = sandbox.admin("tiktok_shop", "GET", "state")["orders"]
    found = orders.get(order_id) if isinstance(orders, dict) else next(o for o in orders if o["id"] == order_id)
    return found


def _run(merchant: Merchant, flow: str, merchant_file: Any, title: str) -> Any:
    console.print(f"[bold]{title}[/bold]")
    report = FlowRun(merchant, flow).run()
    print_report(report, merchant_file)
    return report


def _money_table(sandbox: Any, shop: Shop, order_ids: list[str]) -> Table:
    table = Table(title="TikTok order -> Shopify order, to the cent", title_justify="left")
    for column in ("TikTok order", "status", "Shopify", "paid", "subsidy", "Shopify total"):
        table.add_column(column, justify="right" if column in ("paid", "subsidy", "Shopify total") else "left")
    for order_id in order_ids:
        order = _tiktok_order(sandbox, order_id)
        pay = order["payment"]
        subsidy = Decimal(pay.get("platform_discount") or "0") + Decimal(pay.get("shipping_fee_platform_discount") or "0")
        shopify = shop.order_named(f"TT{order_id}")
        table.add_row(order_id[-8:], order["status"].replace("_", " ").lower(),
                      "…" + shopify["name"][-8:] if shopify else "-",
                      pay["total_amount"], str(subsidy), shopify["total_price"] if shopify else "-")
    return table


def run_order_story(sandbox: Any, merchant: Merchant, merchant_file: Any) -> None:
    shop = Shop(sandbox)
    products = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    products = products.values() if isinstance(products, dict) else products
    listed = [p for p in products if p.get("status") == "ACTIVATE"]
    skus = [s["seller_sku"] for p in listed for s in p["skus"] if s.get("seller_sku")]
    a, b, c = skus[0], skus[1], skus[2]
    console.print("[bold]4. Buyers order on TikTok Shop[/bold]")
    placed = {
        "bundle": _place(sandbox, {"line_items": [{"seller_sku": a, "quantity": 3, "seller_discount": "2.00"},
                                                   {"seller_sku": b, "quantity": 2, "platform_discount": "3.00"}],
                                    "shipping_fee": "5.99", "shipping_fee_platform_discount": "5.99",
                                    "status": "AWAITING_SHIPMENT"}),
        "on hold": _place(sandbox, {"line_items": [{"seller_sku": c}], "status": "ON_HOLD"}),
        "by TikTok": _place(sandbox, {"line_items": [{"seller_sku": a}], "fulfillment_type": "FULFILLMENT_BY_TIKTOK",
                                      "status": "AWAITING_SHIPMENT"}),
        "unpaid": _place(sandbox, {"line_items": [{"seller_sku": b}]}),
        "to cancel": _place(sandbox, {"line_items": [{"seller_sku": c}], "status": "AWAITING_SHIPMENT"}),
        "to return": _place(sandbox, {"line_items": [{"seller_sku": b, "quantity": 2}], "status": "AWAITING_SHIPMENT"}),
    }
    ids = {name: order["id"] for name, order in placed.items()}
    for name, order_id in ids.items():
        console.print(f"  {name:<10} TikTok order {order_id} ({_tiktok_order(sandbox, order_id)['status']})")
    _run(merchant, "orders", merchant_file, "5. Orders, TikTok Shop -> Shopify")
    console.print(_money_table(sandbox, shop, list(ids.values())))
    console.print("  The unpaid order waits; the one on hold has its stock reserved: "
                  + ", ".join(f"{r['sku']} x{r['quantity']}" for r in merchant.store.reservations()))
    _run(merchant, "orders", merchant_file, "6. The same orders again: nothing is created twice")

    console.print("[bold]7. The warehouse ships in Shopify; tracking goes back to TikTok[/bold]")
    bundle = shop.order_named(f"TT{ids['bundle']}")
    shop.ship(bundle["id"], "USPS", "9400111899223197428490", {a: 3})  # the first box
    shop.ship(bundle["id"], "UPS", "1Z999AA10123456784")  # the rest, split into a second box
    shop.ship(shop.order_named(f"TT{ids['to return']}")["id"], "FedEx", "612999AA10123456784")
    _run(merchant, "fulfillment", merchant_file, "   Fulfillment, Shopify -> TikTok Shop")
    for name in ("bundle", "to return"):
        order = _tiktok_order(sandbox, ids[name])
        packages = sorted({(li["package_id"], li["tracking_number"]) for li in order["line_items"]})
        console.print(f"  {name}: TikTok {order['status']}, packages "
                      + ", ".join(f"{pkg[-6:]} tracking {number}" for pkg, number in packages))

    console.print("[bold]8. TikTok releases the hold; the buyer of another order asks to cancel[/bold]")
    sandbox.admin("tiktok_shop", "POST", f"orders/{ids['on hold']}/advance", json={"to": "AWAITING_SHIPMENT"})
    sandbox.admin("tiktok_shop", "POST", "cancellations", json={"order_id": ids["to cancel"]})
    _run(merchant, "cancellation_requests", merchant_file, "   Cancellation requests (approved: not shipped yet)")
    _run(merchant, "orders", merchant_file, "   Orders again: the released order arrives, the cancelled one is cancelled")
    cancelled = shop.order_named(f"TT{ids['to cancel']}")
    console.print(f"  Shopify {cancelled['name']}: cancelled_at {cancelled['cancelled_at']}; "
                  f"reservations still held: {len(merchant.store.reservations())}")

    console.print("[bold]9. The brand cancels the released order in Shopify (out of stock)[/bold]")
    released = shop.order_named(f"TT{ids['on hold']}")
    shop.call("POST", f"orders/{released['id']}/cancel.json", {"reason": "inventory", "restock": True})
    _run(merchant, "cancellations", merchant_file, "   Cancellations, Shopify -> TikTok Shop")
    console.print(f"  TikTok order {ids['on hold']}: {_tiktok_order(sandbox, ids['on hold'])['status']}")

    console.print("[bold]10. A buyer returns two units; TikTok refunds them[/bold]")
    returned = ids["to return"]
    sandbox.admin("tiktok_shop", "POST", f"orders/{returned}/advance", json={"to": "DELIVERED"})
    ret = sandbox.admin("tiktok_shop", "POST", "returns", json={"order_id": returned,
                                                               "return_type": "RETURN_AND_REFUND"})
    # The seller approves the return, then its arrival, in Seller Center (here: through the
    # merchant's own signed TikTok connection).
    seller = merchant.connection("tiktok_us")
    seller.call("approve_return", path_params={"return_id": ret["return_id"]}, body={"decision": "APPROVE_RETURN"},
                idempotency_key=f"demo-approve-{ret['return_id']}")
    sandbox.admin("tiktok_shop", "POST", f"returns/{ret['return_id']}/advance", json={"to": "BUYER_SHIPPED_ITEM"})
    seller.call("approve_return", path_params={"return_id": ret["return_id"]},
                body={"decision": "APPROVE_RECEIVED_PACKAGE"}, idempotency_key=f"demo-received-{ret['return_id']}")
    _run(merchant, "returns", merchant_file, "   Returns, TikTok Shop -> Shopify refunds")
    order = shop.call("GET", f"orders/{shop.order_named(f'TT{returned}')['id']}.json")["order"]
    refunds = shop.call("GET", f"orders/{order['id']}/refunds.json")["refunds"]
    for refund in refunds:
        amount = sum(Decimal(t["amount"]) for t in refund.get("transactions") or [])
        restocked = sum(item["quantity"] for item in refund.get("refund_line_items") or []
                        if item.get("restock_type") == "return")
        console.print(f"  Shopify {order['name']}: refund {amount} {order['currency']}, {restocked} unit(s) "
                      f"restocked; financial status {order['financial_status']}")
