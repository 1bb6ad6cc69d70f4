"""The two back ends the shared store tests run against: SQLite (a temp file) and a real PostgreSQL.

PostgreSQL is the server ``make postgres`` starts (``scripts/postgres.sh``: 127.0.0.1:55432, database
``marquee``), or ``MARQUEE_TEST_DATABASE_URL``. Each test gets its own schema (``search_path`` in the
URL), dropped afterwards, so tests and xdist workers never see each other's rows. Where no server
answers, PostgreSQL cases skip with the reason, unless ``MARQUEE_REQUIRE_POSTGRES=1`` (``.ci/run`` sets
it after starting the server), where they fail instead: CI cannot pass by skipping them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

DEFAULT_URL = "postgresql://marquee@127.0.0.1:55432/marquee"
BACKENDS = ("sqlite", "postgres")


def server_url() -> str:
    return os.environ.get("MARQUEE_TEST_DATABASE_URL", DEFAULT_URL)


def _unavailable(reason: str) -> None:
    if os.environ.get("MARQUEE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} (MARQUEE_REQUIRE_POSTGRES=1)")
    pytest.skip(reason)


def postgres_schema_url() -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh schema on the test server; the schema is dropped after."""
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[postgres]')")
        raise
    url = server_url()
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _unavailable(f"no PostgreSQL server at {url} (start one with `make postgres`): {str(exc).strip()[:120]}")
        raise
    schema = f"t_{secrets.token_hex(6)}"
    admin.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def database_target(backend: str, tmp_path: Path, name: str) -> Iterator[str | Path]:
    """An SQLite file path under ``tmp_path`` or a PostgreSQL schema URL."""
    if backend == "sqlite":
        yield tmp_path / f"{name}.db"
    else:
        yield from postgres_schema_url()
