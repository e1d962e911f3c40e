"""`connector worker`: run the queued work (webhook events, scheduled flows) of merchants whose
state is in PostgreSQL; start as many as the load needs, on any machine that reaches the database."""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli.common import MERCHANT_FILE


def register(main: click.Group) -> None:
    @main.command("worker")
    @click.argument("merchant_files", nargs=-1, required=True, type=MERCHANT_FILE)
    @click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64),
                  help="Jobs this worker runs at once (each on a thread).")
    def worker(merchant_files: tuple[Path, ...], concurrency: int) -> None:
        """Take the jobs of MERCHANT_FILE... from the PostgreSQL job queue: events that `connector
        serve` received and stored, flows with trigger.schedule on their cron, runs asked for by
        hand. One merchant's events and each of its flows are never processed by two workers at
        once. Stops gracefully on SIGTERM or Ctrl-C (the jobs in progress finish first)."""
        from engine.jobs.distributed import Worker

        Worker(list(merchant_files), concurrency=concurrency).run()
