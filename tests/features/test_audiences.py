"""Audiences derived from the shared profile features."""

from __future__ import annotations

import numpy as np
import pytest

from data.events import History, Profile
from data.normalize import GENRES
from features import build_title_features, compute_profile_features
from features.audiences import AUDIENCES, AudienceRule, audience_matrix, audiences_of
from tests.ads.helpers import T0, title_frame


def test_a_sci_fi_history_makes_a_heavy_sci_fi_viewer() -> None:
    titles = title_frame(40)
    tf = build_title_features(titles)
    scifi = [t for t, g in zip(titles["title_id"], titles["genres"], strict=True) if "sci-fi" in g]
    drama = [t for t, g in zip(titles["title_id"], titles["genres"], strict=True) if g == ["drama"]]
    fan = compute_profile_features(History("a", scifi, np.arange(len(scifi)) + T0, ["play"] * len(scifi)), tf,
                                   profile=Profile("a"))  # fmt: skip
    other = compute_profile_features(History("b", drama, np.arange(len(drama)) + T0, ["play"] * len(drama)), tf,
                                     profile=Profile("b"))  # fmt: skip
    assert "heavy-sci-fi-viewers" in audiences_of(fan)
    assert "heavy-sci-fi-viewers" not in audiences_of(other)
    empty = compute_profile_features(History("c", [], np.zeros(0), []), tf, profile=Profile("c"))
    assert audiences_of(empty) == frozenset()


def test_thresholds_are_inclusive_and_vectorized() -> None:
    g = np.zeros((3, len(GENRES)), np.float32)
    g[0, GENRES.index("sci-fi")] = 0.075
    g[1, GENRES.index("sci-fi")] = 0.074
    g[1, GENRES.index("drama")] = 0.926
    g[2, GENRES.index("horror")] = 1.0
    members = audience_matrix(g, np.array([1.0, 5.0, 5.5]))
    names = list(AUDIENCES)
    assert members[0, names.index("heavy-sci-fi-viewers")] and not members[1, names.index("heavy-sci-fi-viewers")]
    assert members[2, names.index("horror-fans")] and members[2, names.index("heavy-viewers")]
    assert not members[0, names.index("heavy-viewers")]


def test_rules_only_name_known_genres() -> None:
    with pytest.raises(ValueError, match="GENRES"):
        AudienceRule("bad", ("space-opera",), 0.1)
