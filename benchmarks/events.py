"""Event intake throughput: ``POST /v1/events`` in batches of 100 vs ``GET /v1/noop``, over HTTP, on
SQLite and on PostgreSQL in the same run.

The app (events area only, real catalog when built) runs in a separate uvicorn process, once per back
end: a fresh SQLite event store in a temp dir with ``synchronous=FULL``, then a fresh schema on the
PostgreSQL server of ``make postgres`` (or ``MARQUEE_BENCH_DATABASE_URL``; ``synchronous_commit=on``,
the server on the same machine). Either way every acknowledged batch is fsynced. Client
threads send back-to-back requests over keep-alive connections for a fixed time. Each batch carries
100 events with fresh ``event_id``s for existing profiles and titles (so all are stored, none are
duplicates). The no-op phase sends ``GET /v1/noop`` with the same threads for the same time.

Ratios: ``batch_requests_per_s / noop_requests_per_s`` (what storing 100 events costs compared with
an empty request), ``batch_p50_ms / noop_p50_ms`` (SQLite, unprefixed, and ``postgres_``-prefixed) and
``postgres_vs_sqlite_events_per_s``. Client, server and PostgreSQL share the machine's CPUs. Where no
PostgreSQL server answers, its section records why and only SQLite is measured.

    python benchmarks/events.py           # quick: 8 s per phase, 4 client threads
    python benchmarks/events.py --full    # 30 s per phase, concurrency 1 and 4
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import area_server, hardware, percentiles, postgres_schema, write_result  # noqa: E402

BATCH = 100


def _catalog(tmp: Path) -> tuple[Path, str]:
    """The built catalog when present (copied, so the benchmark never touches artifacts/), else synthetic."""
    from services.settings import Settings

    real = Settings().catalog_dir
    target = tmp / "artifacts" / "catalog"
    if (real / "manifest.json").is_file():
        target.parent.mkdir(parents=True)
        for name in ("titles.parquet", "events.parquet", "profiles.parquet", "manifest.json"):
            (target.parent / "catalog").mkdir(exist_ok=True)
            shutil.copy(real / name, target / name)
        return target, "real catalog"
    from tests.features.synthetic import make_world, write_catalog

    write_catalog(make_world(n_titles=2000, n_users=200, events_per_user=50), target)
    return target, "synthetic catalog (no built catalog found)"


def _phase(base: str, kind: str, seconds: float, threads: int, profiles: list[str], titles: list[str],
           tag: str) -> dict[str, Any]:  # fmt: skip
    import httpx

    latencies: list[list[float]] = [[] for _ in range(threads)]
    stored = [0] * threads
    failures = [0] * threads
    stop = time.monotonic() + seconds

    def worker(w: int) -> None:
        with httpx.Client(base_url=base, timeout=30.0) as http:
            n = 0
            while time.monotonic() < stop:
                if kind == "events":
                    body = {"events": [{"event_id": f"{tag}-{w}-{n}-{i}", "profile_id": profiles[(n + i) % len(profiles)],
                                        "title_id": titles[(7 * n + 13 * i + w) % len(titles)],
                                        "timestamp": 1.7e9 + n, "kind": "play"} for i in range(BATCH)]}  # fmt: skip
                    t0 = time.perf_counter()
                    r = http.post("/v1/events", json=body)
                    latencies[w].append(time.perf_counter() - t0)
                    if r.status_code == 200:
                        stored[w] += r.json()["stored"]
                    else:
                        failures[w] += 1
                else:
                    t0 = time.perf_counter()
                    r = http.get("/v1/noop")
                    latencies[w].append(time.perf_counter() - t0)
                    failures[w] += r.status_code != 200
                n += 1

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    flat = [x for lat in latencies for x in lat]
    out = {"requests": len(flat), "requests_per_s": round(len(flat) / elapsed, 1), "failures": sum(failures),
           "latency": percentiles(flat), "seconds": round(elapsed, 2)}  # fmt: skip
    if kind == "events":
        out["events_stored"] = sum(stored)
        out["events_per_s"] = round(sum(stored) / elapsed, 1)
    return out


def _measure(base: str, seconds: float, concurrencies: tuple[int, ...], profiles: list[str],
             titles: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    _phase(base, "noop", 1.0, 2, profiles, titles, "warm")  # warm-up
    _phase(base, "events", 1.0, 2, profiles, titles, "warm")
    results: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    for c in concurrencies:
        noop = _phase(base, "noop", seconds, c, profiles, titles, f"n{c}")
        events = _phase(base, "events", seconds, c, profiles, titles, f"e{c}")
        results[f"c{c}"] = {"noop": noop, "events": events}
        ratios[f"c{c}_batch_requests_per_s_vs_noop"] = round(events["requests_per_s"] / noop["requests_per_s"], 4)
        ratios[f"c{c}_batch_p50_vs_noop_p50"] = round(events["latency"]["p50_ms"] / noop["latency"]["p50_ms"], 2)
        ratios[f"c{c}_events_per_s_vs_noop_requests_per_s"] = round(events["events_per_s"] / noop["requests_per_s"], 3)
    return results, ratios


def _postgres_schema() -> contextlib.AbstractContextManager[str]:
    """A fresh schema on the benchmark server (``MARQUEE_BENCH_DATABASE_URL``, else ``make postgres``'s)."""
    return postgres_schema(os.environ.get("MARQUEE_BENCH_DATABASE_URL", "postgresql://marquee@127.0.0.1:55432/marquee"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="30 s per phase at concurrency 1 and 4")
    args = parser.parse_args()
    seconds = 30.0 if args.full else 8.0
    concurrencies = (1, 4) if args.full else (4,)
    tmp = Path(tempfile.mkdtemp(prefix="marquee-bench-events-"))
    results: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    try:
        catalog, source = _catalog(tmp)
        import pandas as pd

        titles = pd.read_parquet(catalog / "titles.parquet", columns=["title_id"])["title_id"].tolist()
        profiles = pd.read_parquet(catalog / "profiles.parquet", columns=["profile_id"])["profile_id"].tolist()
        env = {"MARQUEE_ARTIFACTS_DIR": str(tmp / "artifacts"), "MARQUEE_EVENTS_DB": str(tmp / "events.db"),
               "MARQUEE_CACHE_DIR": str(tmp / "cache")}  # fmt: skip
        with area_server(("events",), env=env, timeout_s=180.0) as (base, _):
            results["sqlite"], ratios = _measure(base, seconds, concurrencies, profiles, titles)
        try:
            with _postgres_schema() as url, area_server(("events",), env=env | {"MARQUEE_DATABASE_URL": url},
                                                        timeout_s=300.0) as (base, _):  # fmt: skip
                results["postgres"], pg_ratios = _measure(base, seconds, concurrencies, profiles, titles)
            ratios |= {f"postgres_{k}": v for k, v in pg_ratios.items()}
            for c in concurrencies:
                sqlite_eps = results["sqlite"][f"c{c}"]["events"]["events_per_s"]
                pg_eps = results["postgres"][f"c{c}"]["events"]["events_per_s"]
                ratios[f"c{c}_postgres_vs_sqlite_events_per_s"] = round(pg_eps / sqlite_eps, 3) if sqlite_eps else None
        except RuntimeError as exc:
            results["postgres"] = {"skipped": str(exc)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_result("events", {"mode": "full" if args.full else "quick", "batch_size": BATCH, "seconds_per_phase": seconds,
                            "concurrency": list(concurrencies), "catalog": source, "server": "uvicorn, 1 process",
                            "store": {"sqlite": "SQLite WAL, synchronous=FULL, one transaction per batch",
                                      "postgres": "PostgreSQL 127.0.0.1 (same machine), synchronous_commit=on, "
                                                  "psycopg pool, one transaction per batch"}},
                 results, ratios, hardware_info=hardware())  # fmt: skip


if __name__ == "__main__":
    main()
