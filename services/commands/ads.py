"""``marquee ads seed-demo``: the bundled demo inventory and its response model.

The inventory is ``ads.demo.demo_inventory`` with flights starting today (UTC midnight). The
response model is trained on logs of the viewer simulator (``ads.simulator``) run over the built
catalog's real profiles, titles and history, played by the exploration policy (random eligible ads).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from services.cli_groups import ads_app
from services.settings import Settings, get_settings

console = Console(stderr=True)
DAY = 86_400


def simulation_features(catalog_dir: Path, index_dir: Path | None = None) -> tuple[Any, dict[str, Any], bool]:
    """(TitleFeatures, {profile_id: ProfileFeatures} for every catalog profile, embeddings used?).

    Title embeddings come from the current index version when one is built (else zero rows)."""
    import numpy as np

    from data.catalog import as_lists, read_events, read_profiles, read_titles
    from data.events import History, Profile
    from features import build_title_features, compute_profile_features, histories_from_frame

    titles, events, profiles = read_titles(catalog_dir), read_events(catalog_dir), read_profiles(catalog_dir)
    embeddings = None
    if index_dir is not None:
        try:
            from embeddings.job import load_title_embeddings

            embeddings = load_title_embeddings(index_dir)
        except Exception as exc:  # no index yet: contextual briefs cannot match, everything else works
            console.print(f"[yellow]no title embeddings ({type(exc).__name__}: {exc})[/yellow]")
    title_features = build_title_features(titles, events, embeddings=embeddings)
    histories = {h.profile_id: h for h in histories_from_frame(events)}
    out = {}
    for rec in profiles.to_dict("records"):
        pid = str(rec["profile_id"])
        country = rec.get("country") if isinstance(rec.get("country"), str) else None
        langs = tuple(str(x) for x in as_lists(rec.get("languages"))) or ("en",)
        ui = rec.get("ui_language") if isinstance(rec.get("ui_language"), str) else "en"
        profile = Profile(pid, str(rec["maturity"]), langs, ui, country, str(rec.get("origin") or "catalog"))
        history = histories.get(pid, History(pid, [], np.zeros(0), [], 0))
        out[pid] = compute_profile_features(history, title_features, profile=profile)
    return title_features, out, embeddings is not None


def brief_encoder(settings: Settings) -> Any:
    """``encode_queries`` of the configured encoder (for line item briefs)."""
    from embeddings.encoder import load_encoder

    return load_encoder(settings.model, device=settings.device, cache_dir=settings.cache_dir).encode_queries


def train_demo_model(settings: Settings, inventory_docs: dict[str, list[dict[str, Any]]], *, sessions: int,
                     days: int, seed: int) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """Train the response model on simulated days of exploration traffic; returns (model, held-out report)."""
    from ads.inventory import Inventory
    from ads.simulator import StaticFeatures
    from ads.train import exploration_days, train_on_log

    titles, profiles, has_embeddings = simulation_features(settings.catalog_dir, settings.index_dir)
    docs = inventory_docs
    inventory = Inventory.from_dicts(docs["advertisers"], docs["campaigns"], docs["line_items"], docs["creatives"])
    if has_embeddings and inventory.briefs():
        briefs = inventory.briefs()
        vectors = brief_encoder(settings)(list(briefs.values()))
        inventory = inventory.with_brief_embeddings(dict(zip(briefs, vectors, strict=True)))
    start = min(v.start for v in inventory.views)
    log, _ = exploration_days(inventory, StaticFeatures(titles, profiles), day_start=start, sessions=sessions,
                              seeds=[seed + 100 + k for k in range(days)])  # fmt: skip
    model, report = train_on_log(log, seed=seed)
    return model, {k: vars(v) for k, v in report.items()} | {"rows": len(log.rows)}


@ads_app.command("seed-demo")
def seed_demo(
    if_missing: Annotated[bool, typer.Option("--if-missing", help="Do nothing when the ads DB and model exist.")] = False,
    retrain: Annotated[bool, typer.Option("--retrain", help="Retrain the response model even if it exists.")] = False,
    sessions: Annotated[int, typer.Option(help="Simulated viewing sessions per training day.")] = 1400,
    days: Annotated[int, typer.Option(help="Simulated days of exploration traffic to train on.")] = 3,
    budget_scale: Annotated[float, typer.Option(help="Multiply every demo budget.")] = 1.0,
) -> None:
    """Write the demo inventory into the ads DB and train the response model on simulator logs."""
    from ads.demo import demo_inventory
    from data.ads_store import open_ad_store
    from data.errors import CatalogNotBuiltError
    from services.routers.ads import MODEL_FILE

    settings = get_settings()
    store = open_ad_store(settings.ads_target)
    try:
        today = time.time() // DAY * DAY
        if if_missing and not store.is_empty():
            console.print(f"ads inventory already in {store.db.describe()}; kept")
            docs = store.inventory_docs()
        else:
            docs = demo_inventory(today, budget_scale=budget_scale, seed=settings.seed)
            for kind, group in (("advertiser", "advertisers"), ("campaign", "campaigns"), ("creative", "creatives"),
                                ("line_item", "line_items")):  # fmt: skip
                store.put_many((kind, d) for d in docs[group])
            store.set_meta("seeded_at", str(today))
            console.print(f"wrote the demo inventory ({len(docs['line_items'])} line items, "
                          f"{len(docs['creatives'])} creatives) to {store.db.describe()}")  # fmt: skip
    finally:
        store.close()
    model_path = settings.models_dir / MODEL_FILE
    if model_path.is_file() and not retrain:
        console.print(f"response model {model_path} exists; kept (--retrain to refit)")
        return
    started = time.perf_counter()
    try:
        with console.status(f"training the response model on {days} simulated days"):
            model, report = train_demo_model(settings, docs, sessions=sessions, days=days, seed=settings.seed)
    except CatalogNotBuiltError as exc:
        console.print(f"[yellow]no response model: {exc}; decisions use base rates[/yellow]")
        return
    model.save(model_path)
    console.print(f"trained {model_path} in {time.perf_counter() - started:.0f} s: {report}")
