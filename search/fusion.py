"""Fusion of ranked retrieval channels (dense, names, content) into one ranking.

Each channel is a ranked list of candidate title positions with scores; :func:`fuse` returns the
union of the candidates with one fused score each, best first. The served method is ``linear``
(the :class:`FusionConfig` default): a weighted sum of per-channel normalised scores (0 where a
channel misses), BM25 divided by the channel's best score and cosine min-max normalised over the
channel's candidates (the plot channel's range counted as at least ``dense_span_floor``). Weighted
reciprocal rank fusion (``rrf``: ``sum_c w_c / (k + rank_c)``, rank from 1, ties sharing a rank:
:func:`competition_ranks`) is kept as the offline alternative.

The names channel (title and people BM25) is gated (:func:`gated_weights`): its weight is
multiplied by :func:`lexical_gate` of the query's lexical coverage (share of the query's IDF mass the best title or
name matches). A typed title or name has coverage near 1 and keeps its full weight; a rambling
description, or a query in a language or script the catalog's titles never use, has coverage near 0
and the names channel falls silent instead of adding same-language noise (DATA-NOTES: equal-weight
RRF with BM25 hurt cross-lingual queries). Conversely, as the gate opens the dense channel yields
part of its weight (``dense_yield``): for "tom hanks" the title starring Tom Hanks must beat a title
that is merely middling in both channels. Defaults were chosen on reddit-tomt train/validation
(``marquee eval search-tune``), never on a test split.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

__all__ = ["CHANNELS", "FusionConfig", "competition_ranks", "fuse", "gated_weights", "lexical_gate"]

CHANNELS: tuple[str, ...] = ("dense", "titles", "names", "content", "intent", "like")
FusionMethod = Literal["rrf", "linear"]


@dataclass(frozen=True)
class FusionConfig:
    """How the hybrid fuses its channels.

    Attributes:
        method: ``"rrf"`` or ``"linear"``.
        rrf_k: the RRF constant ``k``.
        weights: channel weight (``dense``, ``names``, ``content``); 0 drops a channel.
        gate_low / gate_high: coverage at or below ``gate_low`` silences the names channel, at or above
            ``gate_high`` gives it full weight; linear in between.
        dense_yield: share of the dense weight withdrawn as the gate opens: a query that *is* a
            title or a name (gate 1) is decided by the names channel, with dense breaking near-ties;
            a description-like query (gate 0) keeps the full dense weight.
        names_floor: the names channel only proposes titles scoring at least this share of its best
            score: for "tom hanks", every title with some Tom in its cast is not a candidate at all
            (rank fusion would otherwise reward a title merely middling in two channels).
        language_confidence: the query's language (:mod:`search.langid`) counts when the detector is
            at least this confident (0 disables: the language is never used). Then the content
            channel is weighted by the share of titles described in that language, and a query in
            a language with a centroid in the index is centred (:meth:`search.dense.DenseRetriever.centered`).
            Non-Latin scripts of one language are certain (1.0); short Latin queries often are not
            ("inception": en 0.41, fr 0.36), and an undecided language changes nothing. 0.4 keeps
            80% of short labelled texts at 98.8% precision (0.3: 90% at 97%, with English
            "robot city war" read as Polish; all: 92%; ``benchmarks/langid.py`` on description
            snippets, short queries and marquee-ml:dev).
        candidates: how many candidates each channel contributes (before fusion).
        prior: weight of the popularity prior added to every fused candidate's score (the catalog's
            popularity over its highest, 0..1; :meth:`search.engine.SearchEngine.fuse_retrieved`): among
            titles the query's text matches about equally, viewers mean the one people watch. 0
            disables; a "like <title>" query keeps the order "more like this" serves. Chosen on marquee-ml:dev from 0.1 / 0.3 (full scope hybrid Recall@10 0.616 ->
            0.637 / 0.643, MRR 0.523 -> 0.566 / 0.562; default scope R@10 0.703 -> 0.730, MRR 0.625 ->
            0.649 at 0.1); reddit-tomt:test checked not to fall.
        dense_span_floor: the plot channel's cosines are min-max normalised over a range of at least
            this much. Its candidates' cosines often span only 0.02-0.06 (median 0.035 on the full
            scope), and stretching a flat list to 0..1 let a guess outvote a clear lexical match: the
            French plot of La Haine was 5th in the content channel, nowhere in the plot channel's top
            1,000, and 52nd fused. A flatter list now speaks in proportion (a span of 0.02 weighs
            half). Chosen on marquee-ml:dev from 0.03 / 0.04 / 0.05 (full scope hybrid Recall@10 .692
            -> .698 / .704 / .694, MRR .596 -> .598 / .608 / .609; default scope .742 -> .742 /
            .750 / .743); reddit-tomt:validation MRR .128 -> .132 (default), .061 -> .060 (full).
            0 restores plain min-max.
    """

    method: FusionMethod = "linear"
    rrf_k: float = 60.0
    weights: Mapping[str, float] = field(default_factory=lambda: {"dense": 1.0, "titles": 0.5, "names": 1.0, "content": 1.0,
                                                                             "intent": 1.0, "like": 1.0})
    gate_low: float = 0.2
    gate_high: float = 0.6
    dense_yield: float = 0.8
    names_floor: float = 0.5
    language_confidence: float = 0.4
    candidates: int = 200
    prior: float = 0.1
    dense_span_floor: float = 0.04

    def __post_init__(self) -> None:
        if self.method not in ("rrf", "linear"):
            raise ValueError(f"fusion method {self.method!r} is unknown; expected 'rrf' or 'linear'")
        unknown = set(self.weights) - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown fusion channels {sorted(unknown)}; expected some of {CHANNELS}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError(f"channel weights must be >= 0; got {dict(self.weights)}")
        if not 0.0 <= self.gate_low <= self.gate_high <= 1.0:
            raise ValueError(f"expected 0 <= gate_low <= gate_high <= 1; got {self.gate_low}, {self.gate_high}")
        if not 0.0 <= self.language_confidence <= 1.0:
            raise ValueError(f"language_confidence must be in [0, 1]; got {self.language_confidence}")
        if not 0.0 <= self.names_floor <= 1.0:
            raise ValueError(f"names_floor must be in [0, 1]; got {self.names_floor}")
        if not 0.0 <= self.dense_yield <= 1.0:
            raise ValueError(f"dense_yield must be in [0, 1]; got {self.dense_yield}")
        if self.rrf_k <= 0:
            raise ValueError(f"rrf_k must be > 0; got {self.rrf_k}")
        if self.candidates < 1:
            raise ValueError(f"candidates must be >= 1; got {self.candidates}")
        if self.prior < 0:
            raise ValueError(f"prior must be >= 0; got {self.prior}")
        if not 0.0 <= self.dense_span_floor < 2.0:
            raise ValueError(f"dense_span_floor must be in [0, 2) (a cosine range); got {self.dense_span_floor}")

    def with_(self, **changes: object) -> FusionConfig:
        """A copy with some fields changed (``weights`` entries merge into the current ones)."""
        weights = changes.pop("weights", None)
        if isinstance(weights, Mapping):
            changes["weights"] = {**self.weights, **weights}
        return replace(self, **changes)  # type: ignore[arg-type]


def lexical_gate(coverage: float, low: float, high: float) -> float:
    """Multiplier in [0, 1] for the names channel: 0 at ``coverage <= low``, 1 at ``>= high``."""
    if coverage >= high:
        return 1.0
    if coverage <= low:
        return 0.0
    return float((coverage - low) / (high - low))


def competition_ranks(scores: np.ndarray) -> np.ndarray:
    """Ranks from 1 of best-first ``scores`` ``(c,)``, ties sharing the best rank ("1, 2, 2, 4").

    A lexical channel often ties dozens of titles (every title with a "Tom" in its cast); plain
    list positions would rank them 2..40 arbitrarily and let the first of them outrank better titles.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return s
    new_value = np.ones(s.size, dtype=bool)
    new_value[1:] = s[1:] != s[:-1]
    starts = np.flatnonzero(new_value)
    return (np.repeat(starts, np.diff(np.append(starts, s.size))) + 1).astype(np.float64)


def gated_weights(config: FusionConfig, coverage: float) -> tuple[dict[str, float], float]:
    """The effective channel weights for a query of lexical ``coverage``, and the gate value."""
    gate = lexical_gate(coverage, config.gate_low, config.gate_high)
    weights = {name: float(config.weights.get(name, 0.0)) for name in CHANNELS}
    weights["names"] *= gate
    weights["dense"] *= 1.0 - config.dense_yield * gate
    return weights, gate


def fuse(
    channels: Mapping[str, tuple[np.ndarray, np.ndarray]],
    weights: Mapping[str, float],
    config: FusionConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Fuse ranked channels.

    Args:
        channels: name -> (``positions`` ``(c,)`` int64 best first, ``scores`` ``(c,)`` float32).
        weights: effective channel weights (gates already applied); missing names weigh 0.
        config: method and ``rrf_k``.

    Returns:
        ``positions`` ``(m,)`` int64 (the union of the weighted channels' candidates) and ``scores``
        ``(m,)`` float64, sorted by descending fused score (ties: lower position first).
    """
    parts_pos: list[np.ndarray] = []
    parts_val: list[np.ndarray] = []
    for name, (positions, scores) in channels.items():
        weight = float(weights.get(name, 0.0))
        positions = np.asarray(positions, dtype=np.int64)
        if weight <= 0 or positions.size == 0:
            continue
        s = np.asarray(scores, dtype=np.float64)
        if config.method == "rrf":
            contrib = weight / (config.rrf_k + competition_ranks(s))
        else:
            hi = float(s.max())
            # BM25 has a natural zero (no match); a cosine does not: dense uses the list's minimum
            lo = float(s.min()) if name in ("dense", "titles", "like") else 0.0
            span = max(hi - lo, config.dense_span_floor) if name == "dense" else hi - lo
            contrib = weight * ((s - lo) / span if hi > lo else np.ones_like(s))
        parts_pos.append(positions)
        parts_val.append(contrib)
    if not parts_pos:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    all_pos = np.concatenate(parts_pos)
    unique, inverse = np.unique(all_pos, return_inverse=True)
    fused = np.bincount(inverse, weights=np.concatenate(parts_val), minlength=unique.size)
    order = np.lexsort((unique, -fused))
    return unique[order], fused[order]
