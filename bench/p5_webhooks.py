"""P5: a burst of 5,000 TikTok Shop order webhooks in 60 s against `connector serve`: the time to
acknowledge each one (p99), and that every event is stored once, none lost or duplicated.

Waits on `connector serve` (issue 11). The row runs once the webhook receiver exists as
`engine.serve.webhook_app(merchant)` (an ASGI app); its baseline is a bare ASGI app that
acknowledges without verifying or storing, behind the same server on the same machine.
"""

from __future__ import annotations

import importlib.util

from _common import Config, Row

WHAT = "5,000 order webhooks in 60 s: ack p99, lost, duplicated"
GOAL = "p99 < 50 ms, 0 lost, 0 dup"


def receiver():  # noqa: ANN201
    if importlib.util.find_spec("engine.serve") is None:
        return None
    module = importlib.import_module("engine.serve")
    return getattr(module, "webhook_app", None)


def rows(cfg: Config) -> list[Row]:
    if receiver() is None:
        return [Row("P5", WHAT, goal=GOAL, note="not built yet: connector serve (issue 11)")]
    return [Row("P5", WHAT, goal=GOAL, note="engine.serve exists: write the burst here (bench/p5_webhooks.py)")]
