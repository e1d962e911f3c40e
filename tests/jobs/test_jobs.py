"""The job interface: in-process for SQLite, procrastinate on PostgreSQL (locks, queueing locks)."""

from __future__ import annotations

import psycopg

from engine.jobs import InProcessJobs, jobs_for
from engine.jobs.distributed import TASK_EVENTS, TASK_FLOW, ProcrastinateJobs, queue_of


def _jobs(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT task_name, queue_name, lock, queueing_lock, status::text, args "
                            "FROM procrastinate_jobs ORDER BY id").fetchall()


def test_sqlite_state_keeps_the_work_in_process(tmp_path):
    ran = []
    jobs = jobs_for(str(tmp_path / "m.db"), submit=lambda merchant, flow: ran.append((merchant, flow)))
    assert isinstance(jobs, InProcessJobs) and not jobs.distributed
    jobs.events_stored("acme")  # the server's dispatcher polls: nothing to hand over
    assert jobs.run_flow("acme", "catalog") is True and ran == [("acme", "catalog")]


def test_postgres_state_queues_one_pending_job_per_key(postgres_database):
    jobs = jobs_for(postgres_database)
    try:
        assert isinstance(jobs, ProcrastinateJobs) and jobs.distributed
        for _ in range(5):  # a burst of webhooks: one job waits, it will claim them all
            jobs.events_stored("acme")
        jobs.events_stored("globex")
        assert jobs.run_flow("acme", "catalog") is True
        assert jobs.run_flow("acme", "catalog") is False  # a tick while one waits: not piled up
        assert jobs.run_flow("acme", "inventory") is True
        rows = _jobs(postgres_database)
        assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
            (TASK_EVENTS, queue_of("acme"), "events:acme", "events:acme", "todo"),
            (TASK_EVENTS, queue_of("globex"), "events:globex", "events:globex", "todo"),
            (TASK_FLOW, queue_of("acme"), "flow:acme:catalog", "flow:acme:catalog", "todo"),
            (TASK_FLOW, queue_of("acme"), "flow:acme:inventory", "flow:acme:inventory", "todo"),
        ]
        assert rows[2][5] == {"merchant": "acme", "flow": "catalog"}
    finally:
        jobs.close()
    # A second deferrer (another serve process) finds the schema there and shares the queue.
    other = jobs_for(postgres_database + "?schema=merchant_acme")
    try:
        other.events_stored("acme")
        assert len(_jobs(postgres_database)) == 4
    finally:
        other.close()
