"""The ID map: a record's key on one side, its remote id on a connection, and extra ids kept with it."""

from __future__ import annotations

from engine.state.sqlite.core import _require, _row_dict
from engine.state.store import dump_json


class IdMapPart:
    """The ID map: a record's key on one side, its remote id on a connection, and extra ids kept with
    it. Part of SQLiteStore; uses the core's connections."""

    def map_id(self, entity: str, connection: str, key: str, remote_id: str,
               extra: dict | None = None) -> None:
        _require(entity=entity, connection=connection, key=key, remote_id=remote_id)
        with self._write() as conn:
            conn.execute(
                """INSERT INTO id_map VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (entity, connection, key) DO UPDATE SET
                     remote_id = excluded.remote_id, extra = excluded.extra,
                     updated_at = excluded.updated_at""",
                (entity, connection, key, remote_id, None if extra is None else dump_json(extra), self._ts()))

    def get_remote_id(self, entity: str, connection: str, key: str) -> str | None:
        m = self.get_mapping(entity, connection, key)
        return None if m is None else m["remote_id"]

    def get_mapping(self, entity: str, connection: str, key: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute(
                "SELECT remote_id, extra, updated_at FROM id_map WHERE entity=? AND connection=? AND key=?",
                (entity, connection, key)).fetchone()
        return None if row is None else _row_dict(row, ("extra",))

    def find_key_by_remote_id(self, entity: str, connection: str, remote_id: str) -> str | None:
        with self._use() as conn:
            row = conn.execute(
                """SELECT key FROM id_map WHERE entity=? AND connection=? AND remote_id=?
                   ORDER BY updated_at DESC, rowid DESC LIMIT 1""",
                (entity, connection, remote_id)).fetchone()
        return None if row is None else row[0]

    def list_mappings(self, entity: str, connection: str) -> list[dict]:
        with self._use() as conn:
            rows = conn.execute(
                """SELECT key, remote_id, extra, updated_at FROM id_map
                   WHERE entity=? AND connection=? ORDER BY key""", (entity, connection)).fetchall()
        return [_row_dict(r, ("extra",)) for r in rows]

    def delete_mapping(self, entity: str, connection: str, key: str) -> bool:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM id_map WHERE entity=? AND connection=? AND key=?",
                               (entity, connection, key))
            return cur.rowcount > 0
