"""`make demo`: start the sandbox, sync the example merchant's catalog to TikTok Shop on SQLite,
print the report, then show that a second run writes nothing."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .cli_run import console, print_report
from .flow.runner import FlowRun, Merchant

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "acme"


def main() -> None:
    from simulators.sandbox import start_sandbox

    workdir = Path(tempfile.mkdtemp(prefix="connector-demo-"))
    shutil.copytree(EXAMPLE, workdir / "acme")
    console.print(f"[bold]Sandbox[/bold]: TikTok Shop and Shopify simulators on 127.0.0.1; state in {workdir}/acme/.state")
    with start_sandbox(products=40, seed=7) as sandbox:
        merchant = Merchant(workdir / "acme" / "merchant.yaml", environ=sandbox.environ())
        try:
            console.print("[bold]1. Catalog sync, Shopify -> TikTok Shop US[/bold]")
            print_report(FlowRun(merchant, "catalog").run())
            for letter in merchant.store.list_dead_letters(merchant="acme")[:5]:
                first = (letter["error"].get("field_errors") or [{}])[0]
                console.print(f"  dead letter {letter['id']}: {letter['key']} at {letter['step']}: "
                              f"{first.get('field', '')} {first.get('message', letter['error']['message'])}")
            console.print("[bold]2. Same catalog again: nothing changed, nothing written[/bold]")
            print_report(FlowRun(merchant, "catalog").run())
            state = sandbox.admin("tiktok_shop", "GET", "state")
            console.print(f"TikTok Shop now holds {len(state.get('products', {}))} listings.")
        finally:
            merchant.close()


if __name__ == "__main__":
    main()
