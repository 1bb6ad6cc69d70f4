"""The search re-ranking hook: blend contract, stability, cold profiles, the resources-based hook."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from data.events import History
from features import build_title_features, compute_profile_features
from ranking.model import RankerConfig, TrainedRanker, build_model
from ranking.personalize import SearchReranker, blend, personal_blend, rerank
from tests.features.synthetic import make_world


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    import torch

    torch.manual_seed(0)
    world = make_world(n_titles=30, n_users=5, events_per_user=5, dim=8)
    tf = build_title_features(world.titles, world.events, embeddings=world.embeddings)
    config = RankerConfig(n_vocab=30, content_dim=8, side_dim=tf.numeric().shape[1],
                          profile_dim=tf.genres.shape[1] + tf.languages.shape[1] + 1, dim=8, max_len=5)  # fmt: skip
    # an item-item matrix that says: after title 0 comes title 7
    ii = np.zeros((30, 30), dtype=np.float32)
    ii[0, 7] = 5.0
    model = build_model(config, ii)
    with torch.no_grad():
        model.head.linear.weight.zero_()
        model.head.linear.weight[0, 1] = 1.0  # the head reads the item-item score only
    ranker = TrainedRanker(model, tf.title_ids, tf.title_ids).bind(tf)
    viewer = compute_profile_features(History("u", [tf.title_ids[0]], np.array([1.0]), ["play"]), tf)
    newcomer = compute_profile_features(History("n", [], np.zeros(0), []), tf)
    return tf, ranker, viewer, newcomer


def test_blend_standardises_both_sides() -> None:
    out = blend(np.array([3.0, 2.0, 1.0]), np.array([0.0, 0.0, 10.0]), weight=1.0)
    assert out.shape == (3,) and out.dtype == np.float32
    np.testing.assert_allclose(out, [1.2247 - 0.7071, 0.0 - 0.7071, -1.2247 + 1.4142], atol=1e-3)
    np.testing.assert_allclose(blend(np.array([1.0, 1.0]), np.array([2.0, 1.0]), 1.0), [1.0, -1.0])
    with pytest.raises(ValueError, match="shape"):
        blend(np.zeros(2), np.zeros(3))


def test_an_ambiguous_query_is_ordered_by_taste(setup) -> None:  # type: ignore[no-untyped-def]
    tf, ranker, viewer, _ = setup
    ids = [tf.title_ids[i] for i in (3, 5, 7, 9)]
    out = rerank(ids, [1.0, 1.0, 1.0, 1.0], viewer, ranker)
    assert out.personalized and out.title_ids[0] == tf.title_ids[7]
    # a confident query keeps its winner when the personal signal is weak
    strong = rerank(ids, [100.0, 1.0, 1.0, 1.0], viewer, ranker, weight=0.1)
    assert strong.title_ids[0] == tf.title_ids[3]


def test_no_history_or_zero_weight_changes_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    tf, ranker, viewer, newcomer = setup
    ids = [tf.title_ids[i] for i in (7, 3, 5)]
    rel = [0.5, 0.9, 0.1]
    assert rerank(ids, rel, newcomer, ranker).title_ids == [ids[1], ids[0], ids[2]]
    assert not rerank(ids, rel, newcomer, ranker).personalized
    scores, _, personalized = personal_blend(ids, rel, viewer, ranker, weight=0.0)
    assert not personalized and scores.tolist() == pytest.approx(rel)
    assert rerank([], [], viewer, ranker).title_ids == []
    with pytest.raises(ValueError, match="one score per title"):
        rerank(ids, [1.0], viewer, ranker)


def test_unknown_titles_go_after_scored_ones(setup) -> None:  # type: ignore[no-untyped-def]
    tf, ranker, viewer, _ = setup
    out = rerank(["not-a-title", tf.title_ids[7], tf.title_ids[4]], [9.0, 1.0, 1.0], viewer, ranker)
    assert out.title_ids[-1] == "not-a-title"


class _Features:
    def __init__(self, titles: Any, profiles: dict[str, Any]) -> None:
        self.titles = titles
        self.profiles = profiles

    def profile_features(self, profile_id: str) -> Any:
        return self.profiles[profile_id]


def test_the_search_reranker_reads_features_and_ranker_at_call_time(setup) -> None:  # type: ignore[no-untyped-def]
    tf, ranker, viewer, newcomer = setup
    shared: dict[str, Any] = {}
    reranker = SearchReranker(features=lambda: shared.get("features"), ranker=lambda: shared.get("ranker"))
    ids = [tf.title_ids[i] for i in (3, 7)]
    scores = np.array([1.0, 1.0])
    assert reranker.rerank("u", ids, scores) is scores, "without features and ranker: unchanged"
    shared.update(features=_Features(tf, {"u": viewer, "n": newcomer}), ranker=ranker)
    out = reranker.rerank("u", ids, scores)
    assert out.shape == (2,) and out[1] > out[0]
    assert reranker.rerank("n", ids, scores) is scores
