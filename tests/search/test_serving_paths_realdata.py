"""The served search's faster paths answer exactly as the paths they replaced, on the default-scope artifacts
``make artifacts`` builds (the real catalog, the bundled encoder, the exact index and its title strings).

Replaced: facet counts were one CSR table and a Python sort per facet plus ``np.unique`` for decades and
maturity (now one code table and one ``bincount`` for every facet); a shortened description was cut again
for every hit (now kept per title and language); a query's language was detected again for every request
(now the identifier keeps the last answers); a query with a foreign subject and a mood was read again by
the plot and title channels for readings the mood's reading then replaced or dropped, and the mood's reading
searched the title channel for nothing (now each reading is computed only where it is kept); the channels
applied the allowed-titles mask when every title was allowed (now they are given none). The
references below are those old paths (facets recounted from the catalog's own lists), kept here only as
references.
"""

from __future__ import annotations

import copy
import types
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from data.normalize import MATURITY_LEVELS
from data.queries import read_queries
from search.catalog import SearchCatalog, _short
from search.engine import Retrieved, SearchEngine, _top_positive
from search.request import SearchFilters, SearchPage, Viewer
from search.understand import Understanding

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

MOOD_QUERIES = [
    "something to cry at", "feel good movie", "scary for halloween", "película para llorar",
    "something to cry at with zombies", "a movie to cry at about a dog", "scary zombie movie for halloween",
    "ein Film zum Weinen über einen Hund", "película para llorar de zombis", "좀비 영화 슬픈", "feel good film über roboter",
]  # fmt: skip
"""Moods alone, moods with a topic, and moods with a foreign subject (a gloss): marquee-ml has no mood query."""


def _facets_counted(cat: SearchCatalog, positions: np.ndarray, top_countries: int = 20) -> dict[str, dict[str, int]]:
    """Facets recounted from the catalog's lists: most frequent first (ties by name), decades and levels in order."""

    def by_count(counter: Counter[str], limit: int | None = None) -> dict[str, int]:
        ordered = sorted(counter.items(), key=lambda p: (-p[1], p[0]))
        return dict(ordered[:limit] if limit else ordered)

    pos = [int(p) for p in positions]
    out = {"types": by_count(Counter(str(cat.types[p]) for p in pos)),
           "genres": by_count(Counter(g for p in pos for g in dict.fromkeys(cat.genres[p]))),
           "description_languages": by_count(Counter(lang for p in pos for lang in cat.descriptions[p])),
           "original_languages": by_count(Counter(str(cat.original_language[p]) for p in pos if cat.original_language[p])),
           "countries": by_count(Counter(c for p in pos for c in dict.fromkeys(cat.countries[p])), top_countries)}  # fmt: skip
    decades = Counter(int(cat.years[p]) // 10 * 10 for p in pos if not np.isnan(cat.years[p]))
    out["decades"] = {f"{d}s": decades[d] for d in sorted(decades)}
    names = {level: name for name, level in MATURITY_LEVELS.items()}
    levels = Counter(int(cat.maturity_level[p]) for p in pos)
    out["maturity"] = {names[lv]: levels[lv] for lv in sorted(levels)}
    return out


def _description_cut_each_time(cat: SearchCatalog, position: int, languages: tuple[str, ...]) -> tuple[str | None, str | None]:
    desc = cat.descriptions[position]
    for lang in (*languages, "en", *sorted(desc)):
        if lang in desc:
            return _short(desc[lang]), lang
    return None, None


def _read_again_every_time(self: SearchEngine, parsed: Understanding, retrieved: Retrieved, allowed: np.ndarray,
                           top: int) -> None:  # fmt: skip
    """``SearchEngine._read_again`` as it was: the gloss's reading searched both channels whatever followed,
    and the mood's reading searched the title channel too."""
    if parsed.gloss and retrieved.text and "dense" in retrieved.channels and self.encoder is not None:
        glossed = self.embed([f"{retrieved.text} {parsed.gloss}"])[0]
        if retrieved.embedding is not None:
            glossed = glossed + retrieved.embedding
            glossed = (glossed / max(float(np.linalg.norm(glossed)), 1e-12)).astype(np.float32)
        result = self._dense_channel(retrieved.text, glossed, top, allowed, retrieved.language)
        retrieved.channels["dense"] = (result.positions, result.scores)
        retrieved.dense_langs = dict(zip(result.positions.tolist(), result.langs, strict=True))
        if result.titles is not None and "titles" in retrieved.channels:
            t_pos, t_scores, t_strings = result.titles
            retrieved.channels["titles"] = (t_pos, t_scores)
            retrieved.title_strings = dict(zip(t_pos.tolist(), t_strings.tolist(), strict=True))
        retrieved.embedding = glossed
    if parsed.moods and not retrieved.lexical.exact.any():
        if "dense" in retrieved.channels and self.encoder is not None:
            reading = self.embed([parsed.mood_text])[0]
            result = self._dense_channel(parsed.mood_text, reading, top, allowed, retrieved.language)
            retrieved.channels["dense"] = (result.positions, result.scores)
            retrieved.dense_langs = dict(zip(result.positions.tolist(), result.langs, strict=True))
            retrieved.embedding = reading
        topic = parsed.topic
        if topic and "names" in retrieved.channels:
            names = self._lexical(topic, retrieved.language).fields["names"]
            retrieved.channels["names"] = _top_positive(names, allowed, top)
        elif not topic:
            retrieved.channels.pop("names", None)
            retrieved.channels.pop("titles", None)
            retrieved.title_strings = {}


def _retrieve_with_a_mask(self: SearchEngine, query: str, allowed: np.ndarray | None, top: int,
                          query_embedding: np.ndarray | None, dense: bool = True) -> Retrieved:  # fmt: skip
    """``SearchEngine.retrieve`` as ``search`` called it: with the mask even when every title is allowed."""
    mask = np.ones(self.catalog.n, dtype=bool) if allowed is None else allowed
    return SearchEngine.retrieve(self, query, mask, top, query_embedding, dense)


class _Detector:
    """The identifier without its kept answers (every text detected again)."""

    def __init__(self, identifier: object) -> None:
        self._identify = identifier._identify  # type: ignore[attr-defined]

    def identify(self, text: str) -> object:
        return self._identify(text)


@pytest.fixture(scope="module")
def engines(default_artifacts_dir: Path) -> tuple[SearchEngine, SearchEngine]:
    from services.routers.search import load_search_engine
    from services.settings import Settings

    engine = load_search_engine(Settings(artifacts_dir=default_artifacts_dir))
    assert engine.dense is not None and engine.titles is not None and engine.language_identifier is not None
    reference = copy.copy(engine)
    reference.catalog = copy.copy(engine.catalog)
    reference.catalog.facets = types.MethodType(_facets_counted, reference.catalog)  # type: ignore[method-assign]
    reference.catalog.description = types.MethodType(_description_cut_each_time, reference.catalog)  # type: ignore[method-assign]
    reference.language_identifier = _Detector(engine.language_identifier)  # type: ignore[assignment]
    reference._read_again = types.MethodType(_read_again_every_time, reference)  # type: ignore[method-assign]
    reference.retrieve = types.MethodType(_retrieve_with_a_mask, reference)  # type: ignore[method-assign]
    return engine, reference


def _served(page: SearchPage) -> tuple[object, ...]:
    """Everything a client sees but the scores, and the scores apart."""
    hits = [(h.title_id, h.display_title, h.year, h.type, h.maturity, h.description, h.description_language, h.reasons)
            for h in page.hits]  # fmt: skip
    facets = [(name, list(counts.items())) for name, counts in page.facets.items()]
    return (page.query, page.total, page.offset, page.limit, page.lexical_gate, page.query_language, page.understood,
            facets, hits)  # fmt: skip


def test_served_pages_are_the_same_as_before(engines: tuple[SearchEngine, SearchEngine], default_artifacts_dir: Path) -> None:
    engine, reference = engines
    queries = [q.query for q in read_queries("marquee-ml:dev")] + [q.query for q in read_queries("marquee-ml:test")]
    tot = [q.query for q in read_queries("reddit-tomt:test", default_artifacts_dir / "catalog")][::25]
    requests: list[tuple[str, dict[str, object]]] = [(q, {}) for q in [*queries, *tot, *MOOD_QUERIES]]
    requests += [(q, {"filters": SearchFilters(max_maturity="kids")}) for q in [*queries[::6], *MOOD_QUERIES]]
    requests += [(q, {"viewer": Viewer(languages=("fr",)), "offset": 5}) for q in queries[3::6]]
    assert len(queries) >= 370 and len(tot) >= 20
    assert sum(bool(engine.understand(q).gloss) for q in queries) >= 10
    assert sum(bool(engine.understand(q).gloss and engine.understand(q).moods) for q in MOOD_QUERIES) >= 3

    searches = {"new": 0, "old": 0}

    def run(e: SearchEngine, name: str) -> list[tuple[tuple[object, ...], list[float]]]:
        plot, titles = e._dense_search, e._title_search

        def counted(search: Callable[..., object]) -> Callable[..., object]:
            def call(*args: object) -> object:
                searches[name] += 1
                return search(*args)

            return call

        e._dense_search, e._title_search = counted(plot), counted(titles)  # type: ignore[method-assign]
        try:
            pages = [e.search(q, limit=20, **kwargs) for q, kwargs in requests]  # type: ignore[arg-type]
        finally:
            del e._dense_search, e._title_search
        return [(_served(p), [h.score for h in p.hits]) for p in pages]

    new, old = run(engine, "new"), run(reference, "old")
    differ = [requests[i][0] for i, (a, b) in enumerate(zip(new, old, strict=True)) if a[0] != b[0]]
    assert not differ, differ[:5]
    worst = max((abs(x - y) for a, b in zip(new, old, strict=True) for x, y in zip(a[1], b[1], strict=True)), default=0.0)
    assert worst <= 1e-6
    assert sum(len(a[1]) for a in new) >= 20 * len(queries)
    # the readings no page kept were not searched: fewer vector searches for the same pages
    assert searches["new"] < searches["old"], searches
