"""Vector index: float32 unit vectors -> our integer ids and cosine scores (FAISS inner product).

The index knows nothing of text: it takes ``(n, d)`` float32 L2-normalised arrays (so inner product
is cosine) and integer ids chosen by the caller, and answers ``search`` with the caller's ids.

Implementations (one :class:`VectorIndex` protocol, one shared test suite):

* :class:`ExactIndex` — ``IndexFlatIP``, exhaustive, the baseline every approximate index is tested
  against.
* :class:`HNSWIndex` — ``IndexHNSWFlat`` with ``METRIC_INNER_PRODUCT``; always on the CPU.
* :class:`IVFIndex` — ``IndexIVFFlat`` with ``METRIC_INNER_PRODUCT``.

:func:`build_index` is the one factory: it picks the kind from the catalog size and the device
(thresholds measured in ``benchmarks/index.py`` on synthetic vectors and ``benchmarks/index_real.py``
on the real catalog's vectors and real queries; recorded in ``benchmarks/README.md``, "Index") and
makes the CPU/GPU choice once; callers never branch on either.

Shapes: ``n`` indexed vectors, ``q`` queries, ``d`` dimension, ``k`` = ``top_k``, ``m`` allowed ids.

Ids: faiss stores vectors at sequential positions ``0..n-1``; ``ids[position]`` is our id (the
``ids.npy`` array of a stored version). Ids are unique non-negative int64; ``-1`` pads results.

Thread safety: ``search`` never mutates shared state (search parameters are passed per call), so
concurrent searches on one index are safe; ``add`` must not run concurrently with anything else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from embeddings.index_errors import (
    GpuUnavailableError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    InvalidVectorsError,
    VectorIndexError,
)

__all__ = [
    "EXACT_MAX_ITEMS",
    "GPU_EXACT_MAX_ITEMS",
    "AllowedIds",
    "ExactIndex",
    "FaissVectorIndex",
    "GpuUnavailableError",
    "HNSWIndex",
    "HalfShortlist",
    "LazyHalfShortlist",
    "IVFIndex",
    "IndexCorruptError",
    "IndexKind",
    "IndexMismatchError",
    "IndexNotFoundError",
    "InvalidVectorsError",
    "VectorIndex",
    "VectorIndexError",
    "as_unit_float32",
    "build_index",
    "choose_kind",
    "choose_placement",
    "faiss_gpu_count",
    "faiss_single_thread",
    "index_from_faiss",
    "inner_products",
    "mask_selector",
]

IndexKind = Literal["flat", "hnsw", "ivf"]
Placement = Literal["cpu", "gpu"]
UseGpu = bool | Literal["auto"]
AllowedIds = np.ndarray | set[int] | frozenset[int] | list[int] | tuple[int, ...] | None

# Catalogs below this size get the exact index on a CPU (benchmarks/README.md, "Index on real data").
# Measured on the catalog's own 53,430 passage vectors with 894 real queries (benchmarks/index_real.py,
# 2 cores): exact search costs 3.8 ms of CPU per query at k=10 and 3.9 ms at search's k=310, with
# recall 1; the best approximate point, HNSW at efSearch 512, reached recall@10 0.957 (0.915 at
# k=310) for 1.6-2.5 ms, and IVF only 0.42 at its default nprobe (0.81 with 128 of 512 lists
# scanned): real e5 queries ("query: " prefix, short) sit away from the passages, so their nearest
# k-means cells are not where their nearest passages are. Exact search stays the choice up to
# ~100k vectors (~7.5 ms per query, below the encoder's cost); HNSW beyond.
EXACT_MAX_ITEMS = 100_000

# On a GPU exact search reads the whole matrix per query batch at the card's memory bandwidth; it stays
# exact up to this size (2M x 384 float32 = 3 GB; not measured here: no GPU was lent) and uses IVF
# beyond, where graph search has no GPU implementation in faiss.
GPU_EXACT_MAX_ITEMS = 2_000_000

# A row whose L2 norm is further than this from 1 is rejected: inner product is only cosine for unit
# vectors. Loose enough for vectors that went through float16 storage.
NORM_TOLERANCE = 1e-2

# HNSW defaults (benchmarks/README.md "Index"): M=32 with efConstruction=80 (the 1M build already
# takes ~30 min on 2 busy cores); efSearch 512 up to 250k vectors, doubled per doubling of n beyond.
# Synthetic queries needed only 64 (recall@10 0.99 at 50k and 100k, 0.86 at 1M where 256 gave 0.97);
# real queries over the real catalog needed 512 for 0.957 at 53k (64: 0.757, 256: 0.915).
DEFAULT_HNSW_M = 32
DEFAULT_HNSW_EF_CONSTRUCTION = 80
DEFAULT_HNSW_EF_SEARCH = 512
HNSW_EF_SEARCH_BASE_ITEMS = 250_000

# IVF defaults (benchmarks/README.md "Index"): nlist = the power of two nearest 2 * sqrt(n), nprobe =
# nlist / 64 (at least 16), k-means trained on at most 64 points per list.
IVF_NLIST_PER_SQRT_N = 2.0
IVF_NPROBE_DIVISOR = 64
IVF_MIN_NPROBE = 16
IVF_TRAIN_POINTS_PER_LIST = 64

# Filtered search: when the allowed ids are at most this fraction of the index (or at most
# FILTER_EXACT_MIN_ALLOWED ids), an approximate index searches the allowed subset exactly instead of
# traversing its structure with an IDSelector (measured in benchmarks/index.py "filtered").
DEFAULT_FILTER_EXACT_FRACTION = 0.1
FILTER_EXACT_MIN_ALLOWED = 4096
# Above those sizes, filtered approximate search first post-filters an unfiltered probe of
# FILTER_PROBE_SIZE neighbours. A row with fewer than top_k allowed hits there is "depleted" when the
# probe holds under FILTER_DEPLETED_RATIO x the allowed ids a random filter of the same size would leave
# (the filter excludes this query's neighbourhood: graph traversal cannot recover it) and is searched
# exactly; the other rows search again with an IDSelector and efSearch (nprobe) widened by
# 1 / (allowed fraction), efSearch at most HNSW_MAX_FILTER_EF_SEARCH.
FILTER_PROBE_SIZE = 64
FILTER_DEPLETED_RATIO = 0.25
HNSW_MAX_FILTER_EF_SEARCH = 1024
# Exact search over an allowed subset copies the rows out in blocks of this many (48 MiB at d=384) and
# runs a BLAS search per block; a few queries over a larger subset scan through a bitmap instead.
EXACT_GATHER_MAX_ROWS = 32_768
# From this many queries faiss computes inner products with BLAS (faiss's distance_compute_blas_threshold).
BLAS_MIN_QUERIES = 20
# faiss GPU indexes answer at most this many neighbours per query; larger top_k runs on the CPU copy.
GPU_MAX_TOP_K = 2048
# One query over at least this many vectors is answered from a float16 copy's shortlist, rescored in
# float32 (:class:`HalfShortlist`): the scan reads half the memory. Same results as the float32 scan
# (the shortlist is proved to hold the top k, else the float32 scan runs). Full scope, 53,431 texts, one
# thread, p50 of 300 queries: the float32 scan for k=310 3.15 ms, the float16 scan for its shortlist of 652
# 1.70 ms, the rescoring 0.05 ms. Served (benchmarks/search.py, full scope, c1, two runs each beside the
# float32 scans): search p50 22.8 / 23.0 -> 21.6 / 22.2 ms. Below this size the float16 scan's larger heap
# costs what the smaller read saves (default scope, 10,908 texts: p50 +1.5 ms in-process), so it stays off.
HALF_SHORTLIST_MIN_ROWS = 32_768
# The shortlist holds HALF_SHORTLIST_FACTOR * k + HALF_SHORTLIST_EXTRA rows.
HALF_SHORTLIST_FACTOR = 2
HALF_SHORTLIST_EXTRA = 32
# |float16-copy score - float32 score| <= 2**-11 * |q| * |x| (rounding each stored component) plus the
# float32 sum's error (~d * 2**-24): below HALF_ERROR_BOUND * |q| for rows of norm <= 1 + NORM_TOLERANCE.
HALF_ERROR_BOUND = 1e-3


def _faiss() -> Any:
    """Import faiss lazily: importing ``embeddings.index`` must stay cheap."""
    import faiss

    return faiss


# ---------------------------------------------------------------------------------------- validation


_THREAD_STATE = threading.local()


def faiss_single_thread() -> None:
    """Make faiss use one OpenMP thread in the calling thread (once per thread); for request threads.

    One query at a time gains nothing from OpenMP and loses a lot when cores are busy: measured on
    the 2-core CPU under load, one exact search over the 17,884 texts took 25-47 ms with faiss's
    default 2 threads and 3 ms with 1. OpenMP's thread count is per thread, so a setting made at
    start-up would not reach a server's worker threads: each searching thread sets its own.
    """
    if getattr(_THREAD_STATE, "faiss_single", False):
        return
    _faiss().omp_set_num_threads(1)
    _THREAD_STATE.faiss_single = True


def as_unit_float32(vectors: Any, dim: int | None, what: str) -> np.ndarray:
    """Check and convert ``vectors`` to a C-contiguous float32 ``(n, d)`` array of unit rows.

    Any floating dtype is converted to float32; integer, boolean or object arrays are rejected (they
    are almost always ids or labels passed by mistake). ``dim=None`` accepts any ``d >= 1``.

    Raises:
        InvalidVectorsError: wrong rank or dimension, non-float dtype, NaN/inf values, or rows whose
            L2 norm is not 1 (within ``NORM_TOLERANCE``).
    """
    array = np.asarray(vectors)
    expected = f"(n, {dim})" if dim is not None else "(n, d)"
    if array.ndim != 2:
        raise InvalidVectorsError(
            f"{what} must be a 2-D array of shape {expected}; got an array of shape {array.shape}"
        )
    if dim is not None and array.shape[1] != dim:
        raise InvalidVectorsError(
            f"{what} have dimension {array.shape[1]}; expected dimension {dim} (shape {expected})"
        )
    if array.shape[1] < 1:
        raise InvalidVectorsError(f"{what} have dimension 0; expected at least 1 column")
    if array.size and not np.issubdtype(array.dtype, np.floating):
        raise InvalidVectorsError(
            f"{what} have dtype {array.dtype}; expected float32 (any float dtype is converted)"
        )
    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.shape[0] == 0:
        return array
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InvalidVectorsError(
            f"{what} rows {bad[:5].tolist()} ({bad.size} rows in all) contain NaN or inf; expected finite values"
        )
    norms = np.sqrt(np.einsum("ij,ij->i", array, array))
    off = np.abs(norms - 1.0) > NORM_TOLERANCE
    if off.any():
        bad = np.flatnonzero(off)
        raise InvalidVectorsError(
            f"{what} rows {bad[:5].tolist()} have L2 norms {np.round(norms[bad[:5]], 4).tolist()} "
            f"({bad.size} rows in all); expected unit-norm rows (L2-normalise first: inner product = cosine)"
        )
    return array


def _as_ids(ids: Any, count: int) -> np.ndarray:
    """Check ``ids`` is a 1-D array of ``count`` unique non-negative integers; return it as int64."""
    array = np.asarray(ids)
    if array.ndim != 1 or array.shape[0] != count:
        raise InvalidVectorsError(
            f"ids must be a 1-D array of {count} integers (one per vector); got shape {array.shape}"
        )
    if count and (not np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise InvalidVectorsError(f"ids have dtype {array.dtype}; expected integers (int64)")
    array = array.astype(np.int64, copy=False)
    if count and array.min() < 0:
        raise InvalidVectorsError(
            f"ids contain negative values (min {int(array.min())}); expected ids >= 0 (-1 pads results)"
        )
    unique, counts = np.unique(array, return_counts=True)
    if unique.size != array.size:
        raise InvalidVectorsError(
            f"ids contain duplicates, e.g. {unique[counts > 1][:5].tolist()}; expected unique ids"
        )
    return array


def _as_id_query(allowed_ids: Iterable[int] | np.ndarray) -> np.ndarray:
    """The allowed ids as a sorted unique int64 array."""
    if isinstance(allowed_ids, (set, frozenset)):
        try:
            array = np.fromiter(allowed_ids, dtype=np.int64, count=len(allowed_ids))
        except (TypeError, ValueError, OverflowError) as error:
            raise InvalidVectorsError(f"allowed_ids must contain integers; got a set with {error}") from error
    else:
        array = np.asarray(allowed_ids)
        if array.ndim != 1:
            raise InvalidVectorsError(f"allowed_ids must be 1-D; got shape {array.shape}")
        if array.size and (not np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
            raise InvalidVectorsError(f"allowed_ids have dtype {array.dtype}; expected integers (our ids)")
        array = array.astype(np.int64, copy=False)
    return np.unique(array)


def _check_top_k(top_k: Any) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise InvalidVectorsError(f"top_k must be an integer >= 1; got {top_k!r}")
    return int(top_k)


# ------------------------------------------------------------------------------------------ protocol


@runtime_checkable
class VectorIndex(Protocol):
    """Nearest-neighbour search over unit vectors by inner product (cosine), answering in our ids."""

    @property
    def kind(self) -> str:
        """``"flat"`` (exact), ``"hnsw"`` or ``"ivf"``."""
        ...

    @property
    def dim(self) -> int:
        """Vector dimension ``d``."""
        ...

    @property
    def ntotal(self) -> int:
        """Number of indexed vectors ``n``."""
        ...

    @property
    def ids(self) -> np.ndarray:
        """``(n,)`` int64: our id of the vector at each faiss position (read-only view)."""
        ...

    @property
    def params(self) -> dict[str, Any]:
        """Build and search parameters (recorded in a stored version's manifest)."""
        ...

    @property
    def placement(self) -> Placement:
        """Where unfiltered searches run: ``"cpu"`` or ``"gpu"``."""
        ...

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Append ``vectors`` ``(n, d)`` float32 unit rows with ``ids`` ``(n,)`` unique int64 >= 0."""
        ...

    def search(
        self, query_embeddings: np.ndarray, top_k: int, allowed_ids: AllowedIds = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` neighbours of each query.

        Args:
            query_embeddings: ``(q, d)`` float32 unit rows (other float dtypes are converted).
            top_k: ``k >= 1``.
            allowed_ids: when given, only these ids may be returned; ids not in the index are ignored.

        Returns:
            ``scores`` ``(q, k)`` float32 cosine, best first, and ``ids`` ``(q, k)`` int64 our ids;
            missing results (``k`` above the number of candidates) are ``-inf`` / ``-1``.
        """
        ...


# ---------------------------------------------------------------------------------- implementations


class FaissVectorIndex:
    """Shared machinery of the faiss-backed indexes: validation, id mapping, filtering, padding.

    The CPU faiss index is the canonical copy (it is what gets saved, reconstructed from and searched
    with filters); on a GPU placement an extra GPU clone serves unfiltered searches.
    """

    kind: ClassVar[str] = "abstract"
    # Approximate indexes fall back to exact search over small allowed subsets.
    _approximate: ClassVar[bool] = True

    def __init__(
        self, dim: int, faiss_index: Any, filter_exact_fraction: float, filter_exact_min_allowed: int
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise InvalidVectorsError(f"dim must be an integer >= 1; got {dim!r}")
        if not 0.0 <= filter_exact_fraction <= 1.0:
            raise InvalidVectorsError(
                f"filter_exact_fraction must be in [0, 1]; got {filter_exact_fraction!r}"
            )
        if int(filter_exact_min_allowed) < 0:
            raise InvalidVectorsError(
                f"filter_exact_min_allowed must be >= 0; got {filter_exact_min_allowed!r}"
            )
        self._dim = int(dim)
        self._cpu = faiss_index
        self._gpu: Any = None
        self._gpu_resources: Any = None
        self._ids = np.empty(0, dtype=np.int64)
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None
        self.filter_exact_fraction = float(filter_exact_fraction)
        self.filter_exact_min_allowed = int(filter_exact_min_allowed)
        self.build_seconds = 0.0

    # -- properties -----------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def ntotal(self) -> int:
        return int(self._ids.size)

    @property
    def ids(self) -> np.ndarray:
        view = self._ids.view()
        view.flags.writeable = False
        return view

    @property
    def faiss_index(self) -> Any:
        """The canonical CPU faiss index (what :class:`embeddings.index_store.IndexStore` writes)."""
        return self._cpu

    @property
    def placement(self) -> Placement:
        return "gpu" if self._gpu is not None else "cpu"

    @property
    def params(self) -> dict[str, Any]:
        if not self._approximate:
            return self._kind_params()
        return {
            **self._kind_params(),
            "filter_exact_fraction": self.filter_exact_fraction,
            "filter_exact_min_allowed": self.filter_exact_min_allowed,
        }

    def _kind_params(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self._dim}, ntotal={self.ntotal}, placement={self.placement!r}, params={self.params})"

    # -- building -------------------------------------------------------------------------------

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Append ``vectors`` ``(n, d)`` float32 unit rows under ``ids`` ``(n,)`` (unique, >= 0, new)."""
        array = as_unit_float32(vectors, self._dim, "vectors")
        new_ids = _as_ids(ids, array.shape[0])
        if array.shape[0] == 0:
            return
        if self.ntotal:
            clash = new_ids[np.isin(new_ids, self._ids)]
            if clash.size:
                raise InvalidVectorsError(
                    f"ids {clash[:5].tolist()} are already in the index; expected new ids"
                )
        started = time.perf_counter()
        self._add_to_faiss(array)
        self.build_seconds += time.perf_counter() - started
        self._ids = np.concatenate([self._ids, new_ids])
        self._lookup = None
        if self._gpu is not None:  # rare: re-clone rather than keep two add paths in sync
            self._gpu = _clone_to_gpu(self._cpu, self._gpu_resources)

    def _add_to_faiss(self, vectors: np.ndarray) -> None:
        self._cpu.add(vectors)

    def _attach_ids(self, ids: np.ndarray) -> None:
        """Attach the id map of an already filled faiss index (used when loading a stored version)."""
        if ids.shape != (int(self._cpu.ntotal),):
            raise IndexCorruptError(
                f"the id map has shape {ids.shape}; expected ({int(self._cpu.ntotal)},) to match the faiss index"
            )
        self._ids = _as_ids(ids, int(self._cpu.ntotal))
        self._lookup = None

    def to_gpu(self) -> None:
        """Clone the index onto GPU 0 for unfiltered searches (called by the factory, not by users)."""
        self._gpu_resources = _gpu_resources()
        self._gpu = _clone_to_gpu(self._cpu, self._gpu_resources)

    # -- searching ------------------------------------------------------------------------------

    def search(
        self, query_embeddings: np.ndarray, top_k: int, allowed_ids: AllowedIds = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` neighbours of each query; see :meth:`VectorIndex.search`.

        With ``allowed_ids``, results come only from those ids, and every query gets ``min(k, m)``
        results (``m`` allowed ids present in the index). Approximate indexes search small subsets
        (at most ``filter_exact_fraction`` of the index or ``filter_exact_min_allowed`` ids) exactly,
        and larger ones as :meth:`_search_filtered` describes; rows left short are redone exactly.
        """
        k = _check_top_k(top_k)
        queries = as_unit_float32(query_embeddings, self._dim, "query_embeddings")
        positions = None if allowed_ids is None else self._positions_of(allowed_ids)
        return self._search_positions(queries, k, positions)

    def search_rows(
        self, query_embeddings: np.ndarray, top_k: int, allowed_rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` with the allowed set given as an ``(n,)`` bool mask over faiss positions
        (row ``i`` holds ``ids[i]``): a caller that filters every query the same way keeps the mask in
        the index's order and skips the id look-up (for one query over 10,908 texts the look-up cost
        more than the search)."""
        k = _check_top_k(top_k)
        queries = as_unit_float32(query_embeddings, self._dim, "query_embeddings")
        if allowed_rows is None:
            return self._search_positions(queries, k, None)
        mask = np.asarray(allowed_rows, dtype=bool)
        if mask.shape != (self.ntotal,):
            raise InvalidVectorsError(f"allowed_rows has shape {mask.shape}; expected ({self.ntotal},)")
        return self._search_positions(queries, k, np.flatnonzero(mask))

    def _search_positions(
        self, queries: np.ndarray, k: int, positions: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` over the sorted faiss ``positions`` ``(m,)`` (``None``: every vector)."""
        n_queries = queries.shape[0]
        scores = np.full((n_queries, k), -np.inf, dtype=np.float32)
        result_ids = np.full((n_queries, k), -1, dtype=np.int64)
        n_candidates = self.ntotal if positions is None else int(positions.size)
        if n_queries == 0 or n_candidates == 0:
            return scores, result_ids
        k_eff = min(k, n_candidates)
        if positions is None:
            distances, labels = self._search_unfiltered(queries, k_eff)
        elif not self._approximate or self._use_exact_subset(positions.size):
            distances, labels = self._search_subset_exact(queries, k_eff, positions)
        else:
            distances, labels = self._search_filtered(queries, k_eff, positions)
            short = (labels < 0).any(axis=1)
            if short.any():
                distances[short], labels[short] = self._search_subset_exact(queries[short], k_eff, positions)
        found = labels >= 0
        scores[:, :k_eff] = np.where(found, distances, -np.inf)
        result_ids[:, :k_eff] = np.where(found, self._ids[np.where(found, labels, 0)], -1)
        return scores, result_ids

    def _search_unfiltered(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # GPU clones take their search parameters as attributes (see to_gpu); faiss GPU search caps k.
        if self._gpu is not None and k <= GPU_MAX_TOP_K:
            distances, labels = self._gpu.search(queries, k)
        else:
            distances, labels = self._cpu.search(queries, k, params=self._search_params(k, None))
        return distances, labels

    def _search_filtered(
        self, queries: np.ndarray, k: int, positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Filtered approximate search in two steps (labels are positions, ``-1`` when short).

        1. Post-filter an unfiltered probe of ``max(2k, FILTER_PROBE_SIZE)`` neighbours: a row with at
           least ``k`` allowed ids among them has its answer (the allowed ids closest to the query).
        2. Rows whose probe is depleted (far fewer allowed ids than the filter's overall fraction
           predicts: the filter is correlated with the query and excludes its neighbourhood) are
           searched exactly over the allowed subset; the others search again with an IDSelector and
           a search breadth widened by ``1 / (allowed fraction)``.
        """
        n_queries = queries.shape[0]
        mask = np.zeros(self.ntotal, dtype=bool)
        mask[positions] = True
        distances = np.full((n_queries, k), -np.inf, dtype=np.float32)
        labels = np.full((n_queries, k), -1, dtype=np.int64)
        probe = min(self.ntotal, max(2 * k, FILTER_PROBE_SIZE))
        probe_distances, probe_labels = self._search_unfiltered(queries, probe)
        allowed = (probe_labels >= 0) & mask[np.maximum(probe_labels, 0)]
        hits = allowed.sum(axis=1)
        done = hits >= k
        if done.any():
            # A stable sort puts each row's allowed hits first, still best first.
            order = np.argsort(~allowed[done], axis=1, kind="stable")[:, :k]
            distances[done] = np.take_along_axis(probe_distances[done], order, axis=1)
            labels[done] = np.take_along_axis(probe_labels[done], order, axis=1)
        fraction = positions.size / self.ntotal
        depleted = ~done & (hits < FILTER_DEPLETED_RATIO * fraction * probe)
        if depleted.any():
            distances[depleted], labels[depleted] = self._search_subset_exact(queries[depleted], k, positions)
        rest = ~done & ~depleted
        if rest.any():
            # GPU indexes do not take IDSelectors: this step always runs on the CPU copy.
            selector = _bitmap_selector(positions, self.ntotal)
            distances[rest], labels[rest] = self._cpu.search(
                queries[rest], k, params=self._search_params(k, selector, 1.0 / fraction)
            )
        return distances, labels

    def _search_params(self, k: int, selector: Any, widen: float = 1.0) -> Any:
        """faiss search parameters; ``widen`` multiplies the search breadth (efSearch, nprobe)."""
        if selector is None:
            return None
        return _faiss().SearchParameters(sel=selector)

    def _use_exact_subset(self, n_allowed: int) -> bool:
        return n_allowed <= max(self.filter_exact_min_allowed, self.filter_exact_fraction * self.ntotal)

    def _search_subset_exact(
        self, queries: np.ndarray, k: int, positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exhaustive search over the vectors at ``positions`` ``(m,)``; labels are positions.

        Copies the allowed rows out in blocks of ``EXACT_GATHER_MAX_ROWS`` and runs a BLAS search on
        each, merging the per-block top ``k``; a few queries over a large subset instead scan the
        stored vectors through a bitmap (no copy: for one query the copy would cost more than the
        search).
        """
        faiss = _faiss()
        if positions.size > EXACT_GATHER_MAX_ROWS and queries.shape[0] < BLAS_MIN_QUERIES:
            distances, labels = self._scan_with_selector(queries, k, _bitmap_selector(positions, self.ntotal))
            return distances, labels
        distances = np.full((queries.shape[0], k), -np.inf, dtype=np.float32)
        labels = np.full((queries.shape[0], k), -1, dtype=np.int64)
        block_rows = max(1, EXACT_GATHER_MAX_ROWS)
        for start in range(0, positions.size, block_rows):
            block = positions[start : start + block_rows]
            block_distances, local = faiss.knn(
                queries, self._reconstruct(block), min(k, block.size), metric=faiss.METRIC_INNER_PRODUCT
            )
            block_labels = np.where(local >= 0, block[np.maximum(local, 0)], -1)
            if start == 0 and block.size >= k:
                distances, labels = block_distances, block_labels
                continue
            merged_distances = np.concatenate([distances, block_distances], axis=1)
            merged_labels = np.concatenate([labels, block_labels], axis=1)
            order = np.argsort(-merged_distances, axis=1, kind="stable")[:, :k]
            distances = np.take_along_axis(merged_distances, order, axis=1)
            labels = np.take_along_axis(merged_labels, order, axis=1)
        return distances, labels

    def _scan_with_selector(
        self, queries: np.ndarray, k: int, selector: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over every stored vector the selector admits (no copy of the rows)."""
        raise NotImplementedError

    def _reconstruct(self, positions: np.ndarray) -> np.ndarray:
        return self._cpu.reconstruct_batch(positions)

    def _positions_of(self, allowed_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        """Sorted faiss positions ``(m,)`` of the allowed ids that are in the index."""
        wanted = _as_id_query(allowed_ids)
        if wanted.size == 0 or self.ntotal == 0:
            return np.empty(0, dtype=np.int64)
        if self._lookup is None:
            order = np.argsort(self._ids, kind="stable")
            self._lookup = (self._ids[order], order)
        sorted_ids, order = self._lookup
        slots = np.searchsorted(sorted_ids, wanted)
        slots_clipped = np.minimum(slots, sorted_ids.size - 1)
        hit = sorted_ids[slots_clipped] == wanted
        return np.sort(order[slots_clipped[hit]])


class ExactIndex(FaissVectorIndex):
    """Exhaustive inner-product search (``IndexFlatIP``): recall 1, the reference for the others."""

    kind: ClassVar[str] = "flat"
    _approximate: ClassVar[bool] = False

    def __init__(self, dim: int, *, faiss_index: Any = None) -> None:
        super().__init__(
            dim, faiss_index if faiss_index is not None else _faiss().IndexFlatIP(int(dim)), 1.0, 0
        )
        self._half = LazyHalfShortlist(self._reconstruct_all)

    def _add_to_faiss(self, vectors: np.ndarray) -> None:
        with self._half.changing():
            self._cpu.add(vectors)

    def _half_copy(self, n_queries: int) -> HalfShortlist | None:
        """The float16 shortlist over the stored rows, for fewer than :data:`BLAS_MIN_QUERIES` queries."""
        return None if n_queries >= BLAS_MIN_QUERIES else self._half.get(self.ntotal)

    def _search_unfiltered(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        half = None if self._gpu is not None else self._half_copy(queries.shape[0])
        if half is None:
            return super()._search_unfiltered(queries, k)
        return self._shortlisted(half, queries, k, None)

    def _scan_with_selector(
        self, queries: np.ndarray, k: int, selector: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        half = self._half_copy(queries.shape[0])
        if half is not None:
            return self._shortlisted(half, queries, k, selector)
        distances, labels = self._cpu.search(queries, k, params=_faiss().SearchParameters(sel=selector))
        return distances, labels

    def _shortlisted(
        self, half: HalfShortlist, queries: np.ndarray, k: int, selector: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each query's top ``k`` from ``half`` (the float32 scan where the shortlist cannot prove it)."""
        distances = np.full((queries.shape[0], k), -np.inf, dtype=np.float32)
        labels = np.full((queries.shape[0], k), -1, dtype=np.int64)
        for i, query in enumerate(queries):
            found = half.top(query, k, selector)
            if found is None:
                params = None if selector is None else _faiss().SearchParameters(sel=selector)
                distances[i : i + 1], labels[i : i + 1] = self._cpu.search(query[None], k, params=params)
                continue
            rows, scores = found
            distances[i, : rows.size], labels[i, : rows.size] = scores, rows
        return distances, labels

    def _reconstruct_all(self) -> np.ndarray:
        """``(n, d)`` the stored rows, a view (no copy)."""
        faiss = _faiss()
        return faiss.rev_swig_ptr(self._cpu.get_xb(), self.ntotal * self._dim).reshape(self.ntotal, self._dim)

    def _search_subset_exact(
        self, queries: np.ndarray, k: int, positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """A few queries scan the stored rows through a bitmap whatever the subset's size: faiss computes
        only the allowed rows' inner products, so copying them out first (the gather below
        :data:`EXACT_GATHER_MAX_ROWS` rows) only adds its cost (one query over 10,700 of 10,908 texts:
        the copy alone cost more than the search). Same scores and order as the gathered search."""
        if queries.shape[0] < BLAS_MIN_QUERIES:
            return self._scan_with_selector(queries, k, _bitmap_selector(positions, self.ntotal))
        return super()._search_subset_exact(queries, k, positions)

    def _reconstruct(self, positions: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self._reconstruct_all()[positions])


class HNSWIndex(FaissVectorIndex):
    """Graph search (``IndexHNSWFlat``, inner product); stays on the CPU whatever the placement asks.

    Args:
        dim: vector dimension ``d``.
        m: graph degree (``M``); memory grows by ``2 * m`` int32 per vector.
        ef_construction: candidate list size while inserting (build time vs graph quality).
        ef_search: candidate list size while searching (raised to ``top_k`` when smaller); ``None``
            picks :meth:`default_ef_search` of the index size at each search.
        filter_exact_fraction: allowed-subset fraction at or below which filtered search is exact.
        filter_exact_min_allowed: allowed-subset size at or below which filtered search is exact.
    """

    kind: ClassVar[str] = "hnsw"

    def __init__(
        self,
        dim: int,
        *,
        m: int = DEFAULT_HNSW_M,
        ef_construction: int = DEFAULT_HNSW_EF_CONSTRUCTION,
        ef_search: int | None = None,
        filter_exact_fraction: float = DEFAULT_FILTER_EXACT_FRACTION,
        filter_exact_min_allowed: int = FILTER_EXACT_MIN_ALLOWED,
        faiss_index: Any = None,
    ) -> None:
        faiss = _faiss()
        if faiss_index is None:
            for name, value in (("m", m), ("ef_construction", ef_construction)):
                if int(value) < 1:
                    raise InvalidVectorsError(f"HNSW {name} must be >= 1; got {value!r}")
            faiss_index = faiss.IndexHNSWFlat(int(dim), int(m), faiss.METRIC_INNER_PRODUCT)
            faiss_index.hnsw.efConstruction = int(ef_construction)
        super().__init__(dim, faiss_index, filter_exact_fraction, filter_exact_min_allowed)
        self._ef_search: int | None = None
        if ef_search is not None:
            self.ef_search = ef_search

    @property
    def ef_search(self) -> int:
        """Candidate list size of a search (the default for the current size until set)."""
        return self._ef_search if self._ef_search is not None else self.default_ef_search(self.ntotal)

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if isinstance(value, bool) or int(value) < 1:
            raise InvalidVectorsError(f"HNSW ef_search must be >= 1; got {value!r}")
        self._ef_search = int(value)

    @staticmethod
    def default_ef_search(n_items: int) -> int:
        """``DEFAULT_HNSW_EF_SEARCH`` up to ``HNSW_EF_SEARCH_BASE_ITEMS`` vectors, doubled per doubling beyond."""
        if n_items <= HNSW_EF_SEARCH_BASE_ITEMS:
            return DEFAULT_HNSW_EF_SEARCH
        return DEFAULT_HNSW_EF_SEARCH * (1 << int(np.ceil(np.log2(n_items / HNSW_EF_SEARCH_BASE_ITEMS))))

    def _kind_params(self) -> dict[str, Any]:
        return {
            "m": int(self._cpu.hnsw.nb_neighbors(1)),
            "ef_construction": int(self._cpu.hnsw.efConstruction),
            "ef_search": self.ef_search,
        }

    def to_gpu(self) -> None:
        """HNSW has no GPU implementation in faiss: it stays on the CPU."""

    def _scan_with_selector(
        self, queries: np.ndarray, k: int, selector: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        # The flat storage under the graph; the HNSW index (kept alive by self) owns it.
        storage = faiss.downcast_index(self._cpu.storage)
        distances, labels = storage.search(queries, k, params=faiss.SearchParameters(sel=selector))
        return distances, labels

    def _search_params(self, k: int, selector: Any, widen: float = 1.0) -> Any:
        faiss = _faiss()
        ef_search = max(self.ef_search, k)
        if widen > 1.0:
            ef_search = max(ef_search, min(HNSW_MAX_FILTER_EF_SEARCH, int(np.ceil(ef_search * widen))))
        params = faiss.SearchParametersHNSW(efSearch=ef_search)
        if selector is not None:
            params.sel = selector
        return params


class IVFIndex(FaissVectorIndex):
    """Inverted lists (``IndexIVFFlat``, inner product): k-means cells, ``nprobe`` cells scanned.

    The first :meth:`add` trains the coarse quantizer on (a seeded sample of) the vectors it gets,
    so it needs at least ``nlist`` vectors (``39 * nlist`` or more for good cells).

    Args:
        dim: vector dimension ``d``.
        nlist: number of cells; ``None`` picks :meth:`default_nlist` of the first ``add``'s size.
        nprobe: cells scanned per query; ``None`` picks :meth:`default_nprobe` of ``nlist``.
        filter_exact_fraction: allowed-subset fraction at or below which filtered search is exact.
        filter_exact_min_allowed: allowed-subset size at or below which filtered search is exact.
        seed: k-means seed.
    """

    kind: ClassVar[str] = "ivf"

    def __init__(
        self,
        dim: int,
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        filter_exact_fraction: float = DEFAULT_FILTER_EXACT_FRACTION,
        filter_exact_min_allowed: int = FILTER_EXACT_MIN_ALLOWED,
        seed: int = 0,
        faiss_index: Any = None,
    ) -> None:
        if nlist is not None and int(nlist) < 1:
            raise InvalidVectorsError(f"IVF nlist must be >= 1; got {nlist!r}")
        if nprobe is not None and int(nprobe) < 1:
            raise InvalidVectorsError(f"IVF nprobe must be >= 1; got {nprobe!r}")
        super().__init__(dim, faiss_index, filter_exact_fraction, filter_exact_min_allowed)
        self._nlist = int(nlist) if nlist is not None else None
        self.seed = int(seed)
        if faiss_index is not None:
            self._nlist = int(faiss_index.nlist)
        self._nprobe = int(nprobe) if nprobe is not None else None

    @property
    def nprobe(self) -> int:
        """Cells scanned per query (the default for ``nlist`` until set)."""
        if self._nprobe is not None:
            return self._nprobe
        return self.default_nprobe(self._nlist) if self._nlist is not None else IVF_MIN_NPROBE

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if int(value) < 1:
            raise InvalidVectorsError(f"IVF nprobe must be >= 1; got {value!r}")
        self._nprobe = int(value)
        if self._gpu is not None:
            self._gpu.nprobe = self._nprobe

    @staticmethod
    def default_nlist(n_items: int) -> int:
        """The power of two nearest ``2 * sqrt(n)``, at most ``n // 39`` (faiss's k-means minimum)."""
        target = IVF_NLIST_PER_SQRT_N * np.sqrt(max(n_items, 1))
        nlist = 1 << max(0, round(np.log2(target)))
        cap = max(1, n_items // 39)
        return min(nlist, 1 << (cap.bit_length() - 1))

    @staticmethod
    def default_nprobe(nlist: int) -> int:
        """``nlist / 64``, at least 16 (and at most ``nlist``)."""
        return max(1, min(nlist, max(IVF_MIN_NPROBE, nlist // IVF_NPROBE_DIVISOR)))

    def _kind_params(self) -> dict[str, Any]:
        return {"nlist": self._nlist, "nprobe": self.nprobe, "seed": self.seed}

    def _add_to_faiss(self, vectors: np.ndarray) -> None:
        faiss = _faiss()
        if self._cpu is None:
            nlist = self._nlist if self._nlist is not None else self.default_nlist(vectors.shape[0])
            if vectors.shape[0] < nlist:
                raise InvalidVectorsError(
                    f"IVF with nlist={nlist} needs at least {nlist} vectors in its first add to train; "
                    f"got {vectors.shape[0]}"
                )
            quantizer = faiss.IndexFlatIP(self._dim)
            index = faiss.IndexIVFFlat(quantizer, self._dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = self.seed
            rng = np.random.default_rng(self.seed)
            n_train = min(vectors.shape[0], IVF_TRAIN_POINTS_PER_LIST * nlist)
            sample = (
                vectors
                if n_train == vectors.shape[0]
                else vectors[np.sort(rng.choice(vectors.shape[0], n_train, replace=False))]
            )
            index.train(sample)
            index.make_direct_map()  # lets reconstruct_batch serve exact search over allowed subsets
            self._quantizer = quantizer  # the IVF index does not own its quantizer
            self._cpu = index
            self._nlist = nlist
        self._cpu.add(vectors)

    def _attach_ids(self, ids: np.ndarray) -> None:
        super()._attach_ids(ids)
        if self._cpu.direct_map.type == _faiss().DirectMap.NoMap:
            self._cpu.make_direct_map()

    def _search_unfiltered(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        distances, labels = super()._search_unfiltered(queries, k)
        short = (labels < 0).any(axis=1)
        if short.any():  # probed cells held fewer than k vectors: scan every cell for those rows
            distances[short], labels[short] = self._cpu.search(
                queries[short], k, params=_faiss().SearchParametersIVF(nprobe=self._cpu.nlist)
            )
        return distances, labels

    def _search_params(self, k: int, selector: Any, widen: float = 1.0) -> Any:
        faiss = _faiss()
        nprobe = min(int(np.ceil(self.nprobe * max(widen, 1.0))), int(self._cpu.nlist))
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        if selector is not None:
            params.sel = selector
        return params

    def to_gpu(self) -> None:
        super().to_gpu()
        self._gpu.nprobe = self.nprobe

    def _scan_with_selector(
        self, queries: np.ndarray, k: int, selector: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        # Probing every list visits every stored vector once: exact for IndexIVFFlat.
        params = _faiss().SearchParametersIVF(nprobe=int(self._cpu.nlist), sel=selector)
        distances, labels = self._cpu.search(queries, k, params=params)
        return distances, labels


class HalfShortlist:
    """The exact top rows of a float32 matrix for one query, found by scanning a float16 copy.

    A single query's exact search reads every stored vector: its cost is the memory read. The float16
    copy (``IndexScalarQuantizer``, ``QT_fp16``) halves it; its best ``HALF_SHORTLIST_FACTOR * k +
    HALF_SHORTLIST_EXTRA`` rows are rescored in float32 (:func:`inner_products`, the kernel of the
    float32 scan: same scores). The answer is the float32 scan's (ties aside) whenever the shortlist
    proves it: a row left out scores at most the shortlist's lowest float16 score plus
    :data:`HALF_ERROR_BOUND` ``* |q|`` in float32, so when the ``k``-th rescored row scores above that, no
    row left out could have entered the top ``k``. Otherwise :meth:`top` returns ``None`` and the caller
    scans in float32. The matrix is not copied (a view of faiss's storage is fine while it lives).
    """

    def __init__(self, matrix: np.ndarray) -> None:
        faiss = _faiss()
        self._matrix = np.asarray(matrix, dtype=np.float32)
        if self._matrix.ndim != 2 or not self._matrix.flags.c_contiguous:
            raise InvalidVectorsError(f"expected a C-contiguous (n, d) float32 matrix; got shape {self._matrix.shape}")
        n, dim = self._matrix.shape
        self._index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        if n:
            self._index.train(self._matrix[: min(n, 1024)])  # float16 needs no statistics; faiss wants the call
            self._index.add(self._matrix)

    @property
    def ntotal(self) -> int:
        return int(self._matrix.shape[0])

    def top(self, query: np.ndarray, k: int, selector: Any = None,
            adjust: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
        """``rows`` ``(m,)`` and float32 ``scores`` ``(m,)`` of the ``m = min(k, allowed rows)`` best rows,
        best first (ties: lower row first); ``None`` when the shortlist cannot prove them.

        ``selector``: a faiss ``IDSelector`` over rows (``None``: every row). ``adjust(rows, scores)``
        may lower scores (never raise them; ``-inf`` drops a row) before the rows are ranked.
        """
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        want = min(self.ntotal, HALF_SHORTLIST_FACTOR * k + HALF_SHORTLIST_EXTRA)
        if want == 0 or k < 1:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        params = None if selector is None else _faiss().SearchParameters(sel=selector)
        approx, found = self._index.search(q[None], want, params=params)
        listed = found[0] >= 0
        rows, approx_scores = found[0][listed], approx[0][listed]
        scores = inner_products(q, self._matrix[rows])
        if adjust is not None:
            scores = np.asarray(adjust(rows, scores), dtype=np.float32)
        order = np.lexsort((rows, -scores))
        order = order[np.isfinite(scores[order])][:k]
        if rows.size == want and want < self.ntotal:  # rows beyond the shortlist exist: prove it holds the top k
            ceiling = float(approx_scores[-1]) + HALF_ERROR_BOUND * float(np.linalg.norm(q))
            if order.size < k or not float(scores[order[-1]]) > ceiling:
                return None
        return rows[order], scores[order]


class LazyHalfShortlist:
    """A :class:`HalfShortlist` over ``rows()`` built on first use, only over at least
    :data:`HALF_SHORTLIST_MIN_ROWS` rows (below that its larger heap costs what the smaller read saves);
    :meth:`changing` drops it while the rows change (its view of them dies with a resize)."""

    def __init__(self, rows: Callable[[], np.ndarray]) -> None:
        self._rows = rows
        self._half: HalfShortlist | None = None
        self._lock = threading.Lock()

    def get(self, n_rows: int) -> HalfShortlist | None:
        """The shortlist over the ``n_rows`` current rows, or ``None`` when they are too few."""
        if n_rows < HALF_SHORTLIST_MIN_ROWS:
            return None
        with self._lock:
            if self._half is None:
                self._half = HalfShortlist(self._rows())
            return self._half

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Hold off every build while the rows change, and drop the shortlist over the old ones."""
        with self._lock:
            self._half = None
            yield


def inner_products(query_embedding: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``(n,)`` float32 inner products of one ``(d,)`` query with ``vectors`` ``(n, d)`` (C-contiguous
    float32), computed by faiss's single-threaded SIMD kernel (the scores an exact faiss search gives):
    numpy's BLAS matrix-vector product on the busy 2-core machine (load average ~10) waited for its
    second thread: p90 16 ms against a best of 0.12 ms over 11,005 title strings."""
    faiss = _faiss()
    query = np.ascontiguousarray(query_embedding, dtype=np.float32).reshape(-1)
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != query.size:
        raise InvalidVectorsError(f"vectors have shape {matrix.shape}; expected (n, {query.size})")
    out = np.empty(matrix.shape[0], dtype=np.float32)
    if matrix.shape[0]:
        faiss.fvec_inner_products_ny(faiss.swig_ptr(out), faiss.swig_ptr(query), faiss.swig_ptr(matrix),
                                     query.size, matrix.shape[0])  # fmt: skip
    return out


def _bitmap_selector(positions: np.ndarray, n_total: int) -> Any:
    """An ``IDSelectorBitmap`` over faiss positions (``O(1)`` membership; keeps its bitmap alive)."""
    mask = np.zeros(n_total, dtype=bool)
    mask[positions] = True
    return mask_selector(mask)


def mask_selector(mask: np.ndarray) -> Any:
    """An ``IDSelectorBitmap`` admitting the rows where the ``(n,)`` bool ``mask`` is true."""
    return _faiss().IDSelectorBitmap(np.packbits(np.asarray(mask, dtype=bool), bitorder="little"))


# ------------------------------------------------------------------------------------ CPU/GPU choice


def faiss_gpu_count() -> int:
    """GPUs faiss can use: 0 with faiss-cpu (no ``StandardGpuResources``) or without a device."""
    faiss = _faiss()
    if not hasattr(faiss, "StandardGpuResources") or not hasattr(faiss, "get_num_gpus"):
        return 0
    return int(faiss.get_num_gpus())


def _gpu_resources() -> Any:
    return _faiss().StandardGpuResources()


def _clone_to_gpu(cpu_index: Any, resources: Any) -> Any:
    return _faiss().index_cpu_to_gpu(resources, 0, cpu_index)


def choose_placement(kind: str, use_gpu: UseGpu, num_gpus: int) -> Placement:
    """Where an index of ``kind`` serves unfiltered searches.

    ``use_gpu=False`` -> CPU; ``"auto"`` -> GPU when ``num_gpus > 0``; ``True`` -> GPU, or
    :class:`GpuUnavailableError` when there is none. HNSW always stays on the CPU (faiss has no GPU
    HNSW), whatever ``use_gpu`` says.
    """
    if use_gpu not in (True, False, "auto"):
        raise InvalidVectorsError(f"use_gpu must be True, False or 'auto'; got {use_gpu!r}")
    if use_gpu is False:
        return "cpu"
    if num_gpus <= 0:
        if use_gpu is True:
            raise GpuUnavailableError(
                f"use_gpu=True but faiss reports {num_gpus} GPUs; expected at least 1 "
                "(install faiss-gpu on a CUDA machine, or pass use_gpu='auto')"
            )
        return "cpu"
    return "cpu" if kind == "hnsw" else "gpu"


def choose_kind(n_items: int, *, gpu: bool = False) -> IndexKind:
    """The index kind for a catalog of ``n_items`` vectors.

    CPU: exact below ``EXACT_MAX_ITEMS``, else HNSW. GPU: exact below ``GPU_EXACT_MAX_ITEMS``, else IVF.
    On the synthetic benchmark IVF looked best at 1M (recall@10 0.99 at 14x exact's throughput); on
    real queries over the real catalog it collapsed (recall@10 0.42 at 53k with the default nprobe)
    while HNSW held 0.96 at efSearch 512, so IVF is only used where nothing else runs (large GPU
    indexes) and exact search covers every catalog of this project's size.
    """
    if gpu:
        return "flat" if n_items < GPU_EXACT_MAX_ITEMS else "ivf"
    return "flat" if n_items < EXACT_MAX_ITEMS else "hnsw"


_KINDS: dict[str, type[FaissVectorIndex]] = {"flat": ExactIndex, "hnsw": HNSWIndex, "ivf": IVFIndex}


def build_index(
    vectors: np.ndarray,
    ids: np.ndarray,
    *,
    kind: IndexKind | Literal["auto"] = "auto",
    use_gpu: UseGpu = "auto",
    params: Mapping[str, Any] | None = None,
) -> FaissVectorIndex:
    """Build the index for a catalog: the one place the kind and the CPU/GPU choice are made.

    Args:
        vectors: ``(n, d)`` float32 L2-normalised rows (other float dtypes are converted).
        ids: ``(n,)`` unique int64 ids >= 0, our id of each row.
        kind: ``"flat"``, ``"hnsw"``, ``"ivf"``, or ``"auto"`` (:func:`choose_kind` from ``n``).
        use_gpu: ``"auto"`` (GPU when faiss-gpu sees one), ``True`` (required) or ``False``.
        params: constructor overrides for the kind, e.g. ``{"ef_search": 128}`` or ``{"nprobe": 32}``.

    Returns:
        The filled index; ``index.placement`` says where unfiltered searches run.
    """
    array = as_unit_float32(vectors, None, "vectors")
    num_gpus = faiss_gpu_count() if use_gpu is not False else 0
    if kind == "auto":
        chosen: str = choose_kind(array.shape[0], gpu=use_gpu is not False and num_gpus > 0)
    elif kind in _KINDS:
        chosen = kind
    else:
        raise InvalidVectorsError(f"kind must be one of {['auto', *_KINDS]}; got {kind!r}")
    placement = choose_placement(chosen, use_gpu, num_gpus)
    index = _KINDS[chosen](array.shape[1], **dict(params or {}))
    index.add(array, ids)
    if placement == "gpu":
        index.to_gpu()
    return index


def index_from_faiss(
    kind: str, faiss_index: Any, ids: np.ndarray, params: Mapping[str, Any], *, use_gpu: UseGpu = "auto"
) -> FaissVectorIndex:
    """Wrap a filled faiss index (read from a stored version) with its id map and search parameters.

    Raises:
        IndexCorruptError: the faiss index type does not match ``kind``, or ``ids`` does not match it.
    """
    faiss = _faiss()
    expected = {"flat": faiss.IndexFlatIP, "hnsw": faiss.IndexHNSWFlat, "ivf": faiss.IndexIVFFlat}
    if kind not in expected:
        raise IndexCorruptError(f"unknown index kind {kind!r}; expected one of {sorted(expected)}")
    # No faiss.downcast_index here: read_index already returns the concrete class, and a downcast
    # proxy does not own the C++ object (it dangles once the original wrapper is collected).
    if not isinstance(faiss_index, expected[kind]):
        raise IndexCorruptError(
            f"the faiss index is a {type(faiss_index).__name__}; expected {expected[kind].__name__} for kind {kind!r}"
        )
    if faiss_index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise IndexCorruptError(
            f"the faiss index uses metric {faiss_index.metric_type}; expected inner product"
        )
    dim = int(faiss_index.d)
    index: FaissVectorIndex
    fraction = float(params.get("filter_exact_fraction", DEFAULT_FILTER_EXACT_FRACTION))
    min_allowed = int(params.get("filter_exact_min_allowed", FILTER_EXACT_MIN_ALLOWED))
    if kind == "flat":
        index = ExactIndex(dim, faiss_index=faiss_index)
    elif kind == "hnsw":
        index = HNSWIndex(
            dim,
            ef_search=int(params["ef_search"]) if "ef_search" in params else None,
            filter_exact_fraction=fraction,
            filter_exact_min_allowed=min_allowed,
            faiss_index=faiss_index,
        )
    else:
        index = IVFIndex(
            dim,
            nprobe=int(params["nprobe"]) if "nprobe" in params else None,
            filter_exact_fraction=fraction,
            filter_exact_min_allowed=min_allowed,
            seed=int(params.get("seed", 0)),
            faiss_index=faiss_index,
        )
    index._attach_ids(np.asarray(ids))
    if choose_placement(kind, use_gpu, faiss_gpu_count() if use_gpu is not False else 0) == "gpu":
        index.to_gpu()
    return index
