"""Profile features: the same function for training (Parquet export) and serving (live event store).

Shapes: ``h`` history events kept, ``d`` embedding dimension, ``G``/``L`` vocabulary sizes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.events import History, Profile
from features.titles import SECONDS_PER_DAY, TitleFeatures

__all__ = ["ProfileFeatureConfig", "ProfileFeatures", "compute_profile_features", "histories_from_frame"]


@dataclass(frozen=True)
class ProfileFeatureConfig:
    """Knobs of :func:`compute_profile_features` (defaults documented in ``features``)."""

    half_life_events: float = 50.0
    """Recency weight halves every this many events back (event rank, not wall time: MovieLens users
    rate in bursts, so wall-clock decay would weigh a whole burst equally)."""
    max_history: int = 500
    """Keep at most this many most recent events (the model reads the last ``max_len`` of them)."""
    recent_days: float = 30.0


@dataclass(frozen=True)
class ProfileFeatures:
    """Features of one profile; see ``features`` for the contract of every field."""

    profile_id: str
    history: np.ndarray  # (h,) int64 title rows, oldest first
    timestamps: np.ndarray  # (h,) float64 unix s
    weights: np.ndarray  # (h,) float32, newest = 1
    history_embedding: np.ndarray  # (d,) float32 unit or zeros
    genre_affinity: np.ndarray  # (G,) float32, sums to 1 or 0
    language_affinity: np.ndarray  # (L,) float32, sums to 1 or 0
    n_events: int
    n_titles: int
    events_recent: int
    activity_level: float
    maturity_level: int = 3
    languages: tuple[str, ...] = ("en",)
    ui_language: str = "en"
    country: str | None = None
    last_seq: int = 0

    @property
    def watched(self) -> np.ndarray:
        """Distinct title rows in the history, (k,) int64 sorted."""
        return np.unique(self.history)


def compute_profile_features(
    history: History,
    titles: TitleFeatures,
    *,
    profile: Profile | None = None,
    as_of: float | None = None,
    config: ProfileFeatureConfig | None = None,
) -> ProfileFeatures:
    """Turn one profile's history into :class:`ProfileFeatures` (pure: no I/O).

    ``history`` events are taken in the given order (time order; the event store and
    :func:`histories_from_frame` both order by (timestamp, arrival)). Events on titles unknown to
    ``titles`` are dropped; events after ``as_of`` (default: no cut) are dropped.
    """
    config = config or ProfileFeatureConfig()
    rows = titles.rows(history.title_ids)
    ts = np.asarray(history.timestamps, dtype=np.float64)
    keep = rows >= 0
    if as_of is not None:
        keep &= ts <= as_of
    rows, ts = rows[keep], ts[keep]
    n_events = int(len(rows))
    rows, ts = rows[-config.max_history :], ts[-config.max_history :]
    h = len(rows)
    weights = (0.5 ** (np.arange(h - 1, -1, -1, dtype=np.float64) / config.half_life_events)).astype(np.float32)

    d = titles.dim
    if h:
        has = titles.has_embedding[rows]
        w_emb = weights * has
        emb = (w_emb[:, None] * titles.embeddings[rows]).sum(axis=0)
        norm = float(np.linalg.norm(emb))
        history_embedding = (emb / norm).astype(np.float32) if norm > 1e-12 else np.zeros(d, dtype=np.float32)
        genre = _share(weights @ titles.genres[rows])
        language = _share(weights @ titles.languages[rows])
    else:
        history_embedding = np.zeros(d, dtype=np.float32)
        genre = np.zeros(titles.genres.shape[1], dtype=np.float32)
        language = np.zeros(titles.languages.shape[1], dtype=np.float32)

    reference = as_of if as_of is not None else (float(ts[-1]) if h else 0.0)
    recent = int(np.sum(ts >= reference - config.recent_days * SECONDS_PER_DAY)) if h else 0
    n_titles = int(len(np.unique(rows)))
    profile = profile or Profile(history.profile_id)
    return ProfileFeatures(
        profile_id=history.profile_id, history=rows.astype(np.int64), timestamps=ts, weights=weights,
        history_embedding=history_embedding, genre_affinity=genre, language_affinity=language,
        n_events=n_events, n_titles=n_titles, events_recent=recent, activity_level=float(np.log1p(n_titles)),
        maturity_level=profile.maturity_level, languages=tuple(profile.languages),
        ui_language=profile.ui_language, country=profile.country, last_seq=history.last_seq,
    )  # fmt: skip


def _share(values: np.ndarray) -> np.ndarray:
    total = float(values.sum())
    return (values / total).astype(np.float32) if total > 0 else np.zeros_like(values, dtype=np.float32)


def histories_from_frame(events: pd.DataFrame, profile_ids: Sequence[str] | None = None) -> Iterator[History]:
    """Histories from an events frame (catalog ``read_events`` or ``read_event_export``), in the
    event store's order: by (timestamp, seq) when a ``seq`` column exists, else (timestamp, row order)."""
    frame = events
    if profile_ids is not None:
        frame = frame[frame["profile_id"].isin(set(profile_ids))]
    order = ["profile_id", "timestamp", "seq"] if "seq" in frame else ["profile_id", "timestamp"]
    frame = frame.sort_values(order, kind="stable")
    seq_col = frame["seq"].to_numpy() if "seq" in frame else None
    starts = np.flatnonzero(np.r_[True, frame["profile_id"].to_numpy()[1:] != frame["profile_id"].to_numpy()[:-1]])
    ends = np.r_[starts[1:], len(frame)]
    pids = frame["profile_id"].to_numpy()
    tids = frame["title_id"].astype(str).to_numpy()
    ts = frame["timestamp"].astype("float64").to_numpy()
    kinds = frame["kind"].astype(str).to_numpy()
    for s, e in zip(starts, ends, strict=True):
        if s == e:
            continue
        last = int(seq_col[s:e].max()) if seq_col is not None else 0
        yield History(str(pids[s]), tids[s:e].tolist(), ts[s:e], kinds[s:e].tolist(), last)
