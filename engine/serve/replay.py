"""`connector dlq replay MERCHANT webhooks`: events given up on, processed again now.

An event is dead-lettered after its last attempt (or at once when it cannot be read). Once the
cause is fixed (an outage over, a connector's topics table corrected, a payload fixed by hand with
`--payload`), replaying takes the stored event back and puts it through the same dispatcher as
`connector serve`: the flows it triggers, minus those it already went through. The topic is read
again with the current connector, so a fixed topics table takes effect. It is tried once: if it
fails again it goes back to the dead-letter queue with the new error, and the old entry records
the failed replay.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from engine import decimal_json
from engine.project.secrets import REDACTOR
from engine.serve.flows import FlowRunner
from engine.serve.health import Health
from engine.serve.metrics import Metrics
from engine.serve.options import ServeOptions
from engine.serve.receiver import read_topic
from engine.serve.routing import routes_of
from engine.serve.workers import EVENTS_FLOW, EventDispatcher, owner_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayedEvent:
    letter_id: int
    key: str
    status: str  # done, failed (dead-lettered again), waiting (a flow was busy: back in the queue), gone
    error: str = ""


def _payload_bytes(letter: dict, event: dict) -> bytes | None:
    """The letter's payload as new bytes when it was edited; None to keep the stored bytes (the
    letter holds a redacted copy of them, which must not replace the original)."""
    try:
        stored = decimal_json.loads(event["payload_raw"], keep_refused=True)
    except (ValueError, UnicodeDecodeError):
        stored = None
    payload = letter.get("payload")
    if stored is not None and (payload == REDACTOR.data(stored if isinstance(stored, dict) else {"payload": stored})):
        return None
    if isinstance(payload, dict) and set(payload) == {"raw"} and stored is None:
        return None  # unreadable bytes kept as text, not edited
    if isinstance(payload, dict) and set(payload) == {"payload"}:
        payload = payload["payload"]
    return json.dumps(payload, ensure_ascii=False, default=decimal_json.number_text).encode("utf-8")


def _topic(merchant: Any, source: str, raw: bytes, headers: dict) -> str | None:
    plan, doc = getattr(merchant, "plan", None), getattr(merchant, "doc", None) or {}
    conn = (doc.get("connections") or {}).get(source) or {}
    compiled = plan.connectors.get(conn.get("connector")) if plan is not None else None
    webhooks = getattr(compiled, "webhooks", None)
    if webhooks is None:
        return None
    try:
        body: Any = decimal_json.loads(raw, keep_refused=True)
    except (ValueError, UnicodeDecodeError):
        body = None
    return read_topic(webhooks, {"headers": {str(k).lower(): v for k, v in (headers or {}).items()}, "body": body})


def replay_dead_lettered_events(merchant: Any, ids: list[int] | None = None, options: ServeOptions | None = None,
                                *, routes: Any = None, runner: Any = None) -> list[ReplayedEvent]:
    """Replay the open dead-lettered events of `merchant` (those of `ids` only, when given).
    `routes` and `runner` default to the merchant's own (tests pass their own)."""
    store = merchant.store
    letters = [letter for letter in store.list_dead_letters(merchant=merchant.name, flow=EVENTS_FLOW)
               if not ids or letter["id"] in ids]
    if not letters:
        return []
    options = replace(options or ServeOptions(), max_attempts=1)
    owner = owner_id()
    taken: list[tuple[dict, dict]] = []
    results: list[ReplayedEvent] = []
    for letter in letters:
        source, _, event_id = str(letter["key"]).partition(":")
        stored = store.get_event(source, event_id)
        if stored is None or stored.get("status") != "failed":
            results.append(ReplayedEvent(letter["id"], letter["key"], "gone",
                                         "the event is no longer stored as failed (purged or replayed)"))
            continue
        raw = _payload_bytes(letter, stored)
        topic = _topic(merchant, source, raw if raw is not None else stored["payload_raw"], stored.get("headers") or {})
        event = store.reclaim_failed_event(source, event_id, owner, options.claim_lease_seconds, topic=topic,
                                           payload_raw=raw)
        if event is not None:
            taken.append((letter, event))
    if taken:
        stop = threading.Event()
        metrics = Metrics()
        runner = runner or FlowRunner(merchant, metrics, Health(), stop)
        with ThreadPoolExecutor(max_workers=max(options.workers, 1), thread_name_prefix="replay") as pool:
            dispatcher = EventDispatcher(merchant, routes or routes_of(merchant), runner, pool, options, metrics,
                                         stop)
            dispatcher.process([event for _, event in taken])
    for letter, event in taken:
        after = store.get_event(event["source"], event["event_id"]) or {}
        runs = (after.get("outcome") or {}).get("runs") or {}
        run_id = ",".join(sorted(runs.values()))
        if after.get("status") == "done":
            store.mark_replayed(letter["id"], run_id, True)
            results.append(ReplayedEvent(letter["id"], letter["key"], "done"))
        elif after.get("status") == "failed":
            store.mark_replayed(letter["id"], run_id, False)
            results.append(ReplayedEvent(letter["id"], letter["key"], "failed", str(after.get("error") or "")))
        else:
            results.append(ReplayedEvent(letter["id"], letter["key"], "waiting",
                                         "a flow it triggers was running; the event is queued for the next server"))
    return sorted(results, key=lambda r: r.letter_id)
