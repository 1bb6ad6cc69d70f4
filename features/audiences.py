"""Audiences for ad targeting, derived from the shared profile features (never from raw history).

An audience is a named rule over :class:`features.ProfileFeatures`: the summed genre affinity over a
set of genres reaching a threshold ("heavy sci-fi viewers" = sci-fi share of the recency-weighted
history >= 0.075), or an activity level. Thresholds sit near the 75th percentile of the 610 MovieLens
profiles of the bundled catalog (measured with ``compute_profile_features``: sci-fi share p50 0.051,
p75 0.072, p90 0.095; activity level p75 5.13), so each genre audience holds roughly the top quarter
of viewers for its genres.

Ads read audiences only in the personalized privacy regime; kids profiles and requests without
consent never get any (``ads.privacy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from data.normalize import GENRES

__all__ = ["AUDIENCES", "AudienceRule", "audiences_of", "audience_matrix"]


class _Profile(Protocol):
    """What an audience reads from :class:`features.ProfileFeatures`."""

    @property
    def genre_affinity(self) -> np.ndarray: ...  # (G,) float32 shares summing to 1 (or zeros)

    @property
    def activity_level(self) -> float: ...  # log1p(distinct titles watched)


@dataclass(frozen=True)
class AudienceRule:
    """Members: sum of ``genre_affinity`` over ``genres`` >= ``min_share`` and ``activity_level`` >=
    ``min_activity``. An empty genre set means the rule only reads activity."""

    description: str
    genres: tuple[str, ...] = ()
    min_share: float = 0.0
    min_activity: float = 0.0

    def __post_init__(self) -> None:
        unknown = [g for g in self.genres if g not in GENRES]
        if unknown:
            raise ValueError(f"AudienceRule genres {unknown!r}: expected names from data.normalize.GENRES")


AUDIENCES: dict[str, AudienceRule] = {
    "heavy-sci-fi-viewers": AudienceRule("sci-fi share >= 0.075", ("sci-fi",), 0.075),
    "horror-fans": AudienceRule("horror share >= 0.03", ("horror",), 0.03),
    "family-viewers": AudienceRule("children + family + animation share >= 0.10",
                                   ("children", "family", "animation"), 0.10),
    "documentary-viewers": AudienceRule("documentary + science-nature + history share >= 0.01",
                                        ("documentary", "science-nature", "history"), 0.01),
    "comedy-fans": AudienceRule("comedy + stand-up share >= 0.14", ("comedy", "stand-up"), 0.14),
    "action-fans": AudienceRule("action + adventure share >= 0.24", ("action", "adventure"), 0.24),
    "romance-fans": AudienceRule("romance share >= 0.085", ("romance",), 0.085),
    "crime-thriller-fans": AudienceRule("crime + thriller + mystery share >= 0.24",
                                        ("crime", "thriller", "mystery"), 0.24),
    "heavy-viewers": AudienceRule("activity level (log1p distinct titles) >= 5.0", (), 0.0, 5.0),
}  # fmt: skip
"""The audience catalogue line items may target (``targeting.audiences``)."""

_NAMES = tuple(AUDIENCES)
_MASK = np.array([[1.0 if g in r.genres else 0.0 for g in GENRES] for r in AUDIENCES.values()], dtype=np.float32)
_MIN_SHARE = np.array([r.min_share for r in AUDIENCES.values()], dtype=np.float32)
_MIN_ACTIVITY = np.array([r.min_activity for r in AUDIENCES.values()], dtype=np.float32)
_HAS_GENRES = _MASK.sum(axis=1) > 0


def audience_matrix(genre_affinity: np.ndarray, activity_level: np.ndarray) -> np.ndarray:
    """Membership of many profiles at once: (p, G) affinities and (p,) activity -> (p, A) bool, columns
    in ``AUDIENCES`` order. A profile with an all-zero affinity (no history) is in no genre audience."""
    affinity = np.atleast_2d(np.asarray(genre_affinity, dtype=np.float32))
    activity = np.atleast_1d(np.asarray(activity_level, dtype=np.float32))
    shares = affinity @ _MASK.T  # (p, A)
    genre_ok = np.where(_HAS_GENRES[None, :], shares >= _MIN_SHARE[None, :] - 1e-7, True)
    genre_ok &= np.where(_HAS_GENRES[None, :], affinity.sum(axis=1, keepdims=True) > 0, True)
    return genre_ok & (activity[:, None] >= _MIN_ACTIVITY[None, :])


def audiences_of(profile: _Profile) -> frozenset[str]:
    """The names of the audiences ``profile`` (a :class:`features.ProfileFeatures`) belongs to."""
    row = audience_matrix(profile.genre_affinity[None, :], np.array([profile.activity_level]))[0]
    return frozenset(name for name, member in zip(_NAMES, row, strict=True) if member)
