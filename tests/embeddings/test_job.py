"""The embedding job: which texts, the cache (incremental, resumable), sidecars and versions."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.embedding_cache import EmbeddingCache
from embeddings.index_errors import IndexCorruptError, IndexMismatchError
from embeddings.job import (
    JobError,
    WorkerEncoderSpec,
    build_index_version,
    cache_key,
    catalog_texts,
    catalog_title_strings,
    embed_with_cache,
    embed_with_cache_in_processes,
    load_index_artifacts,
    resolve_scope,
    select_titles,
)


class HashEncoder:
    """A deterministic test double: unit vectors from a hash of the text; counts what it embeds."""

    def __init__(self, dim: int = 16, fingerprint: str = "hash-v1", fail_after: int | None = None) -> None:
        self.dim = dim
        self.fingerprint = fingerprint
        self.embedded: list[str] = []
        self.fail_after = fail_after

    def encode_items(self, texts: list[str]) -> np.ndarray:
        if self.fail_after is not None and len(self.embedded) + len(texts) > self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.embedded += texts
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode_items([f"query: {t}" for t in texts])


def _titles(n: int = 40) -> pd.DataFrame:
    rows = []
    for i in range(n):
        descriptions = [{"lang": "en", "source": "netflix", "text": f"Story number {i} about things."}]
        if i % 4 == 0:
            descriptions.append({"lang": "fr", "source": "tmdb-lang", "text": f"Histoire numéro {i}."})
            descriptions.append({"lang": "en", "source": "tmdb5000", "text": "a second English overview"})
        if i % 10 == 9:
            descriptions = []
        rows.append({
            "title_id": f"netflix:s{i}", "title": f"Title {i}", "year": 2000 + i % 20, "genres": ["drama"],
            "localized_titles": [{"lang": "fr", "title": f"Titre {i}"}] if i % 4 == 0 else [],
            "descriptions": descriptions, "description_languages": sorted({d["lang"] for d in descriptions}),
            "netflix_id": f"s{i}", "movielens_id": float(i) if i % 2 else np.nan, "ml_rating_count": i,
            "type": "movie",
        })  # fmt: skip
    return pd.DataFrame(rows)


def test_catalog_texts_one_passage_per_language() -> None:
    texts = catalog_texts(_titles())
    t0 = texts[texts.title_id == "netflix:s0"].set_index("lang")
    assert set(t0.index) == {"en", "fr"}  # the second English overview is not embedded twice
    assert t0.loc["en", "text"] == "Title 0 (2000). drama. Story number 0 about things."  # netflix wins over tmdb5000
    assert t0.loc["fr", "text"].startswith("Titre 0 (2000).")
    assert texts[texts.title_id == "netflix:s9"].iloc[0]["kind"] == "title"
    assert texts["text_id"].tolist() == list(range(len(texts)))


def test_scopes() -> None:
    titles = _titles()
    assert resolve_scope("auto", gpu=True) == "full" and resolve_scope("auto", gpu=False) == "default"
    with pytest.raises(JobError, match="unknown scope"):
        resolve_scope("everything", gpu=False)
    assert len(select_titles(titles, "full")) == 40
    assert len(select_titles(titles, "tiny")) <= 40


def test_cache_makes_rebuilds_incremental_and_resumable(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    texts = [f"text {i}" for i in range(600)]
    interrupted = HashEncoder(fail_after=300)
    with pytest.raises(KeyboardInterrupt):
        embed_with_cache(interrupted, texts, cache)
    assert cache.count("hash-v1") == 256  # the chunks finished before the interruption were kept
    encoder = HashEncoder()
    first, embedded = embed_with_cache(encoder, texts, cache)
    assert embedded == 600 - 256 and len(encoder.embedded) == 344
    again, embedded = embed_with_cache(HashEncoder(), [*texts, "a new text"], cache)
    assert embedded == 1
    np.testing.assert_array_equal(first, again[:600])
    other_model, embedded = embed_with_cache(HashEncoder(fingerprint="other"), texts[:10], cache)
    assert embedded == 10  # keyed by model fingerprint too
    cache.close()


def test_build_and_load_a_version(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    report = build_index_version(titles=_titles(), catalog_version="c1", scope="full", encoder=HashEncoder(),
                                 cache=cache, index_dir=tmp_path / "index")  # fmt: skip
    assert report.titles == 40 and report.embedded == report.texts
    art = load_index_artifacts(tmp_path / "index", expected_model_fingerprint="hash-v1")
    assert art.title_vectors.shape == (40, 16)
    np.testing.assert_allclose(np.linalg.norm(art.title_vectors, axis=1), 1.0, rtol=1e-5)
    texts = catalog_texts(select_titles(_titles(), "full")).set_index("text_id")
    assert art.texts.set_index("text_id").loc[5, "title_id"] == texts.loc[5, "title_id"]
    scores, ids = art.index.search(HashEncoder().encode_items([texts.loc[5, "text"]]), 1)
    assert ids[0, 0] == 5 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    second = build_index_version(titles=_titles(), catalog_version="c1", scope="full", encoder=HashEncoder(),
                                 cache=cache, index_dir=tmp_path / "index")  # fmt: skip
    assert second.embedded == 0 and second.cached == second.texts
    with pytest.raises(IndexMismatchError):
        load_index_artifacts(tmp_path / "index", expected_model_fingerprint="another-model")
    sidecar = tmp_path / "index" / "sidecars" / art.manifest["texts_sidecar"]
    sidecar.write_bytes(sidecar.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(IndexCorruptError, match="does not match its sha256"):
        load_index_artifacts(tmp_path / "index")
    cache.close()


def test_title_strings_are_embedded_as_queries_and_stored_with_the_version(tmp_path: Path) -> None:
    titles = _titles()
    titles["original_title"] = [f"Original {i}" if i % 5 == 0 else None for i in range(len(titles))]
    titles.loc[3, "localized_titles"] = [{"lang": "und", "title": "Léon"}, {"lang": "und", "title": "The Professional"},
                                         {"lang": "und", "title": "title 3"}]  # fmt: skip
    strings = catalog_title_strings(titles)
    of = {t: strings[strings.title_id == t][["lang", "text"]].values.tolist() for t in ("netflix:s0", "netflix:s3")}
    assert of["netflix:s0"] == [["", "Title 0"], ["original", "Original 0"], ["fr", "Titre 0"]]
    # every alternative is kept; a case-folded repeat of the catalog title is not
    assert of["netflix:s3"] == [["", "Title 3"], ["und", "Léon"], ["und", "The Professional"]]
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    encoder = HashEncoder()
    report = build_index_version(titles=titles, catalog_version="c1", scope="full", encoder=encoder, cache=cache,
                                 index_dir=tmp_path / "index")  # fmt: skip
    assert report.title_strings == len(strings) == report.title_strings_embedded
    art = load_index_artifacts(tmp_path / "index", expected_model_fingerprint="hash-v1")
    assert art.title_strings is not None
    strings = catalog_title_strings(select_titles(titles, "full"))  # the scope's order
    pd.testing.assert_frame_equal(art.title_strings.strings, strings)
    np.testing.assert_allclose(art.title_strings.vectors, HashEncoder().encode_queries(strings["text"].tolist()))
    assert art.manifest["title_strings_embedded_as"] == "query"
    # cached under their own key: passages and queries of the same text never mix
    again = build_index_version(titles=titles, catalog_version="c1", scope="full", encoder=HashEncoder(), cache=cache,
                                index_dir=tmp_path / "index")  # fmt: skip
    assert again.title_strings_embedded == 0 and again.embedded == 0
    vectors = tmp_path / "index" / "sidecars" / art.manifest["title_string_vectors_sidecar"]
    vectors.write_bytes(vectors.read_bytes()[:-8] + b"01234567")
    with pytest.raises(IndexCorruptError, match="does not match its sha256"):
        load_index_artifacts(tmp_path / "index", version=art.version)
    cache.close()


def test_a_version_built_before_title_strings_loads_without_them(tmp_path: Path) -> None:
    import json

    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    build_index_version(titles=_titles(), catalog_version="c1", scope="full", encoder=HashEncoder(), cache=cache,
                        index_dir=tmp_path / "index")  # fmt: skip
    art = load_index_artifacts(tmp_path / "index")
    manifest_path = tmp_path / "index" / "versions" / art.version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for key in [k for k in manifest if k.startswith("title_string")]:
        del manifest[key]
    manifest_path.write_text(json.dumps(manifest))
    old = load_index_artifacts(tmp_path / "index")
    assert old.title_strings is None and old.title_vectors.shape == (40, 16)


def test_process_workers_need_a_spec_and_a_positive_count(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    with pytest.raises(JobError, match="worker_spec"):
        build_index_version(titles=_titles(), catalog_version="c1", scope="full", encoder=HashEncoder(),
                            cache=cache, index_dir=tmp_path / "index", workers=2)  # fmt: skip
    spec = WorkerEncoderSpec("bundled:multilingual-e5-small", tmp_path)
    with pytest.raises(JobError, match="workers=0"):
        embed_with_cache_in_processes(HashEncoder(), spec, ["a"], cache, workers=0)
    cache.close()


@pytest.mark.slow
@pytest.mark.xdist_group("encoder")
def test_process_workers_embed_like_this_process_and_fill_the_cache(tmp_path: Path) -> None:
    """Two spawned single-thread workers give the in-process encoder's vectors, cached under its fingerprint."""
    from embeddings.encoder import load_encoder
    from services.settings import Settings

    settings = Settings()
    encoder = load_encoder(settings.model, device="cpu", cache_dir=settings.cache_dir)
    texts = catalog_texts(select_titles(_titles(12), "full"))["text"].tolist()
    texts = [*texts, texts[0]]  # a duplicate is embedded once
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    spec = WorkerEncoderSpec(settings.model, settings.cache_dir)
    seen: list[tuple[int, int]] = []
    vectors, embedded = embed_with_cache_in_processes(encoder, spec, texts, cache, workers=2,
                                                      progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    assert embedded == len(texts) - 1 and seen[-1] == (embedded, embedded)
    expected = encoder.encode_items(texts)
    assert float(np.min(np.sum(vectors * expected, axis=1))) >= 0.9999
    assert cache.count(encoder.fingerprint) == embedded
    again, embedded = embed_with_cache_in_processes(encoder, spec, texts, cache, workers=2)
    assert embedded == 0
    np.testing.assert_array_equal(again, vectors)
    # title strings as queries: the workers' query engine, cached under the query key
    strings = ["Title 1", "Titre 4", "Amélie", "타이타닉"]
    queries, embedded = embed_with_cache_in_processes(encoder, spec, strings, cache, workers=2, as_queries=True)
    assert embedded == len(strings) and cache.count(cache_key(encoder.fingerprint, as_queries=True)) == len(strings)
    assert float(np.min(np.sum(queries * encoder.encode_queries(strings), axis=1))) >= 0.999
    cache.close()
