"""The unified catalog: entity resolution across Netflix, MovieLens and TMDB, plus history and queries.

Resolution rules, in order (one real film = one catalog title):
1. every MovieLens movie is a title, carrying its MovieLens, IMDb and TMDB ids (links.csv);
2. TMDB-5000 and language-file records join the title holding their TMDB id, else become titles;
3. MovieLens movies without a TMDB id join a TMDB-only title by normalized title + exact year;
4. Netflix movies join an existing title by normalized title (any of its known titles) and year ±1,
   preferring the exact year, then a title with viewing history, then the smallest title id;
   Netflix shows (no other source has shows) and unmatched movies become titles of their own.

A title's original language is TMDB-5000's, else the language of the TMDB language file holding it
(``_file_language``): "french comedy" then finds Le Dîner de cons, known from MovieLens and the French file.

Every title's maturity comes from ``data.normalize.title_maturity``: its Netflix US rating, else a rung inferred
from its genres (never the kids rung), else adults-only; ``maturity_source`` says which ("rating", "inferred",
"unknown") and ``maturity_known`` stays True for a rating only.

Title ids are canonical source ids chosen by priority tmdb > imdb > movielens > netflix
(``tmdb:603``, ``netflix:s123``): stable across builds as long as the links don't change.
Outputs (Parquet + manifest) are deterministic: the same inputs give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.errors import CatalogNotBuiltError
from data.normalize import title_key, title_maturity
from data.quarantine import Quarantine
from data.queries import write_query_file
from data.sources import movielens, netflix, tmdb, tomt
from data.sources._files import sha256_file

FORMAT_VERSION = 1
TITLES_FILE = "titles.parquet"
EVENTS_FILE = "events.parquet"
PROFILES_FILE = "profiles.parquet"
QUARANTINE_FILE = "quarantine.parquet"
MANIFEST_FILE = "manifest.json"
_COUNTRY_ALIASES = {"United States of America": "United States"}


@dataclass
class _Entity:
    """A title being assembled from source records."""

    ids: dict[str, Any] = field(default_factory=dict)  # netflix/movielens/tmdb/imdb -> id
    records: dict[str, Any] = field(default_factory=dict)  # source -> record (lang: {language: rec})

    def canonical_ids(self) -> list[str]:
        return sorted(f"{k}:{v}" for k, v in self.ids.items() if v is not None)

    def title_id(self) -> str:
        for key in ("tmdb", "imdb", "movielens", "netflix"):
            if self.ids.get(key) is not None:
                return f"{key}:{self.ids[key]}"
        raise AssertionError("entity without ids")

    def known_titles(self) -> list[str]:
        out = []
        if (ml := self.records.get("movielens")) is not None:
            out += [ml["title"], *ml["alt_titles"]]
        if (t5 := self.records.get("tmdb5000")) is not None:
            out += [t5["title"], t5["original_title"]]
        out += [rec["title"] for rec in self.records.get("lang", {}).values()]
        return [t for t in out if t]

    def years(self) -> list[int]:
        ys = [self.records[s]["year"] for s in ("movielens", "tmdb5000") if s in self.records]
        ys += [rec["year"] for rec in self.records.get("lang", {}).values()]
        return sorted({int(y) for y in ys if y is not None and not pd.isna(y)})


@dataclass(frozen=True)
class BuildResult:
    """What ``build_catalog`` produced: the output directory and its manifest."""

    catalog_dir: Path
    manifest: dict[str, Any]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Row dicts with NaN/NA turned into None and numpy scalars into Python ones."""
    if frame.empty:
        return []
    return [{k: (None if v is pd.NA else _clean(v)) for k, v in rec.items()} for rec in frame.to_dict("records")]


def _tmdb_entity(tmdb_id: int, by_tmdb: dict[int, _Entity], entities: list[_Entity]) -> tuple[_Entity, bool]:
    """The entity holding ``tmdb_id``, created (and registered) when new; and whether it existed."""
    found = by_tmdb.get(tmdb_id)
    if found is not None:
        return found, True
    ent = _Entity(ids={"tmdb": tmdb_id})
    by_tmdb[tmdb_id] = ent
    entities.append(ent)
    return ent, False


def resolve_entities(
    ml_movies: pd.DataFrame,
    tmdb5000: pd.DataFrame,
    lang: pd.DataFrame,
    netflix_titles: pd.DataFrame,
) -> tuple[list[_Entity], dict[str, int]]:
    """Merge source records into entities. Returns (entities, match counts)."""
    entities: list[_Entity] = []
    by_tmdb: dict[int, _Entity] = {}
    stats: dict[str, int] = defaultdict(int)
    for rec in _records(ml_movies):
        ent = _Entity(ids={"movielens": rec["movielens_id"], "imdb": rec["imdb_id"], "tmdb": rec["tmdb_id"]},
                      records={"movielens": rec})  # fmt: skip
        if rec["tmdb_id"] is not None and not pd.isna(rec["tmdb_id"]):
            ent.ids["tmdb"] = int(rec["tmdb_id"])
            if int(rec["tmdb_id"]) in by_tmdb:  # two MovieLens movies share a TMDB id: keep them apart
                stats["movielens_shared_tmdb_id"] += 1
                ent.ids["tmdb"] = None
            else:
                by_tmdb[int(rec["tmdb_id"])] = ent
        else:
            ent.ids["tmdb"] = None
        entities.append(ent)
    for rec in _records(tmdb5000):
        ent, existed = _tmdb_entity(rec["tmdb_id"], by_tmdb, entities)
        if existed:
            stats["tmdb5000_matched_movielens"] += 1
        ent.records["tmdb5000"] = rec
    for rec in _records(lang):
        ent, existed = _tmdb_entity(rec["tmdb_id"], by_tmdb, entities)
        if existed:
            stats[f"lang_{rec['language']}_matched_existing"] += 1
        ent.records.setdefault("lang", {})[rec["language"]] = rec

    # Title-year index over every non-Netflix entity.
    index: dict[str, list[_Entity]] = defaultdict(list)
    for ent in entities:
        for key in {title_key(t) for t in ent.known_titles()}:
            if key:
                index[key].append(ent)

    # MovieLens movies lacking a TMDB id: join a TMDB-only title with the same title and year.
    for ent in entities:
        if "movielens" in ent.records and ent.ids.get("tmdb") is None:
            ml = ent.records["movielens"]
            for cand in index.get(title_key(ml["title"]), []):
                if cand is not ent and "movielens" not in cand.records and ml["year"] in cand.years():
                    ent.records.update(cand.records)
                    ent.ids["tmdb"] = cand.ids["tmdb"]
                    cand.records, cand.ids = {}, {}
                    stats["movielens_matched_tmdb_by_title_year"] += 1
                    break
    entities = [e for e in entities if e.ids]

    for rec in _records(netflix_titles):
        match: _Entity | None = None
        if rec["type"] == "movie":
            candidates = []
            for cand in index.get(title_key(rec["title"]), []):
                if "netflix" in cand.records or not cand.ids:
                    continue
                gaps = [abs(y - rec["year"]) for y in cand.years()]
                if gaps and min(gaps) <= 1:
                    candidates.append((min(gaps), "movielens" not in cand.records, cand.title_id(), cand))
            if candidates:
                match = min(candidates, key=lambda c: c[:3])[3]
                stats["netflix_matched_exact_year" if min(candidates, key=lambda c: c[:3])[0] == 0
                      else "netflix_matched_year_pm1"] += 1  # fmt: skip
                if "movielens" in match.records:
                    stats["netflix_matched_movielens"] += 1
                if "tmdb5000" in match.records or "lang" in match.records:
                    stats["netflix_matched_tmdb"] += 1
        if match is None:
            match = _Entity()
            entities.append(match)
        match.ids["netflix"] = rec["netflix_id"]
        match.records["netflix"] = rec
    return entities, dict(sorted(stats.items()))


def _countries(values: list[str]) -> list[str]:
    """Distinct countries in the sources' order (Netflix's first, then TMDB's): the first is the title's main
    country where Netflix lists it (France, Belgium; not Belgium, France), which rows and search read."""
    return list(dict.fromkeys(_COUNTRY_ALIASES.get(v, v) for v in values if v))


def _file_language(lang: dict[str, dict[str, Any]]) -> str | None:
    """The original language of a title known from TMDB's language files only: the language of its one file.

    Each file holds the popular films made in its language (they never share a film). Where TMDB-5000 also
    gives the original language, it agrees with the file's for 3,235 of 3,252 films: en .998 (3,091), fr .89
    (66 of 74), es .94 (30 of 32), it/de/pl/pt 1.0, da .83 (5 of 6)."""
    return next(iter(lang)) if len(lang) == 1 else None


def _title_row(ent: _Entity, ml_stats: dict[int, tuple[int, float]], tags: dict[int, list[str]]) -> dict[str, Any]:
    nf, ml, t5 = ent.records.get("netflix"), ent.records.get("movielens"), ent.records.get("tmdb5000")
    lang: dict[str, dict[str, Any]] = ent.records.get("lang", {})
    display = (nf or ml or t5 or lang.get("en") or next(iter(sorted(lang.items())))[1])["title"]
    year = next((r["year"] for r in (nf, ml, t5, *(lang[k] for k in sorted(lang)))
                 if r is not None and r["year"] is not None and not pd.isna(r["year"])), None)  # fmt: skip
    genres: set[str] = set()
    for rec in (nf, ml, t5):
        if rec is not None:
            genres.update(rec["genres"])
    descriptions = []
    if nf is not None and nf["description"]:
        descriptions.append({"lang": "en", "source": "netflix", "text": nf["description"]})
    if t5 is not None and t5["overview"]:
        descriptions.append({"lang": "en", "source": "tmdb5000", "text": t5["overview"]})
    for language in sorted(lang):
        if lang[language]["overview"]:
            descriptions.append({"lang": language, "source": "tmdb-lang", "text": lang[language]["overview"]})
    localized = [{"lang": language, "title": lang[language]["title"]} for language in sorted(lang)]
    if t5 is not None and t5["original_title"] and t5["original_title"] != t5["title"]:
        localized.append({"lang": t5["original_language"] or "und", "title": t5["original_title"]})
    if ml is not None:
        localized += [{"lang": "und", "title": alt} for alt in ml["alt_titles"]]
    maturity = title_maturity(nf["maturity_rating"] if nf is not None else None, genres, ent.title_id())
    ml_id = ent.ids.get("movielens")
    count, mean = ml_stats.get(int(ml_id), (0, 0.0)) if ml_id is not None else (0, 0.0)
    return {
        "title_id": ent.title_id(),
        "type": nf["type"] if nf is not None else "movie",
        "title": display,
        "original_title": t5["original_title"] if t5 is not None and t5["original_title"] else None,
        "original_language": t5["original_language"] if t5 is not None else _file_language(lang),
        "localized_titles": localized,
        "year": int(year) if year is not None else None,
        "genres": sorted(genres),
        "cast": nf["cast"] if nf is not None else [],
        "directors": nf["directors"] if nf is not None else [],
        "countries": _countries((nf["countries"] if nf is not None else []) + (t5["countries"] if t5 is not None else [])),
        "descriptions": descriptions,
        "description_languages": sorted({d["lang"] for d in descriptions}),
        "keywords": t5["keywords"] if t5 is not None else [],
        "tags": tags.get(int(ml_id), []) if ml_id is not None else [],
        "maturity_rating": maturity.rating,
        "maturity": maturity.name,
        "maturity_level": maturity.level,
        "maturity_known": maturity.rated,
        "maturity_source": maturity.source,
        "duration_minutes": (nf["duration_minutes"] if nf is not None and nf["duration_minutes"] is not None
                             and not pd.isna(nf["duration_minutes"]) else (t5["runtime"] if t5 is not None else None)),
        "seasons": nf["seasons"] if nf is not None and not pd.isna(nf["seasons"]) else None,
        "date_added": nf["date_added"] if nf is not None else None,
        "popularity": float(t5["popularity"]) if t5 is not None else None,
        "vote_average": float(t5["vote_average"]) if t5 is not None else None,
        "vote_count": int(t5["vote_count"]) if t5 is not None else None,
        "ml_rating_count": int(count),
        "ml_rating_mean": float(mean),
        "netflix_id": ent.ids.get("netflix"),
        "movielens_id": int(ml_id) if ml_id is not None else None,
        "tmdb_id": int(ent.ids["tmdb"]) if ent.ids.get("tmdb") is not None else None,
        "imdb_id": ent.ids.get("imdb"),
        "source_ids": ent.canonical_ids(),
        "sources": sorted(k for k in ent.records),
    }  # fmt: skip


TITLE_SCHEMA = pa.schema([
    ("title_id", pa.string()), ("type", pa.string()), ("title", pa.string()),
    ("original_title", pa.string()), ("original_language", pa.string()),
    ("localized_titles", pa.list_(pa.struct([("lang", pa.string()), ("title", pa.string())]))),
    ("year", pa.int32()), ("genres", pa.list_(pa.string())), ("cast", pa.list_(pa.string())),
    ("directors", pa.list_(pa.string())), ("countries", pa.list_(pa.string())),
    ("descriptions", pa.list_(pa.struct([("lang", pa.string()), ("source", pa.string()), ("text", pa.string())]))),
    ("description_languages", pa.list_(pa.string())), ("keywords", pa.list_(pa.string())),
    ("tags", pa.list_(pa.string())), ("maturity_rating", pa.string()), ("maturity", pa.string()),
    ("maturity_level", pa.int8()), ("maturity_known", pa.bool_()), ("maturity_source", pa.string()),
    ("duration_minutes", pa.int32()),
    ("seasons", pa.int32()), ("date_added", pa.string()), ("popularity", pa.float64()),
    ("vote_average", pa.float64()), ("vote_count", pa.int64()), ("ml_rating_count", pa.int64()),
    ("ml_rating_mean", pa.float64()), ("netflix_id", pa.string()), ("movielens_id", pa.int64()),
    ("tmdb_id", pa.int64()), ("imdb_id", pa.string()), ("source_ids", pa.list_(pa.string())),
    ("sources", pa.list_(pa.string())),
])  # fmt: skip

EVENT_SCHEMA = pa.schema([("profile_id", pa.string()), ("title_id", pa.string()), ("timestamp", pa.int64()),
                          ("kind", pa.string()), ("rating", pa.float32())])  # fmt: skip
PROFILE_SCHEMA = pa.schema([("profile_id", pa.string()), ("maturity", pa.string()), ("maturity_level", pa.int8()),
                            ("languages", pa.list_(pa.string())), ("ui_language", pa.string()),
                            ("country", pa.string()), ("origin", pa.string())])  # fmt: skip
DEMO_PROFILES = [
    {"profile_id": "demo:kids", "maturity": "kids", "maturity_level": 0, "languages": ["en"], "ui_language": "en",
     "country": "US", "origin": "demo"},
    {"profile_id": "demo:fr", "maturity": "adults", "maturity_level": 3, "languages": ["fr", "en"], "ui_language": "fr",
     "country": "FR", "origin": "demo"},
    {"profile_id": "demo:es-teen", "maturity": "teens", "maturity_level": 2, "languages": ["es"], "ui_language": "es",
     "country": "ES", "origin": "demo"},
]  # fmt: skip


def _write_parquet(table: pa.Table, path: Path) -> None:
    """Deterministic Parquet: fixed compression, no wall-clock metadata."""
    pq.write_table(table.replace_schema_metadata(None), path, compression="zstd", compression_level=3,
                   use_dictionary=True, write_statistics=True)  # fmt: skip


def build_catalog(
    data_dir: Path, out_dir: Path, *, progress: Callable[[str], None] | None = None
) -> BuildResult:
    """Read every source in ``data_dir``, resolve entities, write the catalog to ``out_dir``.

    Writes titles/events/profiles/quarantine Parquet files, query sets as JSONL and manifest.json
    (counts, matches, quarantine, checksums). A build directory is written next to ``out_dir``
    and swapped in at the end, so a failed build never leaves a half-written catalog.
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    quarantine = Quarantine()
    say("reading Netflix titles")
    nf = netflix.load(data_dir, quarantine)
    say("reading MovieLens")
    ml_movies = movielens.load_movies(data_dir, quarantine)
    ratings = movielens.load_ratings(data_dir, quarantine)
    tags = movielens.load_tags(data_dir, quarantine)
    say("reading TMDB")
    t5 = tmdb.load_tmdb5000(data_dir, quarantine)
    lang, recovered = tmdb.load_language_files(data_dir, quarantine)
    say("resolving entities")
    entities, matches = resolve_entities(ml_movies, t5, lang, nf)

    grouped = ratings.groupby("movielens_id")["rating"].agg(["count", "mean"])
    ml_stats = {int(k): (int(v["count"]), float(v["mean"])) for k, v in grouped.iterrows()}
    tag_lists: dict[int, list[str]] = {}
    for movie_id, group in tags.groupby("movielens_id"):
        counts = group["tag"].str.lower().value_counts()
        tag_lists[int(movie_id)] = sorted(counts.index[:10].tolist())
    rows = sorted((_title_row(e, ml_stats, tag_lists) for e in entities), key=lambda r: r["title_id"])
    titles = pa.Table.from_pylist(rows, schema=TITLE_SCHEMA)

    say("mapping viewing history")
    ml_to_title = {r["movielens_id"]: r["title_id"] for r in rows if r["movielens_id"] is not None}
    mapped = ratings["movielens_id"].map(ml_to_title)
    for idx in ratings.index[mapped.isna()]:
        quarantine.add("movielens/ratings", f"row {idx}", "movieId not in movies.csv", ratings.loc[idx].to_dict())
    ok = mapped.notna()
    events = pd.DataFrame({
        "profile_id": "movielens:" + ratings.loc[ok, "user_id"].astype(str),
        "title_id": mapped[ok].astype(str),
        "timestamp": ratings.loc[ok, "timestamp"].astype("int64"),
        "kind": "rating",
        "rating": ratings.loc[ok, "rating"].astype("float32"),
    }).sort_values(["profile_id", "timestamp", "title_id"], kind="stable").reset_index(drop=True)  # fmt: skip
    profiles = [{"profile_id": f"movielens:{u}", "maturity": "adults", "maturity_level": 3, "languages": ["en"],
                 "ui_language": "en", "country": None, "origin": "movielens"}
                for u in sorted(ratings["user_id"].unique())] + DEMO_PROFILES  # fmt: skip

    say("resolving query sets")
    wikimap = tomt.load_wikipage_map(data_dir)
    id_to_title = {sid: r["title_id"] for r in rows for sid in r["source_ids"]}
    query_sets: dict[str, pd.DataFrame] = {}
    for split in tomt.REDDIT_SPLITS:
        query_sets[f"reddit-tomt:{split}"] = tomt.load_reddit(data_dir, split, quarantine)
    for split in tomt.TREC_SPLITS:
        query_sets[f"trec-tot:{split}"] = tomt.load_trec(data_dir, split, quarantine, wikimap)

    tmp = out_dir.with_name(out_dir.name + ".building")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    (tmp / "queries").mkdir(parents=True)
    _write_parquet(titles, tmp / TITLES_FILE)
    _write_parquet(pa.Table.from_pandas(events, schema=EVENT_SCHEMA, preserve_index=False), tmp / EVENTS_FILE)
    _write_parquet(pa.Table.from_pylist(profiles, schema=PROFILE_SCHEMA), tmp / PROFILES_FILE)
    qrows = [{"source": r.source, "locator": r.locator, "reason": r.reason, "raw": r.raw} for r in quarantine.rows]
    _write_parquet(pa.Table.from_pylist(qrows, schema=pa.schema([(c, pa.string()) for c in
                                                                 ("source", "locator", "reason", "raw")])),
                   tmp / QUARANTINE_FILE)  # fmt: skip
    query_report = {}
    for name, frame in query_sets.items():
        recs = frame.to_dict("records")
        resolved = sum(any(f"{g['source']}:{g['id']}" in id_to_title for g in r["gold"]) for r in recs)
        write_query_file(tmp / "queries" / f"{name.replace(':', '_')}.jsonl", recs)
        query_report[name] = {"queries": len(recs), "resolved": int(resolved)}

    desc_langs: dict[str, int] = defaultdict(int)
    for r in rows:
        for language in r["description_languages"]:
            desc_langs[language] += 1
    per_source = {s: sum(s in r["sources"] for r in rows) for s in ("netflix", "movielens", "tmdb5000", "lang")}
    sources = {
        "netflix": {"rows": len(nf)}, "movielens_movies": {"rows": len(ml_movies)},
        "movielens_ratings": {"rows": len(ratings)}, "movielens_tags": {"rows": len(tags)},
        "tmdb5000": {"rows": len(t5)},
        "tmdb_lang": {"rows": len(lang), "by_language": {k: int(v) for k, v in sorted(lang["language"].value_counts().items())},
                      "recovered_from_malformed": recovered},
    }  # fmt: skip
    source_files = sorted(p for p in data_dir.rglob("*") if p.is_file() and p.name != "SOURCE.md"
                          and "ctr-samples" not in p.parts)  # fmt: skip
    outputs = sorted(p for p in tmp.rglob("*") if p.is_file())
    checksums = {str(p.relative_to(tmp)): sha256_file(p) for p in outputs}
    catalog_version = hashlib.sha256(json.dumps(checksums, sort_keys=True).encode()).hexdigest()[:16]
    manifest = {
        "format_version": FORMAT_VERSION,
        "catalog_version": catalog_version,
        "titles": len(rows),
        "titles_by_type": {k: int(v) for k, v in sorted(pd.Series([r["type"] for r in rows]).value_counts().items())},
        "titles_by_source": per_source,
        "titles_by_description_language": dict(sorted(desc_langs.items())),
        "titles_without_description": sum(not r["descriptions"] for r in rows),
        "titles_by_maturity_source": {source: sum(r["maturity_source"] == source for r in rows)
                                      for source in ("rating", "inferred", "unknown")},
        "sources": sources,
        "matches": matches,
        "quarantine": {"total": len(quarantine), "by_source": quarantine.counts()},
        "history": {"ratings": len(ratings), "events_mapped": int(ok.sum()), "events_unmapped": int((~ok).sum()),
                    "profiles": len(profiles), "movielens_profiles": len(profiles) - len(DEMO_PROFILES)},
        "queries": query_report,
        "source_checksums": {str(p.relative_to(data_dir)): sha256_file(p) for p in source_files},
        "output_checksums": checksums,
    }  # fmt: skip
    (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (tmp / "build_info.json").write_text(json.dumps({"build_seconds": round(time.perf_counter() - started, 2),
                                                     "built_at_unix": int(time.time())}) + "\n")  # fmt: skip
    _swap_in(tmp, out_dir)
    return BuildResult(out_dir, manifest)


def _swap_in(new: Path, target: Path) -> None:
    """Replace ``target`` by ``new`` with two renames (old catalog removed only after the swap)."""
    import shutil

    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    new.rename(target)
    if old.exists():
        shutil.rmtree(old)


# ------------------------------------------------------------------ reading the built catalog


def read_manifest(catalog_dir: Path) -> dict[str, Any]:
    path = catalog_dir / MANIFEST_FILE
    if not path.is_file():
        raise CatalogNotBuiltError(catalog_dir)
    return json.loads(path.read_text(encoding="utf-8"))


def read_titles(catalog_dir: Path) -> pd.DataFrame:
    """The titles table (one row per title, sorted by title_id)."""
    path = catalog_dir / TITLES_FILE
    if not path.is_file():
        raise CatalogNotBuiltError(catalog_dir)
    return pq.read_table(path).to_pandas(types_mapper=None)


def read_events(catalog_dir: Path) -> pd.DataFrame:
    """The MovieLens history as viewing events (profile_id, title_id, timestamp, kind, rating)."""
    path = catalog_dir / EVENTS_FILE
    if not path.is_file():
        raise CatalogNotBuiltError(catalog_dir)
    return pq.read_table(path).to_pandas()


def read_profiles(catalog_dir: Path) -> pd.DataFrame:
    path = catalog_dir / PROFILES_FILE
    if not path.is_file():
        raise CatalogNotBuiltError(catalog_dir)
    return pq.read_table(path).to_pandas()


def read_quarantine(catalog_dir: Path) -> pd.DataFrame:
    return pq.read_table(catalog_dir / QUARANTINE_FILE).to_pandas()


def as_lists(values: Any) -> list[Any]:
    """Parquet list cells come back as numpy arrays; give plain lists (None -> [])."""
    if values is None:
        return []
    if isinstance(values, np.ndarray):
        return values.tolist()
    return list(values)
