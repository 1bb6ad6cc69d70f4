"""Each loader's quirks, on synthetic fixtures with malformed rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.errors import SourceFileError
from data.normalize import maturity_of, title_key
from data.quarantine import Quarantine
from data.sources import movielens, netflix, tmdb, tomt


def test_netflix_quirks(synthetic_data_dir: Path) -> None:
    q = Quarantine()
    frame = netflix.load(synthetic_data_dir, q).set_index("netflix_id")
    assert frame.loc["s3", "title"] == "Memphis Belle: A Story of a Flying Fortress"  # embedded newline
    assert frame.loc["s5", "title"] == "Consequences"  # trailing U+00A0
    assert frame.loc["s4", "duration_minutes"] == 74 and pd.isna(frame.loc["s4", "maturity_rating"])
    assert frame.loc["s4", "maturity"] == "adults" and not frame.loc["s4", "maturity_known"]
    assert frame.loc["s2", "date_added"] == "2020-04-03"  # leading space
    assert frame.loc["s2", "seasons"] == 5 and frame.loc["s2", "type"] == "show"
    assert frame.loc["s2", "cast"] == ["Úrsula Corberó", "Álvaro Morte"]
    assert frame.loc["s1", "genres"] == ["action", "adventure", "fantasy", "sci-fi"]
    assert frame.loc["s7", "maturity"] == "kids"
    reasons = {r.locator: r.reason for r in q.rows}
    assert "fields" in reasons["record 9"]
    assert reasons["s9"] == "release_year is not an integer"
    assert len(frame) == 7


def test_netflix_accepts_the_kaggle_header(synthetic_data_dir: Path) -> None:
    path = synthetic_data_dir / "netflix_titles" / "netflix_titles.csv"
    text = path.read_text(encoding="utf-8").replace("show_type", "type").replace("countries", "country")
    path.write_text(text.replace("categories", "listed_in", 1), encoding="utf-8")
    assert len(netflix.load(synthetic_data_dir, Quarantine())) == 7


def test_missing_and_corrupt_files_name_the_file(synthetic_data_dir: Path) -> None:
    (synthetic_data_dir / "netflix_titles" / "netflix_titles.csv").unlink()
    with pytest.raises(SourceFileError, match=r"netflix_titles\.csv: missing; expected the Netflix titles CSV"):
        netflix.load(synthetic_data_dir, Quarantine())
    (synthetic_data_dir / "tmdb-5000" / "tmdb_5000_movies.csv.zip").write_bytes(b"not a zip")
    with pytest.raises(SourceFileError, match="not a valid zip archive"):
        tmdb.load_tmdb5000(synthetic_data_dir, Quarantine())
    (synthetic_data_dir / "movielens-latest-small" / "links.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SourceFileError, match="expected"):
        movielens.load_movies(synthetic_data_dir, Quarantine())


def test_movielens_titles_ids_and_bad_ratings(synthetic_data_dir: Path) -> None:
    q = Quarantine()
    movies = movielens.load_movies(synthetic_data_dir, q).set_index("movielens_id")
    assert movies.loc[1, "title"] == "The Matrix" and movies.loc[1, "year"] == 1999
    assert movies.loc[1, "imdb_id"] == "tt0133093" and movies.loc[1, "tmdb_id"] == 603
    assert movies.loc[2, "title"] == "Amelie" and movies.loc[2, "alt_titles"] == ["Le Fabuleux destin d'Amélie Poulain"]
    assert movies.loc[3, "alt_titles"] == ["Se7en"]
    assert movies.loc[4, "genres"] == [] and pd.isna(movies.loc[4, "tmdb_id"])
    ratings = movielens.load_ratings(synthetic_data_dir, q)
    assert len(ratings) == 4  # the 9.0 rating is quarantined, not dropped silently
    assert any(r.reason.startswith("non-numeric field or rating outside") for r in q.rows)


def test_tmdb5000_reads_the_zip_member_and_json_columns(synthetic_data_dir: Path) -> None:
    q = Quarantine()
    frame = tmdb.load_tmdb5000(synthetic_data_dir, q).set_index("tmdb_id")
    assert frame.loc[603, "genres"] == ["action", "sci-fi"]
    assert frame.loc[603, "countries"] == ["United States of America"]
    assert frame.loc[999, "original_title"] == "シン・ゴジラ"
    assert 1000 not in frame.index and q.rows[0].reason.startswith("unparseable field")


def test_language_files_quote_malformed_and_duplicates(synthetic_data_dir: Path) -> None:
    q = Quarantine()
    frame, recovered = tmdb.load_language_files(synthetic_data_dir, q)
    by_id = frame.set_index("tmdb_id")
    assert by_id.loc[500, "overview"] == "À la suite d'un accident, un aristocrate engage un jeune de banlieue."
    assert recovered["top10000_american_films.csv"] == 3
    assert {856, 168903, 777} <= set(by_id.index)
    assert by_id.loc[168903, "title"] == "Batman Returns"
    reasons = [r.reason for r in q.rows]
    assert "unbalanced quote swallowed following records" in reasons
    assert "duplicate id (first record kept)" in reasons
    assert by_id.loc[42, "overview"] == "Una prisión vertical."


def test_query_sets(synthetic_data_dir: Path) -> None:
    q = Quarantine()
    reddit = tomt.load_reddit(synthetic_data_dir, "test", q)
    assert reddit.iloc[0]["query"] == "hacker in a simulation. Guy in black coat & sunglasses"
    assert reddit.iloc[0]["gold"] == [{"source": "imdb", "id": "tt0133093"}]
    assert len(reddit) == 1 and q.rows[0].reason == "no IMDb gold id or empty query"
    trec = tomt.load_trec(synthetic_data_dir, "2023-train", q)
    assert trec.iloc[0]["gold"] == [{"source": "imdb", "id": "tt0133093"}]
    assert trec.iloc[1]["gold"] == []  # an event id, not a title
    with pytest.raises(ValueError, match="unknown trec-tot split"):
        tomt.load_trec(synthetic_data_dir, "2031", q)


@pytest.mark.parametrize(
    ("a", "b"),
    [("Matrix, The", "The Matrix"), ("Amélie", "amelie"), ("Fast & Furious", "Fast and Furious"),
     ("Avventura, L'", "L'Avventura"), ("Consequences\u00a0", "consequences")],
)  # fmt: skip
def test_title_key_folds_variants(a: str, b: str) -> None:
    assert title_key(a) == title_key(b)


def test_maturity_ladder() -> None:
    assert maturity_of("TV-Y")[:2] == ("kids", 0)
    assert maturity_of("PG")[:2] == ("older_kids", 1)
    assert maturity_of("TV-14")[:2] == ("teens", 2)
    assert maturity_of("NR") == ("adults", 3, False)
    assert maturity_of(None) == ("adults", 3, False)
