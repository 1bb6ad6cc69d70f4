""""Like <title>" search queries answer with "more like this" as the API serves it, on the default-scope
artifacts with the search and pages areas together (the served app; its own copy of the event store).

The like channel takes the ``similar`` endpoint's neighbours (ranking's one model: similarity and
co-watch) before content-only neighbours, so "movies like inception" lists what
``GET /v1/titles/tmdb:27205/similar`` lists, each hit saying why (``like: Inception``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from services.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

LIKE = [
    ("movies like inception", "tmdb:27205", "Inception"),
    ("something like the matrix", "tmdb:603", "The Matrix"),
    ("películas como toy story", "tmdb:862", "Toy Story"),
]


@pytest.fixture(scope="module")
def client(default_artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    events = tmp_path_factory.mktemp("like") / "events.db"  # the default artifacts stay read-only
    app = create_app(Settings(artifacts_dir=default_artifacts_dir, events_db=events), areas=("search", "pages"))
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(("query", "title_id", "title"), LIKE, ids=[q for q, _, _ in LIKE])
def test_like_queries_list_what_similar_serves(client: TestClient, query: str, title_id: str, title: str) -> None:
    response = client.get("/v1/search", params={"q": query, "limit": 10})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "like" in {u["kind"] for u in body["understood"]}, body["understood"]
    hits = body["results"]
    assert hits[0]["title_id"] == title_id, [h["title"] for h in hits]
    similar = client.get(f"/v1/titles/{title_id}/similar", params={"limit": 30}).json()["items"]
    served = [item["title_id"] for item in similar]
    neighbours = [h["title_id"] for h in hits[1:6]]
    assert set(neighbours) <= set(served), ([h["title"] for h in hits], [i["title"] for i in similar])
    assert neighbours == sorted(neighbours, key=served.index)  # in the endpoint's order
    for hit in hits[1:6]:
        assert {"kind": "like", "detail": title} in hit["matched"], hit


def test_like_queries_keep_the_maturity_ceiling(client: TestClient) -> None:
    for query, _, _ in LIKE:
        body = client.get("/v1/search", params={"q": query, "limit": 20, "max_maturity": "kids"}).json()
        assert body["results"], query
        assert {hit["maturity"] for hit in body["results"]} == {"kids"}, query


def test_the_evaluation_engine_ranks_like_queries_as_the_api_serves_them(client: TestClient, default_artifacts_dir: Path,
                                                                          tmp_path: Path) -> None:  # fmt: skip
    """``marquee eval search`` builds its engine with :func:`load_served_search_engine`: "movies like
    inception" ranks there as ``GET /v1/search`` serves it (the CLI's engine had no "more like this", so its
    like queries fell back to content neighbours)."""
    from services.routers.search import load_search_engine, load_served_search_engine

    settings = Settings(artifacts_dir=default_artifacts_dir, events_db=tmp_path / "events.db")
    engine = load_served_search_engine(settings)
    for query, _, _ in LIKE:
        served = [h["title_id"] for h in client.get("/v1/search", params={"q": query, "limit": 10}).json()["results"]]
        assert engine.rank(query, "hybrid", top_k=10) == served, query
    bare = load_search_engine(settings)  # without the pages area: no served neighbours
    assert any(bare.rank(q, "hybrid", top_k=10) != engine.rank(q, "hybrid", top_k=10) for q, _, _ in LIKE)
