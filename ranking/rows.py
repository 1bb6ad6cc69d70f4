"""Candidate rows for the home page: what each row is about and which titles may appear in it.

Shapes: ``n`` titles (rows of ``features.TitleFeatures``), ``L`` = len(``features.LANGUAGES``).

A candidate row is a *theme* — Continue Watching, Top Picks, Because You Watched <title>, Trending
Now, New Arrivals, Popular, a genre, a language + type ("Korean series"), Watch It Again — plus a
*pool* of at most ``pool_size`` eligible titles for it, each with a theme score (how strongly it
belongs: similarity, trend, recency). :mod:`ranking.page` scores the union of all pools once with
the ranking model and orders every row by model score (blended with the theme score for themes
where belonging is a matter of degree), then chooses rows stage by stage.

Eligibility, enforced here for every pool: a title is servable (in the catalog scope the service
offers), at or below the profile's maturity level, and — except in Continue Watching and Watch It
Again — not in the viewer's history at all (finished titles appear only in the explicit rewatch
row; started titles only in Continue Watching).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, cast, get_args

import numpy as np
import pandas as pd

from data.catalog import as_lists
from data.events import History
from data.normalize import GENRES, MATURITY_LEVELS, MaturitySource
from features import LANGUAGES, ProfileFeatures, TitleFeatures
from features.titles import SECONDS_PER_DAY, language_slot
from ranking.similar import CoWatchIndex, TitleSubset, title_similarity

if TYPE_CHECKING:
    from features import ProfileFeatureConfig
    from ranking.model import RankingContext, TrainedRanker

__all__ = [
    "COUNTRY_LANGUAGES",
    "ContextScorer",
    "FINISHED_KINDS",
    "ROW_KINDS",
    "STARTED_KINDS",
    "CandidateRow",
    "HeuristicScorer",
    "RankerScorer",
    "RowCatalog",
    "RowConfig",
    "RowScorer",
    "TileInfo",
    "TitleDetails",
    "ViewerState",
    "candidate_rows",
    "viewer_state",
]

ROW_KINDS: tuple[str, ...] = (
    "continue_watching", "top_picks", "because_you_watched", "trending", "new_arrivals", "popular", "genre",
    "language", "rewatch",
)  # fmt: skip
"""Every row kind a page can hold."""

STARTED_KINDS = frozenset({"play", "progress"})
FINISHED_KINDS = frozenset({"complete", "rating"})
"""A rating counts as finished: MovieLens history has only ratings, given after watching."""

COUNTRY_LANGUAGES: dict[str, str] = {
    "South Korea": "ko", "Japan": "ja", "France": "fr", "Spain": "es", "Mexico": "es", "Argentina": "es",
    "Colombia": "es", "Chile": "es", "Peru": "es", "Germany": "de", "Austria": "de", "Italy": "it",
    "Brazil": "pt", "Portugal": "pt", "India": "hi", "China": "zh", "Taiwan": "zh", "Hong Kong": "zh",
    "Turkey": "tr", "Egypt": "ar", "Lebanon": "ar", "Saudi Arabia": "ar", "Poland": "pl", "Denmark": "da",
    "Sweden": "sv", "Norway": "no", "Finland": "fi", "Russia": "ru", "Netherlands": "nl",
}  # fmt: skip
"""A title's first production country implies this content language (Netflix lists countries, rarely
languages). India -> Hindi is a proxy: the catalog does not say which Indian language a title is in."""


class RowScorer(Protocol):
    """What the page builder needs of a ranking model: one score per candidate title, higher = better.

    ``title_rows``: (k,) int64 rows of ``TitleFeatures``; returns (k,) float scores on any scale (the page
    uses ranks and z-scores only). Must be deterministic and cope with an empty history (cold start).
    """

    def score(self, profile: ProfileFeatures, title_rows: np.ndarray) -> np.ndarray: ...


class ContextScorer(Protocol):
    """A :class:`RowScorer` that also scores with a task and context (the unified model,
    :class:`ranking.model.RankingContext`): the page orders Because You Watched rows and ``similar`` with it."""

    def score_contexts(self, profile: ProfileFeatures, contexts: Sequence[RankingContext]) -> np.ndarray:
        """(k, n) log play-probabilities of every title under each of the ``k`` contexts (-inf = not scored)."""
        ...


# --------------------------------------------------------------------------------------------- catalog

SIMILAR_KEEP = 2000
"""Most similar titles kept per evidence title by :meth:`RowCatalog.similar_pool`."""
SIMILAR_CACHE = 4096
"""Evidence titles whose most similar titles are kept (about 24 kB each)."""


@dataclass(frozen=True)
class TileFacts:
    """The language-independent facts of a title's tile, shared by :class:`TitleDetails` and :class:`TileInfo`.

    Maturity is the catalog's (``data.normalize.title_maturity``): ``maturity`` / ``maturity_level`` (names and
    levels of ``data.normalize.MATURITY_LEVELS``) come from a US rating (``maturity_source`` "rating",
    ``maturity_known`` True) or from the title's genres (``maturity_source`` "inferred"; never the kids rung), and
    are None when neither gives one (``maturity_source`` "unknown"; ``maturity_rating`` keeps the source's own
    label, e.g. "NR", when there is one). Eligibility reads the same catalog level
    (``TitleFeatures.maturity_level``): an unknown title counts as adults-only, so a kids profile never sees it."""

    type: str | None = None
    year: int | None = None
    maturity: str | None = None
    maturity_level: int | None = None
    maturity_known: bool = False
    maturity_rating: str | None = None
    maturity_source: MaturitySource = "unknown"

    @property
    def maturity_note(self) -> str | None:
        """How ``maturity`` was found when no rating gives it, or why it is None (English; None when rated)."""
        if self.maturity_source == "rating":
            return None
        if self.maturity_source == "inferred":
            return f"No source gives an age rating; {self.maturity} is inferred from its genres."
        if self.maturity_rating:
            return f"Its source marks it {self.maturity_rating} (no age rating); shown to adult profiles only."
        return "No age rating in the catalog's sources; shown to adult profiles only."
    genres: tuple[str, ...] = ()
    duration_minutes: int | None = None
    seasons: int | None = None


@dataclass(frozen=True)
class TitleDetails(TileFacts):
    """A title's tile facts from the catalog, kept once per title (descriptions in every language it has)."""

    descriptions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TileInfo(TileFacts):
    """What an app draws on a tile besides the name: :meth:`RowCatalog.tile` for one UI language."""

    description: str | None = None
    description_language: str | None = None

    @cached_property
    def as_dict(self) -> dict[str, Any]:
        """The tile as plain JSON-ready values (the API's tile object), built once per tile: the catalog
        keeps one :class:`TileInfo` per (title, UI language), so a page only looks these up."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["type"] = self.type if self.type in ("movie", "show") else None
        out["genres"] = list(self.genres)
        out["maturity_note"] = self.maturity_note
        return out


def _int(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if np.isfinite(number) else None


def _maturity_source(value: Any, known: bool) -> MaturitySource:
    """The catalog's ``maturity_source`` cell; a catalog built before the column says "rating" or "unknown"."""
    if value in get_args(MaturitySource):
        return cast(MaturitySource, value)
    return "rating" if known else "unknown"


def _details(frame: pd.DataFrame, present: np.ndarray) -> list[TitleDetails]:
    """(n,) :class:`TitleDetails` for the rows of ``frame`` (reindexed to the feature rows)."""
    out: list[TitleDetails] = []
    empty = TitleDetails()
    columns = {c: frame[c].tolist() if c in frame else [None] * len(frame)
               for c in ("type", "year", "maturity", "maturity_level", "maturity_known", "maturity_rating",
                         "maturity_source", "genres",
                         "duration_minutes", "seasons", "descriptions")}  # fmt: skip
    for i in range(len(frame)):
        if not present[i]:
            out.append(empty)
            continue
        texts: dict[str, str] = {}
        for d in _lists(columns["descriptions"][i]):
            if isinstance(d, dict) and d.get("text") and d.get("lang") and str(d["lang"]) not in texts:
                texts[str(d["lang"])] = str(d["text"])
        kind, maturity, rating = columns["type"][i], columns["maturity"][i], columns["maturity_rating"][i]
        known = columns["maturity_known"][i] is True or columns["maturity_known"][i] == 1  # NaN/None: unknown
        source = _maturity_source(columns["maturity_source"][i], known)
        out.append(TitleDetails(
            type=kind if isinstance(kind, str) else None, year=_int(columns["year"][i]),
            maturity=maturity if source != "unknown" and isinstance(maturity, str) else None,
            maturity_level=_int(columns["maturity_level"][i]) if source != "unknown" else None,
            maturity_known=bool(known), maturity_rating=rating if isinstance(rating, str) and rating else None,
            maturity_source=source,
            genres=tuple(str(g) for g in _lists(columns["genres"][i])),
            duration_minutes=_int(columns["duration_minutes"][i]), seasons=_int(columns["seasons"][i]),
            descriptions=texts,
        ))  # fmt: skip
    return out


@dataclass(frozen=True)
class RowCatalog:
    """What rows need beyond :class:`TitleFeatures`; every array is aligned with ``features.title_ids``."""

    features: TitleFeatures
    names: list[str]  # (n,) display titles
    localized_names: list[dict[str, str]]  # (n,) lang -> title, only languages the catalog has
    is_show: np.ndarray  # (n,) bool
    added_at: np.ndarray  # (n,) float64 unix s, NaN unknown (Netflix date_added)
    content_languages: np.ndarray  # (n, L) bool: features.languages | language of the first country
    prior: np.ndarray  # (n,) float32 in [0, 1]: popularity without personal data
    trending: np.ndarray  # (n,) float32 >= 0
    servable: np.ndarray  # (n,) bool
    subset: TitleSubset | None = field(default=None, repr=False)  # dense matrices of the servable titles
    details: list[TitleDetails] = field(default_factory=list, repr=False)  # (n,) what a tile shows; [] = none
    _tiles: dict[tuple[int, str], TileInfo] = field(default_factory=dict, init=False, repr=False, compare=False)
    _similar: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, bool]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _similar_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def tile(self, row: int, ui_language: str) -> TileInfo:
        """What an app needs to draw the title's tile, the description in ``ui_language`` when the catalog
        has one (else English, else any); built once per (title, UI language) and then looked up."""
        key = (row, ui_language)
        tile = self._tiles.get(key)
        if tile is None:
            tile = self._tiles[key] = self._tile(row, ui_language)
        return tile

    def _tile(self, row: int, ui_language: str) -> TileInfo:
        if not self.details:
            return TileInfo()
        d = self.details[row]
        language = next((lang for lang in (ui_language, "en") if lang in d.descriptions),
                        next(iter(d.descriptions), None))  # fmt: skip
        facts = {f.name: getattr(d, f.name) for f in fields(TileFacts)}
        return TileInfo(**facts, description=d.descriptions.get(language) if language else None,
                        description_language=language)

    def __post_init__(self) -> None:
        if self.subset is None:
            object.__setattr__(self, "subset", TitleSubset.of(self.features, np.flatnonzero(self.servable)))
        n = len(self.features)
        for name in ("names", "localized_names", "is_show", "added_at", "content_languages", "prior", "trending",
                     "servable"):  # fmt: skip
            if len(getattr(self, name)) != n:
                raise ValueError(f"RowCatalog.{name} has {len(getattr(self, name))} rows; expected {n}")

    def __len__(self) -> int:
        return len(self.features)

    def similar_pool(self, row: int, eligible: np.ndarray, size: int, cowatch: CoWatchIndex | None = None,
                     ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The ``size`` titles of ``eligible`` most similar to title ``row``
        (:func:`ranking.similar.title_similarity`; ties: lowest rows), as ((m,) rows sorted ascending, (m,)
        float32 similarities) — exactly ``_pool(eligible & (sim > 0), sim, size)``.

        A title's similarities depend only on the catalog and the co-watch index, so its ``SIMILAR_KEEP``
        most similar titles are computed once and kept (``SIMILAR_CACHE`` titles, least recently used
        dropped); a request only filters them by ``eligible``. When fewer than ``size`` kept titles are
        eligible (a viewer who watched most of them) the similarities are computed in full."""
        key = (int(row), id(cowatch))
        with self._similar_lock:
            kept = self._similar.pop(key, None)
            if kept is not None:
                self._similar[key] = kept  # most recently used last
        if kept is None:
            sim = title_similarity(self.features, np.array([row]), cowatch=cowatch, subset=self.subset)
            candidates = np.flatnonzero(sim > 0)
            order = candidates[np.lexsort((candidates, -sim[candidates]))]
            kept = (order[:SIMILAR_KEEP], sim[order[:SIMILAR_KEEP]].astype(np.float32), len(order) <= SIMILAR_KEEP)
            with self._similar_lock:
                self._similar[key] = kept
                while len(self._similar) > SIMILAR_CACHE:
                    self._similar.pop(next(iter(self._similar)))
        order, sims, complete = kept
        keep = np.asarray(eligible, dtype=bool)[order]
        if keep.sum() < size and not complete:
            sim = title_similarity(self.features, np.array([row]), cowatch=cowatch, subset=self.subset)
            rows = _pool(eligible & (sim > 0), sim, size)
            return rows, sim[rows].astype(np.float32)
        chosen, values = order[keep][:size], sims[keep][:size]
        by_row = np.argsort(chosen, kind="stable")
        return chosen[by_row].astype(np.int64), values[by_row]

    def display_name(self, row: int, ui_language: str) -> str:
        """The title's name in ``ui_language`` when the catalog has one, else its catalog title."""
        return self.localized_names[row].get(ui_language) or self.names[row]

    @classmethod
    def from_frame(
        cls,
        titles: pd.DataFrame,
        features: TitleFeatures,
        *,
        servable_sources: Sequence[str] | None = ("netflix", "movielens"),
    ) -> RowCatalog:
        """Build from the catalog titles frame (``data.catalog.read_titles`` columns). Rows of ``titles`` are
        matched to ``features`` by ``title_id``; titles missing from the frame get empty metadata and are not
        servable. ``servable_sources``: titles with one of these sources are offered (None: every title)."""
        n = len(features)
        frame = titles.drop_duplicates("title_id").set_index("title_id").reindex(features.title_ids)
        present = frame.index.isin(titles["title_id"]) if len(titles) else np.zeros(n, bool)
        names = [str(x) if isinstance(x, str) else tid for x, tid in
                 zip(frame.get("title", pd.Series([None] * n)), features.title_ids, strict=True)]  # fmt: skip
        localized = []
        for cell in frame.get("localized_titles", pd.Series([None] * n)):
            localized.append({str(d["lang"]): str(d["title"]) for d in _lists(cell)
                              if isinstance(d, dict) and d.get("title") and d.get("lang") not in (None, "und")})  # fmt: skip
        is_show = (frame["type"] == "show").to_numpy(dtype=bool) if "type" in frame else np.zeros(n, bool)
        added = (pd.to_datetime(frame["date_added"], errors="coerce", utc=True) if "date_added" in frame
                 else pd.Series(pd.NaT, index=frame.index))  # fmt: skip
        added_at = np.array([t.timestamp() if not pd.isna(t) else np.nan for t in added], dtype=np.float64)

        content = features.languages > 0
        content = content.copy()
        for i, cell in enumerate(frame.get("countries", pd.Series([None] * n))):
            countries = _lists(cell)
            if countries and countries[0] in COUNTRY_LANGUAGES:
                content[i, language_slot(COUNTRY_LANGUAGES[countries[0]])] = True

        votes = pd.to_numeric(frame.get("vote_count", pd.Series(np.nan, index=frame.index)), errors="coerce")
        prior = popularity_prior(features.event_count, votes.to_numpy(dtype=np.float64), added_at)
        trending = (features.trend * (0.25 + prior)).astype(np.float32) * (features.event_count > 0)

        if servable_sources is None:
            servable = np.asarray(present, dtype=bool).copy()
        else:
            wanted = set(servable_sources)
            servable = np.array([bool(wanted.intersection(_lists(s))) for s in
                                 frame.get("sources", pd.Series([None] * n))], dtype=bool)  # fmt: skip
            servable &= np.asarray(present, dtype=bool)
        return cls(features=features, names=names, localized_names=localized, is_show=is_show, added_at=added_at,
                   content_languages=content, prior=prior, trending=trending, servable=servable,
                   details=_details(frame, np.asarray(present, dtype=bool)))  # fmt: skip


def _lists(cell: Any) -> list[Any]:
    """A list cell as a list; missing cells (None, NaN after a reindex) are empty."""
    return [] if cell is None or isinstance(cell, float) else as_lists(cell)


def _percentile(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Rank percentile in (0, 1] of ``values`` among ``mask`` (ties share their mean rank); 0 elsewhere."""
    out = np.zeros(len(values), dtype=np.float64)
    if mask.any():
        ranks = pd.Series(values[mask]).rank(method="average").to_numpy()
        out[mask] = ranks / mask.sum()
    return out


def popularity_prior(event_count: np.ndarray, vote_count: np.ndarray, added_at: np.ndarray) -> np.ndarray:
    """Cold-start popularity in [0, 1], (n,) float32: the best of the percentile of viewing events, the
    percentile of TMDB votes, and half the percentile of the date a title was added (a weak signal for
    catalog titles nobody has watched yet)."""
    events = np.asarray(event_count, dtype=np.float64)
    votes = np.nan_to_num(np.asarray(vote_count, dtype=np.float64), nan=0.0)
    added = np.asarray(added_at, dtype=np.float64)
    parts = [_percentile(events, events > 0), _percentile(votes, votes > 0),
             0.5 * _percentile(np.nan_to_num(added, nan=0.0), ~np.isnan(added))]  # fmt: skip
    return np.max(np.stack(parts), axis=0).astype(np.float32)


# --------------------------------------------------------------------------------------------- viewer


@dataclass(frozen=True)
class ViewerState:
    """One viewer's page-relevant state; built by :func:`viewer_state`."""

    profile: ProfileFeatures
    in_progress: np.ndarray  # (c,) int64 title rows started and not finished, most recent first
    progress: np.ndarray  # (c,) float32 fraction watched in [0, 1), NaN when unknown
    finished: np.ndarray  # (f,) int64 sorted title rows finished at least once
    seen: np.ndarray  # (s,) int64 sorted: every title in the history or liked at onboarding
    liked_genres: tuple[str, ...] = ()
    liked_titles: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (k,) onboarding rows

    @property
    def is_cold(self) -> bool:
        """No history and no onboarding input: the page falls back to popular, diverse rows."""
        return len(self.seen) == 0 and not self.liked_genres


def viewer_state(
    profile: ProfileFeatures,
    history: History | None,
    titles: TitleFeatures,
    *,
    liked_genres: Iterable[str] = (),
    liked_titles: Sequence[str] = (),
    finished_fraction: float = 0.95,
) -> ViewerState:
    """Derive in-progress and finished titles from the viewer's events, in time order.

    A title's *last* event decides whether it is in progress: ``play``/``progress`` start it (a
    ``progress`` with ``position_s >= finished_fraction * duration_s`` finishes it, when the history
    carries ``extra["position_s"]``/``extra["duration_s"]`` arrays); ``complete``/``rating`` finish it.
    Without a history, ``profile.history`` rows count as finished. Liked titles/genres are onboarding
    input (ids unknown to ``titles`` are ignored).
    """
    started_at: dict[int, tuple[float, float]] = {}  # row -> (last timestamp, progress fraction)
    finished: set[int] = set()
    if history is not None and len(history):
        rows = titles.rows(history.title_ids)
        positions = history.extra.get("position_s")
        durations = history.extra.get("duration_s")
        for i, (row, kind, ts) in enumerate(zip(rows, history.kinds, history.timestamps, strict=True)):
            if row < 0:
                continue
            row = int(row)
            fraction = math.nan
            if positions is not None and durations is not None:
                pos, dur = positions[i], durations[i]
                if pos is not None and dur is not None and np.isfinite(pos) and np.isfinite(dur) and dur > 0:
                    fraction = float(pos) / float(dur)
            if kind in FINISHED_KINDS or (kind in STARTED_KINDS and fraction >= finished_fraction):
                finished.add(row)
                started_at.pop(row, None)
            elif kind in STARTED_KINDS:
                started_at[row] = (float(ts), fraction)
        seen_rows = set(int(r) for r in rows if r >= 0)
    else:
        finished.update(int(r) for r in profile.history)
        seen_rows = set(finished)
    liked = titles.rows(list(liked_titles))
    liked = np.unique(liked[liked >= 0])
    seen_rows.update(int(r) for r in liked)
    order = sorted(started_at, key=lambda r: (-started_at[r][0], r))
    genres = tuple(dict.fromkeys(g for g in liked_genres if g in GENRES))
    return ViewerState(
        profile=profile,
        in_progress=np.array(order, dtype=np.int64),
        progress=np.array([started_at[r][1] for r in order], dtype=np.float32),
        finished=np.array(sorted(finished), dtype=np.int64),
        seen=np.array(sorted(seen_rows), dtype=np.int64),
        liked_genres=genres,
        liked_titles=liked.astype(np.int64),
    )  # fmt: skip


# --------------------------------------------------------------------------------------------- scorer


@dataclass(frozen=True)
class HeuristicScorer:
    """The fallback :class:`RowScorer` (no trained model needed): popularity + co-watch + content affinity.

    ``score = w_prior * prior + w_cowatch * cowatch / max(cowatch) + w_embedding * max(0, cos(history
    embedding, title)) + w_genre * genre_affinity . genres``. With an empty history only the prior is
    left: the cold-start "popular" ranking.
    """

    catalog: RowCatalog
    cowatch: CoWatchIndex | None = None
    w_prior: float = 0.5
    w_cowatch: float = 1.0
    w_embedding: float = 0.5
    w_genre: float = 0.3
    name: str = "heuristic"

    def score(self, profile: ProfileFeatures, title_rows: np.ndarray) -> np.ndarray:
        title_rows = np.asarray(title_rows, dtype=np.int64)
        features = self.catalog.features
        out = self.w_prior * self.catalog.prior[title_rows].astype(np.float64)
        if len(profile.history):
            co = self._cowatch(profile)
            if co is not None:
                out += co[title_rows]
            if float(np.abs(profile.history_embedding).sum()) > 0:
                cosine = features.embeddings[title_rows] @ profile.history_embedding
                out += self.w_embedding * np.clip(cosine, 0, 1)
            if profile.genre_affinity.sum() > 0:
                out += self.w_genre * (features.genres[title_rows] @ profile.genre_affinity)
        return out.astype(np.float32)

    def score_all(self, profile: ProfileFeatures) -> np.ndarray:
        """:meth:`score` of every title, (n,) float32, with the dense products over the servable subset only
        (the embedding term is 0 for titles outside it: they are never candidates)."""
        catalog = self.catalog
        subset = catalog.subset
        assert subset is not None
        out = self.w_prior * catalog.prior.astype(np.float64)
        if len(profile.history):
            co = self._cowatch(profile)
            if co is not None:
                out += co
            if float(np.abs(profile.history_embedding).sum()) > 0:
                cosine = np.clip(subset.embeddings @ profile.history_embedding.astype(np.float32), 0, 1)
                out += self.w_embedding * subset.scatter(cosine, len(catalog))
            if profile.genre_affinity.sum() > 0:
                out += self.w_genre * (catalog.features.genres @ profile.genre_affinity)
        return out.astype(np.float32)

    def _cowatch(self, profile: ProfileFeatures) -> np.ndarray | None:
        """``w_cowatch`` * co-watch scores scaled to max 1, (n,); None without a co-watch index or signal."""
        if self.cowatch is None or self.cowatch.n_titles != len(self.catalog):
            return None
        co = self.cowatch.scores(profile.history, profile.weights)
        top = float(co.max())
        return self.w_cowatch * co.astype(np.float64) / top if top > 0 else None


class RankerScorer:
    """The trained ranking model (:class:`ranking.model.TrainedRanker`) as a :class:`RowScorer`.

    Scores are **log play-probabilities**: ``log P(the viewer's next new title is this one)``, the log-softmax
    of the model's scores over every bound title the viewer has not watched (one scale for every title,
    with or without history; ``exp`` of a score is the probability an app may show). Watched titles get
    ``min(0, score - log normaliser)`` on the same scale. Titles outside the bound rows score -inf; the page
    treats non-finite scores as "below every scored title".
    """

    name = "marquee-ranker"
    log_probability = True
    """Scores are log play-probabilities (the page reports ``exp(score)`` as ``play_probability``)."""

    def __init__(self, ranker: TrainedRanker) -> None:
        self.ranker = ranker

    @property
    def profile_config(self) -> ProfileFeatureConfig | None:
        """The profile-feature settings the model was trained with (None when the manifest has none)."""
        from features import ProfileFeatureConfig

        raw = self.ranker.manifest.get("profile_feature_config")
        return ProfileFeatureConfig(**raw) if isinstance(raw, dict) else None

    def score(self, profile: ProfileFeatures, title_rows: np.ndarray) -> np.ndarray:
        return self.score_all(profile)[np.asarray(title_rows, dtype=np.int64)]

    def score_contexts(self, profile: ProfileFeatures, contexts: Sequence[RankingContext]) -> np.ndarray:
        """(k, n) log play-probabilities of every title of the bound ``TitleFeatures`` under each context
        (Because You Watched / similar with a source title), in one model call (:class:`ContextScorer`)."""
        return self.ranker.log_probability_rows(profile, contexts)

    def score_contexts_at(self, profile: ProfileFeatures, contexts: Sequence[RankingContext],
                          rows: Sequence[np.ndarray]) -> list[np.ndarray]:  # fmt: skip
        """Scores under each context for that context's ``rows`` only, (m_i,) float32 each, in the same order
        as :meth:`score_contexts` (the model's raw scores: a context's log-softmax only shifts them). The
        page orders its Because You Watched pools with it (:meth:`ranking.model.TrainedRanker.context_scores_at`:
        the profile's inputs once, the head on the pools only)."""
        at = getattr(self.ranker, "context_scores_at", None)
        if callable(at):
            return list(at(profile, contexts, rows))
        full = self.score_contexts(profile, contexts)
        return [full[i][np.asarray(r, dtype=np.int64)] for i, r in enumerate(rows)]

    def score_all(self, profile: ProfileFeatures) -> np.ndarray:
        """Log play-probabilities of every title of the bound ``TitleFeatures`` in one model call, (n,)
        float32 (-inf for rows outside the bound ones). The page uses it both to cut themes to pools and to
        rank them."""
        from ranking.model import log_probabilities

        ranker = self.ranker
        if ranker.titles is None:
            raise RuntimeError("RankerScorer.score_all before ranker.bind(titles)")
        top_picks = getattr(ranker, "top_picks_scores", None)  # keeps the profile's inputs for the BYW rows
        if callable(top_picks):
            one, one_seen = top_picks(profile)
            scores, seen = one[None], one_seen[None]
        else:
            scores, seen = ranker.scores_and_seen([profile])
        out = np.full(len(ranker.titles), -np.inf, dtype=np.float32)
        out[ranker.bound_rows] = log_probabilities(scores, seen)[0]
        return out


# --------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class RowConfig:
    """Knobs of :func:`candidate_rows` (documented defaults)."""

    pool_size: int = 300
    """The most titles a row's pool holds (the model scores the union of pools)."""
    top_picks_prior_weight: float = 1.0
    """Top Picks order = z(model) + lean x z(popularity prior), lean = this x clip((c - 0.5) / 0.5, 0, 1) where
    c is the share of the pool without interactions (0 while at most half of the pool is such titles)."""
    min_titles: int = 5
    """A row with fewer eligible titles than this (or than ``per_row``) is not offered."""
    max_because_rows: int = 5
    because_history: int = 20
    """Evidence titles for "Because You Watched" come from the last this many history titles."""
    max_genre_rows: int = 6
    min_genre_share: float = 0.08
    max_languages: int = 2
    min_language_share: float = 0.1
    new_arrival_days: float = 90.0
    rewatch_min: int = 5
    rewatch_utility: float = 0.25
    """Relevance multiplier of Watch It Again: rewatching is rarer than watching something new."""
    cold_genres: tuple[str, ...] = (
        "comedy",
        "action",
        "drama",
        "documentary",
        "family",
        "animation",
        "thriller",
    )
    """Genres offered to a brand-new viewer (the most popular of them for their maturity level win)."""
    young_genres: tuple[str, ...] = ("children", "family", "animation")
    """For a profile below the teens rung, a genre row holds titles carrying one of these when it has enough
    of them (a kids profile's Comedies are Shaun the Sheep, not a TV-G office comedy for adults), and the
    genres offered to a new young viewer are ranked by the popularity of such titles."""


@dataclass(frozen=True)
class CandidateRow:
    """A row before selection. ``pool``: (m,) int64 eligible title rows sorted ascending; ``theme``: (m,)
    float32 theme scores in [0, 1] (0 when belonging is yes/no)."""

    row_id: str
    kind: str
    reason: str  # a reason code of ranking.row_titles.REASONS
    pool: np.ndarray
    theme: np.ndarray
    theme_weight: float = 0.0  # order = z(model) + theme_weight * z(theme)
    params: dict[str, Any] = field(default_factory=dict)  # genre / language / title / share / days / count
    evidence: tuple[int, ...] = ()  # title rows that justify the row (Because You Watched)
    title_kind: str | None = None  # the row-title template when it differs from kind
    fixed_order: bool = False  # keep pool order (Continue Watching: most recent first)
    pinned: bool = False  # placed first, before stage-wise selection
    utility_factor: float = 1.0  # relevance multiplier (rewatch rows are discounted)
    promoted: bool = False  # placed right after the first selected row (the title the viewer just finished)


def _pool(mask: np.ndarray, key: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` titles of ``mask`` with the highest ``key`` (ties at the cut: lowest rows), sorted by row."""
    rows = np.flatnonzero(mask)
    if size <= 0:
        return np.zeros(0, dtype=np.int64)
    if len(rows) > size:
        values = key[rows]
        kth = np.partition(values, len(values) - size)[len(values) - size]  # the size-th largest value
        above = rows[values > kth]
        ties = rows[values == kth][: size - len(above)]
        rows = np.sort(np.concatenate([above, ties]))
    return rows.astype(np.int64)


def _scaled(values: np.ndarray) -> np.ndarray:
    top = float(values.max()) if len(values) else 0.0
    low = float(values.min()) if len(values) else 0.0
    return (
        ((values - low) / (top - low)).astype(np.float32) if top > low else np.zeros(len(values), np.float32)
    )


def candidate_rows(
    catalog: RowCatalog,
    viewer: ViewerState,
    *,
    retrieval: np.ndarray,
    cowatch: CoWatchIndex | None = None,
    config: RowConfig | None = None,
    min_titles: int | None = None,
) -> list[CandidateRow]:
    """Every candidate row for ``viewer``, each with its eligible pool.

    ``retrieval``: (n,) cheap personal scores (e.g. :class:`HeuristicScorer` over every title) used to cut
    large themes (Top Picks, a genre, a language) down to ``pool_size`` before the model scores them.
    ``min_titles`` overrides ``config.min_titles`` (the page passes ``min(min_titles, per_row)``).
    """
    config = config or RowConfig()
    need = config.min_titles if min_titles is None else min_titles
    features = catalog.features
    profile = viewer.profile
    allowed = catalog.servable & (features.maturity_level <= profile.maturity_level)
    young = _young_titles(catalog, profile.maturity_level, config)
    unseen = allowed.copy()
    unseen[viewer.seen] = False
    size = config.pool_size
    out: list[CandidateRow] = []

    def add(row: CandidateRow) -> None:
        if len(row.pool) >= need:
            out.append(row)

    # Continue Watching: started, not finished, allowed; most recent first
    if len(viewer.in_progress):
        keep = allowed[viewer.in_progress]
        rows = viewer.in_progress[keep][:size]
        recency = (
            np.linspace(1.0, 0.5, num=len(rows), dtype=np.float32) if len(rows) else np.zeros(0, np.float32)
        )
        if len(rows):
            out.append(CandidateRow("continue-watching", "continue_watching", "in_progress", rows, recency,
                                    params={"count": len(rows)}, fixed_order=True, pinned=True))  # fmt: skip

    # Top Picks: the model's best over the retrieval pool (not for a cold viewer). When most of the pool is
    # titles nobody has watched, the order leans on the popularity prior: the model knows such titles only by
    # their content, so among them it cannot tell a well-known title from an obscure one (a kids pool is ~90%
    # such titles, Netflix-only; an adult's almost none, and its order stays the model's)
    if not viewer.is_cold:  # with nothing known about the viewer, "top picks" would only repeat Popular
        rows = _pool(unseen, retrieval, size)
        cold_share = float((features.event_count[rows] == 0).mean()) if len(rows) else 0.0
        lean = config.top_picks_prior_weight * float(np.clip((cold_share - 0.5) / 0.5, 0.0, 1.0))
        add(CandidateRow("top-picks", "top_picks", "model_top", rows, _scaled(catalog.prior[rows]),
                         theme_weight=lean))  # fmt: skip

    # Because You Watched <title> (or Because You Like <title> at onboarding)
    because = 0
    started = {int(r) for r in viewer.in_progress}
    history = [int(r) for r in viewer.profile.history if int(r) not in started]  # finished, oldest first
    for row_ev, reason in _evidence_titles(viewer, config):
        if because >= config.max_because_rows:
            break
        rows, theme = catalog.similar_pool(row_ev, unseen, size, cowatch)
        # the title the viewer finished last (their newest event) is the freshest signal: its row is promoted,
        # so the next page reflects a new event at once
        fresh = because == 0 and len(history) > 0 and int(row_ev) == int(history[-1])
        because += len(rows) >= need
        add(CandidateRow(f"because-you-watched:{features.title_ids[row_ev]}", "because_you_watched", reason, rows,
                         _scaled(theme), theme_weight=1.0, evidence=(row_ev,), promoted=fresh))  # fmt: skip

    # Trending Now
    trending = catalog.trending
    rows = _pool(unseen & (trending > 0), trending, size)
    add(CandidateRow("trending", "trending", "trending", rows, _scaled(trending[rows]), theme_weight=0.5))

    # New Arrivals: added within the window before the newest addition, else the latest additions
    added = catalog.added_at
    has_date = ~np.isnan(added)
    if has_date.any():
        newest = float(np.nanmax(added))
        window = has_date & (
            np.nan_to_num(added, nan=-np.inf) >= newest - config.new_arrival_days * SECONDS_PER_DAY
        )
        recent = unseen & window
        reason = "recently_added"
        arrival: dict[str, Any] = {"days": int(config.new_arrival_days)}
        if recent.sum() < need:
            recent = unseen & has_date
            reason, arrival = "latest_added", {}
        key = np.nan_to_num(added, nan=-np.inf)
        rows = _pool(recent, key, size)
        add(CandidateRow("new-arrivals", "new_arrivals", reason, rows, _scaled(key[rows]), theme_weight=0.3,
                         params=arrival))  # fmt: skip

    # Popular: the prior (most useful to a cold viewer, offered to everyone)
    rows = _pool(unseen & (catalog.prior > 0), catalog.prior, size)
    add(CandidateRow("popular", "popular", "popular", rows, _scaled(catalog.prior[rows]), theme_weight=1.0))

    # Genre rows: the viewer's strongest genres, liked genres, or popular genres for a cold viewer
    offered = allowed if young is None else allowed & young
    for genre, reason, share in _genre_choices(catalog, viewer, offered, config):
        col = _genre_column(genre)
        mask = unseen & (features.genres[:, col] > 0)
        if young is not None and int((mask & young).sum()) >= need:
            mask &= young
        rows = _pool(mask, retrieval, size)
        params: dict[str, Any] = {"genre": genre}
        if share is not None:
            params["share"] = int(round(100 * share))
        add(
            CandidateRow(
                f"genre:{genre}", "genre", reason, rows, np.zeros(len(rows), np.float32), params=params
            )
        )

    # Language rows: preferred non-English languages, then languages the viewer watches a lot
    for language, reason in _language_choices(viewer, config):
        slot = LANGUAGES.index(language)
        for title_type, is_show in (("show", True), ("movie", False)):
            mask = unseen & catalog.content_languages[:, slot] & (catalog.is_show == is_show)
            rows = _pool(mask, retrieval, size)
            add(CandidateRow(f"language:{language}:{title_type}", "language", reason, rows,
                             np.zeros(len(rows), np.float32), params={"language": language},
                             title_kind=f"language_{title_type}"))  # fmt: skip

    # Watch It Again: the only row where finished titles may appear
    if len(viewer.finished) >= max(config.rewatch_min, need):
        fin = np.zeros(len(catalog), dtype=bool)
        fin[viewer.finished] = True
        fin[viewer.in_progress] = False
        rows = _pool(fin & allowed, retrieval, size)
        add(CandidateRow("rewatch", "rewatch", "rewatch", rows, np.zeros(len(rows), np.float32),
                         utility_factor=config.rewatch_utility))  # fmt: skip
    return out


def _young_titles(catalog: RowCatalog, maturity_level: int, config: RowConfig) -> np.ndarray | None:
    """(n,) titles carrying one of ``config.young_genres``, for a profile below the teens rung; else None."""
    if maturity_level >= MATURITY_LEVELS["teens"]:
        return None
    columns = [_genre_column(g) for g in config.young_genres if g in GENRES]
    return np.asarray(catalog.features.genres[:, columns].max(axis=1) > 0)


def _genre_column(genre: str) -> int:
    return GENRES.index(genre)


def _evidence_titles(viewer: ViewerState, config: RowConfig) -> list[tuple[int, str]]:
    """(title row, reason code) for "Because You Watched" rows: the most recent distinct FINISHED history
    titles first (a title still in progress is in Continue Watching; it is evidence only after them), then
    onboarding-liked titles."""
    out: list[tuple[int, str]] = []
    seen: set[int] = set()
    liked = {int(r) for r in viewer.liked_titles}
    history = viewer.profile.history[-config.because_history :][::-1]
    started = {int(r) for r in viewer.in_progress}
    finished_first = [r for r in history if int(r) not in started]
    for row in [*finished_first, *viewer.in_progress, *viewer.liked_titles]:
        if int(row) not in seen:
            seen.add(int(row))
            out.append((int(row), "similar_to_liked" if int(row) in liked else "similar_to_watched"))
    return out


def _genre_choices(
    catalog: RowCatalog, viewer: ViewerState, allowed: np.ndarray, config: RowConfig
) -> list[tuple[str, str, float | None]]:
    """(genre, reason code, share or None) in preference order, at most ``max_genre_rows``."""
    choices: list[tuple[str, str, float | None]] = [(g, "genre_liked", None) for g in viewer.liked_genres]
    affinity = viewer.profile.genre_affinity
    if affinity.sum() > 0:
        for col in np.lexsort((np.arange(len(affinity)), -affinity)):
            if affinity[col] >= config.min_genre_share:
                choices.append((GENRES[col], "genre_affinity", float(affinity[col])))
    if not choices:  # cold viewer: popular genres at their maturity level
        weight = catalog.features.genres[allowed].T @ catalog.prior[allowed]
        cold = [g for g in config.cold_genres if g in GENRES]
        cold.sort(key=lambda g: (-float(weight[GENRES.index(g)]), g))
        choices = [(g, "genre_explore", None) for g in cold]
    unique: dict[str, tuple[str, str, float | None]] = {}
    for choice in choices:
        unique.setdefault(choice[0], choice)
    return list(unique.values())[: config.max_genre_rows]


def _language_choices(viewer: ViewerState, config: RowConfig) -> list[tuple[str, str]]:
    """(language code, reason code) for language rows, at most ``max_languages``: the profile's preferred
    languages other than English first, then languages with a large share of the viewer's history."""
    out: dict[str, str] = {}
    for lang in viewer.profile.languages:
        code = LANGUAGES[language_slot(lang)]
        if code not in ("en", "other"):
            out.setdefault(code, "language_preferred")
    affinity = viewer.profile.language_affinity
    if affinity.sum() > 0:
        for col in np.lexsort((np.arange(len(affinity)), -affinity)):
            code = LANGUAGES[col]
            if affinity[col] >= config.min_language_share and code not in ("en", "other"):
                out.setdefault(code, "language_affinity")
    return list(out.items())[: config.max_languages]
