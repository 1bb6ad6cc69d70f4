"""Pseudo-queries for the search task of the unified ranker: one-word ambiguous queries over a title set.

A term is a genre (``genre:comedy``) or a word of a title's name (``word:love``: 3+ letters, no stop
words). ``rows_of[term]`` are the titles the query matches (its "results"), kept only when there are at
least ``min_results`` of them (an ambiguous query, where taste decides the order). The trainer draws
pseudo-queries from the next watched title's genres and title words (training users only); the
evaluation draws them the same way for held-out users' future watches. :func:`results_context` turns a
result list into the search task's context (the mean content vector and genres of the results), the
same way at training and at serving (``ranking.personalize``).

Shapes: ``n`` rows of ``features.TitleFeatures``, ``m`` results, ``c`` content dim, ``G`` genres.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from features.titles import GENRES, TitleFeatures
from ranking.model import RankingContext

__all__ = ["QueryTerms", "results_context", "title_words"]

_STOP = {"the", "a", "an", "of", "and", "in", "to", "on", "for", "la", "le", "les", "de", "el", "with", "part"}


def title_words(title: str) -> list[str]:
    """Lower-case words of 3+ letters of a title, without stop words."""
    return [w for w in re.findall(r"[a-z]{3,}", str(title).lower()) if w not in _STOP]


@dataclass(frozen=True)
class QueryTerms:
    """Ambiguous one-word queries over ``rows`` of a ``TitleFeatures`` (see the module docstring)."""

    rows_of: dict[str, np.ndarray]  # term -> (m,) int64 sorted title rows it matches
    terms_of: dict[int, list[str]]  # title row -> its terms (those kept), sorted

    @classmethod
    def build(cls, titles: TitleFeatures, names: Sequence[str], rows: np.ndarray, *, min_results: int = 20,
              words: bool = True) -> QueryTerms:  # fmt: skip
        """``names``: the display name of every row of ``titles`` (aligned); ``rows``: the titles searched."""
        if len(names) != len(titles):
            raise ValueError(f"{len(names)} names for {len(titles)} titles; expected one per title")
        found: dict[str, list[int]] = {}
        for row in np.asarray(rows, dtype=np.int64).tolist():
            terms = [f"genre:{GENRES[g]}" for g in np.flatnonzero(titles.genres[row] > 0) if g < len(GENRES)]
            if words:
                terms += [f"word:{w}" for w in set(title_words(names[row]))]
            for term in terms:
                found.setdefault(term, []).append(row)
        rows_of = {t: np.array(sorted(r), dtype=np.int64) for t, r in found.items() if len(r) >= min_results}
        terms_of: dict[int, list[str]] = {}
        for term in sorted(rows_of):
            for row in rows_of[term].tolist():
                terms_of.setdefault(row, []).append(term)
        return cls(rows_of, terms_of)


def results_context(titles: TitleFeatures, result_rows: np.ndarray, top: int = 50) -> RankingContext:
    """The search task's context for a result list (best first): the unit mean content vector and the mean
    genre vector of its first ``top`` results (those with an embedding for the vector)."""
    rows = np.asarray(result_rows, dtype=np.int64)[:top]
    rows = rows[rows >= 0]
    vector = np.zeros(titles.dim, dtype=np.float32)
    embedded = rows[titles.has_embedding[rows]] if len(rows) else rows
    if len(embedded):
        mean = titles.embeddings[embedded].mean(axis=0)
        norm = float(np.linalg.norm(mean))
        if norm > 1e-12:
            vector = (mean / norm).astype(np.float32)
    genres = titles.genres[rows].mean(axis=0) if len(rows) else np.zeros(titles.genres.shape[1], np.float32)
    return RankingContext.search(vector, genres)
