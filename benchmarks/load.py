"""Mixed load with an index swap in the middle: requests/s, p50/p99 per route, errors, server memory.

The server (every area: search, events, pages, ads) runs in its own uvicorn process on a working copy
of the built artifacts (catalog and models linked, index and databases copied, so nothing of the
source is changed); this process is the client. ``--concurrency`` threads, each with a keep-alive
connection, send a fixed mix for ``--duration`` seconds:

* search 60 % — ``GET /v1/search`` with the hand-written multilingual queries of
  ``data/querysets/marquee-multilingual.jsonl`` (a third with a viewer's ``profile_id``);
* pages 25 % — ``GET /v1/profiles/{id}/page`` for MovieLens viewers of the catalog, the demo
  profiles and unknown (cold-start) viewers;
* events 10 % — ``POST /v1/events``, batches of 10 plays of catalog titles by catalog viewers;
* ads 5 % — ``POST /v1/ads/openrtb``, a 60-second dynamic pod for a viewer (200 or 204 are both fine);
* plus ``GET /v1/noop`` on 2 % of requests: the same-run baseline the p50s are divided by.

A quarter into the run, ``marquee index build --force`` builds and activates a new index version of
the working copy while the traffic goes on; the server's index watch (every 2 s) builds the new engine
aside and swaps it in. The run lasts until ``--duration`` has passed AND the new version has served
for 10 s (at most ``--duration`` + 300 s). A failed request is a transport error or any other status
than the route's expected ones; the goal is 0. The server's RSS is read before the load (after a
warm-up), at its peak and after the load; growth must stay under the stated bound: 256 MiB plus twice
the new index version's size on disk (an engine is built aside while the old one serves).

    python benchmarks/load.py                 # quick: 8 threads, 90 s
    python benchmarks/load.py --full          # 8 threads, 300 s
    python benchmarks/load.py --artifacts /path/to/artifacts

Prints one JSON object as the last line and writes benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import free_port, hardware, percentiles, wait_ready, write_result  # noqa: E402

MIX = {"search": 0.60 * 0.98, "pages": 0.25 * 0.98, "events": 0.10 * 0.98, "ads": 0.05 * 0.98, "noop": 0.02}
EXPECTED = {"search": {200}, "pages": {200}, "events": {200}, "ads": {200, 204}, "noop": {200}}
DECIDE_KEY = "demo-decide-key"
MIB = 2**20


# ------------------------------------------------------------------------------------------ setup


def working_copy(source: Path, work: Path) -> Path:
    """``work/artifacts``: catalog and models linked (read only), index and databases copied."""
    target = work / "artifacts"
    target.mkdir(parents=True)
    for name in ("catalog", "models"):
        if (source / name).exists():
            (target / name).symlink_to((source / name).resolve())
    for name in ("index", "events"):
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, symlinks=True)
    for name in ("events.db", "ads.db"):
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    return target


def workload(catalog_dir: Path, seed: int) -> dict[str, list[Any]]:
    from data.catalog import read_events, read_titles

    queries = [json.loads(line)["query"] for line in
               (REPO / "data" / "querysets" / "marquee-multilingual.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]  # fmt: skip
    events = read_events(catalog_dir)
    sizes = events["profile_id"].value_counts()
    rng = random.Random(seed)
    viewers = rng.sample(list(sizes.index), min(300, len(sizes)))
    titles = read_titles(catalog_dir)["title_id"].tolist()
    return {"queries": queries, "viewers": viewers, "titles": titles,
            "page_profiles": [*viewers, "demo:kids", "demo:fr", *(f"load:new-{i}" for i in range(20))]}  # fmt: skip


def version_dir_bytes(index_dir: Path, version: str) -> int:
    folder = index_dir / "versions" / version
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------ load


class Load:
    """The client side: per-route latencies and failures, from ``concurrency`` keep-alive threads."""

    def __init__(self, base: str, data: dict[str, list[Any]], seed: int) -> None:
        self.base = base
        self.data = data
        self.seed = seed
        self.latencies: dict[str, list[tuple[float, float]]] = defaultdict(list)  # route -> (t, seconds)
        self.failures: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.counter = 0

    def request(self, http: Any, route: str, rng: random.Random) -> Any:
        d = self.data
        if route == "search":
            params: dict[str, Any] = {"q": rng.choice(d["queries"]), "limit": 20}
            if rng.random() < 1 / 3:
                params["profile_id"] = rng.choice(d["viewers"])
            return http.get("/v1/search", params=params)
        if route == "pages":
            return http.get(f"/v1/profiles/{rng.choice(d['page_profiles'])}/page", params={"rows": 10, "per_row": 20})
        if route == "events":
            with self.lock:
                self.counter += 1
                batch = self.counter
            now = time.time()
            events = [{"event_id": f"load-{self.seed}-{batch}-{i}", "profile_id": rng.choice(d["viewers"]),
                       "title_id": rng.choice(d["titles"]), "timestamp": now, "kind": "play"} for i in range(10)]  # fmt: skip
            return http.post("/v1/events", json={"events": events})
        if route == "ads":
            bid = {"id": f"load-{rng.random():.12f}", "tmax": 1000, "at": 1,
                   "imp": [{"id": "1", "video": {"mimes": ["video/mp4"], "minduration": 5, "maxduration": 30,
                                                 "poddur": 60, "maxseq": 4, "podid": "1", "plcmt": 1}}],
                   "app": {"content": {"id": rng.choice(d["titles"])}}, "device": {"devicetype": 3},
                   "user": {"id": rng.choice(d["viewers"])}}  # fmt: skip
            return http.post("/v1/ads/openrtb", json=bid, headers={"X-API-Key": DECIDE_KEY})
        return http.get("/v1/noop")

    def worker(self, index: int) -> None:
        import httpx

        rng = random.Random(self.seed * 1000 + index)
        routes, weights = list(MIX), list(MIX.values())
        with httpx.Client(base_url=self.base, timeout=60.0) as http:
            while not self.stop.is_set():
                route = rng.choices(routes, weights)[0]
                started = time.perf_counter()
                try:
                    response = self.request(http, route, rng)
                    status: int | str = response.status_code
                except httpx.HTTPError as exc:
                    status = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - started
                with self.lock:
                    self.latencies[route].append((time.time(), elapsed))
                    if status not in EXPECTED[route]:
                        detail = response.text[:300] if isinstance(status, int) else ""
                        self.failures.append({"route": route, "status": status, "at": time.time(), "detail": detail})


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def serving_version(base: str) -> str | None:
    import httpx

    try:
        return httpx.get(f"{base}/v1/search/index", timeout=10.0).json().get("serving_version")  # type: ignore[no-any-return]
    except (httpx.HTTPError, ValueError):
        return None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="300 s instead of 90 s")
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--artifacts", type=Path, default=None, help="built artifacts (default: settings)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-swap", action="store_true")
    args = parser.parse_args(argv)
    duration = args.duration or (300.0 if args.full else 90.0)

    from services.settings import Settings

    source = (args.artifacts or Settings().artifacts_dir).resolve()
    if not (source / "index" / "CURRENT").is_file():
        raise SystemExit(f"no built index under {source}: run `make artifacts` (or pass --artifacts)")
    work = Path(tempfile.mkdtemp(prefix="marquee-load-"))
    try:
        return run(args, duration, source, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, duration: float, source: Path, work: Path) -> dict[str, Any]:
    import httpx

    artifacts = working_copy(source, work)
    data = workload(artifacts / "catalog", args.seed)
    env = {**os.environ, "MARQUEE_ARTIFACTS_DIR": str(artifacts), "MARQUEE_INDEX_WATCH_S": "2",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}  # fmt: skip
    port = free_port()
    code = ("import uvicorn; from services.app import create_app; "
            f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning', access_log=False)")
    server = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    swap: dict[str, Any] = {"enabled": not args.no_swap}
    try:
        started = time.perf_counter()
        wait_ready(base, server, 900)
        startup_s = time.perf_counter() - started
        with httpx.Client(base_url=base, timeout=60.0) as http:  # warm-up: every route once or twice
            for query in data["queries"][:10]:
                http.get("/v1/search", params={"q": query})
            for pid in data["page_profiles"][:5]:
                http.get(f"/v1/profiles/{pid}/page")
        version_before = serving_version(base)
        rss_before = rss_bytes(server.pid)
        load = Load(base, data, args.seed)
        threads = [threading.Thread(target=load.worker, args=(i,), daemon=True) for i in range(args.concurrency)]
        t0 = time.time()
        for t in threads:
            t.start()
        peak = rss_before
        built_at: float | None = None
        served_at: float | None = None
        build: subprocess.Popen[bytes] | None = None
        build_started = 0.0
        hard_stop = t0 + duration + 300
        while True:
            now = time.time()
            peak = max(peak, rss_bytes(server.pid))
            if swap["enabled"] and build is None and now - t0 >= duration / 4:
                build_started = now
                build = subprocess.Popen([sys.executable, "-m", "services.cli", "index", "build", "--force"],
                                         cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
            if build is not None and built_at is None and build.poll() is not None:
                built_at = time.time()
                swap["build_returncode"] = build.returncode
                if build.returncode != 0:
                    swap["build_error"] = build.stderr.read().decode(errors="replace")[-2000:] if build.stderr else ""
            if built_at is not None and served_at is None and swap.get("build_returncode") == 0:
                version = serving_version(base)
                if version and version != version_before:
                    served_at = time.time()
                    swap["version_after"] = version
            done = now - t0 >= duration and (not swap["enabled"] or served_at is not None
                                              and now - served_at >= 10 or swap.get("build_returncode", 0) != 0)  # fmt: skip
            if done or now >= hard_stop:
                break
            time.sleep(0.5)
        load.stop.set()
        for t in threads:
            t.join(timeout=90)
        wall = time.time() - t0
        rss_after = rss_bytes(server.pid)
        current = (artifacts / "index" / "CURRENT").read_text().strip()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    per_route = {}
    total = 0
    for route in MIX:
        samples = load.latencies.get(route, [])
        total += len(samples)
        failed = sum(f["route"] == route for f in load.failures)
        per_route[route] = {**percentiles([s for _, s in samples]), "req_per_s": round(len(samples) / wall, 2),
                            "failed": failed}  # fmt: skip
    growth = rss_after - rss_before
    bound = 256 * MIB + 2 * version_dir_bytes(artifacts / "index", current)
    if swap["enabled"]:
        during = [s for route in MIX for t, s in load.latencies.get(route, []) if build_started <= t <= (served_at or t)]
        swap.update({
            "version_before": version_before, "current_after": current,
            "build_started_s": round(build_started - t0, 1),
            "build_s": round(built_at - build_started, 1) if built_at else None,
            "served_after_build_s": round(served_at - built_at, 1) if served_at and built_at else None,
            "new_version_serving": bool(served_at) and swap.get("version_after") == current,
            "requests_from_build_to_swap": len(during),
            "failed_from_build_to_swap": sum(build_started <= f["at"] <= (served_at or f["at"]) for f in load.failures),
        })  # fmt: skip
    results = {
        "requests": total, "wall_s": round(wall, 1), "req_per_s": round(total / wall, 2),
        "failed_requests": len(load.failures), "failures_sample": load.failures[:5], "routes": per_route,
        "mix": {route: round(per_route[route]["count"] / max(total, 1), 3) for route in MIX},
        "server_startup_s": round(startup_s, 1),
        "rss_mib": {"before": round(rss_before / MIB, 1), "peak": round(peak / MIB, 1),
                    "after": round(rss_after / MIB, 1), "growth": round(growth / MIB, 1),
                    "bound": round(bound / MIB, 1), "within_bound": growth <= bound},
        "swap": swap,
    }  # fmt: skip
    noop = per_route["noop"]["p50_ms"] or 1e-9
    ratios = {"failed_per_request": round(len(load.failures) / max(total, 1), 6),
              "rss_growth_over_bound": round(growth / bound, 3),
              **{f"{r}_p50_over_noop_p50": round(per_route[r]["p50_ms"] / noop, 2)
                 for r in ("search", "pages", "events", "ads") if per_route[r]["count"]}}  # fmt: skip
    config = {"duration_s": duration, "concurrency": args.concurrency, "mix": MIX, "seed": args.seed,
              "index_watch_s": 2, "artifacts": str(source), "queries": len(data["queries"]),
              "viewers": len(data["viewers"])}  # fmt: skip
    return write_result("load", config, results, ratios, hardware_info=hardware())


if __name__ == "__main__":
    main()
