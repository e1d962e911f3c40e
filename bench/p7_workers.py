"""P7: catalog and order throughput with 1, 2 and 4 `connector worker` processes sharing one
PostgreSQL state store, against 1 worker: close to linear until the platforms' rate limits bind.

Waits on the PostgreSQL backend and its workers (issue 16). The row runs once a PostgreSQL
state store can be opened (engine.state.open_store with a postgresql:// URL) and procrastinate is
installed.
"""

from __future__ import annotations

import importlib.util

from _common import Config, Row

WHAT = "workers 1/2/4 on PostgreSQL: throughput vs 1 worker"
GOAL = "near linear"


def available() -> bool:
    if importlib.util.find_spec("procrastinate") is None:
        return False
    try:
        from engine.state import open_store

        open_store("postgresql://127.0.0.1:1/probe")
    except NotImplementedError:
        return False
    except Exception:  # noqa: BLE001  (a backend that tried to connect exists)
        return True
    return True


def rows(cfg: Config) -> list[Row]:
    if not available():
        return [Row("P7", WHAT, goal=GOAL, note="not built yet: PostgreSQL and workers (issue 16)")]
    return [Row("P7", WHAT, goal=GOAL, note="PostgreSQL backend exists: write the worker runs here (bench/p7_workers.py)")]
