"""Rotated connector tokens are encrypted at rest (engine/state/sealed.py), on every backend: the
database holds no token, plain rows written before are sealed on first read, keys rotate, and the
key lives apart from the data."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine.state import STATE_KEY_ENV, TokenKeyError, open_store
from engine.state.sealed import generate_key

TOKENS = {"access_token": "acc-7Qx9-distinctive", "refresh_token": "ref-4Lm2-distinctive", "expires_at": 1893456000}


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch):
    monkeypatch.delenv(STATE_KEY_ENV, raising=False)


def raw_rows(store) -> list[str]:
    with store._use() as conn:
        return [row[0] for row in conn.execute("SELECT value FROM kv WHERE namespace='tokens'").fetchall()]


def test_tokens_are_sealed_in_the_database_and_open_again(make_store):
    store = make_store()
    store.use_token_key(generate_key())
    store.set_token("tiktok_us", TOKENS)
    rows = raw_rows(store)
    assert len(rows) == 1 and "distinctive" not in rows[0] and '"sealed"' in rows[0]
    assert store.kv_get("tokens", "tiktok_us").keys() == {"sealed"}
    assert store.get_token("tiktok_us") == TOKENS


def test_plain_rows_are_sealed_on_first_read(make_store):
    store = make_store()
    store.use_token_key(generate_key())
    store.kv_set("tokens", "tiktok_us", TOKENS)  # as written before tokens were sealed
    assert store.get_token("tiktok_us") == TOKENS
    assert all("distinctive" not in row for row in raw_rows(store))
    assert store.get_token("tiktok_us") == TOKENS


def test_a_changed_value_is_not_overwritten_by_the_migration(make_store):
    store = make_store()
    store.kv_set("tokens", "tiktok_us", {"access_token": "new"})
    assert store.kv_replace("tokens", "tiktok_us", {"access_token": "old"}, {"sealed": "x"}) is False
    assert store.kv_get("tokens", "tiktok_us") == {"access_token": "new"}
    assert store.kv_replace("tokens", "tiktok_us", {"access_token": "new"}, {"sealed": "x"}) is True


def test_keys_rotate_and_a_wrong_key_is_a_clear_error(make_store):
    old, new, other = generate_key(), generate_key(), generate_key()
    store = make_store()
    store.use_token_key(old)
    store.set_token("tiktok_us", TOKENS)
    sealed_with_old = raw_rows(store)[0]
    store.use_token_key(f"{new}, {old}")
    assert store.get_token("tiktok_us") == TOKENS
    assert raw_rows(store)[0] != sealed_with_old  # re-sealed with the new key on read
    store.use_token_key(new)  # the old key retired
    assert store.get_token("tiktok_us") == TOKENS
    store.use_token_key(other, origin="state.key")
    with pytest.raises(TokenKeyError, match="do not open with state.key") as caught:
        store.get_token("tiktok_us")
    assert other not in str(caught.value)


def test_a_malformed_key_is_refused_without_echoing_it(make_store):
    store = make_store()
    store.use_token_key("not-a-fernet-key-s3cr3t", origin=STATE_KEY_ENV)
    with pytest.raises(TokenKeyError, match=f"key 1 of {STATE_KEY_ENV} is not a Fernet key") as caught:
        store.set_token("tiktok_us", TOKENS)
    assert "s3cr3t" not in str(caught.value)


def test_the_environment_key_is_used(make_store, monkeypatch):
    key = generate_key()
    monkeypatch.setenv(STATE_KEY_ENV, key)
    store = make_store()
    store.set_token("tiktok_us", TOKENS)
    monkeypatch.delenv(STATE_KEY_ENV)
    other = make_store()
    other.use_token_key(key)
    assert other.get_token("tiktok_us") == TOKENS


def test_sqlite_generates_an_owner_only_key_file_beside_the_state(tmp_path):
    db = tmp_path / "acme.db"
    key_file = Path(str(db) + ".key")
    store = open_store(str(db))
    try:
        store.set_snapshot("product", "tiktok_us", "p1", {"title": "Tee"})
        assert not key_file.exists()  # no token, no key
        store.set_token("tiktok_us", TOKENS)
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert b"distinctive" not in db.read_bytes() + Path(str(db) + "-wal").read_bytes()
    finally:
        store.close()
    reopened = open_store(str(db))
    try:
        assert reopened.get_token("tiktok_us") == TOKENS
        os.chmod(key_file, 0o644)
        again = open_store(str(db))
        with pytest.raises(TokenKeyError, match="may be read by other users"):
            again.get_token("tiktok_us")
        again.close()
    finally:
        reopened.close()


def test_postgres_without_a_key_says_how_to_give_one(postgres_url):
    store = open_store(postgres_url)
    try:
        with pytest.raises(TokenKeyError, match=STATE_KEY_ENV):
            store.set_token("tiktok_us", TOKENS)
        assert store.kv_get("tokens", "tiktok_us") is None
    finally:
        store.close()


def test_a_bad_key_stops_a_connection_before_it_sends_anything(tmp_path):
    """The platform rotates the refresh token when it is spent: a key that cannot store the new one
    must fail before the refresh, not after it (the merchant would have to authorize again)."""
    import httpx
    import yaml

    from engine.flow.runner import StoreTokenStore
    from engine.http import Connection

    sent: list[httpx.Request] = []
    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "connectors" / "tiktok_shop.yaml").read_text())
    store = open_store(str(tmp_path / "acme.db"))
    store.use_token_key("not a key")
    try:
        with pytest.raises(TokenKeyError, match="not a Fernet key"):
            Connection(spec, settings={"shop_cipher": "ROW_c", "region": "US"}, name="tiktok_us",
                       credentials={"app_key": "k", "app_secret": "s", "access_token": "a", "refresh_token": "r"},
                       token_store=StoreTokenStore(store),
                       transport=httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(500)))
        assert sent == []
    finally:
        store.close()


def test_a_key_problem_is_a_configuration_error_for_the_command_line():
    from engine.cli import exit_codes
    from engine.cli.main import describe_error

    code, lines = describe_error(TokenKeyError("key 1 of state.key is not a Fernet key"))
    assert code == exit_codes.CONFIG and lines == ["error: key 1 of state.key is not a Fernet key"]


def test_processes_starting_together_agree_on_one_generated_key(tmp_path, monkeypatch):
    """Each writes its key privately and links it into place: none reads a half-written file, and
    what one seals every other opens (key generation slowed down to widen the window)."""
    import threading
    import time

    from engine.state import sealed
    from engine.state.sealed import TokenSealer

    def slow_key() -> str:
        time.sleep(0.05)
        return generate_key()

    monkeypatch.setattr(sealed, "generate_key", slow_key)

    path, barrier, made, errors = tmp_path / ".state" / "acme.key", threading.Barrier(12), [], []

    def start() -> None:
        barrier.wait()
        try:
            made.append(TokenSealer.from_key_file(path))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(made) == 12
    sealed = made[0].seal(TOKENS)
    assert all(sealer.open(sealed, "x") == (TOKENS, False) for sealer in made)
    assert [p.name for p in path.parent.iterdir()] == ["acme.key"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
