"""The response model: P(complete) and P(click) of an ad in a slot, from the shared features.

Two logistic regressions (one per head) over one explicit feature vector ``x`` per (request, ad,
position), laid out in blocks (``G`` genres of ``data.normalize.GENRES``, ``K`` top-level IAB ad
categories of :data:`CATEGORIES`, ``D`` = 9 device types, ``H`` hashed id buckets):

====================  =======  ================================================================
block                 width    value
====================  =======  ================================================================
bias                  1        1
device                D        one-hot OpenRTB device type (0 = unknown)
hour                  6        one-hot 4-hour bucket of the request's UTC hour
duration              6        one-hot ad length bucket (<=6, <=10, <=15, <=20, <=30, >30 s)
position              5        one-hot position in the pod (0..3, 4+)
personalized          1        1 when profile features were allowed (privacy regime)
activity              1        profile ``activity_level`` / 5 (0 when not personalized)
affinity × category   G·K      profile ``genre_affinity`` in the ad category's column
title genre × cat.    G·K      watched title's genre multi-hot in the ad category's column
device × category     D·K      1 in (device, ad category)
content similarity    1        cosine(title embedding, line item brief embedding)
has brief             1        1 when both embeddings exist
viewer similarity     1        cosine(profile history embedding, brief embedding)
hashed ids            H        signed hashes of creative, advertiser and line item ids
====================  =======  ================================================================

Training (:func:`train_response_model`) builds the sparse design matrix with :func:`design_matrix`;
serving (:meth:`ResponseModel.predict`) computes the same ``w · x`` by blocks, vectorized over
candidates (a test checks the two agree). An untrained model (:meth:`ResponseModel.prior`) predicts
the base rates for everything, so selection degrades to price order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ads.errors import ModelFormatError
from ads.hashing import fit_logistic, hash_token, sigmoid
from data.normalize import GENRES

CATEGORIES: tuple[str, ...] = tuple(f"IAB{i}" for i in range(1, 27)) + ("other",)
N_DEVICE = 9
N_HOUR = 6
DURATION_EDGES: tuple[int, ...] = (6, 10, 15, 20, 30)
N_DURATION = len(DURATION_EDGES) + 1
N_POSITION = 5
HASH_BUCKETS = 1024
G = len(GENRES)
K = len(CATEGORIES)
HEADS: tuple[str, ...] = ("complete", "click")
_CATEGORY_INDEX = {c: i for i, c in enumerate(CATEGORIES)}


def _layout() -> dict[str, tuple[int, int]]:
    widths = [("bias", 1), ("device", N_DEVICE), ("hour", N_HOUR), ("duration", N_DURATION),
              ("position", N_POSITION), ("personalized", 1), ("activity", 1), ("affinity_cat", G * K),
              ("genre_cat", G * K), ("device_cat", N_DEVICE * K), ("content_sim", 1), ("has_brief", 1),
              ("viewer_sim", 1), ("hashed", HASH_BUCKETS)]  # fmt: skip
    out, offset = {}, 0
    for name, width in widths:
        out[name] = (offset, width)
        offset += width
    return out


LAYOUT = _layout()
N_FEATURES = sum(w for _, w in LAYOUT.values())


def category_index(category: str) -> int:
    """Column of a top-level IAB category ('IAB8' -> 7); 'other' for anything else."""
    return _CATEGORY_INDEX.get(category, K - 1)


def duration_bucket(duration_s: float) -> int:
    return int(np.searchsorted(DURATION_EDGES, duration_s, side="left"))


def device_index(device_type: int | None) -> int:
    return int(device_type) if device_type is not None and 0 < int(device_type) < N_DEVICE else 0


def hour_bucket(hour: int) -> int:
    return int(hour) % 24 // 4


@dataclass(frozen=True)
class ModelContext:
    """Request-side inputs. Arrays: ``genre_affinity`` (G,) (zeros unless personalized),
    ``content_genres`` (G,) multi-hot of the watched title."""

    device_type: int | None
    hour: int
    personalized: bool
    activity_level: float
    genre_affinity: np.ndarray
    content_genres: np.ndarray


@dataclass(frozen=True)
class ModelCandidate:
    """Ad-side inputs for one (line item, creative)."""

    line_item_id: str
    creative_id: str
    advertiser_id: str
    category: str  # top-level IAB, e.g. 'IAB8'
    duration_s: int
    content_similarity: float = 0.0
    viewer_similarity: float = 0.0
    has_brief: bool = False


def id_tokens(candidate: ModelCandidate) -> list[str]:
    return [f"cr:{candidate.creative_id}", f"adv:{candidate.advertiser_id}", f"li:{candidate.line_item_id}"]


def design_matrix(rows: Sequence[tuple[ModelContext, ModelCandidate, int]]) -> sp.csr_matrix:
    """(n, N_FEATURES) CSR of ``x`` for (context, candidate, position) rows (the training path)."""
    indptr = [0]
    cols: list[int] = []
    vals: list[float] = []
    o = {k: v[0] for k, v in LAYOUT.items()}
    for ctx, cand, pos in rows:
        dev = device_index(ctx.device_type)
        cat = category_index(cand.category)
        entries = [(o["bias"], 1.0), (o["device"] + dev, 1.0), (o["hour"] + hour_bucket(ctx.hour), 1.0),
                   (o["duration"] + duration_bucket(cand.duration_s), 1.0),
                   (o["position"] + min(pos, N_POSITION - 1), 1.0),
                   (o["device_cat"] + dev * K + cat, 1.0)]  # fmt: skip
        if ctx.personalized:
            entries.append((o["personalized"], 1.0))
            entries.append((o["activity"], ctx.activity_level / 5.0))
            for g in np.flatnonzero(ctx.genre_affinity):
                entries.append((o["affinity_cat"] + int(g) * K + cat, float(ctx.genre_affinity[g])))
        for g in np.flatnonzero(ctx.content_genres):
            entries.append((o["genre_cat"] + int(g) * K + cat, float(ctx.content_genres[g])))
        if cand.has_brief:
            entries.append((o["content_sim"], cand.content_similarity))
            entries.append((o["has_brief"], 1.0))
        if ctx.personalized and cand.viewer_similarity:
            entries.append((o["viewer_sim"], cand.viewer_similarity))
        for token in id_tokens(cand):
            c, s = hash_token(token, HASH_BUCKETS)
            entries.append((o["hashed"] + c, s))
        for c, v in entries:
            cols.append(c)
            vals.append(v)
        indptr.append(len(cols))
    m = sp.csr_matrix((np.array(vals, np.float64), np.array(cols, np.int64), np.array(indptr, np.int64)),
                      shape=(len(rows), N_FEATURES))  # fmt: skip
    m.sum_duplicates()
    return m


@dataclass(frozen=True)
class PreparedCandidates:
    """Per-candidate parts of the logit that do not depend on the request, for fast serving.

    ``category`` (n,) int column, ``static`` (n, 2) logit contributions of duration and hashed ids."""

    category: np.ndarray
    static: np.ndarray


class ResponseModel:
    """Two logistic heads over :data:`LAYOUT`: ``weights`` (N_FEATURES, 2), columns ``HEADS``.

    ``base_rates`` (2,) are the mean training labels; the selector divides a predicted goal
    probability by its base rate to get a quality multiplier around 1.
    """

    def __init__(self, weights: np.ndarray, base_rates: np.ndarray, *, metadata: dict | None = None) -> None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (N_FEATURES, len(HEADS)):
            raise ModelFormatError(f"weights shape {weights.shape}: expected ({N_FEATURES}, {len(HEADS)})")
        self.weights = weights
        self.base_rates = np.asarray(base_rates, dtype=np.float64)
        self.metadata = dict(metadata or {})
        o = {k: v for k, v in LAYOUT.items()}

        def block(name: str) -> np.ndarray:
            start, width = o[name]
            return weights[start : start + width]

        self._bias = block("bias")[0]
        self._device = block("device")
        self._hour = block("hour")
        self._duration = block("duration")
        self._position = block("position")
        self._personalized = block("personalized")[0]
        self._activity = block("activity")[0]
        self._affinity_cat = block("affinity_cat").reshape(G, K, 2)
        self._genre_cat = block("genre_cat").reshape(G, K, 2)
        self._device_cat = block("device_cat").reshape(N_DEVICE, K, 2)
        self._content_sim = block("content_sim")[0]
        self._has_brief = block("has_brief")[0]
        self._viewer_sim = block("viewer_sim")[0]
        self._hashed = block("hashed")

    @classmethod
    def prior(cls, complete_rate: float = 0.7, click_rate: float = 0.01) -> ResponseModel:
        """An untrained model predicting the given base rates everywhere."""
        w = np.zeros((N_FEATURES, len(HEADS)))
        rates = np.array([complete_rate, click_rate])
        w[LAYOUT["bias"][0]] = np.log(rates / (1 - rates))
        return cls(w, rates, metadata={"trained": False})

    @property
    def trained(self) -> bool:
        return bool(self.metadata.get("trained", True))

    def prepare(self, candidates: Sequence[ModelCandidate]) -> PreparedCandidates:
        """Precompute the request-independent parts for ``candidates``."""
        n = len(candidates)
        category = np.array([category_index(c.category) for c in candidates], dtype=np.int64)
        static = np.zeros((n, 2))
        for i, c in enumerate(candidates):
            static[i] += self._duration[duration_bucket(c.duration_s)]
            for token in id_tokens(c):
                col, sign = hash_token(token, HASH_BUCKETS)
                static[i] += sign * self._hashed[col]
        return PreparedCandidates(category, static)

    def logits(self, ctx: ModelContext, prepared: PreparedCandidates, content_similarity: np.ndarray,
               viewer_similarity: np.ndarray, has_brief: np.ndarray, positions: int) -> np.ndarray:  # fmt: skip
        """(n, positions, 2) logits for every candidate at positions 0..positions-1.

        ``content_similarity``, ``viewer_similarity`` (n,) float and ``has_brief`` (n,) bool line up with
        ``prepared``; viewer similarity is ignored unless ``ctx.personalized``."""
        dev = device_index(ctx.device_type)
        base = self._bias + self._device[dev] + self._hour[hour_bucket(ctx.hour)]
        by_cat = np.einsum("g,gkh->kh", ctx.content_genres.astype(np.float64), self._genre_cat)
        by_cat = by_cat + self._device_cat[dev]
        if ctx.personalized:
            base = base + self._personalized + self._activity * (ctx.activity_level / 5.0)
            by_cat = by_cat + np.einsum("g,gkh->kh", ctx.genre_affinity.astype(np.float64), self._affinity_cat)
        brief = has_brief.astype(np.float64)[:, None]
        per_cand = (base[None, :] + by_cat[prepared.category] + prepared.static
                    + brief * (self._content_sim[None, :] * content_similarity[:, None] + self._has_brief[None, :]))  # fmt: skip
        if ctx.personalized:
            per_cand = per_cand + self._viewer_sim[None, :] * viewer_similarity[:, None]
        pos = self._position[np.minimum(np.arange(positions), N_POSITION - 1)]  # (P, 2)
        return per_cand[:, None, :] + pos[None, :, :]

    def predict(self, ctx: ModelContext, prepared: PreparedCandidates, content_similarity: np.ndarray,
                viewer_similarity: np.ndarray, has_brief: np.ndarray, positions: int) -> np.ndarray:  # fmt: skip
        """(n, positions, 2) probabilities [P(complete), P(click)] (see :meth:`logits`)."""
        return sigmoid(self.logits(ctx, prepared, content_similarity, viewer_similarity, has_brief, positions))

    # ---------------------------------------------------------------- persistence

    def save(self, path: Path) -> Path:
        """Write ``path`` (.npz) atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {**self.metadata, "layout": {k: list(v) for k, v in LAYOUT.items()}, "categories": list(CATEGORIES),
                "genres": list(GENRES), "heads": list(HEADS)}  # fmt: skip
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, weights=self.weights, base_rates=self.base_rates, meta=np.array(json.dumps(meta)))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> ResponseModel:
        """Read a model written by :meth:`save`; ModelFormatError when the feature layout differs."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            expected = {k: list(v) for k, v in LAYOUT.items()}
            if meta.get("layout") != expected or meta.get("genres") != list(GENRES) or \
                    meta.get("categories") != list(CATEGORIES):  # fmt: skip
                raise ModelFormatError(f"{path}: feature layout differs from this version's; expected a model "
                                       "trained by this version (retrain with `marquee ads seed-demo --retrain`)")  # fmt: skip
            for key in ("layout", "categories", "genres", "heads"):
                meta.pop(key, None)
            return cls(data["weights"], data["base_rates"], metadata=meta)


def train_response_model(rows: Sequence[tuple[ModelContext, ModelCandidate, int]], completed: np.ndarray,
                         clicked: np.ndarray, *, l2: float = 1e-3, metadata: dict | None = None) -> ResponseModel:  # fmt: skip
    """Fit both heads on logged impressions: ``completed`` and ``clicked`` (n,) 0/1 labels."""
    x = design_matrix(rows)
    y = [np.asarray(completed, dtype=np.float64), np.asarray(clicked, dtype=np.float64)]
    weights = np.stack([fit_logistic(x, label, l2=l2) for label in y], axis=1)
    rates = np.array([label.mean() for label in y])
    return ResponseModel(weights, rates, metadata={"trained": True, "rows": len(rows), "l2": l2, **(metadata or {})})
