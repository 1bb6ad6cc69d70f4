"""Personalized search: re-rank a result list with the unified ranking model (the UniCoRn idea — one
model, the query as context).

The search engine supplies the query context as its result list and relevance scores; the ranker, asked
its SEARCH task (``ranking.model.Task``) with the result list as context (the mean content vector and
genres of the results in relevance order, :func:`ranking.tasks.results_context`), supplies how much this
profile wants each result. The two are blended on a common scale (per-list standardisation), so a
confident query (one clear winner) keeps its order and an ambiguous one ("comedy", "love") is ordered by
taste::

    final = z(relevance) + weight * z(model score | search task, query context)

``z`` standardises over the result list (mean 0, std 1; a constant list becomes 0).
A profile with no history gets the results unchanged (the model has nothing to add beyond
popularity, which the search engine already knows about). :class:`SearchReranker` is the typed
re-ranker services hands to the search engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from features.profiles import ProfileFeatures
from features.store import FeatureStore
from ranking.model import TrainedRanker
from ranking.tasks import results_context

__all__ = ["DEFAULT_WEIGHT", "Reranked", "SearchReranker", "blend", "personal_blend", "rerank"]

DEFAULT_WEIGHT = 2.0
"""Weight of the personal score; measured in ``marquee eval ranking`` (``unified.search``: the unified
model's MRR at w = 0.5, 1, 2)."""


@dataclass(frozen=True)
class Reranked:
    """The re-ranked list: title ids best first, with the blended and the personal scores."""

    title_ids: list[str]
    scores: np.ndarray  # (k,) float32 blended, descending
    personal: np.ndarray  # (k,) float32 model scores of the same titles
    personalized: bool


def _z(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    out = np.zeros(len(values), dtype=np.float64)
    if finite.sum() == 0:
        return out
    v = values[finite].astype(np.float64)
    std = v.std()
    out[finite] = (v - v.mean()) / std if std > 1e-12 else 0.0
    out[~finite] = -1e3  # unscorable by the model: after everything it could score
    return out


def blend(relevance: np.ndarray, personal: np.ndarray, weight: float = DEFAULT_WEIGHT) -> np.ndarray:
    """(k,) blended scores: z(relevance) + weight * z(personal) (see module docstring)."""
    relevance = np.asarray(relevance, dtype=np.float64)
    personal = np.asarray(personal, dtype=np.float64)
    if relevance.shape != personal.shape:
        raise ValueError(f"relevance has shape {relevance.shape}; expected the shape of personal {personal.shape}")
    return (_z(relevance) + weight * _z(personal)).astype(np.float32)


def personal_blend(
    title_ids: Sequence[str],
    relevance: Sequence[float] | np.ndarray,
    profile: ProfileFeatures,
    ranker: TrainedRanker,
    *,
    weight: float = DEFAULT_WEIGHT,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(blended (k,), personal (k,), personalized?) aligned with ``title_ids``.

    A profile without history, ``weight == 0`` or an empty list gives ``relevance`` back unchanged."""
    ids = list(title_ids)
    rel = np.asarray(relevance, dtype=np.float64)
    if len(ids) != len(rel):
        raise ValueError(f"{len(ids)} title ids and {len(rel)} relevance scores; expected one score per title")
    personal = np.full(len(ids), -np.inf, dtype=np.float32)
    if not ids or len(profile.history) == 0 or weight == 0:
        return rel.astype(np.float32), personal, False
    if ranker.titles is None:
        raise RuntimeError("personal_blend: the ranker is not bound to title features")
    rows = ranker.titles.rows(ids)
    known = rows >= 0
    if known.any():
        by_relevance = rows[np.argsort(-rel, kind="stable")]
        context = results_context(ranker.titles, by_relevance[by_relevance >= 0])
        personal[known] = ranker.score_rows(profile, rows[known], context)
    return blend(rel, np.where(np.isfinite(personal), personal, np.nan), weight), personal, True


def rerank(
    title_ids: Sequence[str],
    relevance: Sequence[float] | np.ndarray,
    profile: ProfileFeatures,
    ranker: TrainedRanker,
    *,
    weight: float = DEFAULT_WEIGHT,
) -> Reranked:
    """Re-rank search results ``title_ids`` (with the engine's ``relevance``, higher = better) for
    ``profile``. Titles the ranker cannot score come after the scored ones, in relevance order.
    Stable: ties keep the engine's order."""
    ids = list(title_ids)
    scores, personal, personalized = personal_blend(ids, relevance, profile, ranker, weight=weight)
    order = np.argsort(-scores.astype(np.float64), kind="stable")
    return Reranked([ids[i] for i in order], scores[order], personal[order], personalized)


class SearchReranker:
    """Personal re-ranking for search (it satisfies ``search.engine.Reranker``; services wires it in).

    ``features`` and ``ranker`` return the shared ``features.FeatureStore`` and ``TrainedRanker``
    when they exist, ``None`` before: search may start before them, so they are read at call time.
    While either is missing, or for a profile without history, the scores come back unchanged.
    Profile features are read live: a new event counts on the next search.
    """

    def __init__(self, features: Callable[[], FeatureStore | None], ranker: Callable[[], TrainedRanker | None],
                 *, weight: float = DEFAULT_WEIGHT) -> None:  # fmt: skip
        self._features = features
        self._ranker = ranker
        self.weight = weight
        self._lock = threading.Lock()

    def rerank(self, profile_id: str, title_ids: Sequence[str], scores: np.ndarray) -> np.ndarray:
        """``(m,)`` blended scores for ``title_ids`` (``(m,)``) and their fused ``scores`` (``(m,)``)."""
        features = self._features()
        ranker = self._ranker()
        if features is None or ranker is None:
            return scores
        if ranker.titles is not features.titles:
            with self._lock:
                if ranker.titles is not features.titles:
                    ranker.bind(features.titles)
        blended, _, personalized = personal_blend(title_ids, scores, features.profile_features(profile_id),
                                                  ranker, weight=self.weight)  # fmt: skip
        return blended if personalized else scores
