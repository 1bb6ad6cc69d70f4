"""Text hubness: what it measures, stored with a built version, cached beside a version built before, and
never used when the stored or cached file does not match."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

from data.embedding_cache import EmbeddingCache
from embeddings import job
from embeddings.hubness import HubnessConfig, text_hubness
from embeddings.index_errors import IndexCorruptError
from embeddings.job import HUBNESS_CACHE, IndexArtifacts, build_index_version, load_index_artifacts
from tests.embeddings.test_job import HashEncoder, _titles


def _unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_hubness_is_the_mean_cosine_to_the_nearest_references() -> None:
    rng = np.random.default_rng(3)
    texts, refs = _unit(rng, 50), _unit(rng, 200)
    got = text_hubness(texts, refs, HubnessConfig(neighbours=7))
    expected = np.sort(texts @ refs.T, axis=1)[:, -7:].mean(axis=1)
    assert got.dtype == np.float32 and got.shape == (50,)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # more references than the cap: a seeded sample of them, the same one every time
    capped = HubnessConfig(neighbours=7, max_references=60, seed=5)
    sample = np.sort(np.random.default_rng(5).choice(200, 60, replace=False))
    np.testing.assert_array_equal(text_hubness(texts, refs, capped), text_hubness(texts, refs[sample], HubnessConfig(7)))
    assert not np.array_equal(text_hubness(texts, refs, capped), got)
    with pytest.raises(ValueError, match="references"):
        text_hubness(texts, refs[:0], HubnessConfig())


def test_the_key_names_the_references_and_the_config() -> None:
    refs = _unit(np.random.default_rng(0), 30)
    key = HubnessConfig().key(refs)
    assert key == HubnessConfig().key(refs.copy())
    assert key != HubnessConfig(neighbours=5).key(refs) != HubnessConfig(seed=1).key(refs)
    nudged = refs.copy()
    nudged[3, 2] = np.nextafter(nudged[3, 2], np.float32(2))
    assert key != HubnessConfig().key(nudged) != HubnessConfig().key(refs[:-1])


@pytest.fixture()
def built(tmp_path: Path) -> tuple[IndexArtifacts, np.ndarray, np.ndarray]:
    """A built version, its row vectors and every title string's vector (the references it stored for)."""
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    build_index_version(titles=_titles(), catalog_version="c1", scope="full", encoder=HashEncoder(), cache=cache,
                        index_dir=tmp_path / "index")  # fmt: skip
    cache.close()
    art = load_index_artifacts(tmp_path / "index")
    assert art.title_strings is not None
    rows = np.asarray(art.index.faiss_index.reconstruct_n(0, art.index.ntotal), dtype=np.float32)
    return art, rows, np.asarray(art.title_strings.vectors, dtype=np.float32)


def _no_computing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object) -> np.ndarray:
        raise AssertionError("hubness was computed instead of read")

    monkeypatch.setattr(job, "text_hubness", fail)


def test_the_build_stores_hubness_and_a_load_reads_it(built: tuple[IndexArtifacts, np.ndarray, np.ndarray],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    art, rows, refs = built
    assert art.manifest["text_hubness_key"] == HubnessConfig().key(refs)
    expected = text_hubness(rows, refs, HubnessConfig())
    _no_computing(monkeypatch)
    np.testing.assert_array_equal(art.text_hubness(rows, refs, HubnessConfig()), expected)
    assert not list((art.index_dir or Path()).glob("sidecars/*.npz"))  # nothing cached beside it


def test_a_stored_sidecar_that_does_not_match_its_checksum_is_an_error(
        built: tuple[IndexArtifacts, np.ndarray, np.ndarray]) -> None:  # fmt: skip
    art, rows, refs = built
    path = (art.index_dir or Path()) / "sidecars" / art.manifest["text_hubness_sidecar"]
    values = np.load(path)
    values[0] += 1.0
    np.save(path, values)
    with pytest.raises(IndexCorruptError, match="does not match its sha256"):
        art.text_hubness(rows, refs, HubnessConfig())
    path.unlink()
    with pytest.raises(IndexCorruptError, match="missing"):
        art.text_hubness(rows, refs, HubnessConfig())


def test_a_version_built_before_computes_once_and_caches_beside_itself(
        built: tuple[IndexArtifacts, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    stored, rows, refs = built
    art = dataclasses.replace(stored, manifest={k: v for k, v in stored.manifest.items()
                                                if not k.startswith("text_hubness")})  # fmt: skip
    expected = text_hubness(rows, refs, HubnessConfig())
    first = art.text_hubness(rows, refs, HubnessConfig())
    np.testing.assert_array_equal(first, expected)
    key = HubnessConfig().key(refs)
    cache = (art.index_dir or Path()) / "sidecars" / HUBNESS_CACHE.format(version=art.version, key=key[:20])
    assert cache.is_file()
    assert not [p for p in cache.parent.iterdir() if p.name.startswith(".tmp")]
    with monkeypatch.context() as patched:
        _no_computing(patched)
        np.testing.assert_array_equal(art.text_hubness(rows, refs, HubnessConfig()), expected)

    # other references (a narrower scope) or another config: another key, computed and cached apart
    other = art.text_hubness(rows, refs[:-3], HubnessConfig(neighbours=3))
    np.testing.assert_array_equal(other, text_hubness(rows, refs[:-3], HubnessConfig(neighbours=3)))
    assert len(list(cache.parent.glob("text_hubness-*.npz"))) == 2

    # a truncated cache is recomputed (and replaced), never used
    cache.write_bytes(cache.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="embeddings.job"):
        np.testing.assert_array_equal(art.text_hubness(rows, refs, HubnessConfig()), expected)
    assert "cannot be read" in caplog.text
    with monkeypatch.context() as patched:
        _no_computing(patched)
        np.testing.assert_array_equal(art.text_hubness(rows, refs, HubnessConfig()), expected)

    # a cache computed for other references, put under this key's name, is rejected by what it records
    other_cache = next(p for p in cache.parent.glob("text_hubness-*.npz") if p != cache)
    other_cache.replace(cache)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="embeddings.job"):
        np.testing.assert_array_equal(art.text_hubness(rows, refs, HubnessConfig()), expected)
    assert "was computed for" in caplog.text

    # values that do not match the checksum recorded beside them are rejected too
    with np.load(cache) as saved:
        meta = str(saved["meta"])
        changed = saved["hubness"].copy()
    changed[1] += 0.5
    with cache.open("wb") as out:
        np.savez(out, hubness=changed, meta=np.asarray(meta))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="embeddings.job"):
        np.testing.assert_array_equal(art.text_hubness(rows, refs, HubnessConfig()), expected)
    assert "do not match its checksum" in caplog.text
