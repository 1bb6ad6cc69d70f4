"""``/v1/search`` over HTTP: shapes, filters, profiles, the maturity invariant, errors, unicode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.normalize import GENRES, MATURITY_LEVELS
from services.app import create_app
from services.settings import Settings
from tests.search.search_synthetic import build_engine

PROFILES = {
    "demo:kids": {"maturity_level": 0, "languages": ("en",)},
    "demo:fr": {"maturity_level": 3, "languages": ("fr", "en")},
}


@pytest.fixture(scope="module")
def synthetic() -> tuple[Any, Any]:
    engine, titles, _ = build_engine()
    return engine, titles.set_index("title_id", drop=False)


@pytest.fixture(scope="module")
def client(synthetic: tuple[Any, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    import services.resources as shared
    import services.routers.search as search_router

    engine, _ = synthetic
    patch = pytest.MonkeyPatch()
    patch.setattr(search_router, "load_search_engine", lambda settings, resources=None: engine)
    patch.setattr(shared, "load_catalog_profiles", lambda settings: dict(PROFILES))
    tmp = tmp_path_factory.mktemp("search-api")
    app = create_app(Settings(artifacts_dir=tmp, cache_dir=tmp / "cache"), areas=("search",))
    with TestClient(app) as test_client:
        yield test_client
    patch.undo()


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body  # type: ignore[no-any-return]


def test_ready_and_search_shape(client: TestClient) -> None:
    assert client.get("/readyz").status_code == 200
    response = client.get("/v1/search", params={"q": "the matrix", "limit": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "the matrix" and body["query_truncated"] is False
    assert body["query_language"] in (None, "en")
    french = client.get("/v1/search", params={"q": "le chien et le chat dans la ville"}).json()
    assert french["query_language"] == "fr"
    assert body["limit"] == 3 and body["offset"] == 0 and body["total"] >= len(body["results"])
    first = body["results"][0]
    assert first["title"] == "The Matrix" and first["year"] == 1999 and first["type"] == "movie"
    assert first["matched"][0] == {"kind": "title", "detail": "exact: The Matrix"}
    assert set(first) >= {"title_id", "title", "year", "type", "maturity", "description", "description_language",
                          "score", "matched"}  # fmt: skip
    assert set(body["facets"]) >= {"types", "genres", "description_languages", "countries", "decades", "maturity"}


def test_every_response_is_a_valid_documented_search_response(client: TestClient) -> None:
    """The route serialises its document directly; it must still be exactly the documented model."""
    from services.routers.search import SearchResponse

    for params in ({"q": "the matrix"}, {"q": "dragon castle", "limit": 50, "offset": 3},
                   {"q": "le chien et le chat dans la ville", "profile_id": "demo:fr"}, {"q": "zzzzqqqq"}):  # fmt: skip
        response = client.get("/v1/search", params=params)
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert SearchResponse.model_validate(body).model_dump(mode="json") == body
    schema = client.get("/openapi.json").json()["paths"]["/v1/search"]["get"]["responses"]["200"]
    assert schema["content"]["application/json"]["schema"]["$ref"].endswith("/SearchResponse")


def test_post_equals_get(client: TestClient) -> None:
    params = {"q": "dragon castle", "genre": ["drama", "comedy"], "limit": 7}
    get = client.get("/v1/search", params=params).json()
    post = client.post("/v1/search", json={"q": "dragon castle", "genres": ["drama", "comedy"], "limit": 7}).json()
    assert [r["title_id"] for r in get["results"]] == [r["title_id"] for r in post["results"]]
    comma = client.get("/v1/search", params={"q": "dragon castle", "genre": "drama,comedy", "limit": 7}).json()
    assert comma["results"] == get["results"]


def test_filters_over_http(client: TestClient, synthetic: tuple[Any, Any]) -> None:
    _, titles = synthetic
    body = client.get("/v1/search", params={"q": "dog ship", "type": "show", "year_min": 1970, "year_max": 2000,
                                             "limit": 50}).json()  # fmt: skip
    assert body["results"]
    for r in body["results"]:
        row = titles.loc[r["title_id"]]
        assert row["type"] == "show" and 1970 <= row["year"] <= 2000
    assert body["facets"]["types"] == {"show": body["total"]}


def test_kids_profile_never_gets_adult_titles(client: TestClient) -> None:
    body = client.get("/v1/search", params={"q": "The Matrix", "profile_id": "demo:kids", "limit": 100}).json()
    assert body["profile_id"] == "demo:kids"
    assert all(r["maturity"] == "kids" for r in body["results"])
    assert "The Matrix" not in [r["title"] for r in body["results"]]
    body = client.post("/v1/search", json={"q": "The Matrix", "profile_id": "demo:kids", "max_maturity": "adults"}).json()
    assert all(r["maturity"] == "kids" for r in body["results"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(min_size=1, max_size=40).filter(lambda s: s.strip()),
       genre=st.lists(st.sampled_from(GENRES), max_size=2), offset=st.integers(0, 20))  # fmt: skip
def test_kids_invariant_over_http(client: TestClient, q: str, genre: list[str], offset: int) -> None:
    response = client.post("/v1/search", json={"q": q, "profile_id": "demo:kids", "genres": genre, "offset": offset})
    assert response.status_code == 200, response.text
    assert all(MATURITY_LEVELS[r["maturity"]] == 0 for r in response.json()["results"])


def test_profile_languages_pick_the_description(client: TestClient) -> None:
    fr = client.get("/v1/search", params={"q": "amelie", "profile_id": "demo:fr", "limit": 1}).json()["results"][0]
    assert fr["title"] == "Le Fabuleux Destin d'Amélie Poulain"
    assert fr["description_language"] == "fr"


def test_unknown_profile_is_404(client: TestClient) -> None:
    body = problem(client.get("/v1/search", params={"q": "dog", "profile_id": "nobody"}), 404)
    assert body["type"].endswith("/profile-not-found") and body["profile_id"] == "nobody"


@pytest.mark.parametrize("q", ["", "   ", "\t\n"])
def test_empty_query_is_422(client: TestClient, q: str) -> None:
    body = problem(client.get("/v1/search", params={"q": q}), 422)
    assert body["type"].endswith("/validation")  # the documented schema says: at least one visible character
    assert body["errors"][0]["loc"] == ["query", "q"]
    problem(client.post("/v1/search", json={"q": q}), 422)


@pytest.mark.parametrize("q", ["???", "...", "#", "¿?"])
def test_a_query_of_punctuation_alone_answers_no_titles(client: TestClient, q: str) -> None:
    """A valid request (the schema admits it) that nothing matches: 200 with an empty page."""
    for response in (client.get("/v1/search", params={"q": q}), client.post("/v1/search", json={"q": q})):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == 0 and body["results"] == [] and body["understood"] == []


@pytest.mark.parametrize("lang", ["english", "x", "fr--", "日本語", "en US"])
def test_a_malformed_language_is_422(client: TestClient, lang: str) -> None:
    """``lang`` is a language tag (data.events.LANGUAGE_TAG_PATTERN); "english" used to pass unread."""
    for response in (client.get("/v1/search", params={"q": "amelie", "lang": lang}),
                     client.post("/v1/search", json={"q": "amelie", "lang": lang})):  # fmt: skip
        body = problem(response, 422)
        assert body["type"].endswith("/validation") and "lang" in body["errors"][0]["loc"]
    assert client.get("/v1/search", params={"q": "amelie", "lang": "fr"}).status_code == 200


def test_a_language_tag_with_a_region_reads_its_language(client: TestClient) -> None:
    for lang in ("fr", "fr-CA", "FR_ca"):
        hit = client.get("/v1/search", params={"q": "amelie", "lang": lang, "limit": 1}).json()["results"][0]
        assert hit["description_language"] == "fr", (lang, hit)


def test_missing_query_is_422(client: TestClient) -> None:
    problem(client.get("/v1/search"), 422)
    problem(client.post("/v1/search", json={}), 422)
    problem(client.post("/v1/search", json={"q": "dog", "colour": "blue"}), 422)  # unknown body fields
    malformed = problem(client.post("/v1/search", content=b"not json", headers={"content-type": "application/json"}), 400)
    assert malformed["type"].endswith("/malformed-json")


def test_unknown_filter_values_are_422_with_the_allowed_ones(client: TestClient) -> None:
    body = problem(client.get("/v1/search", params={"q": "dog", "genre": "drama,spaghetti"}), 422)
    assert body["type"].endswith("/unknown-filter-value")
    assert body["field"] == "genres" and body["unknown"] == ["spaghetti"] and body["allowed"] == list(GENRES)
    body = problem(client.get("/v1/search", params={"q": "dog", "max_maturity": "toddler"}), 422)
    assert all(level in body["errors"][0]["expected"] for level in MATURITY_LEVELS)  # an enum in the schema
    body = problem(client.get("/v1/search", params={"q": "dog", "country": "Atlantis"}), 422)
    assert "France" in body["allowed"]


def test_an_empty_year_range_is_an_empty_page_not_an_error(client: TestClient) -> None:
    """Each bound is valid on its own (the schema says 1800..2200): together they select no title."""
    response = client.get("/v1/search", params={"q": "dog", "year_min": 2000, "year_max": 1990})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 0 and body["results"] == [] and set(body["facets"]) >= {"types", "genres"}
    assert all(counts == {} for counts in body["facets"].values())
    problem(client.get("/v1/search", params={"q": "dog", "year_min": 1700}), 422)  # out of the documented range


def test_running_time_bounds_filter_and_are_checked(client: TestClient) -> None:
    body = client.get("/v1/search", params={"q": "dog", "runtime_max": 100, "limit": 50}).json()
    assert body["results"] and all(r["runtime_minutes"] is not None and r["runtime_minutes"] <= 100
                                   for r in body["results"])  # fmt: skip
    body = client.post("/v1/search", json={"q": "dog", "runtime_min": 120, "limit": 50}).json()
    assert body["results"] and all(r["runtime_minutes"] >= 120 for r in body["results"])
    # a parsed bound is a filter, reported as one; the request's own bound wins over it
    body = client.get("/v1/search", params={"q": "dog under 90 minutes", "limit": 50}).json()
    assert {"kind": "runtime", "value": "-90", "source": "under 90 minutes", "effect": "filter"} in body["understood"]
    assert body["results"] and all(r["runtime_minutes"] <= 90 for r in body["results"])
    body = client.get("/v1/search", params={"q": "dog under 90 minutes", "runtime_min": 120, "limit": 50}).json()
    assert ("runtime", "boost") in {(u["kind"], u["effect"]) for u in body["understood"]}
    assert body["results"] and all(r["runtime_minutes"] >= 120 for r in body["results"])
    empty = client.get("/v1/search", params={"q": "dog", "runtime_min": 120, "runtime_max": 90})
    assert empty.status_code == 200 and empty.json()["total"] == 0  # each bound valid: together they select nothing
    for params in ({"runtime_max": 0}, {"runtime_min": 1001}, {"runtime_max": "long"}):
        problem(client.get("/v1/search", params={"q": "dog", **params}), 422)
    problem(client.post("/v1/search", json={"q": "dog", "runtime_max": 90.5}), 422)


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"offset": 901}, {"limit": "many"}])
def test_limit_and_offset_bounds(client: TestClient, params: dict[str, Any]) -> None:
    problem(client.get("/v1/search", params={"q": "dog", **params}), 422)


def test_very_long_query_is_truncated_not_rejected(client: TestClient) -> None:
    response = client.post("/v1/search", json={"q": "dragon " * 5000})
    assert response.status_code == 200
    body = response.json()
    assert body["query_truncated"] is True and len(body["query"]) <= 2000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=80))
def test_any_unicode_is_never_a_500(client: TestClient, q: str) -> None:
    response = client.post("/v1/search", json={"q": q, "limit": 5})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert not q.strip() or "\x00" in q or not q.isprintable()  # only empty-looking queries fail
    get = client.get("/v1/search", params={"q": q})
    assert get.status_code in (200, 422)


def test_raw_bytes_in_the_url_are_handled(client: TestClient) -> None:
    for raw in ("%ED%A0%80", "%FF%FE", "%00", "%F0%9F%8E%AC%20film"):
        response = client.get(f"/v1/search?q={raw}")
        assert response.status_code in (200, 422)


def test_metrics_and_openapi_examples(client: TestClient) -> None:
    client.get("/v1/search", params={"q": "dog"})
    metrics = client.get("/metrics").text
    assert 'route="/v1/search"' in metrics
    spec = client.get("/openapi.json").json()
    get = spec["paths"]["/v1/search"]["get"]
    assert {"200", "404", "422", "503"} <= set(get["responses"])
    q = next(p for p in get["parameters"] if p["name"] == "q")
    assert len(q["examples"]) >= 3
    assert spec["components"]["schemas"]["SearchRequest"].get("examples")
    assert spec["components"]["schemas"]["SearchResponse"].get("examples")


def test_not_ready_when_the_index_cannot_load(tmp_path: Path) -> None:
    import services.routers.search as search_router

    def broken(settings: Settings, resources: Any = None) -> Any:
        raise FileNotFoundError("no index version under artifacts/index; run marquee index build")

    patch = pytest.MonkeyPatch()
    patch.setattr(search_router, "load_search_engine", broken)
    try:
        app = create_app(Settings(artifacts_dir=tmp_path, cache_dir=tmp_path / "cache"), areas=("search",))
        with TestClient(app) as client:
            problem(client.get("/readyz"), 503)
            body = problem(client.get("/v1/search", params={"q": "dog"}), 503)
            assert "marquee index build" in body["detail"]
            assert client.get("/livez").status_code == 200
    finally:
        patch.undo()


def test_the_personal_reranker_hook_is_wired_and_inert_without_features(tmp_path: Path) -> None:
    import numpy as np

    from services.routers.search import _personal_reranker
    from services.state import Resources

    resources = Resources(Settings(artifacts_dir=tmp_path, cache_dir=tmp_path / "cache"))
    reranker = _personal_reranker(resources)
    assert reranker is not None
    scores = np.array([3.0, 2.0, 1.0])
    assert np.array_equal(reranker.rerank("movielens:1", ["a", "b", "c"], scores), scores)  # no features/ranker yet
    assert _personal_reranker(None) is None
