"""The vector index: every implementation against exact search on structured synthetic data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import embeddings.index as index_module
from embeddings.index import (
    EXACT_MAX_ITEMS,
    GPU_EXACT_MAX_ITEMS,
    ExactIndex,
    FaissVectorIndex,
    GpuUnavailableError,
    HalfShortlist,
    HNSWIndex,
    InvalidVectorsError,
    IVFIndex,
    VectorIndex,
    build_index,
    choose_kind,
    choose_placement,
    inner_products,
    mask_selector,
)
from embeddings.index_synthetic import SyntheticEmbeddings

N_ITEMS = 4000
N_QUERIES = 200
DIM = 384
TOP_K = 10
# Recall@10 each approximate kind must reach against exact search with its default parameters.
MIN_RECALL = {"flat": 1.0, "hnsw": 0.95, "ivf": 0.95}
# Filtered search through the approximate structure (no small-subset shortcut) may dip a little further.
MIN_FILTERED_RECALL = 0.93


def recall_at_k(expected: np.ndarray, got: np.ndarray) -> float:
    """Mean fraction of each row of ``expected`` ids found in the same row of ``got``."""
    hits = [
        len(set(e[e >= 0]) & set(g[g >= 0])) / max(1, int((e >= 0).sum()))
        for e, g in zip(expected, got, strict=True)
    ]
    return float(np.mean(hits))


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def catalog() -> dict[str, np.ndarray]:
    mixture = SyntheticEmbeddings(dim=DIM, seed=7)
    vectors, labels = mixture.items(N_ITEMS)
    queries, _ = mixture.queries(N_QUERIES)
    # Our ids are sparse and unordered, so an index returning positions instead of ids fails.
    ids = np.random.default_rng(7).choice(10**9, size=N_ITEMS, replace=False).astype(np.int64)
    return {"vectors": vectors, "labels": labels, "queries": queries, "ids": ids}


@pytest.fixture(scope="module")
def exact(catalog: dict[str, np.ndarray]) -> ExactIndex:
    index = build_index(catalog["vectors"], catalog["ids"], kind="flat", use_gpu=False)
    assert isinstance(index, ExactIndex)
    return index


def brute_force(
    catalog: dict[str, np.ndarray], queries: np.ndarray, top_k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Numpy reference: scores and ids of the top ``top_k`` allowed items per query."""
    vectors, ids = catalog["vectors"], catalog["ids"]
    if allowed is not None:
        keep = np.isin(ids, allowed)
        vectors, ids = vectors[keep], ids[keep]
    scores = queries.astype(np.float64) @ vectors.astype(np.float64).T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    return np.take_along_axis(scores, order, axis=1), ids[order]


KINDS = ["flat", "hnsw", "ivf"]


@pytest.fixture(scope="module")
def indexes(catalog: dict[str, np.ndarray], exact: ExactIndex) -> dict[str, FaissVectorIndex]:
    """One index of each kind over the catalog, built once for the module (tests never mutate them
    except through :func:`tuned`, which restores the attributes it changes)."""
    built = {
        kind: build_index(catalog["vectors"], catalog["ids"], kind=kind, use_gpu=False)
        for kind in ("hnsw", "ivf")
    }
    return {"flat": exact, **built}


@pytest.fixture(params=KINDS)
def built(request: pytest.FixtureRequest, indexes: dict[str, FaissVectorIndex]) -> FaissVectorIndex:
    return indexes[request.param]


@contextmanager
def tuned(index: FaissVectorIndex, **attributes: Any) -> Iterator[FaissVectorIndex]:
    """Temporarily set search attributes (``ef_search``, ``filter_exact_fraction``...) of an index."""
    saved = {name: getattr(index, name) for name in attributes}
    for name, value in attributes.items():
        setattr(index, name, value)
    try:
        yield index
    finally:
        for name, value in saved.items():
            setattr(index, name, value)


NO_SHORTCUT = {"filter_exact_fraction": 0.0, "filter_exact_min_allowed": 0}


class TestEveryIndex:
    """One suite, run against every implementation (``built`` is parametrised over the kinds)."""

    def test_satisfies_protocol_and_reports_shape(self, built: FaissVectorIndex) -> None:
        assert isinstance(built, VectorIndex)
        assert built.dim == DIM
        assert built.ntotal == N_ITEMS
        assert built.placement == "cpu"

    def test_recall_at_10_against_exact(
        self, built: FaissVectorIndex, exact: ExactIndex, catalog: dict[str, np.ndarray]
    ) -> None:
        _, expected = exact.search(catalog["queries"], TOP_K)
        _, got = built.search(catalog["queries"], TOP_K)
        assert recall_at_k(expected, got) >= MIN_RECALL[built.kind]

    def test_returns_our_ids_with_their_true_scores(
        self, built: FaissVectorIndex, catalog: dict[str, np.ndarray]
    ) -> None:
        scores, ids = built.search(catalog["queries"][:50], TOP_K)
        assert scores.dtype == np.float32 and ids.dtype == np.int64
        assert scores.shape == ids.shape == (50, TOP_K)
        position = {int(item): row for row, item in enumerate(catalog["ids"])}
        rows = np.vectorize(position.__getitem__)(ids)
        true_scores = np.einsum("qd,qkd->qk", catalog["queries"][:50], catalog["vectors"][rows])
        np.testing.assert_allclose(scores, true_scores, atol=1e-5)
        assert (np.diff(scores, axis=1) <= 1e-6).all(), "scores must be sorted best first"

    def test_an_indexed_vector_finds_itself_first(
        self, built: FaissVectorIndex, catalog: dict[str, np.ndarray]
    ) -> None:
        rows = np.arange(0, N_ITEMS, 97)
        scores, ids = built.search(catalog["vectors"][rows], 1)
        np.testing.assert_array_equal(ids[:, 0], catalog["ids"][rows])
        np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)

    @pytest.mark.parametrize("fraction", [0.5, 0.1, 0.01])
    def test_filtered_results_come_only_from_allowed_ids_and_fill_top_k(
        self, built: FaissVectorIndex, exact: ExactIndex, catalog: dict[str, np.ndarray], fraction: float
    ) -> None:
        rng = np.random.default_rng(int(fraction * 1000))
        allowed = catalog["ids"][rng.random(N_ITEMS) < fraction]
        scores, ids = built.search(catalog["queries"], TOP_K, allowed_ids=allowed)
        assert np.isin(ids, allowed).all()
        assert np.isfinite(scores).all()
        _, expected = exact.search(catalog["queries"], TOP_K, allowed_ids=allowed)
        assert recall_at_k(expected, ids) >= MIN_RECALL[built.kind]

    def test_filter_by_cluster_matches_exact_filtered_search(
        self, built: FaissVectorIndex, exact: ExactIndex, catalog: dict[str, np.ndarray]
    ) -> None:
        # A correlated filter (one "genre"): most queries' natural neighbours are all excluded.
        labels = catalog["labels"]
        allowed = catalog["ids"][labels == np.bincount(labels).argmax()]
        _, ids = built.search(catalog["queries"], TOP_K, allowed_ids=set(allowed.tolist()))
        _, expected = exact.search(catalog["queries"], TOP_K, allowed_ids=allowed)
        assert np.isin(ids, allowed).all()
        assert (ids >= 0).all()
        assert recall_at_k(expected, ids) >= MIN_RECALL[built.kind]

    def test_fewer_allowed_ids_than_top_k_are_all_returned_then_padded(
        self, built: FaissVectorIndex, catalog: dict[str, np.ndarray]
    ) -> None:
        allowed = catalog["ids"][[3, 1000, 2500]]
        unknown = np.array([10**12, 10**12 + 1], dtype=np.int64)  # ignored: not in the index
        scores, ids = built.search(
            catalog["queries"][:5], TOP_K, allowed_ids=np.concatenate([allowed, unknown])
        )
        for row in range(5):
            assert set(ids[row, :3].tolist()) == set(allowed.tolist())
        assert (ids[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()

    def test_allowed_rows_mask_answers_as_the_same_allowed_ids(
        self, built: FaissVectorIndex, catalog: dict[str, np.ndarray]
    ) -> None:
        # rows in faiss order: row i holds ids[i] (the ids were added in catalog order)
        for fraction in (0.9, 0.2, 0.001):
            rows = np.random.default_rng(int(fraction * 1000)).random(N_ITEMS) < fraction
            by_ids = built.search(catalog["queries"][:20], TOP_K, allowed_ids=built.ids[rows])
            by_rows = built.search_rows(catalog["queries"][:20], TOP_K, rows)
            np.testing.assert_array_equal(by_rows[1], by_ids[1])
            np.testing.assert_array_equal(by_rows[0], by_ids[0])
        unfiltered = built.search(catalog["queries"][:5], TOP_K)
        np.testing.assert_array_equal(built.search_rows(catalog["queries"][:5], TOP_K, None)[1], unfiltered[1])
        with pytest.raises(InvalidVectorsError, match="allowed_rows has shape"):
            built.search_rows(catalog["queries"][:1], TOP_K, np.ones(N_ITEMS - 1, dtype=bool))

    def test_allowed_ids_as_set_list_and_array_agree(
        self, built: FaissVectorIndex, catalog: dict[str, np.ndarray]
    ) -> None:
        allowed = catalog["ids"][::7]
        as_array = built.search(catalog["queries"][:20], TOP_K, allowed_ids=allowed)[1]
        as_set = built.search(catalog["queries"][:20], TOP_K, allowed_ids=set(allowed.tolist()))[1]
        as_list = built.search(catalog["queries"][:20], TOP_K, allowed_ids=allowed.tolist())[1]
        np.testing.assert_array_equal(as_array, as_set)
        np.testing.assert_array_equal(as_array, as_list)

    def test_empty_allowed_ids_return_only_padding(
        self, built: FaissVectorIndex, catalog: dict[str, np.ndarray]
    ) -> None:
        scores, ids = built.search(catalog["queries"][:3], TOP_K, allowed_ids=set())
        assert (ids == -1).all() and np.isneginf(scores).all()

    def test_top_k_above_ntotal_returns_everything_then_padding(
        self, built: FaissVectorIndex, catalog: dict[str, np.ndarray]
    ) -> None:
        scores, ids = built.search(catalog["queries"][:2], N_ITEMS + 5)
        assert ids.shape == (2, N_ITEMS + 5)
        for row in range(2):
            assert set(ids[row, :N_ITEMS].tolist()) == set(catalog["ids"].tolist())
        assert (ids[:, N_ITEMS:] == -1).all() and np.isneginf(scores[:, N_ITEMS:]).all()

    def test_float64_queries_are_converted(
        self, built: FaissVectorIndex, catalog: dict[str, np.ndarray]
    ) -> None:
        queries = catalog["queries"][:10]
        np.testing.assert_array_equal(
            built.search(queries.astype(np.float64), TOP_K)[1], built.search(queries, TOP_K)[1]
        )

    def test_zero_queries_give_empty_results(self, built: FaissVectorIndex) -> None:
        scores, ids = built.search(np.empty((0, DIM), dtype=np.float32), TOP_K)
        assert scores.shape == ids.shape == (0, TOP_K)

    @pytest.mark.parametrize(
        ("queries", "message"),
        [
            (np.zeros((2, DIM + 1), dtype=np.float32), "dimension 385; expected dimension 384"),
            (np.ones(DIM, dtype=np.float32) / np.sqrt(DIM), "2-D array"),
            (np.ones((2, DIM), dtype=np.int64), "dtype int64"),
            (np.full((2, DIM), 0.5, dtype=np.float32), "unit-norm"),
        ],
    )
    def test_bad_queries_raise_clear_errors(
        self, built: FaissVectorIndex, queries: np.ndarray, message: str
    ) -> None:
        with pytest.raises(InvalidVectorsError, match=message):
            built.search(queries, TOP_K)

    def test_nan_query_rows_are_named(self, built: FaissVectorIndex, catalog: dict[str, np.ndarray]) -> None:
        queries = catalog["queries"][:4].copy()
        queries[2, 5] = np.nan
        with pytest.raises(InvalidVectorsError, match=r"rows \[2\].*NaN"):
            built.search(queries, TOP_K)

    @pytest.mark.parametrize("top_k", [0, -1, 2.5, True])
    def test_bad_top_k_is_rejected(
        self, built: FaissVectorIndex, catalog: dict[str, np.ndarray], top_k: Any
    ) -> None:
        with pytest.raises(InvalidVectorsError, match="top_k"):
            built.search(catalog["queries"][:1], top_k)

    def test_concurrent_searches_agree(self, built: FaissVectorIndex, catalog: dict[str, np.ndarray]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        queries = catalog["queries"][:40]
        allowed = catalog["ids"][::3]
        expected = built.search(queries, TOP_K, allowed_ids=allowed)[1]
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda _: built.search(queries, TOP_K, allowed_ids=allowed)[1], range(8)))
        for result in results:
            np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
@pytest.mark.parametrize("filter_kind", ["random", "clusters"])
def test_two_step_filtered_search_without_the_small_subset_shortcut(
    kind: str,
    filter_kind: str,
    exact: ExactIndex,
    indexes: dict[str, FaissVectorIndex],
    catalog: dict[str, np.ndarray],
) -> None:
    """Large allowed sets go through probe + post-filter, widened IDSelector search and the exact
    fallback for depleted rows; random and cluster-correlated filters both keep their recall."""
    rng = np.random.default_rng(3)
    if filter_kind == "random":
        allowed = catalog["ids"][rng.random(N_ITEMS) < 0.3]
    else:  # whole clusters: many queries have no allowed neighbour nearby
        labels = catalog["labels"]
        clusters = rng.permutation(labels.max() + 1)[: (labels.max() + 1) // 4]
        allowed = catalog["ids"][np.isin(labels, clusters)]
    with tuned(indexes[kind], **NO_SHORTCUT) as index:
        scores, ids = index.search(catalog["queries"], TOP_K, allowed_ids=allowed)
    assert np.isin(ids, allowed).all() and (ids >= 0).all()
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    _, expected = exact.search(catalog["queries"], TOP_K, allowed_ids=allowed)
    assert recall_at_k(expected, ids) >= MIN_FILTERED_RECALL


def test_rows_whose_neighbourhood_is_filtered_out_are_searched_exactly(
    monkeypatch: pytest.MonkeyPatch,
    exact: ExactIndex,
    indexes: dict[str, FaissVectorIndex],
    catalog: dict[str, np.ndarray],
) -> None:
    """A cluster-correlated filter leaves some queries without allowed neighbours nearby: those rows
    (and only those) go to exact search, which a narrow graph search (efSearch 16) needs."""
    exact_rows: list[int] = []
    original = HNSWIndex._search_subset_exact

    def spy(
        self: HNSWIndex, queries: np.ndarray, k: int, positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        exact_rows.append(queries.shape[0])
        return original(self, queries, k, positions)

    monkeypatch.setattr(HNSWIndex, "_search_subset_exact", spy)
    labels = catalog["labels"]
    clusters = np.random.default_rng(3).permutation(labels.max() + 1)[: (labels.max() + 1) // 4]
    allowed = catalog["ids"][np.isin(labels, clusters)]
    with tuned(indexes["hnsw"], ef_search=16, **NO_SHORTCUT) as index:
        _, ids = index.search(catalog["queries"], TOP_K, allowed_ids=allowed)
        _, expected = exact.search(catalog["queries"], TOP_K, allowed_ids=allowed)
        assert 0 < sum(exact_rows) < N_QUERIES
        assert recall_at_k(expected, ids) >= MIN_RECALL["hnsw"]

        exact_rows.clear()
        allowed = catalog["ids"][np.random.default_rng(3).random(N_ITEMS) < 0.3]
        index.search(catalog["queries"], TOP_K, allowed_ids=allowed)
    assert sum(exact_rows) <= N_QUERIES // 20  # a random filter leaves every neighbourhood populated


@pytest.mark.parametrize("kind", KINDS)
def test_exact_subset_search_by_gathering_and_by_scanning_agree(
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
    indexes: dict[str, FaissVectorIndex],
    catalog: dict[str, np.ndarray],
) -> None:
    """All ways of searching an allowed subset exactly (one block, several blocks, bitmap scan) agree."""
    index = indexes[kind]
    positions = np.sort(np.random.default_rng(5).choice(N_ITEMS, size=700, replace=False))
    queries = catalog["queries"][:30]
    gathered = index._search_subset_exact(queries, TOP_K, positions)
    monkeypatch.setattr(index_module, "EXACT_GATHER_MAX_ROWS", 96)  # 8 blocks, the last one short
    in_blocks = index._search_subset_exact(queries, TOP_K, positions)
    scanned = index._search_subset_exact(queries[:5], TOP_K, positions)  # few queries: bitmap scan
    for distances, labels in (in_blocks, (scanned[0], scanned[1])):
        rows = labels.shape[0]
        np.testing.assert_array_equal(labels, gathered[1][:rows])
        np.testing.assert_allclose(distances, gathered[0][:rows], atol=1e-5)
    assert np.isin(gathered[1], positions).all()
    reference = np.sort(queries @ catalog["vectors"][positions].T, axis=1)[:, ::-1][:, :TOP_K]
    np.testing.assert_allclose(gathered[0], reference, atol=1e-5)


def test_exact_index_scans_a_small_subset_for_few_queries_as_the_gathered_search(
    exact: ExactIndex, catalog: dict[str, np.ndarray]
) -> None:
    """Few queries over a subset below the gather size scan it through a bitmap (no copy): the same
    scores, bit for bit, and the same order (ties included) as copying the rows out and searching them."""
    # the last two queries are stored vectors: in the second index each ties with its copy at the top
    queries = np.concatenate([catalog["queries"][:6], catalog["vectors"][[0, 1]]])
    duplicated = build_index(np.concatenate([catalog["vectors"], catalog["vectors"][:50]]),
                             np.arange(N_ITEMS + 50, dtype=np.int64), kind="flat", use_gpu=False)  # fmt: skip
    for index in (exact, duplicated):  # the second holds 50 vectors twice: exact ties
        for size in (30, 700, 3900):
            positions = np.sort(np.random.default_rng(size).choice(index.ntotal, size=size, replace=False))
            positions = np.union1d(positions, [0, 1, N_ITEMS, N_ITEMS + 1]) if index is duplicated else positions
            gathered = FaissVectorIndex._search_subset_exact(index, queries, 25, positions)
            scanned = index._search_subset_exact(queries, 25, positions)
            np.testing.assert_array_equal(scanned[1], gathered[1])
            np.testing.assert_array_equal(scanned[0], gathered[0])
            if index is duplicated:
                assert [sorted(row) for row in scanned[1][6:, :2].tolist()] == [[0, N_ITEMS], [1, N_ITEMS + 1]]


def test_inner_products_are_the_exact_searchs_scores(exact: ExactIndex, catalog: dict[str, np.ndarray]) -> None:
    vectors = np.ascontiguousarray(catalog["vectors"])
    for query in catalog["queries"][:10]:
        scores = inner_products(query, vectors)
        top_scores, top_ids = exact.search(query[None], 50)
        rows = np.searchsorted(catalog["ids"][np.argsort(catalog["ids"])], top_ids[0])
        positions = np.argsort(catalog["ids"])[rows]
        np.testing.assert_array_equal(scores[positions], top_scores[0])
        np.testing.assert_allclose(scores, vectors @ query, atol=1e-5)
    assert inner_products(catalog["queries"][0], vectors[:0]).shape == (0,)
    with pytest.raises(InvalidVectorsError, match="expected"):
        inner_products(catalog["queries"][0][:10], vectors)


@pytest.mark.parametrize("fraction", [0.9, 0.3, 0.02])
@pytest.mark.parametrize("gather_max_rows", [97, 10**9])
def test_exact_filtered_search_equals_brute_force(
    exact: ExactIndex,
    catalog: dict[str, np.ndarray],
    fraction: float,
    gather_max_rows: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Gathered in one block or many, filtered exact search gives the brute-force answer."""
    monkeypatch.setattr(index_module, "EXACT_GATHER_MAX_ROWS", gather_max_rows)
    allowed = catalog["ids"][np.random.default_rng(11).random(N_ITEMS) < fraction]
    scores, ids = exact.search(catalog["queries"], TOP_K, allowed_ids=allowed)
    expected_scores, expected_ids = brute_force(catalog, catalog["queries"], TOP_K, allowed)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
    # Ties aside, the ids agree; compare as sets per row to be robust to equal scores.
    assert recall_at_k(expected_ids, ids) == 1.0


@settings(max_examples=30, deadline=None)
@given(
    n_items=st.integers(min_value=0, max_value=60),
    top_k=st.integers(min_value=1, max_value=80),
    seed=st.integers(min_value=0, max_value=2**16),
    allowed_fraction=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0)),
)
def test_exact_index_matches_numpy_for_any_size_k_and_filter(
    n_items: int, top_k: int, seed: int, allowed_fraction: float | None
) -> None:
    rng = np.random.default_rng(seed)
    dim = 16
    vectors = unit_rows(rng, n_items, dim)
    ids = rng.choice(10**6, size=n_items, replace=False).astype(np.int64)
    queries = unit_rows(rng, 5, dim)
    allowed = None if allowed_fraction is None else ids[rng.random(n_items) < allowed_fraction]
    index = build_index(vectors, ids, kind="flat", use_gpu=False)
    scores, got = index.search(queries, top_k, allowed_ids=allowed)
    candidates = np.arange(n_items) if allowed is None else np.flatnonzero(np.isin(ids, allowed))
    expected_count = min(top_k, candidates.size)
    assert scores.shape == got.shape == (5, top_k)
    assert (got[:, expected_count:] == -1).all() and np.isneginf(scores[:, expected_count:]).all()
    for row in range(5):
        reference = np.sort(vectors[candidates] @ queries[row])[::-1][:expected_count]
        np.testing.assert_allclose(scores[row, :expected_count], reference, atol=1e-5)
        assert set(got[row, :expected_count].tolist()) <= set(ids[candidates].tolist())
        assert len(set(got[row, :expected_count].tolist())) == expected_count


def _float32_scan(vectors: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
                  lowered: np.ndarray | None = None, by: float = 0.0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Rows and scores of the float32 scan's top ``k`` (best first, ties: lower row first)."""
    scores = inner_products(query, vectors)
    if lowered is not None:
        scores = np.where(lowered, scores - np.float32(by), scores)
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    order = np.lexsort((np.arange(scores.size), -scores))
    order = order[np.isfinite(scores[order])][:k]
    return order, scores[order]


def test_single_queries_over_a_large_exact_index_answer_as_the_float32_scan(
    catalog: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From HALF_SHORTLIST_MIN_ROWS vectors up, one query is answered from the float16 shortlist: same ids,
    same float32 scores as the plain scan, unfiltered, through allowed ids and through an allowed-rows mask."""
    monkeypatch.setattr(index_module, "HALF_SHORTLIST_MIN_ROWS", 1000)
    index = build_index(catalog["vectors"], catalog["ids"], kind="flat", use_gpu=False)
    plain = build_index(catalog["vectors"], catalog["ids"], kind="flat", use_gpu=False)
    rng = np.random.default_rng(5)
    allowed_rows = rng.random(N_ITEMS) < 0.6
    for query in catalog["queries"][:40]:
        scores, ids = index.search(query[None], 100)
        assert isinstance(index, ExactIndex) and index._half._half is not None  # the shortlist answered
        with monkeypatch.context() as m:
            m.setattr(index_module, "HALF_SHORTLIST_MIN_ROWS", 10**9)
            expected_scores, expected_ids = plain.search(query[None], 100)
            expected_rows = plain.search_rows(query[None], 30, allowed_rows)
        np.testing.assert_array_equal(ids, expected_ids)
        np.testing.assert_array_equal(scores, expected_scores)
        got_rows = index.search_rows(query[None], 30, allowed_rows)
        np.testing.assert_array_equal(got_rows[1], expected_rows[1])
        np.testing.assert_array_equal(got_rows[0], expected_rows[0])
        assert set(got_rows[1][0].tolist()) <= set(catalog["ids"][allowed_rows].tolist())


def test_the_half_shortlist_declines_what_float16_cannot_separate() -> None:
    """Thousands of vectors a few 1e-5 apart round to the same float16 values: the shortlist cannot prove
    its top k and says so (``None``); the exact index then scans in float32 and still gives the true top."""
    rng = np.random.default_rng(3)
    base = unit_rows(rng, 1, 64)[0]
    vectors = base + 2e-5 * rng.standard_normal((3000, 64)).astype(np.float32)
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    half = HalfShortlist(vectors)
    assert half.top(base, 10) is None
    index = ExactIndex(64)
    index.add(vectors, np.arange(3000))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(index_module, "HALF_SHORTLIST_MIN_ROWS", 1)
        scores, ids = index.search(base[None], 10)
    assert index._half._half is not None  # the shortlist was built, declined, and the float32 scan answered
    rows, expected = _float32_scan(vectors, base, 10)
    np.testing.assert_array_equal(scores[0], expected)
    assert set(ids[0].tolist()) == set(rows.tolist())


def test_the_half_shortlist_with_a_selector_and_lowered_rows_is_the_float32_scan() -> None:
    """What the title channel asks: some rows lowered by a margin, others not allowed at all."""
    rng = np.random.default_rng(9)
    vectors = unit_rows(rng, 5000, 64)
    half = HalfShortlist(vectors)
    lowered = rng.random(5000) < 0.2
    allowed = rng.random(5000) < 0.7
    proved = 0
    for query in unit_rows(rng, 30, 64):
        found = half.top(query, 50, mask_selector(allowed),
                         lambda rows, scores: np.where(lowered[rows], scores - np.float32(0.05), scores))  # fmt: skip
        if found is None:
            continue
        proved += 1
        rows, scores = found
        expected_rows, expected_scores = _float32_scan(vectors, query, 50, allowed, lowered, 0.05)
        np.testing.assert_array_equal(rows, expected_rows)
        np.testing.assert_array_equal(scores, expected_scores)
    assert proved >= 25  # random unit vectors are far apart: the shortlist almost always proves its answer
    empty = HalfShortlist(np.zeros((0, 64), dtype=np.float32))
    assert empty.top(vectors[0], 5)[0].size == 0
    with pytest.raises(InvalidVectorsError, match="C-contiguous"):
        HalfShortlist(vectors[:, :32])


class TestBuilding:
    def test_empty_indexes_answer_with_padding(self) -> None:
        queries = unit_rows(np.random.default_rng(0), 3, DIM)
        for index in (
            ExactIndex(DIM),
            HNSWIndex(DIM),
            IVFIndex(DIM),
            build_index(np.empty((0, DIM), np.float32), np.empty(0, np.int64)),
        ):
            assert index.ntotal == 0
            scores, ids = index.search(queries, 5, allowed_ids=[1, 2])
            assert (ids == -1).all() and np.isneginf(scores).all()
            scores, ids = index.search(queries, 5)
            assert (ids == -1).all() and np.isneginf(scores).all()

    @pytest.mark.parametrize("kind", KINDS)
    def test_adding_in_batches_equals_one_build(self, kind: str, catalog: dict[str, np.ndarray]) -> None:
        vectors, ids = catalog["vectors"][:1000], catalog["ids"][:1000]
        whole = build_index(vectors, ids, kind=kind, use_gpu=False)  # type: ignore[arg-type]
        parts = build_index(vectors[:600], ids[:600], kind=kind, use_gpu=False)  # type: ignore[arg-type]
        parts.add(vectors[600:], ids[600:])
        assert parts.ntotal == 1000
        np.testing.assert_array_equal(parts.ids, ids)
        _, from_whole = whole.search(catalog["queries"][:50], TOP_K)
        _, from_parts = parts.search(catalog["queries"][:50], TOP_K)
        assert recall_at_k(from_whole, from_parts) >= MIN_RECALL[kind]

    @pytest.mark.parametrize(
        ("ids", "message"),
        [
            (np.array([1, 2, 2]), "duplicates"),
            (np.array([1, -2, 3]), "negative"),
            (np.array([1, 2]), "3 integers"),
            (np.array([1.0, 2.0, 3.0]), "dtype float64"),
        ],
    )
    def test_bad_ids_are_rejected(self, ids: np.ndarray, message: str) -> None:
        vectors = unit_rows(np.random.default_rng(0), 3, 8)
        with pytest.raises(InvalidVectorsError, match=message):
            build_index(vectors, ids, kind="flat", use_gpu=False)

    def test_adding_an_existing_id_is_rejected(self) -> None:
        vectors = unit_rows(np.random.default_rng(0), 4, 8)
        index = build_index(vectors[:2], np.array([10, 11]), kind="flat", use_gpu=False)
        with pytest.raises(InvalidVectorsError, match=r"ids \[11\] are already in the index"):
            index.add(vectors[2:], np.array([11, 12]))
        assert index.ntotal == 2

    def test_nan_vector_rows_are_rejected_at_build(self) -> None:
        vectors = unit_rows(np.random.default_rng(0), 5, 8)
        vectors[4, 0] = np.inf
        with pytest.raises(InvalidVectorsError, match=r"rows \[4\]"):
            build_index(vectors, np.arange(5), kind="flat", use_gpu=False)

    def test_ivf_needs_enough_vectors_to_train(self) -> None:
        vectors = unit_rows(np.random.default_rng(0), 10, 8)
        with pytest.raises(InvalidVectorsError, match="nlist=64 needs at least 64 vectors"):
            build_index(vectors, np.arange(10), kind="ivf", use_gpu=False, params={"nlist": 64})

    def test_unknown_kind_is_rejected(self) -> None:
        vectors = unit_rows(np.random.default_rng(0), 3, 8)
        with pytest.raises(InvalidVectorsError, match="kind must be one of"):
            build_index(vectors, np.arange(3), kind="annoy", use_gpu=False)  # type: ignore[arg-type]

    def test_default_ef_search_grows_beyond_the_measured_base_size(self) -> None:
        assert HNSWIndex.default_ef_search(50_000) == HNSWIndex.default_ef_search(250_000) == 512
        assert HNSWIndex.default_ef_search(500_000) == 1024
        assert HNSWIndex.default_ef_search(1_000_000) == 2048
        index = HNSWIndex(8)
        assert index.ef_search == 512 and index.params["ef_search"] == 512
        index.ef_search = 100
        assert index.params["ef_search"] == 100
        with pytest.raises(InvalidVectorsError, match="ef_search must be >= 1"):
            index.ef_search = 0

    def test_default_nlist_grows_with_the_catalog_and_stays_trainable(self) -> None:
        sizes = [100, 4000, 50_000, 1_000_000]
        nlists = [IVFIndex.default_nlist(n) for n in sizes]
        assert nlists == sorted(nlists)
        for n, nlist in zip(sizes, nlists, strict=True):
            assert nlist & (nlist - 1) == 0 and 1 <= nlist <= max(1, n // 39)


class TestFactoryChoices:
    def test_kind_follows_catalog_size(self) -> None:
        assert choose_kind(0) == "flat"
        assert choose_kind(EXACT_MAX_ITEMS - 1) == "flat"
        assert choose_kind(EXACT_MAX_ITEMS) == "hnsw"
        # the real catalog's full scope (53,430 texts) is searched exactly on either device
        assert choose_kind(53_430) == choose_kind(53_430, gpu=True) == "flat"
        assert choose_kind(GPU_EXACT_MAX_ITEMS - 1, gpu=True) == "flat"
        assert choose_kind(GPU_EXACT_MAX_ITEMS, gpu=True) == "ivf"

    @pytest.mark.parametrize(
        ("kind", "use_gpu", "num_gpus", "expected"),
        [
            ("flat", "auto", 0, "cpu"),
            ("flat", "auto", 1, "gpu"),
            ("ivf", "auto", 2, "gpu"),
            ("hnsw", "auto", 1, "cpu"),
            ("hnsw", True, 1, "cpu"),
            ("flat", False, 1, "cpu"),
            ("ivf", True, 1, "gpu"),
        ],
    )
    def test_placement(self, kind: str, use_gpu: Any, num_gpus: int, expected: str) -> None:
        assert choose_placement(kind, use_gpu, num_gpus) == expected

    def test_requiring_a_gpu_without_one_is_a_clear_error(self) -> None:
        with pytest.raises(GpuUnavailableError, match="use_gpu=True but faiss reports 0 GPUs"):
            choose_placement("flat", True, 0)
        with pytest.raises(InvalidVectorsError, match="use_gpu"):
            choose_placement("flat", "yes", 1)  # type: ignore[arg-type]

    def test_factory_falls_back_to_cpu_when_faiss_has_no_gpu(
        self, monkeypatch: pytest.MonkeyPatch, catalog: dict[str, np.ndarray]
    ) -> None:
        monkeypatch.setattr(index_module, "faiss_gpu_count", lambda: 0)
        index = build_index(catalog["vectors"][:500], catalog["ids"][:500])
        assert (index.kind, index.placement) == ("flat", "cpu")
        with pytest.raises(GpuUnavailableError):
            build_index(catalog["vectors"][:500], catalog["ids"][:500], use_gpu=True)

    def test_this_machine_reports_its_gpus_consistently(self) -> None:
        import faiss

        count = index_module.faiss_gpu_count()
        assert count >= 0
        if not hasattr(faiss, "StandardGpuResources"):
            assert count == 0

    @pytest.mark.parametrize(("kind", "expected"), [("flat", "gpu"), ("ivf", "gpu"), ("hnsw", "cpu")])
    def test_factory_moves_flat_and_ivf_to_a_gpu_when_one_is_seen(
        self, monkeypatch: pytest.MonkeyPatch, catalog: dict[str, np.ndarray], kind: str, expected: str
    ) -> None:
        cloned: list[Any] = []

        def fake_clone(cpu_index: Any, resources: Any) -> Any:
            cloned.append(cpu_index)
            return cpu_index  # stands in for the GPU copy: same answers, no device needed

        monkeypatch.setattr(index_module, "faiss_gpu_count", lambda: 1)
        monkeypatch.setattr(index_module, "_gpu_resources", lambda: object())
        monkeypatch.setattr(index_module, "_clone_to_gpu", fake_clone)
        index = build_index(catalog["vectors"][:800], catalog["ids"][:800], kind=kind)  # type: ignore[arg-type]
        assert index.placement == expected
        assert len(cloned) == (1 if expected == "gpu" else 0)
        cpu = build_index(catalog["vectors"][:800], catalog["ids"][:800], kind=kind, use_gpu=False)  # type: ignore[arg-type]
        assert cpu.placement == "cpu"
        np.testing.assert_array_equal(
            index.search(catalog["queries"][:20], TOP_K)[1], cpu.search(catalog["queries"][:20], TOP_K)[1]
        )

    def test_auto_kind_is_exact_on_gpu_and_hnsw_on_cpu_for_large_catalogs(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(index_module, "EXACT_MAX_ITEMS", 1000)
        monkeypatch.setattr(index_module, "GPU_EXACT_MAX_ITEMS", 1200)
        monkeypatch.setattr(index_module, "faiss_gpu_count", lambda: 1)
        monkeypatch.setattr(index_module, "_gpu_resources", lambda: object())
        monkeypatch.setattr(index_module, "_clone_to_gpu", lambda cpu_index, resources: cpu_index)
        vectors, _ = SyntheticEmbeddings(dim=32, seed=1, n_clusters=20).items(1500)
        mid = build_index(vectors[:1100], np.arange(1100))
        assert (mid.kind, mid.placement) == ("flat", "gpu")
        index = build_index(vectors, np.arange(1500))
        assert (index.kind, index.placement) == ("ivf", "gpu")
        cpu = build_index(vectors, np.arange(1500), use_gpu=False)
        assert (cpu.kind, cpu.placement) == ("hnsw", "cpu")
        monkeypatch.setattr(index_module, "faiss_gpu_count", lambda: 0)
        index = build_index(vectors, np.arange(1500))
        assert (index.kind, index.placement) == ("hnsw", "cpu")
        small = build_index(vectors[:999], np.arange(999))
        assert (small.kind, small.placement) == ("flat", "cpu")


def test_synthetic_data_has_neighbour_structure() -> None:
    """The generator must not degrade into uniform noise (where ANN recall means nothing)."""
    mixture = SyntheticEmbeddings(dim=DIM, seed=3)
    vectors, labels = mixture.items(2000)
    assert vectors.dtype == np.float32 and vectors.shape == (2000, DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1.0)
    nearest = similarity.max(axis=1).mean()
    mean = similarity[similarity > -1].mean()
    assert 0.7 < mean < 0.9  # anisotropic like e5 passages (~0.8)
    assert nearest - mean > 0.03  # neighbours stand out from the crowd
    same_cluster = labels[similarity.argmax(axis=1)] == labels
    assert same_cluster.mean() > 5 * np.max(np.bincount(labels)) / labels.size
    again, _ = SyntheticEmbeddings(dim=DIM, seed=3).items(2000)
    np.testing.assert_array_equal(vectors, again)
