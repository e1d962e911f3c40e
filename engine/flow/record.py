"""The unit that moves through a flow's steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Record:
    key: str  # the cross-channel key of the entity (source product id, order id...)
    native: Any  # the payload as pulled, kept for dead letters and replays
    data: Any  # the current value: native, then canonical, then the target's body
    canonical: Any = None
    remote_id: str | None = None
    action: str = ""  # create, update, price_update, inventory_update, skip, queued
    parts_changed: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    context: dict = field(default_factory=dict)  # per-record context for later mappings
    previous: Any = None  # the canonical record as last pushed, for dry-run diffs
    detail: dict = field(default_factory=dict)  # what the run report shows
    read_error: Exception | None = None  # the record could not be read in full; it goes to the dead letters
    done: bool = False  # a step has finished the record (e.g. the filter took a listing off sale): no later step runs
