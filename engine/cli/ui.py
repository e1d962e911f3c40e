"""`connector ui`: the operations page alone, over the merchants' state stores (no webhooks, no
schedule; `connector serve` serves the same page beside its webhooks)."""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli.common import MERCHANT_FILE


def register(main: click.Group) -> None:
    @main.command("ui")
    @click.argument("merchant_files", nargs=-1, required=True, type=MERCHANT_FILE)
    @click.option("--host", default="127.0.0.1", show_default=True,
                  help="Address to listen on. Any address but loopback needs --auth.")
    @click.option("--port", default=8081, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
    @click.option("--auth", metavar="REF", help="Credentials of the page: token:${env:NAME} (a bearer token, or "
                  "typed once into the sign-in form) or basic:USER:${env:NAME} (the browser asks).")
    def ui(merchant_files: tuple[Path, ...], host: str, port: int, auth: str | None) -> None:
        """Serve the operations page of MERCHANT_FILE... at http://HOST:PORT/ui/: connection health,
        runs, dead letters (replay, edit and replay, resolve), listings, orders, stock, audit log.
        Every action is written to the merchant's audit log. Stops on Ctrl-C."""
        import logging

        import uvicorn

        from engine.flow.runner import Merchant
        from engine.ui import Access, Operations, standalone_app

        access = Access.configure(host, auth)
        access.require_for_bind()
        merchants: dict = {}
        try:
            for path in merchant_files:
                merchant = Merchant(path)
                if merchant.name in merchants:
                    merchant.close()
                    raise click.UsageError(f"merchant {merchant.name} is given twice")
                merchants[merchant.name] = merchant
            app = standalone_app(Operations(merchants, access))
            logging.getLogger("engine.cli").warning("operations page on http://%s:%d/ui/", host, port)
            uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
        finally:
            for merchant in merchants.values():
                merchant.close()
