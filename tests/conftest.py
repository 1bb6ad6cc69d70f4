"""Shared fixtures: the real data directory and a session-wide built catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """../shared/data; tests that need it are skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def real_catalog_dir(shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unified catalog built once per test session from the real data (about 15 s)."""
    from data.catalog import build_catalog

    out = tmp_path_factory.mktemp("real-catalog") / "catalog"
    build_catalog(shared_data_dir, out)
    return out


@pytest.fixture(params=["sqlite", "postgres"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Where a store lives, once per back end: an SQLite file or a fresh schema on a real PostgreSQL
    (``tests/databases.py``; skipped with the reason where no server answers, failed under CI)."""
    from tests.databases import database_target

    yield from database_target(request.param, tmp_path, "store")
