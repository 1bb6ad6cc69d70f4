"""MovieLens latest-small (GroupLens, generated 2018-09-26): movies, links, ratings, tags.

Quirks handled: titles are "Title (Year)" with trailing articles ("Matrix, The") and alternative
titles in parentheses ("Seven (a.k.a. Se7en)", "Amelie (Fabuleux destin d'Amélie Poulain, Le)");
imdbId is 7 digits without "tt"; 8 links have no tmdbId.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from data.errors import SourceFileError
from data.normalize import MOVIELENS_GENRES, clean_text, map_genres, move_article
from data.quarantine import Quarantine
from data.sources._files import SourceInfo, require_file

INFO = SourceInfo(
    name="movielens",
    folder="movielens-latest-small",
    origin="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
    terms="GroupLens usage license (README.txt): research use, cite Harper & Konstan 2015, no commercial use without permission.",
)
_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:[-–]\d{0,4})?\)\s*$")
_ALT = re.compile(r"^(?P<main>.*?)\s*\((?:a\.k\.a\.\s*)?(?P<alt>[^()]+)\)$")


def parse_title(raw: str) -> tuple[str, int | None, list[str]]:
    """'Seven (a.k.a. Se7en) (1995)' -> ('Seven', 1995, ['Se7en'])."""
    raw = clean_text(raw)
    year: int | None = None
    if m := _TITLE_YEAR.match(raw):
        raw, year = m.group("title"), int(m.group("year"))
    alternatives: list[str] = []
    while m := _ALT.match(raw):
        if not m.group("main"):
            break
        alternatives.append(move_article(clean_text(m.group("alt"))))
        raw = m.group("main")
    return move_article(raw), year, alternatives


def _read_csv(path: Path, columns: list[str], quarantine: Quarantine, name: str) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        if header != columns:
            raise SourceFileError(path, f"header {header}; expected {columns}", origin=INFO.origin)
        out = []
        for line_no, row in enumerate(reader, start=2):
            if len(row) != len(columns):
                quarantine.add(f"{INFO.name}/{name}", f"line {line_no}", f"{len(row)} fields, expected {len(columns)}", row)
                continue
            out.append(dict(zip(columns, row, strict=True)))
        return out


def _file(data_dir: Path, name: str, expected: str) -> Path:
    return require_file(data_dir / INFO.folder / name, expected, INFO.origin)


def load_movies(data_dir: Path, quarantine: Quarantine) -> pd.DataFrame:
    """movies.csv joined with links.csv: one record per movieId."""
    movies = _read_csv(_file(data_dir, "movies.csv", "movieId,title,genres CSV"),
                       ["movieId", "title", "genres"], quarantine, "movies")  # fmt: skip
    links = {
        row["movieId"]: row
        for row in _read_csv(_file(data_dir, "links.csv", "movieId,imdbId,tmdbId CSV"),
                             ["movieId", "imdbId", "tmdbId"], quarantine, "links")  # fmt: skip
    }
    records = []
    for row in movies:
        if not row["movieId"].isdigit():
            quarantine.add(f"{INFO.name}/movies", row["movieId"], "movieId is not an integer", row)
            continue
        title, year, alternatives = parse_title(row["title"])
        if not title:
            quarantine.add(f"{INFO.name}/movies", row["movieId"], "empty title", row)
            continue
        genres, _ = map_genres(row["genres"].split("|"), MOVIELENS_GENRES)
        link = links.get(row["movieId"], {})
        imdb = link.get("imdbId", "").strip()
        tmdb = link.get("tmdbId", "").strip()
        records.append({
            "movielens_id": int(row["movieId"]),
            "title": title,
            "alt_titles": alternatives,
            "year": year,
            "genres": genres,
            "imdb_id": f"tt{int(imdb):07d}" if imdb.isdigit() else None,
            "tmdb_id": int(tmdb) if tmdb.isdigit() else None,
        })  # fmt: skip
    return pd.DataFrame.from_records(records)


def load_ratings(data_dir: Path, quarantine: Quarantine) -> pd.DataFrame:
    """ratings.csv as typed columns: user_id, movielens_id, rating (0.5–5.0), timestamp (unix s)."""
    path = _file(data_dir, "ratings.csv", "userId,movieId,rating,timestamp CSV")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(frame.columns) != ["userId", "movieId", "rating", "timestamp"]:
        raise SourceFileError(path, f"header {list(frame.columns)}; expected userId,movieId,rating,timestamp",
                              origin=INFO.origin)  # fmt: skip
    user = pd.to_numeric(frame["userId"], errors="coerce")
    movie = pd.to_numeric(frame["movieId"], errors="coerce")
    rating = pd.to_numeric(frame["rating"], errors="coerce")
    stamp = pd.to_numeric(frame["timestamp"], errors="coerce")
    bad = user.isna() | movie.isna() | stamp.isna() | rating.isna() | ~rating.between(0.5, 5.0)
    for idx in frame.index[bad]:
        quarantine.add(f"{INFO.name}/ratings", f"line {idx + 2}", "non-numeric field or rating outside 0.5-5.0",
                       frame.loc[idx].to_dict())  # fmt: skip
    ok = ~bad
    return pd.DataFrame({
        "user_id": user[ok].astype("int64").to_numpy(),
        "movielens_id": movie[ok].astype("int64").to_numpy(),
        "rating": rating[ok].astype("float32").to_numpy(),
        "timestamp": stamp[ok].astype("int64").to_numpy(),
    })  # fmt: skip


def load_tags(data_dir: Path, quarantine: Quarantine) -> pd.DataFrame:
    """tags.csv: user_id, movielens_id, tag, timestamp."""
    rows = _read_csv(_file(data_dir, "tags.csv", "userId,movieId,tag,timestamp CSV"),
                     ["userId", "movieId", "tag", "timestamp"], quarantine, "tags")  # fmt: skip
    records = []
    for row in rows:
        if not (row["userId"].isdigit() and row["movieId"].isdigit()):
            quarantine.add(f"{INFO.name}/tags", row["movieId"], "non-numeric id", row)
            continue
        records.append({"user_id": int(row["userId"]), "movielens_id": int(row["movieId"]),
                        "tag": clean_text(row["tag"]), "timestamp": int(row["timestamp"] or 0)})  # fmt: skip
    return pd.DataFrame.from_records(records, columns=["user_id", "movielens_id", "tag", "timestamp"])
