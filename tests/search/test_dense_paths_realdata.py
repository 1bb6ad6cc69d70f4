"""The dense channels' fast paths rank exactly as the paths they replaced, on the default-scope artifacts
``make artifacts`` builds (the real catalog, the bundled encoder, the exact index and its title strings).

Replaced: a filtered or language-split plot search passed the allowed texts as ids (looked up in the
index) and copied their vectors out before searching them (now a row mask and a bitmap scan over the
stored vectors); the language split merged its two searches in a Python loop (now numpy); the title
channel scored every title string with numpy's BLAS product (now faiss's single-threaded kernel). The
references below are those old paths, kept here only as references.
"""

from __future__ import annotations

import copy
import types
from pathlib import Path

import numpy as np
import pytest

from data.queries import read_queries
from embeddings.index import FaissVectorIndex, as_unit_float32
from search.dense import DenseRetriever
from search.engine import SearchEngine
from search.request import SearchFilters

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


class _GatheredIds:
    """The exact index searched as before: allowed ids looked up, their rows copied out and searched."""

    def __init__(self, index: FaissVectorIndex) -> None:
        self._index = index
        self.ids = index.ids
        self.ntotal = index.ntotal
        self.faiss_index = index.faiss_index

    def search(self, query_embeddings: np.ndarray, top_k: int,
               allowed_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        if allowed_ids is None:
            return self._index.search(query_embeddings, top_k)
        queries = as_unit_float32(query_embeddings, self._index.dim, "query_embeddings")
        positions = self._index._positions_of(allowed_ids)
        k = min(top_k, positions.size)
        scores = np.full((queries.shape[0], top_k), -np.inf, dtype=np.float32)
        ids = np.full((queries.shape[0], top_k), -1, dtype=np.int64)
        distances, labels = FaissVectorIndex._search_subset_exact(self._index, queries, k, positions)
        scores[:, :k], ids[:, :k] = distances, self._index.ids[labels]
        return scores, ids


def _merged_in_python(self: DenseRetriever, query_embedding: np.ndarray, language: str | None, top_k: int,
                      allowed: np.ndarray | None = None,
                      script: str | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:  # fmt: skip
    """``DenseRetriever.search_in_language`` as it was: the two searches merged in a Python loop."""
    if language is None or not self.centres(language):
        return self.search(query_embedding, top_k, allowed, script=script, level=self.levels(language, script))
    own = self.search(query_embedding, top_k, allowed, only_language=language, script=script)
    other = self.search(self.centered(query_embedding, language), top_k, allowed, except_language=language,
                        script=script)  # fmt: skip
    best: dict[int, tuple[float, str]] = {}
    for positions, scores, langs in (own, other):
        for p, s, lang in zip(positions.tolist(), scores.tolist(), langs, strict=True):
            if p not in best or s > best[p][0]:
                best[p] = (s, lang)
    order = sorted(best, key=lambda p: (-best[p][0], p))[:top_k]
    return (np.asarray(order, dtype=np.int64), np.asarray([best[p][0] for p in order], dtype=np.float32),
            [best[p][1] for p in order])  # fmt: skip


@pytest.fixture(scope="module")
def engines(default_artifacts_dir: Path) -> tuple[SearchEngine, SearchEngine]:
    from services.routers.search import load_search_engine
    from services.settings import Settings

    engine = load_search_engine(Settings(artifacts_dir=default_artifacts_dir))
    assert engine.dense is not None and engine.titles is not None
    assert engine.dense.index.kind == "flat" and engine.dense._rows is not None
    reference = copy.copy(engine)
    reference.dense = copy.copy(engine.dense)
    reference.dense.index = _GatheredIds(engine.dense.index)
    reference.dense._rows = None  # the id path
    reference.dense.search_in_language = types.MethodType(_merged_in_python, reference.dense)  # type: ignore[method-assign]
    reference.titles = copy.copy(engine.titles)
    return engine, reference


def test_fast_dense_paths_rank_as_the_old_ones_on_the_dev_queries(engines: tuple[SearchEngine, SearchEngine],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    engine, reference = engines
    queries = [q.query for q in read_queries("marquee-ml:dev")][::2]  # 94 queries, every language of the set
    kids = SearchFilters(max_maturity="kids")

    def run(e: SearchEngine) -> dict[str, tuple[object, ...]]:
        out: dict[str, tuple[object, ...]] = {}
        for q in queries:
            page = e.search(q, limit=50)
            out[q] = (page.total, [h.title_id for h in page.hits], page.query_language)
        for q in queries[::4]:  # an explicit filter: every channel searches an allowed subset
            page = e.search(q, limit=20, filters=kids, understand=False)
            out[f"kids|{q}"] = (page.total, [h.title_id for h in page.hits])
        return out

    new = run(engine)
    with monkeypatch.context() as patch:  # the title channel's old numpy product
        patch.setattr("search.dense.inner_products", lambda query, vectors: vectors @ np.asarray(
            query, dtype=np.float32).reshape(-1))  # fmt: skip
        old = run(reference)
    assert len(new) == len(queries) + len(queries[::4])
    languages = {str(value[2]) for value in new.values() if len(value) == 3}
    assert engine.dense is not None and sum(engine.dense.centres(lang) for lang in languages) >= 3  # split ran
    differ = [q for q in new if new[q] != old[q]]
    assert not differ, differ[:5]
