"""Seeded synthetic catalogs and viewing histories with a known structure (shared by my tests).

Structure: titles fall into ``n_clusters`` taste clusters (each with its own genre and a content
embedding direction); every user prefers one cluster and watches its titles IN A FIXED ORDER (a
chain), with a little noise from other clusters. So "what comes next" is predictable from the recent
history (order), from co-watching (cluster) and from content (embedding direction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.normalize import GENRES

CLUSTER_GENRES = ("comedy", "horror", "documentary", "romance", "sci-fi", "western")


@dataclass(frozen=True)
class SyntheticWorld:
    titles: pd.DataFrame
    events: pd.DataFrame
    profiles: pd.DataFrame
    embeddings: tuple[list[str], np.ndarray]
    cluster_of: dict[str, int]
    preferred: dict[str, int]


def make_world(
    *, n_titles: int = 120, n_users: int = 80, n_clusters: int = 4, events_per_user: int = 30, noise: float = 0.1,
    dim: int = 16, seed: int = 0, start: float = 1_500_000_000.0,
) -> SyntheticWorld:  # fmt: skip
    """A catalog + history with the structure described in the module docstring."""
    rng = np.random.default_rng(seed)
    title_ids = [f"tmdb:{1000 + i}" for i in range(n_titles)]
    cluster = np.arange(n_titles) % n_clusters
    centers = rng.normal(size=(n_clusters, dim))
    vectors = centers[cluster] + 0.3 * rng.normal(size=(n_titles, dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    languages = ["en", "fr", "es", "de"]
    titles = pd.DataFrame({
        "title_id": title_ids,
        "type": "movie",
        "title": [f"Synthetic {CLUSTER_GENRES[c % len(CLUSTER_GENRES)]} story {i}" for i, c in enumerate(cluster)],
        "genres": [[CLUSTER_GENRES[c % len(CLUSTER_GENRES)]] for c in cluster],
        "original_language": [languages[c % len(languages)] for c in cluster],
        "description_languages": [[languages[c % len(languages)]] for c in cluster],
        "maturity_level": [int(i % 4) for i in range(n_titles)],
        "year": [float(1980 + i % 40) for i in range(n_titles)],
    })  # fmt: skip
    members = [np.flatnonzero(cluster == c) for c in range(n_clusters)]
    rows = []
    preferred: dict[str, int] = {}
    for u in range(n_users):
        pid = f"movielens:{u + 1}"
        c = int(rng.integers(n_clusters))
        preferred[pid] = c
        chain = members[c]
        offset = int(rng.integers(len(chain)))
        watched: list[int] = []
        step = 0
        t = start + u * 3600.0 + float(rng.integers(0, 10**6))
        while len(watched) < min(events_per_user, len(chain)):
            if rng.random() < noise:
                item = int(rng.integers(n_titles))
            else:
                item = int(chain[(offset + step) % len(chain)])
                step += 1
            if item in watched:
                continue
            watched.append(item)
            t += float(rng.integers(60, 600))
            rows.append((pid, title_ids[item], int(t), "rating", np.float32(4.0)))
    events = pd.DataFrame(rows, columns=["profile_id", "title_id", "timestamp", "kind", "rating"])
    events["rating"] = events["rating"].astype("float32")
    profiles = pd.DataFrame({
        "profile_id": [f"movielens:{u + 1}" for u in range(n_users)] + ["demo:kids", "demo:fr"],
        "maturity": ["adults"] * n_users + ["kids", "adults"],
        "maturity_level": [3] * n_users + [0, 3],
        "languages": [["en"]] * n_users + [["en"], ["fr", "en"]],
        "ui_language": ["en"] * n_users + ["en", "fr"],
        "country": [None] * n_users + ["US", "FR"],
        "origin": ["movielens"] * n_users + ["demo", "demo"],
    })  # fmt: skip
    return SyntheticWorld(titles, events, profiles, (title_ids, vectors),
                          dict(zip(title_ids, cluster.tolist(), strict=True)), preferred)  # fmt: skip


def write_catalog(world: SyntheticWorld, catalog_dir: Path) -> Path:
    """Write the world as a minimal built catalog (the columns the events/features code reads)."""
    catalog_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(world.titles, preserve_index=False), catalog_dir / "titles.parquet")
    pq.write_table(pa.Table.from_pandas(world.events, preserve_index=False), catalog_dir / "events.parquet")
    pq.write_table(pa.Table.from_pandas(world.profiles, preserve_index=False), catalog_dir / "profiles.parquet")
    (catalog_dir / "manifest.json").write_text(json.dumps({"catalog_version": "synthetic-1", "titles": len(world.titles)}))
    return catalog_dir


assert set(CLUSTER_GENRES) <= set(GENRES)
