"""A Django cache in one SQLite file, shared by every process on the machine.

Without Redis the gunicorn workers share no memory, so rate-limit counters kept in each
worker's LocMemCache would admit the limit once per worker. This backend keeps entries in a file
under var/ instead. `add()` and `incr()` are single SQL statements, so concurrent workers never
lose a count, and `incr()` keeps the entry's expiry (a fixed rate-limit window must end when it
was set to end, however often it is counted).

Integers are stored as SQLite integers (so `incr` is arithmetic in SQL); anything else is
pickled. Expired rows are purged now and then on writes.
"""

import os
import pickle
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    value,
    expires REAL
) WITHOUT ROWID
"""
_NOT_EXPIRED = "(expires IS NULL OR expires > ?)"
_PURGE_ONE_IN = 500  # writes between purges of expired rows, on average


class SQLiteFileCache(BaseCache):
    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._path = Path(location)
        self._local = threading.local()

    # --- connection, one per thread and process --------------------------------------------

    def _db(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every statement is its own transaction; the busy timeout queues writers.
        conn = sqlite3.connect(self._path, timeout=5, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")  # counters: losing the last ones in a crash is fine
        conn.execute(_SCHEMA)
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _expiry(self, timeout: Any) -> float | None:
        seconds = self.get_backend_timeout(timeout)
        return None if seconds is None else float(seconds)

    @staticmethod
    def _dump(value: Any) -> Any:
        return value if type(value) is int else pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def _load(stored: Any) -> Any:
        return stored if type(stored) is int else pickle.loads(stored)  # noqa: S301 - our own rows

    def _maybe_purge(self, conn: sqlite3.Connection) -> None:
        if random.randrange(_PURGE_ONE_IN) == 0:
            conn.execute("DELETE FROM entries WHERE expires <= ?", (time.time(),))

    # --- the cache API ---------------------------------------------------------------------

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        conn = self._db()
        cursor = conn.execute(
            "INSERT INTO entries (key, value, expires) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires"
            " WHERE entries.expires IS NOT NULL AND entries.expires <= ?",
            (key, self._dump(value), self._expiry(timeout), time.time()),
        )
        self._maybe_purge(conn)
        return cursor.rowcount == 1

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        row = (
            self._db()
            .execute(
                f"SELECT value FROM entries WHERE key = ? AND {_NOT_EXPIRED}", (key, time.time())
            )
            .fetchone()
        )
        return default if row is None else self._load(row[0])

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        key = self.make_and_validate_key(key, version=version)
        conn = self._db()
        conn.execute(
            "INSERT OR REPLACE INTO entries (key, value, expires) VALUES (?, ?, ?)",
            (key, self._dump(value), self._expiry(timeout)),
        )
        self._maybe_purge(conn)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        cursor = self._db().execute(
            f"UPDATE entries SET expires = ? WHERE key = ? AND {_NOT_EXPIRED}",
            (self._expiry(timeout), key, time.time()),
        )
        return cursor.rowcount == 1

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        row = (
            self._db()
            .execute(
                f"UPDATE entries SET value = value + ? WHERE key = ? AND {_NOT_EXPIRED}"
                " AND typeof(value) = 'integer' RETURNING value",
                (delta, key, time.time()),
            )
            .fetchone()
        )
        if row is None:
            raise ValueError(f"Key '{key}' not found or not an integer")
        value: int = row[0]
        return value

    def delete(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._db().execute("DELETE FROM entries WHERE key = ?", (key,)).rowcount == 1

    def has_key(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        row = (
            self._db()
            .execute(f"SELECT 1 FROM entries WHERE key = ? AND {_NOT_EXPIRED}", (key, time.time()))
            .fetchone()
        )
        return row is not None

    def clear(self) -> None:
        self._db().execute("DELETE FROM entries")

    def close(self, **kwargs: Any) -> None:
        """Kept open across requests: one connection per thread is cheap and reused."""
