"""The shared heavy resources, one definition each, used by every area that needs them.

Each accessor takes the app's :class:`services.state.Resources` and returns the named resource,
building it on first use (whichever area starts first builds it; the others share the object):

========================  ==========================================================================
``"catalog"``             titles DataFrame (``data.catalog.read_titles``)
``"encoder"``             the query/item encoder (``embeddings.encoder.load_encoder``)
``"index"``               the current index version (``embeddings.job.load_index_artifacts``)
``"event_store"``         the SQLite event store with the catalog's history imported once per version
``"features"``            ``features.FeatureStore`` (title embeddings when an index exists)
``"ranker"``              ``ranking.model.TrainedRanker`` bound to the features' titles, or None
``"catalog_profiles"``    the catalog's profiles (maturity level, languages) by id; {} without the file
========================  ==========================================================================

:func:`search_reranker` wires ranking's personal re-ranker into search, and :func:`served_similar` the
``similar`` endpoint's order into search's "like <title>" queries, with typed objects (search and
ranking never import each other).

Optional resources (``index`` for features, ``ranker``) degrade with a logged warning instead of
failing the area; the required ones raise, and the lifespan marks the area not ready.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from services.settings import Settings
from services.state import Resources

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from data.events import SqlEventStore
    from embeddings.encoder import SentenceTransformerEncoder
    from embeddings.job import IndexArtifacts
    from features import FeatureStore
    from ranking.model import TrainedRanker
    from ranking.page import PageBuilder
    from ranking.personalize import SearchReranker

log = logging.getLogger("marquee.resources")

RANKER_DIR = "ranker"
"""The trained ranker's folder under ``settings.models_dir``."""


def load_titles(settings: Settings) -> pd.DataFrame:
    from data.catalog import read_titles

    return read_titles(settings.catalog_dir)


def load_event_store(settings: Settings) -> SqlEventStore:
    """Open the event store (PostgreSQL at ``database_url``, else SQLite) and import the catalog's
    history once per catalog version."""
    from data.catalog import read_events, read_manifest, read_profiles
    from data.events import open_event_store

    store = open_event_store(settings.events_target)
    try:
        version = str(read_manifest(settings.catalog_dir)["catalog_version"])
        inserted = store.import_history(read_events(settings.catalog_dir), read_profiles(settings.catalog_dir),
                                        source_version=version)  # fmt: skip
        if inserted:
            log.info("imported %d catalog events into %s", inserted, store.db.describe())
    except Exception:
        store.close()
        raise
    return store


def load_ranker(settings: Settings) -> TrainedRanker | None:
    """The trained model from ``models_dir/ranker``, or None when not trained yet."""
    from ranking.model import TrainedRanker

    path = settings.models_dir / RANKER_DIR
    if not (path / "manifest.json").is_file():
        log.warning("no trained ranker at %s (run `marquee train ranker`)", path)
        return None
    return TrainedRanker.load(path)


def load_catalog_profiles(settings: Settings) -> dict[str, dict[str, Any]]:
    """``profile_id -> {"maturity_level": int, "languages": (content languages..., ui language)}`` from
    the catalog's profiles.parquet, for profiles the event store does not hold; {} when there is none."""
    from data.catalog import as_lists, read_profiles

    try:
        frame = read_profiles(settings.catalog_dir)
    except Exception:
        log.warning("no profiles.parquet in %s; only event-store profiles are known", settings.catalog_dir)
        return {}
    out = {}
    for rec in frame.to_dict("records"):
        langs = [str(x) for x in as_lists(rec.get("languages"))]
        ui = rec.get("ui_language")
        out[str(rec["profile_id"])] = {"maturity_level": int(rec["maturity_level"]),
                                       "languages": tuple(dict.fromkeys([*langs, *([ui] if isinstance(ui, str) else [])]))}  # fmt: skip
    return out


def catalog(resources: Resources) -> pd.DataFrame:
    return resources.get("catalog", lambda: load_titles(resources.settings))


def encoder(resources: Resources) -> SentenceTransformerEncoder:
    from embeddings.encoder import load_encoder

    s = resources.settings
    return resources.get("encoder", lambda: load_encoder(s.model, device=s.device, cache_dir=s.cache_dir))


def index(resources: Resources, *, check_encoder: bool = True) -> IndexArtifacts:
    """The current index version. With ``check_encoder`` the index must come from the serving encoder's
    model (a mismatch raises ``IndexMismatchError``); without it the encoder is not loaded."""
    from embeddings.job import load_index_artifacts

    s = resources.settings
    fingerprint = encoder(resources).fingerprint if check_encoder else None
    return resources.get(
        "index", lambda: load_index_artifacts(s.index_dir, expected_model_fingerprint=fingerprint)
    )


def catalog_profiles(resources: Resources) -> dict[str, dict[str, Any]]:
    return resources.get("catalog_profiles", lambda: load_catalog_profiles(resources.settings))


def event_store(resources: Resources) -> SqlEventStore:
    return resources.get("event_store", lambda: load_event_store(resources.settings))


def title_embeddings_optional(resources: Resources) -> tuple[list[str], np.ndarray] | None:
    """(title ids, vectors) of the current index version, or None when no index is built yet."""
    try:
        artifacts = index(resources, check_encoder=False)
    except Exception as exc:  # no index yet: features and ranking work without content vectors
        log.warning("features without title embeddings: %s", exc)
        return None
    return list(artifacts.title_ids), artifacts.title_vectors


def features(resources: Resources) -> FeatureStore:
    """``features.FeatureStore`` over the catalog and the live event store."""

    def build() -> FeatureStore:
        from features import FeatureStore

        return FeatureStore.build(catalog(resources), event_store(resources),
                                  embeddings=title_embeddings_optional(resources))  # fmt: skip

    return resources.get("features", build)


def ranker(resources: Resources) -> TrainedRanker | None:
    """The trained ranker bound to the feature store's titles; None when missing or unloadable (the
    callers fall back to their untrained scorers). Bound to every title, since all areas share it."""
    try:
        model = resources.get("ranker", lambda: load_ranker(resources.settings))
    except Exception:  # a broken artifact must not take an area down
        log.exception("the trained ranker could not be loaded; personalization is off")
        return None
    if model is not None:
        titles = features(resources).titles
        if getattr(model, "titles", None) is not titles:
            model.bind(titles)
    return model


def search_reranker(resources: Resources) -> SearchReranker:
    """Ranking's personal re-ranker for search, reading the shared features and ranker when they exist
    (search may start before them: until then, and for a profile without history, scores are unchanged)."""
    from ranking.personalize import SearchReranker

    return SearchReranker(features=lambda: resources.peek("features"), ranker=lambda: resources.peek("ranker"))


class ServedSimilar:
    """:class:`search.engine.SimilarTitles` over the pages area's builder: "more like this" in the order
    ``GET /v1/titles/{id}/similar`` serves without a viewer; nothing until the pages area has loaded."""

    def __init__(self, builder: Callable[[], PageBuilder | None]) -> None:
        self._builder = builder

    def similar_ids(self, title_id: str, limit: int) -> list[str]:
        from ranking.page import MAX_SIMILAR, UnknownTitleError

        builder = self._builder()
        if builder is None:
            return []
        try:
            items = builder.similar(title_id, limit=max(1, min(limit, MAX_SIMILAR)))
        except UnknownTitleError:  # in search's scope but not served by pages
            return []
        return [item.title_id for item in items]


def served_similar(resources: Resources) -> ServedSimilar:
    """The ``similar`` endpoint's neighbours for search, read from the shared page builder when it exists."""
    return ServedSimilar(lambda: resources.peek("pages"))


def title_embedder(resources: Resources) -> Callable[[list[str]], np.ndarray]:
    """Query embeddings of title strings for search's dense title channel when the index version does
    not store them (built before it did), through the shared embedding cache
    (``cache_dir/embeddings.sqlite``, the index build's key): computed once per string, then read."""
    from data.embedding_cache import EmbeddingCache
    from embeddings.job import embed_with_cache

    item_encoder = encoder(resources)
    path = resources.settings.cache_dir / "embeddings.sqlite"

    def embed(texts: list[str]) -> np.ndarray:
        path.parent.mkdir(parents=True, exist_ok=True)
        cache = EmbeddingCache(path)
        try:
            vectors, embedded = embed_with_cache(item_encoder, texts, cache, as_queries=True)
        finally:
            cache.close()
        if embedded:
            log.info("embedded %d new title strings for search (%d cached)", embedded, len(texts) - embedded)
        return vectors

    return embed
