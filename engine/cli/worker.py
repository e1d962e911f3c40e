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
    @click.option("--reconcile", "reconcile_cron", default="30 * * * *", show_default=True, metavar="CRON",
                  help="When each merchant's stock flows are reconciled with the channel (UTC cron; "
                       "'off' for never). One reconciliation per flow waits at most, whichever worker queued it.")
    @click.option("--poll-seconds", default=0.5, show_default=True, type=click.FloatRange(0.05, 60),
                  help="How often to look for jobs that became due (one whose lock was freed, one to "
                       "try again); new jobs wake the worker at once.")
    def worker(merchant_files: tuple[Path, ...], concurrency: int, reconcile_cron: str, poll_seconds: float) -> None:
        """Take the jobs of MERCHANT_FILE... from the PostgreSQL job queue: events that `connector
        serve` received and stored, flows with trigger.schedule on their cron, runs asked for by
        hand, each SKU's stock changes (one job per SKU), reconciliations. One merchant's events,
        each of its flows and each SKU's stock are never processed by two workers at once. Stops
        gracefully on SIGTERM or Ctrl-C (the jobs in progress finish first)."""
        from croniter import croniter

        from engine.cli import exit_codes
        from engine.cli.exit_codes import CliError
        from engine.jobs.distributed import Worker

        cron = None if reconcile_cron.strip().lower() == "off" else reconcile_cron
        if cron is not None and not croniter.is_valid(cron):
            raise CliError(f"--reconcile {reconcile_cron!r} is not a cron expression (or 'off')", exit_codes.USAGE)
        Worker(list(merchant_files), concurrency=concurrency, reconcile_cron=cron, poll_seconds=poll_seconds).run()
