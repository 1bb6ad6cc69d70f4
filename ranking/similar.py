"""Title-to-title similarity: embedding cosine, co-watch cosine and genre overlap, blended.

Shapes: ``n`` titles (rows of ``features.TitleFeatures``), ``u`` viewers in the co-watch matrix,
``d`` embedding dimension, ``G`` genres.

Used by "Because You Watched" rows, by the co-watch part of the fallback scorer and by
``GET /v1/titles/{id}/similar``. Everything is exact and deterministic: one matrix-vector product
over the title embeddings and two sparse products over the co-watch matrix per query title.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import TitleFeatures

__all__ = ["CoWatchIndex", "SimilarityWeights", "TitleSubset", "title_similarity"]


class CoWatchIndex:
    """Binary viewer x title matrix answering item-item cosine similarity.

    ``cos(i, j) = |V_i ∩ V_j| / sqrt(|V_i| |V_j|)`` where ``V_i`` is the set of viewers who watched ``i``.
    """

    def __init__(self, matrix: sp.csr_matrix) -> None:
        self.matrix = matrix.tocsr().astype(np.float32)
        self.matrix.data[:] = 1.0
        self.matrix.sum_duplicates()
        self.matrix.data[:] = 1.0
        self._transpose = self.matrix.T.tocsr()
        degree = np.asarray(self.matrix.sum(axis=0)).ravel().astype(np.float32)
        self.degree = degree  # (n,) viewers per title
        self._inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1.0)), 0.0).astype(np.float32)

    @classmethod
    def from_rows(cls, viewer_codes: np.ndarray, title_rows: np.ndarray, n_titles: int) -> CoWatchIndex:
        """Build from parallel (e,) arrays: integer viewer codes and title rows (-1 rows are skipped)."""
        viewer_codes = np.asarray(viewer_codes, dtype=np.int64)
        title_rows = np.asarray(title_rows, dtype=np.int64)
        keep = title_rows >= 0
        viewer_codes, title_rows = viewer_codes[keep], title_rows[keep]
        n_viewers = int(viewer_codes.max()) + 1 if len(viewer_codes) else 0
        data = np.ones(len(title_rows), dtype=np.float32)
        return cls(sp.csr_matrix((data, (viewer_codes, title_rows)), shape=(n_viewers, n_titles)))

    @classmethod
    def from_histories(cls, histories: Sequence[Sequence[str]], titles: TitleFeatures) -> CoWatchIndex:
        """Build from one title-id list per viewer (ids unknown to ``titles`` are skipped)."""
        codes = np.concatenate([np.full(len(h), i, dtype=np.int64) for i, h in enumerate(histories)] or
                               [np.zeros(0, dtype=np.int64)])  # fmt: skip
        rows = titles.rows([t for h in histories for t in h])
        return cls.from_rows(codes, rows, len(titles))

    @classmethod
    def from_frame(cls, events: pd.DataFrame, titles: TitleFeatures) -> CoWatchIndex:
        """Build from an events frame with ``profile_id`` and ``title_id`` columns (any event kind counts)."""
        codes = pd.factorize(events["profile_id"].astype(str), sort=True)[0] if len(events) else np.zeros(0)
        rows = titles.rows(events["title_id"].astype(str).tolist()) if len(events) else np.zeros(0, np.int64)
        return cls.from_rows(np.asarray(codes, dtype=np.int64), rows, len(titles))

    @property
    def n_titles(self) -> int:
        return int(self.matrix.shape[1])

    def scores(self, title_rows: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """``sum_i weights_i * cos(title_rows_i, j)`` for every title ``j``: (n,) float32.

        Two sparse products: viewers' overlap with the weighted query titles, then back to titles."""
        title_rows = np.asarray(title_rows, dtype=np.int64)
        out = np.zeros(self.n_titles, dtype=np.float32)
        if not len(title_rows) or self.matrix.shape[0] == 0:
            return out
        w = np.ones(len(title_rows), dtype=np.float32) if weights is None else np.asarray(weights, np.float32)
        query = np.zeros(self.n_titles, dtype=np.float32)
        np.add.at(query, title_rows, w * self._inv_sqrt[title_rows])
        viewers = self.matrix @ query  # (u,)
        return (self._transpose @ viewers).astype(np.float32) * self._inv_sqrt

    def neighbors(self, title_row: int) -> np.ndarray:
        """Cosine of ``title_row`` with every title, (n,) float32 in [0, 1] (1 for itself when watched)."""
        return self.scores(np.array([title_row]))


@dataclass(frozen=True)
class TitleSubset:
    """Contiguous copies of the dense title matrices for the ``m`` titles that can be returned (e.g. the
    servable ones), so per-request products cost ``m * d`` instead of ``n * d``."""

    rows: np.ndarray  # (m,) int64 title rows
    embeddings: np.ndarray  # (m, d) float32
    genres_unit: np.ndarray  # (m, G) float32, genre multi-hot rows scaled to unit length (zeros stay zero)

    @classmethod
    def of(cls, titles: TitleFeatures, rows: np.ndarray | None = None) -> TitleSubset:
        rows = np.arange(len(titles), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        genres = titles.genres[rows]
        norms = np.linalg.norm(genres, axis=1, keepdims=True)
        return cls(rows, np.ascontiguousarray(titles.embeddings[rows]),
                   (genres / np.maximum(norms, 1e-12)).astype(np.float32))  # fmt: skip

    def scatter(self, values: np.ndarray, n: int) -> np.ndarray:
        """(m,) values on the subset -> (n,) float32 with zeros elsewhere."""
        out = np.zeros(n, dtype=np.float32)
        out[self.rows] = values
        return out


@dataclass(frozen=True)
class SimilarityWeights:
    """Blend of the three similarity signals; a signal missing for the query title drops out and the
    others are renormalised."""

    embedding: float = 0.6
    cowatch: float = 0.4
    genre: float = 0.15


def title_similarity(
    titles: TitleFeatures,
    title_rows: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    cowatch: CoWatchIndex | None = None,
    blend: SimilarityWeights | None = None,
    subset: TitleSubset | None = None,
) -> np.ndarray:
    """Similarity of every title to the weighted set ``title_rows``: (n,) float32, roughly in [0, 1].

    ``embedding``: cosine of the titles' unit embeddings with the weighted mean embedding of the set
    (clipped at 0); ``cowatch``: weighted co-watch cosine, divided by the weight total; ``genre``: cosine
    of multi-hot genre vectors. A query title without an embedding (or without viewers) contributes no
    embedding (or co-watch) signal. With a ``subset``, titles outside it get similarity 0 (and the dense
    products only run over the subset).
    """
    blend = blend or SimilarityWeights()
    subset = subset or TitleSubset.of(titles)
    title_rows = np.asarray(title_rows, dtype=np.int64)
    n = len(titles)
    if not len(title_rows):
        return np.zeros(n, dtype=np.float32)
    w = np.ones(len(title_rows), dtype=np.float32) if weights is None else np.asarray(weights, np.float32)
    total = float(w.sum()) or 1.0
    parts: list[tuple[float, np.ndarray]] = []

    has = titles.has_embedding[title_rows]
    if has.any():
        mean = (w[has, None] * titles.embeddings[title_rows[has]]).sum(axis=0)
        norm = float(np.linalg.norm(mean))
        if norm > 1e-12:
            cosine = np.clip(subset.embeddings @ (mean / norm).astype(np.float32), 0.0, 1.0)
            parts.append((blend.embedding, subset.scatter(cosine, n)))
    if cowatch is not None and cowatch.n_titles == n and (cowatch.degree[title_rows] > 0).any():
        co = np.clip(cowatch.scores(title_rows, w)[subset.rows] / total, 0.0, 1.0)
        parts.append((blend.cowatch, subset.scatter(co, n)))
    genre_query = w @ titles.genres[title_rows]
    gnorm = float(np.linalg.norm(genre_query))
    if gnorm > 0:
        genre = subset.genres_unit @ (genre_query / gnorm).astype(np.float32)
        parts.append((blend.genre, subset.scatter(genre, n)))
    if not parts:
        return np.zeros(n, dtype=np.float32)
    weight_sum = sum(p[0] for p in parts)
    out = sum(p[0] * p[1] for p in parts) / weight_sum
    return np.asarray(out, dtype=np.float32)
