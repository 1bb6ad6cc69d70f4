"""``marquee train ranker`` and ``marquee eval ranking``.

Training reads a Parquet export of the event store (the MovieLens history imported from the catalog
plus every event posted to ``/v1/events``) and writes ``models_dir/ranker`` (weights, item-item
matrix, vocabularies, manifest with seed, config, data version and validation metrics).

The evaluation runs protocol 1 of ../shared/DATA-NOTES.md on the catalog's MovieLens history and
prints/writes the report (``artifacts/eval/ranking.json``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from services.cli_groups import eval_app, train_app
from services.settings import Settings, get_settings

console = Console(stderr=True)

EXPORT_FILE = "events_export.parquet"


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _embeddings(settings: Settings) -> tuple[list[str], Any] | None:
    """Title embeddings of the current index version, or None (the model then trains without them)."""
    try:
        from embeddings.job import load_title_embeddings

        return load_title_embeddings(settings.index_dir)
    except Exception as exc:  # no index yet: train without content vectors, and say so
        console.print(f"[yellow]no title embeddings ({type(exc).__name__}: {exc}); training without them[/yellow]")
        return None


def _bar() -> Any:
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def progress(stage: str, step: int, total: int, loss: float) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="epoch" if total > 1 else "step", dynamic_ncols=True)
        bar.n = step
        if loss:
            bar.set_postfix(loss=f"{loss:.4f}")
        bar.refresh()

    def close() -> None:
        for bar in bars.values():
            bar.close()

    progress.close = close  # type: ignore[attr-defined]
    return progress


@train_app.command("ranker")
def train_ranker_command(
    if_missing: Annotated[bool, typer.Option("--if-missing", help="Do nothing when a ranker artifact exists.")] = False,
    epochs: Annotated[int | None, typer.Option(help="Tower epochs (default: TrainConfig.epochs).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: settings.seed).")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    engine: Annotated[str, typer.Option(help="local (this process) | ray (Ray Train, data-parallel; extra 'distributed').")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster for --engine ray: auto | ray://host:port (default: a local Ray).")] = None,
    workers: Annotated[int, typer.Option(help="Ray Train workers for --engine ray.")] = 2,
) -> None:
    """Export the event store to Parquet and train the ranking model on it (progress bar, seeded)."""
    from dataclasses import replace

    from data.catalog import read_manifest, read_titles
    from data.errors import DataError
    from data.events import read_event_export
    from ranking.model import is_current_format
    from ranking.train import TrainConfig, train_ranker
    from services.resources import RANKER_DIR, load_event_store

    settings = get_settings()
    out_dir = settings.models_dir / RANKER_DIR
    if if_missing and (out_dir / "manifest.json").is_file():
        manifest = json.loads((out_dir / "manifest.json").read_text())
        if is_current_format(manifest):
            console.print(f"ranker exists at {out_dir}; nothing to do (drop --if-missing to retrain)")
            return
        console.print(f"[yellow]ranker at {out_dir} has an older format (head inputs "
                      f"{manifest.get('head_inputs')}, tasks {manifest.get('tasks')}); retraining it[/yellow]")  # fmt: skip
    try:
        store = load_event_store(settings)
        export = store.export_parquet(settings.artifacts_dir / "events" / EXPORT_FILE)
        store.close()
        events = read_event_export(export)
        titles = read_titles(settings.catalog_dir)
        catalog_version = read_manifest(settings.catalog_dir)["catalog_version"]
    except DataError as exc:
        _fail(str(exc))
        return
    config = TrainConfig(seed=settings.seed if seed is None else seed, device=device)
    if epochs is not None:
        config = replace(config, epochs=epochs)
    data_version = f"catalog {catalog_version}, export seq {int(events['seq'].max()) if len(events) else 0}"
    if engine == "ray":
        _train_on_ray(events, titles, settings, config, out_dir, data_version, address=address, workers=workers,
                      export=export)  # fmt: skip
        return
    if engine != "local":
        _fail(f"--engine {engine!r}; expected 'local' or 'ray'")
    progress = _bar()
    console.print(f"training on {len(events):,} events of {events['profile_id'].nunique():,} profiles "
                  f"(export {export})")  # fmt: skip
    result = train_ranker(events, titles, embeddings=_embeddings(settings), config=config, progress=progress,
                          data_version=data_version)  # fmt: skip
    progress.close()
    result.ranker.manifest["export"] = str(export)
    path = result.ranker.save(out_dir)
    console.print(json.dumps({"artifact": str(path), "train_seconds": round(result.seconds, 1),
                              "embeddings_used": result.ranker.manifest["embeddings_used"],
                              "validation": result.validation}, indent=2))  # fmt: skip


def _train_on_ray(events: Any, titles: Any, settings: Settings, config: Any, out_dir: Path, data_version: str, *,
                  address: str | None, workers: int, export: Path) -> None:  # fmt: skip
    """``--engine ray``: Ray Train TorchTrainer over ``workers`` workers (ranking.train_ray)."""
    try:
        from embeddings.ray_job import ensure_ray
        from ranking.train_ray import train_ranker_ray

        ensure_ray(address)
    except ImportError as exc:
        _fail(f"--engine ray needs the 'distributed' extra (pip install -e '.[distributed]'): {exc}")
        return
    import ray

    use_gpu = float(ray.cluster_resources().get("GPU", 0)) >= workers
    console.print(f"training on Ray ({workers} workers, {'GPU' if use_gpu else 'CPU'}) on {len(events):,} events "
                  f"(export {export})")  # fmt: skip
    report = train_ranker_ray(events, titles, embeddings=_embeddings(settings), out_dir=out_dir, config=config,
                              workers=workers, use_gpu=use_gpu, data_version=data_version)  # fmt: skip
    console.print(json.dumps({"artifact": str(report.artifact), "train_seconds": round(report.seconds, 1),
                              "engine": "ray", "workers": report.workers, "validation": report.validation},
                             indent=2))  # fmt: skip


@eval_app.command("ranking")
def eval_ranking_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report on stdout.")] = False,
    quick: Annotated[bool, typer.Option(help="Skip baseline tuning (default parameters); fewer epochs.")] = False,
    output: Annotated[Path | None, typer.Option(help="Where to write the JSON (default artifacts/eval/ranking.json).")] = None,
    seed: Annotated[int, typer.Option(help="Split seed (DATA-NOTES protocol 1 uses 0).")] = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    protocol: Annotated[str, typer.Option(help="Table to print: movielens (rank the MovieLens titles seen in "
                                          "training) | served (rank every title the page serves, as the API "
                                          "does) | both. The JSON report always holds both.")] = "both",
) -> None:
    """Offline ranking evaluation on MovieLens (held-out users, 80/20 by time, ranking ALL titles):
    Marquee vs most-popular, item-kNN, EASE and ALS side by side, on the MovieLens-only and the served-path
    protocols, plus calibration, cold-start titles and personalized search."""
    from dataclasses import replace

    from data.catalog import read_events, read_titles
    from data.errors import DataError
    from ranking.evaluate import EvalConfig, evaluate_ranking
    from ranking.train import TrainConfig

    if protocol not in ("movielens", "served", "both"):
        _fail(f"--protocol {protocol!r}; expected movielens, served or both")
    settings = get_settings()
    try:
        events = read_events(settings.catalog_dir)
        titles = read_titles(settings.catalog_dir)
    except DataError as exc:
        _fail(str(exc))
        return
    events = events[events["profile_id"].str.startswith("movielens:")]
    config = EvalConfig(seed=seed, tune=not quick)
    train_config = TrainConfig(seed=seed, device=device)
    if quick:
        train_config = replace(train_config, epochs=max(2, train_config.epochs // 3))
    started = time.perf_counter()
    with console.status("evaluating") as status:

        def say(message: str) -> None:
            status.update(message)
            if not console.is_terminal:  # logs and CI: one line per step instead of a spinner
                console.print(f"{time.perf_counter() - started:7.1f}s {message}")

        report = evaluate_ranking(events, titles, embeddings=_embeddings(settings), config=config,
                                  train_config=train_config, progress=say)  # fmt: skip
    report["command"] = "marquee eval ranking" + (" --quick" if quick else "")
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    path = output or settings.artifacts_dir / "eval" / "ranking.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    if as_json:
        print(json.dumps(report))
    else:
        if protocol in ("movielens", "both"):
            _print_table(report)
        if protocol in ("served", "both"):
            _print_served(report["served_path"])
        if "unified" in report:
            print_unified(report["unified"])
        console.print(f"report written to {path}")


def _print_table(report: dict[str, Any]) -> None:
    table = Table("system", "NDCG@10", "Recall@10", "Recall@20", "coverage@10", "params",
                  title=f"held-out users: {report['split']['users_evaluated']} users, "
                        f"{report['split']['universe_titles']:,} titles")  # fmt: skip
    for name, m in report["systems"].items():
        table.add_row(name, f"{m['ndcg@10']:.4f}", f"{m['recall@10']:.4f}", f"{m['recall@20']:.4f}",
                      f"{m['coverage@10']:.4f}", json.dumps(m.get("params", {})))  # fmt: skip
    Console().print(table)
    Console().print(f"marquee / EASE: NDCG@10 x{report['ratios']['marquee_vs_ease_ndcg@10']}, "
                    f"Recall@20 x{report['ratios']['marquee_vs_ease_recall@20']}; "
                    f"embeddings used: {report['embeddings_used']}")  # fmt: skip


def _print_served(served: dict[str, Any]) -> None:
    table = Table("system", "NDCG@10", "Recall@10", "Recall@20", "coverage@10",
                  title=f"served path: every servable title ({served['served_titles']:,}, "
                        f"{served['titles_without_interactions']:,} without interactions)")  # fmt: skip
    for name, m in served["systems"].items():
        table.add_row(name, f"{m['ndcg@10']:.4f}", f"{m['recall@10']:.4f}", f"{m['recall@20']:.4f}",
                      f"{m['coverage@10']:.4f}")  # fmt: skip
    Console().print(table)
    Console().print(f"calibration of play probabilities: {served['calibration']}; marquee top-10 share without "
                    f"interactions {served['marquee_top10_without_interactions']}")  # fmt: skip
    if "calibration_uncalibrated" in served:
        Console().print(f"before the Top Picks temperature (T = {served.get('temperature_top_picks')}): "
                        f"{served['calibration_uncalibrated']}")  # fmt: skip


def print_unified(unified: dict[str, Any]) -> None:
    """The unified model's per-task table (``report["unified"]``): each task against its own baselines."""
    table = Table("task", "system", "metric", "value", title="one model for every task (held-out users)")
    for name, m in unified["top_picks"]["systems"].items():
        table.add_row("top picks (served path)", name, "NDCG@10 / Recall@20", f"{m['ndcg@10']:.4f} / {m['recall@20']:.4f}")
    for task in ("because_you_watched", "similar"):
        for name, m in unified[task]["systems"].items():
            table.add_row(f"{task} ({unified[task]['sources']} sources)", name, "Recall@10 / NDCG@10",
                          f"{m['recall@10']:.4f} / {m['ndcg@10']:.4f}")  # fmt: skip
    for kind in ("genre", "title_word"):
        search = unified["search"][kind]
        for name, m in search.items():
            if isinstance(m, dict) and "mrr" in m:
                table.add_row(f"search, {kind} queries ({search['queries']})", name, "MRR / hit@10",
                              f"{m['mrr']:.4f} / {m['hit@10']:.4f}")  # fmt: skip
    Console().print(table)
    calibration = Table("task", "T", "ECE (top 100)", "pred/obs top 10", "pred/obs top 100", "mean predicted",
                        "mean observed", title="calibration of the unified model's play probabilities (served path)")
    rows = [("top picks", unified["top_picks"].get("calibration_unified", {}), "top_picks"),
            ("because you watched", unified.get("calibration_because_you_watched", {}), "because_you_watched"),
            ("similar", unified.get("calibration_similar", {}), "similar")]
    rows += [(f"search, {kind} (over its results)", unified["search"][kind].get("calibration_unified", {}), "search")
             for kind in ("genre", "title_word")]
    for name, c, task in rows:
        if c:
            calibration.add_row(name, f"{unified.get('temperatures', {}).get(task, float('nan')):.3f}", f"{c['ece']:.5f}",
                                f"{c['predicted_over_observed@10']:.3f}", f"{c['predicted_over_observed@100']:.3f}",
                                f"{c['mean_predicted']:.5f}", f"{c['mean_observed']:.5f}")  # fmt: skip
    Console().print(calibration)
