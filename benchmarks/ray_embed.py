"""The embedding job on Ray vs in one process: texts/s on the same catalog texts in one run, the
equality of the vectors, and the scaling with the number of encoder actors on a simulated
multi-node cluster (``ray.cluster_utils.Cluster``, every node on this machine, IP 127.0.0.1).

* Single process: ``load_encoder`` + ``embed_with_cache`` into an empty cache (what
  ``marquee index build`` does), torch on every core.
* Ray: ``embed_missing_with_ray`` into an empty cache on a local Ray that is already running
  (its start-up is reported apart): Parquet texts -> one encoder actor (model loaded in the actor,
  torch on every core) -> Parquet shards -> cache. Model loading is inside the timing on both sides.
  Rounds alternate which side goes first; the ratio is the median of the per-round ratios.
* Scaling: a cluster of ``nodes`` simulated nodes (2 CPUs each: one for an actor, one for Ray
  Data's read/write tasks), 1..nodes actors with ``cores / actors`` torch threads each. On this
  2-core machine every node shares the same 2 cores, so this measures the overhead of spreading
  the job, not a speed-up; on real nodes the throughput adds up per node (docs/scale.md).

    python benchmarks/ray_embed.py          # quick: 240 texts, 2 rounds, 1-2 actors on 2 nodes
    python benchmarks/ray_embed.py --full   # 960 texts, 3 rounds, 1-4 actors on 4 nodes

Prints one JSON object as the last line and writes benchmarks/results/ray_embed.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# every simulated node on loopback (Ray would otherwise advertise this host's routable address)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from benchmarks._common import hardware, write_result  # noqa: E402


def _texts(count: int) -> list[str]:
    from data.catalog import read_titles
    from embeddings.job import catalog_texts, select_titles
    from services.settings import Settings

    texts = catalog_texts(select_titles(read_titles(Settings().catalog_dir), "default"))["text"].tolist()
    rng = np.random.default_rng(0)
    return [texts[i] for i in sorted(rng.choice(len(texts), size=min(count, len(texts)), replace=False))]


def _single(texts: list[str], cache_dir: Path, threads: int) -> tuple[float, np.ndarray, str]:
    from data.embedding_cache import EmbeddingCache
    from embeddings.encoder import BUNDLED_MODEL, load_encoder
    from embeddings.job import embed_with_cache

    started = time.perf_counter()
    encoder = load_encoder(BUNDLED_MODEL, device="cpu", cache_dir=cache_dir, num_threads=threads, query_engine="torch")
    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(Path(tmp) / "cache.sqlite")
        vectors, _ = embed_with_cache(encoder, texts, cache)
        cache.close()
    return time.perf_counter() - started, vectors, encoder.fingerprint


def _on_ray(texts: list[str], cache_dir: Path, fingerprint: str, actors: int, threads: int) -> tuple[float, np.ndarray]:
    from data.embedding_cache import EmbeddingCache, text_hash
    from embeddings.encoder import BUNDLED_MODEL
    from embeddings.ray_job import EncoderSpec, RayEmbedConfig, embed_missing_with_ray

    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(Path(tmp) / "cache.sqlite")
        started = time.perf_counter()
        embed_missing_with_ray(texts, cache=cache, fingerprint=fingerprint,
                               spec=EncoderSpec(BUNDLED_MODEL, cache_dir, "cpu", threads),
                               config=RayEmbedConfig(actors=actors, batch_texts=32))  # fmt: skip
        seconds = time.perf_counter() - started
        found = cache.get_many(fingerprint, [text_hash(t) for t in texts])
        cache.close()
    return seconds, np.stack([found[text_hash(t)] for t in texts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    count, rounds, nodes = (960, 3, 4) if args.full else (240, 2, 2)
    import ray
    from ray.cluster_utils import Cluster

    from services.settings import Settings

    cache_dir = Settings().cache_dir
    cores = len(os.sched_getaffinity(0))
    texts = _texts(count)

    started = time.perf_counter()
    ray.init(num_cpus=cores, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    ray_init_s = time.perf_counter() - started
    per_round: list[dict[str, float]] = []
    cosine_min = 1.0
    for number in range(rounds):
        order = ("single", "ray") if number % 2 == 0 else ("ray", "single")
        seconds: dict[str, float] = {}
        vectors: dict[str, np.ndarray] = {}
        fingerprint = ""
        for side in order:
            if side == "single":
                seconds["single"], vectors["single"], fingerprint = _single(texts, cache_dir, cores)
            else:
                if not fingerprint:
                    from embeddings.encoder import BUNDLED_MODEL, load_encoder

                    fingerprint = load_encoder(BUNDLED_MODEL, device="cpu", cache_dir=cache_dir,
                                               query_engine="torch").fingerprint  # fmt: skip
                seconds["ray"], vectors["ray"] = _on_ray(texts, cache_dir, fingerprint, 1, cores)
        cosine_min = min(cosine_min, float(np.sum(vectors["single"] * vectors["ray"], axis=1).min()))
        per_round.append({f"{k}_texts_per_s": round(len(texts) / v, 2) for k, v in seconds.items()})
        print(f"round {number}: {per_round[-1]}", file=sys.stderr, flush=True)
    ray.shutdown()
    ratios_per_round = [r["ray_texts_per_s"] / r["single_texts_per_s"] for r in per_round]

    scaling: list[dict[str, Any]] = []
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "node_ip_address": "127.0.0.1",
                                                            "include_dashboard": False})  # fmt: skip
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1")
        ray.init(address=cluster.address, _node_ip_address="127.0.0.1", log_to_driver=False)
        actor_counts = [a for a in (1, 2, 4) if a <= nodes]
        for actors in actor_counts:
            seconds, _ = _on_ray(texts, cache_dir, fingerprint, actors, max(1, cores // actors))
            scaling.append({"actors": actors, "nodes": nodes, "texts_per_s": round(len(texts) / seconds, 2)})
            print(f"scaling: {scaling[-1]}", file=sys.stderr, flush=True)
    finally:
        ray.shutdown()
        cluster.shutdown()

    median = lambda key: round(statistics.median(r[key] for r in per_round), 2)  # noqa: E731
    write_result(
        "ray_embed",
        {"texts": len(texts), "rounds": rounds, "source": "catalog texts of the default scope, seeded sample",
         "model": "bundled multilingual-e5-small, CPU", "torch_threads": cores, "ray": ray.__version__,
         "simulated_nodes": nodes, "timing": "model load + embed + cache write on both sides; Ray start-up apart"},
        {"single_texts_per_s": median("single_texts_per_s"), "ray_texts_per_s": median("ray_texts_per_s"),
         "per_round": per_round, "ray_init_seconds": round(ray_init_s, 2), "cosine_min_ray_vs_single": cosine_min,
         "scaling": scaling},
        {"ray_vs_single_texts_per_s": round(statistics.median(ratios_per_round), 3),
         **{f"actors_{s['actors']}_vs_1": round(s["texts_per_s"] / scaling[0]["texts_per_s"], 3) for s in scaling}},
        hardware_info=hardware(),
    )  # fmt: skip


if __name__ == "__main__":
    main()
