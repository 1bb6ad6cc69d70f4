"""Fusion: RRF and linear math on hand examples, the lexical gate, ties and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.fusion import FusionConfig, competition_ranks, fuse, gated_weights, lexical_gate


def ch(positions: list[int], scores: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(positions, dtype=np.int64), np.asarray(scores, dtype=np.float32)


def test_rrf_matches_the_formula() -> None:
    config = FusionConfig(method="rrf", rrf_k=10)
    channels = {"dense": ch([1, 2, 3], [0.9, 0.8, 0.7]), "names": ch([3, 1], [5.0, 1.0])}
    positions, scores = fuse(channels, {"dense": 1.0, "names": 2.0}, config)
    expected = {1: 1 / 11 + 2 / 12, 2: 1 / 12, 3: 1 / 13 + 2 / 11}
    assert positions.tolist() == sorted(expected, key=lambda p: -expected[p])
    for p, s in zip(positions.tolist(), scores.tolist(), strict=True):
        assert s == pytest.approx(expected[p])


def test_linear_normalises_bm25_by_its_best_and_cosine_by_min_max() -> None:
    config = FusionConfig(method="linear")
    channels = {"dense": ch([1, 2, 3], [0.9, 0.8, 0.5]), "names": ch([3, 2], [4.0, 2.0])}
    positions, scores = fuse(channels, {"dense": 1.0, "names": 1.0}, config)
    expected = {1: 1.0, 2: 0.75 + 0.5, 3: 0.0 + 1.0}
    assert positions.tolist() == [2, 1, 3]
    for p, s in zip(positions.tolist(), scores.tolist(), strict=True):
        assert s == pytest.approx(expected[p])


def test_a_flat_plot_channel_speaks_in_proportion_to_its_span() -> None:
    # cosines spanning 0.02 (a guess) against a clear content match: with plain min-max the guess's
    # top (title 1) gets the full dense weight and outvotes the content channel's best (title 3)
    dense = ch([1, 2, 3], [0.84, 0.83, 0.82])
    content = ch([3, 1], [9.0, 2.0])
    weights = {"dense": 1.0, "content": 1.0}
    plain, plain_scores = fuse({"dense": dense, "content": content}, weights, FusionConfig(dense_span_floor=0.0))
    assert plain.tolist()[0] == 1
    assert plain_scores[0] == pytest.approx(1.0 + 2.0 / 9.0)
    floored, scores = fuse({"dense": dense, "content": content}, weights, FusionConfig(dense_span_floor=0.04))
    assert floored.tolist() == [3, 1, 2]
    expected = {1: 0.02 / 0.04 + 2.0 / 9.0, 2: 0.01 / 0.04, 3: 1.0}
    for p, s in zip(floored.tolist(), scores.tolist(), strict=True):
        assert s == pytest.approx(expected[p], abs=1e-5)
    # a list spanning more than the floor is plain min-max; the floor is the plot channel's alone
    wide = {"dense": ch([1, 2], [0.9, 0.5]), "titles": ch([1, 2], [0.81, 0.8])}
    _, wide_scores = fuse(wide, {"dense": 1.0, "titles": 1.0}, FusionConfig(dense_span_floor=0.04))
    assert wide_scores.tolist() == pytest.approx([2.0, 0.0])


def test_zero_weight_drops_a_channel() -> None:
    positions, _ = fuse({"dense": ch([1], [0.5]), "names": ch([2], [3.0])}, {"dense": 1.0, "names": 0.0},
                        FusionConfig())  # fmt: skip
    assert positions.tolist() == [1]
    empty, _ = fuse({}, {}, FusionConfig())
    assert empty.size == 0


def test_ties_share_a_rank() -> None:
    assert competition_ranks(np.array([5.0, 3.0, 3.0, 3.0, 1.0])).tolist() == [1, 2, 2, 2, 5]
    assert competition_ranks(np.array([])).size == 0
    config = FusionConfig(method="rrf", rrf_k=1)
    positions, scores = fuse({"names": ch([7, 8, 9], [2.0, 2.0, 2.0])}, {"names": 1.0}, config)
    assert positions.tolist() == [7, 8, 9]  # equal scores; ties broken by position
    assert np.unique(scores).size == 1


def test_gate_ramp() -> None:
    assert lexical_gate(0.1, 0.2, 0.6) == 0.0
    assert lexical_gate(0.4, 0.2, 0.6) == pytest.approx(0.5)
    assert lexical_gate(0.9, 0.2, 0.6) == 1.0
    assert lexical_gate(0.5, 0.5, 0.5) == 1.0


def test_gated_weights_silence_names_and_let_dense_yield() -> None:
    config = FusionConfig(weights={"dense": 1.0, "names": 2.0, "content": 0.5}, dense_yield=0.75)
    silent, gate = gated_weights(config, coverage=0.0)
    assert gate == 0.0
    assert silent == {"dense": 1.0, "titles": 0.0, "names": 0.0, "content": 0.5, "intent": 0.0, "like": 0.0}
    open_, gate = gated_weights(config, coverage=1.0)
    assert gate == 1.0
    assert open_ == {"dense": pytest.approx(0.25), "titles": 0.0, "names": 2.0, "content": 0.5, "intent": 0.0, "like": 0.0}


@pytest.mark.parametrize("bad", [
    {"method": "max"}, {"weights": {"bm25": 1.0}}, {"weights": {"dense": -1.0}}, {"gate_low": 0.7, "gate_high": 0.5},
    {"rrf_k": 0.0}, {"candidates": 0}, {"dense_yield": 1.5}, {"prior": -0.1}, {"dense_span_floor": -0.01},
    {"dense_span_floor": 2.0},
])  # fmt: skip
def test_config_validation(bad: dict) -> None:
    with pytest.raises(ValueError):
        FusionConfig(**bad)


def test_with_merges_weights() -> None:
    config = FusionConfig().with_(weights={"content": 0.0}, rrf_k=5.0)
    assert config.weights["content"] == 0.0
    assert config.weights["dense"] == FusionConfig().weights["dense"]
    assert config.rrf_k == 5.0


ranked_lists = st.lists(st.integers(0, 50), unique=True, max_size=20)


@settings(max_examples=60, deadline=None)
@given(dense=ranked_lists, names=ranked_lists, method=st.sampled_from(["rrf", "linear"]),
       w_dense=st.floats(0.1, 3.0), w_names=st.floats(0.0, 3.0))  # fmt: skip
def test_fusion_is_the_union_sorted_and_unanimous_winners_win(dense: list[int], names: list[int], method: str,
                                                              w_dense: float, w_names: float) -> None:  # fmt: skip
    config = FusionConfig(method=method)  # type: ignore[arg-type]
    channels = {"dense": ch(dense, list(np.linspace(0.9, 0.1, len(dense)))),
                "names": ch(names, list(np.linspace(10, 1, len(names))))}  # fmt: skip
    positions, scores = fuse(channels, {"dense": w_dense, "names": w_names}, config)
    expected = set(dense) | (set(names) if w_names > 0 else set())
    assert set(positions.tolist()) == expected
    assert len(positions) == len(expected)
    assert np.all(np.diff(scores) <= 1e-12)
    if dense and names and dense[0] == names[0] and w_names > 0:
        assert positions[0] == dense[0]
