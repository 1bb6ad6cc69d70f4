"""Seeded synthetic unit vectors shaped like text-embedding catalogs, for index tests and benchmarks.

Uniform random vectors on a 384-d sphere have no neighbours worth finding, so an approximate index
looks either hopeless or perfect on them. Like faiss's ``contrib.datasets.SyntheticDataset``, this
module generates data with structure instead: a gaussian mixture on the sphere with

* a shared offset direction (sentence-embedding models are anisotropic: every e5 passage has a
  cosine of about 0.8 with every other),
* Zipf-sized clusters (genres and franchises are uneven),
* a power-law covariance in a random rotation for both the cluster centres and the spread inside a
  cluster (many directions carry a little variance, as in real embeddings).

The defaults were fitted to 2,000 real passages (1,000 TMDB overviews + 1,000 Netflix descriptions
embedded with the bundled multilingual-e5-small); ``benchmarks/README.md`` section "Index" lists
both sets of statistics. Queries are drawn from the same mixture as items (held-out samples).

Shapes: ``n`` vectors, ``d`` dimension, ``c`` clusters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SyntheticEmbeddings"]


@dataclass(frozen=True)
class SyntheticEmbeddings:
    """A fixed gaussian mixture on the unit sphere; ``items`` and ``queries`` sample from it.

    Args:
        dim: dimension ``d``.
        n_clusters: number of mixture components ``c``.
        seed: seeds the mixture (centres, rotation) and, offset per call, every sample.
        offset_weight: weight of the shared direction (anisotropy).
        center_weight: weight of a cluster centre.
        spread_weight: weight of the within-cluster noise.
        spectrum_decay: power-law exponent of the within-cluster covariance eigenvalues (0 = isotropic).
        center_decay: the same for the distribution of cluster centres.
        zipf_exponent: cluster ``j`` (0-based) has weight proportional to ``(j + 1) ** -zipf_exponent``.
    """

    dim: int = 384
    n_clusters: int = 500
    seed: int = 0
    offset_weight: float = 2.3
    center_weight: float = 0.7
    spread_weight: float = 1.0
    spectrum_decay: float = 0.3
    center_decay: float = 1.2
    zipf_exponent: float = 0.7
    _state: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)

    def _mixture(self) -> dict[str, np.ndarray]:
        if not self._state:
            rng = np.random.default_rng(self.seed)
            offset = rng.standard_normal(self.dim)
            rotation, _ = np.linalg.qr(rng.standard_normal((self.dim, self.dim)))
            scales = _power_law_scales(self.dim, self.spectrum_decay)
            center_scales = _power_law_scales(self.dim, self.center_decay)
            centers = (rng.standard_normal((self.n_clusters, self.dim)) * center_scales) @ rotation.T
            weights = np.arange(1, self.n_clusters + 1, dtype=np.float64) ** (-self.zipf_exponent)
            self._state.update(
                offset=offset / np.linalg.norm(offset),
                rotation=rotation,
                scales=scales,
                centers=centers / np.sqrt(self.dim),
                weights=weights / weights.sum(),
            )
        return self._state

    def _sample(self, n: int, stream: int, chunk: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
        state = self._mixture()
        rng = np.random.default_rng([self.seed, stream])
        labels = rng.choice(self.n_clusters, size=n, p=state["weights"]).astype(np.int64)
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            noise = (rng.standard_normal((stop - start, self.dim)) * state["scales"]) @ state["rotation"].T
            rows = (
                self.offset_weight * state["offset"]
                + self.center_weight * state["centers"][labels[start:stop]]
                + self.spread_weight * noise / np.sqrt(self.dim)
            )
            rows /= np.linalg.norm(rows, axis=1, keepdims=True)
            out[start:stop] = rows
        return out, labels

    def items(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` catalog vectors: ``(n, d)`` float32 unit rows and their ``(n,)`` cluster labels."""
        return self._sample(n, stream=1)

    def queries(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` query vectors from the same mixture, independent of :meth:`items`."""
        return self._sample(n, stream=2)


def _power_law_scales(dim: int, decay: float) -> np.ndarray:
    """``(d,)`` standard deviations with eigenvalues ``i ** -decay``, scaled so ``E|row|^2 = d``."""
    scales = np.arange(1, dim + 1, dtype=np.float64) ** (-decay / 2)
    return scales * np.sqrt(dim / np.sum(scales**2))
