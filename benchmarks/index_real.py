"""Vector index on REAL data: the catalog's own passage vectors and real viewer-style queries.

``benchmarks/index.py`` measures the index kinds on synthetic vectors whose queries are held-out
draws of the passage distribution. Real e5 queries are not like passages: the ``query: `` prefix
and short texts put them in another region of the sphere (their nearest k-means cell is often not
the cell of their nearest passages), which approximate indexes feel and synthetic queries hide.
This benchmark repeats the recall/speed sweep with:

* passages: every vector of a built index version (``--index-dir``, default the serving index:
  the catalog texts of its scope, e.g. 17,884 for ``watched`` or 53,430 for ``full``);
* queries: the search benchmark's realistic mix (titles, prefixes, typos, people, non-English
  descriptions, Reddit tip-of-the-tongue sentences; ``benchmarks.search.query_mix``) plus the
  Reddit ToT validation queries, encoded with the serving encoder.

For each kind (exact; HNSW over ``efSearch``; IVF over ``nprobe``) it reports recall against exact
search at k = 10 and at the k that search asks the dense channel for (``k_search``: 200 candidate
titles x texts per title x 1.5 + 8), single-query latency on 1 thread (p50, and CPU ms per query)
and batched queries/s on ``--threads`` threads.

    python benchmarks/index_real.py                          # the serving index
    python benchmarks/index_real.py --index-dir /tmp/x/index # another built index

Prints one JSON object as the last line and writes benchmarks/results/index_real.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import hardware, write_result  # noqa: E402
from benchmarks.index import measure_search, recall_at_k  # noqa: E402

HNSW_EF = [64, 128, 256, 512]
IVF_NPROBE = [16, 32, 64, 128]
SEARCH_CANDIDATES = 200  # search.fusion.FusionConfig.candidates


def _queries(catalog_dir: Path, count: int, seed: int) -> list[str]:
    from benchmarks.search import query_mix
    from data.queries import builtin_query_path, read_query_file

    mix = query_mix(catalog_dir, count, seed)
    try:
        tot = [q.query for q in read_query_file(builtin_query_path(catalog_dir, "reddit-tomt:validation"))]
    except Exception:  # the catalog was built without the ToT sources
        tot = []
    return mix + tot[: count // 2]


def _stored_vectors(raw: Any) -> np.ndarray:
    """Every vector of a faiss index (flat and HNSW reconstruct directly; IVF after a direct map)."""
    import faiss

    try:
        return np.asarray(raw.reconstruct_n(0, raw.ntotal), dtype=np.float32)
    except RuntimeError:
        faiss.extract_index_ivf(raw).make_direct_map()
        return np.asarray(raw.reconstruct_n(0, raw.ntotal), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, default=None, help="an index store (default: the serving one)")
    parser.add_argument("--queries", type=int, default=600, help="mixed queries (plus half as many ToT ones)")
    parser.add_argument("--single", type=int, default=200, help="queries timed one at a time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import faiss

    from embeddings.encoder import load_encoder
    from embeddings.index import HNSWIndex, IVFIndex, build_index
    from embeddings.job import load_index_artifacts
    from services.settings import Settings

    faiss.omp_set_num_threads(args.threads)  # batched searches; single queries run on 1 thread
    settings = Settings()
    artifacts = load_index_artifacts(args.index_dir or settings.index_dir)
    vectors = _stored_vectors(artifacts.index.faiss_index)
    n = vectors.shape[0]
    ids = np.arange(n, dtype=np.int64)
    texts_per_title = n / max(1, len(set(artifacts.texts["title_id"].astype(str))))
    k_search = min(n, int(math.ceil(SEARCH_CANDIDATES * texts_per_title * 1.5)) + 8)
    encoder = load_encoder(settings.model, device=settings.device, cache_dir=settings.cache_dir)
    texts = _queries(settings.catalog_dir, args.queries, args.seed)
    queries = encoder.encode_queries(texts)
    started = time.perf_counter()

    exact = build_index(vectors, ids, kind="flat", use_gpu=False)
    truth = {k: exact.search(queries, k)[1] for k in (10, k_search)}
    rows: list[dict[str, Any]] = []
    for k in (10, k_search):
        _, timing = measure_search(exact, queries, args.single, top_k=k)
        rows.append({"kind": "exact", "knob": None, "k": k, "recall": 1.0, **timing})
    build_s: dict[str, float] = {}
    for kind, knobs in (("hnsw", HNSW_EF), ("ivf", IVF_NPROBE)):
        t0 = time.perf_counter()
        index = build_index(vectors, ids, kind=kind, use_gpu=False)
        build_s[kind] = round(time.perf_counter() - t0, 1)
        for knob in knobs:
            if isinstance(index, HNSWIndex):
                index.ef_search = knob
            elif isinstance(index, IVFIndex):
                index.nprobe = knob
            for k in (10, k_search):
                ids_found, timing = measure_search(index, queries, args.single, top_k=k)
                rows.append({"kind": kind, "knob": knob, "k": k, "recall": recall_at_k(truth[k], ids_found), **timing})
        print(f"== {kind} done", file=sys.stderr, flush=True)

    exact_rows = {row["k"]: row for row in rows if row["kind"] == "exact"}
    ratios: dict[str, Any] = {}
    for row in rows:
        if row["kind"] == "exact":
            continue
        key = f"{row['kind']}_{'ef' if row['kind'] == 'hnsw' else 'nprobe'}{row['knob']}_k{row['k']}"
        ratios[key] = {"recall": row["recall"],
                       "single_cpu_speedup_vs_exact": round(exact_rows[row["k"]]["single_cpu_ms"] / row["single_cpu_ms"], 2)}  # fmt: skip
    config = {
        "n_vectors": n, "index_dir": str(args.index_dir or settings.index_dir), "model": settings.model,
        "queries": len(texts), "query_sources": "benchmarks.search.query_mix + reddit-tomt:validation",
        "k_search": k_search, "texts_per_title": round(texts_per_title, 3), "single_query_timings": args.single,
        "threads_batched": args.threads, "build_s": build_s, "wall_s": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    write_result("index_real", config, {"rows": rows}, ratios, hardware_info=hardware())


if __name__ == "__main__":
    main()
