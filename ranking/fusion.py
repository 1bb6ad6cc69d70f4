"""Fusion of ranked retrieval channels (dense, names, content) into one ranking.

Two methods, one contract: each channel is a ranked list of candidate title positions with scores;
:func:`fuse` returns the union of the candidates with one fused score each, best first.

* ``rrf``: weighted reciprocal rank fusion, ``sum_c w_c / (k + rank_c)`` (rank from 1).
* ``linear``: weighted sum of per-channel min-max normalised scores (0 where a channel misses).

The names channel (title and people BM25) is gated: its weight is multiplied by
:func:`lexical_gate` of the query's lexical coverage (share of the query's IDF mass the best title or
name matches). A typed title or name has coverage near 1 and keeps its full weight; a rambling
description, or a query in a language or script the catalog's titles never use, has coverage near 0
and the names channel falls silent instead of adding same-language noise (DATA-NOTES: equal-weight
RRF with BM25 hurt cross-lingual queries). Defaults were chosen on reddit-tomt train/validation
(``marquee eval search-tune``), never on a test split.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

__all__ = ["CHANNELS", "FusionConfig", "fuse", "lexical_gate"]

CHANNELS: tuple[str, ...] = ("dense", "names", "content")
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
        candidates: how many candidates each channel contributes (before fusion).
    """

    method: FusionMethod = "rrf"
    rrf_k: float = 60.0
    weights: Mapping[str, float] = field(default_factory=lambda: {"dense": 1.0, "names": 1.0, "content": 0.25})
    gate_low: float = 0.2
    gate_high: float = 0.6
    candidates: int = 200

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
        if self.rrf_k <= 0:
            raise ValueError(f"rrf_k must be > 0; got {self.rrf_k}")
        if self.candidates < 1:
            raise ValueError(f"candidates must be >= 1; got {self.candidates}")

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
        if config.method == "rrf":
            contrib = weight / (config.rrf_k + np.arange(1, positions.size + 1, dtype=np.float64))
        else:
            s = np.asarray(scores, dtype=np.float64)
            lo, hi = float(s.min()), float(s.max())
            contrib = weight * ((s - lo) / (hi - lo) if hi > lo else np.ones_like(s))
        parts_pos.append(positions)
        parts_val.append(contrib)
    if not parts_pos:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    all_pos = np.concatenate(parts_pos)
    unique, inverse = np.unique(all_pos, return_inverse=True)
    fused = np.bincount(inverse, weights=np.concatenate(parts_val), minlength=unique.size)
    order = np.lexsort((unique, -fused))
    return unique[order], fused[order]
