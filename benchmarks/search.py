"""Search latency: ``GET /v1/search`` p50/p99 at concurrency 1 and 8, side by side with ``GET /v1/noop`` of
the same app and the query encoder alone, on the real catalog and the current index.

The app (search area only) runs in a separate uvicorn process; the client sends requests over keep-alive
HTTP connections from ``concurrency`` threads. Queries are a realistic mix drawn from the data (seeded):
catalog titles, titles being typed (prefixes), cast names, misspelt titles, short descriptions in the
catalog's other languages (fr/es/de/it/pt/pl/da) and the first sentence of Reddit tip-of-the-tongue
validation posts. Every phase uses queries the server has not seen (no encoder cache hits) except the
``repeated`` phase, which replays phase c1's queries to show what the encoder's LRU cache saves.

The encoder alone is measured in this process on the same query lists with its cache disabled
(``query_cache_size=0``), at concurrency 1 and 8 (threads), so the ratio
``search p50 / (encoder p50 + noop p50)`` isolates what search adds beyond encoding and HTTP. At
concurrency 1 search is also measured with query understanding off (``understand=false``) on a second,
disjoint set of queries drawn from the same mix (a query the server has seen would be an encoder cache
hit), so the ratio with understanding on sits next to the one without it. The measurements are
interleaved in blocks of ``--block`` queries (noop, search, search without understanding, encoder on both
query sets, next block...), so drifts in the machine's load hit all of them alike. The in-process cost of
understanding alone (``search.understand.understand`` on the c1 queries, microseconds) is reported too.

    python benchmarks/search.py            # quick: 150 queries per phase
    python benchmarks/search.py --full     # 800 queries per phase
    MARQUEE_ARTIFACTS_DIR=/work/full-artifacts python benchmarks/search.py --name search_full

The artifacts (catalog and index) are the settings' (``MARQUEE_ARTIFACTS_DIR``); the index version's scope
and title count are recorded in the config. Prints one JSON object as the last line and writes
benchmarks/results/<name>.json (``--name``, default ``search``: the default scope's result).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import area_server, hardware, http_latencies, percentiles, write_result  # noqa: E402


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 5:
        return text
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1 :]


def query_mix(catalog_dir: Path, count: int, seed: int) -> list[str]:
    """``count`` distinct realistic queries (see the module docstring), shuffled with ``seed``."""
    from data.catalog import as_lists, read_titles
    from data.queries import builtin_query_path, read_query_file

    rng = random.Random(seed)
    titles = read_titles(catalog_dir)
    in_scope = titles[titles["netflix_id"].notna() | titles["movielens_id"].notna()]
    rows = in_scope.sample(n=min(len(in_scope), count * 4), random_state=seed).to_dict("records")
    out: list[str] = []
    foreign = titles[titles["description_languages"].map(lambda v: any(x != "en" for x in as_lists(v)))]
    foreign_rows = foreign.sample(n=min(len(foreign), count), random_state=seed).to_dict("records")
    try:
        tot = [q.query.split(". ")[0][:120] for q in read_query_file(builtin_query_path(catalog_dir, "reddit-tomt:validation"))]
    except Exception:
        tot = []
    rng.shuffle(tot)
    kinds = ["title", "prefix", "typo", "person", "foreign", "tot"]
    i = j = k = 0
    while len(out) < count and i < len(rows):
        kind = kinds[len(out) % len(kinds)]
        if kind == "foreign" and j < len(foreign_rows):
            desc = [d for d in as_lists(foreign_rows[j]["descriptions"]) if d["lang"] != "en"]
            j += 1
            if desc:
                out.append(" ".join(str(desc[0]["text"]).split()[:12]))
            continue
        if kind == "tot" and k < len(tot):
            out.append(tot[k])
            k += 1
            continue
        row = rows[i]
        i += 1
        title = str(row["title"])
        if kind == "prefix":
            out.append(title[: max(3, len(title) * 2 // 3)])
        elif kind == "typo":
            out.append(_typo(rng, title.lower()))
        elif kind == "person" and len(as_lists(row["cast"])):
            out.append(str(as_lists(row["cast"])[0]))
        else:
            out.append(title)
    unique = list(dict.fromkeys(q.strip() for q in out if q.strip()))
    rng.shuffle(unique)
    return unique


def _encode_alone(encoder: Any, queries: list[str], concurrency: int) -> tuple[list[float], float]:
    lock = threading.Lock()
    latencies: list[float] = []
    chunks = [queries[i::concurrency] for i in range(concurrency)]

    def worker(index: int) -> None:
        local = []
        for q in chunks[index]:
            started = time.perf_counter()
            encoder.encode_queries([q])
            local.append(time.perf_counter() - started)
        with lock:
            latencies.extend(local)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return latencies, time.perf_counter() - started


def _understand_cost(catalog_dir: Path, queries: list[str], repeats: int = 3) -> dict[str, float]:
    """Microseconds of ``search.understand.understand`` per query (best of ``repeats`` per query), with a
    people gazetteer of every catalog cast/director name of two words or more, as the engine builds it."""
    import numpy as np
    from anyascii import anyascii

    from data.catalog import as_lists, read_titles
    from data.normalize import fold
    from search.understand import understand

    titles = read_titles(catalog_dir)
    people: dict[str, str] = {}
    for column in ("cast", "directors"):
        for names in titles[column]:
            for name in as_lists(names):
                key = fold(str(name))
                if " " in key:
                    people.setdefault(key, str(name))

    def person(words: str) -> str | None:
        if words in people:
            return people[words]
        return None if words.isascii() else people.get(" ".join(anyascii(words).lower().split()))

    for q in queries[:20]:
        understand(q, people=person)
    costs = []
    for q in queries:
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            understand(q, people=person)
            best = min(best, time.perf_counter() - started)
        costs.append(best * 1e6)
    arr = np.asarray(costs)
    return {"p50_us": round(float(np.percentile(arr, 50)), 1), "p99_us": round(float(np.percentile(arr, 99)), 1),
            "max_us": round(float(arr.max()), 1), "count": len(costs)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="800 queries per phase")
    parser.add_argument("--queries", type=int, default=None, help="override the queries per phase")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block", type=int, default=25, help="queries per interleaved block")
    parser.add_argument("--name", default="search",
                        help="result name: benchmarks/results/<name>.json (e.g. search_full for the full scope)")
    args = parser.parse_args(argv)

    import httpx

    from embeddings.encoder import load_encoder
    from embeddings.index_store import IndexStore
    from services.settings import Settings

    per_phase = args.queries or (800 if args.full else 150)
    settings = Settings()
    store = IndexStore(settings.index_dir)
    version = store.current_version()
    index_manifest = store.read_manifest(version) if version else {}
    queries = query_mix(settings.catalog_dir, per_phase * 3 + 20, args.seed)
    warm, phase_c1, phase_c8 = queries[:20], queries[20 : 20 + per_phase], queries[20 + per_phase : 20 + 2 * per_phase]
    phase_c1_off = queries[20 + 2 * per_phase :]
    env = {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}

    def path(q: str, understand: bool = True) -> str:
        return f"/v1/search?q={quote(q)}&limit=20" + ("" if understand else "&understand=false")

    results: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    # the encoder alone, in this process, with its cache off; loaded before the server starts
    encoder = load_encoder(settings.model, device=settings.device, cache_dir=settings.cache_dir, query_cache_size=0)
    for q in warm:
        encoder.encode_queries([q])
    with area_server(("search",), env=env, timeout_s=900.0) as (base, startup_s):
        results["startup_s"] = startup_s
        for q in warm:
            httpx.get(f"{base}{path(q)}", timeout=60.0)
        sample = httpx.get(f"{base}{path('the matrix')}", timeout=60.0).json()
        for concurrency, phase in ((1, phase_c1), (8, phase_c8)):
            # interleaved blocks: this machine's load drifts, so the three measurements share each window
            noop: list[float] = []
            search: list[float] = []
            search_off: list[float] = []
            enc: list[float] = []
            errors = {"noop": 0, "search": 0, "search_off": 0}
            walls = {"search": 0.0, "encoder": 0.0}
            off = phase_c1_off if concurrency == 1 else []
            for start in range(0, len(phase), args.block):
                block, block_off = phase[start : start + args.block], off[start : start + args.block]
                lat, bad, _ = http_latencies(base, ["/v1/noop"] * len(block), concurrency)
                noop += lat
                errors["noop"] += bad
                lat, bad, wall = http_latencies(base, [path(q) for q in block], concurrency)
                search += lat
                errors["search"] += bad
                walls["search"] += wall
                if block_off:
                    lat, bad, _ = http_latencies(base, [path(q, understand=False) for q in block_off], concurrency)
                    search_off += lat
                    errors["search_off"] += bad
                lat, wall = _encode_alone(encoder, block, concurrency)
                enc += lat
                walls["encoder"] += wall
                if block_off:
                    lat, _ = _encode_alone(encoder, block_off, concurrency)
                    enc += lat
            results[f"c{concurrency}"] = {
                "noop": {**percentiles(noop), "errors": errors["noop"]},
                "search": {**percentiles(search), "errors": errors["search"],
                           "requests_per_s": round(len(phase) / walls["search"], 1)},
                "encoder": {**percentiles(enc), "requests_per_s": round(len(phase) / walls["encoder"], 1)},
            }  # fmt: skip
            if search_off:
                results[f"c{concurrency}"]["search_understand_off"] = {**percentiles(search_off),
                                                                       "errors": errors["search_off"]}
        repeated, repeated_errors, _ = http_latencies(base, [path(q) for q in phase_c1], 1)
        results["c1_repeated_queries"] = {**percentiles(repeated), "errors": repeated_errors}

    for c in (1, 8):
        r = results[f"c{c}"]
        for p in ("p50", "p99"):
            ratios[f"search_{p}_over_encoder_plus_noop_c{c}"] = round(
                r["search"][f"{p}_ms"] / (r["encoder"][f"{p}_ms"] + r["noop"][f"{p}_ms"]), 3)
    r1 = results["c1"]
    for p in ("p50", "p99"):
        ratios[f"search_understand_off_{p}_over_encoder_plus_noop_c1"] = round(
            r1["search_understand_off"][f"{p}_ms"] / (r1["encoder"][f"{p}_ms"] + r1["noop"][f"{p}_ms"]), 3)
    ratios["search_p50_understand_on_over_off_c1"] = round(r1["search"]["p50_ms"] / r1["search_understand_off"]["p50_ms"], 3)
    results["understand_in_process_us"] = _understand_cost(settings.catalog_dir, phase_c1)
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    ratios["search_requests_per_s_c8"] = results["c8"]["search"]["requests_per_s"]
    ratios["repeated_over_first_p50_c1"] = round(results["c1_repeated_queries"]["p50_ms"] / results["c1"]["search"]["p50_ms"], 3)
    config = {
        "mode": "full" if args.full else "quick", "queries_per_phase": per_phase, "seed": args.seed,
        "query_mix": "titles, prefixes, typos, cast names, non-English descriptions (12 words), Reddit ToT first sentences",
        "limit": 20, "block": args.block, "understand_off": "c1 only, disjoint queries from the same mix",
        "server": "uvicorn, 1 process, search area only; client in a separate process (httpx, keep-alive)",
        "encoder": {"model": settings.model, "fingerprint": getattr(encoder, "fingerprint", None)},
        "index_dir": str(settings.index_dir), "index_version": version, "scope": index_manifest.get("scope"),
        "titles": index_manifest.get("titles"), "texts": index_manifest.get("texts"), "sample_total": sample.get("total"),
        "goal": "search p50 / (encoder p50 + noop p50) <= 1.3",
    }  # fmt: skip
    return write_result(args.name, config, results, ratios, hardware_info=hardware())


if __name__ == "__main__":
    main()
