"""TMDB: the Kaggle "TMDB 5000 Movie Dataset" (movies file) and the 8 language-specific files.

Quirks handled: the zip holds a ``__MACOSX`` junk member (read the CSV member with zipfile);
genres/keywords/countries/languages are JSON strings; the language files use ``;`` as delimiter
and ``'`` as quote, have a few malformed records that swallow following lines (quarantined, and
the swallowed records recovered when they parse cleanly), and the Spanish file repeats ids.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pandas as pd

from data.normalize import TMDB_GENRES, clean_text, map_genres
from data.quarantine import Quarantine
from data.sources._files import SourceInfo, read_zip_member, text_stream

INFO_5000 = SourceInfo(
    name="tmdb5000",
    folder="tmdb-5000",
    origin="https://www.kaggle.com/datasets/tmdb/tmdb-movie-metadata (tmdb_5000_movies.csv)",
    terms="TMDB API terms: attribution ('This product uses the TMDB API but is not endorsed or certified by TMDB'); limits on commercial use.",
)
INFO_LANG = SourceInfo(
    name="tmdb-lang",
    folder="tmdb-language-specific",
    origin="https://github.com/supergeniodelmale/LanguageSpecificMovieDatasets",
    terms="Repository MIT (c) 2023 Mateusz Miroslaw Lis; content from the TMDB API, whose terms apply.",
)
LANGUAGE_FILES: dict[str, str] = {
    "top10000_american_films.csv": "en",
    "top8000_french_films.csv": "fr",
    "top6500_spanish_films.csv": "es",
    "top6000_italian_films.csv": "it",
    "top6000_german_films.csv": "de",
    "top2000_danish_films.csv": "da",
    "top1600_polish_films.csv": "pl",
    "top1600_portuguese_films.csv": "pt",
}
_LANG_HEADER = ["id", "title", "overview", "release_date", "vote_average"]
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RECORD_START = re.compile(r"^\d+;")
_5000_COLUMNS = {"id", "title", "original_title", "original_language", "overview", "genres", "keywords",
                 "production_countries", "spoken_languages", "release_date", "runtime", "popularity",
                 "vote_average", "vote_count", "tagline"}  # fmt: skip


def _json_names(value: str) -> list[str]:
    if not value:
        return []
    items = json.loads(value)
    return [clean_text(item["name"]) for item in items if clean_text(item.get("name", ""))]


def load_tmdb5000(data_dir: Path, quarantine: Quarantine) -> pd.DataFrame:
    """tmdb_5000_movies.csv: one record per TMDB id."""
    from data.errors import SourceFileError

    path = data_dir / INFO_5000.folder / "tmdb_5000_movies.csv.zip"
    stream = text_stream(read_zip_member(path, "tmdb_5000_movies.csv", INFO_5000.origin), path, INFO_5000.origin)
    reader = csv.DictReader(stream)
    missing = _5000_COLUMNS - set(reader.fieldnames or [])
    if missing:
        raise SourceFileError(path, f"columns {sorted(missing)} missing from tmdb_5000_movies.csv", origin=INFO_5000.origin)
    records, seen = [], set()
    for line_no, row in enumerate(reader, start=2):
        try:
            tmdb_id = int(row["id"])
            genres_raw = _json_names(row["genres"])
            keywords = _json_names(row["keywords"])
            countries = _json_names(row["production_countries"])
            languages = [clean_text(x.get("iso_639_1", "")) for x in json.loads(row["spoken_languages"] or "[]")]
        except (ValueError, KeyError, TypeError) as exc:
            quarantine.add(INFO_5000.name, f"record {line_no}", f"unparseable field: {exc}", row)
            continue
        if tmdb_id in seen:
            quarantine.add(INFO_5000.name, str(tmdb_id), "duplicate id", row)
            continue
        seen.add(tmdb_id)
        date = row["release_date"].strip()
        genres, _ = map_genres(genres_raw, TMDB_GENRES)
        records.append({
            "tmdb_id": tmdb_id,
            "title": clean_text(row["title"]),
            "original_title": clean_text(row["original_title"]),
            "original_language": clean_text(row["original_language"]) or None,
            "overview": clean_text(row["overview"]),
            "tagline": clean_text(row["tagline"]),
            "genres": genres,
            "keywords": keywords,
            "countries": countries,
            "spoken_languages": [x for x in languages if x],
            "year": int(date[:4]) if _DATE.match(date) else None,
            "runtime": int(float(row["runtime"])) if row["runtime"].strip() else None,
            "popularity": float(row["popularity"] or 0.0),
            "vote_average": float(row["vote_average"] or 0.0),
            "vote_count": int(row["vote_count"] or 0),
        })  # fmt: skip
    return pd.DataFrame.from_records(records)


def _valid_lang_record(rec: list[str]) -> str | None:
    """None if a language-file record is well formed, else the reason."""
    if len(rec) != len(_LANG_HEADER):
        return f"{len(rec)} fields, expected {len(_LANG_HEADER)}"
    if not rec[0].isdigit():
        return "id is not an integer"
    if rec[3] and not _DATE.match(rec[3]):
        return "release_date is not YYYY-MM-DD"
    if any(_RECORD_START.match(line) for field in rec[1:3] for line in field.splitlines()[1:]):
        return "unbalanced quote swallowed following records"
    return None


def load_language_file(path: Path, language: str, quarantine: Quarantine) -> tuple[pd.DataFrame, int]:
    """Parse one language file. Returns (records, number of records recovered from malformed ones)."""
    from data.errors import SourceFileError
    from data.sources._files import require_file

    require_file(path, "a ';'-delimited CSV with header id;title;overview;release_date;vote_average", INFO_LANG.origin)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=";", quotechar="'")
        header = next(reader, [])
        if [h.strip() for h in header] != _LANG_HEADER:
            raise SourceFileError(path, f"header {header}; expected {_LANG_HEADER}", origin=INFO_LANG.origin)
        good: list[list[str]] = []
        recovered = 0
        for index, rec in enumerate(reader, start=1):
            reason = _valid_lang_record(rec)
            if reason is None:
                good.append(rec)
                continue
            quarantine.add(f"{INFO_LANG.name}/{path.name}", f"record {index}", reason, ";".join(rec))
            # Recover every complete record the broken quote glued together (its own first line too).
            for line in ";".join(rec).splitlines():
                if not _RECORD_START.match(line):
                    continue
                parsed = next(csv.reader(io.StringIO(line), delimiter=";", quotechar="'"), [])
                if _valid_lang_record(parsed) is None:
                    good.append(parsed)
                    recovered += 1
    records, seen = [], set()
    for rec in good:
        tmdb_id = int(rec[0])
        if tmdb_id in seen:
            quarantine.add(f"{INFO_LANG.name}/{path.name}", str(tmdb_id), "duplicate id (first record kept)", ";".join(rec))
            continue
        seen.add(tmdb_id)
        try:
            vote = float(rec[4]) if rec[4].strip() else None
        except ValueError:
            vote = None
        records.append({
            "tmdb_id": tmdb_id,
            "language": language,
            "title": clean_text(rec[1]),
            "overview": clean_text(rec[2]),
            "year": int(rec[3][:4]) if rec[3] else None,
            "vote_average": vote,
        })  # fmt: skip
    return pd.DataFrame.from_records(records), recovered


def load_language_files(data_dir: Path, quarantine: Quarantine) -> tuple[pd.DataFrame, dict[str, int]]:
    """All 8 language files concatenated (column ``language``); also recovered counts per file."""
    frames, recovered = [], {}
    for name, language in LANGUAGE_FILES.items():
        frame, n = load_language_file(data_dir / INFO_LANG.folder / name, language, quarantine)
        frames.append(frame)
        recovered[name] = n
    return pd.concat(frames, ignore_index=True), recovered
