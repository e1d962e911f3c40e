"""The end-to-end order and inventory tests again, with every merchant's state in PostgreSQL.

Each module runs in its own pytest process with CONNECTOR_STATE_URL naming a fresh database of
the session's throwaway server, so the runs, kills and reruns those tests make (and the
subprocesses they start) all use the PostgreSQL backend."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("module", [
    "tests/flows/test_orders_e2e.py",
    "tests/flows/test_inventory_e2e.py",
    "tests/flows/test_stock_concurrency.py",
])
def test_end_to_end_on_postgres(postgres_server, module):
    database = f"e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    url = postgres_server.rsplit("/", 1)[0] + f"/{database}"
    env = {**os.environ, "CONNECTOR_STATE_URL": url}
    done = subprocess.run([sys.executable, "-m", "pytest", module, "-o", "addopts=", "-q", "-x",
                           "-p", "no:cacheprovider"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "deselected" not in summary, summary
    # The state really was in PostgreSQL: the merchant's schema holds the runs.
    with psycopg.connect(url) as conn:
        runs = conn.execute("SELECT count(*) FROM merchant_acme.run").fetchone()[0]
    assert runs > 0
