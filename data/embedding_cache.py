"""A persistent embedding cache: (model fingerprint, text hash) -> float32 vector, in SQLite (WAL).

It lives outside the git clone by default (``Settings.cache_dir``), so a fresh clone, a catalog
change or an interrupted build only pays for texts it has never embedded with that model.
Each batch is committed as it is embedded: a killed build resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np


def text_hash(text: str) -> bytes:
    """The cache key of a text (sha256 of its UTF-8 bytes, 16 bytes kept)."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


class EmbeddingCache:
    """SQLite-backed vector cache. Thread-safe; one connection per cache object."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (fingerprint TEXT NOT NULL, text_hash BLOB NOT NULL, "
            "dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (fingerprint, text_hash)) WITHOUT ROWID"
        )

    def get_many(self, fingerprint: str, hashes: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors among ``hashes`` (missing ones are absent from the result)."""
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(hashes), 500):
                chunk = list(hashes[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT text_hash, dim, vector FROM vectors WHERE fingerprint = ? AND text_hash IN ({marks})",
                    [fingerprint, *chunk],
                ).fetchall()
                for key, dim, blob in rows:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if vector.shape == (dim,):
                        found[bytes(key)] = vector
        return found

    def put_many(self, fingerprint: str, items: Iterable[tuple[bytes, np.ndarray]]) -> int:
        """Store vectors in one transaction; returns how many rows were written."""
        rows = [(fingerprint, key, int(vec.shape[0]), np.ascontiguousarray(vec, dtype=np.float32).tobytes())
                for key, vec in items]  # fmt: skip
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")
        return len(rows)

    def count(self, fingerprint: str | None = None) -> int:
        with self._lock:
            if fingerprint is None:
                return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
            return int(self._db.execute("SELECT COUNT(*) FROM vectors WHERE fingerprint = ?", [fingerprint]).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
