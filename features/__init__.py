"""Marquee features layer: the ONE place ranking/ and ads/ read title and profile features from.

Training and serving use the same code: :func:`compute_profile_features` turns a viewing history
into :class:`ProfileFeatures` whether the history comes from the Parquet export (training) or from
the live event store (serving, through :class:`FeatureStore`).

Public API (import from ``features``)::

    from features import (
        TitleFeatures, build_title_features,          # per-title arrays, row i = title_ids[i]
        ProfileFeatures, ProfileFeatureConfig, compute_profile_features, histories_from_frame,
        FeatureStore,                                   # titles + live profiles, the serving entry point
        GENRES, LANGUAGES,                              # the affinity vocabularies (column order)
    )

Title features — :class:`TitleFeatures`, aligned arrays over ``n`` titles:

* ``title_ids`` (n,) and ``index`` (title_id -> row);
* ``embeddings`` (n, d) float32 unit rows (``embeddings.job.load_title_embeddings``), zero rows where
  ``has_embedding`` (n,) bool is False — callers must work without them (``d`` defaults to 384);
* ``genres`` (n, G) float32 multi-hot over :data:`GENRES`; ``languages`` (n, L) float32 multi-hot over
  :data:`LANGUAGES` (original language ∪ description languages);
* ``maturity_level`` (n,) int8 (0 kids .. 3 adults, ``data.normalize.MATURITY_LEVELS``);
* ``year`` (n,) float32 (NaN unknown) and ``recency`` (n,) float32 in [0, 1] (release age decay);
* ``event_count`` (n,) int64, ``popularity`` (n,) float32 = log1p(events), ``trend`` (n,) float32
  (recent-window event rate ÷ long-window rate, smoothed; 1.0 = steady) — computed from events up
  to ``as_of`` (default: the newest event). Title features are built at startup (and on
  :meth:`FeatureStore.refresh_titles`), not per request.

Profile features — :class:`ProfileFeatures` for one profile:

* ``history`` (h,) int64 title rows in time order (titles unknown to the catalog dropped),
  ``timestamps`` (h,) float64, ``weights`` (h,) float32 recency weights (newest = 1, halving every
  ``config.half_life_events`` events back);
* ``history_embedding`` (d,) float32: the recency-weighted mean of watched titles' embeddings,
  L2-normalised (zeros when no watched title has an embedding);
* ``genre_affinity`` (G,) and ``language_affinity`` (L,) float32, recency-weighted shares summing to 1
  (zeros for an empty history);
* activity: ``n_events`` (all events on catalog titles), ``n_titles`` (distinct titles among the last
  ``config.max_history`` events), ``events_recent`` (within ``config.recent_days`` of ``as_of``),
  ``activity_level`` = log1p(n_titles);
* the profile itself: ``maturity_level``, ``languages``, ``ui_language``, ``country``;
* ``last_seq``: the event-store sequence number the features reflect.

What the ranking model learns per profile is not stored here: the model's user tower reads
``history``/``weights`` (the same arrays in training and serving), so a brand-new profile needs no
retraining.

Freshness: :meth:`FeatureStore.profile_features` reads the profile's history from the event store on
every call (one indexed query) and caches by ``(profile_id, last_seq)``, so an event acknowledged by
``POST /v1/events`` is reflected by the NEXT request — the documented delay is zero requests.
"""

from features.profiles import (
    ProfileFeatureConfig,
    ProfileFeatures,
    compute_profile_features,
    histories_from_frame,
)
from features.store import FeatureStore
from features.titles import GENRES, LANGUAGES, TitleFeatures, build_title_features

__all__ = [
    "GENRES",
    "LANGUAGES",
    "FeatureStore",
    "ProfileFeatureConfig",
    "ProfileFeatures",
    "TitleFeatures",
    "build_title_features",
    "compute_profile_features",
    "histories_from_frame",
]
