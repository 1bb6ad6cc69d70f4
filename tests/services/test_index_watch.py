"""A newly activated index version is served without a restart; a bad one never replaces a good one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from data.embedding_cache import EmbeddingCache
from embeddings.job import build_index_version
from services.app import create_app
from services.index_watch import IndexWatcher
from services.settings import Settings
from tests.search.search_synthetic import ConceptEncoder, synthetic_titles


def _build(titles: pd.DataFrame, root: Path, encoder: ConceptEncoder | None = None) -> str:
    cache = EmbeddingCache(root / "cache.sqlite")
    try:
        report = build_index_version(titles=titles, catalog_version="c1", scope="full",
                                     encoder=encoder or ConceptEncoder(), cache=cache,
                                     index_dir=root / "artifacts" / "index")  # fmt: skip
    finally:
        cache.close()
    return Path(report.version_dir).name


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, pd.DataFrame, Path]]:
    import services.resources as shared

    titles = synthetic_titles(160, seed=4)
    _build(titles.iloc[:80], tmp_path)  # the first version covers half the catalog
    monkeypatch.setattr(shared, "load_titles", lambda settings: titles)
    monkeypatch.setattr(shared, "encoder", lambda resources: resources.get("encoder", ConceptEncoder))
    settings = Settings(artifacts_dir=tmp_path / "artifacts", cache_dir=tmp_path / "cache", index_watch_s=3600)
    with TestClient(create_app(settings, areas=("search",))) as client:
        yield client, titles, tmp_path


def _ids(client: TestClient, query: str) -> set[str]:
    response = client.get("/v1/search", params={"q": query, "limit": 100})
    assert response.status_code == 200, response.text
    return {r["title_id"] for r in response.json()["results"]}


def test_a_new_version_is_served_after_the_next_check(world: tuple[TestClient, pd.DataFrame, Path]) -> None:
    client, titles, root = world
    late = str(titles["title"].iloc[120])  # only in the second version
    assert titles["title_id"].iloc[120] not in _ids(client, late)
    first = client.get("/v1/search/index").json()
    assert first["serving_version"] and first["serving_version"] == first["current_version"]
    version = _build(titles, root)
    status = client.get("/v1/search/index").json()
    assert status["current_version"] == version != status["serving_version"]
    watcher: IndexWatcher = client.app.state.resources.peek("index_watch")  # type: ignore[attr-defined]
    assert watcher.check_once() is True
    assert titles["title_id"].iloc[120] in _ids(client, late)
    after = client.get("/v1/search/index").json()
    assert after["serving_version"] == version and after["swaps"] == 1 and after["last_error"] is None
    assert watcher.check_once() is False  # nothing new


def test_a_version_from_another_model_is_refused_and_the_old_one_keeps_serving(
    world: tuple[TestClient, pd.DataFrame, Path],
) -> None:
    client, titles, root = world
    serving = client.get("/v1/search/index").json()["serving_version"]
    before = _ids(client, "dragon castle")
    bad = _build(titles, root, encoder=ConceptEncoder(fingerprint="another-model-v9"))
    watcher: IndexWatcher = client.app.state.resources.peek("index_watch")  # type: ignore[attr-defined]
    assert watcher.check_once() is False
    status = client.get("/v1/search/index").json()
    assert status["serving_version"] == serving and status["current_version"] == bad
    assert bad in status["last_error"] and "another-model-v9" in status["last_error"]
    assert _ids(client, "dragon castle") == before
    assert watcher.check_once() is False  # not retried while CURRENT stays on it
    good = _build(titles, root)  # the next good version clears the error
    assert watcher.check_once() is True
    assert client.get("/v1/search/index").json() | {"last_check": None} == {
        "serving_version": good, "current_version": good, "watch_interval_s": 3600.0, "swaps": 1,
        "last_check": None, "last_error": None}  # fmt: skip


def test_the_watch_thread_swaps_by_itself(tmp_path: Path) -> None:
    current = {"version": "v1"}
    installed: list[str] = []
    watcher = IndexWatcher(tmp_path, "v1", build=lambda v: f"engine-{v}", install=installed.append, interval_s=0.05)
    watcher.current = lambda: current["version"]  # type: ignore[method-assign]
    watcher.start()
    current["version"] = "v2"
    deadline = time.monotonic() + 5
    while not installed and time.monotonic() < deadline:
        time.sleep(0.02)
    watcher.close()
    assert installed == ["engine-v2"] and watcher.serving == "v2"
    with pytest.raises(ValueError, match="interval_s"):
        IndexWatcher(tmp_path, None, build=str, install=installed.append, interval_s=0)
