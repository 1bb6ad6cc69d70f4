"""Seeded synthetic catalog + viewing history with real structure, for the page and row tests.

Titles belong to taste clusters (a cluster = a couple of genres + an embedding direction), some are
Korean/French/Spanish (by country or description language), some are shows, a quarter are Netflix
titles with a ``date_added``, maturity levels are mixed. Viewers watch mostly inside one or two
clusters, so co-watch, embeddings and genre affinity all carry signal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data.events import History
from data.normalize import GENRES, MATURITY_LEVELS
from features import TitleFeatures, build_title_features

CLUSTERS: tuple[tuple[str, ...], ...] = (
    ("comedy", "romance"), ("action", "thriller"), ("documentary", "history"), ("animation", "family", "children"),
    ("horror", "mystery"), ("drama", "crime"), ("sci-fi", "fantasy"),
)  # fmt: skip
DIM = 16
MATURITY_BY_LEVEL = {v: k for k, v in MATURITY_LEVELS.items()}
EPOCH = 1_500_000_000.0


@dataclass(frozen=True)
class Synthetic:
    titles: pd.DataFrame
    events: pd.DataFrame
    embeddings: tuple[list[str], np.ndarray]
    features: TitleFeatures
    cluster: np.ndarray  # (n,) cluster of each title
    viewer_cluster: dict[str, int]


def make_synthetic(n_titles: int = 300, n_viewers: int = 120, seed: int = 0) -> Synthetic:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(CLUSTERS), DIM))
    cluster = rng.integers(0, len(CLUSTERS), size=n_titles)
    rows = []
    vectors = np.zeros((n_titles, DIM), dtype=np.float32)
    for i in range(n_titles):
        c = int(cluster[i])
        netflix = i % 4 == 0
        genres = list(CLUSTERS[c][: 1 + int(rng.integers(0, len(CLUSTERS[c])))])
        if c == 3:
            level = int(rng.choice([0, 0, 1]))
        elif c == 4:
            level = int(rng.choice([2, 3, 3]))
        else:
            level = int(rng.choice([0, 1, 2, 3, 3]))
        country = []
        desc_langs = ["en"]
        localized = [{"lang": "en", "title": f"Title {i}"}]
        if i % 10 == 3:
            country = ["South Korea"]
            localized.append({"lang": "ko", "title": f"제목 {i}"})
        elif i % 10 == 5:
            desc_langs.append("fr")
            localized.append({"lang": "fr", "title": f"Titre {i}"})
        elif i % 10 == 7:
            country = ["Spain"]
            localized.append({"lang": "es", "title": f"Título {i}"})
        elif netflix:
            country = ["United States"]
        rows.append({
            "title_id": f"netflix:s{i}" if netflix else f"tmdb:{1000 + i}",
            "type": "show" if (i % 3 == 0) else "movie",
            "title": f"Title {i}",
            "original_language": None,
            "localized_titles": localized,
            "year": float(1980 + (i * 7) % 40),
            "genres": genres,
            "countries": country,
            "description_languages": desc_langs,
            "descriptions": [{"lang": lang, "source": "synthetic", "text": f"About title {i} ({lang})"}
                             for lang in desc_langs],
            "duration_minutes": float(80 + i % 50) if i % 3 else np.nan,
            "seasons": float(1 + i % 4) if i % 3 == 0 else np.nan,
            "maturity_level": level,
            "maturity": MATURITY_BY_LEVEL[level],
            # like the real catalog: MovieLens/TMDB carry no age rating, so their adults level is a default and
            # their older_kids/teens levels are inferred from genres (data.normalize.title_maturity); the kids
            # level only ever comes from a rating
            "maturity_known": bool(netflix or level == 0),
            "maturity_source": "rating" if netflix or level == 0 else ("inferred" if level < 3 else "unknown"),
            "date_added": (pd.Timestamp("2021-01-01") + pd.Timedelta(days=int(i * 2))).strftime("%Y-%m-%d") if netflix else None,
            "vote_count": float(rng.integers(10, 5000)) if i % 5 == 1 else np.nan,
            "sources": ["netflix"] if netflix else (["movielens", "tmdb5000"] if i % 11 else ["tmdb-lang"]),
        })  # fmt: skip
        v = centers[c] + 0.6 * rng.normal(size=DIM)
        vectors[i] = v / np.linalg.norm(v)
    titles = pd.DataFrame(rows)
    ids = titles["title_id"].tolist()

    popularity = rng.pareto(1.5, size=n_titles) + 0.1
    events = []
    viewer_cluster = {}
    for u in range(n_viewers):
        pid = f"movielens:{u + 1}"
        main = int(rng.integers(0, len(CLUSTERS)))
        viewer_cluster[pid] = main
        weights = popularity * np.where(cluster == main, 8.0, 0.5)
        weights /= weights.sum()
        k = int(rng.integers(8, 40))
        chosen = rng.choice(n_titles, size=k, replace=False, p=weights)
        start = EPOCH + float(rng.integers(0, 3_000_000))
        for j, t in enumerate(chosen):
            events.append({"profile_id": pid, "title_id": ids[t], "timestamp": start + 3600.0 * j, "kind": "rating",
                           "rating": float(rng.integers(1, 11)) / 2})  # fmt: skip
    events_frame = pd.DataFrame(events)
    features = build_title_features(titles, events_frame, embeddings=(ids, vectors))
    return Synthetic(titles, events_frame, (ids, vectors), features, cluster, viewer_cluster)


def history_of(events: pd.DataFrame, profile_id: str) -> History:
    part = events[events["profile_id"] == profile_id].sort_values("timestamp", kind="stable")
    return History(profile_id, part["title_id"].tolist(), part["timestamp"].to_numpy(dtype=np.float64),
                   part["kind"].tolist(), len(part))  # fmt: skip


__all__ = ["CLUSTERS", "GENRES", "Synthetic", "history_of", "make_synthetic", "write_catalog"]


def write_catalog(synth: Synthetic, catalog_dir: Path) -> Path:
    """Write the synthetic catalog in the layout ``data.catalog.read_*`` reads (titles, events, profiles,
    manifest), with demo profiles: a kids profile, a French profile and a Korean-preferring one."""
    catalog_dir.mkdir(parents=True, exist_ok=True)
    synth.titles.to_parquet(catalog_dir / "titles.parquet", index=False)
    synth.events.to_parquet(catalog_dir / "events.parquet", index=False)
    profiles = [{"profile_id": pid, "maturity": "adults", "maturity_level": 3, "languages": ["en"],
                 "ui_language": "en", "country": None, "origin": "movielens"}
                for pid in sorted(synth.events["profile_id"].unique())]  # fmt: skip
    profiles += [
        {"profile_id": "demo:kids", "maturity": "kids", "maturity_level": 0, "languages": ["en"], "ui_language": "en",
         "country": "US", "origin": "demo"},
        {"profile_id": "demo:fr", "maturity": "adults", "maturity_level": 3, "languages": ["fr", "en"],
         "ui_language": "fr", "country": "FR", "origin": "demo"},
        {"profile_id": "demo:ko", "maturity": "teens", "maturity_level": 2, "languages": ["en", "ko"],
         "ui_language": "es", "country": "KR", "origin": "demo"},
    ]  # fmt: skip
    pd.DataFrame(profiles).to_parquet(catalog_dir / "profiles.parquet", index=False)
    (catalog_dir / "manifest.json").write_text(json.dumps({"catalog_version": "synthetic-0"}), encoding="utf-8")
    return catalog_dir
