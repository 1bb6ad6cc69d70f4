"""Title features: aligned per-title arrays computed from the catalog, the events and title embeddings.

Shapes: ``n`` titles, ``d`` embedding dimension, ``G`` = len(GENRES), ``L`` = len(LANGUAGES).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.catalog import as_lists
from data.normalize import GENRES

LANGUAGES: tuple[str, ...] = (
    "en", "fr", "es", "de", "it", "pt", "pl", "da", "nl", "sv", "no", "fi", "ru", "ja", "ko", "zh", "hi",
    "ar", "tr", "other",
)  # fmt: skip
"""Language vocabulary of the affinity vectors; anything else counts as ``other``."""
_LANGUAGE_ALIASES = {"cn": "zh", "nb": "no", "nn": "no"}
DEFAULT_DIM = 384
SECONDS_PER_DAY = 86_400.0

__all__ = ["DEFAULT_DIM", "GENRES", "LANGUAGES", "TitleFeatures", "build_title_features", "language_slot"]


def language_slot(language: str) -> int:
    """Column of ``language`` in :data:`LANGUAGES` (``other`` for anything outside it)."""
    code = _LANGUAGE_ALIASES.get(language, language)
    try:
        return LANGUAGES.index(code)
    except ValueError:
        return LANGUAGES.index("other")


@dataclass(frozen=True)
class TitleFeatures:
    """Per-title feature arrays; row ``i`` describes ``title_ids[i]``. See ``features`` for the contract."""

    title_ids: list[str]
    embeddings: np.ndarray  # (n, d) float32, unit rows or zeros
    has_embedding: np.ndarray  # (n,) bool
    genres: np.ndarray  # (n, G) float32 multi-hot
    languages: np.ndarray  # (n, L) float32 multi-hot
    maturity_level: np.ndarray  # (n,) int8
    year: np.ndarray  # (n,) float32, NaN unknown
    recency: np.ndarray  # (n,) float32 in [0, 1]
    event_count: np.ndarray  # (n,) int64
    popularity: np.ndarray  # (n,) float32 log1p(event_count)
    trend: np.ndarray  # (n,) float32, 1.0 = steady
    as_of: float  # unix seconds the event-based columns are computed at
    index: dict[str, int] = field(default_factory=dict, repr=False)
    catalog_prior: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """(n,) float32 in [0, 1]: popularity known without viewing events (TMDB votes and popularity
    percentiles); 0 where the catalog has neither. Empty in the constructor means all zeros."""
    added_recency: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """(n,) float32 in [0, 1]: 0.5 ** (years since the catalog added the title (Netflix date_added) / 2);
    0 where unknown. Empty in the constructor means all zeros."""

    def __post_init__(self) -> None:
        if not self.index:
            self.index.update({t: i for i, t in enumerate(self.title_ids)})
        n = len(self.title_ids)
        for name in ("catalog_prior", "added_recency"):
            if len(getattr(self, name)) == 0 and n:
                object.__setattr__(self, name, np.zeros(n, dtype=np.float32))
        for name in ("embeddings", "has_embedding", "genres", "languages", "maturity_level", "year", "recency",
                     "event_count", "popularity", "trend", "catalog_prior", "added_recency"):  # fmt: skip
            if len(getattr(self, name)) != n:
                raise ValueError(f"TitleFeatures.{name} has {len(getattr(self, name))} rows; expected {n}")

    def __len__(self) -> int:
        return len(self.title_ids)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def rows(self, title_ids: Iterable[str]) -> np.ndarray:
        """Row numbers of ``title_ids`` (int64, (k,)); -1 for ids unknown here."""
        return np.array([self.index.get(t, -1) for t in title_ids], dtype=np.int64)

    def numeric(self) -> np.ndarray:
        """Dense side features for models, (n, 4 + G + L) float32:
        [popularity, log1p(trend), recency, maturity_level/3, genres…, languages…]."""
        return np.concatenate([
            self.popularity[:, None], np.log1p(self.trend)[:, None], self.recency[:, None],
            (self.maturity_level.astype(np.float32) / 3.0)[:, None], self.genres, self.languages,
        ], axis=1).astype(np.float32)  # fmt: skip


def build_title_features(
    titles: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    embeddings: tuple[Sequence[str], np.ndarray] | None = None,
    as_of: float | None = None,
    trend_window_days: float = 30.0,
    trend_baseline_days: float = 365.0,
    recency_half_life_years: float = 10.0,
    dim: int = DEFAULT_DIM,
) -> TitleFeatures:
    """Compute :class:`TitleFeatures` for every row of ``titles`` (the catalog's titles table).

    ``events``: frame with ``title_id`` and ``timestamp`` (unix s) columns — the catalog history or an
    event-store export; events after ``as_of`` are ignored (no future leaks into training features).
    ``as_of`` defaults to the newest event (or now when there are none). ``embeddings``: ``(title_ids,
    vectors (m, d))`` from ``embeddings.job.load_title_embeddings``; titles outside it get zero rows.
    Trend = (events in the last ``trend_window_days`` per day + 1/baseline) ÷ (events in the last
    ``trend_baseline_days`` per day + 1/baseline).
    """
    ids = titles["title_id"].astype(str).tolist()
    n = len(ids)
    index = {t: i for i, t in enumerate(ids)}

    genre_col = {g: j for j, g in enumerate(GENRES)}
    genres = np.zeros((n, len(GENRES)), dtype=np.float32)
    languages = np.zeros((n, len(LANGUAGES)), dtype=np.float32)
    orig = titles["original_language"] if "original_language" in titles else pd.Series([None] * n)
    desc = titles["description_languages"] if "description_languages" in titles else pd.Series([None] * n)
    for i, (gs, lang, dls) in enumerate(zip(titles.get("genres", pd.Series([None] * n)), orig, desc, strict=True)):
        for g in as_lists(gs):
            if g in genre_col:
                genres[i, genre_col[g]] = 1.0
        langs = {x for x in as_lists(dls) if x}
        if isinstance(lang, str) and lang:
            langs.add(lang)
        for x in langs:
            languages[i, language_slot(x)] = 1.0

    maturity = (titles["maturity_level"].fillna(3).astype(np.int8).to_numpy() if "maturity_level" in titles
                else np.full(n, 3, dtype=np.int8))  # fmt: skip
    year = (pd.to_numeric(titles["year"], errors="coerce").astype("float32").to_numpy() if "year" in titles
            else np.full(n, np.nan, dtype=np.float32))  # fmt: skip

    counts: np.ndarray = np.zeros(n, dtype=np.int64)
    recent: np.ndarray = np.zeros(n, dtype=np.float64)
    baseline: np.ndarray = np.zeros(n, dtype=np.float64)
    if events is not None and len(events):
        ts = events["timestamp"].astype("float64").to_numpy()
        as_of = float(ts.max()) if as_of is None else float(as_of)
        rows = events["title_id"].map(index).to_numpy()
        keep = ~pd.isna(rows) & (ts <= as_of)
        rows = rows[keep].astype(np.int64)
        age_days = (as_of - ts[keep]) / SECONDS_PER_DAY
        counts = np.bincount(rows, minlength=n).astype(np.int64)
        recent = np.bincount(rows, weights=(age_days <= trend_window_days).astype(float), minlength=n)
        baseline = np.bincount(rows, weights=(age_days <= trend_baseline_days).astype(float), minlength=n)
    elif as_of is None:
        import time

        as_of = time.time()
    prior = 1.0 / trend_baseline_days
    trend = ((recent / trend_window_days + prior) / (baseline / trend_baseline_days + prior)).astype(np.float32)

    as_of_year = 1970.0 + float(as_of) / (365.25 * SECONDS_PER_DAY)
    age_years = np.clip(as_of_year - np.nan_to_num(year, nan=-np.inf), 0.0, None)
    recency = np.where(np.isnan(year), 0.0, 0.5 ** (age_years / recency_half_life_years)).astype(np.float32)

    if embeddings is not None:
        emb_ids, vectors = embeddings
        vectors = np.asarray(vectors, dtype=np.float32)
        dim = int(vectors.shape[1])
        emb = np.zeros((n, dim), dtype=np.float32)
        has = np.zeros(n, dtype=bool)
        src = np.array([index.get(str(t), -1) for t in emb_ids], dtype=np.int64)
        ok = src >= 0
        norms = np.linalg.norm(vectors[ok], axis=1, keepdims=True)
        emb[src[ok]] = vectors[ok] / np.maximum(norms, 1e-12)
        has[src[ok]] = norms[:, 0] > 0
    else:
        emb = np.zeros((n, dim), dtype=np.float32)
        has = np.zeros(n, dtype=bool)

    catalog_prior = np.zeros(n, dtype=np.float64)
    for column in ("vote_count", "popularity"):  # TMDB columns: no MovieLens ratings, so no evaluation leak
        if column in titles:
            values = pd.to_numeric(titles[column], errors="coerce").to_numpy(dtype=np.float64)
            known = np.isfinite(values) & (values > 0)
            if known.any():
                ranks = pd.Series(values[known]).rank(method="average").to_numpy()
                part = np.zeros(n)
                part[known] = ranks / known.sum()
                catalog_prior = np.maximum(catalog_prior, part)
    added_recency = np.zeros(n, dtype=np.float32)
    if "date_added" in titles:
        added = pd.to_datetime(titles["date_added"], errors="coerce", utc=True)
        seconds = np.array([t.timestamp() if not pd.isna(t) else np.nan for t in added], dtype=np.float64)
        age_years = np.clip((float(as_of) - seconds) / (365.25 * SECONDS_PER_DAY), 0.0, None)
        added_recency = np.where(np.isnan(seconds), 0.0, 0.5 ** (age_years / 2.0)).astype(np.float32)

    return TitleFeatures(
        title_ids=ids, embeddings=emb, has_embedding=has, genres=genres, languages=languages,
        maturity_level=maturity, year=year, recency=recency, event_count=counts,
        popularity=np.log1p(counts).astype(np.float32), trend=trend, as_of=float(as_of), index=index,
        catalog_prior=catalog_prior.astype(np.float32), added_recency=added_recency,
    )  # fmt: skip
