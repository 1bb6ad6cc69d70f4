"""``marquee eval page``: the offline page metric on the MovieLens held-out-viewers split.

Built page vs the best single row model repeated vs a popularity page, with the same number of titles
per viewer (see :mod:`ranking.page_eval`). The held-out split is the ranking evaluation's own
(``ranking.splits.held_out_users_split`` on the events in ``marquee eval ranking``'s order), so both
evaluations score the same viewers; the ranker (``ranking.train.train_ranker``) is trained on the
training side of that split only; ``--scorer heuristic`` uses the page's popularity + co-watch fallback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from services.cli_groups import eval_app
from services.settings import get_settings

console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def evaluation_order(events: Any) -> Any:
    """Events in the order ``ranking.evaluate.evaluate_ranking`` splits them (users by MovieLens userId), so
    ``held_out_users_split`` picks the same held-out viewers as ``marquee eval ranking``."""
    import numpy as np

    def numeric_suffix(profile_id: str) -> float:
        tail = str(profile_id).rsplit(":", 1)[-1]
        return float(tail) if tail.isdigit() else float("inf")

    ordered = events.sort_values(["profile_id", "timestamp"], kind="stable").reset_index(drop=True)
    return ordered.iloc[np.argsort(ordered["profile_id"].map(numeric_suffix).to_numpy(), kind="stable")]


def held_out_viewers(
    events: Any, *, held_out: int, seed: int, fraction: float = 0.8
) -> tuple[Any, list[Any]]:
    """(the ranking evaluation's ``HeldOutSplit``, its users as page-eval viewers; future = held titles)."""
    from ranking.page_eval import HeldOutViewer
    from ranking.splits import held_out_users_split

    split = held_out_users_split(events, n_test=held_out, seed=seed, fraction=fraction)
    return split, [HeldOutViewer(u.profile_id, u.fed, frozenset(u.held)) for u in split.users]


def ranker_factory(
    train_events: Any, titles: Any, embeddings: Any, seed: int, cache: Path | None = None
) -> Any:
    """A scorer factory training the ranking model once on ``train_events`` (the split's training viewers
    only, as ``marquee eval ranking`` does) and binding it to each evaluation's title features.

    ``cache``: a folder to save the trained model to and reload it from on the next run, keyed by the
    training events and whether embeddings were used (a mismatching cache is retrained)."""
    import hashlib

    from ranking.model import TrainedRanker
    from ranking.rows import RankerScorer
    from ranking.train import TrainConfig, train_ranker

    trained: dict[str, Any] = {}
    digest = hashlib.sha256(
        pd_bytes(train_events) + str(embeddings is not None).encode() + str(seed).encode()
    )
    key = digest.hexdigest()[:16]
    folder = cache / f"ranker-{key}" if cache is not None else None

    def factory(features: Any, history: Any) -> Any:
        if "ranker" not in trained and folder is not None and (folder / "manifest.json").is_file():
            try:
                trained["ranker"] = TrainedRanker.load(folder)
                console.print(f"  ranker loaded from {folder}")
            except Exception as exc:  # saved by an older model version: train again
                console.print(f"  [yellow]cached ranker unusable[/yellow] ({type(exc).__name__}); retraining")
        if "ranker" not in trained:
            started = time.perf_counter()

            def say(stage: str, step: int, total: int, loss: float) -> None:
                console.print(f"  training ranker: {stage} {step}/{total} loss={loss:.4f}")

            result = train_ranker(train_events, titles, embeddings=embeddings, config=TrainConfig(seed=seed),
                                  progress=say)  # fmt: skip
            trained["ranker"] = result.ranker
            console.print(f"  ranker trained in {time.perf_counter() - started:.0f} s")
            if folder is not None:
                result.ranker.save(folder)
        return RankerScorer(trained["ranker"].bind(features))

    return factory


def pd_bytes(frame: Any) -> bytes:
    """A stable byte digest input of an events frame (profile, title, timestamp columns)."""
    import pandas as pd

    cols = frame[["profile_id", "title_id", "timestamp"]]
    return pd.util.hash_pandas_object(cols, index=False).to_numpy().tobytes()


TUNE_GRID: tuple[tuple[float, float], ...] = tuple((s, r) for s in (50.0, 150.0, 300.0) for r in (0.3, 0.6))
"""(rank_scale, redundancy_weight) pairs tried by ``--tune``."""


@eval_app.command("page")
def eval_page(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    held_out: Annotated[
        int, typer.Option(help="Held-out viewers (the ranking evaluation's n_test).", min=1)
    ] = 120,
    seed: Annotated[int, typer.Option(help="Seed of the held-out split.")] = 0,
    rows: Annotated[int, typer.Option(help="Rows per page.", min=1, max=30)] = 10,
    per_row: Annotated[int, typer.Option(help="Titles per row.", min=1, max=50)] = 20,
    scorer: Annotated[
        str, typer.Option(help="model (train the ranker on the split) | heuristic (the no-model fallback).")
    ] = "model",  # fmt: skip
    tune: Annotated[
        bool,
        typer.Option(
            help="Choose rank_scale and redundancy_weight on 100 validation viewers "
            "carved from the training side (trains a second ranker)."
        ),
    ] = False,  # fmt: skip
    embeddings: Annotated[
        bool, typer.Option(help="Use the current index's title embeddings when built.")
    ] = True,
    servable: Annotated[
        str,
        typer.Option(
            help="movielens (titles the viewers can have watched) | watched "
            "(Netflix + MovieLens, what the service offers)."
        ),
    ] = "movielens",  # fmt: skip
    ranker_cache: Annotated[
        Path | None,
        typer.Option(help="Save trained rankers here and reuse them on the next run with the same split."),
    ] = None,
    health: Annotated[
        bool,
        typer.Option(help="Also build the pages of the same viewers as cold-start viewers (no history) and as "
                     "kids profiles, and print the page health table of each group."),
    ] = False,  # fmt: skip
) -> None:
    """How many of each held-out viewer's future watches appear on their page (anywhere / first 3 rows),
    against the best single row model repeated and a popularity page with as many titles."""
    from dataclasses import replace

    from data.catalog import read_events, read_titles
    from data.errors import DataError
    from ranking.page import PageConfig, PageRequest
    from ranking.page_eval import evaluate_pages, format_health, format_table

    if scorer not in ("model", "heuristic"):
        _fail(f"--scorer {scorer!r}; expected model or heuristic")
    sources = {"movielens": ("movielens",), "watched": ("netflix", "movielens")}.get(servable)
    if sources is None:
        _fail(f"--servable {servable!r}; expected movielens or watched")
    settings = get_settings()
    started = time.perf_counter()
    try:
        titles = read_titles(settings.catalog_dir)
        events = evaluation_order(read_events(settings.catalog_dir))
    except DataError as exc:
        _fail(str(exc))
    vectors = None
    if embeddings:
        from embeddings.job import load_title_embeddings

        try:
            vectors = load_title_embeddings(settings.index_dir)
        except Exception as exc:  # no index yet: similarity from co-watch and genres only
            console.print(f"[yellow]no title embeddings[/yellow] ({exc})")
    split, viewers = held_out_viewers(events, held_out=held_out, seed=seed)
    request = PageRequest(rows=rows, per_row=per_row)
    last = {"t": 0.0}

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last["t"] > 10 or done == total:
            console.print(f"  pages: {done}/{total}")
            last["t"] = now

    def factory_for(train_events: Any) -> Any:
        return (
            ranker_factory(train_events, titles, vectors, seed, ranker_cache) if scorer == "model" else None
        )

    config = PageConfig()
    tuning: list[dict[str, Any]] = []
    if tune:
        validation, val_viewers = held_out_viewers(
            split.train_events, held_out=min(100, len(viewers)), seed=seed + 1
        )
        val_factory = factory_for(validation.train_events)
        for scale, redundancy in TUNE_GRID:
            candidate = replace(config, rank_scale=scale, redundancy_weight=redundancy)
            result = evaluate_pages(titles, validation.train_events, val_viewers, scorer_factory=val_factory,
                                    embeddings=vectors, request=request, config=candidate, servable_sources=sources,
                                    single_rows=())  # fmt: skip
            page = result.system("page")
            tuning.append({"rank_scale": scale, "redundancy_weight": redundancy, "hits": round(page.hits, 4),
                           "hits_top3": round(page.hits_top3, 4)})  # fmt: skip
            console.print(f"  validation rank_scale={scale:g} redundancy={redundancy:g}: hits {page.hits:.3f}, "
                          f"first 3 rows {page.hits_top3:.3f}")  # fmt: skip
        best = max(tuning, key=lambda t: (t["hits"] + t["hits_top3"], t["hits"]))
        config = replace(config, rank_scale=best["rank_scale"], redundancy_weight=best["redundancy_weight"])

    factory = factory_for(split.train_events)
    report = evaluate_pages(titles, split.train_events, viewers, scorer_factory=factory,
                            embeddings=vectors, request=request, config=config, servable_sources=sources,
                            progress=progress)  # fmt: skip
    groups: dict[str, Any] = {}
    if health:
        import numpy as np

        from data.events import History
        from ranking.page_eval import HeldOutViewer

        cold = [HeldOutViewer(f"{v.profile_id}:new", History(f"{v.profile_id}:new", [], np.zeros(0), [], 0),
                              v.future) for v in viewers]  # fmt: skip
        kids = [HeldOutViewer(v.profile_id, v.fed, v.future, maturity="kids") for v in viewers]
        groups["held-out viewers"] = report
        for name, group in (("cold-start viewers", cold), ("kids profiles", kids)):
            console.print(f"  health: {name}")
            groups[name] = evaluate_pages(titles, split.train_events, group, scorer_factory=factory,
                                          embeddings=vectors, request=request, config=config,
                                          servable_sources=sources)  # fmt: skip
    payload = {**report.as_dict(), "split": split.description, "embeddings": vectors is not None,
               "health": {name: [h.__dict__ for h in r.health] for name, r in groups.items()},
               "page_config": {"rank_scale": config.rank_scale, "redundancy_weight": config.redundancy_weight},
               "tuning": tuning, "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    if as_json:
        print(json.dumps(payload, default=str))
        return
    table = Table(title=f"page metric: {report.viewers} held-out viewers, scorer {report.scorer}")
    for column in (
        "system",
        "titles",
        "hits",
        "hits first 3 rows",
        "recall",
        "recall first 3 rows",
        "viewers hit",
    ):
        table.add_column(column, justify="left" if column == "system" else "right")
    headline = ["page", report.best_single_row, "popularity"]
    for name in [*headline, *[s.system for s in report.systems if s.system not in headline]]:
        s = report.system(name)
        label = f"{name} (best single row)" if name == report.best_single_row else name
        table.add_row(label, f"{s.titles:.1f}", f"{s.hits:.3f}", f"{s.hits_top3:.3f}", f"{s.recall:.4f}",
                      f"{s.recall_top3:.4f}", f"{s.viewers_hit:.3f}")  # fmt: skip
    Console().print(table)
    console.print(f"hits by row kind: {report.hits_by_row_kind}")
    console.print(format_table(report).split("\n")[0])
    for name, group_report in groups.items():
        Console().print(format_health(group_report, name))
