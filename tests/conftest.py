"""Fixtures shared by every test directory."""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server for the whole session (started on first use, removed after).

    CONNECTOR_TEST_POSTGRES_URL points the tests at a server of one's own instead. Skips, saying
    why, only when no server can be found or installed here."""
    given = os.environ.get("CONNECTOR_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    from engine.state.postgres.local import LocalPostgres, PostgresUnavailable

    try:
        server = LocalPostgres().start()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL is not available on this machine: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """A URL of the session's server with a schema of this test's own (nothing left from others)."""
    return f"{postgres_server}?schema=t_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def postgres_database(postgres_server):
    """A URL of a fresh database of its own on the session's server (job queue tables included)."""
    import psycopg

    name = f"db_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"



@pytest.fixture(scope="session", autouse=True)
def shipped_documents_stay_as_loaded():
    """The shipped documents the loader keeps for the whole process (engine/project/loader.py) must
    still equal their files when this process's tests are done: a step, override or check that
    wrote into one would change every later project of the process."""
    yield
    from pathlib import Path

    from engine.project.loader import SHIPPED_DOCS
    from engine.project.yamlpos import load_file, plain

    changed = [path for (path, _, _), doc in list(SHIPPED_DOCS.items())
               if plain(doc) != plain(load_file(Path(path)))]
    assert not changed, f"shipped documents changed in memory: {', '.join(changed)}"
