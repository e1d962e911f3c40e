"""Content hashes of what was last pushed, per part (content, price, inventory)."""

from __future__ import annotations

from engine.state.sqlite.core import _require


class HashesPart:
    """Content hashes of what was last pushed, per part (content, price, inventory). Part of SQLiteStore; uses the core's connections."""

    def get_hash(self, entity: str, connection: str, key: str) -> str | None:
        with self._use() as conn:
            row = conn.execute(
                "SELECT digest FROM content_hash WHERE entity=? AND connection=? AND key=?",
                (entity, connection, key)).fetchone()
        return None if row is None else row[0]

    def set_hash(self, entity: str, connection: str, key: str, digest: str) -> None:
        _require(entity=entity, connection=connection, key=key, digest=digest)
        with self._write() as conn:
            conn.execute(
                """INSERT INTO content_hash VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (entity, connection, key) DO UPDATE SET
                     digest = excluded.digest, updated_at = excluded.updated_at""",
                (entity, connection, key, digest, self._ts()))
