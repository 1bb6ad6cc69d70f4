"""One SQLite file in WAL mode with ``synchronous=FULL``: the durable store under events and ad state.

Thread safety: writes go through one connection behind a lock (SQLite has one writer anyway); reads
use one read-only connection per thread, so readers never wait for the writer (WAL). A commit
returns only after the WAL is fsynced, so what a caller was told is stored survives a crash.
The SQL in the subclasses sticks to types and upserts (``ON CONFLICT``) that Postgres shares.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from data.errors import DataError


class WalStore:
    """Base of the SQLite stores: ``_writer`` (under ``_lock``), ``_reader()`` per thread, ``close()``."""

    error: type[DataError] = DataError
    """The exception raised when the file cannot be put in WAL mode (subclasses name their own)."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._writer = self._connect()
        self._writer.executescript(schema)
        mode = self._writer.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            self._writer.close()
            raise self.error(f"{self.path}: journal_mode is {mode!r}; expected 'wal' (is it on a network drive?)")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=FULL")  # commit returns only after the WAL is fsynced
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
            self._writer.close()
