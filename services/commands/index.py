"""``marquee index build``: embed the catalog (cached, resumable) and write a new index version."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from services.cli_groups import index_app
from services.settings import get_settings

console = Console(stderr=True)


@index_app.command("build")
def build(
    scope: Annotated[str | None, typer.Option(help="tiny | netflix | default | full | auto (default: settings.scope).")] = None,
    kind: Annotated[str, typer.Option(help="Index kind: auto | flat | hnsw | ivf.")] = "auto",
    force: Annotated[bool, typer.Option(help="Rebuild even when the current version is up to date.")] = False,
) -> None:
    """Embed the catalog's texts with a progress bar and ETA, then build, write and activate an index version."""
    from tqdm import tqdm

    from data.catalog import read_manifest, read_titles
    from data.embedding_cache import EmbeddingCache
    from data.errors import DataError
    from embeddings.encoder import EncoderError, load_encoder, resolve_device
    from embeddings.index_errors import VectorIndexError
    from embeddings.index_store import IndexStore
    from embeddings.job import JobError, build_index_version, resolve_scope

    settings = get_settings()
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
                    and manifest.get("catalog_version") == catalog_manifest["catalog_version"]):  # fmt: skip
                console.print(f"index {current} is up to date (scope {chosen}, {manifest['count']:,} texts); --force rebuilds")
                return
        titles = read_titles(settings.catalog_dir)
        cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite")
        bar = tqdm(total=0, unit="text", desc=f"embedding ({chosen}, {device})", dynamic_ncols=True)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        report = build_index_version(
            titles=titles, catalog_version=catalog_manifest["catalog_version"], scope=chosen, encoder=encoder,
            cache=cache, index_dir=settings.index_dir, kind=kind, progress=progress,
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
        "index_kind": report.index_kind,
        "texts_per_second": round(report.embedded / report.embed_seconds, 1) if report.embedded else None,
    }, indent=2))  # fmt: skip
