"""Natural-language title search: dense retrieval fused with lexical retrieval, filters, profiles.

The pipeline for one query (``n`` titles in the index scope, ``d`` embedding dimension):

1. **Filters first.** The filters and the viewer's maturity level become one ``(n,)`` boolean mask of
   allowed titles *before* anything is retrieved, so a filter never empties a page that exists and a
   kids profile can never receive a title above its level: every channel, every exact-title boost and
   the personal re-ranker only ever see allowed titles (and the page is checked once more at the end).
2. **Channels.** ``dense``: the query embedding (one encoding; the encoder's LRU cache makes repeats
   free) searched in the FAISS index over catalog texts (one per title and description language),
   a title scoring the maximum over its texts. ``names``: BM25 over titles, localized titles, cast
   and directors, typo-tolerant and prefix-aware (:mod:`ranking.lexical`). ``content``: BM25 over
   descriptions, genres, keywords and tags.
3. **Fusion** (:mod:`ranking.fusion`): weighted RRF with a gate that silences the names channel when
   the query's lexical coverage is weak.
4. **Exact and near-exact title matches first**: a title whose folded title (any language) equals
   the query comes first, then titles within a small edit distance (rapidfuzz ratio >= 90).
5. **Personal re-ranking** (optional hook): with a profile, a :data:`Reranker` may reorder the
   fused scores (exact-title tiers stay first).

:meth:`SearchEngine.rank` exposes the three systems compared offline (``bm25``, ``dense``,
``hybrid``); ``hybrid`` is exactly what :meth:`SearchEngine.search` serves.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from data.normalize import GENRES, MATURITY_LEVELS, fold
from embeddings.index import faiss_single_thread
from ranking.fusion import FusionConfig, fuse, gated_weights
from ranking.lexical import LexicalConfig, LexicalDocuments, LexicalIndex, LexicalScores

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_LIMIT",
    "DESCRIPTION_CHARS",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_QUERY_CHARS",
    "SYSTEMS",
    "DenseRetriever",
    "EmptyQueryError",
    "InvalidFilterError",
    "MatchReason",
    "QueryEncoder",
    "Reranker",
    "Retrieved",
    "SearchCatalog",
    "SearchEngine",
    "SearchError",
    "SearchFilters",
    "SearchHit",
    "SearchPage",
    "UnknownFilterValueError",
    "Viewer",
    "truncate_query",
]

MAX_QUERY_CHARS = 2000
"""Longer queries are cut (at a word boundary) to this many characters: about the 512-token window
the encoder reads; the response says when it happened."""
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_OFFSET = 900
"""``offset + limit`` never exceeds 1,000: deeper pages of a relevance ranking are noise."""
DESCRIPTION_CHARS = 240
ENCODE_THREADS = 8
"""Helper threads for the dense channel when it overlaps the lexical side (one per concurrent request is plenty)."""
OVERLAP_MIN_CPUS = 4
"""Run the dense channel (encoding, then vector search) in a helper thread beside the lexical scoring
only with at least this many usable CPUs. The encoder uses two threads: on the 2-core CPU, lexical
scoring beside it slowed the encoder (in-process p50 14.8 ms vs 13.0 ms encoding first, 150 queries),
and a vector search beside it after the encoding saved nothing either."""
DEFAULT_TITLE_ONLY_PENALTY = 0.02
"""Chosen on reddit-tomt train+validation (1,350 resolved queries, watched scope): dense Recall@10
0.073 -> 0.094 and MRR 0.038 -> 0.050 against no penalty; 0.01-0.08 all help, 0.02 is best."""
DEFAULT_LANGUAGE_CENTERING = 0.5
"""See :meth:`DenseRetriever.centered` for how it was chosen (0.25-1.0 tried; 0.5 and 0.75 tie on
cross-lingual recall, 0.5 costs same-language-only titles less)."""
MIN_LANGUAGE_TEXTS = 20
"""A description language needs this many texts in the index to get a centroid (query language ID)."""
RERANK_DEPTH = 100
"""A profile's re-ranker reorders the best ``max(RERANK_DEPTH, offset + limit)`` fused titles."""
SYSTEMS: tuple[str, ...] = ("bm25", "dense", "hybrid")
SearchSystem = Literal["bm25", "dense", "hybrid"]
FILTER_FIELDS: tuple[str, ...] = ("types", "genres", "description_languages", "original_languages",
                                  "countries", "max_maturity")  # fmt: skip



def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


Reranker = Callable[[str, Sequence[str], np.ndarray], np.ndarray]
"""Personal re-ranking hook: ``(profile_id, title_ids (m,), scores (m,)) -> new scores (m,)``."""


class QueryEncoder(Protocol):
    """What search needs from an encoder (``embeddings.encoder.TextEncoder`` satisfies it)."""

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """``(q, d)`` float32 unit rows."""
        ...


# ------------------------------------------------------------------------------------------ errors


class SearchError(ValueError):
    """Base class of search's domain errors (all caused by the request, never by the server)."""


class EmptyQueryError(SearchError):
    """The query is empty or whitespace only."""


class InvalidFilterError(SearchError):
    """A filter value is out of range (e.g. ``year_min`` above ``year_max``)."""


class UnknownFilterValueError(SearchError):
    """A filter names values the catalog does not have; ``allowed`` lists the ones it has."""

    def __init__(self, field_name: str, unknown: Sequence[str], allowed: Sequence[str]) -> None:
        self.field = field_name
        self.unknown = list(unknown)
        self.allowed = list(allowed)
        shown = ", ".join(self.allowed[:40]) + (", ..." if len(self.allowed) > 40 else "")
        super().__init__(f"unknown {field_name} {self.unknown}; expected any of: {shown}")


# --------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class SearchFilters:
    """Filters; empty tuples and ``None`` mean "no filter". Multi-valued filters match any value."""

    types: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    description_languages: tuple[str, ...] = ()
    original_languages: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    max_maturity: str | None = None


@dataclass(frozen=True)
class Viewer:
    """Who is searching: the maturity ceiling is a hard filter; languages pick descriptions."""

    profile_id: str | None = None
    maturity_level: int = MATURITY_LEVELS["adults"]
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatchReason:
    """Why a title matched: ``kind`` is title | person | description | language.

    ``title``: the query matches one of its titles (detail: "exact", "near-exact" or "words", plus
    the matched title); ``person``: a cast or director name (detail: the name); ``description``: the
    meaning of the query is close to its description (detail: the description's language) or its
    words appear in it; ``language``: it matched through a text in another language than English
    (detail: that language).
    """

    kind: Literal["title", "person", "description", "language"]
    detail: str


@dataclass(frozen=True)
class SearchHit:
    """One result title, ready for the response."""

    title_id: str
    display_title: str
    year: int | None
    type: str
    maturity: str
    description: str | None
    description_language: str | None
    score: float
    reasons: tuple[MatchReason, ...]


@dataclass(frozen=True)
class SearchPage:
    """A page of results and the facet counts of the whole (filtered) result set."""

    query: str
    query_truncated: bool
    total: int
    offset: int
    limit: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    lexical_gate: float
    query_language: str | None = None


def truncate_query(query: str, max_chars: int = MAX_QUERY_CHARS) -> tuple[str, bool]:
    """Strip and collapse whitespace; cut to ``max_chars`` at a word boundary. Raises on empty."""
    if not isinstance(query, str):
        raise EmptyQueryError(f"query must be a string; got {type(query).__name__}")
    text = " ".join(query.split())
    if not text:
        raise EmptyQueryError("query is empty or whitespace only; expected at least one visible character")
    if len(text) <= max_chars:
        return text, False
    cut = text[:max_chars]
    space = cut.rfind(" ")
    if space > max_chars // 2:
        cut = cut[:space]
    return cut, True


# ---------------------------------------------------------------------------------------- catalog


def _as_list(cell: Any) -> list[Any]:
    if cell is None:
        return []
    if isinstance(cell, float) and math.isnan(cell):
        return []
    if isinstance(cell, str):
        return [cell]
    return list(cell)


def _as_str(cell: Any) -> str | None:
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return None
    text = str(cell).strip()
    return text or None


def _short(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:.") + "…"


def _sorted_counts(pairs: Iterable[tuple[str, int]], limit: int | None = None) -> dict[str, int]:
    ordered = sorted(((k, int(c)) for k, c in pairs if c > 0), key=lambda p: (-p[1], p[0]))
    return dict(ordered[:limit] if limit else ordered)


class _Codes:
    """A multi-valued attribute as CSR codes (title -> value ids), for fast facet counts."""

    def __init__(self, values: Sequence[Sequence[str]]) -> None:
        self.names = sorted({v for vals in values for v in vals})
        code = {v: i for i, v in enumerate(self.names)}
        lengths = np.asarray([len(set(vals)) for vals in values], dtype=np.int64)
        self.indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.codes = np.asarray([code[v] for vals in values for v in dict.fromkeys(vals)], dtype=np.int64)

    def count(self, positions: np.ndarray, limit: int | None = None) -> dict[str, int]:
        starts, ends = self.indptr[positions], self.indptr[positions + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return {}
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        counts = np.bincount(self.codes[offsets], minlength=len(self.names))
        nonzero = np.flatnonzero(counts)
        return _sorted_counts(((self.names[i], int(counts[i])) for i in nonzero), limit)


class SearchCatalog:
    """The titles in the index scope as arrays for filtering, facets and building responses.

    Positions ``0..n-1`` are the search engine's title positions (the order of ``title_ids``).
    """

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        n = len(records)
        self.n = n
        self.title_ids: list[str] = [str(r["title_id"]) for r in records]
        self.position: dict[str, int] = {t: i for i, t in enumerate(self.title_ids)}
        if len(self.position) != n:
            raise ValueError("title_id values must be unique")
        self.types = np.asarray([str(r.get("type") or "movie") for r in records], dtype=object)
        years = [r.get("year") for r in records]
        self.years = np.asarray([np.nan if y is None else float(y) for y in years], dtype=np.float64)
        self.maturity_level = np.asarray([int(r.get("maturity_level", 3)) for r in records], dtype=np.int8)
        level_name = {v: k for k, v in MATURITY_LEVELS.items()}
        self.maturity = [str(r.get("maturity") or level_name[int(lvl)]) for r, lvl in zip(records, self.maturity_level, strict=True)]
        self.titles = [str(r.get("title") or "") for r in records]
        self.original_titles = [_as_str(r.get("original_title")) for r in records]
        self.original_language = np.asarray([_as_str(r.get("original_language")) or "" for r in records], dtype=object)
        self.localized: list[dict[str, str]] = []
        self.descriptions: list[dict[str, str]] = []
        self.genres: list[list[str]] = []
        self.countries: list[list[str]] = []
        self.cast: list[list[str]] = []
        self.directors: list[list[str]] = []
        self.extra_text: list[str] = []
        for r in records:
            loc: dict[str, str] = {}
            for item in _as_list(r.get("localized_titles")):
                lang, text = _as_str(item.get("lang")), _as_str(item.get("title"))
                if lang and text and lang not in loc:
                    loc[lang] = text
            self.localized.append(loc)
            desc: dict[str, str] = {}
            for item in _as_list(r.get("descriptions")):
                lang, text = _as_str(item.get("lang")), _as_str(item.get("text"))
                if lang and text and lang not in desc:
                    desc[lang] = text
            self.descriptions.append(desc)
            self.genres.append([str(g) for g in _as_list(r.get("genres"))])
            self.countries.append([str(c) for c in _as_list(r.get("countries"))])
            self.cast.append([str(c) for c in _as_list(r.get("cast"))])
            self.directors.append([str(c) for c in _as_list(r.get("directors"))])
            words = [str(w) for w in _as_list(r.get("keywords")) + _as_list(r.get("tags"))]
            self.extra_text.append(" ".join(words))
        self.genre_masks = self._masks(self.genres)
        self.description_language_masks = self._masks([list(d) for d in self.descriptions])
        self.original_language_masks = self._masks([[lang] if lang else [] for lang in self.original_language])
        self.country_masks = self._masks(self.countries)
        self._facet_codes = {
            "genres": _Codes(self.genres),
            "description_languages": _Codes([list(d) for d in self.descriptions]),
            "original_languages": _Codes([[lang] if lang else [] for lang in self.original_language]),
            "countries": _Codes(self.countries),
        }
        self._type_names = sorted(set(self.types.tolist()))
        self._type_codes = np.asarray([self._type_names.index(t) for t in self.types.tolist()], dtype=np.int64)
        self._decades = np.where(np.isnan(self.years), -1, np.nan_to_num(self.years, nan=0) // 10 * 10).astype(np.int64)
        self._country_fold = {fold(c): c for c in self.country_masks}
        self.type_values = sorted(set(self.types.tolist()) | {"movie", "show"})

    @classmethod
    def from_frame(cls, titles: Any, scope_title_ids: Sequence[str] | None = None) -> SearchCatalog:
        """From the catalog's titles DataFrame, restricted and ordered to ``scope_title_ids`` if given.

        Scope ids missing from the catalog are dropped with a warning (an index built from another
        catalog version); the returned catalog holds the rest in scope order.
        """
        frame = titles
        if scope_title_ids is not None:
            wanted = list(dict.fromkeys(str(t) for t in scope_title_ids))
            frame = frame.set_index("title_id", drop=False)
            present = [t for t in wanted if t in frame.index]
            if len(present) < len(wanted):
                log.warning("%d of %d index titles are not in the catalog; they are left out",
                            len(wanted) - len(present), len(wanted))  # fmt: skip
            frame = frame.loc[present]
        return cls(frame.to_dict("records"))

    @staticmethod
    def _masks(values: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        n = len(values)
        rows: dict[str, list[int]] = {}
        for i, vals in enumerate(values):
            for v in set(vals):
                rows.setdefault(v, []).append(i)
        out = {}
        for v, idx in sorted(rows.items()):
            mask = np.zeros(n, dtype=bool)
            mask[idx] = True
            out[v] = mask
        return out

    # -- vocabulary and validation -------------------------------------------------------------

    def vocabulary(self) -> dict[str, list[str]]:
        """Allowed values per filter (what a 422 lists)."""
        return {
            "types": list(self.type_values),
            "genres": list(GENRES),
            "description_languages": sorted(self.description_language_masks),
            "original_languages": sorted(self.original_language_masks),
            "countries": sorted(self.country_masks),
            "max_maturity": list(MATURITY_LEVELS),
        }

    def normalize_filters(self, filters: SearchFilters) -> SearchFilters:
        """Validate and canonicalise filter values (case-insensitive); raise on unknown ones."""
        vocab = self.vocabulary()

        def check(name: str, values: Iterable[str], canon: Callable[[str], str | None]) -> tuple[str, ...]:
            out, unknown = [], []
            for v in values:
                c = canon(v)
                if c is None:
                    unknown.append(v)
                elif c not in out:
                    out.append(c)
            if unknown:
                raise UnknownFilterValueError(name, unknown, vocab[name])
            return tuple(out)

        def lower_in(allowed: Iterable[str]) -> Callable[[str], str | None]:
            table = {a.lower(): a for a in allowed}
            return lambda v: table.get(str(v).strip().lower())

        types = check("types", filters.types, lower_in(vocab["types"]))
        genres = check("genres", filters.genres, lower_in(vocab["genres"]))
        # languages may be unknown to the catalog scope but valid codes: still unknown here (nothing matches)
        dlangs = check("description_languages", filters.description_languages, lower_in(vocab["description_languages"]))
        olangs = check("original_languages", filters.original_languages, lower_in(vocab["original_languages"]))
        countries = check("countries", filters.countries, lambda v: self._country_fold.get(fold(str(v))))
        max_maturity = None
        if filters.max_maturity is not None:
            found = check("max_maturity", [filters.max_maturity], lower_in(vocab["max_maturity"]))
            max_maturity = found[0]
        for name, year in (("year_min", filters.year_min), ("year_max", filters.year_max)):
            if year is not None and not (1800 <= year <= 2200):
                raise InvalidFilterError(f"{name}={year} is out of range; expected a year in 1800..2200")
        if filters.year_min is not None and filters.year_max is not None and filters.year_min > filters.year_max:
            raise InvalidFilterError(
                f"year_min={filters.year_min} is above year_max={filters.year_max}; expected year_min <= year_max"
            )
        return SearchFilters(types=types, genres=genres, year_min=filters.year_min, year_max=filters.year_max,
                             description_languages=dlangs, original_languages=olangs, countries=countries,
                             max_maturity=max_maturity)  # fmt: skip

    def allowed_mask(self, filters: SearchFilters, max_maturity_level: int) -> np.ndarray:
        """``(n,)`` bool: titles passing ``filters`` (already normalised) and the maturity ceiling."""
        level = int(max_maturity_level)
        if filters.max_maturity is not None:
            level = min(level, MATURITY_LEVELS[filters.max_maturity])
        mask = self.maturity_level <= level
        if filters.types:
            mask &= np.isin(self.types, list(filters.types))
        for values, masks in ((filters.genres, self.genre_masks),
                              (filters.description_languages, self.description_language_masks),
                              (filters.original_languages, self.original_language_masks),
                              (filters.countries, self.country_masks)):  # fmt: skip
            if values:
                any_of = np.zeros(self.n, dtype=bool)
                for v in values:
                    if v in masks:
                        any_of |= masks[v]
                mask &= any_of
        if filters.year_min is not None:
            mask &= self.years >= filters.year_min  # unknown years (NaN) never pass a year filter
        if filters.year_max is not None:
            mask &= self.years <= filters.year_max
        return mask

    # -- facets and presentation ---------------------------------------------------------------

    def facets(self, positions: np.ndarray, *, top_countries: int = 20) -> dict[str, dict[str, int]]:
        """Counts per filter value over ``positions`` (the filtered result set), most frequent first."""
        pos = np.asarray(positions, dtype=np.int64)
        out: dict[str, dict[str, int]] = {}
        type_counts = np.bincount(self._type_codes[pos], minlength=len(self._type_names))
        out["types"] = _sorted_counts((self._type_names[i], int(c)) for i, c in enumerate(type_counts.tolist()))
        for name, codes in self._facet_codes.items():
            out[name] = codes.count(pos, top_countries if name == "countries" else None)
        decades, dcounts = np.unique(self._decades[pos], return_counts=True)
        out["decades"] = {f"{d}s": int(c) for d, c in zip(decades.tolist(), dcounts.tolist(), strict=True) if d >= 0}
        level_name = {v: k for k, v in MATURITY_LEVELS.items()}
        levels, lcounts = np.unique(self.maturity_level[pos], return_counts=True)
        out["maturity"] = {level_name[int(lv)]: int(c) for lv, c in zip(levels.tolist(), lcounts.tolist(), strict=True)}
        return out

    def display_title(self, position: int, languages: Sequence[str]) -> str:
        loc = self.localized[position]
        for lang in languages:
            if lang in loc:
                return loc[lang]
        return self.titles[position] or self.original_titles[position] or next(iter(loc.values()), "")

    def description(self, position: int, languages: Sequence[str]) -> tuple[str | None, str | None]:
        """``(short description, its language)`` in the viewer's first language that has one, else English."""
        desc = self.descriptions[position]
        for lang in (*languages, "en", *sorted(desc)):
            if lang in desc:
                return _short(desc[lang]), lang
        return None, None

    def lexical_documents(self) -> LexicalDocuments:
        strings = []
        for i in range(self.n):
            own: list[tuple[str, str]] = [("", self.titles[i])]
            if self.original_titles[i]:
                own.append(("original", self.original_titles[i]))  # type: ignore[arg-type]
            own.extend((lang, text) for lang, text in self.localized[i].items())
            strings.append([s for s in own if s[1]])
        people = [self.cast[i] + self.directors[i] for i in range(self.n)]
        content = [" ".join([" ".join(self.genres[i]), *self.descriptions[i].values(), self.extra_text[i]])
                   for i in range(self.n)]  # fmt: skip
        return LexicalDocuments(title_strings=strings, people=people, content=content)


# ------------------------------------------------------------------------------------------ dense


class DenseRetriever:
    """FAISS search over catalog texts; a title scores the maximum over its texts.

    Args:
        index: a vector index over text embeddings (``embeddings.index.VectorIndex``), ids = text ids.
        text_ids: ``(t,)`` int64 text ids.
        text_positions: ``(t,)`` int64 title position of each text (``-1`` for titles not in scope).
        text_langs: ``(t,)`` language of each text ("" for title-only texts).
        n_titles: number of title positions ``n``.
        title_only_penalty: subtracted from the cosine of title-only texts (titles without any
            description): short generic texts sit close to everything (DATA-NOTES, stub overviews).
        language_centering: how far a query in another language is moved from its language's
            centroid towards the catalog's main language's centroid before searching (see
            :meth:`centered`); 0 disables.
        single_thread: run faiss single-threaded in each thread that searches (see
            :func:`embeddings.index.faiss_single_thread`).
    """

    def __init__(self, index: Any, text_ids: np.ndarray, text_positions: np.ndarray,
                 text_langs: Sequence[str], n_titles: int, *, title_only_penalty: float = 0.0,
                 language_centering: float = 0.0, single_thread: bool = True) -> None:  # fmt: skip
        text_ids = np.asarray(text_ids, dtype=np.int64)
        text_positions = np.asarray(text_positions, dtype=np.int64)
        if text_ids.shape != text_positions.shape or len(text_langs) != text_ids.size:
            raise ValueError("text_ids, text_positions and text_langs must have the same length")
        order = np.argsort(text_ids)
        self.index = index
        self._ids = text_ids[order]
        self._positions = text_positions[order]
        self._langs = np.asarray(list(text_langs), dtype=object)[order]
        self._title_only = np.asarray([lang == "" for lang in self._langs.tolist()], dtype=bool)
        self.title_only_penalty = float(title_only_penalty)
        self.language_centering = float(language_centering)
        self.single_thread = single_thread
        self.n_titles = n_titles
        self.texts_per_title = max(1.0, float((self._positions >= 0).sum()) / max(n_titles, 1))
        self._language_names: list[str] = []
        self._language_centroids: np.ndarray | None = None
        self.main_language: str | None = None

    def fit_languages(self, min_texts: int = MIN_LANGUAGE_TEXTS) -> dict[str, int]:
        """Learn one centroid per description language from the index's own vectors.

        The multilingual encoder keeps a strong language signature (DATA-NOTES: same-language bias),
        so the nearest language centroid of a query embedding tells the query's language without a
        separate language detector. Needs an index that can give its vectors back (faiss
        ``reconstruct_n``); returns the number of texts per learnt language (empty when it cannot).
        """
        faiss_index = getattr(self.index, "faiss_index", None)
        if faiss_index is None or not hasattr(faiss_index, "reconstruct_n"):
            return {}
        try:
            vectors = np.asarray(faiss_index.reconstruct_n(0, int(faiss_index.ntotal)), dtype=np.float32)
        except RuntimeError:  # e.g. an IVF index without a direct map
            return {}
        idx = self._lookup(np.asarray(self.index.ids, dtype=np.int64))
        langs = np.where(idx >= 0, self._langs[np.maximum(idx, 0)], "")
        names, counts, centroids = [], {}, []
        for lang in sorted({str(x) for x in langs.tolist()} - {""}):
            rows = vectors[langs == lang]
            if rows.shape[0] < min_texts:
                continue
            centroid = rows.mean(axis=0)
            centroids.append(centroid / max(float(np.linalg.norm(centroid)), 1e-12))
            names.append(lang)
            counts[lang] = int(rows.shape[0])
        if len(names) >= 2:
            self._language_names = names
            self._language_centroids = np.stack(centroids).astype(np.float32)
            self.main_language = max(counts, key=lambda lang: counts[lang])
        return counts

    def centered(self, query_embedding: np.ndarray, language: str) -> np.ndarray:
        """``(d,)`` the query moved away from ``language``'s centroid towards the main language's.

        ``q' = normalise(q - a * (c_language - c_main))`` with ``a = language_centering``. The encoder
        puts a query close to texts in its own language whatever they say (DATA-NOTES: 75% of a
        French query's top 10 is French); removing part of the language direction lets the meaning
        reach the catalog's English descriptions. Measured on the catalog's own descriptions (a
        title's description in fr/de/es/it/pt/da as the query, its same-language text excluded,
        133 held-out cases; ``a`` chosen on 134 others): Recall@1 0.25 -> 0.52, Recall@10 0.43 ->
        0.68 at ``a = 0.5``, while same-language-only titles keep Recall@1 0.97 -> 0.96.
        """
        q = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
        if (self._language_centroids is None or self.main_language is None or not self.language_centering
                or language == self.main_language or language not in self._language_names):  # fmt: skip
            return q
        names = self._language_names
        shift = self._language_centroids[names.index(language)] - self._language_centroids[names.index(self.main_language)]
        moved = q - np.float32(self.language_centering) * shift
        norm = float(np.linalg.norm(moved))
        return (moved / norm).astype(np.float32) if norm > 0 else q

    def query_language(self, query_embedding: np.ndarray) -> tuple[str, float] | None:
        """The description language whose centroid is nearest the query and its lead over the
        runner-up (cosine); ``None`` before :meth:`fit_languages`."""
        if self._language_centroids is None:
            return None
        sims = self._language_centroids @ np.asarray(query_embedding, dtype=np.float32).reshape(-1)
        order = np.argsort(-sims)
        return self._language_names[int(order[0])], float(sims[order[0]] - sims[order[1]])

    def _lookup(self, ids: np.ndarray) -> np.ndarray:
        """Indices into the sorted text arrays of ``ids`` (``-1`` where unknown)."""
        idx = np.searchsorted(self._ids, ids)
        idx = np.clip(idx, 0, max(self._ids.size - 1, 0))
        ok = (ids >= 0) & (self._ids.size > 0) & (self._ids[idx] == ids)
        return np.where(ok, idx, -1)

    def search(self, query_embedding: np.ndarray, top_k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:  # fmt: skip
        """Top titles for one query.

        Args:
            query_embedding: ``(d,)`` or ``(1, d)`` float32 unit vector.
            top_k: titles wanted.
            allowed: ``(n,)`` bool mask of allowed titles, or ``None`` for all.

        Returns:
            ``positions`` ``(m,)``, ``scores`` ``(m,)`` (cosine, best first, ``m <= top_k``) and the
            language of each title's best-matching text.
        """
        query = np.asarray(query_embedding, dtype=np.float32).reshape(1, -1)
        allowed_ids = None
        if allowed is not None and not bool(allowed.all()):
            keep = self._positions >= 0
            keep[keep] = allowed[self._positions[keep]]
            allowed_ids = self._ids[keep]
            if allowed_ids.size == 0:
                return np.empty(0, np.int64), np.empty(0, np.float32), []
        k_texts = int(math.ceil(top_k * self.texts_per_title * 1.5)) + 8
        k_texts = min(k_texts, max(self.index.ntotal, 1))
        if self.single_thread:
            faiss_single_thread()
        scores, ids = self.index.search(query, k_texts, allowed_ids=allowed_ids)
        scores, ids = scores[0], ids[0]
        valid = ids >= 0
        idx = self._lookup(ids[valid])
        scores = scores[valid][idx >= 0]
        idx = idx[idx >= 0]
        positions = self._positions[idx]
        in_scope = positions >= 0
        positions, scores, idx = positions[in_scope], scores[in_scope], idx[in_scope]
        if self.title_only_penalty:
            scores = scores - np.float32(self.title_only_penalty) * self._title_only[idx]
            resort = np.argsort(-scores, kind="stable")
            positions, scores, idx = positions[resort], scores[resort], idx[resort]
        # results are sorted by score: the first occurrence of a title is its maximum
        _, first = np.unique(positions, return_index=True)
        first = np.sort(first)[:top_k]
        return positions[first], scores[first].astype(np.float32), [str(x) for x in self._langs[idx[first]]]


# ----------------------------------------------------------------------------------------- engine


@dataclass
class Retrieved:
    """Everything retrieved for one query, before fusion (kept for tuning and explanations)."""

    lexical: LexicalScores
    channels: dict[str, tuple[np.ndarray, np.ndarray]]
    dense_langs: dict[int, str] = field(default_factory=dict)
    language: tuple[str, float] | None = None
    """The query's nearest description language and its margin (see DenseRetriever.query_language)."""


def _top_positive(scores: np.ndarray, allowed: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the ``k`` best strictly positive (and allowed) scores, best first."""
    s = scores if allowed is None else np.where(allowed, scores, 0.0)
    candidates = np.flatnonzero(s > 0)
    if candidates.size > k:
        part = np.argpartition(-s[candidates], k - 1)[:k]
        candidates = candidates[part]
    order = np.lexsort((candidates, -s[candidates]))
    candidates = candidates[order]
    return candidates.astype(np.int64), s[candidates].astype(np.float32)


class SearchEngine:
    """Hybrid title search over one catalog scope (see the module docstring for the pipeline)."""

    def __init__(
        self,
        catalog: SearchCatalog,
        lexical: LexicalIndex,
        dense: DenseRetriever | None,
        encoder: QueryEncoder | None,
        *,
        fusion: FusionConfig | None = None,
        reranker: Reranker | None = None,
        overlap: bool | None = None,
    ) -> None:
        if lexical.n_titles != catalog.n:
            raise ValueError(f"lexical index covers {lexical.n_titles} titles; the catalog has {catalog.n}")
        self.catalog = catalog
        self.lexical = lexical
        self.dense = dense
        self.encoder = encoder
        self.fusion = fusion or FusionConfig()
        self.reranker = reranker
        self.overlap = _usable_cpus() >= OVERLAP_MIN_CPUS if overlap is None else overlap
        """Dense channel in a helper thread beside the lexical scoring (default: :data:`OVERLAP_MIN_CPUS`)."""
        self._executor: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        counts = {lang: int(mask.sum()) for lang, mask in catalog.description_language_masks.items()}
        most = max(counts.values(), default=0)
        self._content_share = {lang: count / most for lang, count in counts.items()} if most else {}
        """Titles described in each language, relative to the best-covered language (English: 1)."""

    @classmethod
    def build(
        cls,
        titles: Any,
        *,
        index: Any = None,
        texts: Any = None,
        scope_title_ids: Sequence[str] | None = None,
        encoder: QueryEncoder | None = None,
        fusion: FusionConfig | None = None,
        lexical_config: LexicalConfig | None = None,
        reranker: Reranker | None = None,
        title_only_penalty: float = DEFAULT_TITLE_ONLY_PENALTY,
        language_centering: float = DEFAULT_LANGUAGE_CENTERING,
    ) -> SearchEngine:
        """Build from the catalog's titles DataFrame and (optionally) a text index.

        Args:
            titles: the catalog's titles DataFrame.
            index: a vector index whose ids are text ids (``None``: lexical only).
            texts: DataFrame ``text_id, title_id, lang, kind`` describing the index's ids.
            scope_title_ids: the titles searched (default: every title with a text, or all titles).
            encoder: query encoder (required with ``index``).
            title_only_penalty, language_centering: see :class:`DenseRetriever`.
        """
        if scope_title_ids is None and texts is not None:
            scope_title_ids = list(dict.fromkeys(texts["title_id"].astype(str).tolist()))
        catalog = SearchCatalog.from_frame(titles, scope_title_ids)
        lexical = LexicalIndex(catalog.lexical_documents(), lexical_config)
        dense = None
        if index is not None:
            if texts is None or encoder is None:
                raise ValueError("a dense index needs its texts table and a query encoder")
            positions = np.asarray([catalog.position.get(str(t), -1) for t in texts["title_id"]], dtype=np.int64)
            langs = ["" if not isinstance(x, str) else x for x in texts["lang"].tolist()]
            if "kind" in texts:
                langs = ["" if "title" in str(k) and "desc" not in str(k) else lang
                         for k, lang in zip(texts["kind"].tolist(), langs, strict=True)]  # fmt: skip
            dense = DenseRetriever(index, texts["text_id"].to_numpy(), positions, langs, catalog.n,
                                   title_only_penalty=title_only_penalty,
                                   language_centering=language_centering)  # fmt: skip
            dense.fit_languages()
        return cls(catalog, lexical, dense, encoder, fusion=fusion, reranker=reranker)

    # -- retrieval -----------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=ENCODE_THREADS, thread_name_prefix="search-encode")
            return self._executor

    def close(self) -> None:
        """Stop the encoding threads (``Resources.close`` calls this at shutdown)."""
        with self._pool_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None

    def embed(self, queries: Sequence[str]) -> np.ndarray:
        """``(q, d)`` query embeddings (the encoder caches repeats)."""
        if self.encoder is None:
            raise RuntimeError("this search engine has no encoder (lexical only)")
        return self.encoder.encode_queries(list(queries))

    def retrieve(self, query: str, allowed: np.ndarray | None, top: int,
                 query_embedding: np.ndarray | None, dense: bool = True) -> Retrieved:  # fmt: skip
        """Every channel's top ``top`` allowed titles for ``query`` (before fusion).

        ``allowed`` is the ``(n,)`` mask of allowed titles (``None``: all); ``query_embedding``
        ``(d,)`` skips the encoder when given.
        """
        pending: Future[tuple[np.ndarray, np.ndarray, list[str], tuple[str, float] | None]] | None = None
        if dense and self.dense is not None:
            if self.overlap:  # the encoder and faiss release the GIL: the helper runs beside this thread
                pending = self._pool().submit(self._dense_channel, query, query_embedding, top, allowed)
            elif query_embedding is None:
                query_embedding = self.embed([query])[0]  # alone: the encoder uses every core it has
        try:
            lex = self.lexical.score(query)
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        channels: dict[str, tuple[np.ndarray, np.ndarray]] = {
            "names": _top_positive(lex.fields["names"], allowed, top),
            "content": _top_positive(lex.fields["content"], allowed, top),
        }
        dense_langs: dict[int, str] = {}
        language: tuple[str, float] | None = None
        if dense and self.dense is not None:
            if pending is not None:
                pos, scores, langs, language = pending.result()
            else:
                pos, scores, langs, language = self._dense_channel(query, query_embedding, top, allowed)
            channels["dense"] = (pos, scores)
            dense_langs = dict(zip(pos.tolist(), langs, strict=True))
        return Retrieved(lexical=lex, channels=channels, dense_langs=dense_langs, language=language)

    def _dense_channel(self, query: str, query_embedding: np.ndarray | None, top: int, allowed: np.ndarray | None
                       ) -> tuple[np.ndarray, np.ndarray, list[str], tuple[str, float] | None]:  # fmt: skip
        if query_embedding is None:
            query_embedding = self.embed([query])[0]
        return self._dense_search(query_embedding, top, allowed)

    def _dense_search(self, query_embedding: np.ndarray, top: int, allowed: np.ndarray | None
                      ) -> tuple[np.ndarray, np.ndarray, list[str], tuple[str, float] | None]:  # fmt: skip
        """Dense channel: the query's language from its embedding, then (for another language than
        the catalog's main one) a language-centred search. Returns positions, scores, best-text
        languages and ``(language, margin)``."""
        assert self.dense is not None
        language = self.dense.query_language(query_embedding)
        searched = query_embedding
        if language is not None and language[1] >= self.fusion.language_margin > 0:
            searched = self.dense.centered(query_embedding, language[0])
        pos, scores, langs = self.dense.search(searched, top, allowed)
        return pos, scores, langs, language

    def fuse_retrieved(self, retrieved: Retrieved, allowed: np.ndarray | None,
                       config: FusionConfig) -> tuple[np.ndarray, np.ndarray, float]:  # fmt: skip
        """Fused ranking ``(positions, scores, gate)``; exact-title tiers are not applied here."""
        weights, gate = gated_weights(config, retrieved.lexical.coverage)
        if "dense" not in retrieved.channels:  # lexical-only engine: names speak regardless of the gate
            weights["names"] = config.weights.get("names", 0.0)
        language = self.detected_language(retrieved, config)
        if language is not None:
            # BM25 only sees the descriptions written in the query's language: a French query can
            # only lexically reach the ~2% of titles described in French (same-language noise)
            weights["content"] *= self._content_share.get(language, 0.0)
        channels = dict(retrieved.channels)
        names_pos, names_scores = channels["names"]
        if names_scores.size and config.names_floor > 0:
            keep = names_scores >= config.names_floor * float(names_scores[0])
            channels["names"] = (names_pos[keep], names_scores[keep])
        positions, scores = fuse(channels, weights, config)
        return positions, scores, gate

    @staticmethod
    def detected_language(retrieved: Retrieved, config: FusionConfig) -> str | None:
        """The query's language when the nearest language centroid leads by ``config.language_margin``."""
        if retrieved.language is None or config.language_margin <= 0:
            return None
        lang, margin = retrieved.language
        return lang if margin >= config.language_margin else None

    @staticmethod
    def exact_first(positions: np.ndarray, scores: np.ndarray, exact: np.ndarray,
                    allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Exact (tier 2) and near-exact (tier 1) title matches first, each tier by fused score."""
        tier_pos = np.flatnonzero(exact > 0)
        if allowed is not None:
            tier_pos = tier_pos[allowed[tier_pos]]
        if tier_pos.size == 0:
            return positions, scores
        missing = np.setdiff1d(tier_pos, positions, assume_unique=False)
        positions = np.concatenate([positions, missing])
        scores = np.concatenate([scores, np.zeros(missing.size)])
        tiers = exact[positions].astype(np.int64)
        order = np.lexsort((positions, -scores, -tiers))
        return positions[order], scores[order]

    def rank(self, query: str, system: SearchSystem = "hybrid", *, top_k: int = 100,
             query_embedding: np.ndarray | None = None, config: FusionConfig | None = None) -> list[str]:  # fmt: skip
        """Title ids, best first, for the offline comparison of ``bm25``, ``dense`` and ``hybrid``.

        ``hybrid`` is what :meth:`search` serves (same truncation, fusion and exact-title tiers; no
        filters, no profile). ``bm25`` ranks by the combined lexical score over all fields (weights
        ``lexical.config.field_weights``); ``dense`` by exact dense search alone (the hybrid's dense
        channel: title-only penalty and language centring included).
        """
        text, _ = truncate_query(query)
        cfg = config or self.fusion
        if system == "bm25":
            lex = self.lexical.score(text)
            pos, _ = _top_positive(lex.combined(self.lexical.config.field_weights), None, top_k)
        elif system == "dense":
            if self.dense is None:
                raise RuntimeError("this search engine has no dense index")
            emb = query_embedding if query_embedding is not None else self.embed([text])[0]
            pos, _, _, _ = self._dense_search(emb, top_k, None)
        elif system == "hybrid":
            retrieved = self.retrieve(text, None, max(cfg.candidates, top_k), query_embedding)
            pos, scores, _ = self.fuse_retrieved(retrieved, None, cfg)
            pos, _ = self.exact_first(pos, scores, retrieved.lexical.exact, None)
            pos = pos[:top_k]
        else:
            raise ValueError(f"unknown system {system!r}; expected one of {SYSTEMS}")
        return [self.catalog.title_ids[int(p)] for p in pos]

    # -- the API -------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        filters: SearchFilters | None = None,
        viewer: Viewer | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        query_embedding: np.ndarray | None = None,
    ) -> SearchPage:
        """One page of hybrid results (see the module docstring).

        Raises:
            EmptyQueryError: empty or whitespace query.
            UnknownFilterValueError / InvalidFilterError: bad filters.
            InvalidFilterError: ``limit``/``offset`` out of bounds.
        """
        text, truncated = truncate_query(query)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidFilterError(f"limit={limit} is out of range; expected 1..{MAX_LIMIT}")
        if not 0 <= offset <= MAX_OFFSET:
            raise InvalidFilterError(f"offset={offset} is out of range; expected 0..{MAX_OFFSET}")
        viewer = viewer or Viewer()
        filters = self.catalog.normalize_filters(filters or SearchFilters())
        allowed = self.catalog.allowed_mask(filters, viewer.maturity_level)
        top = max(self.fusion.candidates, offset + limit)
        retrieved = self.retrieve(text, allowed, top, query_embedding)
        positions, scores, gate = self.fuse_retrieved(retrieved, allowed, self.fusion)
        keep = allowed[positions]  # fusion only saw allowed candidates; this is belt and braces
        positions, scores = positions[keep], scores[keep]
        if self.reranker is not None and viewer.profile_id and positions.size:
            # only the head is personal: the tail of a fused pool is noise the viewer's taste must not lift
            depth = min(positions.size, max(RERANK_DEPTH, offset + limit))
            head, head_scores = positions[:depth], scores[:depth]
            ids = [self.catalog.title_ids[int(p)] for p in head]
            reranked = np.asarray(self.reranker(viewer.profile_id, ids, head_scores.copy()), dtype=np.float64)
            if reranked.shape != head_scores.shape:
                raise ValueError(f"the re-ranker returned shape {reranked.shape}; expected {head_scores.shape}")
            order = np.lexsort((head, -reranked))
            # the tail keeps its order below every re-ranked title
            tail_scores = scores[depth:] - scores[depth:].max() + reranked.min() - 1.0 if positions.size > depth else scores[depth:]
            positions = np.concatenate([head[order], positions[depth:]])
            scores = np.concatenate([reranked[order], tail_scores])
        positions, scores = self.exact_first(positions, scores, retrieved.lexical.exact, allowed)
        # the hard invariant, checked once more on what leaves the engine
        keep = allowed[positions]
        positions, scores = positions[keep], scores[keep]
        page = positions[offset : offset + limit]
        page_scores = scores[offset : offset + limit]
        hits = [self._hit(int(p), float(s), retrieved, viewer) for p, s in zip(page, page_scores, strict=True)]
        return SearchPage(query=text, query_truncated=truncated, total=int(positions.size), offset=offset,
                          limit=limit, hits=hits, facets=self.catalog.facets(positions), lexical_gate=gate,
                          query_language=self.detected_language(retrieved, self.fusion))  # fmt: skip

    def _hit(self, position: int, score: float, retrieved: Retrieved, viewer: Viewer) -> SearchHit:
        cat = self.catalog
        lex = retrieved.lexical
        reasons: list[MatchReason] = []
        languages: set[str] = set()
        tier = int(lex.exact[position])
        matched = self.lexical.matched_title_string(position, lex.query)
        if tier or (matched is not None and lex.fields["title"][position] > 0):
            how = {2: "exact", 1: "near-exact"}.get(tier, "words")
            title_text = matched[1] if matched else cat.titles[position]
            reasons.append(MatchReason("title", f"{how}: {title_text}"))
            if matched and matched[0] not in ("", "original", "en", "und"):
                languages.add(matched[0])
        for name in self.lexical.matched_people(position, lex.query):
            reasons.append(MatchReason("person", name))
        dense_lang = retrieved.dense_langs.get(position)
        if dense_lang:
            reasons.append(MatchReason("description", dense_lang))
            if dense_lang != "en":
                languages.add(dense_lang)
        elif lex.fields["content"][position] > 0:
            reasons.append(MatchReason("description", "words"))
        reasons.extend(MatchReason("language", lang) for lang in sorted(languages))
        description, desc_lang = cat.description(position, viewer.languages)
        year = cat.years[position]
        return SearchHit(
            title_id=cat.title_ids[position],
            display_title=cat.display_title(position, viewer.languages),
            year=None if np.isnan(year) else int(year),
            type=str(cat.types[position]),
            maturity=cat.maturity[position],
            description=description,
            description_language=desc_lang,
            score=round(score, 6),
            reasons=tuple(reasons),
        )
