"""``marquee eval search`` (bm25 / dense / hybrid side by side) and ``marquee eval search-tune``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from services.cli_groups import eval_app
from services.settings import Settings, get_settings

console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _read_queries(settings: Settings, spec: str) -> list[Any]:
    """A query file path, ``marquee-ml:dev|test|all``, or a set built into the catalog (``reddit-tomt:test``)."""
    from data.queries import read_queries

    return read_queries(Path(spec) if Path(spec).is_file() else spec, settings.catalog_dir)


def _engine_and_queries(spec: str, limit_queries: int | None) -> tuple[Any, list[Any], int, dict[str, Any]]:
    from data.catalog import read_titles
    from search.evaluate import resolve_queries, source_id_index
    from services.routers.search import load_served_search_engine

    settings = get_settings()
    raw = _read_queries(settings, spec)
    if limit_queries is not None:
        raw = raw[:limit_queries]  # the first N in file order: deterministic, the same for every system
    with console.status("loading catalog, encoder and index"):
        engine = load_served_search_engine(settings)
    titles = engine.catalog.title_ids
    frame = read_titles(settings.catalog_dir)
    by_source = source_id_index(frame["title_id"].astype(str).tolist(), frame["source_ids"].tolist())
    resolved = resolve_queries(raw, by_source, titles)
    n_queries = len(raw)
    info = {"queries": spec, "scope_titles": len(titles),
            "index_kind": getattr(engine.dense.index, "kind", None) if engine.dense else None}  # fmt: skip
    return engine, resolved, n_queries, info


def _progress() -> Any:
    last = {"t": 0.0}

    def report(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last["t"] > 2 or done == total:
            console.print(f"  {stage}: {done}/{total}")
            last["t"] = now

    return report


@eval_app.command("search")
def eval_search(
    queries: Annotated[str, typer.Option("--queries", help="A JSONL query file or a built-in set (reddit-tomt:test, trec-tot:2023-train).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    limit_queries: Annotated[int | None, typer.Option(help="Only the first N queries of the file.", min=1)] = None,
    systems: Annotated[str, typer.Option(help="Comma-separated systems.")] = "bm25,dense,hybrid",
    by: Annotated[str | None, typer.Option("--by", help="Break down by any of lang,script,kind (the multilingual "
                                           "set: also intent precision@10 and understanding accuracy).")] = None,
) -> None:
    """Recall@1/10/100, MRR@100 and nDCG@10 of bm25, dense and hybrid on real known-item queries.

    Only queries whose gold titles are in the indexed scope are scored (n_resolved). With ``--by``
    (e.g. ``--queries marquee-ml:dev --by lang,script,kind``): Recall@10 and MRR per group, intent
    queries by precision@10, and query-understanding accuracy per constraint type.
    """
    from data.errors import DataError
    from search.evaluate import run_eval

    if by is not None:
        _eval_breakdown(queries, [b.strip() for b in by.split(",") if b.strip()],
                        [s.strip() for s in systems.split(",")], as_json)  # fmt: skip
        return

    try:
        engine, resolved, n_queries, info = _engine_and_queries(queries, limit_queries)
    except (DataError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
        return
    started = time.perf_counter()
    report = run_eval(engine, resolved, n_queries=n_queries, systems=[s.strip() for s in systems.split(",")],
                      progress=None if as_json else _progress())  # fmt: skip
    info["seconds"] = round(time.perf_counter() - started, 1)
    report.info = info
    if as_json:
        print(json.dumps(report.as_dict(), sort_keys=True))
        return
    out = Console()
    out.print(f"[bold]{queries}[/bold]: {report.n_resolved} of {report.n_queries} queries resolve to "
              f"titles in the indexed scope ({info['scope_titles']:,} titles, index {info['index_kind']})")  # fmt: skip
    table = Table("system", "Recall@1", "Recall@10", "Recall@100", "MRR@100", "nDCG@10")
    for name, metrics in report.systems.items():
        table.add_row(name, *(f"{metrics[m]:.3f}" for m in ("recall@1", "recall@10", "recall@100", "mrr", "ndcg@10")))
    out.print(table)


def _eval_breakdown(spec: str, by: list[str], systems: list[str], as_json: bool) -> None:
    from data.catalog import read_titles
    from data.errors import DataError
    from data.queries import read_queries
    from search.evaluate import run_breakdown, source_id_index
    from services.routers.search import load_served_search_engine

    settings = get_settings()
    try:
        raw = read_queries(spec, settings.catalog_dir)
        with console.status("loading catalog, encoder and index"):
            engine = load_served_search_engine(settings)
        frame = read_titles(settings.catalog_dir)
        by_source = source_id_index(frame["title_id"].astype(str).tolist(), frame["source_ids"].tolist())
        started = time.perf_counter()
        report = run_breakdown(engine, raw, frame.to_dict("records"), by_source, by=by, systems=systems)
    except (DataError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
        return
    report.update(queries=spec, scope_titles=engine.catalog.n, seconds=round(time.perf_counter() - started, 1))
    if as_json:
        print(json.dumps(report, sort_keys=True, default=float))
        return
    out = Console()
    out.print(f"[bold]{spec}[/bold]: {report['n_resolved']} of {report['n_known_item']} known-item queries resolve "
              f"in scope ({engine.catalog.n:,} titles); {report['n_intent']} intent queries")  # fmt: skip
    table = Table("system", "Recall@1", "Recall@10", "MRR@100", "intent P@10")
    for name, entry in report["systems"].items():
        o = entry["overall"]
        table.add_row(name, f"{o['recall@1']:.3f}", f"{o['recall@10']:.3f}", f"{o['mrr']:.3f}",
                      f"{entry['intent_precision@10']:.3f}")  # fmt: skip
    out.print(table)
    names = list(report["systems"])
    for field_name in by:
        groups = sorted({g for e in report["systems"].values() for g in e["by"][field_name]})
        table = Table(field_name, "n", *(f"{n} R@10" for n in names))
        for g in groups:
            cells = [report["systems"][n]["by"][field_name].get(g, {}) for n in names]
            table.add_row(g, str(cells[0].get("n", 0)), *(f"{c.get('recall@10', float('nan')):.3f}" for c in cells))
        out.print(table)
    table = Table("constraint", "n", "accuracy", "spurious")
    for key, v in report["understanding"].items():
        table.add_row(key, str(v["n"]), f"{v['accuracy']:.3f}", f"{v['spurious']:.3f}")
    out.print(table)


@eval_app.command("search-tune")
def eval_search_tune(
    queries: Annotated[list[str], typer.Option("--queries", help="Training or validation sets only (repeatable).")],
    limit_queries: Annotated[int | None, typer.Option(help="Only the first N queries of each set.", min=1)] = None,
    top: Annotated[int, typer.Option(help="How many settings to print.")] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    channels: Annotated[bool, typer.Option("--channels", help="Vary the titles/intent/like channel weights of the "
                                           "served fusion instead of the gate and lexical weights.")] = False,
) -> None:
    """Grid-search the hybrid's fusion settings on training/validation/dev queries (refuses test splits
    and marquee-ml:all). Every setting keeps query understanding and the titles/intent/like channels."""
    from search.evaluate import channel_grid, check_tuning_split, embed_in_batches, tune_fusion
    from search.request import truncate_query

    try:
        for spec in queries:
            check_tuning_split(spec)
    except ValueError as exc:
        _fail(str(exc))
        return
    engine = None
    resolved_all = []
    for spec in queries:
        engine, resolved, _, _ = _engine_and_queries(spec, limit_queries)
        resolved_all.extend(resolved)
    assert engine is not None
    console.print(f"tuning on {len(resolved_all)} resolved queries")
    embeddings = embed_in_batches(engine, [truncate_query(q.text)[0] for q in resolved_all], _progress())
    scored = tune_fusion(engine, resolved_all, embeddings, channel_grid(engine.fusion) if channels else None)
    current = engine.fusion
    rows = [{"method": c.method, "rrf_k": c.rrf_k, "weights": dict(c.weights), "gate": [c.gate_low, c.gate_high],
             "current": c == current, **{k: round(v, 4) for k, v in m.items()}} for c, m in scored[:top]]  # fmt: skip
    if as_json:
        print(json.dumps({"n_resolved": len(resolved_all), "best": rows}, sort_keys=True))
        return
    out = Console()
    table = Table("method", "k", "weights", "gate", "R@10", "MRR", "nDCG@10")
    for r in rows:
        table.add_row(r["method"], str(r["rrf_k"]), json.dumps(r["weights"]), str(r["gate"]),
                      f"{r['recall@10']:.3f}", f"{r['mrr']:.3f}", f"{r['ndcg@10']:.3f}")  # fmt: skip
    out.print(table)
