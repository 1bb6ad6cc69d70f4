"""Netflix titles (Kaggle "Netflix Movies and TV Shows", 2021 version).

Quirks handled: the header renames (`show_type`, `countries`, `categories` instead of Kaggle's
`type`, `country`, `listed_in`; both spellings are accepted), the embedded newline in s8420's title,
durations stored in `rating` for s5542/s5795/s5814, leading spaces in `date_added`, and the
trailing U+00A0 in s6530's title.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from pathlib import Path

import pandas as pd

from data.normalize import NETFLIX_GENRES, clean_text, map_genres, maturity_of
from data.quarantine import Quarantine
from data.sources._files import SourceInfo, require_file

INFO = SourceInfo(
    name="netflix",
    folder="netflix_titles",
    origin="https://www.kaggle.com/datasets/shivamb/netflix-shows (mirror: getsentry/demo-movie-search data/netflix_titles.csv)",
    terms="Kaggle lists CC0 public domain; no terms stated in the mirror repository.",
)
FILE = "netflix_titles.csv"
COLUMNS = ["show_id", "show_type", "title", "director", "cast", "countries", "date_added",
           "release_year", "rating", "duration", "categories", "description"]  # fmt: skip
_KAGGLE_NAMES = {"type": "show_type", "country": "countries", "listed_in": "categories"}
_DURATION = re.compile(r"^\s*(\d+)\s*(min|Seasons?)\s*$")
_SHOW_ID = re.compile(r"^s\d+$")


def _split(value: str) -> list[str]:
    return [clean_text(part) for part in value.split(",") if clean_text(part)]


def load(data_dir: Path, quarantine: Quarantine) -> pd.DataFrame:
    """Load netflix_titles.csv into clean records (one per show_id)."""
    path = require_file(data_dir / INFO.folder / FILE, "the Netflix titles CSV (12 columns, header row)", INFO.origin)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = [_KAGGLE_NAMES.get(h.strip(), h.strip()) for h in next(reader, [])]
        if header != COLUMNS:
            from data.errors import SourceFileError

            raise SourceFileError(path, f"header {header}; expected {COLUMNS}", origin=INFO.origin)
        records: list[dict[str, object]] = []
        seen: set[str] = set()
        for line_no, row in enumerate(reader, start=2):
            if len(row) != len(COLUMNS):
                quarantine.add(INFO.name, f"record {line_no}", f"{len(row)} fields, expected {len(COLUMNS)}", row)
                continue
            rec = dict(zip(COLUMNS, row, strict=True))
            show_id = rec["show_id"].strip()
            if not _SHOW_ID.match(show_id):
                quarantine.add(INFO.name, f"record {line_no}", "show_id is not s<number>", row)
                continue
            if show_id in seen:
                quarantine.add(INFO.name, show_id, "duplicate show_id", row)
                continue
            title = clean_text(rec["title"])
            if not title:
                quarantine.add(INFO.name, show_id, "empty title", row)
                continue
            try:
                year = int(rec["release_year"])
            except ValueError:
                quarantine.add(INFO.name, show_id, "release_year is not an integer", row)
                continue
            seen.add(show_id)
            rating, duration = rec["rating"].strip(), rec["duration"].strip()
            if _DURATION.match(rating) and not duration:
                rating, duration = "", rating  # known quirk: duration in the rating column
            minutes = seasons = None
            if m := _DURATION.match(duration):
                if m.group(2) == "min":
                    minutes = int(m.group(1))
                else:
                    seasons = int(m.group(1))
            date_added = None
            if rec["date_added"].strip():
                try:
                    date_added = datetime.strptime(rec["date_added"].strip(), "%B %d, %Y").date().isoformat()
                except ValueError:
                    date_added = None
            genres, _unknown = map_genres(rec["categories"].split(","), NETFLIX_GENRES)
            maturity, level, known = maturity_of(rating)
            records.append({
                "netflix_id": show_id,
                "type": "show" if rec["show_type"].strip() == "TV Show" else "movie",
                "title": title,
                "year": year,
                "directors": _split(rec["director"]),
                "cast": _split(rec["cast"]),
                "countries": _split(rec["countries"]),
                "date_added": date_added,
                "maturity_rating": rating or None,
                "maturity": maturity,
                "maturity_level": level,
                "maturity_known": known,
                "duration_minutes": minutes,
                "seasons": seasons,
                "genres": genres,
                "source_categories": _split(rec["categories"]),
                "description": clean_text(rec["description"]),
            })  # fmt: skip
    return pd.DataFrame.from_records(records)
