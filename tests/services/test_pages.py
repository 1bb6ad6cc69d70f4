"""The pages API: home pages, profiles, similar titles, problem+json errors (synthetic catalog)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from data.events import ViewingEvent
from services.app import create_app
from services.routers.pages import PageResponse
from services.settings import Settings
from tests.ranking.page_synthetic import Synthetic, make_synthetic, write_catalog

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def synth() -> Synthetic:
    return make_synthetic()


@pytest.fixture(scope="module")
def client(synth: Synthetic, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("pages-api")
    write_catalog(synth, root / "artifacts" / "catalog")
    settings = Settings(artifacts_dir=root / "artifacts", data_dir=root / "data", cache_dir=root / "cache")
    with TestClient(create_app(settings, areas=("pages",))) as test_client:
        yield test_client


def _page(client: TestClient, profile_id: str, **params: object) -> dict:
    response = client.get(f"/v1/profiles/{profile_id}/page", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _levels(synth: Synthetic) -> dict[str, int]:
    return dict(zip(synth.titles["title_id"], synth.titles["maturity_level"], strict=True))


def test_the_area_is_ready(client: TestClient) -> None:
    assert client.get("/readyz").json()["areas"] == {"pages": True}


def test_a_known_viewer_gets_a_personal_page(client: TestClient, synth: Synthetic) -> None:
    page = _page(client, "movielens:3", rows=8, per_row=6)
    assert page["known_profile"] and not page["cold_start"]
    assert page["scorer"] == "heuristic" and page["ui_language"] == "en"
    assert 1 <= len(page["rows"]) <= 8
    ids = [i["title_id"] for r in page["rows"] for i in r["items"]]
    assert len(ids) == len(set(ids))
    watched = set(synth.events.loc[synth.events["profile_id"] == "movielens:3", "title_id"])
    for row in page["rows"]:
        assert 1 <= len(row["items"]) <= 6
        assert row["reason"]["code"] and row["reason"]["text"] and row["title"]
        if row["kind"] != "rewatch":
            assert not watched & {i["title_id"] for i in row["items"]}
    assert {"top_picks", "because_you_watched"} <= {r["kind"] for r in page["rows"]}
    bywatched = next(r for r in page["rows"] if r["kind"] == "because_you_watched")
    assert bywatched["reason"]["evidence_title_id"] in watched
    assert bywatched["row_id"] == f"because-you-watched:{bywatched['reason']['evidence_title_id']}"


def test_an_unknown_profile_gets_a_cold_start_page_not_a_404(client: TestClient) -> None:
    page = _page(client, "brand-new-viewer", rows=6, per_row=5)
    assert not page["known_profile"] and page["cold_start"]
    kinds = [r["kind"] for r in page["rows"]]
    assert "popular" in kinds and "genre" in kinds
    assert {r["reason"]["code"] for r in page["rows"] if r["kind"] == "genre"} == {"genre_explore"}


def test_onboarding_input_shapes_a_new_viewers_page(client: TestClient, synth: Synthetic) -> None:
    liked = synth.titles["title_id"].iloc[4]
    page = _page(
        client, "onboarding-viewer", rows=12, per_row=5, liked_genres="horror,comedy", liked_titles=liked
    )
    assert not page["cold_start"]
    codes = {r["row_id"]: r["reason"]["code"] for r in page["rows"]}
    assert codes.get("genre:horror") == "genre_liked" or codes.get("genre:comedy") == "genre_liked"
    assert liked not in {i["title_id"] for r in page["rows"] for i in r["items"]}


def test_kids_profiles_never_see_titles_above_their_level(client: TestClient, synth: Synthetic) -> None:
    levels = _levels(synth)
    page = _page(client, "demo:kids", rows=30, per_row=50)
    assert page["maturity"] == "kids"
    assert all(levels[i["title_id"]] == 0 for r in page["rows"] for i in r["items"])
    capped = _page(client, "movielens:3", rows=30, per_row=20, max_maturity="older_kids")
    assert capped["maturity"] == "older_kids"
    assert all(levels[i["title_id"]] <= 1 for r in capped["rows"] for i in r["items"])


@pytest.mark.parametrize(("language", "expected"), [
    ("en", "Top Picks for You"), ("fr", "Nos meilleurs choix pour vous"),
    ("es", "Nuestras mejores recomendaciones para ti"), ("de-AT", "Top-Empfehlungen für dich"),
])  # fmt: skip
def test_row_titles_in_the_requested_language(client: TestClient, language: str, expected: str) -> None:
    page = _page(client, "movielens:3", rows=4, per_row=4, language=language)
    assert next(r["title"] for r in page["rows"] if r["kind"] == "top_picks") == expected


def test_profile_languages_drive_language_rows_and_ui_language(client: TestClient) -> None:
    page = _page(client, "demo:ko", rows=30, per_row=4)  # teens, languages en+ko, UI in Spanish
    assert page["ui_language"] == "es"
    rows = {r["row_id"]: r for r in page["rows"] if r["kind"] == "language"}
    assert rows, [r["row_id"] for r in page["rows"]]
    for row_id, row in rows.items():
        assert row_id.startswith("language:ko:")
        assert row["title"] in ("Series en coreano", "Películas en coreano")
        assert row["reason"]["code"] == "language_preferred"


def test_pages_are_deterministic_and_exploration_is_reproducible(client: TestClient) -> None:
    a = client.get("/v1/profiles/movielens:5/page").json()
    assert client.get("/v1/profiles/movielens:5/page").json() == a
    e1 = client.get("/v1/profiles/movielens:5/page", params={"explore": 0.7, "seed": 4}).json()
    assert client.get("/v1/profiles/movielens:5/page", params={"explore": 0.7, "seed": 4}).json() == e1
    assert e1["rows"] != a["rows"] and e1["exploration"] == 0.7


@pytest.mark.parametrize("params", [
    {"rows": 0}, {"rows": 31}, {"per_row": 0}, {"per_row": 51}, {"rows": "many"}, {"explore": 2},
    {"liked_genres": "not-a-genre"}, {"max_maturity": "toddlers"}, {"seed": -1},
])  # fmt: skip
def test_invalid_page_requests_are_problem_json_422(client: TestClient, params: dict) -> None:
    response = client.get("/v1/profiles/movielens:3/page", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == 422 and "expected" in body["detail"] or body["type"].endswith("/validation")


def test_an_unknown_liked_title_is_404(client: TestClient) -> None:
    response = client.get("/v1/profiles/movielens:3/page", params={"liked_titles": "tmdb:does-not-exist"})
    assert response.status_code == 404 and response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["type"].endswith("/unknown-title") and response.json()["title_id"] == "tmdb:does-not-exist"


def test_put_creates_then_updates_and_get_reads_a_profile(client: TestClient, synth: Synthetic) -> None:
    created = client.put("/v1/profiles/family-kid", json={"maturity": "kids", "languages": ["fr", "en"],
                                                          "ui_language": "fr", "country": "FR"})  # fmt: skip
    assert created.status_code == 201
    assert created.json() == {"profile_id": "family-kid", "maturity": "kids", "maturity_level": 0,
                              "languages": ["fr", "en"], "ui_language": "fr", "country": "FR", "origin": "api"}  # fmt: skip
    assert client.get("/v1/profiles/family-kid").json() == created.json()
    page = _page(client, "family-kid", rows=30, per_row=10)
    assert page["known_profile"] and page["ui_language"] == "fr" and page["maturity"] == "kids"
    levels = _levels(synth)
    assert all(levels[i["title_id"]] == 0 for r in page["rows"] for i in r["items"])

    updated = client.put(
        "/v1/profiles/family-kid", json={"maturity": "teens", "languages": ["es"], "ui_language": "es"}
    )
    assert updated.status_code == 200 and updated.json()["maturity_level"] == 2
    page = _page(client, "family-kid", rows=30, per_row=10)
    assert page["maturity"] == "teens" and page["ui_language"] == "es"  # the cached features were invalidated


@pytest.mark.parametrize("body", [
    {"maturity": "toddlers"}, {"languages": []}, {"languages": ["english"]}, {"ui_language": "English"},
    {"country": "France"}, {"unknown_field": 1},
])  # fmt: skip
def test_invalid_profiles_are_rejected(client: TestClient, body: dict) -> None:
    response = client.put("/v1/profiles/bad-profile", json=body)
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)
    assert client.get("/v1/profiles/bad-profile").status_code == 404


def test_reading_an_unknown_profile_is_a_404(client: TestClient) -> None:
    response = client.get("/v1/profiles/nobody-here")
    assert response.status_code == 404 and response.json()["profile_id"] == "nobody-here"


def test_new_events_show_up_on_the_next_page(client: TestClient, synth: Synthetic) -> None:
    client.put("/v1/profiles/binger", json={"maturity": "adults"})
    title_id = synth.titles["title_id"].iloc[6]
    store = client.app.state.resources.peek("event_store")  # type: ignore[attr-defined]
    outcome = store.append([ViewingEvent("binger-1", "binger", title_id, 1.7e9, "play", 300.0, 5400.0)],
                           known_title_ids=set(synth.titles["title_id"]))  # fmt: skip
    assert outcome[0].status == "stored"
    page = _page(client, "binger", rows=5, per_row=5)
    assert page["rows"][0]["kind"] == "continue_watching"
    assert [i["title_id"] for i in page["rows"][0]["items"]] == [title_id]
    store.append([ViewingEvent("binger-2", "binger", title_id, 1.7e9 + 60, "complete")],
                 known_title_ids={title_id})  # fmt: skip
    page = _page(client, "binger", rows=5, per_row=5)
    assert "continue_watching" not in {r["kind"] for r in page["rows"]}
    assert title_id not in {i["title_id"] for r in page["rows"] for i in r["items"]}


def test_similar_titles(client: TestClient, synth: Synthetic) -> None:
    anchor = synth.titles["title_id"].iloc[11]
    plain = client.get(f"/v1/titles/{anchor}/similar", params={"limit": 7}).json()
    assert not plain["personalized"] and len(plain["items"]) == 7
    assert anchor not in {i["title_id"] for i in plain["items"]}
    kids = client.get(f"/v1/titles/{anchor}/similar", params={"profile_id": "demo:kids", "limit": 50}).json()
    assert kids["personalized"]
    levels = _levels(synth)
    assert all(levels[i["title_id"]] == 0 for i in kids["items"])


@pytest.mark.parametrize(("path", "params", "status", "slug"), [
    ("/v1/titles/tmdb:no-such-title/similar", {}, 404, "unknown-title"),
    ("/v1/titles/tmdb:1001/similar", {"limit": 0}, 422, "validation"),  # the documented bounds
    ("/v1/titles/tmdb:1001/similar", {"limit": 101}, 422, "validation"),
])  # fmt: skip
def test_similar_errors(client: TestClient, path: str, params: dict, status: int, slug: str) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status and response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["type"].endswith(f"/{slug}")


def test_the_area_reports_not_ready_when_its_catalog_is_missing(tmp_path: Path) -> None:
    settings = Settings(
        artifacts_dir=tmp_path / "artifacts", data_dir=tmp_path / "data", cache_dir=tmp_path / "c"
    )
    with TestClient(create_app(settings, areas=("pages",))) as empty:
        assert empty.get("/readyz").status_code == 503
        response = empty.get("/v1/profiles/movielens:3/page")
        assert response.status_code == 503 and response.headers["content-type"].startswith(PROBLEM)


def test_events_posted_through_the_api_shape_the_next_page(synth: Synthetic, tmp_path: Path) -> None:
    """Both areas share one catalog, event store and feature store: a play posted to /v1/events is on
    the next page as Continue Watching; its completion removes it."""
    write_catalog(synth, tmp_path / "artifacts" / "catalog")
    settings = Settings(
        artifacts_dir=tmp_path / "artifacts", data_dir=tmp_path / "data", cache_dir=tmp_path / "c"
    )
    title_id = synth.titles["title_id"].iloc[9]
    with TestClient(create_app(settings, areas=("events", "pages"))) as both:
        resources = both.app.state.resources  # type: ignore[attr-defined]
        assert resources.peek("pages").catalog.features is resources.peek("features").titles
        assert both.put("/v1/profiles/api-viewer", json={"maturity": "adults"}).status_code == 201
        play = {"event_id": "api-1", "profile_id": "api-viewer", "title_id": title_id, "timestamp": 1.7e9,
                "kind": "play", "position_s": 60.0, "duration_s": 3600.0}  # fmt: skip
        assert both.post("/v1/events", json={"events": [play]}).status_code == 200
        page = both.get("/v1/profiles/api-viewer/page", params={"rows": 4, "per_row": 5}).json()
        assert page["rows"][0]["kind"] == "continue_watching"
        assert page["rows"][0]["items"][0]["title_id"] == title_id
        done = {
            **play,
            "event_id": "api-2",
            "kind": "complete",
            "timestamp": 1.7e9 + 3600,
            "position_s": 3600.0,
        }
        assert both.post("/v1/events", json={"events": [done]}).status_code == 200
        page = both.get("/v1/profiles/api-viewer/page", params={"rows": 4, "per_row": 5}).json()
        assert title_id not in {i["title_id"] for r in page["rows"] for i in r["items"]}


def test_page_and_similar_items_carry_what_a_tile_needs(client: TestClient, synth: Synthetic) -> None:
    """Type, year, maturity, genres, length, a description in the UI language when there is one, a reason."""
    meta = synth.titles.set_index("title_id")
    page = _page(client, "demo:fr", rows=6, per_row=8)
    assert page["ui_language"] == "fr"
    PageResponse.model_validate(page)  # the body written by hand matches the documented schema
    items = [i for r in page["rows"] for i in r["items"]]
    assert {i["tile"]["maturity_known"] for i in items} == {True, False}  # both kinds on this page
    assert {i["tile"]["maturity_source"] for i in items} == {"rating", "inferred", "unknown"}
    for row in page["rows"]:
        assert all(i["reason"] == row["reason"]["text"] for i in row["items"])
    for item in items:
        tile, truth = item["tile"], meta.loc[item["title_id"]]
        assert tile["type"] == truth["type"] and tile["year"] == int(truth["year"])
        assert tile["genres"] == list(truth["genres"])
        assert tile["maturity_source"] == truth["maturity_source"]
        if truth["maturity_known"]:
            assert tile["maturity_level"] == int(truth["maturity_level"]) and tile["maturity"] == truth["maturity"]
            assert tile["maturity_known"] and tile["maturity_note"] is None
        elif truth["maturity_source"] == "inferred":  # a rung from the genres, said to be one
            assert tile["maturity_level"] == int(truth["maturity_level"]) and tile["maturity"] == truth["maturity"]
            assert not tile["maturity_known"] and "inferred from its genres" in tile["maturity_note"]
        else:  # says what is known: no rating (and why), never a made-up "adults"
            assert tile["maturity"] is None and tile["maturity_level"] is None and not tile["maturity_known"]
            assert "no age rating" in tile["maturity_note"].lower()
        assert (tile["seasons"] is not None) == (truth["type"] == "show")
        assert (tile["duration_minutes"] is not None) == (truth["type"] == "movie")
        languages = list(truth["description_languages"])
        if "fr" in languages:  # the French profile reads the French description
            assert tile["description_language"] == "fr" and tile["description"].endswith("(fr)")
        elif languages:
            assert tile["description_language"] in languages and tile["description"]
        else:
            assert tile["description"] is None
    seed = items[0]["title_id"]
    similar = client.get(f"/v1/titles/{seed}/similar", params={"limit": 5, "language": "de"}).json()
    assert similar["items"] and all(i["tile"]["type"] in ("movie", "show") for i in similar["items"])
    assert all(i["reason"].startswith("Ähnlich wie") for i in similar["items"])


def test_row_titles_in_a_japanese_ui(client: TestClient) -> None:
    page = _page(client, "movielens:3", rows=6, per_row=4, language="ja")
    assert page["ui_language"] == "ja"
    top = next(r for r in page["rows"] if r["kind"] == "top_picks")
    assert top["title"] == "あなたへのおすすめ"
    because = next(r for r in page["rows"] if r["kind"] == "because_you_watched")
    assert because["title"].endswith("を観たあなたに")
