"""POST /v1/events and GET /v1/profiles/{id}/features through the app (TestClient, synthetic catalog)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from data.events import MAX_BATCH_EVENTS, open_event_store
from services.app import create_app
from services.routers import events as events_router
from services.settings import Settings
from tests.features.synthetic import make_world, write_catalog


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    world = make_world(n_titles=30, n_users=6, events_per_user=5, dim=8)
    write_catalog(world, tmp_path / "artifacts" / "catalog")
    return Settings(artifacts_dir=tmp_path / "artifacts", events_db=tmp_path / "events.db", cache_dir=tmp_path / "cache")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, areas=("events",))) as c:
        yield c


def event(i: int, **kw: object) -> dict[str, object]:
    body: dict[str, object] = {"event_id": f"e{i}", "profile_id": "movielens:1", "title_id": "tmdb:1005",
                               "timestamp": 1.7e9 + i, "kind": "play"}  # fmt: skip
    body.update(kw)
    return body


def test_the_schema_limit_is_the_store_limit() -> None:
    assert events_router.MAX_BATCH == MAX_BATCH_EVENTS


def test_a_batch_is_validated_per_event_and_stored(client: TestClient, settings: Settings) -> None:
    r = client.post("/v1/events", json={"events": [
        event(1), event(2, title_id="tmdb:nope"), event(3, profile_id="ghost"), event(4, kind="skip"),
        event(5, kind="rating", rating=4.0), event(6, kind="progress", position_s=30.0, duration_s=60.0),
    ]})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["stored"], body["duplicates"], body["rejected"]) == (3, 0, 3)
    assert [x["status"] for x in body["results"]] == ["stored", "rejected", "rejected", "rejected", "stored", "stored"]
    assert "tmdb:nope" in body["results"][1]["errors"][0]
    assert "ghost" in body["results"][2]["errors"][0]
    store = open_event_store(settings.events_db_path)
    assert store.has_events(["e1", "e2", "e5", "e6"]) == {"e1", "e5", "e6"}
    store.close()


def test_resending_a_batch_is_idempotent(client: TestClient) -> None:
    batch = {"events": [event(i) for i in range(5)]}
    assert client.post("/v1/events", json=batch).json()["stored"] == 5
    again = client.post("/v1/events", json=batch).json()
    assert (again["stored"], again["duplicates"]) == (0, 5)
    assert client.get("/v1/profiles/movielens:1/features").json()["n_events"] == 5 + 5  # 5 imported + 5 new


def test_malformed_and_oversized_batches_are_problems(client: TestClient) -> None:
    too_big = client.post("/v1/events", json={"events": [event(i) for i in range(MAX_BATCH_EVENTS + 1)]})
    assert too_big.status_code == 422
    assert too_big.headers["content-type"].startswith("application/problem+json")
    assert "1000" in too_big.json()["detail"]
    assert client.post("/v1/events", json={"events": []}).status_code == 422
    missing = client.post("/v1/events", json={"events": [{"event_id": "x"}]})
    assert missing.status_code == 422 and "profile_id" in missing.json()["detail"]


def test_features_reflect_a_new_event_on_the_next_request(client: TestClient) -> None:
    before = client.get("/v1/profiles/movielens:2/features").json()
    assert before["known_profile"] and before["n_events"] == 5
    client.post("/v1/events", json={"events": [event(9, profile_id="movielens:2", title_id="tmdb:1029",
                                                     timestamp=2e9)]})  # fmt: skip
    after = client.get("/v1/profiles/movielens:2/features").json()
    assert after["n_events"] == 6
    assert after["recent_title_ids"][0] == "tmdb:1029"
    assert after["last_seq"] > before["last_seq"]
    unknown = client.get("/v1/profiles/nobody/features").json()
    assert not unknown["known_profile"] and unknown["n_events"] == 0
