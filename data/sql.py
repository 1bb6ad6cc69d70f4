"""One database layer under the durable stores: SQLite (one file in WAL mode) or PostgreSQL.

:func:`open_database` takes a target: a file path (SQLite, the default: no server needed) or a
``postgresql://`` URL (``MARQUEE_DATABASE_URL``; psycopg 3 with a ``psycopg_pool`` connection pool,
the optional extra ``postgres``). Both give a :class:`Database` with the same three calls:

* ``db.transaction()`` — a context manager yielding a :class:`Tx` that runs statements in ONE
  transaction, committed on exit (rolled back on an exception). ``durable=False`` keeps atomicity and
  isolation but does not wait for the WAL fsync at commit (for state a crash may lose harmlessly, such
  as ad reservations). SQLite takes the write lock at
  ``BEGIN IMMEDIATE`` (one writer per file, across processes); PostgreSQL runs ``READ COMMITTED``
  and callers lock the rows they decide on with ``SELECT ... {db.for_update}``.
* ``db.read()`` — a context manager yielding a :class:`Tx` for reads outside a write transaction
  (SQLite: a read-only connection per thread, never waiting for the writer; PostgreSQL: a pooled
  connection in autocommit).
* ``db.executescript(schema)`` — the schema, written once for both (see :meth:`Database.dialect`).

SQL is written once with ``?`` placeholders and the shared subset (``INSERT ... ON CONFLICT``,
``RETURNING``, multi-row ``VALUES``); :class:`Tx` turns ``?`` into ``%s`` for PostgreSQL. The few
differences are named on the database: ``serial`` (an auto-increment key), ``greatest`` (the scalar
max of two values) and ``for_update``.

Durability: SQLite runs ``synchronous=FULL`` (a commit returns after the WAL is fsynced);
PostgreSQL's defaults ``fsync=on`` and ``synchronous_commit=on`` do the same for its WAL.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from data.errors import DataError

Params = Sequence[Any]


class DatabaseError(DataError):
    """The database cannot be opened or used as configured (the message says what to fix)."""


def is_database_url(target: str | Path) -> bool:
    """True for a ``postgresql://`` / ``postgres://`` URL (anything else is an SQLite file path)."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class Tx(Protocol):
    """Statements inside one transaction (or one read) on either back end."""

    def execute(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (empty for statements without a result)."""
        ...

    def execute_count(self, sql: str, params: Params = ()) -> int:
        """Run one write statement; the number of rows it changed."""
        ...

    def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...


class Database(Protocol):
    """What the stores need from a back end (see the module docstring)."""

    kind: str
    serial: str
    greatest: str
    for_update: str

    def transaction(self, *, durable: bool = True) -> Any: ...  # context manager yielding Tx
    def read(self) -> Any: ...  # context manager yielding Tx
    def executescript(self, schema: str) -> None: ...
    def describe(self) -> str: ...
    def close(self) -> None: ...


def dialect(db: Database, sql: str) -> str:
    """``sql`` with ``{serial}``, ``{greatest}`` and ``{for_update}`` filled for ``db``."""
    return sql.format(serial=db.serial, greatest=db.greatest, for_update=db.for_update)


# ---------------------------------------------------------------------------------------- SQLite


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def execute_count(self, sql: str, params: Params = ()) -> int:
        return int(self._conn.execute(sql, tuple(params)).rowcount)

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self._conn.executemany(sql, rows)


class SqliteDatabase:
    """One SQLite file in WAL mode with ``synchronous=FULL``.

    Writes go through one connection behind a lock (SQLite has one writer; ``BEGIN IMMEDIATE`` also
    serialises writers of other processes on the same file); reads use one read-only connection per
    thread, so readers never wait for the writer (WAL).
    """

    kind = "sqlite"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"
    greatest = "MAX"
    for_update = ""

    def __init__(self, path: Path, *, error: type[DataError] = DatabaseError) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._writer = self._connect()
        mode = self._writer.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            self._writer.close()
            raise error(f"{self.path}: journal_mode is {mode!r}; expected 'wal' (is it on a network drive?)")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=FULL")  # commit returns only after the WAL is fsynced
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    def executescript(self, schema: str) -> None:
        with self._lock:
            self._writer.executescript(dialect(self, schema))

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Tx]:
        with self._lock:
            conn = self._writer
            if not durable:
                conn.execute("PRAGMA synchronous=NORMAL")  # WAL: atomic, but the commit waits for no fsync
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield _SqliteTx(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if not durable:
                    conn.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        yield _SqliteTx(conn)

    def close(self) -> None:
        with self._lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
            self._writer.close()


# ---------------------------------------------------------------------------------------- PostgreSQL

_PLACEHOLDER = re.compile(r"\?")


def _pg(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (the shared SQL has no literal ``?`` or ``%``)."""
    return _PLACEHOLDER.sub("%s", sql)


class _PgTx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        cur = self._conn.execute(_pg(sql), tuple(params))
        return list(cur.fetchall()) if cur.description is not None else []

    def execute_count(self, sql: str, params: Params = ()) -> int:
        return int(self._conn.execute(_pg(sql), tuple(params)).rowcount)

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(_pg(sql), rows)


class PostgresDatabase:
    """PostgreSQL through a psycopg 3 connection pool (``min_size`` connections kept open)."""

    kind = "postgres"
    serial = "BIGSERIAL PRIMARY KEY"
    greatest = "GREATEST"
    for_update = " FOR UPDATE"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 16,
                 error: type[DataError] = DatabaseError) -> None:  # fmt: skip
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise error("MARQUEE_DATABASE_URL is a PostgreSQL URL but psycopg is not installed; "
                        "expected pip install -e '.[postgres]'") from exc  # fmt: skip
        self.url = url
        self._error = error
        self._psycopg = psycopg
        self._pool = ConnectionPool(url, min_size=min_size, max_size=max_size, open=False, timeout=30.0,
                                    kwargs={"autocommit": True})  # fmt: skip
        try:
            self._pool.open(wait=True, timeout=10.0)
        except Exception as exc:
            self._pool.close()
            raise error(f"{_redact(url)}: cannot connect to PostgreSQL ({exc}); expected a running server "
                        "(make postgres starts one on 127.0.0.1:55432)") from exc  # fmt: skip

    def describe(self) -> str:
        return _redact(self.url)

    def executescript(self, schema: str) -> None:
        # one advisory lock: replicas starting together do not race on CREATE TABLE IF NOT EXISTS
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(7265721)")
            for statement in dialect(self, schema).split(";"):
                if statement.strip():
                    conn.execute(statement)

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Tx]:
        with self._pool.connection() as conn, conn.transaction():
            if not durable:
                conn.execute("SET LOCAL synchronous_commit = off")  # atomic and isolated, no WAL flush wait
            yield _PgTx(conn)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self._pool.connection() as conn:
            yield _PgTx(conn)

    def close(self) -> None:
        self._pool.close()


def _redact(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def open_database(target: str | Path, *, error: type[DataError] = DatabaseError,
                  max_connections: int = 16) -> Database:  # fmt: skip
    """SQLite at a file path, PostgreSQL at a ``postgresql://`` URL (see the module docstring)."""
    if is_database_url(target):
        return PostgresDatabase(str(target), max_size=max_connections, error=error)
    return SqliteDatabase(Path(target), error=error)
