"""Training on synthetic histories with a known pattern: the model must find it, seeded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data.events import History
from features import ProfileFeatureConfig, compute_profile_features
from features.profiles import histories_from_frame
from ranking.evaluate import calibration, ranking_metrics
from ranking.model import (
    RankingContext,
    TrainedRanker,
    fit_standardisation,
    is_current_format,
    log_probabilities,
)
from ranking.splits import held_out_users_split
from ranking.train import TrainConfig, _samples, fit_temperatures, train_ranker
from tests.features.synthetic import make_world

TINY = TrainConfig(epochs=8, head_epochs=15, dim=16, max_len=10, cuts_per_user=4, batch_size=32, threads=1,
                   lam=5.0, itemitem_min_count=1, device="cpu",
                   calibration_sources=None)  # fmt: skip  # synthetic titles have no sources: every one is served


@pytest.fixture(scope="module")
def trained():  # type: ignore[no-untyped-def]
    world = make_world(n_titles=80, n_users=160, n_clusters=4, events_per_user=14, dim=16, seed=1)
    split = held_out_users_split(world.events, n_test=30, seed=0, fraction=0.5)
    # four "new" titles, one per cluster: no events in training, only content and side features
    cold = ["tmdb:1076", "tmdb:1077", "tmdb:1078", "tmdb:1079"]
    train_events = split.train_events[~split.train_events["title_id"].isin(cold)]
    result = train_ranker(train_events, world.titles, embeddings=world.embeddings, config=TINY)
    return world, split, cold, result


@pytest.mark.slow
def test_the_model_learns_the_sequential_pattern(trained) -> None:  # type: ignore[no-untyped-def]
    world, split, _, result = trained
    ranker = result.ranker
    rows = result.titles.rows(split.universe)
    ranker.bind(result.titles, rows)
    col = {t: i for i, t in enumerate(split.universe)}
    profiles = [compute_profile_features(u.fed, result.titles) for u in split.users]
    seen = [np.array(sorted({col[t] for t in u.fed.title_ids if t in col})) for u in split.users]
    held = [np.array([col[t] for t in u.held]) for u in split.users]
    ours = ranking_metrics(ranker.score(profiles, mask_seen=False), seen, held)
    counts = split.train_events["title_id"].value_counts()
    popular = np.array([counts.get(t, 0) for t in split.universe], dtype=np.float32)
    pop = ranking_metrics(np.tile(popular, (len(profiles), 1)), seen, held)
    assert ours["ndcg@10"] > 2 * pop["ndcg@10"] and ours["ndcg@10"] > 0.3, (ours, pop)
    assert result.ranker.manifest["embeddings_used"] is True
    assert result.validation["marquee"]["ndcg@10"] > 0


@pytest.mark.slow
def test_new_titles_rank_by_content(trained) -> None:  # type: ignore[no-untyped-def]
    """Titles with no training events get scores from content: a viewer's own cluster comes first."""
    world, split, cold, result = trained
    ranker = result.ranker.bind(result.titles)
    cold_rows = result.titles.rows(cold)
    assert (cold_rows >= 0).all()
    assert not set(cold) & set(ranker.vocab), "cold titles have no learned id"
    hits = 0
    for user in split.users:
        pf = compute_profile_features(user.fed, result.titles)
        scores = ranker.score_rows(pf, cold_rows)
        hits += world.cluster_of[cold[int(np.argmax(scores))]] == world.preferred[user.profile_id]
    assert hits / len(split.users) >= 0.6, f"{hits} of {len(split.users)} (chance is 25%)"


@pytest.mark.slow
def test_training_is_seeded(trained) -> None:  # type: ignore[no-untyped-def]
    world, split, cold, result = trained
    small = make_world(n_titles=40, n_users=40, n_clusters=4, events_per_user=8, dim=16, seed=3)
    config = TrainConfig(**{**TINY.__dict__, "epochs": 2, "head_epochs": 2})
    a = train_ranker(small.events, small.titles, embeddings=small.embeddings, config=config)
    b = train_ranker(small.events, small.titles, embeddings=small.embeddings, config=config)
    pf = compute_profile_features(next(iter([u.fed for u in split.users])), a.titles)
    np.testing.assert_allclose(a.ranker.score([pf]), b.ranker.score([pf]), rtol=1e-5)
    assert a.ranker.manifest["data_version"] == b.ranker.manifest["data_version"]


def test_training_needs_enough_profiles() -> None:
    world = make_world(n_titles=10, n_users=3, events_per_user=3, dim=4)
    with pytest.raises(ValueError, match="expected at least 4"):
        train_ranker(world.events, world.titles, config=TINY)


@pytest.mark.slow
def test_every_title_scores_on_one_scale(trained) -> None:  # type: ignore[no-untyped-def]
    """Titles with and without history share one bounded scale; cold titles do not take over the top.

    The old head standardised its "has a learned id" input with a std clamped to 1e-6 (the input was
    constant in training), so a title without history scored about 30,000 and filled every row."""
    world, split, cold, result = trained
    ranker = result.ranker.bind(result.titles)
    assert ranker.manifest["head_new_titles"] > 0
    assert np.isfinite(ranker.model.input_std.numpy()).sum() >= 1
    profiles = [compute_profile_features(u.fed, result.titles) for u in split.users]
    empty = compute_profile_features(History("new", [], np.zeros(0), [], 0), result.titles)
    scores = ranker.score([*profiles, empty], mask_seen=False)
    assert np.isfinite(scores).all()
    cold_rows = result.titles.rows(cold)
    warm = np.setdiff1d(np.arange(len(result.titles)), cold_rows)
    # bounded: cold scores stay within the range the warm titles span (plus its own width)
    low, high = scores[:, warm].min(), scores[:, warm].max()
    assert scores[:, cold_rows].max() <= high + (high - low), (scores[:, cold_rows].max(), low, high)
    # four cold titles of eighty cannot fill a top 10
    top10 = np.argsort(-ranker.score([*profiles, empty]), axis=1)[:, :10]
    assert np.isin(top10, cold_rows).mean() < 0.2
    probs = ranker.play_probability([*profiles, empty])
    assert ((probs >= 0) & (probs <= 1)).all()
    unseen = np.isfinite(ranker.score([*profiles, empty]))
    np.testing.assert_allclose((probs * unseen).sum(1), 1.0, atol=1e-4)


def test_standardisation_maps_a_constant_input_to_zero() -> None:
    """A head input constant in training standardises to 0 at serving, never to about -1e6."""
    inputs = np.stack([np.random.default_rng(0).normal(size=100), np.ones(100)], axis=1).astype(np.float32)
    mean, std = fit_standardisation(inputs)
    served = (np.array([[0.5, 0.0]], dtype=np.float32) - mean.numpy()) / std.numpy()
    assert served[0, 1] == 0.0 and abs(served[0, 0]) < 5


def _cluster_share(world, titles, scores: np.ndarray, cluster: int, k: int = 10) -> float:  # type: ignore[no-untyped-def]
    top = np.argsort(-scores, kind="stable")[:k]
    return float(np.mean([world.cluster_of.get(titles.title_ids[r], -1) == cluster for r in top]))


@pytest.mark.slow
def test_similar_follows_the_source_title(trained) -> None:  # type: ignore[no-untyped-def]
    """The SIMILAR task for an anonymous viewer: the top 10 come from the source title's cluster, for every
    cluster. Without a history every input but the context is the same for the four sources, so a model
    that ignored its context would give one list and fail three of the four clusters."""
    world, _, _, result = trained
    ranker = result.ranker.bind(result.titles)
    empty = compute_profile_features(History("new", [], np.zeros(0), [], 0), result.titles)
    assert ranker.manifest["head_samples_by_task"]["similar"] > 0
    for cluster in range(4):
        source = next(t for t in ranker.vocab if world.cluster_of[t] == cluster)
        row = int(result.titles.rows([source])[0])
        scores = ranker.score([empty], contexts=[RankingContext.similar(row)])[0]
        assert not np.isfinite(scores[row]), "the source itself is never its own answer"
        assert _cluster_share(world, result.titles, scores, cluster) >= 0.6, cluster


def _calibration_at_10(ranker, split, titles) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    """(predicted/observed play mass in the top 10 of the held-out users, their (u, N) scores)."""
    profiles = [compute_profile_features(u.fed, titles) for u in split.users]
    held = [titles.rows([t for t in dict.fromkeys(u.held) if t not in set(u.fed.title_ids)]) for u in split.users]
    fed = [np.unique(titles.rows(u.fed.title_ids)) for u in split.users]
    scores, seen = ranker.scores_and_seen(profiles)
    return calibration(log_probabilities(scores, seen), held, fed)["predicted_over_observed@10"], scores


@pytest.mark.slow
def test_temperature_calibrates_play_probabilities_without_changing_the_order(trained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The per-task temperature fitted after training puts the predicted play mass of the top 10 within 20%
    of what the held-out users watch; a mis-scaled head (4x too flat:
    under-confident, as the unified head was) is far off until it is refitted, and no order changes. The artifact keeps the temperatures; one without them loads at T = 1 and is
    not current (``train ranker --if-missing`` retrains it)."""
    _, split, _, result = trained
    ranker = result.ranker.bind(result.titles)
    fitted = ranker.temperatures
    assert ranker.manifest["task_temperature"] == fitted
    assert all(0.05 < t < 20 for t in fitted.values()) and any(abs(t - 1) > 0.05 for t in fitted.values())
    ratio, scores = _calibration_at_10(ranker, split, result.titles)
    assert 0.8 <= ratio <= 1.25, ratio
    try:
        ranker.set_temperatures({"top_picks": fitted["top_picks"] * 4})
        flat, flat_scores = _calibration_at_10(ranker, split, result.titles)
        assert not 0.8 <= flat <= 1.25, flat  # what an uncalibrated scale looks like
        train_histories = list(histories_from_frame(split.train_events))[:80]
        samples = _samples(train_histories, result.titles, np.arange(len(result.titles)),
                           [[0.7, 0.8, 0.9]] * len(train_histories), ProfileFeatureConfig())  # fmt: skip
        refit = fit_temperatures(ranker, samples)
        assert ranker.temperatures["top_picks"] == pytest.approx(fitted["top_picks"] * 4)  # fitting changes nothing
        ranker.set_temperatures({"top_picks": refit["top_picks"]})
        again, again_scores = _calibration_at_10(ranker, split, result.titles)
        assert 0.8 <= again <= 1.25, (again, refit)
        for a, b in ((scores, flat_scores), (scores, again_scores)):
            np.testing.assert_array_equal(np.argsort(-a, axis=1, kind="stable")[:, :20],
                                          np.argsort(-b, axis=1, kind="stable")[:, :20])  # fmt: skip
    finally:
        ranker.set_temperatures(fitted)

    saved = ranker.save(tmp_path / "ranker")
    loaded = TrainedRanker.load(saved).bind(result.titles)
    assert loaded.temperatures == pytest.approx(fitted)
    _, loaded_scores = _calibration_at_10(loaded, split, result.titles)
    manifest = json.loads((saved / "manifest.json").read_text())
    assert is_current_format(manifest)
    del manifest["task_temperature"]
    (saved / "manifest.json").write_text(json.dumps(manifest))
    old = TrainedRanker.load(saved)
    assert not is_current_format(old.manifest) and set(old.temperatures.values()) == {1.0}
    earlier = dict(json.loads((saved / "manifest.json").read_text()), task_temperature=fitted)
    assert not is_current_format({k: v for k, v in earlier.items() if k != "calibration_titles"})  # pre-refit T
    _, old_scores = _calibration_at_10(old.bind(result.titles), split, result.titles)
    np.testing.assert_array_equal(np.argsort(-loaded_scores, axis=1, kind="stable")[:, :20],
                                  np.argsort(-old_scores, axis=1, kind="stable")[:, :20])  # fmt: skip
