"""One run of a merchant flow at a time.

A run holds the lease `run:<merchant>:<flow>` while it writes. Two runs of the same flow at once
(a slow poll overlapping the next tick, a person running it by hand) could both create what the
other is creating; with the lease the second one stops at once and says who holds it.

Holding the lease also tells the run that any create still marked "in progress" in the
idempotency ledger was left by a run of this flow that is no longer running (killed, crashed):
the push step then looks the object up on the channel instead of waiting for that claim to expire.

The lease is renewed while the run goes on, so a run that dies frees it within its time to live;
a holder on this machine whose process is gone is taken over at once.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

from engine.state.store import FlowBusyError

TTL_SECONDS = 120.0
RENEW_EVERY_SECONDS = 30.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class RunLease:
    def __init__(self, store: Any, merchant: str, flow: str) -> None:
        self.store = store
        self.name = f"run:{merchant}:{flow}"
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.owner = f"{self.host}/{self.pid}/{uuid.uuid4().hex[:8]}"
        self.flow, self.merchant = flow, merchant
        self._renewed = 0.0

    def acquire(self) -> None:
        if self.store.acquire_lease(self.name, self.owner, TTL_SECONDS):
            self._renewed = time.monotonic()
            return
        holder = self.store.get_lease(self.name) or {}
        host, _, rest = str(holder.get("owner", "")).partition("/")
        pid = rest.partition("/")[0]
        if host == self.host and pid.isdigit() and not _alive(int(pid)):
            # The holder's process is gone (killed, crashed): its lease is void.
            self.store.release_lease(self.name, holder["owner"])
            if self.store.acquire_lease(self.name, self.owner, TTL_SECONDS):
                self._renewed = time.monotonic()
                return
        raise FlowBusyError(
            f"flow {self.flow} of merchant {self.merchant} is already running (held by {holder.get('owner')} "
            f"until {holder.get('expires_at')}); nothing was done, run it again when that run has ended")

    def keep(self) -> None:
        """Renew now and then while the run goes on."""
        if time.monotonic() - self._renewed >= RENEW_EVERY_SECONDS:
            self.store.renew_lease(self.name, self.owner, TTL_SECONDS)
            self._renewed = time.monotonic()

    def release(self) -> None:
        self.store.release_lease(self.name, self.owner)
