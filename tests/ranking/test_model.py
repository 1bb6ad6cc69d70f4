"""The ranking model's inputs, shapes and persistence (tiny, untrained models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.events import History
from features import build_title_features, compute_profile_features
from ranking.model import HEAD_INPUTS, RankerConfig, TrainedRanker, build_model, distinct_recent, make_batch
from tests.features.synthetic import make_world


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return make_world(n_titles=30, n_users=10, events_per_user=8, dim=8)


def ranker_for(world, vocab_size: int = 20) -> TrainedRanker:  # type: ignore[no-untyped-def]
    import torch

    torch.manual_seed(0)
    tf = build_title_features(world.titles, world.events, embeddings=world.embeddings)
    config = RankerConfig(n_vocab=vocab_size, content_dim=tf.dim, side_dim=tf.numeric().shape[1],
                          profile_dim=tf.genres.shape[1] + tf.languages.shape[1] + 1, dim=8, max_len=5)  # fmt: skip
    rng = np.random.default_rng(0)
    ii = rng.normal(scale=0.1, size=(10, 10)).astype(np.float32)
    model = build_model(config, ii)
    ranker = TrainedRanker(model, tf.title_ids[:vocab_size], tf.title_ids[5:15])
    return ranker.bind(tf)


def test_distinct_recent_keeps_the_last_occurrence() -> None:
    assert distinct_recent(np.array([3, 1, 3, 2, 1])).tolist() == [3, 2, 1]
    assert distinct_recent(np.array([], dtype=np.int64)).tolist() == []


def test_make_batch_builds_padded_recent_sequences(world) -> None:  # type: ignore[no-untyped-def]
    ranker = ranker_for(world)
    tf = ranker.titles
    assert tf is not None
    ids = ["tmdb:1001", "tmdb:1002", "tmdb:1001", "tmdb:1003", "tmdb:1004", "tmdb:1005", "tmdb:1006", "tmdb:1007"]
    pf = compute_profile_features(History("u", ids, np.arange(8.0), ["play"] * 8), tf)
    empty = compute_profile_features(History("v", [], np.zeros(0), []), tf)
    batch = make_batch([pf, empty], ranker.position_of_row, ranker.config)
    assert batch.sequence.shape == (2, 5)
    assert batch.sequence[0].tolist() == [3, 4, 5, 6, 7], "the last max_len distinct titles, newest last"
    assert batch.sequence[1].tolist() == [-1] * 5
    weights = batch.itemitem_weights[batch.itemitem_rows == 0]
    assert float(weights.sum()) == pytest.approx(1.0) and bool((weights[1:] >= weights[:-1]).all())
    assert sorted(batch.seen_positions[batch.seen_rows == 0].tolist()) == [1, 2, 3, 4, 5, 6, 7]
    assert batch.seen_mask(30)[0, 1] and not batch.seen_mask(30)[1].any()


def test_scores_cover_every_bound_title_and_handle_empty_histories(world) -> None:  # type: ignore[no-untyped-def]
    ranker = ranker_for(world)
    tf = ranker.titles
    assert tf is not None
    pf = compute_profile_features(History("u", ["tmdb:1001", "tmdb:1002"], np.arange(2.0), ["play"] * 2), tf)
    empty = compute_profile_features(History("v", [], np.zeros(0), []), tf)
    scores = ranker.score([pf, empty])
    assert scores.shape == (2, 30)
    assert np.isneginf(scores[0, [1, 2]]).all(), "watched titles are masked"
    assert np.isfinite(scores[1]).all() and np.isfinite(np.delete(scores[0], [1, 2])).all()
    import torch

    with torch.no_grad():
        parts = ranker.model.components(ranker.batch([pf]))
    assert set(parts) == set(HEAD_INPUTS)
    assert all(v.shape == (1, 30) for v in parts.values())
    # titles outside the vocabulary (ids 20..29) still get distinct scores from content and side features
    cold = ranker.score([pf], mask_seen=False)[0, 20:]
    assert np.unique(np.round(cold, 6)).size > 5
    sub = ranker.score_rows(pf, np.array([0, 25, 3]))
    np.testing.assert_allclose(sub, ranker.score([pf], mask_seen=False)[0, [0, 25, 3]], rtol=1e-5)


def test_save_and_load_give_the_same_scores(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ranker = ranker_for(world)
    tf = ranker.titles
    assert tf is not None
    ranker.manifest = {"seed": 0}
    pf = compute_profile_features(History("u", ["tmdb:1006", "tmdb:1008"], np.arange(2.0), ["play"] * 2), tf)
    want = ranker.score([pf])
    path = ranker.save(tmp_path / "ranker")
    ranker.save(tmp_path / "ranker")  # overwriting an existing artifact is atomic and fine
    loaded = TrainedRanker.load(path).bind(tf)
    assert loaded.manifest["seed"] == 0 and loaded.vocab == ranker.vocab
    np.testing.assert_allclose(loaded.score([pf]), want, rtol=1e-3, atol=1e-3)  # item-item stored as float16
    with pytest.raises(FileNotFoundError, match="no ranker artifact"):
        TrainedRanker.load(tmp_path / "missing")


def test_content_scores_skip_titles_without_a_vector_and_equal_the_dense_product() -> None:
    import torch

    torch.manual_seed(0)
    config = RankerConfig(n_vocab=5, content_dim=6, side_dim=2, profile_dim=4, dim=4, max_len=3)
    model = build_model(config)
    n = 12
    content = torch.randn(n, 6)
    content[[1, 4, 5, 9]] = 0.0  # titles without an embedding
    side, genres, langs = torch.rand(n, 2), torch.rand(n, 2), torch.rand(n, 1)
    model.bind_titles(torch.zeros(n, dtype=torch.long), content, side, genres, langs, torch.full((n,), -1))
    history = torch.randn(3, 6)
    got = model.content_scores(history)
    torch.testing.assert_close(got, history @ content.T)
    assert bool((got[:, [1, 4, 5, 9]] == 0).all())
    dense = torch.randn(n, 6)  # rebinding with every title embedded takes the plain product
    model.bind_titles(torch.zeros(n, dtype=torch.long), dense, side, genres, langs, torch.full((n,), -1))
    torch.testing.assert_close(model.content_scores(history), history @ dense.T)


def test_a_view_shares_the_weights_and_binds_its_own_titles(world) -> None:  # type: ignore[no-untyped-def]
    ranker = ranker_for(world)
    tf = ranker.titles
    pf = compute_profile_features(History("u", tf.title_ids[0:6:2], np.arange(3.0), ["rating"] * 3, 3), tf)
    full = ranker.score([pf], mask_seen=False)[0]
    rows = np.arange(0, len(tf), 2)
    view = ranker.view().bind(tf, rows)
    np.testing.assert_allclose(view.score([pf], mask_seen=False)[0], full[rows], rtol=1e-5, atol=1e-5)
    assert len(ranker.bound_rows) == len(tf) and ranker.model.n_titles == len(tf)  # the original keeps its binding
    np.testing.assert_allclose(ranker.score([pf], mask_seen=False)[0], full, rtol=1e-6)
    assert view.model.title_tower is ranker.model.title_tower
    assert view.model.item_item.weights.data_ptr() == ranker.model.item_item.weights.data_ptr()


def test_context_scores_at_equal_the_full_scores_at_those_rows(world) -> None:  # type: ignore[no-untyped-def]
    """The page's Because You Watched path (profile inputs once, head on the pools only) gives the full
    forward's scores at the pool rows, for every context of the batch, -inf outside the bound rows."""
    import torch

    from ranking.model import RankingContext

    ranker = ranker_for(world)
    with torch.no_grad():  # an untrained head ignores the context (zero task weights): give it some
        torch.manual_seed(1)
        torch.nn.init.normal_(ranker.model.head.task_weights.weight)
        torch.nn.init.normal_(ranker.model.head.linear.weight)
    tf = ranker.titles
    assert tf is not None
    pf = compute_profile_features(History("u", ["tmdb:1001", "tmdb:1004"], np.arange(2.0), ["play"] * 2), tf)
    contexts = [RankingContext.because_you_watched(1), RankingContext.because_you_watched(4),
                RankingContext.similar(7)]  # fmt: skip
    pools = [np.array([0, 3, 9, 25]), np.array([29, 2]), np.arange(30)]
    full = ranker.score([pf] * 3, mask_seen=False, contexts=contexts)
    top, seen = ranker.top_picks_scores(pf)  # keeps pf's own inputs for context_scores_at
    expected_top, expected_seen = ranker.scores_and_seen([pf])
    np.testing.assert_allclose(top, expected_top[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(seen, expected_seen[0])
    got = ranker.context_scores_at(pf, contexts, pools)
    for k, pool in enumerate(pools):
        np.testing.assert_allclose(got[k], full[k, pool], rtol=1e-5, atol=1e-5)
    assert not np.allclose(got[0][[0, 1]], got[2][[0, 3]], atol=1e-3)  # the context changes the scores
    other = compute_profile_features(History("w", ["tmdb:1010"], np.arange(1.0), ["play"]), tf)
    np.testing.assert_allclose(ranker.context_scores_at(other, contexts[:1], pools[:1])[0],  # not pf's inputs
                               ranker.score([other], mask_seen=False, contexts=contexts[:1])[0, pools[0]],
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    view = ranker.view().bind(tf, np.arange(0, 30, 2))  # odd rows unbound
    partial = view.context_scores_at(pf, contexts[:1], [np.array([0, 1, 2])])[0]
    assert np.isneginf(partial[1]) and np.isfinite(partial[[0, 2]]).all()


def test_each_thread_keeps_its_own_profile_inputs(world) -> None:  # type: ignore[no-untyped-def]
    """A page computes the profile's own head inputs once (Top Picks) and reuses them for its Because You
    Watched pools, even while another thread's page, for another profile, runs in between (at concurrency 8
    the one shared slot was overwritten and every page computed them twice)."""
    import threading

    from ranking.model import RankingContext

    ranker = ranker_for(world)
    tf = ranker.titles
    assert tf is not None
    mine = compute_profile_features(History("u", ["tmdb:1001", "tmdb:1004"], np.arange(2.0), ["play"] * 2), tf)
    theirs = compute_profile_features(History("w", ["tmdb:1010"], np.arange(1.0), ["play"]), tf)
    calls: list[str] = []
    components = ranker.model.components

    def counted(batch, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(threading.current_thread().name)
        return components(batch, *args, **kwargs)

    ranker.model.components = counted
    ranker.top_picks_scores(mine)
    other = threading.Thread(target=ranker.top_picks_scores, args=(theirs,), name="other-page")
    other.start()
    other.join()
    contexts, pools = [RankingContext.because_you_watched(1)], [np.array([0, 3, 9])]
    got = ranker.context_scores_at(mine, contexts, pools)[0]
    assert calls == [threading.current_thread().name, "other-page"]  # mine were kept through the other page
    del ranker.model.components
    np.testing.assert_allclose(got, ranker.score([mine], mask_seen=False, contexts=contexts)[0, pools[0]],
                               rtol=1e-5, atol=1e-5)  # fmt: skip


def test_scoring_puts_a_model_left_in_training_mode_into_eval_mode(world) -> None:  # type: ignore[no-untyped-def]
    ranker = ranker_for(world)
    tf = ranker.titles
    assert tf is not None
    pf = compute_profile_features(History("u", ["tmdb:1001"], np.arange(1.0), ["play"]), tf)
    ranker.model.eval()
    expected, _ = ranker.top_picks_scores(pf)
    ranker.model.head.train()  # what a trainer's head stage leaves behind
    ranker._own = type(ranker._own)()  # forget the kept inputs
    again, _ = ranker.top_picks_scores(pf)
    assert not any(m.training for m in ranker.model.modules())
    np.testing.assert_array_equal(again, expected)
