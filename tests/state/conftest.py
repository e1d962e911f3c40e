"""Every state-store test runs on each backend: SQLite (a file in the test's directory) and
PostgreSQL (a schema of its own on the session's throwaway server)."""

from __future__ import annotations

import pytest

from engine.state import open_store


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def location(backend, tmp_path, request) -> str:
    """Where a fresh store lives: a file path, or a PostgreSQL URL naming a new schema."""
    if backend == "sqlite":
        return str(tmp_path / "merchant.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def make_store(location):
    """Open (another handle on) the test's store, closing them all after the test."""
    opened = []

    def make(**options):
        store = open_store(location, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
