"""Shared fixtures: the real data directory and a session-wide built catalog."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Ray resolves 127.0.0.1 to this host's routable address (in a sandbox one that nothing listens on,
# so a multi-node test cluster hangs); with this switch every Ray node and driver stays on loopback.
# Ray reads it when first imported.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

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


@pytest.fixture(scope="session")
def default_artifacts_dir() -> Path:
    """The default-scope artifacts ``make artifacts`` builds before the suite runs (catalog, index with
    its title strings; ``MARQUEE_ARTIFACTS_DIR`` when set), read-only; skipped where none are built."""
    root = Path(os.environ.get("MARQUEE_ARTIFACTS_DIR") or REPO / "artifacts")
    if not (root / "index" / "CURRENT").is_file() or not (root / "catalog" / "titles.parquet").is_file():
        pytest.skip(f"no default artifacts built in {root} (run `make artifacts`)")
    return root


@pytest.fixture(params=["sqlite", "postgres"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Where a store lives, once per back end: an SQLite file or a fresh schema on a real PostgreSQL
    (``tests/databases.py``; skipped with the reason where no server answers, failed under CI)."""
    from tests.databases import database_target

    yield from database_target(request.param, tmp_path, "store")


@pytest.fixture()
def ray_local() -> None:
    """A real local Ray (2 CPUs, node IP 127.0.0.1), started once and shared by the tests that use it
    (started again after a test that shut it down, e.g. the two-node cluster test). ``address="local"``:
    never the cluster another pytest worker recorded in /tmp/ray. Skipped with the reason when the
    ``distributed`` extra is not installed."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[distributed]')")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
