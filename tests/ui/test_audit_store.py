"""The state store's audit log (what the operations page writes): append-only, newest first, per
merchant, kept across reopening the file."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.state import open_store
from engine.state.store import StateError


def test_entries_come_back_newest_first_per_merchant_and_survive_a_reopen(tmp_path) -> None:
    path = str(tmp_path / "m.db")
    with open_store(path) as store:
        first = store.add_audit_entry("acme", "ana@local", "resolve", "dead_letter:1", {"note": "fixed"})
        second = store.add_audit_entry("acme", "token", "replay", "dead_letter:2,dead_letter:3",
                                       {"run_id": "r1", "price": Decimal("9.90")})
        store.add_audit_entry("bloom", "ops", "resolve", "dead_letter:9")
    with open_store(path) as store:
        entries = store.list_audit_entries("acme")
        assert [e["id"] for e in entries] == [second, first]
        assert entries[0]["detail"] == {"run_id": "r1", "price": "9.90"}  # money keeps its digits
        assert entries[1]["actor"] == "ana@local" and entries[1]["target"] == "dead_letter:1"
        assert entries[0]["at"] >= entries[1]["at"] and entries[0]["at"].endswith("Z")
        assert len(store.list_audit_entries()) == 3
        assert [e["merchant"] for e in store.list_audit_entries(limit=1)] == ["bloom"]
        with pytest.raises(StateError):
            store.add_audit_entry("acme", "", "resolve", "dead_letter:1")
