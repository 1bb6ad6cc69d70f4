"""Title and profile features: contracts, recency, freshness, and training/serving parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.events import History, Profile, ViewingEvent, open_event_store, read_event_export
from features import (
    GENRES,
    LANGUAGES,
    FeatureStore,
    ProfileFeatureConfig,
    build_title_features,
    compute_profile_features,
    histories_from_frame,
)
from features.titles import SECONDS_PER_DAY, language_slot
from tests.features.synthetic import make_world


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return make_world(n_titles=40, n_users=20, events_per_user=10, dim=8)


def test_title_features_align_with_the_catalog(world) -> None:  # type: ignore[no-untyped-def]
    tf = build_title_features(world.titles, world.events, embeddings=world.embeddings)
    assert tf.title_ids == world.titles["title_id"].tolist()
    assert tf.embeddings.shape == (40, 8) and tf.has_embedding.all()
    np.testing.assert_allclose(np.linalg.norm(tf.embeddings, axis=1), 1.0, rtol=1e-5)
    row = tf.index["tmdb:1001"]
    assert tf.genres[row].sum() == 1 and GENRES[int(tf.genres[row].argmax())] == world.titles["genres"][1][0]
    assert tf.languages[row, language_slot("fr")] == 1
    counts = world.events["title_id"].value_counts()
    assert tf.event_count[row] == counts.get("tmdb:1001", 0)
    np.testing.assert_allclose(tf.popularity, np.log1p(tf.event_count))
    assert tf.numeric().shape == (40, 4 + len(GENRES) + len(LANGUAGES))
    assert tf.rows(["tmdb:1003", "nope"]).tolist() == [3, -1]


def test_titles_without_embeddings_get_zero_rows() -> None:
    world = make_world(n_titles=10, n_users=3, events_per_user=3, dim=8)
    ids, vectors = world.embeddings
    tf = build_title_features(world.titles, world.events, embeddings=(ids[:4] + ["not-in-catalog"], vectors[:5]))
    assert tf.has_embedding.tolist() == [True] * 4 + [False] * 6
    assert not tf.embeddings[4:].any()
    no_emb = build_title_features(world.titles, world.events)
    assert no_emb.dim == 384 and not no_emb.has_embedding.any()


def test_trend_and_popularity_ignore_the_future() -> None:
    titles = pd.DataFrame({"title_id": ["a", "b"], "genres": [["comedy"], ["drama"]]})
    day = SECONDS_PER_DAY
    now = 1000 * day
    events = pd.DataFrame({
        "title_id": ["a"] * 10 + ["b"] * 10 + ["b"] * 50,
        "timestamp": [now - 5 * day] * 10 + [now - 200 * day] * 10 + [now + day] * 50,
    })  # fmt: skip
    tf = build_title_features(titles, events, as_of=now)
    assert tf.event_count.tolist() == [10, 10], "events after as_of are not counted"
    assert tf.trend[0] > 1.0 > tf.trend[1], "recent activity trends up, old activity down"


def test_profile_features_follow_the_contract(world) -> None:  # type: ignore[no-untyped-def]
    tf = build_title_features(world.titles, world.events, embeddings=world.embeddings)
    config = ProfileFeatureConfig(half_life_events=2.0)
    history = History("u", ["tmdb:1000", "tmdb:1001", "unknown", "tmdb:1002"], np.array([1.0, 2.0, 3.0, 4.0]),
                      ["play"] * 4, 7)  # fmt: skip
    pf = compute_profile_features(history, tf, profile=Profile("u", maturity="teens", languages=("fr",)),
                                  config=config)  # fmt: skip
    assert pf.history.tolist() == [0, 1, 2], "unknown titles are dropped"
    np.testing.assert_allclose(pf.weights, [0.5, 0.5**0.5, 1.0], rtol=1e-6)
    expected = (pf.weights[:, None] * tf.embeddings[[0, 1, 2]]).sum(0)
    np.testing.assert_allclose(pf.history_embedding, expected / np.linalg.norm(expected), rtol=1e-5)
    assert pf.genre_affinity.sum() == pytest.approx(1.0) and pf.language_affinity.sum() == pytest.approx(1.0)
    newest_genre = GENRES.index(world.titles["genres"][2][0])
    assert pf.genre_affinity[newest_genre] == pf.genre_affinity.max(), "the newest title weighs most"
    assert (pf.n_events, pf.n_titles, pf.maturity_level, pf.languages, pf.last_seq) == (3, 3, 2, ("fr",), 7)
    empty = compute_profile_features(History("new", [], np.zeros(0), [], 0), tf)
    assert empty.n_events == 0 and not empty.history_embedding.any() and not empty.genre_affinity.any()
    cut = compute_profile_features(history, tf, as_of=2.5)
    assert cut.history.tolist() == [0, 1]


def test_feature_store_reflects_new_events_on_the_next_request(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    store = open_event_store(tmp_path / "e.db")
    store.import_history(world.events, world.profiles, source_version="v1")
    fs = FeatureStore.build(world.titles, store, embeddings=world.embeddings)
    before = fs.profile_features("movielens:1")
    assert fs.profile_features("movielens:1") is before, "unchanged profile: served from the cache"
    unseen = next(t for t in fs.titles.title_ids if fs.titles.index[t] not in set(before.history.tolist()))
    store.append([ViewingEvent("new-1", "movielens:1", unseen, 2e9, "play")], known_title_ids=fs.titles.index)
    after = fs.profile_features("movielens:1")
    assert after.n_events == before.n_events + 1
    assert after.history[-1] == fs.titles.index[unseen]
    assert after.last_seq > before.last_seq
    store.put_profile(Profile("movielens:1", maturity="kids"))
    assert fs.profile_features("movielens:1").maturity_level == 0, "a profile edit is seen at once too"
    cold = fs.profile_features("someone-new")
    assert cold.n_events == 0 and cold.maturity_level == 3
    store.close()


def test_training_and_serving_compute_the_same_features(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    """Parity: the Parquet export (training) and the live store (serving) give identical features."""
    store = open_event_store(tmp_path / "e.db")
    store.import_history(world.events, world.profiles, source_version="v1")
    tids = world.titles["title_id"].tolist()
    # live events with ties in time and repeats, so ordering rules matter
    store.append([ViewingEvent(f"live-{i}", "movielens:2", tids[i % 7], 1.6e9 + (i // 2), "progress",
                               position_s=1.0, duration_s=2.0) for i in range(12)],
                 known_title_ids=set(tids))  # fmt: skip
    fs = FeatureStore.build(world.titles, store, embeddings=world.embeddings)
    export = read_event_export(store.export_parquet(tmp_path / "export.parquet"))
    offline = {h.profile_id: compute_profile_features(h, fs.titles) for h in histories_from_frame(export)}
    assert set(offline) == set(world.events["profile_id"])
    for pid, want in offline.items():
        got = fs.profile_features(pid)
        assert got.history.tolist() == want.history.tolist(), pid
        for name in ("timestamps", "weights", "history_embedding", "genre_affinity", "language_affinity"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-6, err_msg=f"{pid} {name}")
        assert (got.n_events, got.n_titles, got.events_recent, got.last_seq) == (
            want.n_events, want.n_titles, want.events_recent, want.last_seq)
    store.close()
