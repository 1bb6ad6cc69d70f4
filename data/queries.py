"""The query-file format for evaluations, the built-in query sets, and the multilingual set's checks.

A query file is JSONL, one object per line::

    {"qid": "reddit-cggmzb", "query": "little girl turns out to be a robot", "lang": "en",
     "gold": [{"source": "imdb", "id": "tt0293416"}]}

``qid`` (unique string) and ``query`` (non-empty string) are required; ``lang`` (ISO 639-1) is
optional; ``gold`` is a list of source ids with ``source`` one of netflix | tmdb | movielens | imdb
(ids as the source writes them: ``s123``, ``603``, ``1``, ``tt0133093``). Blank lines are skipped.
Optional fields, used by the multilingual set:

* ``kind``: one of :data:`KINDS` — ``plot`` (a paraphrased plot in one of the film's description
  languages), ``cross-lingual`` (a plot in a language the film is *not* described in), ``title``
  (a title with typos, translated or transliterated), ``person`` (an actor or director, maybe with
  a hint) and ``intent`` (constraints such as "French comedies of the 1990s");
* ``intent``: the structured constraints (:class:`Intent`; keys ``type``, ``genres``, ``country``,
  ``years``, ``maturity``, ``person``); an intent query's gold is every title of the scope that
  :func:`intent_matches`, scored by precision@10;
* ``script``: the query's Unicode script (:func:`script_of`); ``split``: ``dev`` or ``test``.

A malformed file raises one :class:`~data.errors.QueryFileError` listing every bad line
(``file:line: what is wrong``), not just the first.

Built-in sets: ``reddit-tomt:<split>`` and ``trec-tot:<split>`` (built into the catalog by
``marquee data build``), and the hand-written multilingual set shipped in the package,
``marquee-ml:dev`` / ``marquee-ml:test`` / ``marquee-ml:all`` (``data/querysets/
marquee-multilingual.jsonl``). Tune on ``dev`` only: :func:`check_tuning_set` refuses the rest.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data.errors import QueryFileError, TuningSetError
from data.normalize import of_country

GOLD_SOURCES = ("netflix", "tmdb", "movielens", "imdb")
KINDS = ("plot", "cross-lingual", "title", "person", "intent")
SPLITS = ("dev", "test")
TITLE_TYPES = ("movie", "show")
MATURITY_LEVELS = {"kids": 0, "older_kids": 1, "teens": 2, "adults": 3}
INTENT_KEYS = ("type", "genres", "country", "years", "maturity", "person")

QUERYSET_DIR = Path(__file__).resolve().parent / "querysets"
MARQUEE_ML_FILE = QUERYSET_DIR / "marquee-multilingual.jsonl"
MARQUEE_ML = "marquee-ml"
"""Named sets ``marquee-ml:dev``, ``marquee-ml:test`` and ``marquee-ml:all`` read this file."""


@dataclass(frozen=True)
class Intent:
    """Structured constraints of an intent query; ``None``/empty means unconstrained.

    ``genres``: every one must be among the title's genres (catalog vocabulary: ``comedy``,
    ``horror``...); ``country``: among the title's countries, or none listed and its original language the
    country's own (:func:`data.normalize.of_country`); ``years``: inclusive range;
    ``maturity``: the title's known maturity is at most this level (``kids`` < ``older_kids`` <
    ``teens`` < ``adults``); ``person``: in the cast or among the directors (exact name).
    """

    type: str | None = None
    genres: tuple[str, ...] = ()
    country: str | None = None
    years: tuple[int, int] | None = None
    maturity: str | None = None
    person: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The JSON form (only the constrained keys)."""
        out: dict[str, object] = {}
        if self.type is not None:
            out["type"] = self.type
        if self.genres:
            out["genres"] = list(self.genres)
        if self.country is not None:
            out["country"] = self.country
        if self.years is not None:
            out["years"] = list(self.years)
        if self.maturity is not None:
            out["maturity"] = self.maturity
        if self.person is not None:
            out["person"] = self.person
        return out


@dataclass(frozen=True)
class Query:
    """One evaluation query with its gold answers as canonical source ids (``imdb:tt0133093``)."""

    qid: str
    query: str
    lang: str | None = None
    gold: tuple[str, ...] = field(default_factory=tuple)
    kind: str | None = None
    intent: Intent | None = None
    script: str | None = None
    split: str | None = None


# ------------------------------------------------------------------------------------------ scripts

_SCRIPT_ALIASES = {
    "cjk": "cjk",
    "hiragana": "cjk",
    "katakana": "cjk",
    "bopomofo": "cjk",
    "ideographic": "cjk",
}


def _char_script(ch: str) -> str | None:
    name = unicodedata.name(ch, "")
    if not name:
        return None
    words = name.split()
    if "LATIN" in words:
        return "latin"
    first = words[0].split("-")[0].lower()
    return _SCRIPT_ALIASES.get(first, first)


def script_of(text: str) -> str:
    """The Unicode script most of ``text``'s letters are written in, lowercase.

    ``latin``, ``cjk`` (Han ideographs and Japanese kana), ``hangul``, ``arabic``, ``devanagari``,
    ``cyrillic``, ``thai``, ``greek``, ``hebrew``... (the first word of the Unicode character name);
    ``unknown`` when the text has no letters. Latin letters mixed into another script (brand
    names, "Netflix のドラマ") do not decide: the most frequent other script wins when it holds at
    least a quarter of the letters. Ties go to the script seen first.
    """
    counts: Counter[str] = Counter()
    for ch in text:
        if ch.isalpha():
            script = _char_script(ch)
            if script is not None:
                counts[script] += 1
    if not counts:
        return "unknown"
    others = [(script, n) for script, n in counts.most_common() if script != "latin"]
    if others and others[0][1] * 4 >= sum(counts.values()):
        return others[0][0]
    return counts.most_common(1)[0][0]


# ------------------------------------------------------------------------------------------ parsing


def canonical_source_id(source: str, value: object) -> str:
    """``("imdb", "tt0133093")`` -> ``"imdb:tt0133093"``; validates the source name."""
    if source not in GOLD_SOURCES:
        raise ValueError(f"unknown gold source {source!r}; expected one of {GOLD_SOURCES}")
    text = str(value).strip()
    if not text:
        raise ValueError(f"empty {source} id")
    return f"{source}:{text}"


def parse_intent(obj: object) -> Intent:
    """Validate an ``intent`` object; raises ValueError saying what is wrong."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"'intent' must be an object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(INTENT_KEYS))
    if unknown:
        raise ValueError(f"unknown intent key(s) {unknown}; expected some of {INTENT_KEYS}")
    if not obj:
        raise ValueError("'intent' has no constraint")
    type_ = obj.get("type")
    if type_ is not None and type_ not in TITLE_TYPES:
        raise ValueError(f"intent 'type' {type_!r}; expected one of {TITLE_TYPES}")
    genres = obj.get("genres", [])
    if not isinstance(genres, list) or not all(isinstance(g, str) and g for g in genres):
        raise ValueError("intent 'genres' must be a list of genre names")
    years = obj.get("years")
    well_formed = (isinstance(years, list) and len(years) == 2
                   and all(isinstance(y, int) and not isinstance(y, bool) for y in years) and years[0] <= years[1])  # fmt: skip
    if years is not None and not well_formed:
        raise ValueError(f"intent 'years' must be [first, last] integers, got {years!r}")
    maturity = obj.get("maturity")
    if maturity is not None and maturity not in MATURITY_LEVELS:
        raise ValueError(f"intent 'maturity' {maturity!r}; expected one of {tuple(MATURITY_LEVELS)}")
    for key in ("country", "person"):
        value = obj.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"intent {key!r} must be a non-empty string")
    return Intent(type=type_, genres=tuple(genres), country=obj.get("country"),
                  years=(years[0], years[1]) if years is not None else None,
                  maturity=maturity, person=obj.get("person"))  # fmt: skip


def parse_query(obj: object, where: str) -> Query:
    """Validate one decoded JSONL object; raise QueryFileError naming ``where`` on the first problem."""
    if not isinstance(obj, Mapping):
        raise QueryFileError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    qid, query = obj.get("qid"), obj.get("query")
    if not isinstance(qid, str | int) or str(qid).strip() == "":
        raise QueryFileError(f"{where}: 'qid' must be a non-empty string")
    if not isinstance(query, str) or not query.strip():
        raise QueryFileError(f"{where}: 'query' must be a non-empty string")
    lang = obj.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise QueryFileError(f"{where}: 'lang' must be a string when present")
    gold_raw = obj.get("gold", [])
    if not isinstance(gold_raw, list):
        raise QueryFileError(f"{where}: 'gold' must be a list of {{source, id}} objects")
    gold = []
    for item in gold_raw:
        if not isinstance(item, Mapping) or "source" not in item or "id" not in item:
            raise QueryFileError(f"{where}: each gold entry needs 'source' and 'id', got {item!r}")
        try:
            gold.append(canonical_source_id(str(item["source"]), item["id"]))
        except ValueError as exc:
            raise QueryFileError(f"{where}: {exc}") from exc
    kind = obj.get("kind")
    if kind is not None and kind not in KINDS:
        raise QueryFileError(f"{where}: 'kind' {kind!r}; expected one of {KINDS}")
    split = obj.get("split")
    if split is not None and split not in SPLITS:
        raise QueryFileError(f"{where}: 'split' {split!r}; expected one of {SPLITS}")
    script = obj.get("script")
    if script is not None and not isinstance(script, str):
        raise QueryFileError(f"{where}: 'script' must be a string when present")
    intent = None
    if obj.get("intent") is not None:
        try:
            intent = parse_intent(obj["intent"])
        except ValueError as exc:
            raise QueryFileError(f"{where}: {exc}") from exc
    if kind == "intent" and intent is None:
        raise QueryFileError(f"{where}: an 'intent' query needs an 'intent' object")
    return Query(str(qid), query.strip(), lang, tuple(gold), kind, intent, script, split)


def read_query_file(path: Path) -> list[Query]:
    """Read and validate a JSONL query file; duplicate qids are an error.

    Raises one QueryFileError listing every malformed line (its ``problems`` attribute holds them).
    """
    if not path.is_file():
        raise QueryFileError(f"{path}: no such query file")
    queries: list[Query] = []
    problems: list[str] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{line_no}: not valid JSON ({exc.msg})")
                continue
            try:
                query = parse_query(obj, f"{path}:{line_no}")
            except QueryFileError as exc:
                problems.append(str(exc))
                continue
            if query.qid in seen:
                problems.append(f"{path}:{line_no}: duplicate qid {query.qid!r}")
                continue
            seen.add(query.qid)
            queries.append(query)
    if problems:
        raise QueryFileError(
            f"{len(problems)} malformed line(s) in {path}:\n" + "\n".join(problems), problems
        )
    return queries


def write_query_file(path: Path, records: Iterable[Mapping[str, object]]) -> int:
    """Write records (qid, query, lang, gold and any optional field) as JSONL, deterministically.

    Returns the count.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for rec in records:
            payload = {"qid": rec["qid"], "query": rec["query"], "lang": rec.get("lang"), "gold": rec["gold"]}
            for key in ("kind", "intent", "script", "split"):
                if rec.get(key) is not None:
                    payload[key] = rec[key]
            handle.write(json.dumps(payload, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count


def builtin_query_path(catalog_dir: Path, name: str) -> Path:
    """``reddit-tomt:test`` -> ``<catalog>/queries/reddit-tomt_test.jsonl`` (built by ``marquee data build``)."""
    if ":" not in name:
        raise QueryFileError(f"{name!r} is not a built-in query set; expected e.g. 'reddit-tomt:test'")
    family, split = name.split(":", 1)
    path = catalog_dir / "queries" / f"{family}_{split}.jsonl"
    if not path.is_file():
        available = sorted(p.stem.replace("_", ":", 1) for p in (catalog_dir / "queries").glob("*.jsonl"))
        available += [f"{MARQUEE_ML}:{s}" for s in (*SPLITS, "all")]
        raise QueryFileError(f"unknown query set {name!r}; available: {available}")
    return path


def read_queries(name_or_path: str | Path, catalog_dir: Path | None = None) -> list[Query]:
    """A query file path, ``marquee-ml:dev|test|all``, or a set built into the catalog (``reddit-tomt:test``).

    ``catalog_dir`` is needed only for the sets built into the catalog.
    """
    spec = str(name_or_path)
    if spec.startswith(f"{MARQUEE_ML}:"):
        part = spec.split(":", 1)[1]
        if part not in (*SPLITS, "all"):
            raise QueryFileError(f"unknown query set {spec!r}; expected {MARQUEE_ML}:dev, :test or :all")
        queries = read_query_file(MARQUEE_ML_FILE)
        return queries if part == "all" else [q for q in queries if q.split == part]
    path = Path(name_or_path)
    if path.is_file():
        return read_query_file(path)
    if catalog_dir is None:
        raise QueryFileError(f"{spec!r} is neither a query file nor {MARQUEE_ML}:<split>; "
                             "built-in catalog sets need the catalog directory")  # fmt: skip
    return read_query_file(builtin_query_path(catalog_dir, spec))


def check_tuning_set(name_or_path: str | Path) -> None:
    """Refuse to tune on a test split, on ``marquee-ml:all`` or on the whole multilingual file.

    Raises TuningSetError; ``marquee-ml:dev`` and training/validation splits pass.
    """
    spec = str(name_or_path)
    lowered = spec.lower()
    if "test" in lowered:
        raise TuningSetError(f"refusing to tune on {spec!r}: tune on training, validation or dev splits only")
    if lowered == f"{MARQUEE_ML}:all" or (Path(spec).is_file() and Path(spec).resolve() == MARQUEE_ML_FILE):
        raise TuningSetError(f"refusing to tune on {spec!r}: it holds the test half; use {MARQUEE_ML}:dev")


# ------------------------------------------------------------------------------------------ intents


def _as_list(values: object) -> list[object]:
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    try:
        return list(values)  # type: ignore[call-overload]
    except TypeError:
        return []


def intent_matches(title: Mapping[str, object], intent: Intent) -> bool:
    """Whether a catalog title (a ``titles.parquet`` row as a mapping) satisfies every constraint."""
    if intent.type is not None and title.get("type") != intent.type:
        return False
    if intent.genres and not set(intent.genres) <= {str(g) for g in _as_list(title.get("genres"))}:
        return False
    if intent.country is not None:
        language = title.get("original_language")
        countries = [str(c) for c in _as_list(title.get("countries"))]
        if not of_country(countries, language if isinstance(language, str) else None, intent.country):
            return False
    if intent.years is not None:
        year = title.get("year")
        if not isinstance(year, int | float) or year != year:  # NaN: unknown year never matches
            return False
        if not intent.years[0] <= int(year) <= intent.years[1]:
            return False
    if intent.maturity is not None:
        level = title.get("maturity_level")
        if not title.get("maturity_known") or not isinstance(level, int | float):
            return False
        if int(level) > MATURITY_LEVELS[intent.maturity]:
            return False
    if intent.person is not None:
        people = {str(p) for key in ("cast", "directors") for p in _as_list(title.get(key))}
        if intent.person not in people:
            return False
    return True


def intent_gold(intent: Intent, titles: Iterable[Mapping[str, object]]) -> list[str]:
    """Title ids (canonical source ids) of every title that matches ``intent``, sorted."""
    return sorted(str(t["title_id"]) for t in titles if intent_matches(t, intent))


# ------------------------------------------------------------------------------------------ the set


def assign_splits(records: Sequence[Mapping[str, object]]) -> list[str]:
    """Dev/test for each record, stratified by (lang, kind), deterministic; a kept split never changes.

    Records that already carry a ``split`` keep it; within each (lang, kind) group the others are
    ordered by a hash of their qid and each goes to whichever half of the group is smaller so far;
    on a tie, to whichever half of the whole set is smaller (dev when that ties too), so that groups
    with an odd count do not all lean the same way.
    """
    counts: dict[tuple[object, object], Counter[str]] = {}
    overall: Counter[str] = Counter()
    for rec in records:
        if rec.get("split") in SPLITS:
            counts.setdefault((rec.get("lang"), rec.get("kind")), Counter())[str(rec["split"])] += 1
            overall[str(rec["split"])] += 1
    out = [str(rec["split"]) if rec.get("split") in SPLITS else "" for rec in records]
    pending = [i for i, rec in enumerate(records) if not out[i]]
    pending.sort(key=lambda i: hashlib.sha256(str(records[i]["qid"]).encode()).hexdigest())
    for i in pending:
        group = counts.setdefault((records[i].get("lang"), records[i].get("kind")), Counter())
        if group["dev"] != group["test"]:
            split = "dev" if group["dev"] < group["test"] else "test"
        else:
            split = "dev" if overall["dev"] <= overall["test"] else "test"
        group[split] += 1
        overall[split] += 1
        out[i] = split
    return out


def queryset_counts(queries: Sequence[Query]) -> dict[str, dict[str, int]]:
    """Counts per ``lang``, ``script``, ``kind`` and ``split`` (plus ``total``)."""
    out: dict[str, dict[str, int]] = {"total": {"queries": len(queries)}}
    for key in ("lang", "script", "kind", "split"):
        counter = Counter(str(getattr(q, key)) for q in queries)
        out[key] = dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
    return out


def validate_queryset(queries: Sequence[Query], titles: Sequence[Mapping[str, object]]) -> list[str]:
    """Every problem of a multilingual set against the titles of its scope (empty when it is sound).

    Checks: each query has ``lang``, ``kind``, ``split`` and a ``script`` equal to
    :func:`script_of`; every gold id is a title of the scope; an intent query's gold is exactly the
    recomputed set; a ``plot`` query is in one of its film's description languages and a
    ``cross-lingual`` one is not.
    """
    by_id = {str(t["title_id"]): t for t in titles}
    problems: list[str] = []
    for q in queries:
        where = f"{q.qid}"
        for key in ("lang", "kind", "split", "script"):
            if getattr(q, key) is None:
                problems.append(f"{where}: no {key!r}")
        if q.script is not None and q.script != script_of(q.query):
            problems.append(
                f"{where}: script {q.script!r} but the query is written in {script_of(q.query)!r}"
            )
        if not q.gold:
            problems.append(f"{where}: no gold title")
        missing = [g for g in q.gold if g not in by_id]
        if missing:
            problems.append(f"{where}: gold not in the scope: {missing}")
        if q.intent is not None:
            expected = intent_gold(q.intent, titles)
            if sorted(q.gold) != expected:
                problems.append(f"{where}: intent gold differs from the catalog's ({len(q.gold)} stored, "
                                f"{len(expected)} recomputed)")  # fmt: skip
        if q.kind in ("plot", "cross-lingual") and not missing and q.lang is not None:
            described = {
                str(lang) for g in q.gold for lang in _as_list(by_id[g].get("description_languages"))
            }
            if q.kind == "plot" and q.lang not in described:
                problems.append(f"{where}: 'plot' in {q.lang!r} but the film is described in {sorted(described)} "
                                "(that is 'cross-lingual')")  # fmt: skip
            if q.kind == "cross-lingual" and q.lang in described:
                problems.append(f"{where}: 'cross-lingual' in {q.lang!r} but the film is described in it")
    return problems
