"""``marquee index build``: embed the catalog (cached, resumable) and write a new index version.

``--engine ray`` embeds the texts missing from the cache on Ray (:mod:`embeddings.ray_job`, extra
``distributed``): a local Ray on this machine, or the cluster at ``--address``; the index version is
built exactly as by the single-process engine.

``--workers N`` (local engine, CPU) embeds the missing texts in N spawned processes of one torch thread
each (:func:`embeddings.job.embed_with_cache_in_processes`): on a CPU shared with other work this avoids
torch's OpenMP threads waiting for each other (on the shared 2-core box at load ~15, 2 workers embedded
full-scope passages about 3x faster than one 2-thread process). The default, 1, embeds in this process
with torch's threads."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from services.cli_groups import index_app
from services.settings import Settings, get_settings

if TYPE_CHECKING:
    import pandas as pd

    from data.embedding_cache import EmbeddingCache
    from embeddings.encoder import SentenceTransformerEncoder
    from embeddings.job import BuildReport

console = Console(stderr=True)


@index_app.command("build")
def build(
    scope: Annotated[str | None, typer.Option(help="tiny | netflix | default | full | auto (default: settings.scope).")] = None,
    kind: Annotated[str, typer.Option(help="Index kind: auto | flat | hnsw | ivf.")] = "auto",
    force: Annotated[bool, typer.Option(help="Rebuild even when the current version is up to date.")] = False,
    engine: Annotated[str, typer.Option(help="local (this process) | ray (encoder actors on Ray).")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster: auto | ray://host:port (default: a local Ray).")] = None,
    actors: Annotated[int, typer.Option(help="Encoder actors (ray engine; one GPU each where the cluster has GPUs).")] = 1,
    workers: Annotated[int, typer.Option(help="local engine on CPU: embed in this many single-thread processes "
                                         "(1: this process with torch's threads).", min=1)] = 1,
) -> None:
    """Embed the catalog's texts with a progress bar and ETA, then build, write and activate an index version."""
    from tqdm import tqdm

    from data.catalog import read_manifest, read_titles
    from data.embedding_cache import EmbeddingCache
    from data.errors import DataError
    from embeddings.encoder import EncoderError, load_encoder, resolve_device
    from embeddings.index_errors import VectorIndexError
    from embeddings.index_store import IndexStore
    from embeddings.job import (
        TITLE_STRINGS_EMBEDDED_AS,
        JobError,
        WorkerEncoderSpec,
        build_index_version,
        resolve_scope,
    )

    settings = get_settings()
    if engine not in ("local", "ray"):
        console.print(f"[red]error:[/red] --engine {engine!r}; expected 'local' or 'ray'")
        raise typer.Exit(2)
    try:
        device = resolve_device(settings.device)
        chosen = resolve_scope(scope or settings.scope, gpu=device.startswith("cuda"))
        catalog_manifest = read_manifest(settings.catalog_dir)
        encoder = load_encoder(settings.model, device=settings.device, cache_dir=settings.cache_dir)
        store = IndexStore(settings.index_dir)
        current = store.current_version()
        if current and not force:
            manifest = store.read_manifest(current)
            if (manifest.get("model_fingerprint") == encoder.fingerprint and manifest.get("scope") == chosen
                    and manifest.get("catalog_version") == catalog_manifest["catalog_version"]
                    and manifest.get("title_strings_embedded_as") == TITLE_STRINGS_EMBEDDED_AS):  # fmt: skip
                console.print(f"index {current} is up to date (scope {chosen}, {manifest['count']:,} texts); --force rebuilds")
                return
        titles = read_titles(settings.catalog_dir)
        cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite")
        bar = tqdm(total=0, unit="text", desc=f"embedding ({chosen}, {device})", dynamic_ncols=True)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        if engine == "ray":
            bar.close()
            report = _build_on_ray(settings, titles, catalog_manifest["catalog_version"], chosen, encoder, cache,
                                   kind=kind, address=address, actors=actors)  # fmt: skip
        else:
            spec = WorkerEncoderSpec(settings.model, settings.cache_dir) if workers > 1 else None
            if spec is not None and device != "cpu":
                raise JobError(f"--workers {workers} runs CPU processes; the device is {device} (use --workers 1)")
            report = build_index_version(
                titles=titles, catalog_version=catalog_manifest["catalog_version"], scope=chosen, encoder=encoder,
                cache=cache, index_dir=settings.index_dir, kind=kind, progress=progress, workers=workers,
                worker_spec=spec,
            )  # fmt: skip
        bar.close()
        cache.close()
    except (DataError, EncoderError, VectorIndexError, JobError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(json.dumps({
        "version_dir": str(report.version_dir), "scope": report.scope, "titles": report.titles,
        "texts": report.texts, "embedded": report.embedded, "from_cache": report.cached,
        "embed_seconds": round(report.embed_seconds, 1), "total_seconds": round(report.total_seconds, 1),
        "index_kind": report.index_kind, "engine": engine, "workers": workers,
        "title_strings": report.title_strings, "title_strings_embedded": report.title_strings_embedded,
        "texts_per_second": round(report.embedded / report.embed_seconds, 1) if report.embedded else None,
    }, indent=2))  # fmt: skip


def _build_on_ray(settings: Settings, titles: pd.DataFrame, catalog_version: str, scope: str,
                  encoder: SentenceTransformerEncoder, cache: EmbeddingCache, *, kind: str, address: str | None,
                  actors: int) -> BuildReport:  # fmt: skip
    """Embed on Ray, then build the version; the report counts the texts the actors embedded."""
    import dataclasses
    import os

    from embeddings.job import JobError

    try:
        from embeddings.ray_job import (
            EncoderSpec,
            RayEmbedConfig,
            build_index_version_ray,
            cluster_has_gpus,
            ensure_ray,
        )

        ensure_ray(address)
    except ImportError as exc:
        raise JobError(f"--engine ray needs the 'distributed' extra (pip install -e '.[distributed]'): {exc}") from exc
    gpus = cluster_has_gpus()
    # each CPU actor reserves one CPU and runs torch on the host's cores: reserving them all would
    # leave no CPU for Ray Data's read and write tasks on a small machine
    threads = None if gpus else max(1, (os.cpu_count() or 1) // actors)
    spec = EncoderSpec(settings.model, settings.cache_dir, "cuda" if gpus else "cpu", threads)
    report, ray_report = build_index_version_ray(
        titles=titles, catalog_version=catalog_version, scope=scope, encoder=encoder, spec=spec, cache=cache,
        index_dir=settings.index_dir, config=RayEmbedConfig(actors=actors, gpus=gpus), kind=kind,
    )  # fmt: skip
    return dataclasses.replace(report, embedded=ray_report.embedded, cached=ray_report.cached,
                               embed_seconds=ray_report.seconds, total_seconds=ray_report.seconds + report.total_seconds)  # fmt: skip
