"""Strong non-sequential baselines on a binary user x title matrix: most popular, item-kNN, EASE, ALS.

One interface (:class:`Recommender`): ``fit(interactions)`` on training users, then
``score(fed)`` for NEW users (rows not seen in ``fit``) — the held-out-users protocol. Scores over
all ``n`` columns; the caller masks fed titles.

Shapes: ``U`` training users, ``u`` scored users, ``n`` titles; matrices are ``scipy.sparse`` CSR.
"""

from __future__ import annotations

from typing import Any, Protocol, Self

import numpy as np
import scipy.sparse as sp

__all__ = ["ALS", "EASE", "ItemKNN", "MostPopular", "Recommender", "binary_matrix", "ease_weights"]


class Recommender(Protocol):
    """A model of the baseline suite."""

    name: str

    def fit(self, interactions: sp.csr_matrix) -> Self:
        """Learn from ``interactions`` (U, n), binary."""
        ...

    def score(self, fed: sp.csr_matrix) -> np.ndarray:
        """Scores (u, n) float32 for users given only their fed rows (u, n)."""
        ...


def binary_matrix(rows: list[np.ndarray], n: int) -> sp.csr_matrix:
    """CSR (len(rows), n) float32 with a 1 at every (i, rows[i][j]) (duplicates collapse to 1)."""
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, dtype=np.int64)
    matrix = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(rows), n))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _check(interactions: sp.csr_matrix, what: str) -> sp.csr_matrix:
    if not sp.issparse(interactions) or interactions.ndim != 2:
        raise ValueError(f"{what}: expected a 2-d scipy.sparse matrix, got {type(interactions).__name__}")
    return sp.csr_matrix(interactions, dtype=np.float32)


class MostPopular:
    """Score = number of training users who watched the title (the same for everyone)."""

    name = "popular"

    def __init__(self) -> None:
        self.counts: np.ndarray | None = None

    def fit(self, interactions: sp.csr_matrix) -> Self:
        self.counts = np.asarray(_check(interactions, "interactions").sum(axis=0)).ravel().astype(np.float32)
        return self

    def score(self, fed: sp.csr_matrix) -> np.ndarray:
        if self.counts is None:
            raise RuntimeError("MostPopular.score before fit")
        return np.tile(self.counts, (fed.shape[0], 1))


class ItemKNN:
    """Item-based kNN: cosine similarity (with shrinkage) kept to the ``neighbors`` largest per title."""

    name = "itemknn"

    def __init__(self, neighbors: int = 100, shrink: float = 10.0) -> None:
        self.neighbors = neighbors
        self.shrink = shrink
        self.similarity: sp.csr_matrix | None = None

    def fit(self, interactions: sp.csr_matrix) -> Self:
        x = _check(interactions, "interactions")
        co = (x.T @ x).toarray()
        counts = np.diag(co).copy()
        norms = np.sqrt(counts)
        sim = co / (np.outer(norms, norms) + self.shrink + 1e-9)
        np.fill_diagonal(sim, 0.0)
        k = min(self.neighbors, sim.shape[0] - 1)
        if 0 < k < sim.shape[0] - 1:
            thresh = -np.partition(-sim, k - 1, axis=0)[k - 1 : k, :]  # k-th largest similarity per target
            sim = np.where(sim >= thresh, sim, 0.0)
        self.similarity = sp.csr_matrix(sim.astype(np.float32))
        return self

    def score(self, fed: sp.csr_matrix) -> np.ndarray:
        if self.similarity is None:
            raise RuntimeError("ItemKNN.score before fit")
        return np.asarray((_check(fed, "fed") @ self.similarity).toarray(), dtype=np.float32)


def ease_weights(gram: np.ndarray, lam: float) -> np.ndarray:
    """EASE closed form (Steck 2019): B = I - P diagMat(1/diag(P)), P = (G + lam I)^-1, diag(B) = 0.

    ``gram`` (n, n) = XᵀX (consumed: overwritten). Cholesky inverse in float32 (LAPACK potrf/potri):
    about half the cost of a general inverse and precise enough for lam >= 1.
    """
    from scipy.linalg import lapack

    g = np.asarray(gram, dtype=np.float32)
    g[np.diag_indices_from(g)] += lam
    chol, info = lapack.spotrf(g, lower=0, overwrite_a=1)
    if info != 0:
        raise ValueError(f"EASE: Gram matrix + {lam} I is not positive definite (potrf info={info}); expected lam > 0")
    inv, info = lapack.spotri(chol, lower=0, overwrite_c=1)
    if info != 0:
        raise ValueError(f"EASE: inverse failed (potri info={info})")
    upper = np.triu(inv)
    p = upper + np.triu(upper, 1).T
    b = p / (-np.diag(p))
    np.fill_diagonal(b, 0.0)
    return b.astype(np.float32)


class EASE:
    """Embarrassingly Shallow Autoencoder, closed form, L2 strength ``lam``."""

    name = "ease"

    def __init__(self, lam: float = 200.0) -> None:
        self.lam = lam
        self.weights: np.ndarray | None = None

    def fit(self, interactions: sp.csr_matrix) -> Self:
        x = _check(interactions, "interactions")
        self.weights = ease_weights((x.T @ x).toarray(), self.lam)
        return self

    def score(self, fed: sp.csr_matrix) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("EASE.score before fit")
        return np.asarray(_check(fed, "fed") @ self.weights, dtype=np.float32)


class ALS:
    """Implicit-feedback ALS from the ``implicit`` package; new users are folded in
    (``recalculate_user``: one least-squares solve against the fixed item factors)."""

    name = "als"

    def __init__(self, factors: int = 64, regularization: float = 0.05, alpha: float = 10.0,
                 iterations: int = 15, seed: int = 0, threads: int = 2) -> None:  # fmt: skip
        self.params: dict[str, Any] = {"factors": factors, "regularization": regularization, "alpha": alpha,
                                       "iterations": iterations}  # fmt: skip
        self.seed = seed
        self.threads = threads
        self.model: Any = None

    def fit(self, interactions: sp.csr_matrix) -> Self:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        # implicit parallelises over users itself; a BLAS thread pool underneath only oversubscribes
        with threadpool_limits(1, "blas"):
            self.model = AlternatingLeastSquares(**self.params, random_state=self.seed, num_threads=self.threads)
            self.model.fit(_check(interactions, "interactions"), show_progress=False)
        return self

    def score(self, fed: sp.csr_matrix) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("ALS.score before fit")
        fed = _check(fed, "fed")
        users = self.model.recalculate_user(np.arange(fed.shape[0]), fed)
        return np.asarray(users @ self.model.item_factors.T, dtype=np.float32)
