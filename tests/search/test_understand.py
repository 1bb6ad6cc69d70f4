"""Query understanding: each constraint kind in several languages, and how the engine applies it."""

from __future__ import annotations

import pytest

from data.normalize import MATURITY_LEVELS
from search.engine import SearchEngine
from search.request import SearchFilters, Viewer
from search.understand import understand
from tests.search.search_synthetic import build_engine


def kinds(query: str) -> set[tuple[str, str, str]]:
    return {(c.kind, c.value, c.effect) for c in understand(query).constraints}


@pytest.mark.parametrize(("query", "expected"), [
    ("90s french comedy", {("years", "1990-1999", "boost"), ("country", "France", "boost"), ("genre", "comedy", "boost")}),
    ("comedias francesas de los años 90", {("years", "1990-1999", "boost"), ("country", "France", "boost"),
                                           ("genre", "comedy", "boost")}),
    ("韓国のゾンビ映画 電車", {("country", "South Korea", "boost"), ("type", "movie", "boost")}),
    ("한국 드라마 추천", {("country", "South Korea", "boost"), ("type", "show", "boost")}),
    ("دراما تركية", {("country", "Turkey", "boost"), ("genre", "drama", "boost")}),
    ("bollywood romance", {("country", "India", "boost"), ("genre", "romance", "boost")}),
    ("फ्रेंच कॉमेडी फिल्म", {("country", "France", "boost"), ("genre", "comedy", "boost"), ("type", "movie", "boost")}),
    ("фильм ужасов для детей", {("type", "movie", "boost"), ("genre", "horror", "boost"),
                                ("audience", "older_kids", "filter")}),
    ("ταινία τρόμου", {("type", "movie", "boost"), ("genre", "horror", "boost")}),
    ("סרט אימה", {("type", "movie", "boost"), ("genre", "horror", "boost")}),
    ("หนังผี", {("type", "movie", "boost"), ("genre", "horror", "boost")}),
    ("comedies for kids before 2000", {("audience", "older_kids", "filter"), ("years", "-1999", "filter"),
                                       ("genre", "comedy", "boost")}),
    ("deutsche krimi serie nach 2010", {("country", "Germany", "boost"), ("genre", "crime", "boost"),
                                        ("type", "show", "boost"), ("years", "2010-", "filter")}),
    ("comedias francesas de los 90", {("years", "1990-1999", "boost"), ("country", "France", "boost"),
                                      ("genre", "comedy", "boost")}),
    ("scary for halloween", {("genre", "horror", "boost")}),
    ("something feel good", {("genre", "comedy", "boost")}),
    ("movies like inception", {("like", "inception", "boost")}),
    ("películas como amelie", {("like", "amelie", "boost")}),
    ("インセプションのような映画", {("like", "インセプション", "boost"), ("type", "movie", "boost")}),
    ("the matrix", set()),
    ("tom hanks", set()),
    ("a movie i like about dogs", {("type", "movie", "boost")}),
])  # fmt: skip
def test_constraints_in_many_languages(query: str, expected: set[tuple[str, str, str]]) -> None:
    assert kinds(query) == expected


def test_sources_are_the_query_words() -> None:
    parsed = understand("90s French comedy")
    assert {c.source for c in parsed.constraints} == {"90s", "french", "comedy"}
    assert parsed.rest == ""


@pytest.fixture(scope="module")
def engine() -> SearchEngine:
    built, _, _ = build_engine()
    return built


def test_for_kids_filters_and_an_explicit_request_filter_wins(engine: SearchEngine) -> None:
    page = engine.search("dragon for kids", limit=50)
    assert page.hits and all(MATURITY_LEVELS[h.maturity] <= MATURITY_LEVELS["older_kids"] for h in page.hits)
    assert ("audience", "filter") in {(u.kind, u.effect) for u in page.understood}
    explicit = engine.search("dragon for kids", filters=SearchFilters(max_maturity="teens"), limit=50)
    assert ("audience", "boost") in {(u.kind, u.effect) for u in explicit.understood}
    assert any(h.maturity == "teens" for h in explicit.hits)


def test_a_kids_profile_never_gets_more_through_a_parsed_intent(engine: SearchEngine) -> None:
    kid = Viewer(profile_id="k", maturity_level=MATURITY_LEVELS["kids"])
    for query in ("adult horror for adults after 1990", "90s thriller", "movies like the matrix"):
        page = engine.search(query, viewer=kid, limit=50)
        assert all(h.maturity == "kids" for h in page.hits)


def test_years_filter_and_understanding_off(engine: SearchEngine) -> None:
    page = engine.search("dragon before 2000", limit=50)
    assert page.hits and all(h.year is not None and h.year < 2000 for h in page.hits)
    off = engine.search("dragon before 2000", limit=50, understand=False)
    assert off.understood == ()
    assert any(h.year is None or h.year >= 2000 for h in off.hits)


def test_a_parsed_genre_lifts_titles_of_that_genre(engine: SearchEngine) -> None:
    on = engine.search("dragon horror", limit=10)
    off = engine.search("dragon horror", limit=10, understand=False)
    genres = engine.catalog.genre_masks["horror"]
    share = lambda page: sum(bool(genres[engine.catalog.position[h.title_id]]) for h in page.hits)  # noqa: E731
    assert share(on) > share(off)
