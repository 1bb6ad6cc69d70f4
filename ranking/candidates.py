"""Candidate generation: the titles worth ranking for a profile, from four sources.

* **ANN** over the profile's history embedding (FAISS via ``embeddings.index.build_index`` on the
  title embeddings; skipped when there are none);
* **co-watch** neighbours of the most recent titles (cosine over who-watched-what, top
  ``neighbors`` per title, precomputed);
* **popular** (event count) and **trending** (trend × log popularity) titles;
* a profile with no history gets a **cold-start** set: popular and trending titles in the profile's
  languages first, then the rest.

Every source respects the profile's maturity ceiling (a title's level must be <= the profile's) and
skips titles already watched. Candidates keep the sources that proposed them.

Shapes: ``n`` titles (rows of ``TitleFeatures``), ``m`` candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.profiles import ProfileFeatures
from features.titles import TitleFeatures, language_slot

__all__ = ["CandidateConfig", "CandidateGenerator", "Candidates", "CoWatchIndex"]


@dataclass(frozen=True)
class CandidateConfig:
    ann: int = 200
    cowatch_seeds: int = 10
    cowatch_per_seed: int = 30
    popular: int = 100
    trending: int = 50


@dataclass(frozen=True)
class Candidates:
    """Candidate title rows (m,) int64 in discovery order, with the sources of each."""

    rows: np.ndarray
    sources: dict[int, tuple[str, ...]]

    def __len__(self) -> int:
        return len(self.rows)


class CoWatchIndex:
    """Top ``neighbors`` co-watched titles of every title (cosine of the binary profile x title matrix)."""

    def __init__(self, neighbors: np.ndarray, scores: np.ndarray) -> None:
        self.neighbors = neighbors  # (n, k) int64, -1 padded
        self.scores = scores  # (n, k) float32

    @classmethod
    def build(cls, titles: TitleFeatures, history: pd.DataFrame, *, neighbors: int = 50) -> CoWatchIndex:
        """From a frame with ``profile_id`` and ``title_id`` columns (events or an export)."""
        import scipy.sparse as sp

        n = len(titles)
        rows = titles.rows(history["title_id"].astype(str))
        keep = rows >= 0
        users = pd.factorize(history["profile_id"].astype(str)[keep])[0]
        x = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (users, rows[keep])),
                          shape=(int(users.max()) + 1 if len(users) else 0, n))  # fmt: skip
        x.data[:] = 1.0
        x.sum_duplicates()
        x.data[:] = 1.0
        co = (x.T @ x).tocsr()
        counts = np.asarray(x.sum(axis=0)).ravel()
        out_n = np.full((n, neighbors), -1, dtype=np.int64)
        out_s = np.zeros((n, neighbors), dtype=np.float32)
        norms = np.sqrt(np.maximum(counts, 1.0))
        for i in np.flatnonzero(counts > 0):
            start, end = co.indptr[i], co.indptr[i + 1]
            cols, vals = co.indices[start:end], co.data[start:end]
            mask = cols != i
            cols, vals = cols[mask], vals[mask] / (norms[i] * norms[cols[mask]])
            top = np.argsort(-vals, kind="stable")[:neighbors]
            out_n[i, : len(top)] = cols[top]
            out_s[i, : len(top)] = vals[top]
        return cls(out_n, out_s)


class CandidateGenerator:
    """Union of ANN, co-watch, popular and trending candidates (see module docstring)."""

    def __init__(self, titles: TitleFeatures, cowatch: CoWatchIndex, *, ann_index: Any | None = None,
                 config: CandidateConfig | None = None) -> None:  # fmt: skip
        self.titles = titles
        self.cowatch = cowatch
        self.ann_index = ann_index
        self.config = config or CandidateConfig()
        self._popular = np.argsort(-titles.popularity, kind="stable")
        trending = titles.trend * titles.popularity
        self._trending = np.argsort(-trending, kind="stable")

    @classmethod
    def build(cls, titles: TitleFeatures, history: pd.DataFrame, *, config: CandidateConfig | None = None,
              use_ann: bool = True) -> CandidateGenerator:  # fmt: skip
        """Co-watch index from ``history``; an ANN index over the titles that have embeddings."""
        ann = None
        if use_ann and titles.has_embedding.any():
            from embeddings.index import build_index

            rows = np.flatnonzero(titles.has_embedding)
            ann = build_index(titles.embeddings[rows], rows.astype(np.int64))
        return cls(titles, CoWatchIndex.build(titles, history), ann_index=ann, config=config)

    def generate(self, profile: ProfileFeatures, *, allowed: np.ndarray | None = None) -> Candidates:
        """Candidates for ``profile``; ``allowed`` (n,) bool narrows the catalog (e.g. a row's filter)."""
        n = len(self.titles)
        ok = self.titles.maturity_level <= profile.maturity_level
        if allowed is not None:
            ok = ok & np.asarray(allowed, dtype=bool)
        if len(profile.history):
            ok[profile.history] = False
        found: dict[int, list[str]] = {}

        def add(rows: np.ndarray, source: str, limit: int) -> None:
            taken = 0
            for r in rows:
                r = int(r)
                if r < 0 or r >= n or not ok[r]:
                    continue
                found.setdefault(r, []).append(source)
                taken += 1
                if taken >= limit:
                    break

        c = self.config
        if len(profile.history):
            if self.ann_index is not None and np.abs(profile.history_embedding).sum() > 0:
                _, ids = self.ann_index.search(profile.history_embedding[None, :].astype(np.float32),
                                               c.ann + len(profile.history))  # fmt: skip
                add(ids[0], "ann", c.ann)
            recent = list(dict.fromkeys(profile.history[::-1].tolist()))[: c.cowatch_seeds]
            for seed in recent:
                add(self.cowatch.neighbors[seed], "cowatch", c.cowatch_per_seed)
            add(self._popular, "popular", c.popular)
            add(self._trending, "trending", c.trending)
        else:
            slots = [language_slot(x) for x in profile.languages]
            speaks = self.titles.languages[:, slots].sum(axis=1) > 0 if slots else np.zeros(n, dtype=bool)
            add(self._popular[speaks[self._popular]], "cold-start", c.popular)
            add(self._trending[speaks[self._trending]], "cold-start", c.trending)
            add(self._popular, "popular", c.popular)
            add(self._trending, "trending", c.trending)
        rows = np.fromiter(found.keys(), dtype=np.int64, count=len(found))
        return Candidates(rows, {r: tuple(dict.fromkeys(s)) for r, s in found.items()})
