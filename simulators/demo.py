"""`make demo`: start the sandbox, sync the example merchant's catalog to TikTok Shop on SQLite,
print the report, show that a second run writes nothing, let TikTok audit the listings and read
their status and failure reasons back; then the order story (simulators/demo_orders.py) and the
stock story (simulators/demo_stock.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

from rich.markup import escape

from engine.cli.listings import NOT_SEEN, listing_rows, reasons_text
from engine.cli.run import console, print_report
from engine.flow.runner import FlowRun, Merchant

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "acme"


def main() -> None:
    from simulators.demo_live import run_live_story
    from simulators.demo_orders import run_order_story
    from simulators.demo_stock import run_stock_story
    from simulators.sandbox import start_sandbox
    from simulators.tiktok_shop.products import DEFAULT_REJECTION

    workdir = Path(tempfile.mkdtemp(prefix="connector-demo-"))
    shutil.copytree(EXAMPLE, workdir / "acme")
    console.print(f"[bold]Sandbox[/bold]: TikTok Shop and Shopify simulators on 127.0.0.1; state in {workdir}/acme/.state")
    # TikTok's reviewers take their time: audits wait until step 3 settles them.
    with start_sandbox(products=40, seed=7, tiktok_options={"audit_delay_seconds": 3600}) as sandbox:
        merchant_file = workdir / "acme" / "merchant.yaml"
        merchant = Merchant(merchant_file, environ=sandbox.environ())
        try:
            console.print("[bold]1. Catalog sync, Shopify -> TikTok Shop US[/bold]")
            print_report(FlowRun(merchant, "catalog").run(), merchant_file)
            for letter in merchant.store.list_dead_letters(merchant="acme")[:5]:
                first = (letter["error"].get("field_errors") or [{}])[0]
                console.print(f"  dead letter {letter['id']}: {letter['key']} at {letter['step']}: "
                              f"{first.get('field', '')} {first.get('message', letter['error']['message'])}")
            console.print("[bold]2. Same catalog again: nothing changed, nothing written[/bold]")
            print_report(FlowRun(merchant, "catalog").run(), merchant_file)
            state = sandbox.admin("tiktok_shop", "GET", "state")
            console.print(f"TikTok Shop now holds {len(state.get('products', {}))} listings.")
            console.print("[bold]3. TikTok audits the listings (the sandbox turns two down); read the results back[/bold]")
            listed = merchant.store.list_mappings("product", "tiktok_us")
            sandbox.admin("tiktok_shop", "POST", "audit/run", json={"reject": {
                listed[0]["remote_id"]: [{"position": "description",
                                          "reasons": ["The description links to another shop"],
                                          "suggestions": ["Remove links and contact details from the description"]}],
                listed[1]["remote_id"]: [DEFAULT_REJECTION]}})
            print_report(FlowRun(merchant, "listing_status").run(), merchant_file)
            rows = listing_rows(merchant.store, ["tiktok_us"])
            counts = Counter(row["status"] or NOT_SEEN for row in rows)
            console.print("Listings by status: " + ", ".join(f"{s} {n}" for s, n in sorted(counts.items())))
            failed = next((row for row in rows if row["audit_failed_reasons"]), None)
            if failed:
                console.print(f"Why {failed['title']} (TikTok {failed['product_id']}) failed:")
                for line in reasons_text(failed["audit_failed_reasons"]).splitlines():
                    console.print(f"    {escape(line)}")
            console.print(f"All of them: connector listings {merchant_file}")
            run_order_story(sandbox, merchant, merchant_file)
            run_stock_story(sandbox, merchant, merchant_file)
            run_live_story(sandbox, merchant, merchant_file)
        finally:
            merchant.close()


if __name__ == "__main__":
    main()
