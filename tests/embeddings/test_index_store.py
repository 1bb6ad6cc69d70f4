"""Versioned index artifacts: round trips, verification errors, atomic swap and pruning."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from embeddings.index import ExactIndex, FaissVectorIndex, IVFIndex, build_index
from embeddings.index_errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    InvalidVectorsError,
    VectorIndexError,
)
from embeddings.index_store import FORMAT_VERSION, IndexStore
from embeddings.index_synthetic import SyntheticEmbeddings

DIM = 64
FINGERPRINT = "e5-small:sha256:0123abcd"
FIELDS = {"model_fingerprint": FINGERPRINT, "catalog_version": "2025-01-01"}


@pytest.fixture(scope="module")
def catalog() -> dict[str, np.ndarray]:
    mixture = SyntheticEmbeddings(dim=DIM, seed=5, n_clusters=40)
    vectors, _ = mixture.items(2000)
    queries, _ = mixture.queries(30)
    ids = np.random.default_rng(5).choice(10**7, size=2000, replace=False).astype(np.int64)
    return {"vectors": vectors, "queries": queries, "ids": ids}


def make_index(catalog: dict[str, np.ndarray], kind: str = "flat", n: int = 2000) -> FaissVectorIndex:
    return build_index(catalog["vectors"][:n], catalog["ids"][:n], kind=kind, use_gpu=False)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_round_trip_answers_like_the_original(
    tmp_path: Path, catalog: dict[str, np.ndarray], kind: str
) -> None:
    index = make_index(catalog, kind)
    store = IndexStore(tmp_path / "index")
    directory = store.write_version(index, {**FIELDS, "note": "built in a test"})
    assert sorted(path.name for path in directory.iterdir()) == ["ids.npy", "index.faiss", "manifest.json"]
    loaded = store.load_current(FINGERPRINT, DIM, use_gpu=False)
    assert loaded.version == directory.name == store.current_version()
    assert (loaded.index.kind, loaded.index.ntotal, loaded.index.dim) == (kind, 2000, DIM)
    assert loaded.index.params == index.params
    allowed = catalog["ids"][::4]
    for allowed_ids in (None, allowed):
        expected = index.search(catalog["queries"], 10, allowed_ids=allowed_ids)
        got = loaded.index.search(catalog["queries"], 10, allowed_ids=allowed_ids)
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_allclose(got[0], expected[0], atol=1e-6)


def test_manifest_records_what_was_built(tmp_path: Path, catalog: dict[str, np.ndarray]) -> None:
    import hashlib

    index = make_index(catalog, "hnsw")
    directory = IndexStore(tmp_path).write_version(index, FIELDS)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model_fingerprint"] == FINGERPRINT
    assert manifest["catalog_version"] == "2025-01-01"
    assert (manifest["dimension"], manifest["count"], manifest["index_kind"]) == (DIM, 2000, "hnsw")
    assert manifest["index_params"]["m"] == index.params["m"]
    assert manifest["build_seconds"] >= 0 and manifest["built_at"].endswith("+00:00")
    for name in ("index.faiss", "ids.npy"):
        assert manifest["checksums"][name] == hashlib.sha256((directory / name).read_bytes()).hexdigest()


def test_wrong_fingerprint_is_a_mismatch(tmp_path: Path, catalog: dict[str, np.ndarray]) -> None:
    store = IndexStore(tmp_path)
    store.write_version(make_index(catalog, n=100), FIELDS)
    with pytest.raises(IndexMismatchError, match=rf"fingerprint '{FINGERPRINT}'; expected 'other-model'"):
        store.load_current("other-model", DIM)


def test_wrong_dimension_is_a_mismatch(tmp_path: Path, catalog: dict[str, np.ndarray]) -> None:
    store = IndexStore(tmp_path)
    store.write_version(make_index(catalog, n=100), FIELDS)
    with pytest.raises(IndexMismatchError, match=r"dimension 64; expected 384"):
        store.load_current(FINGERPRINT, 384)


@pytest.mark.parametrize("name", ["index.faiss", "ids.npy"])
def test_a_flipped_byte_is_caught_by_the_checksum(
    tmp_path: Path, catalog: dict[str, np.ndarray], name: str
) -> None:
    store = IndexStore(tmp_path)
    directory = store.write_version(make_index(catalog, n=300), FIELDS)
    path = directory / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(
        IndexCorruptError, match=rf"{name} has sha256 [0-9a-f]{{64}}; expected [0-9a-f]{{64}}"
    ):
        store.load_current(FINGERPRINT, DIM)


@pytest.mark.parametrize("name", ["index.faiss", "ids.npy", "manifest.json"])
def test_a_missing_file_is_named(tmp_path: Path, catalog: dict[str, np.ndarray], name: str) -> None:
    store = IndexStore(tmp_path)
    directory = store.write_version(make_index(catalog, n=100), FIELDS)
    (directory / name).unlink()
    with pytest.raises(IndexCorruptError, match=rf"{name} is missing"):
        store.load_current(FINGERPRINT, DIM)


def test_a_truncated_index_with_a_matching_checksum_is_still_corrupt(
    tmp_path: Path, catalog: dict[str, np.ndarray]
) -> None:
    import hashlib

    store = IndexStore(tmp_path)
    directory = store.write_version(make_index(catalog, n=100), FIELDS)
    truncated = (directory / "index.faiss").read_bytes()[:200]
    (directory / "index.faiss").write_bytes(truncated)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["checksums"]["index.faiss"] = hashlib.sha256(truncated).hexdigest()
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="index.faiss cannot be read by faiss"):
        store.load_current(FINGERPRINT, DIM)


def test_unparseable_manifest_and_unknown_format(tmp_path: Path, catalog: dict[str, np.ndarray]) -> None:
    store = IndexStore(tmp_path)
    directory = store.write_version(make_index(catalog, n=100), FIELDS)
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(IndexMismatchError, match="format_version 99; expected 1"):
        store.load_current(FINGERPRINT, DIM)
    manifest_path.write_text("{not json")
    with pytest.raises(IndexCorruptError, match="manifest.json is not valid JSON"):
        store.load_current(FINGERPRINT, DIM)


def test_no_current_version_is_not_found(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "nothing-here")
    assert store.list_versions() == [] and store.current_version() is None
    with pytest.raises(IndexNotFoundError, match="CURRENT does not exist"):
        store.load_current()
    with pytest.raises(IndexNotFoundError, match="is not a version name"):
        store.load_version("../../etc")


def test_a_garbled_current_pointer_is_corrupt(tmp_path: Path, catalog: dict[str, np.ndarray]) -> None:
    store = IndexStore(tmp_path)
    store.write_version(make_index(catalog, n=100), FIELDS)
    (tmp_path / "CURRENT").write_text("../../elsewhere\n")
    with pytest.raises(IndexCorruptError, match="CURRENT holds '../../elsewhere'"):
        store.load_current()


def test_build_while_serving_then_swap_atomically(tmp_path: Path, catalog: dict[str, np.ndarray]) -> None:
    store = IndexStore(tmp_path)
    first_dir = store.write_version(make_index(catalog, n=1000), {**FIELDS, "catalog_version": "v1"})
    serving = store.load_current(FINGERPRINT, DIM).index
    before = serving.search(catalog["queries"], 10)

    # The next version is written but not yet served.
    second_dir = store.write_version(
        make_index(catalog, n=2000), {**FIELDS, "catalog_version": "v2"}, activate=False
    )
    assert store.current_version() == first_dir.name
    assert store.list_versions() == [first_dir.name, second_dir.name]
    assert store.load_current().manifest["catalog_version"] == "v1"

    store.activate(second_dir.name)
    swapped = store.load_current(FINGERPRINT, DIM)
    assert (swapped.version, swapped.index.ntotal, swapped.manifest["catalog_version"]) == (
        second_dir.name,
        2000,
        "v2",
    )

    # The reader holding the old index is unaffected, even once its files are pruned away.
    assert store.prune(keep=1) == [first_dir.name]
    assert not first_dir.exists()
    after = serving.search(catalog["queries"], 10)
    np.testing.assert_array_equal(after[1], before[1])
    assert not [path for path in tmp_path.rglob("*") if ".tmp-" in path.name]


def test_prune_keeps_the_newest_and_the_current_one(tmp_path: Path, catalog: dict[str, np.ndarray]) -> None:
    store = IndexStore(tmp_path)
    names = [store.write_version(make_index(catalog, n=50), FIELDS).name for _ in range(5)]
    assert store.list_versions() == names  # names sort chronologically
    store.activate(names[0])  # roll back to the oldest
    removed = store.prune(keep=2)
    assert removed == names[1:3]
    assert store.list_versions() == [names[0], *names[3:]]
    assert store.load_current().version == names[0]
    with pytest.raises(InvalidVectorsError, match="keep must be an integer >= 1"):
        store.prune(keep=0)


def test_prune_removes_only_stale_temporary_directories(
    tmp_path: Path, catalog: dict[str, np.ndarray]
) -> None:
    store = IndexStore(tmp_path)
    store.write_version(make_index(catalog, n=50), FIELDS)
    stale = store.versions_dir / ".tmp-crashed-build"
    fresh = store.versions_dir / ".tmp-build-in-progress"
    stale.mkdir()
    fresh.mkdir()
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    store.prune(keep=3)
    assert not stale.exists() and fresh.exists()


def test_a_failed_write_leaves_no_version_and_keeps_current(
    tmp_path: Path, catalog: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    import faiss

    store = IndexStore(tmp_path)
    first = store.write_version(make_index(catalog, n=100), FIELDS).name

    def broken_write(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", broken_write)
    with pytest.raises(OSError, match="disk full"):
        store.write_version(make_index(catalog, n=200), FIELDS)
    assert store.list_versions() == [first] and store.current_version() == first
    assert [path.name for path in store.versions_dir.iterdir()] == [first]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"catalog_version": "v1"}, r"lacks \['model_fingerprint'\]"),
        ({"model_fingerprint": "", "catalog_version": "v1"}, "non-empty string"),
        ({**FIELDS, "count": 3}, r"sets \['count'\]"),
        ({**FIELDS, "extra": object()}, "JSON-serialisable"),
    ],
)
def test_manifest_fields_are_checked(
    tmp_path: Path, catalog: dict[str, np.ndarray], fields: dict, message: str
) -> None:
    with pytest.raises(InvalidVectorsError, match=message):
        IndexStore(tmp_path).write_version(make_index(catalog, n=10), fields)
    assert IndexStore(tmp_path).list_versions() == []


def test_empty_indexes_round_trip_and_untrained_ivf_is_refused(
    tmp_path: Path, catalog: dict[str, np.ndarray]
) -> None:
    store = IndexStore(tmp_path)
    store.write_version(ExactIndex(DIM), FIELDS)
    loaded = store.load_current(FINGERPRINT, DIM)
    assert loaded.index.ntotal == 0
    assert (loaded.index.search(catalog["queries"][:2], 3)[1] == -1).all()
    with pytest.raises(VectorIndexError, match="never been trained"):
        store.write_version(IVFIndex(DIM), FIELDS)


def test_a_kind_that_does_not_match_the_file_is_corrupt(
    tmp_path: Path, catalog: dict[str, np.ndarray]
) -> None:
    store = IndexStore(tmp_path)
    directory = store.write_version(make_index(catalog, "flat", n=100), FIELDS)
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "index_kind": "hnsw"}))
    with pytest.raises(IndexCorruptError, match="is a IndexFlatIP; expected IndexHNSWFlat"):
        store.load_current()
