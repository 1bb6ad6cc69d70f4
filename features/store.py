"""FeatureStore: title features built once, profile features computed online from the event store."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from data.events import EventStore, History, Profile, ProfileLookup
from features.profiles import ProfileFeatureConfig, ProfileFeatures, compute_profile_features
from features.titles import TitleFeatures, build_title_features

__all__ = ["FeatureStore"]


class FeatureStore:
    """The serving entry point for features (ranking/ and ads/ both read from here).

    ``profile_features(profile_id)`` reads the profile's history from ``events`` on every call and
    recomputes only when the profile's ``last_seq`` changed: an acknowledged event is visible on the
    next request. A profile with no events (or not in the store) gets empty-history features, which
    the ranker answers with its cold-start path.
    """

    def __init__(
        self,
        titles: TitleFeatures,
        events: EventStore,
        *,
        config: ProfileFeatureConfig | None = None,
        cache_size: int = 4096,
    ) -> None:
        self._titles = titles
        self.events = events
        self._profiles = ProfileLookup(events)
        self.config = config or ProfileFeatureConfig()
        self._cache: OrderedDict[str, tuple[int, Profile, ProfileFeatures]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @classmethod
    def build(
        cls,
        titles: pd.DataFrame,
        events: EventStore,
        *,
        history: pd.DataFrame | None = None,
        embeddings: tuple[Sequence[str], np.ndarray] | None = None,
        config: ProfileFeatureConfig | None = None,
    ) -> FeatureStore:
        """Build title features from the catalog ``titles`` frame and a ``history`` events frame
        (defaults to everything in ``events``, when it can export a frame)."""
        if history is None and hasattr(events, "events_frame"):
            history = events.events_frame()
        return cls(build_title_features(titles, history, embeddings=embeddings), events, config=config)

    @property
    def titles(self) -> TitleFeatures:
        return self._titles

    def refresh_titles(self, titles: pd.DataFrame, history: pd.DataFrame,
                       embeddings: tuple[Sequence[str], np.ndarray] | None = None) -> None:  # fmt: skip
        """Recompute popularity/trend (batch features) and swap them in atomically."""
        fresh = build_title_features(titles, history, embeddings=embeddings)
        with self._lock:
            self._titles = fresh
            self._cache.clear()

    def profile(self, profile_id: str) -> Profile:
        """The stored profile, or an adult English default for an id the store does not know
        (:class:`data.events.ProfileLookup`)."""
        return self._profiles.profile(profile_id)

    def profile_features(self, profile_id: str) -> ProfileFeatures:
        """Features of ``profile_id`` reflecting every event stored before this call."""
        seq = self.events.last_seq(profile_id)
        profile = self.profile(profile_id)
        with self._lock:
            cached = self._cache.get(profile_id)
            if cached is not None and cached[0] == seq and cached[1] == profile:
                self._cache.move_to_end(profile_id)
                return cached[2]
        # the whole history: n_events/activity must match what training computes from the export
        history = self.events.history(profile_id) if seq else History(profile_id, [], np.zeros(0), [], 0)
        features = compute_profile_features(history, self._titles, profile=profile, config=self.config)
        with self._lock:
            self._cache[profile_id] = (seq, profile, features)
            self._cache.move_to_end(profile_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return features

    def invalidate(self, profile_id: str) -> None:
        """Drop a cached profile (e.g. after its settings changed)."""
        with self._lock:
            self._cache.pop(profile_id, None)
