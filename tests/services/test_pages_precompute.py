"""``pages precompute``: every known profile's page into Parquet, equal to what the API returns for the
same state, in this process and on a real local Ray (synthetic catalog)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from services.commands.pages import precompute_pages
from services.resources import load_event_store
from services.settings import Settings
from tests.ranking.page_synthetic import make_synthetic, write_catalog


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("pages-precompute")
    write_catalog(make_synthetic(n_titles=120, n_viewers=12), root / "artifacts" / "catalog")
    return Settings(artifacts_dir=root / "artifacts", data_dir=root / "data", cache_dir=root / "cache")


def _pages(out_dir: Path) -> dict[str, tuple[int, dict]]:
    table = pq.read_table(out_dir).to_pylist()
    return {r["profile_id"]: (r["status"], json.loads(r["page_json"])) for r in table}


def _check_against_api(settings: Settings, pages: dict[str, tuple[int, dict]]) -> None:
    store = load_event_store(settings)
    profile_ids = store.profile_ids()
    store.close()
    assert sorted(pages) == profile_ids and len(profile_ids) >= 12
    with TestClient(create_app(settings, areas=("pages",))) as client:
        for profile_id in profile_ids:
            response = client.get(f"/v1/profiles/{profile_id}/page", params={"rows": 4, "per_row": 5})
            assert pages[profile_id] == (200, response.json()), profile_id


@pytest.mark.slow
def test_local_precompute_equals_the_api(settings: Settings, tmp_path: Path) -> None:
    summary = precompute_pages(settings, tmp_path / "local", rows=4, per_row=5)
    assert summary["non_200"] == 0 and summary["pages_written"] == summary["profiles"]
    _check_against_api(settings, _pages(tmp_path / "local"))


@pytest.mark.slow
@pytest.mark.xdist_group("encoder")
def test_ray_precompute_equals_the_api(ray_local: None, settings: Settings, tmp_path: Path) -> None:
    summary = precompute_pages(settings, tmp_path / "ray", engine="ray", rows=4, per_row=5, actors=1)
    assert summary["non_200"] == 0 and summary["pages_written"] == summary["profiles"]
    _check_against_api(settings, _pages(tmp_path / "ray"))


def test_an_unknown_engine_is_refused(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="engine='spark'"):
        precompute_pages(settings, tmp_path / "x", engine="spark")
