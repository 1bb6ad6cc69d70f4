"""``marquee pages precompute [--engine ray]``: the home page of every known profile, into Parquet.

What a service does before a traffic peak: every profile of the event store (``profile_ids()``)
gets the page ``GET /v1/profiles/{id}/page`` returns for the current state, computed by that very
route: each worker builds the app's pages area once (``create_app(settings, areas=("pages",))``,
the same resources and page builder as the server) and calls the route in-process through the
ASGI test client, so a precomputed page is byte-for-byte the API's answer. The output is Parquet
with ``profile_id``, ``status`` (the HTTP status) and ``page_json`` (the response body).

``--engine local`` computes the pages in this process; ``--engine ray`` (extra ``distributed``)
splits the profiles over a Ray Data ``ActorPoolStrategy`` pool of ``--actors`` page actors on a
local Ray or the cluster at ``--address`` and writes one Parquet shard per block; each actor reserves
at most one CPU, fewer where that would leave Ray Data's own tasks no CPU (2 actors on 2 CPUs).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from services.cli_groups import app
from services.settings import Settings, get_settings

if TYPE_CHECKING:
    import pyarrow as pa

console = Console(stderr=True)
pages_app = typer.Typer(help="Precompute home pages for every known profile.", no_args_is_help=True)
app.add_typer(pages_app, name="pages")


class PageWorker:
    """Builds the pages area once, then answers batches of profile ids with the API's pages."""

    def __init__(self, settings: Settings, rows: int, per_row: int) -> None:
        from fastapi.testclient import TestClient

        from services.app import create_app

        self.params = {"rows": rows, "per_row": per_row}
        self.client = TestClient(create_app(settings, areas=("pages",)))
        self.client.__enter__()  # runs the lifespan: the area's resources load once per worker

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        ids = batch.column("profile_id").to_pylist()
        statuses, bodies = [], []
        for profile_id in ids:
            response = self.client.get(f"/v1/profiles/{profile_id}/page", params=self.params)
            statuses.append(response.status_code)
            bodies.append(response.text)
        return pa.table({"profile_id": pa.array(ids, pa.string()), "status": pa.array(statuses, pa.int32()),
                         "page_json": pa.array(bodies, pa.string())})  # fmt: skip

    def close(self) -> None:
        self.client.__exit__(None, None, None)


def precompute_pages(settings: Settings, out_dir: Path, *, engine: str = "local", rows: int = 10, per_row: int = 20,
                     actors: int = 1, address: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Write the page of every profile of the event store under ``out_dir`` (Parquet); returns a summary."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from services.resources import load_event_store

    if engine not in ("local", "ray"):
        raise ValueError(f"engine={engine!r}; expected 'local' or 'ray'")
    store = load_event_store(settings)
    profile_ids = store.profile_ids()
    store.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    ids = pa.table({"profile_id": pa.array(profile_ids, pa.string())})
    if engine == "local" or not profile_ids:
        worker = PageWorker(settings, rows, per_row)
        try:
            pq.write_table(worker(ids), out_dir / "pages-00000.parquet")
        finally:
            worker.close()
    else:
        import ray

        from embeddings.ray_job import actor_cpus, ensure_ray

        ensure_ray(address)
        blocks = max(1, min(len(profile_ids), actors * 4))
        ray.data.from_arrow(ids).repartition(blocks).map_batches(
            PageWorker, fn_constructor_kwargs={"settings": settings, "rows": rows, "per_row": per_row},
            compute=ray.data.ActorPoolStrategy(size=actors), batch_size=64, batch_format="pyarrow",
            num_cpus=actor_cpus(1, actors),  # one CPU stays free for Ray Data's repartition and write tasks
        ).write_parquet(str(out_dir))  # fmt: skip
    seconds = time.perf_counter() - started
    written = pq.read_table(out_dir, columns=["profile_id", "status"])
    failed = sum(1 for status in written.column("status").to_pylist() if status != 200)
    return {"profiles": len(profile_ids), "pages_written": written.num_rows, "non_200": failed, "engine": engine,
            "seconds": round(seconds, 1), "pages_per_second": round(written.num_rows / seconds, 1) if seconds else None,
            "out_dir": str(out_dir)}  # fmt: skip


@pages_app.command("precompute")
def precompute(
    out: Annotated[Path | None, typer.Option(help="Output folder (default artifacts/pages).")] = None,
    engine: Annotated[str, typer.Option(help="local (this process) | ray (page actors on Ray).")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster for --engine ray (default: a local Ray).")] = None,
    actors: Annotated[int, typer.Option(help="Page actors for --engine ray.")] = 2,
    rows: Annotated[int, typer.Option(help="Rows per page (as ?rows=).")] = 10,
    per_row: Annotated[int, typer.Option(help="Titles per row (as ?per_row=).")] = 20,
) -> None:
    """Compute the home page of every known profile (the API's own answer) into Parquet."""
    settings = get_settings()
    target = out or settings.artifacts_dir / "pages" / time.strftime("%Y%m%dT%H%M%S")
    try:
        summary = precompute_pages(settings, target, engine=engine, rows=rows, per_row=per_row, actors=actors,
                                   address=address)  # fmt: skip
    except (ValueError, ImportError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(json.dumps(summary, indent=2))
