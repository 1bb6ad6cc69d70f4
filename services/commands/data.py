"""``marquee data build`` and ``marquee data report``."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.cli_groups import data_app
from services.settings import get_settings

console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


@data_app.command("build")
def build() -> None:
    """Build the unified catalog, viewing history and query sets from the data directory."""
    from data.catalog import build_catalog
    from data.errors import DataError

    settings = get_settings()
    if not settings.data_dir.is_dir():
        _fail(f"data directory {settings.data_dir} does not exist; set MARQUEE_DATA_DIR")
    started = time.perf_counter()
    try:
        with console.status("building catalog") as status:
            result = build_catalog(settings.data_dir, settings.catalog_dir, progress=lambda m: status.update(m))
    except DataError as exc:
        _fail(str(exc))
        return
    _print_summary(result.manifest)
    console.print(f"built {settings.catalog_dir} in {time.perf_counter() - started:.1f} s")


@data_app.command("report")
def report(as_json: Annotated[bool, typer.Option("--json", help="Print the manifest itself.")] = False) -> None:
    """Summarize the built catalog's manifest."""
    from data.catalog import read_manifest
    from data.errors import DataError

    try:
        manifest = read_manifest(get_settings().catalog_dir)
    except DataError as exc:
        _fail(str(exc))
        return
    if as_json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
    else:
        _print_summary(manifest)


def _print_summary(manifest: dict) -> None:
    out = Console()
    out.print(f"[bold]Catalog {manifest['catalog_version']}[/bold]: {manifest['titles']:,} titles "
              f"{manifest['titles_by_type']}")  # fmt: skip
    table = Table("section", "key", "value")
    for key, value in manifest["titles_by_source"].items():
        table.add_row("titles by source", key, f"{value:,}")
    for key, value in manifest["titles_by_description_language"].items():
        table.add_row("titles by description language", key, f"{value:,}")
    for key, value in manifest["matches"].items():
        table.add_row("matches", key, f"{value:,}")
    for source, reasons in manifest["quarantine"]["by_source"].items():
        for reason, count in reasons.items():
            table.add_row("quarantine", f"{source}: {reason}", f"{count:,}")
    for key, value in manifest["history"].items():
        table.add_row("history", key, f"{value:,}")
    for name, q in manifest["queries"].items():
        table.add_row("queries", name, f"{q['resolved']:,} of {q['queries']:,} resolve")
    out.print(table)
