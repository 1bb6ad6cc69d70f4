"""The embedding job on Ray vs in one process: steady-state texts/s on the same catalog texts in one
run, start-up costs apart, the equality of the vectors, and the scaling with the number of encoder
actors on a simulated multi-node cluster (``ray.cluster_utils.Cluster``, every node on this machine).

* Texts: a seeded sample of the default scope's real catalog texts (what ``marquee index build``
  embeds), the same list on every side; each timed run embeds them all into a fresh, empty
  embedding cache (temporary file), so no side ever reads a cached vector.
* Single process: one encoder loaded before the clock starts (torch on ``cores`` threads) and
  warmed up on one batch; timed: ``embed_with_cache`` (hash, cache lookup, encode, cache write).
* Ray: Ray started and a warm :class:`embeddings.ray_job.EncoderPool` (actors' models loaded and
  warmed up on one batch each) before the clock starts; timed: ``embed_missing_with_ray(pool=...)``
  (the same hash, cache lookup, encode on the actors, cache write). Two pools with the single
  side's total threads: ``1x<cores>`` (one actor, ``cores`` torch threads) and ``<cores>x1``.
  The local Ray advertises 2 × cores logical CPUs only so that both idle pools stay resident; one
  side runs at a time.
* Ray's workers run at nice 15 by default; here at nice 0 (``RAY_worker_niceness=0``) like the
  single side in the driver, so that other jobs on the shared box preempt both sides alike.
* Repetitions rotate the order (single, 1x2, 2x1 / 1x2, 2x1, single / ...); each repetition gives
  a Ray ÷ single ratio; the ratio reported is the median over repetitions. The 1-minute load
  average is recorded before every repetition (the box is shared).
* Start-up, apart: ``ray.init``, a pool's start (worker processes, torch import, model load), and
  one cold run (on the first 400 texts) of the one-shot Ray Data job (``embed_missing_with_ray`` without a pool: what
  ``marquee index build --engine ray`` does, actors started inside the job), whose extra time over
  the warm rate is the job's fixed start-up cost.
* Scaling: a cluster of ``nodes`` simulated nodes (2 CPUs each); pools of 1..nodes actors, each
  actor reserving a whole node (so one actor per node) and running ``max(1, cores // actors)``
  torch threads. Every simulated node shares this machine's cores: the figure shows the cost of
  spreading the job, it cannot show a speed-up (on real nodes each node adds its own cores).

    python benchmarks/ray_embed.py          # quick: 400 texts, 2 repetitions, 1-2 actors on 2 nodes
    python benchmarks/ray_embed.py --full   # 1,500 texts, 3 repetitions, 1-4 actors on 4 nodes (400 texts)

Prints one JSON object as the last line and writes benchmarks/results/ray_embed.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# every simulated node on loopback (Ray would otherwise advertise this host's routable address)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Ray starts its worker processes (the actors) at nice 15, while the single side runs in this driver at
# nice 0: on a shared box every other job would then preempt the Ray side only. Same priority for both.
os.environ.setdefault("RAY_worker_niceness", "0")

from benchmarks._common import hardware, write_result  # noqa: E402

WARM_UP_TEXTS = 32


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def _texts(count: int) -> list[str]:
    from data.catalog import read_titles
    from embeddings.job import catalog_texts, select_titles
    from services.settings import Settings

    texts = catalog_texts(select_titles(read_titles(Settings().catalog_dir), "default"))["text"].tolist()
    texts = list(dict.fromkeys(texts))  # distinct: every text is embedded once per run on both sides
    rng = np.random.default_rng(0)
    return [texts[i] for i in sorted(rng.choice(len(texts), size=min(count, len(texts)), replace=False))]


def _timed_into_fresh_cache(run: Callable[[Any], None], texts: list[str], fingerprint: str) -> tuple[float, np.ndarray]:
    """Seconds ``run(cache)`` takes on an empty cache, and the vectors it left there (input order)."""
    from data.embedding_cache import EmbeddingCache, text_hash

    with tempfile.TemporaryDirectory(prefix="marquee-ray-bench-") as tmp:
        cache = EmbeddingCache(Path(tmp) / "cache.sqlite")
        started = time.perf_counter()
        run(cache)
        seconds = time.perf_counter() - started
        found = cache.get_many(fingerprint, [text_hash(t) for t in texts])
        cache.close()
    if len(found) != len(set(texts)):
        raise RuntimeError(f"{len(found)} of {len(set(texts))} texts in the cache after the run")
    return seconds, np.stack([found[text_hash(t)] for t in texts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--texts", type=int, default=None, help="texts per run (default 400 quick, 1,500 full)")
    parser.add_argument("--repetitions", type=int, default=None)
    parser.add_argument("--layouts", default="1xC,Cx1", help="Ray pools to compare, C = cores (default both)")
    parser.add_argument("--steady-only", action="store_true",
                        help="only the warm comparison (no one-shot job, no cluster); writes ray_embed_steady.json")
    args = parser.parse_args()
    count, reps, nodes, scaling_count = (1_500, 3, 4, 400) if args.full else (400, 2, 2, 400)
    count, reps = args.texts or count, args.repetitions or reps
    import ray
    from ray.cluster_utils import Cluster

    from embeddings.encoder import BUNDLED_MODEL, load_encoder
    from embeddings.job import embed_with_cache
    from embeddings.ray_job import EncoderPool, EncoderSpec, RayEmbedConfig, embed_missing_with_ray
    from services.settings import Settings

    cache_dir = Settings().cache_dir
    cores = len(os.sched_getaffinity(0))
    texts = _texts(count)
    load_at_start = load1()
    log(f"{len(texts)} texts, {cores} cores, load average {load_at_start}")

    started = time.perf_counter()
    encoder = load_encoder(BUNDLED_MODEL, device="cpu", cache_dir=cache_dir, num_threads=cores, query_engine="torch")
    encoder.encode_items(texts[:WARM_UP_TEXTS])
    single_load_s = time.perf_counter() - started
    fingerprint = encoder.fingerprint

    started = time.perf_counter()
    ray.init(address="local", num_cpus=2 * cores, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    ray_init_s = time.perf_counter() - started
    layouts = [layout.replace("C", str(cores)) for layout in args.layouts.split(",")]
    pool_shapes = {f"1x{cores}": (1, cores), f"{cores}x1": (cores, 1)}
    pool_shapes = {name: shape for name, shape in pool_shapes.items() if name in layouts}
    pools: dict[str, EncoderPool] = {}
    pool_start_s: dict[str, float] = {}
    for name, (actors, threads) in pool_shapes.items():
        started = time.perf_counter()
        pools[name] = EncoderPool(EncoderSpec(BUNDLED_MODEL, cache_dir, "cpu", threads), RayEmbedConfig(actors=actors))
        pool_start_s[name] = round(time.perf_counter() - started, 2)
        pools[name].encode(texts[: WARM_UP_TEXTS * actors])  # every actor runs one batch before timing
    log(f"ray.init {ray_init_s:.1f} s, pools started {pool_start_s}")

    def single(cache: Any) -> None:
        embed_with_cache(encoder, texts, cache)

    def on_pool(name: str) -> Callable[[Any], None]:
        return lambda cache: embed_missing_with_ray(texts, cache=cache, fingerprint=fingerprint, pool=pools[name])

    sides: dict[str, Callable[[Any], None]] = {"single": single, **{f"ray_{n}": on_pool(n) for n in pools}}
    names = list(sides)
    per_rep: list[dict[str, Any]] = []
    cosine_min: dict[str, float] = {}
    for rep in range(reps):
        order = names[rep % len(names):] + names[: rep % len(names)]
        row: dict[str, Any] = {"order": order, "load_average_1m_before": load1()}
        vectors: dict[str, np.ndarray] = {}
        for side in order:
            seconds, vectors[side] = _timed_into_fresh_cache(sides[side], texts, fingerprint)
            row[f"{side}_texts_per_s"] = round(len(texts) / seconds, 2)
        row["load_average_1m_after"] = load1()
        for side in names[1:]:
            row[f"{side}_vs_single"] = round(row[f"{side}_texts_per_s"] / row["single_texts_per_s"], 3)
            cos = float(np.sum(vectors["single"] * vectors[side], axis=1).min())
            cosine_min[side] = min(cosine_min.get(side, 1.0), cos)
        per_rep.append(row)
        log(f"rep {rep}: {row}")
    for pool in pools.values():
        pool.close()
    if args.steady_only:
        ray.shutdown()
        _write_steady(args, texts, reps, cores, names, per_rep, cosine_min, pool_start_s, ray_init_s, single_load_s)
        return

    # the one-shot Ray Data job (the CLI's path): actors start inside the job
    cold_spec = EncoderSpec(BUNDLED_MODEL, cache_dir, "cpu", cores)
    load_before_cold = load1()
    cold_texts = texts[:scaling_count]
    cold_s, cold_vectors = _timed_into_fresh_cache(
        lambda cache: embed_missing_with_ray(cold_texts, cache=cache, fingerprint=fingerprint, spec=cold_spec,
                                             config=RayEmbedConfig(actors=1)), cold_texts, fingerprint)  # fmt: skip
    cosine_min["ray_data_one_shot"] = float(np.sum(vectors["single"][: len(cold_texts)] * cold_vectors, axis=1).min())
    ray.shutdown()
    log(f"one-shot Ray Data job: {cold_s:.1f} s")

    scaling: list[dict[str, Any]] = []
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "node_ip_address": "127.0.0.1",
                                                            "include_dashboard": False})  # fmt: skip
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1")
        ray.init(address=cluster.address, _node_ip_address="127.0.0.1", log_to_driver=False)
        for actors in [a for a in (1, 2, 4) if a <= nodes]:
            threads = max(1, cores // actors)
            started = time.perf_counter()
            pool = EncoderPool(EncoderSpec(BUNDLED_MODEL, cache_dir, "cpu", threads),
                               RayEmbedConfig(actors=actors, cpus_per_actor=2))  # fmt: skip
            start_s = time.perf_counter() - started
            pool.encode(texts[: WARM_UP_TEXTS * actors])
            load_before = load1()
            subset = texts[:scaling_count]
            seconds, _ = _timed_into_fresh_cache(
                lambda cache, pool=pool, subset=subset: embed_missing_with_ray(subset, cache=cache, fingerprint=fingerprint, pool=pool),
                subset, fingerprint)  # fmt: skip
            pool.close()
            scaling.append({"actors": actors, "nodes": nodes, "torch_threads_per_actor": threads,
                            "texts": len(subset), "texts_per_s": round(len(subset) / seconds, 2), "pool_start_s": round(start_s, 2),
                            "load_average_1m_before": load_before})  # fmt: skip
            log(f"scaling: {scaling[-1]}")
    finally:
        ray.shutdown()
        cluster.shutdown()

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in per_rep), 3)

    headline = f"ray_1x{cores}" if f"ray_1x{cores}" in names else names[1]
    warm_ray_rate = median(f"{headline}_texts_per_s")
    loads = [r[k] for r in per_rep for k in ("load_average_1m_before", "load_average_1m_after")]
    write_result(
        "ray_embed",
        {"texts": len(texts), "repetitions": reps, "mode": "full" if args.full else "quick",
         "source": "distinct catalog texts of the default scope, seeded sample (real data)",
         "model": "bundled multilingual-e5-small, CPU, torch engine", "cores": cores, "ray": ray.__version__,
         "timing": "warm on both sides: model loaded and warmed up before the clock; each run embeds every text "
                   "into a fresh empty cache (hash, lookup, encode, cache write)",
         "ray_sides": {f"ray_{n}": {"actors": a, "torch_threads_per_actor": t} for n, (a, t) in pool_shapes.items()},
         "headline": f"{headline} (same total threads as the single side)",
         "order": "rotated every repetition; ratio = median over repetitions of (Ray ÷ single in that repetition)",
         "simulated_nodes": nodes, "simulated_node_cpus": 2,
         "load_average_1m": {"at_start": load_at_start, "min": min(loads), "median": statistics.median(loads),
                             "max": max(loads)},
         "niceness": {"single": os.nice(0), "ray_workers": os.environ["RAY_worker_niceness"]},  # noqa: SIM112
         "box": "2 cores shared with other sessions' jobs (one a niced full-scope embedding)"},
        {"single_texts_per_s": median("single_texts_per_s"),
         **{f"{s}_texts_per_s": median(f"{s}_texts_per_s") for s in names[1:]},
         "per_repetition": per_rep,
         "cosine_min_vs_single": cosine_min,
         "startup": {"ray_init_s": round(ray_init_s, 2), "single_model_load_and_warm_up_s": round(single_load_s, 2),
                     "pool_start_s": pool_start_s,
                     "ray_data_one_shot_texts": len(cold_texts), "ray_data_one_shot_job_s": round(cold_s, 2),
                     "ray_data_one_shot_texts_per_s": round(len(cold_texts) / cold_s, 2),
                     "ray_data_one_shot_load_average_1m_before": load_before_cold,
                     "ray_data_one_shot_fixed_cost_s": round(cold_s - len(cold_texts) / warm_ray_rate, 2)},
         "scaling_simulated_nodes": scaling},
        {"ray_vs_single_texts_per_s": median(f"{headline}_vs_single"),
         **{f"{s}_vs_single_texts_per_s": median(f"{s}_vs_single") for s in names[1:]},
         "ray_data_one_shot_vs_warm_single": round(len(cold_texts) / cold_s / median("single_texts_per_s"), 3),
         **{f"scaling_actors_{s['actors']}_vs_1": round(s["texts_per_s"] / scaling[0]["texts_per_s"], 3)
            for s in scaling}},
        hardware_info=hardware(),
    )  # fmt: skip


def _write_steady(args: Any, texts: list[str], reps: int, cores: int, names: list[str], per_rep: list[dict[str, Any]],
                  cosine_min: dict[str, float], pool_start_s: dict[str, float], ray_init_s: float,
                  single_load_s: float) -> None:  # fmt: skip
    """The warm comparison alone (``--steady-only``) -> benchmarks/results/ray_embed_steady.json."""
    import ray

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in per_rep), 3)

    loads = [r[k] for r in per_rep for k in ("load_average_1m_before", "load_average_1m_after")]
    write_result(
        "ray_embed_steady",
        {"texts": len(texts), "repetitions": reps, "layouts": names[1:], "cores": cores, "ray": ray.__version__,
         "source": "distinct catalog texts of the default scope, seeded sample (real data)",
         "timing": "warm on both sides; fresh empty cache per run; order rotated; median of per-repetition ratios",
         "niceness": {"single": os.nice(0), "ray_workers": os.environ["RAY_worker_niceness"]},  # noqa: SIM112
         "load_average_1m": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)}},
        {"single_texts_per_s": median("single_texts_per_s"),
         **{f"{s}_texts_per_s": median(f"{s}_texts_per_s") for s in names[1:]}, "per_repetition": per_rep,
         "cosine_min_vs_single": cosine_min, "startup": {"ray_init_s": round(ray_init_s, 2), "pool_start_s": pool_start_s,
                                                         "single_model_load_and_warm_up_s": round(single_load_s, 2)}},
        {f"{s}_vs_single_texts_per_s": median(f"{s}_vs_single") for s in names[1:]},
        hardware_info=hardware(),
    )  # fmt: skip


if __name__ == "__main__":
    main()
