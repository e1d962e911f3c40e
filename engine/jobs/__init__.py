"""Where a merchant's work goes once it is known: events to process, flows to run.

Two implementations of one interface, chosen by the state's backend:

- ``InProcessJobs`` (SQLite; what ``connector serve`` has always done): the server's own threads
  claim stored events and run scheduled flows; nothing leaves the process.
- ``ProcrastinateJobs`` (PostgreSQL): the work becomes jobs of procrastinate, a job queue kept in
  the same database as the state, taken by ``connector worker`` processes on any machine. A
  merchant's event processing and each of its flows run under a procrastinate lock (never twice
  at once), and a queueing lock keeps at most one pending job per key, so a burst of webhooks or
  missed schedule ticks never pile up. A stock change (a store's level webhook, a channel order
  holding units) becomes one job per merchant and SKU under the lock ``inventory:<merchant>:<sku>``:
  whichever machine takes it, one SKU's stock is read, computed and written by one job at a time,
  and a storm of changes to one SKU is one pending job. See ``engine.jobs.distributed``.

Events are stored in the state (store-before-ack) whatever the implementation: a job only says
"this merchant has events"; the events themselves are claimed from the state, so a lost or
repeated job loses or repeats nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any


class Jobs(ABC):
    """Work handed over by the receiver, the scheduler or a command."""

    #: True when the work is done by other processes (``connector worker``), not this one.
    distributed: bool = False

    @abstractmethod
    def events_stored(self, merchant: str) -> None:
        """New events of ``merchant`` are committed to its state: have them processed."""

    @abstractmethod
    def run_flow(self, merchant: str, flow: str) -> bool:
        """Have one run of ``flow`` made (a schedule tick, a reconciliation asked for by hand).
        False when one is already waiting to start (it will do the same work)."""

    @abstractmethod
    def stock_changed(self, merchant: str, skus: list[str]) -> int:
        """The stock of these SKUs may have changed: have each recomputed and written, by the
        merchant's stock flows. The number of jobs newly queued (or runs made)."""

    @abstractmethod
    def reconcile(self, merchant: str, flow: str) -> bool:
        """Have a reconciliation of the stock ``flow`` made. False when one is already waiting."""

    def close(self) -> None:
        """Release what the implementation holds (connections)."""
        return None


class InProcessJobs(Jobs):
    """The server processes its events and runs its flows on its own threads.

    ``events_stored`` has nothing to do: each merchant's dispatcher thread polls the stored events
    (see ``engine.serve.workers``). ``run_flow`` and ``reconcile`` hand the run to the server's
    pool. Stock changes are written by the run that saw them (the stock step's own per-SKU locks in
    the state store); ``stock_changed`` makes the same per-SKU runs a worker's jobs make, here."""

    def __init__(self, submit: Callable[[str, str], Any] | None = None, *,
                 stock: Callable[[str, list[str]], Any] | None = None,
                 reconcile: Callable[[str, str], Any] | None = None) -> None:
        self._submit, self._stock, self._reconcile = submit, stock, reconcile

    def events_stored(self, merchant: str) -> None:
        return None

    def run_flow(self, merchant: str, flow: str) -> bool:
        if self._submit is None:
            raise RuntimeError("no runner to hand flows to")
        self._submit(merchant, flow)
        return True

    def stock_changed(self, merchant: str, skus: list[str]) -> int:
        if self._stock is None:
            raise RuntimeError("no runner to hand stock changes to")
        for sku in sorted(set(skus)):
            self._stock(merchant, [sku])
        return len(set(skus))

    def reconcile(self, merchant: str, flow: str) -> bool:
        if self._reconcile is None:
            raise RuntimeError("no runner to hand reconciliations to")
        self._reconcile(merchant, flow)
        return True


def jobs_for(state_url: str | None, **kwargs: Any) -> Jobs:
    """The implementation a state location calls for: procrastinate on PostgreSQL, else in-process."""
    from engine.state import is_postgres_url

    if is_postgres_url(state_url):
        from engine.jobs.distributed import ProcrastinateJobs

        return ProcrastinateJobs(state_url)
    return InProcessJobs(**kwargs)


__all__ = ["InProcessJobs", "Jobs", "jobs_for"]
