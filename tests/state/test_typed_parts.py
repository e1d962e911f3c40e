"""Snapshots, tokens and create quotas are typed parts of the store, with one name and one shape,
whatever the step or the backend."""

from __future__ import annotations

from engine.state import open_store
from engine.state.sealed import generate_key


def test_snapshots_are_per_entity_connection_and_key(location):
    store = open_store(location)
    try:
        assert store.get_snapshot("product", "tiktok_us", "p1") is None
        store.set_snapshot("product", "tiktok_us", "p1", {"title": "Tee", "price": "19.99"})
        store.set_snapshot("product", "tiktok_gb", "p1", {"title": "Tee (GB)"})
        assert store.get_snapshot("product", "tiktok_us", "p1") == {"title": "Tee", "price": "19.99"}
        assert store.get_snapshot("product", "tiktok_gb", "p1") == {"title": "Tee (GB)"}
        assert store.get_snapshot("order", "tiktok_us", "p1") is None
    finally:
        store.close()


def test_create_quotas_count_per_connection_and_day(location):
    store = open_store(location)
    try:
        for _ in range(3):
            store.count_create("tiktok_us", "2026-11-30")
        store.count_create("tiktok_us", "2026-12-01")
        assert store.creates_on("tiktok_us", "2026-11-30") == 3
        assert store.creates_on("tiktok_us", "2026-12-01") == 1
        assert store.creates_on("tiktok_gb", "2026-11-30") == 0
    finally:
        store.close()


def test_tokens_survive_a_reopen(location):
    key = generate_key()
    store = open_store(location)
    store.use_token_key(key)
    store.set_token("tiktok_us", {"access_token": "a2", "refresh_token": "r2"})
    store.close()
    store = open_store(location)
    store.use_token_key(key)
    try:
        assert store.get_token("tiktok_us") == {"access_token": "a2", "refresh_token": "r2"}
    finally:
        store.close()
