"""A title's maturity (``data.normalize.title_maturity``): its rating when it has one, else a conservative
inference from its genres; checked on rules and on the real catalog."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data.catalog import as_lists, read_manifest, read_titles
from data.normalize import (
    GENRES,
    INFERENCE_EXCLUDED_GENRES,
    MATURITY_LEVELS,
    infer_maturity,
    maturity_of,
    title_maturity,
)
from data.quarantine import Quarantine
from data.sources import movielens, tmdb


def test_a_rating_wins_over_the_genres() -> None:
    rated = title_maturity("R", ["animation", "children", "family"])
    assert (rated.name, rated.level, rated.source, rated.rating, rated.rated) == ("adults", 3, "rating", "R", True)
    assert title_maturity("TV-Y", ["horror"]).name == "kids"


def test_two_sources_agreeing_give_older_kids_one_gives_teens() -> None:
    assert title_maturity(None, ["children", "family", "comedy"]).name == "older_kids"
    assert title_maturity("NR", ["children", "family"]).source == "inferred"  # NR is no age rating
    assert title_maturity("NR", ["children", "family"]).rating == "NR"
    assert title_maturity(None, ["children", "animation"]).name == "teens"
    assert title_maturity(None, ["family", "animation"]).name == "teens"
    for genres in (["children"], ["family"], ["animation"], ["children", "comedy"], []):
        unknown = title_maturity(None, genres)
        assert (unknown.name, unknown.level, unknown.source, unknown.rated) == ("adults", 3, "unknown", False)


@pytest.mark.parametrize("excluded", sorted(INFERENCE_EXCLUDED_GENRES))
def test_an_excluded_genre_stops_the_inference(excluded: str) -> None:
    assert title_maturity(None, ["children", "family", "animation", excluded]).source == "unknown"


@given(st.sets(st.sampled_from(GENRES)))
def test_no_genres_ever_infer_the_kids_rung(genres: set[str]) -> None:
    inferred = infer_maturity(genres)
    assert inferred is None or MATURITY_LEVELS[inferred] >= MATURITY_LEVELS["older_kids"]


# ------------------------------------------------------------------------------------------- real data



@pytest.fixture(scope="module")
def real_titles(real_catalog_dir: Path) -> pd.DataFrame:
    return read_titles(real_catalog_dir).set_index("title_id")


@pytest.mark.realdata
@pytest.mark.parametrize("title_id, rung", [
    ("tmdb:862", "older_kids"),    # Toy Story: MovieLens Children, TMDB Family
    ("tmdb:12", "older_kids"),     # Finding Nemo
    ("tmdb:8587", "older_kids"),   # The Lion King
    ("tmdb:10020", "teens"),       # Beauty and the Beast (1991): MovieLens alone (Animation|Children)
    ("tmdb:35", "teens"),          # The Simpsons Movie (PG-13): TMDB alone (Animation|Family)
])  # fmt: skip
def test_known_family_films_are_inferred(real_titles: pd.DataFrame, title_id: str, rung: str) -> None:
    row = real_titles.loc[title_id]
    assert (row["maturity"], row["maturity_source"], bool(row["maturity_known"])) == (rung, "inferred", False)
    assert row["maturity_level"] == MATURITY_LEVELS[rung]


@pytest.mark.realdata
@pytest.mark.parametrize("title_id", [
    "tmdb:98631",   # Himizu (2011), a violent drama MovieLens labels Children|Crime|Drama
    "tmdb:2907",    # The Addams Family (1991): Children and Family, but Horror
    "tmdb:856",     # Who Framed Roger Rabbit? (PG): Children, Animation, but Crime and Mystery
    "tmdb:266294",  # Sisters (2015), R: MovieLens says Children|Comedy, nothing else agrees
    "tmdb:10748",   # St. Trinian's (2007), PG-13: Children and Family; withheld after the hand review
    "tmdb:268171",  # Elsa & Fred (2014), PG-13: likewise
])  # fmt: skip
def test_suspect_children_labels_are_not_inferred(real_titles: pd.DataFrame, title_id: str) -> None:
    row = real_titles.loc[title_id]
    assert (row["maturity"], row["maturity_level"], row["maturity_source"]) == ("adults", 3, "unknown")


@pytest.mark.realdata
def test_a_rated_title_keeps_its_rating(real_titles: pd.DataFrame, real_catalog_dir: Path) -> None:
    rated = real_titles[real_titles["maturity_source"] == "rating"]
    assert len(rated) > 8000 and rated["maturity_known"].all()
    expected = [maturity_of(r)[1] for r in rated["maturity_rating"]]
    assert rated["maturity_level"].astype(int).tolist() == expected
    others = real_titles[real_titles["maturity_source"] != "rating"]
    assert not others["maturity_known"].any()
    assert set(others["maturity"]) == {"older_kids", "teens", "adults"}  # never kids
    counts = read_manifest(real_catalog_dir)["titles_by_maturity_source"]
    assert counts == real_titles["maturity_source"].value_counts().to_dict()
    assert 300 <= counts["inferred"] <= 600


@pytest.mark.realdata
def test_the_rule_never_lowers_a_rated_title(real_titles: pd.DataFrame, shared_data_dir: Path) -> None:
    """The rule applied to the MovieLens and TMDB genres of every Netflix-rated title that has them (the rating
    hidden): no title gets a rung below its rating, and the rule does reach some of them."""
    quarantine = Quarantine()
    ml = {int(r.movielens_id): set(r.genres) for r in movielens.load_movies(shared_data_dir, quarantine).itertuples()}
    t5 = {int(r.tmdb_id): set(r.genres) for r in tmdb.load_tmdb5000(shared_data_dir, quarantine).itertuples()}
    rated = real_titles[real_titles["maturity_source"] == "rating"]
    checked, inferred = 0, 0
    for title_id, row in rated.iterrows():
        genres: set[str] = set()
        if pd.notna(row["movielens_id"]):
            genres |= ml.get(int(row["movielens_id"]), set())
        if pd.notna(row["tmdb_id"]) and "tmdb5000" in as_lists(row["sources"]):
            genres |= t5.get(int(row["tmdb_id"]), set())
        if not genres:
            continue
        checked += 1
        rung = infer_maturity(genres, str(title_id))
        if rung is not None:
            inferred += 1
            assert MATURITY_LEVELS[rung] >= int(row["maturity_level"]), (title_id, row["title"], rung)
    assert checked >= 1000 and inferred >= 50
