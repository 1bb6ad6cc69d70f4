"""Home-page latency: ``GET /v1/profiles/{id}/page`` p50/p99 at concurrency 1 and 8, against ``GET /v1/noop``
of the same app, as ratios.

The app (pages area only, real catalog from ``artifacts/catalog``, the current index's title embeddings
when one is built, the trained ranker when there is one, bound to the servable titles by
``services.routers.pages.ranker_scorer``) runs in a
separate uvicorn process with a throw-away event store; the client process sends requests over keep-alive
HTTP connections from ``concurrency`` threads. Profiles rotate over MovieLens viewers (light to heavy
histories), a kids profile and unknown (cold-start) viewers.

    python benchmarks/page.py            # quick: 300 requests per endpoint and concurrency
    python benchmarks/page.py --full     # 3,000 requests per endpoint and concurrency

Prints one JSON object as the last line and writes benchmarks/results/page.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import area_server, hardware, http_latencies, percentiles, write_result  # noqa: E402


def _profiles(catalog_dir: Path, count: int) -> list[str]:
    """MovieLens viewers spread over history sizes, plus a kids profile and unknown viewers."""
    from data.catalog import read_events

    sizes = read_events(catalog_dir)["profile_id"].value_counts().sort_values()
    step = max(1, len(sizes) // count)
    viewers = list(sizes.index[::step][:count])
    return [*viewers, "demo:kids", "bench:new-1", "bench:new-2", "demo:fr"]


def _spread(paths: list[str], requests: int) -> list[str]:
    """``requests`` paths cycling over ``paths`` (a stride, so neighbouring requests differ)."""
    return [paths[(j * 7919) % len(paths)] for j in range(requests)]


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
    args = parser.parse_args(argv)

    import httpx

    from services.settings import Settings

    requests = args.requests or (3000 if args.full else 300)
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="marquee-bench-page-") as tmp:
        env = {"MARQUEE_EVENTS_DB": str(Path(tmp) / "events.db"), "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}  # fmt: skip
        if args.ranker is not None:  # the real catalog and index, this ranker
            artifacts = Path(tmp) / "artifacts"
            (artifacts / "models").mkdir(parents=True)
            (artifacts / "catalog").symlink_to(settings.catalog_dir.resolve())
            if settings.index_dir.exists():
                (artifacts / "index").symlink_to(settings.index_dir.resolve())
            (artifacts / "models" / "ranker").symlink_to(args.ranker.resolve())
            env["MARQUEE_ARTIFACTS_DIR"] = str(artifacts)
        with area_server(("pages",), env=env) as (base, startup_s):
            profiles = _profiles(settings.catalog_dir, 40)
            query = f"?rows={args.rows}&per_row={args.per_row}"
            page_paths = [f"/v1/profiles/{p}/page{query}" for p in profiles]
            sample = httpx.get(f"{base}{page_paths[0]}", timeout=60.0).json()
            if args.ranker is not None and sample.get("scorer") == "heuristic":
                raise RuntimeError(f"--ranker {args.ranker} was not loaded by the server (see its log above)")
            for path in page_paths:  # warm every profile's feature cache once, as a live service would be
                httpx.get(f"{base}{path}", timeout=60.0)
            results: dict[str, Any] = {"startup_s": startup_s}
            ratios: dict[str, float] = {}
            for concurrency in (1, 8):
                noop, noop_errors, _ = http_latencies(base, ["/v1/noop"] * requests, concurrency)
                page, page_errors, _ = http_latencies(base, _spread(page_paths, requests), concurrency)
                noop_stats, page_stats = percentiles(noop), percentiles(page)
                noop_stats["errors"], page_stats["errors"] = noop_errors, page_errors
                results[f"c{concurrency}"] = {"noop": noop_stats, "page": page_stats}
                for p in ("p50", "p99"):
                    ratios[f"page_{p}_over_noop_c{concurrency}"] = round(
                        page_stats[f"{p}_ms"] / noop_stats[f"{p}_ms"], 2
                    )
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
