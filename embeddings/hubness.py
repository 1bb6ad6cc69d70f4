"""Text hubness: how near each indexed text sits to queries in general, measured as its mean cosine to its
nearest reference queries (the title strings, which are embedded as queries).

Some texts sit near every query whatever it says (hubs of the embedding space); search's plot channel takes
a share of each text's hubness off its cosine (:meth:`search.dense.DenseRetriever.fit_hubness`). Measuring it
is one exact k-nearest-neighbour search of every text over up to :data:`MAX_HUB_REFERENCES` references (~1 s
on the default scope, ~10 s on the full scope's 53k texts, on one core), so it belongs with the index
version: :func:`embeddings.job.build_index_version` stores it as a sidecar, and a version built before that
caches it beside itself on first load (:meth:`embeddings.job.IndexArtifacts.text_hubness`). The values
depend on the version's vectors, the references and :class:`HubnessConfig`; :meth:`HubnessConfig.key` names
the last two, so a stored array is only used for what it was computed from.

Shapes: ``t`` index rows (texts), ``r`` references, ``d`` dimension.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from embeddings.index import faiss_single_thread

__all__ = ["HUB_NEIGHBOURS", "MAX_HUB_REFERENCES", "HubnessConfig", "HubnessSource", "text_hubness"]

HUB_NEIGHBOURS = 10
"""A text's hubness is its mean cosine to its this many nearest reference queries."""
MAX_HUB_REFERENCES = 20_000
"""At most this many reference queries (a seeded sample of the title strings) measure hubness, so the
full scope (53k texts) fits in about ten seconds on one core."""


@dataclass(frozen=True)
class HubnessConfig:
    """How hubness is measured: ``neighbours`` nearest references, out of a ``seed``-ed sample of at most
    ``max_references``."""

    neighbours: int = HUB_NEIGHBOURS
    max_references: int = MAX_HUB_REFERENCES
    seed: int = 0

    def key(self, references: np.ndarray) -> str:
        """sha256 (hex) naming this configuration and the ``(r, d)`` references' exact float32 values."""
        refs = np.ascontiguousarray(references, dtype=np.float32)
        digest = hashlib.sha256(json.dumps({"config": asdict(self), "shape": list(refs.shape)}, sort_keys=True).encode())
        digest.update(refs.tobytes())
        return digest.hexdigest()


class HubnessSource(Protocol):
    """Gives ``(t,)`` float32 hubness per index row for the index's ``(t, d)`` row vectors and ``(r, d)``
    references: :func:`text_hubness` computes it, :meth:`embeddings.job.IndexArtifacts.text_hubness` reads
    what the index version stored (computing and caching it when nothing stored matches)."""

    def __call__(self, vectors: np.ndarray, references: np.ndarray, config: HubnessConfig) -> np.ndarray: ...


def text_hubness(vectors: np.ndarray, references: np.ndarray, config: HubnessConfig) -> np.ndarray:
    """``(t,)`` float32: each of the ``(t, d)`` unit row ``vectors``' mean cosine to its ``config.neighbours``
    nearest ``(r, d)`` unit ``references`` (a seeded sample of ``config.max_references`` when there are
    more). Searched exactly, with one OpenMP thread in the calling thread (a parallel faiss search at a
    server's load left OpenMP's threads competing with the encoder's for the rest of the process)."""
    import faiss

    refs = np.ascontiguousarray(references, dtype=np.float32)
    if refs.ndim != 2 or refs.shape[0] == 0:
        raise ValueError(f"expected (r, d) references with r >= 1; got shape {refs.shape}")
    rows = np.ascontiguousarray(vectors, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] != refs.shape[1]:
        raise ValueError(f"expected (t, {refs.shape[1]}) vectors; got shape {rows.shape}")
    faiss_single_thread()
    if refs.shape[0] > config.max_references:
        sample = np.random.default_rng(config.seed).choice(refs.shape[0], config.max_references, replace=False)
        refs = refs[np.sort(sample)]
    flat = faiss.IndexFlatIP(refs.shape[1])
    flat.add(refs)
    near, _ = flat.search(rows, min(config.neighbours, refs.shape[0]))
    return np.asarray(near.mean(axis=1), dtype=np.float32)
