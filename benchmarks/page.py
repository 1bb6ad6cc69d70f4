"""Home-page latency: ``GET /v1/profiles/{id}/page`` p50/p99 at concurrency 1 and 8, against ``GET /v1/noop``
of the same app, as ratios.

The app (pages area only, real catalog from ``artifacts/catalog``, the current index's title embeddings
when one is built, the trained ranker when ``ranking.personalize.page_scorer`` provides one) runs in a
separate uvicorn process with a throw-away event store; the client process sends requests over keep-alive
HTTP connections from ``concurrency`` threads. Profiles rotate over MovieLens viewers (light to heavy
histories), a kids profile and unknown (cold-start) viewers.

    python benchmarks/page.py            # quick: 300 requests per endpoint and concurrency
    python benchmarks/page.py --full     # 3,000 requests per endpoint and concurrency

Prints one JSON object as the last line and writes benchmarks/results/page.json.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import hardware, percentiles, write_result  # noqa: E402


def _serve(port: int) -> None:
    """Child process: the pages area alone, on 127.0.0.1:port."""
    import uvicorn

    from services.app import create_app
    from services.settings import Settings

    uvicorn.run(create_app(Settings(), areas=("pages",)), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(base: str, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            response = httpx.get(f"{base}/readyz", timeout=2.0)
            if response.status_code == 200:
                return
            if response.status_code == 503 and "starting" not in response.text:
                raise RuntimeError(f"server not ready: {response.text}")
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server not ready after {timeout_s} s")


def _profiles(catalog_dir: Path, count: int) -> list[str]:
    """MovieLens viewers spread over history sizes, plus a kids profile and unknown viewers."""
    from data.catalog import read_events

    sizes = read_events(catalog_dir)["profile_id"].value_counts().sort_values()
    step = max(1, len(sizes) // count)
    viewers = list(sizes.index[::step][:count])
    return [*viewers, "demo:kids", "bench:new-1", "bench:new-2", "demo:fr"]


def _run(base: str, paths: list[str], concurrency: int, requests: int) -> tuple[list[float], int]:
    """Latencies (s) of ``requests`` GETs spread over ``concurrency`` threads, each on its own connection."""
    import httpx

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_worker = [
        requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)
    ]

    def worker(index: int) -> None:
        nonlocal errors
        local: list[float] = []
        bad = 0
        with httpx.Client(base_url=base, timeout=60.0) as client:
            for j in range(per_worker[index]):
                path = paths[(index * 7919 + j) % len(paths)]
                started = time.perf_counter()
                response = client.get(path)
                local.append(time.perf_counter() - started)
                bad += response.status_code != 200
        with lock:
            latencies.extend(local)
            errors += bad

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return latencies, errors


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="3,000 requests per endpoint and concurrency")
    parser.add_argument("--requests", type=int, default=None, help="override the request count")
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--per-row", type=int, default=20)
    parser.add_argument(
        "--ranker",
        type=Path,
        default=None,
        help="a TrainedRanker folder to serve with (default: artifacts/models/ranker when trained)",
    )
    parser.add_argument("--serve-port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_port:
        _serve(args.serve_port)
        return {}

    import httpx

    from services.settings import Settings

    requests = args.requests or (3000 if args.full else 300)
    settings = Settings()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="marquee-bench-page-") as tmp:
        env = {**os.environ, "MARQUEE_EVENTS_DB": str(Path(tmp) / "events.db"), "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}  # fmt: skip
        if args.ranker is not None:  # the real catalog and index, this ranker
            artifacts = Path(tmp) / "artifacts"
            (artifacts / "models").mkdir(parents=True)
            (artifacts / "catalog").symlink_to(settings.catalog_dir.resolve())
            if settings.index_dir.exists():
                (artifacts / "index").symlink_to(settings.index_dir.resolve())
            (artifacts / "models" / "ranker").symlink_to(args.ranker.resolve())
            env["MARQUEE_ARTIFACTS_DIR"] = str(artifacts)
        proc = subprocess.Popen([sys.executable, __file__, "--serve-port", str(port)], env=env, cwd=REPO)
        try:
            started = time.perf_counter()
            _wait_ready(base, 600.0, proc)
            startup_s = time.perf_counter() - started
            profiles = _profiles(settings.catalog_dir, 40)
            query = f"?rows={args.rows}&per_row={args.per_row}"
            page_paths = [f"/v1/profiles/{p}/page{query}" for p in profiles]
            sample = httpx.get(f"{base}{page_paths[0]}", timeout=60.0).json()
            if args.ranker is not None and sample.get("scorer") == "heuristic":
                raise RuntimeError(f"--ranker {args.ranker} was not loaded by the server (see its log above)")
            for path in page_paths:  # warm every profile's feature cache once, as a live service would be
                httpx.get(f"{base}{path}", timeout=60.0)
            results: dict[str, Any] = {"startup_s": round(startup_s, 1)}
            ratios: dict[str, float] = {}
            for concurrency in (1, 8):
                noop, noop_errors = _run(base, ["/v1/noop"], concurrency, requests)
                page, page_errors = _run(base, page_paths, concurrency, requests)
                noop_stats, page_stats = percentiles(noop), percentiles(page)
                noop_stats["errors"], page_stats["errors"] = noop_errors, page_errors
                results[f"c{concurrency}"] = {"noop": noop_stats, "page": page_stats}
                for p in ("p50", "p99"):
                    ratios[f"page_{p}_over_noop_c{concurrency}"] = round(
                        page_stats[f"{p}_ms"] / noop_stats[f"{p}_ms"], 2
                    )
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    config = {
        "mode": "full" if args.full else "quick", "requests_per_setting": requests, "rows": args.rows,
        "per_row": args.per_row, "profiles": len(profiles), "scorer": sample.get("scorer"),
        "titles_on_sample_page": sum(len(r["items"]) for r in sample.get("rows", [])),
        "server": "uvicorn, 1 process, pages area only; client in a separate process (httpx, keep-alive)",
        "index": str(settings.index_dir) if (settings.index_dir / "CURRENT").exists() else None,
        "ranker": str(args.ranker) if args.ranker else str(settings.models_dir / "ranker"),
    }  # fmt: skip
    return write_result("page", config, results, ratios, hardware_info=hardware())


if __name__ == "__main__":
    main()
