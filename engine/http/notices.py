"""Completion notices: a verified webhook saying that a platform finished a job it runs on its own
(a bulk export) wakes the read that waits for that job in the same process, so the result is read
at once instead of at the read's next poll. A read in another process (a worker) does not hear it
and keeps polling: the poll is the fallback, never replaced.

Keys are the job's id as the platform names it in both places (the start's answer and the
webhook).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_KEEP = 1000  # notices nobody waited for (a job of another process) are dropped past this many
_lock = threading.Lock()
_events: dict[str, threading.Event] = {}


def _event(key: str) -> threading.Event:
    with _lock:
        event = _events.get(key)
        if event is None:
            event = _events[key] = threading.Event()
            while len(_events) > _KEEP:
                _events.pop(next(iter(_events)))
        return event


def notify(key: str) -> None:
    """The job `key` finished."""
    _event(str(key)).set()


def wait(key: str, seconds: float, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Wait up to `seconds` for the job's notice; True when it came. A caller on an injected clock
    (`sleep` is not time.sleep) sleeps its own way and then only looks."""
    event = _event(str(key))
    if sleep is time.sleep:
        return event.wait(seconds)
    sleep(seconds)
    return event.is_set()


def forget(key: str) -> None:
    with _lock:
        _events.pop(str(key), None)
