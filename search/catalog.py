"""The titles in a search scope as arrays: filter masks, facet counts, display titles and descriptions.

:class:`SearchCatalog` validates and canonicalises filters (raising :mod:`search.errors`), turns them
and the viewer's maturity ceiling into one ``(n,)`` mask, counts facets over a result set, and builds
the documents the lexical index reads.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from data.normalize import GENRES, MATURITY_LEVELS, fold
from search.errors import InvalidFilterError, UnknownFilterValueError
from search.lexical import LexicalDocuments
from search.request import RUNTIME_MAX, RUNTIME_MIN, SearchFilters

log = logging.getLogger(__name__)

__all__ = ["DESCRIPTION_CHARS", "SearchCatalog"]

DESCRIPTION_CHARS = 240


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


def _count(cell: Any) -> float:
    try:
        value = float(cell)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(value) or value < 0 else value


def _minutes(cell: Any) -> float:
    """A running time in minutes; NaN when unknown or not positive."""
    try:
        value = float(cell)
    except (TypeError, ValueError):
        return math.nan
    return value if value > 0 else math.nan


def _check_range(field: str, low: int | None, high: int | None, lowest: int, highest: int, what: str) -> None:
    """Raise :class:`InvalidFilterError` when ``{field}_min`` / ``{field}_max`` is outside ``lowest..highest``
    or the minimum is above the maximum."""
    for name, value in ((f"{field}_min", low), (f"{field}_max", high)):
        if value is not None and not (lowest <= value <= highest):
            raise InvalidFilterError(f"{name}={value} is out of range; expected {what} in {lowest}..{highest}")
    if low is not None and high is not None and low > high:
        raise InvalidFilterError(f"{field}_min={low} is above {field}_max={high}; expected {field}_min <= {field}_max")


def _short(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:.") + "…"


_LEVEL_NAMES = {level: name for name, level in MATURITY_LEVELS.items()}


class _FacetCodes:
    """Every facet attribute of every title as one CSR code table (title -> value ids in one code space),
    so that the counts of all facets over a result set are one ``bincount``.

    ``attributes`` maps each facet name to its values per title (a title's repeated values count once);
    each facet's value names are sorted, so a stable sort by count gives (count desc, name asc).
    """

    def __init__(self, attributes: Mapping[str, Sequence[Sequence[Any]]]) -> None:
        self.names: dict[str, list[Any]] = {}
        self.spans: dict[str, tuple[int, int]] = {}
        per_title: list[list[int]] = []
        start = 0
        for facet, values in attributes.items():
            names = sorted({v for vals in values for v in vals})
            code = {v: start + i for i, v in enumerate(names)}
            if not per_title:
                per_title = [[] for _ in values]
            for codes, vals in zip(per_title, values, strict=True):
                codes.extend(code[v] for v in dict.fromkeys(vals))
            self.names[facet] = names
            self.spans[facet] = (start, start + len(names))
            start += len(names)
        self.size = start
        lengths = np.asarray([len(c) for c in per_title], dtype=np.int64)
        self.indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.codes = np.asarray([c for codes in per_title for c in codes], dtype=np.int64)

    def count(self, positions: np.ndarray) -> np.ndarray:
        """``(size,)`` how many of ``positions`` carry each value (every facet's values side by side)."""
        starts, ends = self.indptr[positions], self.indptr[positions + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(self.size, dtype=np.int64)
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        return np.bincount(self.codes[offsets], minlength=self.size)

    def present(self, counts: np.ndarray, facet: str, *, by_count: bool) -> list[tuple[Any, int]]:
        """``(value, count)`` of ``facet``'s values present in ``counts``: most frequent first (ties by
        value) when ``by_count``, else in value order."""
        low, high = self.spans[facet]
        own = counts[low:high]
        nonzero = np.flatnonzero(own)
        if by_count:
            nonzero = nonzero[np.argsort(-own[nonzero], kind="stable")]
        names = self.names[facet]
        return [(names[i], c) for i, c in zip(nonzero.tolist(), own[nonzero].tolist(), strict=True)]


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
        self.runtimes = np.asarray([_minutes(r.get("duration_minutes")) for r in records], dtype=np.float64)
        """Running time in minutes (NaN: unknown; series have seasons, not a running time)."""
        self.maturity_level = np.asarray([int(r.get("maturity_level", 3)) for r in records], dtype=np.int8)
        level_name = {v: k for k, v in MATURITY_LEVELS.items()}
        self.maturity = [str(r.get("maturity") or level_name[int(lvl)]) for r, lvl in zip(records, self.maturity_level, strict=True)]
        self.titles = [str(r.get("title") or "") for r in records]
        self.original_titles = [_as_str(r.get("original_title")) for r in records]
        self.original_language = np.asarray([_as_str(r.get("original_language")) or "" for r in records], dtype=object)
        self.localized: list[dict[str, str]] = []
        """Per title, its first localized title in each language (display titles)."""
        self.title_variants: list[list[tuple[str, str]]] = []
        """Per title, every distinct localized title as ``(lang, text)``: several MovieLens alternatives
        share ``und`` ("Léon" and "The Professional"); lexical matching and the title channel read all."""
        self.descriptions: list[dict[str, str]] = []
        self.genres: list[list[str]] = []
        self.countries: list[list[str]] = []
        self.cast: list[list[str]] = []
        self.directors: list[list[str]] = []
        self.extra_text: list[str] = []
        self.popularity = np.asarray([np.log1p(_count(r.get("vote_count"))) + np.log1p(_count(r.get("ml_rating_count")))
                                      for r in records], dtype=np.float64)  # fmt: skip
        """``(n,)`` log votes + log MovieLens ratings: the order of titles matching a parsed intent."""
        for r in records:
            loc: dict[str, str] = {}
            variants: dict[tuple[str, str], None] = {}
            for item in _as_list(r.get("localized_titles")):
                lang, text = _as_str(item.get("lang")), _as_str(item.get("title"))
                if lang and text:
                    loc.setdefault(lang, text)
                    variants[(lang, text)] = None
            self.localized.append(loc)
            self.title_variants.append(list(variants))
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
        decades = np.where(np.isnan(self.years), -1, np.nan_to_num(self.years, nan=0) // 10 * 10).astype(np.int64)
        self._facet_codes = _FacetCodes({
            "types": [[t] for t in self.types.tolist()],
            "genres": self.genres,
            "description_languages": [list(d) for d in self.descriptions],
            "original_languages": [[lang] if lang else [] for lang in self.original_language],
            "countries": self.countries,
            "decades": [[d] if d >= 0 else [] for d in decades.tolist()],
            "maturity": [[lvl] for lvl in self.maturity_level.tolist()],
        })  # fmt: skip
        self._short_descriptions: dict[tuple[int, str], str] = {}
        """Shortened descriptions already served, per ``(position, language)`` (at most one per text)."""
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
        _check_range("year", filters.year_min, filters.year_max, 1800, 2200, "a year")
        _check_range("runtime", filters.runtime_min, filters.runtime_max, RUNTIME_MIN, RUNTIME_MAX, "minutes")
        return SearchFilters(types=types, genres=genres, year_min=filters.year_min, year_max=filters.year_max,
                             runtime_min=filters.runtime_min, runtime_max=filters.runtime_max,
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
        if filters.runtime_min is not None:
            mask &= self.runtimes >= filters.runtime_min  # unknown running times (NaN) never pass
        if filters.runtime_max is not None:
            mask &= self.runtimes <= filters.runtime_max
        return mask

    # -- facets and presentation ---------------------------------------------------------------

    def facets(self, positions: np.ndarray, *, top_countries: int = 20) -> dict[str, dict[str, int]]:
        """Counts per filter value over ``positions`` (the filtered result set): types, genres, languages and
        countries most frequent first (ties by name; the ``top_countries`` first countries), decades and
        maturity levels in their order."""
        codes = self._facet_codes
        counts = codes.count(np.asarray(positions, dtype=np.int64))
        out: dict[str, dict[str, int]] = {}
        for name in ("types", "genres", "description_languages", "original_languages", "countries"):
            present = codes.present(counts, name, by_count=True)
            out[name] = dict(present[:top_countries] if name == "countries" and top_countries else present)
        out["decades"] = {f"{d}s": c for d, c in codes.present(counts, "decades", by_count=False)}
        out["maturity"] = {_LEVEL_NAMES[lv]: c for lv, c in codes.present(counts, "maturity", by_count=False)}
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
                short = self._short_descriptions.get((position, lang))
                if short is None:
                    short = self._short_descriptions[(position, lang)] = _short(desc[lang])
                return short, lang
        return None, None

    def lexical_documents(self) -> LexicalDocuments:
        strings = []
        for i in range(self.n):
            own: list[tuple[str, str]] = [("", self.titles[i])]
            if self.original_titles[i]:
                own.append(("original", self.original_titles[i]))  # type: ignore[arg-type]
            own.extend(self.title_variants[i])
            strings.append([s for s in own if s[1]])
        people = [self.cast[i] + self.directors[i] for i in range(self.n)]
        content = [" ".join([" ".join(self.genres[i]), self.extra_text[i]]) for i in range(self.n)]
        return LexicalDocuments(title_strings=strings, people=people, content=content, descriptions=self.descriptions)
