"""A complete, small Marquee deployment on disk for API-wide tests (schemathesis, body fuzzing, keys, kills).

``build_world(root)`` writes what ``marquee data build``, ``index build`` and ``ads seed-demo`` would:
a catalog (the search test catalog's 160 titles with every catalog column, a viewing history and
profiles including ``demo:kids``), an index version built by the deterministic
:class:`tests.search.search_synthetic.ConceptEncoder` (skipped with ``index=False``), and an ad
inventory that is live now. Every area of the app starts on it; :func:`use_concept_encoder` makes the
app's "encoder" resource the same test encoder the index was built with.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ads.inventory import iso
from data.ads_store import open_ad_store
from data.embedding_cache import EmbeddingCache
from embeddings.job import build_index_version
from services.settings import Settings
from tests.ads.helpers import market
from tests.features.synthetic import SyntheticWorld, write_catalog
from tests.search.search_synthetic import ConceptEncoder, synthetic_titles

N_TITLES = 160
N_PROFILES = 30
DECIDE_KEY = "world-decide-key"
ADMIN_KEY = "world-admin-key"
BOTH_KEY = "world-both-key"
API_KEYS = f"{DECIDE_KEY}:decide,{ADMIN_KEY}:admin,{BOTH_KEY}:decide,{BOTH_KEY}:admin"


def world_titles() -> pd.DataFrame:
    return synthetic_titles(N_TITLES, seed=3)


def _history(titles: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = titles["title_id"].tolist()
    rows = []
    for u in range(N_PROFILES):
        t = 1_600_000_000.0 + u * 3600
        for item in rng.choice(len(ids), size=12, replace=False):
            t += float(rng.integers(60, 600))
            rows.append((f"movielens:{u + 1}", ids[int(item)], int(t), "rating", np.float32(rng.integers(1, 6))))
    events = pd.DataFrame(rows, columns=["profile_id", "title_id", "timestamp", "kind", "rating"])
    events["rating"] = events["rating"].astype("float32")
    profiles = pd.DataFrame({
        "profile_id": [f"movielens:{u + 1}" for u in range(N_PROFILES)] + ["demo:kids", "demo:fr"],
        "maturity": ["adults"] * N_PROFILES + ["kids", "adults"],
        "maturity_level": [3] * N_PROFILES + [0, 3],
        "languages": [["en"]] * N_PROFILES + [["en"], ["fr", "en"]],
        "ui_language": ["en"] * N_PROFILES + ["en", "fr"],
        "country": [None] * N_PROFILES + ["US", "FR"],
        "origin": ["movielens"] * N_PROFILES + ["demo", "demo"],
    })  # fmt: skip
    return events, profiles


def live_market(now: float | None = None) -> dict[str, list[dict[str, Any]]]:
    docs = market(6, seed=2)
    now = time.time() if now is None else now
    for group in ("campaigns", "line_items"):
        for doc in docs[group]:
            doc["start"], doc["end"] = iso(now - 86_400), iso(now + 30 * 86_400)
    return docs


def seed_ads(db: Path | str, docs: dict[str, list[dict[str, Any]]]) -> None:
    store = open_ad_store(db)
    try:
        for kind, group in (("advertiser", "advertisers"), ("campaign", "campaigns"), ("creative", "creatives"),
                            ("line_item", "line_items")):  # fmt: skip
            store.put_many((kind, d) for d in docs[group])
    finally:
        store.close()


def build_index(titles: pd.DataFrame, artifacts: Path, cache_dir: Path) -> str:
    """One index version of ``titles`` by the concept encoder, activated; returns its name."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(cache_dir / "world-cache.sqlite")
    try:
        report = build_index_version(titles=titles, catalog_version="world-1", scope="full", encoder=ConceptEncoder(),
                                     cache=cache, index_dir=artifacts / "index")  # fmt: skip
    finally:
        cache.close()
    return Path(report.version_dir).name


def build_world(root: Path, *, index: bool = True, **settings: Any) -> Settings:
    """Write the deployment under ``root`` and return its settings (``settings`` overrides fields)."""
    artifacts = root / "artifacts"
    titles = world_titles()
    events, profiles = _history(titles)
    write_catalog(SyntheticWorld(titles, events, profiles, ([], np.zeros((0, 1), np.float32)), {}, {}),
                  artifacts / "catalog")  # fmt: skip
    if index:
        build_index(titles, artifacts, root / "cache")
    fields: dict[str, Any] = {"artifacts_dir": artifacts, "cache_dir": root / "cache", "data_dir": root / "none",
                              "api_keys": API_KEYS, "index_watch_s": 0, **settings}  # fmt: skip
    out = Settings(**fields)
    seed_ads(out.ads_target, live_market())
    return out


def use_concept_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve with the test encoder the world's index was built with (the bundled model is not needed)."""
    import services.resources as shared

    monkeypatch.setattr(shared, "encoder", lambda resources: resources.get("encoder", ConceptEncoder))
