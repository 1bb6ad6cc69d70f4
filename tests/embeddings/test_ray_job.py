"""The embedding job on a real Ray: the same index version as the single-process job, cache reuse,
and one run on a two-node ``ray.cluster_utils.Cluster`` (both nodes advertise 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.catalog import read_titles
from data.embedding_cache import EmbeddingCache, text_hash
from embeddings.encoder import BUNDLED_MODEL, SentenceTransformerEncoder
from embeddings.job import build_index_version, catalog_texts, load_index_artifacts, select_titles
from services.settings import Settings

pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[distributed]')")

pytestmark = [pytest.mark.slow, pytest.mark.realdata, pytest.mark.xdist_group("encoder")]


def _spec() -> object:
    from embeddings.ray_job import EncoderSpec

    return EncoderSpec(BUNDLED_MODEL, Settings().cache_dir, "cpu", 2)


@pytest.fixture(scope="module")
def small_titles(real_catalog_dir: Path) -> pd.DataFrame:
    """24 titles of the real catalog's tiny scope (shows, foreign-language and popular films)."""
    return select_titles(read_titles(real_catalog_dir), "tiny").iloc[::12].head(24).reset_index(drop=True)


def test_ray_index_equals_single_process_index(ray_local: None, small_titles: pd.DataFrame,
                                               encoder: SentenceTransformerEncoder, tmp_path: Path) -> None:  # fmt: skip
    from embeddings.ray_job import RayEmbedConfig, build_index_version_ray

    single_cache = EmbeddingCache(tmp_path / "single.sqlite")
    build_index_version(titles=small_titles, catalog_version="test", scope="tiny", encoder=encoder,
                        cache=single_cache, index_dir=tmp_path / "single", kind="flat")  # fmt: skip
    ray_cache = EmbeddingCache(tmp_path / "ray.sqlite")
    report, ray_report = build_index_version_ray(
        titles=small_titles, catalog_version="test", scope="tiny", encoder=encoder, spec=_spec(),
        cache=ray_cache, index_dir=tmp_path / "ray", config=RayEmbedConfig(actors=1, batch_texts=8), kind="flat",
    )  # fmt: skip
    texts = catalog_texts(small_titles)["text"].tolist()
    assert ray_report.embedded == len(set(texts)) and ray_report.cached == 0
    assert report.embedded == 0  # the index build found every text in the cache the actors filled

    single = load_index_artifacts(tmp_path / "single", encoder.fingerprint)
    on_ray = load_index_artifacts(tmp_path / "ray", encoder.fingerprint)
    assert on_ray.title_ids == single.title_ids
    pd.testing.assert_frame_equal(on_ray.texts, single.texts)
    np.testing.assert_array_equal(on_ray.index.ids, single.index.ids)
    for key in ("count", "dimension", "index_kind", "scope", "titles", "texts", "texts_sha256"):
        assert on_ray.manifest[key] == single.manifest[key], key

    hashes = [text_hash(t) for t in texts]
    a, b = single_cache.get_many(encoder.fingerprint, hashes), ray_cache.get_many(encoder.fingerprint, hashes)
    cosines = np.array([float(a[h] @ b[h]) for h in hashes])
    assert cosines.min() >= 0.9999
    assert (np.sum(single.title_vectors * on_ray.title_vectors, axis=1)).min() >= 0.9999

    # a second run finds every text in the cache and embeds nothing
    _, again = build_index_version_ray(
        titles=small_titles, catalog_version="test", scope="tiny", encoder=encoder, spec=_spec(),
        cache=ray_cache, index_dir=tmp_path / "ray", config=RayEmbedConfig(actors=1), kind="flat",
    )  # fmt: skip
    assert again.embedded == 0 and again.cached == len(set(texts))


def test_two_node_cluster_embeds_with_one_actor_per_node(small_titles: pd.DataFrame,
                                                         encoder: SentenceTransformerEncoder, tmp_path: Path) -> None:  # fmt: skip
    import ray
    from ray.cluster_utils import Cluster

    from embeddings.ray_job import RayEmbedConfig, embed_missing_with_ray, ensure_ray

    ray.shutdown()  # leave the session's local Ray; the next test that needs it starts it again
    # every node advertises 127.0.0.1: the default address of a sandbox can be unroutable (a test hung on it)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "node_ip_address": "127.0.0.1",
                                                            "include_dashboard": False})  # fmt: skip
    try:
        cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1")
        ray.init(address=cluster.address, _node_ip_address="127.0.0.1", log_to_driver=False)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        texts = catalog_texts(small_titles)["text"].tolist()[:16]
        cache = EmbeddingCache(tmp_path / "cluster.sqlite")
        report = embed_missing_with_ray(texts, cache=cache, fingerprint=encoder.fingerprint, spec=_spec(),
                                        config=RayEmbedConfig(actors=2, batch_texts=4))  # fmt: skip
        assert report.embedded == len(set(texts)) and report.actors == 2
        found = cache.get_many(encoder.fingerprint, [text_hash(t) for t in texts])
        got = np.stack([found[text_hash(t)] for t in texts])
        assert np.sum(got * encoder.encode_items(texts), axis=1).min() >= 0.9999
        # a local start must not join the cluster recorded in /tmp/ray (another pytest worker failed on it)
        ray.shutdown()
        ensure_ray(num_cpus=1)
        assert ray.get_runtime_context().gcs_address != cluster.address
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_warm_pool_embeds_like_the_encoder_and_checks_the_fingerprint(
    ray_local: None, small_titles: pd.DataFrame, encoder: SentenceTransformerEncoder, tmp_path: Path
) -> None:
    from embeddings.job import JobError
    from embeddings.ray_job import EncoderPool, RayEmbedConfig, embed_missing_with_ray

    texts = catalog_texts(small_titles)["text"].tolist()[:20]
    pool = EncoderPool(_spec(), RayEmbedConfig(actors=1, batch_texts=6))  # type: ignore[arg-type]
    try:
        assert pool.fingerprint == encoder.fingerprint
        cache = EmbeddingCache(tmp_path / "pool.sqlite")
        report = embed_missing_with_ray(texts, cache=cache, fingerprint=encoder.fingerprint, pool=pool)
        assert report.embedded == len(set(texts)) and report.cached == 0 and report.actors == 1
        found = cache.get_many(encoder.fingerprint, [text_hash(t) for t in texts])
        got = np.stack([found[text_hash(t)] for t in texts])  # input order kept across length-sorted batches
        assert np.sum(got * encoder.encode_items(texts), axis=1).min() >= 0.9999
        again = embed_missing_with_ray(texts, cache=cache, fingerprint=encoder.fingerprint, pool=pool)
        assert again.embedded == 0 and again.cached == len(set(texts))
        with pytest.raises(JobError, match="fingerprint"):
            embed_missing_with_ray(texts, cache=EmbeddingCache(tmp_path / "other.sqlite"),
                                   fingerprint="another-model", pool=pool)  # fmt: skip
    finally:
        pool.close()
