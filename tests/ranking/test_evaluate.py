"""Metrics, the held-out-users split and the end-to-end evaluation report (synthetic data)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ranking.evaluate import EvalConfig, evaluate_ranking, ranking_metrics, user_metrics
from ranking.splits import held_out_users_split
from ranking.train import TrainConfig
from tests.features.synthetic import make_world


def test_metrics_on_hand_made_rankings() -> None:
    scores = np.array([[5, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5]], dtype=np.float32)
    seen = [np.array([0]), np.array([], dtype=np.int64)]
    held = [np.array([1, 2]), np.array([0])]
    per = user_metrics(scores, seen, held, ks=(2, 10))
    # user 0: title 0 is seen, so the top is 1, 2 -> perfect
    assert per["recall@2"][0] == 1.0 and per["ndcg@10"][0] == pytest.approx(1.0)
    # user 1: the held title is ranked last of six
    assert per["recall@2"][1] == 0.0
    assert per["ndcg@10"][1] == pytest.approx(1 / math.log2(7))
    m = ranking_metrics(scores, seen, held)
    assert m["recall@20"] == pytest.approx(1.0) and m["coverage@10"] == 1.0


def test_recall_divides_by_min_k_and_held() -> None:
    scores = np.arange(30, 0, -1, dtype=np.float32)[None, :]
    held = [np.arange(0, 25)]  # 25 held, the top 10 are all hits
    per = user_metrics(scores, [np.array([], dtype=np.int64)], held)
    assert per["recall@10"][0] == 1.0 and per["recall@20"][0] == 1.0


def test_held_out_users_split_never_lets_the_future_in() -> None:
    world = make_world(n_titles=60, n_users=50, events_per_user=12, dim=4)
    split = held_out_users_split(world.events, n_test=10, seed=0, fraction=0.8)
    again = held_out_users_split(world.events, n_test=10, seed=0, fraction=0.8)
    test_ids = {u.profile_id for u in split.users}
    assert test_ids == {u.profile_id for u in again.users}, "seeded"
    assert not test_ids & set(split.train_events["profile_id"]), "held-out users are not in training"
    assert set(split.universe) == set(split.train_events["title_id"])
    by_user = world.events.groupby("profile_id")
    for user in split.users:
        events = by_user.get_group(user.profile_id).sort_values("timestamp", kind="stable")
        cut = int(np.floor(0.8 * len(events)))
        assert user.fed.title_ids == events["title_id"].tolist()[:cut]
        assert user.fed.timestamps.max() <= events["timestamp"].iloc[cut:].min()
        assert set(user.held) <= set(split.universe) and not set(user.held) & set(user.fed.title_ids)
    assert split.description["users_evaluated"] == len(split.users)
    with pytest.raises(ValueError, match="fewer than"):
        held_out_users_split(world.events, n_test=50)


@pytest.mark.slow
def test_the_report_has_every_system_on_one_split() -> None:
    world = make_world(n_titles=60, n_users=90, events_per_user=12, dim=8, seed=2)
    config = EvalConfig(n_test=20, n_validation=15, ease_lambdas=(5.0, 50.0), knn_neighbors=(10,),
                        als_grid=((8, 0.05, 5.0),), search_min_results=5)  # fmt: skip
    train = TrainConfig(epochs=2, head_epochs=3, dim=8, cuts_per_user=2, threads=1, lam=5.0, itemitem_min_count=1)
    steps: list[str] = []
    report = evaluate_ranking(world.events, world.titles, embeddings=world.embeddings, config=config,
                              train_config=train, progress=steps.append)  # fmt: skip
    assert set(report["systems"]) == {"marquee", "ease", "als", "itemknn", "popular"}
    for metrics in report["systems"].values():
        assert {"ndcg@10", "recall@10", "recall@20", "coverage@10"} <= set(metrics)
        assert all(0.0 <= metrics[k] <= 1.0 for k in ("ndcg@10", "recall@10", "recall@20", "coverage@10"))
    assert report["systems"]["ease"]["params"]["lambda"] in (5.0, 50.0)
    assert len(report["systems"]["ease"]["validation"]) == 2, "EASE's lambda was tuned on validation users"
    assert report["split"]["users_evaluated"] == len(report["per_user"]["history_length"])
    assert report["embeddings_used"] is True
    search = report["personalized_search"]
    assert search["genre"]["queries"] > 0 and "mrr" in search["genre"]["unpersonalized"]
    cold = report["cold_start_titles"]
    assert cold["new_titles"] >= 10 and set(cold["systems"]) >= {"marquee_as_new", "marquee_warm", "random"}
    assert any("tuning ease" in s for s in steps)
    served = report["served_path"]
    assert set(served["systems"]) == set(report["systems"])
    assert served["served_titles"] >= report["split"]["universe_titles"]
    calibration = served["calibration"]
    assert 0.0 <= calibration["ece"] <= 1.0 and calibration["pairs"] > 0
    json.dumps(report)  # JSON-ready


def test_calibration_of_perfect_and_overconfident_probabilities() -> None:
    from ranking.evaluate import calibration

    held = [np.array([0, 1])]
    seen = [np.array([], dtype=np.int64)]
    exact = np.log(np.array([[0.5, 0.5, 1e-9, 1e-9]]))
    assert calibration(exact, held, seen, top=2, bins=1)["ece"] == pytest.approx(0.0, abs=1e-6)
    wrong = np.log(np.array([[1e-9, 1e-9, 0.5, 0.5]]))
    assert calibration(wrong, held, seen, top=2, bins=1)["ece"] == pytest.approx(0.5, abs=1e-6)
