"""Store-before-ack: the one writer that commits received events to a merchant's state store.

Every request hands its event to the merchant's EventWriter and waits for the commit before it
answers 2xx. The writer is a single thread that takes whatever arrived while the previous commit
ran and commits it as one transaction (group commit): under a burst, one fsync covers many events
instead of each request queueing for SQLite's write lock and its busy-wait back-off, which is what
keeps the acknowledgement fast at the 99th percentile.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)

MAX_BATCH = 500


class EventWriter:
    """Commits `store_event` tuples in groups on its own thread; `submit` returns a Future that
    resolves to True (stored) or False (already stored: a redelivery) once committed."""

    def __init__(self, store: Any, name: str = "events", on_stored: Callable[[], None] | None = None) -> None:
        self.store = store
        self.on_stored = on_stored  # after a commit with new events (a job queue is told of them)
        self._queue: queue.Queue[tuple[tuple, Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"ingest-{name}", daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, event: tuple) -> Future:
        future: Future = Future()
        if self._closed:
            future.set_exception(RuntimeError("the event writer is closed"))
            return future
        self._queue.put((event, future))
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[tuple, Future]]) -> None:
        try:
            stored = self.store.store_events([event for event, _ in batch])
        except Exception as exc:  # noqa: BLE001  (each waiting request answers 503; the platform resends)
            log.error("could not store %d received events: %s", len(batch), exc)
            for _, future in batch:
                future.set_exception(exc)
            return
        if self.on_stored is not None and any(stored):
            try:
                self.on_stored()
            except Exception as exc:  # noqa: BLE001  (stored all the same; the workers' sweep finds them)
                log.error("stored %d events but could not queue their processing: %s", len(batch), exc)
        for (_, future), new in zip(batch, stored, strict=True):
            future.set_result(new)

    def close(self, timeout: float = 10.0) -> None:
        """Commit what was submitted, then stop."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
