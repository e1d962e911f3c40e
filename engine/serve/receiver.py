"""One connection's webhook endpoint: verify, read what the delivery is, hand it to the writer.

The order is fixed by what each check may trust: the size first (nothing past the limit is read),
then the signature over the exact bytes (nothing unverified is parsed, stored or logged), then the
timestamp window (a verified but old delivery is a replay), then the delivery id and topic.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine import decimal_json
from engine.http import notices
from engine.http.compile import CompiledWebhooks
from engine.http.verify import Verifier
from engine.lang.functions import parse_datetime

UNKNOWN_TOPIC = "unknown"  # a verified delivery whose topic cannot be read: stored, then dead-lettered


@dataclass(frozen=True)
class Verdict:
    """What to answer. `event` is the store_event tuple of an accepted delivery."""

    status: int
    reason: str  # ok, signature, stale, too_large, bad_request
    event: tuple | None = None
    topic: str = ""


def read_topic(webhooks: CompiledWebhooks, scope: dict) -> str:
    """The event name of a delivery, from `{headers (lower-case names), body}`; UNKNOWN_TOPIC when
    the connector's webhooks.topic reads nothing there."""
    topic = None
    if webhooks.topic is not None:
        topic = webhooks.topic_name(webhooks.topic.search(scope))
    return topic or UNKNOWN_TOPIC


class Endpoint:
    """POST /webhooks/<merchant>/<connection>: the checks of one connection, from its connector's
    `webhooks:` declaration and the connection's own credentials."""

    def __init__(self, merchant: str, connection: str, webhooks: CompiledWebhooks, verifier: Verifier, *,
                 max_body_bytes: int, window_seconds: float | None, clock: Callable[[], float] = time.time) -> None:
        self.merchant, self.connection = merchant, connection
        self.webhooks, self.verifier = webhooks, verifier
        self.max_body_bytes = webhooks.max_body_bytes or max_body_bytes
        self.window_seconds = window_seconds if window_seconds is not None else webhooks.window_seconds
        self.clock = clock
        self._not_stored = frozenset(verifier.signature_headers)

    def too_large(self, content_length: str | None) -> bool | None:
        """True when the declared length is over the limit; None when it is not a length at all."""
        if content_length is None:
            return False
        try:
            length = int(content_length)
        except ValueError:
            return None
        return length > self.max_body_bytes or length < 0

    def check(self, raw: bytes, headers: Mapping[str, str]) -> Verdict:
        """Everything after the body is read; `headers` with lower-case names."""
        if not self.verifier.verify(raw, headers):
            return Verdict(401, "signature")
        try:
            body: Any = decimal_json.loads(raw, keep_refused=True)
        except (ValueError, UnicodeDecodeError):
            body = None  # authentic but not JSON: stored, and dead-lettered by the worker with the reason
        scope = {"headers": dict(headers), "body": body}
        if self.webhooks.timestamp is not None and self.window_seconds is not None:
            stale = self._stale(self.webhooks.timestamp.search(scope))
            if stale:
                return Verdict(401, "stale")
        event_id = self._text(self.webhooks.event_id.search(scope)) if self.webhooks.event_id is not None else None
        topic = read_topic(self.webhooks, scope)
        if topic in self.webhooks.notices:  # a platform job finished: wake the read waiting for it
            job = self._text(self.webhooks.notices[topic].search(scope))
            if job:
                notices.notify(job)
        kept = {k: v for k, v in headers.items() if k not in self._not_stored}
        return Verdict(200, "ok", (self.connection, event_id, topic, raw, kept), topic)

    def _stale(self, value: Any) -> bool:
        if value is None or value == "":
            return False  # nothing to judge by: the delivery id still catches a replay
        try:
            if isinstance(value, int | float) and not isinstance(value, bool):
                sent = float(value)
            else:
                sent = parse_datetime(value).timestamp()
        except (ValueError, OverflowError, OSError):
            return True  # a timestamp that cannot be read cannot be shown to be fresh
        if not math.isfinite(sent):
            return True
        return abs(self.clock() - sent) > self.window_seconds

    @staticmethod
    def _text(value: Any) -> str | None:
        if value is None or isinstance(value, dict | list | bool):
            return None
        text = str(value).strip()
        return text or None
