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


def test_sku_claims_are_a_table_per_scope_read_in_batches_and_cleared(location):
    store = open_store(location)
    try:
        skus = [f"SKU-{n}" for n in range(1200)]  # more than one IN (...) list of keys
        store.claim_skus("catalog:run:product:tiktok_us", skus[:700], "p1")
        store.claim_skus("catalog:run:product:tiktok_us", skus[700:], "p2")
        store.claim_skus("dry:abc:product:tiktok_us", ["SKU-1"], "p9")
        claimed = store.sku_claims("catalog:run:product:tiktok_us", ["SKU-0", "SKU-699", "SKU-700", "SKU-1199", "X"])
        assert claimed == {"SKU-0": "p1", "SKU-699": "p1", "SKU-700": "p2", "SKU-1199": "p2"}
        assert len(store.sku_claims("catalog:run:product:tiktok_us", skus)) == 1200
        assert store.sku_claims("catalog:run:product:tiktok_gb", skus) == {}
        assert store.clear_sku_claims("catalog:run:product:tiktok_us") == 1200
        assert store.sku_claims("catalog:run:product:tiktok_us", skus) == {}
        assert store.sku_claims("dry:abc:product:tiktok_us", ["SKU-1"]) == {"SKU-1": "p9"}  # another scope's
    finally:
        store.close()
