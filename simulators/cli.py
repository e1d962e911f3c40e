"""`connector sandbox`: plugged into the engine's CLI by entry point (connector.commands), so the
engine never imports the simulators."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    @main.command()
    @click.option("--seed", default=7, show_default=True, help="Seed for the simulators and the demo catalog.")
    @click.option("--products", default=60, show_default=True, help="Demo catalog size.")
    @click.option("--webhook-url", metavar="URL",
                  help="Deliver both simulators' webhooks as they happen to this running `connector serve` "
                       "(e.g. http://127.0.0.1:8080), keeping each subscription's path.")
    def sandbox(seed: int, products: int, webhook_url: str | None) -> None:
        """Start the TikTok Shop and Shopify simulators on 127.0.0.1 with a demo catalog; print their URLs."""
        from simulators.sandbox import main as sandbox_main

        sandbox_main(seed=seed, products=products, webhook_url=webhook_url)
