"""Corrections of the served ranking, on the default-scope artifacts ``make artifacts`` builds: the plot
channel's hub correction (:meth:`search.dense.DenseRetriever.fit_hubness`: texts that sit near every query
stop crowding the top of unrelated queries, and the queries' own answers do not fall), its levelling of the
description languages for queries in other scripts (:meth:`search.dense.DenseRetriever.levels`) and the
popularity prior (``FusionConfig.prior``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from data.catalog import read_titles
from data.queries import read_queries
from search.engine import SearchEngine
from search.evaluate import resolve_queries, source_id_index

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture(scope="module")
def engine(default_artifacts_dir: Path) -> SearchEngine:
    from services.routers.search import load_search_engine
    from services.settings import Settings

    return load_search_engine(Settings(artifacts_dir=default_artifacts_dir))


def _plot_tops(engine: SearchEngine, embeddings: np.ndarray, penalty: float) -> list[list[int]]:
    dense = engine.dense
    assert dense is not None
    saved = dense.hub_penalty
    dense.hub_penalty = penalty
    try:
        return [dense.search(e, 10)[0].tolist() for e in embeddings]
    finally:
        dense.hub_penalty = saved


def test_hubness_is_learnt_at_load_and_centred(engine: SearchEngine) -> None:
    dense = engine.dense
    assert dense is not None and dense.hub_penalty > 0
    hubness = dense._hubness
    assert hubness is not None and hubness.shape == dense._ids.shape
    assert abs(float(np.median(hubness))) < 1e-3
    assert float(hubness.max()) > 0.01 and float(hubness.min()) < -0.01  # texts differ in how central they sit


def test_hubness_read_from_the_index_version_is_the_one_computed_at_load(engine: SearchEngine) -> None:
    """The served engine reads the texts' hubness stored with (or cached beside) the index version
    (:meth:`embeddings.job.IndexArtifacts.text_hubness`); computing it here gives the same values, to float32
    rounding (the sums' order follows the threads faiss and BLAS get: a fresh-clone CI run differed by 2.4e-7 on
    5% of the texts, against hubness values of order 1e-2)."""
    dense, titles = engine.dense, engine.titles
    assert dense is not None and titles is not None and dense._hubness is not None
    served = dense._hubness.copy()
    try:
        assert dense.fit_hubness(titles.vectors)
        np.testing.assert_allclose(dense._hubness, served, rtol=0, atol=1e-6)
    finally:
        dense._hubness = served


def test_hub_texts_stop_crowding_unrelated_queries(engine: SearchEngine, default_artifacts_dir: Path) -> None:
    catalog_dir = default_artifacts_dir / "catalog"
    frame = read_titles(catalog_dir)
    by_source = source_id_index(frame["title_id"].astype(str).tolist(), frame["source_ids"].tolist())
    resolved = resolve_queries([q for q in read_queries("marquee-ml:dev") if q.kind != "intent"], by_source,
                               set(engine.catalog.title_ids))  # fmt: skip
    embeddings = engine.embed([r.text for r in resolved])
    assert engine.dense is not None
    plain = _plot_tops(engine, embeddings, 0.0)
    corrected = _plot_tops(engine, embeddings, engine.dense.hub_penalty)
    # hubs: the titles in the top 10 of the most queries (the queries ask for ~150 different titles)
    busiest_plain = [n for _, n in Counter(p for top in plain for p in top).most_common(5)]
    busiest = [n for _, n in Counter(p for top in corrected for p in top).most_common(5)]
    assert sum(busiest) < sum(busiest_plain), (busiest, busiest_plain)

    def found(tops: list[list[int]]) -> int:
        return sum(any(engine.catalog.title_ids[p] in r.gold for p in top) for r, top in zip(resolved, tops, strict=True))

    assert found(corrected) >= found(plain)


def test_levelled_languages_bring_the_plot_a_query_in_another_script_tells(engine: SearchEngine,
                                                                           default_artifacts_dir: Path) -> None:  # fmt: skip
    """marquee-ml:dev's cross-lingual plots typed in a script other than Latin (Japanese, Korean, Hindi,
    Arabic...; their films are described in English): the plot channel levelled, as served, finds more of
    them in its top 10 and top 100 than unlevelled, and an English query is never levelled."""
    frame = read_titles(default_artifacts_dir / "catalog")
    by_source = source_id_index(frame["title_id"].astype(str).tolist(), frame["source_ids"].tolist())
    asked = [q for q in read_queries("marquee-ml:dev") if q.kind == "cross-lingual" and q.script != "latin"]
    resolved = resolve_queries(asked, by_source, set(engine.catalog.title_ids))
    scripts = {q.qid: q.script for q in asked}
    assert len(resolved) >= 25 and len({scripts[r.qid] for r in resolved}) >= 6
    dense = engine.dense
    assert dense is not None
    embeddings = engine.embed([r.text for r in resolved])

    def ranks(level: bool) -> list[int]:
        out = []
        for r, e in zip(resolved, embeddings, strict=True):
            top = dense.search(e, 100, script=scripts[r.qid], level=level)[0].tolist()
            out.append(next((i for i, p in enumerate(top) if engine.catalog.title_ids[p] in r.gold), 100))
        return out

    plain, levelled = ranks(False), ranks(True)
    assert sum(r < 10 for r in levelled) > sum(r < 10 for r in plain), (plain, levelled)
    assert sum(r < 100 for r in levelled) >= sum(r < 100 for r in plain)
    assert all(dense.levels(engine._confident(engine.identify(r.text), engine.fusion), scripts[r.qid]) for r in resolved)
    english = engine.embed(["a thief who steals secrets through dreams"])[0]
    language = engine.identify("a thief who steals secrets through dreams")
    assert language is not None and language.code == "en"
    assert not dense.levels("en", "latin")
    assert np.array_equal(engine._dense_search(english, 20, None, language)[0], dense.search(english, 20)[0])


def test_the_popularity_prior_puts_the_film_people_watch_above_an_equal_text_match(engine: SearchEngine) -> None:
    # two films the descriptions match about equally (both in the top 5 without the prior; since the
    # content field is stemmed, "wizard"/"magic" put Harry Potter above The Sword in the Stone even without it)
    query = "a boy wizard goes to a school of magic"
    base = engine.fusion
    try:
        engine.fusion = base.with_(prior=0.0)
        plain = {h.display_title: h.score for h in engine.search(query, limit=5).hits}
    finally:
        engine.fusion = base
    hits = engine.search(query, limit=5).hits
    served = {h.display_title: h.score for h in hits}
    potter, sword = "Harry Potter and the Sorcerer's Stone", "The Sword in the Stone"
    assert potter in plain and sword in plain, plain
    order = [h.display_title for h in hits]
    assert order.index(potter) < order.index(sword), order
    # the prior widens the watched film's lead (Potter is far more popular in the data)
    assert served[potter] - served[sword] > plain[potter] - plain[sword] + 0.01, (plain, served)
