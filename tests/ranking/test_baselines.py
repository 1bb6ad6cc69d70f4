"""One shared suite for every baseline recommender, plus EASE's closed form checked against its definition."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from ranking.baselines import ALS, EASE, ItemKNN, MostPopular, Recommender, binary_matrix, ease_weights


def block_data(seed: int = 0, users: int = 120, items: int = 40, blocks: int = 4) -> sp.csr_matrix:
    """Users watch mostly inside one block of items: co-watching is informative."""
    rng = np.random.default_rng(seed)
    size = items // blocks
    rows = []
    for u in range(users):
        b = u % blocks
        own = rng.choice(np.arange(b * size, (b + 1) * size), size=min(6, size - 1), replace=False)
        noise = rng.choice(items, size=1)
        rows.append(np.unique(np.concatenate([own, noise])))
    return binary_matrix(rows, items)


class RecommenderSuite:
    """Every implementation supplies ``make()``; the tests are shared."""

    def make(self) -> Recommender:
        raise NotImplementedError

    def test_scores_have_one_row_per_user_and_one_column_per_title(self) -> None:
        x = block_data()
        scores = self.make().fit(x).score(x[:7])
        assert scores.shape == (7, 40) and scores.dtype == np.float32 and np.isfinite(scores).all()

    def test_score_before_fit_is_an_error(self) -> None:
        with pytest.raises(RuntimeError, match="before fit"):
            self.make().score(block_data()[:2])

    def test_new_users_are_scored_from_their_fed_rows_only(self) -> None:
        x = block_data()
        model = self.make().fit(x)
        fed = binary_matrix([np.array([0, 1, 2]), np.array([30, 31, 32])], 40)
        scores = model.score(fed)
        if isinstance(model, MostPopular):
            assert (scores[0] == scores[1]).all()
            return
        own = [scores[0, 3:10].mean(), scores[1, 33:40].mean()]
        other = [scores[0, 30:40].mean(), scores[1, 0:10].mean()]
        assert own[0] > other[0] and own[1] > other[1], "a user's block must outscore another block"


class TestMostPopular(RecommenderSuite):
    def make(self) -> Recommender:
        return MostPopular()

    def test_it_is_the_count(self) -> None:
        x = block_data()
        np.testing.assert_array_equal(MostPopular().fit(x).score(x[:1])[0], np.asarray(x.sum(0)).ravel())


class TestItemKNN(RecommenderSuite):
    def make(self) -> Recommender:
        return ItemKNN(neighbors=5)

    def test_neighbours_are_kept_per_title(self) -> None:
        model = ItemKNN(neighbors=3).fit(block_data())
        assert model.similarity is not None
        assert (np.asarray((model.similarity > 0).sum(axis=0)).ravel() <= 3 + 2).all()  # ties may add a few


class TestEASE(RecommenderSuite):
    def make(self) -> Recommender:
        return EASE(lam=10.0)

    def test_closed_form_matches_the_constrained_least_squares_solution(self) -> None:
        x = block_data(users=60, items=12, blocks=3).toarray().astype(np.float64)
        lam = 5.0
        b = ease_weights(x.T @ x, lam)
        assert np.allclose(np.diag(b), 0)
        # each column j solves min ||x_j - X_{-j} w||^2 + lam ||w||^2 over the other columns
        for j in range(12):
            others = [k for k in range(12) if k != j]
            a = x[:, others]
            w = np.linalg.solve(a.T @ a + lam * np.eye(11), a.T @ x[:, j])
            np.testing.assert_allclose(b[others, j], w, rtol=1e-3, atol=1e-4)

    def test_a_non_positive_lambda_on_a_singular_gram_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="positive definite"):
            ease_weights(np.zeros((3, 3), dtype=np.float32), 0.0)


class TestALS(RecommenderSuite):
    def make(self) -> Recommender:
        return ALS(factors=8, regularization=0.05, alpha=5.0, iterations=8, seed=0, threads=1)

    def test_it_is_seeded(self) -> None:
        x = block_data()
        a = self.make().fit(x).score(x[:3])
        b = self.make().fit(x).score(x[:3])
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_binary_matrix_collapses_duplicates() -> None:
    m = binary_matrix([np.array([1, 1, 2]), np.array([], dtype=np.int64)], 4)
    assert m.toarray().tolist() == [[0, 1, 1, 0], [0, 0, 0, 0]]
