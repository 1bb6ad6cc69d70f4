"""Candidate generation: sources, maturity ceiling, cold start, and recall on a known pattern."""

from __future__ import annotations

import numpy as np
import pytest

from data.events import History, Profile
from features import build_title_features, compute_profile_features
from features.titles import language_slot
from ranking.candidates import CandidateConfig, CandidateGenerator, CoWatchIndex
from tests.features.synthetic import make_world


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    world = make_world(n_titles=80, n_users=100, n_clusters=4, events_per_user=12, dim=8, seed=4)
    titles = build_title_features(world.titles, world.events, embeddings=world.embeddings)
    generator = CandidateGenerator.build(titles, world.events,
                                         config=CandidateConfig(ann=10, cowatch_per_seed=5, popular=5, trending=5))  # fmt: skip
    return world, titles, generator


def test_cowatch_neighbours_come_from_the_same_cluster(setup) -> None:  # type: ignore[no-untyped-def]
    world, titles, _ = setup
    index = CoWatchIndex.build(titles, world.events, neighbors=5)
    clusters = np.array([world.cluster_of[t] for t in titles.title_ids])
    watched = np.flatnonzero(titles.event_count > 0)
    same = [(clusters[index.neighbors[i][index.neighbors[i] >= 0]] == clusters[i]).mean() for i in watched]
    assert np.mean(same) > 0.7
    assert (index.neighbors != np.arange(len(titles))[:, None]).all(), "a title is not its own neighbour"


def test_candidates_follow_taste_and_respect_the_profile(setup) -> None:  # type: ignore[no-untyped-def]
    world, titles, generator = setup
    user = "movielens:1"
    events = world.events[world.events["profile_id"] == user]
    history = History(user, events["title_id"].tolist(), events["timestamp"].to_numpy(float), ["rating"] * len(events))
    teen = compute_profile_features(history, titles, profile=Profile(user, maturity="teens"))
    out = generator.generate(teen)
    assert len(out) > 0
    assert set(out.rows.tolist()).isdisjoint(teen.history.tolist()), "watched titles are not candidates"
    assert (titles.maturity_level[out.rows] <= 2).all(), "the maturity ceiling holds for every source"
    sources = {s for ss in out.sources.values() for s in ss}
    assert {"ann", "cowatch", "popular", "trending"} <= sources
    clusters = np.array([world.cluster_of[titles.title_ids[r]] for r in out.rows])
    personal = [r for r, ss in out.sources.items() if "ann" in ss or "cowatch" in ss]
    share = np.mean([world.cluster_of[titles.title_ids[r]] == world.preferred[user] for r in personal])
    assert share > 0.6 and share > (clusters == world.preferred[user]).mean() - 0.01


def test_a_new_profile_gets_a_cold_start_set_in_its_language(setup) -> None:  # type: ignore[no-untyped-def]
    _, titles, generator = setup
    newcomer = compute_profile_features(History("new", [], np.zeros(0), []), titles,
                                        profile=Profile("new", maturity="older_kids", languages=("fr",), ui_language="fr"))  # fmt: skip
    out = generator.generate(newcomer)
    assert len(out) > 0 and (titles.maturity_level[out.rows] <= 1).all()
    cold = [r for r, ss in out.sources.items() if "cold-start" in ss]
    assert cold and all(titles.languages[r, language_slot("fr")] == 1 for r in cold)
    assert out.rows[0] in cold, "titles in the profile's language come first"
    allowed = np.zeros(len(titles), dtype=bool)
    allowed[:8] = True
    assert set(generator.generate(newcomer, allowed=allowed).rows.tolist()) <= set(range(8))
