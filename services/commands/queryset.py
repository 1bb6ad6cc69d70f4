"""``marquee data queryset``: check the multilingual evaluation set against the default-scope catalog.

It validates every line (:func:`data.queries.validate_queryset`: gold ids in the scope, intent gold
recomputed, plot vs cross-lingual, script) and prints counts per language, script, kind and split.
``--write`` first fills what is derived rather than written by hand: each query's ``script``, a
``split`` for queries without one (stratified by language and kind; kept splits never move) and the
gold of intent queries (recomputed from the catalog).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.cli_groups import data_app
from services.settings import get_settings

console = Console(stderr=True)


def _gold_entries(title_ids: list[str]) -> list[dict[str, str]]:
    return [{"source": t.split(":", 1)[0], "id": t.split(":", 1)[1]} for t in title_ids]


@data_app.command("queryset")
def queryset(
    path: Annotated[
        Path | None, typer.Option("--file", help="Query file (default: the marquee-ml set).")
    ] = None,
    scope: Annotated[str, typer.Option(help="Catalog scope the gold must live in.")] = "default",
    write: Annotated[
        bool, typer.Option("--write", help="Fill script, split and intent gold, then check.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print counts and problems as JSON.")] = False,
) -> None:
    """Validate the multilingual query set against the catalog and print its counts."""
    from data.catalog import read_titles
    from data.errors import DataError
    from data.queries import (
        MARQUEE_ML_FILE,
        assign_splits,
        intent_gold,
        parse_intent,
        queryset_counts,
        read_query_file,
        script_of,
        validate_queryset,
        write_query_file,
    )
    from embeddings.job import select_titles

    settings = get_settings()
    file = path or MARQUEE_ML_FILE
    try:
        titles = select_titles(read_titles(settings.catalog_dir), scope).to_dict("records")
        if write:
            read_query_file(file)  # refuse to rewrite a malformed file
            records = [
                json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()
            ]
            for rec, split in zip(records, assign_splits(records), strict=True):
                rec["script"] = script_of(rec["query"])
                rec["split"] = split
                if rec.get("intent") is not None:
                    rec["gold"] = _gold_entries(intent_gold(parse_intent(rec["intent"]), titles))
            write_query_file(file, records)
        queries = read_query_file(file)
    except DataError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    problems = validate_queryset(queries, titles)
    counts = queryset_counts(queries)
    if as_json:
        print(
            json.dumps(
                {"file": str(file), "scope": scope, "counts": counts, "problems": problems},
                ensure_ascii=False,
            )
        )
    else:
        for key in ("lang", "script", "kind", "split"):
            table = Table(title=f"by {key}")
            table.add_column(key)
            table.add_column("queries", justify="right")
            for name, n in counts[key].items():
                table.add_row(name, str(n))
            console.print(table)
        for problem in problems:
            console.print(f"[red]problem:[/red] {problem}")
        console.print(f"{len(queries)} queries, {len(problems)} problem(s) against the {scope} scope")
    if problems:
        raise typer.Exit(1)
