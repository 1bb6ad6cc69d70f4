"""services.resources: one definition per shared resource, built once and shared by every area."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services import resources as shared
from services.app import create_app
from services.settings import Settings
from services.state import Resources
from tests.ranking.page_synthetic import make_synthetic, write_catalog


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("resources")
    write_catalog(make_synthetic(), root / "artifacts" / "catalog")
    return Settings(artifacts_dir=root / "artifacts", data_dir=root / "data", cache_dir=root / "cache")


def test_areas_started_together_share_one_object_per_resource(settings: Settings) -> None:
    app = create_app(settings, areas=("events", "pages", "ads"))
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        resources: Resources = app.state.resources
        features = resources.peek("features")
        assert features is not None and resources.peek("pages") is not None
        assert shared.features(resources) is features
        assert shared.event_store(resources) is features.events
        assert resources.peek("ads").engine.features is features
        assert shared.catalog(resources) is resources.peek("catalog")
        # an event accepted through the events area is what the pages area reads next
        title = features.titles.title_ids[0]
        assert client.put("/v1/profiles/shared-viewer", json={"maturity": "adults"}).status_code == 201
        body = {"events": [{"event_id": "e-1", "profile_id": "shared-viewer", "title_id": title, "kind": "complete",
                            "timestamp": 1_700_000_000}]}  # fmt: skip
        assert client.post("/v1/events", json=body).json()["stored"] == 1
        assert features.profile_features("shared-viewer").n_events == 1


def test_optional_resources_degrade_without_failing(settings: Settings, tmp_path: Path) -> None:
    resources = Resources(settings)
    assert shared.title_embeddings_optional(resources) is None  # no index built
    assert shared.ranker(resources) is None  # not trained
    assert shared.features(resources).titles is not None


def test_a_corrupt_ranker_artifact_turns_personalization_off_not_the_area(tmp_path: Path, settings: Settings) -> None:
    broken = settings.model_copy(update={"artifacts_dir": tmp_path})
    (broken.models_dir / shared.RANKER_DIR).mkdir(parents=True)
    (broken.models_dir / shared.RANKER_DIR / "manifest.json").write_text("{not json")
    resources = Resources(broken)
    assert shared.ranker(resources) is None
    with pytest.raises(Exception):  # noqa: B017 - the loader itself reports the corruption
        shared.load_ranker(broken)
