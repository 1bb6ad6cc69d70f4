"""The personalized home page: candidate rows, ranked by the model, chosen stage by stage.

Shapes: ``n`` titles (rows of ``features.TitleFeatures``), ``k`` titles in the union of the candidate
pools, ``R`` rows requested, ``K`` titles per row.

How a page is built (:func:`build_page`):

1. **Candidates.** :func:`ranking.rows.candidate_rows` proposes every row that fits the viewer
   (Continue Watching, Top Picks, Because You Watched <title>, Trending Now, New Arrivals, Popular,
   genre rows, language rows, Watch It Again), each with a pool of eligible titles: servable, at or
   below the profile's maturity level, and never watched (finished titles only in Watch It Again,
   started ones only in Continue Watching).
2. **One model call.** The ranking model (a :class:`ranking.rows.RowScorer`) scores the union of the
   pools once. Each row is ordered within its theme by ``z(model score) + theme_weight * z(theme
   score)`` (z-scores over the row's pool; theme_weight is 0 for yes/no themes such as a genre, 1 for
   similarity to the evidence title; with the unified model, a Because You Watched row is ordered by its
   BYW task with the evidence title as context instead). Every title also gets a page-wide *utility*
   ``1 / (1 + rank / rank_scale)`` from its model rank among the unwatched candidates (watched titles,
   offered only by Continue Watching and Watch It Again, are ranked among themselves).
3. **Stage-wise selection.** Continue Watching is pinned first when present. Then, for each next
   slot, every remaining candidate row is re-materialised given the rows already placed (titles on
   the page are removed, so no title appears twice) and valued as
   ``relevance - redundancy_weight * redundancy - kind_repeat_penalty * (rows of the same kind)``,
   where relevance is the position-discounted mean utility of its first ``K`` titles (discount
   ``1 / log2(position + 2)``, missing titles count 0, times the row's utility factor) and redundancy is
   the largest cosine between the row's content centroid (mean title embedding ⊕ mean genre vector)
   and the centroids of rows already placed. The best row is placed; rows with fewer than
   ``min(min_titles, K)`` titles left are dropped. The Because You Watched row of the title the viewer
   finished last (their newest event) is *promoted*: placed right after the first selected row, so the
   next page reflects a new event at once.

Determinism: every sort is stable with title row / candidate order as the tie-break, so the same
state and request give the same page. **Exploration** (documented, off by default): with
``PageRequest.exploration = e > 0`` each candidate's model score gets ``e * std(scores) * g`` where
``g`` is Gumbel noise from a generator seeded by ``(profile_id, request seed, profile last_seq)``;
sorting noisy scores is a Gumbel-top-k sample from ``softmax(score / (e * std))``, so a larger ``e``
explores more, and the same seed reproduces the same page.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from data.events import History, Profile
from features import ProfileFeatures, TitleFeatures, compute_profile_features
from ranking.row_titles import reason_text, resolve_ui_language, row_title
from ranking.rows import (
    CandidateRow,
    HeuristicScorer,
    RowCatalog,
    RowConfig,
    RowScorer,
    TileInfo,
    ViewerState,
    candidate_rows,
    viewer_state,
)
from ranking.similar import CoWatchIndex, title_similarity

__all__ = [
    "DEFAULT_PER_ROW",
    "DEFAULT_ROWS",
    "MAX_PER_ROW",
    "MAX_ROWS",
    "InvalidPageRequestError",
    "Page",
    "PageBuilder",
    "PageConfig",
    "PageError",
    "PageItem",
    "PageRequest",
    "PageRow",
    "RankedCandidates",
    "RowReason",
    "SimilarTitle",
    "UnknownTitleError",
    "build_page",
    "rank_candidates",
    "similar_titles",
]

MAX_ROWS = 30
MAX_PER_ROW = 50
VIEWER_CACHE = 4096
"""Viewer states kept by :meth:`PageBuilder.cached_viewer` (least recently used dropped)."""
DEFAULT_ROWS = 10
DEFAULT_PER_ROW = 20
MAX_SIMILAR = 100


class PageError(ValueError):
    """Base class of page-builder errors."""


class InvalidPageRequestError(PageError):
    """A request parameter is outside its bounds (the message names value and bounds)."""


class UnknownTitleError(PageError):
    """A title id is not in the catalog the pages are built from."""

    def __init__(self, title_id: str) -> None:
        super().__init__(f"title_id={title_id!r}: unknown title; expected a catalog title id like 'tmdb:603'")
        self.title_id = title_id


@dataclass(frozen=True)
class PageConfig:
    """Knobs of :func:`build_page` (see the module docstring for what each does)."""

    rows: RowConfig = field(default_factory=RowConfig)
    rank_scale: float = 300.0
    redundancy_weight: float = 0.6
    kind_repeat_penalty: float = 0.03
    # rank_scale and redundancy_weight: chosen by `marquee eval page --tune` on 100 validation viewers carved
    # from the training side of the ranking evaluation's split (never its held-out viewers), with the trained
    # ranker and the title embeddings, over rank_scale {50, 150, 300} x redundancy_weight {0.3, 0.6}
    # (without embeddings 0.3 came out marginally ahead; the gap is within noise either way)
    pin_continue_watching: bool = True


@dataclass(frozen=True)
class PageRequest:
    """What the app asks for. ``ui_language`` None = the profile's UI language; ``exploration`` in [0, 1]."""

    rows: int = DEFAULT_ROWS
    per_row: int = DEFAULT_PER_ROW
    ui_language: str | None = None
    exploration: float = 0.0
    seed: int = 0

    def validate(self) -> PageRequest:
        problems = []
        if not isinstance(self.rows, int) or not 1 <= self.rows <= MAX_ROWS:
            problems.append(f"rows={self.rows!r}: expected an integer in [1, {MAX_ROWS}]")
        if not isinstance(self.per_row, int) or not 1 <= self.per_row <= MAX_PER_ROW:
            problems.append(f"per_row={self.per_row!r}: expected an integer in [1, {MAX_PER_ROW}]")
        if not 0.0 <= float(self.exploration) <= 1.0:
            problems.append(f"exploration={self.exploration!r}: expected a number in [0, 1]")
        if problems:
            raise InvalidPageRequestError("; ".join(problems))
        return self


@dataclass(frozen=True)
class PageItem:
    title_id: str
    name: str  # in the UI language when the catalog has it
    score: float  # the ranking model's score (the row order may blend in the theme, see module doc)
    row: int  # title row in TitleFeatures (internal; not serialised by the API)
    progress: float | None = None  # Continue Watching: fraction watched when known
    tile: TileInfo = field(default_factory=TileInfo)  # type, year, maturity, genres, length, description
    reason: str = ""  # why the title is here, in words in the UI language (the row's reason)
    play_probability: float | None = None  # P(next new title = this one) when the scorer gives probabilities


@dataclass(frozen=True)
class RowReason:
    code: str  # a key of ranking.row_titles.REASONS
    text: str  # in the UI language
    evidence_title_id: str | None = None
    stage: int = 0  # 0 = pinned, else the selection stage that placed the row
    relevance: float = 0.0
    redundancy: float = 0.0


@dataclass(frozen=True)
class PageRow:
    row_id: str
    kind: str
    title: str
    reason: RowReason
    items: list[PageItem]


@dataclass(frozen=True)
class Page:
    profile_id: str
    ui_language: str
    rows: list[PageRow]
    cold_start: bool
    scorer: str
    exploration: float = 0.0
    candidates: int = 0  # candidate rows considered

    def title_ids(self) -> list[str]:
        """Every title on the page, row by row."""
        return [item.title_id for row in self.rows for item in row.items]


@dataclass(frozen=True)
class SimilarTitle:
    title_id: str
    name: str
    score: float  # similarity (blended with the model when personalised)
    similarity: float
    tile: TileInfo = field(default_factory=TileInfo)
    reason: str = ""  # "Similar to <title>" in the UI language
    play_probability: float | None = None  # when personalised by a probability scorer


def _seed(profile_id: str, seed: int, last_seq: int) -> int:
    digest = hashlib.blake2b(f"{profile_id}|{seed}|{last_seq}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _zscore(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return np.zeros(len(values))
    std = float(values.std())
    return (values - values.mean()) / std if std > 1e-12 else np.zeros(len(values))


def _scores_all(scorer: Any) -> bool:
    return callable(getattr(scorer, "score_all", None))


def _is_log_probability(scorer: Any) -> bool:
    return bool(getattr(scorer, "log_probability", False))


def _scorer_name(scorer: Any) -> str:
    return str(getattr(scorer, "name", type(scorer).__name__))


def _model_scores(
    scorer: RowScorer,
    profile: ProfileFeatures,
    rows: np.ndarray,
    request: PageRequest,
    known: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores as returned, scores used for ordering — with exploration noise when asked). ``known``: (n,)
    scores of every title already computed by this scorer (the fallback doubles as the retriever)."""
    scores = known[rows] if known is not None else scorer.score(profile, rows)
    raw = np.asarray(scores, dtype=np.float64).reshape(-1)
    if raw.shape != rows.shape:
        raise PageError(
            f"scorer returned {raw.shape[0]} scores for {len(rows)} titles; expected one per title"
        )
    finite = np.isfinite(raw)
    if not finite.all():  # unscorable titles (e.g. outside the ranker's bound rows): below every scored one
        low = float(raw[finite].min()) if finite.any() else 0.0
        spread = float(raw[finite].std()) if finite.sum() > 1 else 1.0
        raw = np.where(finite, raw, low - max(spread, 1e-6))
    used = raw
    if request.exploration > 0 and len(raw):
        rng = np.random.default_rng(_seed(profile.profile_id, request.seed, profile.last_seq))
        spread = float(raw.std()) or 1.0
        used = raw + request.exploration * spread * rng.gumbel(size=len(raw))
    return raw, used


def _centroid(catalog: RowCatalog, items: np.ndarray) -> np.ndarray:
    """Content centroid of a row: unit mean embedding ⊕ unit mean genre vector, renormalised."""
    features = catalog.features
    has = features.has_embedding[items]
    parts = []
    if has.any():
        emb = features.embeddings[items[has]].mean(axis=0)
        norm = float(np.linalg.norm(emb))
        parts.append(emb / norm if norm > 1e-12 else np.zeros_like(emb))
    else:
        parts.append(np.zeros(features.dim, dtype=np.float32))
    genre = features.genres[items].mean(axis=0)
    norm = float(np.linalg.norm(genre))
    parts.append(genre / norm if norm > 1e-12 else genre)
    out = np.concatenate(parts).astype(np.float64)
    norm = float(np.linalg.norm(out))
    return out / norm if norm > 1e-12 else out


@dataclass
class _Candidate:
    row: CandidateRow
    order: np.ndarray  # (m,) title rows in row order
    position: int  # candidate index: the deterministic tie-break


@dataclass(frozen=True)
class RankedCandidates:
    """Steps 1-2 of a page: every candidate row ordered within its theme, and the page-wide utilities.

    ``union`` (k,) title rows scored by the model; ``raw`` (k,) their scores as returned, ``used`` (k,) with
    exploration noise; ``slot`` (n,) position of a title in ``union`` (-1 when absent); ``utility`` (k,)."""

    rows: list[CandidateRow]
    orders: list[np.ndarray]
    union: np.ndarray
    raw: np.ndarray
    used: np.ndarray
    slot: np.ndarray
    utility: np.ndarray
    retrieval: np.ndarray  # (n,) cheap scores that cut the large themes


def rank_candidates(
    catalog: RowCatalog,
    viewer: ViewerState,
    scorer: RowScorer,
    request: PageRequest,
    *,
    cowatch: CoWatchIndex | None = None,
    retrieval: RowScorer | None = None,
    config: PageConfig | None = None,
) -> RankedCandidates:
    """Generate the candidate rows, score their union once with ``scorer`` and order each row."""
    config = config or PageConfig()
    profile = viewer.profile
    n = len(catalog)
    need = max(1, min(config.rows.min_titles, request.per_row))
    if retrieval is None:  # a scorer that scores the whole catalog in one call is its own retriever
        retrieval = scorer if _scores_all(scorer) else HeuristicScorer(catalog, cowatch)
    retriever = retrieval
    score_all = getattr(retriever, "score_all", None)
    cheap = np.asarray(score_all(profile) if callable(score_all) else retriever.score(profile, np.arange(n)),
                       dtype=np.float64)  # fmt: skip
    if len(cheap) != n:
        raise PageError(f"retrieval scored {len(cheap)} titles; expected the catalog's {n}")
    candidates = candidate_rows(catalog, viewer, retrieval=cheap, cowatch=cowatch, config=config.rows,
                                min_titles=need)  # fmt: skip
    union = np.unique(np.concatenate([c.pool for c in candidates])) if candidates else np.zeros(0, np.int64)
    raw, used = _model_scores(scorer, profile, union, request, cheap if scorer is retriever else None)
    # Because You Watched rows: ordered by the unified model's BYW task with the evidence title as context
    # (one model call for every such row) when the scorer has it (:class:`ranking.rows.ContextScorer`)
    # (scores aligned with each row's pool; only the pools are scored when the scorer can, score_contexts_at)
    because = [i for i, c in enumerate(candidates) if c.kind == "because_you_watched" and c.evidence]
    contextual = getattr(scorer, "score_contexts", None)
    contextual_at = getattr(scorer, "score_contexts_at", None)
    in_context: dict[int, np.ndarray] = {}
    if (callable(contextual) or callable(contextual_at)) and because:
        from ranking.model import RankingContext

        contexts = [RankingContext.because_you_watched(candidates[i].evidence[0]) for i in because]
        if callable(contextual_at):
            at = contextual_at(profile, contexts, [candidates[i].pool for i in because])
        else:
            assert callable(contextual)
            full = contextual(profile, contexts)
            at = [full[k][candidates[i].pool] for k, i in enumerate(because)]
        in_context = {i: np.asarray(at[k], dtype=np.float64) for k, i in enumerate(because)}
    slot = np.full(n, -1, dtype=np.int64)
    slot[union] = np.arange(len(union))
    # utility ranks: unwatched candidates among themselves; watched ones (Continue Watching, Watch It Again)
    # among themselves, so a rewatch row's worth is its utility factor times its own ranking, never the
    # model's (high) scores of titles like the ones the viewer already watched
    rank = np.empty(len(union), dtype=np.float64)
    watched = np.isin(union, viewer.seen)
    for group in (~watched, watched):
        members = np.flatnonzero(group)
        rank[members[np.lexsort((union[members], -used[members]))]] = np.arange(len(members))
    utility = 1.0 / (1.0 + rank / config.rank_scale)
    orders = []
    for index, row in enumerate(candidates):
        if row.fixed_order:
            orders.append(row.pool)
        elif index in in_context:
            orders.append(row.pool[np.lexsort((row.pool, -in_context[index]))])
        else:
            key = _zscore(used[slot[row.pool]]) + row.theme_weight * _zscore(row.theme)
            orders.append(row.pool[np.argsort(-key, kind="stable")])
    return RankedCandidates(candidates, orders, union, raw, used, slot, utility, cheap)


def build_page(
    catalog: RowCatalog,
    viewer: ViewerState,
    scorer: RowScorer,
    request: PageRequest | None = None,
    *,
    cowatch: CoWatchIndex | None = None,
    retrieval: RowScorer | None = None,
    config: PageConfig | None = None,
) -> Page:
    """Build one viewer's page (see the module docstring). ``retrieval`` (default: the heuristic scorer)
    cuts large themes down to their pool; ``scorer`` orders and selects. Pure and deterministic."""
    request = (request or PageRequest()).validate()
    config = config or PageConfig()
    profile = viewer.profile
    ui = resolve_ui_language(request.ui_language, profile.ui_language)
    n = len(catalog)
    need = max(1, min(config.rows.min_titles, request.per_row))
    ranked = rank_candidates(
        catalog, viewer, scorer, request, cowatch=cowatch, retrieval=retrieval, config=config
    )
    candidates, raw, slot, utility = ranked.rows, ranked.raw, ranked.slot, ranked.utility
    ordered = [_Candidate(row, order, position)
               for position, (row, order) in enumerate(zip(ranked.rows, ranked.orders, strict=True))]  # fmt: skip

    discount = 1.0 / np.log2(np.arange(request.per_row) + 2.0)
    on_page = np.zeros(n, dtype=bool)
    placed: list[PageRow] = []
    centroids: list[np.ndarray] = []
    kinds: dict[str, int] = {}
    cache: dict[tuple[int, bytes], np.ndarray] = {}

    def centroid(cand: _Candidate, items: np.ndarray) -> np.ndarray:
        key = (cand.position, items.tobytes())
        if key not in cache:
            cache[key] = _centroid(catalog, items)
        return cache[key]

    def place(cand: _Candidate, items: np.ndarray, stage: int, relevance: float, redundancy: float) -> None:
        on_page[items] = True
        centroids.append(centroid(cand, items))
        kinds[cand.row.kind] = kinds.get(cand.row.kind, 0) + 1
        placed.append(_materialise(catalog, viewer, cand.row, items, raw[slot[items]], ui, stage, relevance,
                                   redundancy, probabilities=_is_log_probability(scorer)))  # fmt: skip

    remaining = ordered
    if config.pin_continue_watching:
        for cand in [c for c in ordered if c.row.pinned]:
            if len(placed) < request.rows:
                place(cand, cand.order[: request.per_row], 0, 0.0, 0.0)
        remaining = [c for c in ordered if not c.row.pinned]

    stage = 0
    while len(placed) < request.rows and remaining:
        stage += 1
        best: tuple[float, int, _Candidate, np.ndarray, float, float] | None = None
        survivors = []
        placed_centroids = np.stack(centroids) if centroids else None  # (rows placed, d): once per stage
        for cand in remaining:
            items = cand.order[~on_page[cand.order]][: request.per_row]
            if len(items) < need:
                continue  # dropped for good: it only loses titles as the page fills
            survivors.append(cand)
            relevance = (
                cand.row.utility_factor
                * float(utility[slot[items]] @ discount[: len(items)])
                / float(discount.sum())
            )
            redundancy = (float((placed_centroids @ centroid(cand, items)).max())
                          if placed_centroids is not None else 0.0)  # fmt: skip
            value = (relevance - config.redundancy_weight * redundancy
                     - config.kind_repeat_penalty * kinds.get(cand.row.kind, 0))  # fmt: skip
            if best is None or value > best[0]:
                best = (value, cand.position, cand, items, relevance, redundancy)
        if best is None:
            break
        _, _, chosen, items, relevance, redundancy = best
        place(chosen, items, stage, relevance, redundancy)
        remaining = [c for c in survivors if c is not chosen]
        promoted = [c for c in remaining if c.row.promoted]
        for cand in promoted:  # the row of the title just finished goes right after the first chosen row
            items = cand.order[~on_page[cand.order]][: request.per_row]
            if len(items) >= need and len(placed) < request.rows:
                stage += 1
                place(cand, items, stage, 0.0, 0.0)
        remaining = [c for c in remaining if not c.row.promoted]

    return Page(profile_id=profile.profile_id, ui_language=ui, rows=placed, cold_start=viewer.is_cold,
                scorer=_scorer_name(scorer), exploration=float(request.exploration),
                candidates=len(candidates))  # fmt: skip


def _materialise(
    catalog: RowCatalog,
    viewer: ViewerState,
    cand: CandidateRow,
    items: np.ndarray,
    scores: np.ndarray,
    ui: str,
    stage: int,
    relevance: float,
    redundancy: float,
    *,
    probabilities: bool = False,
) -> PageRow:
    params = dict(cand.params)
    evidence_id = None
    if cand.evidence:
        params["title"] = catalog.display_name(cand.evidence[0], ui)
        evidence_id = catalog.features.title_ids[cand.evidence[0]]
    progress: dict[int, float] = {}
    if cand.kind == "continue_watching":
        progress = {
            int(r): float(p)
            for r, p in zip(viewer.in_progress, viewer.progress, strict=True)
            if np.isfinite(p)
        }
    title = row_title(cand.title_kind or cand.kind, ui, **params)
    reason = RowReason(code=cand.reason, text=reason_text(cand.reason, ui, **params), evidence_title_id=evidence_id,
                       stage=stage, relevance=round(relevance, 6), redundancy=round(redundancy, 6))  # fmt: skip
    page_items = [PageItem(catalog.features.title_ids[r], catalog.display_name(int(r), ui), float(s), int(r),
                           progress.get(int(r)), tile=catalog.tile(int(r), ui), reason=reason.text,
                           play_probability=float(np.exp(s)) if probabilities and np.isfinite(s) else None)
                  for r, s in zip(items, scores, strict=True)]  # fmt: skip
    return PageRow(row_id=cand.row_id, kind=cand.kind, title=title, reason=reason, items=page_items)


def similar_titles(
    catalog: RowCatalog,
    title_id: str,
    *,
    limit: int = 20,
    viewer: ViewerState | None = None,
    scorer: RowScorer | None = None,
    cowatch: CoWatchIndex | None = None,
    personal_weight: float = 0.5,
    ui_language: str | None = None,
    pool_size: int = 300,
) -> list[SimilarTitle]:
    """More like ``title_id``. With a scorer that has the unified model's tasks (``score_contexts``): the
    ``pool_size`` most similar eligible servable titles ordered by ``z(similarity) + z(SIMILAR task score)``
    (source = ``title_id``; the viewer's history as the profile, or none), ``score`` = the task's log
    play-probability; otherwise the most similar titles
    (:func:`ranking.similar.title_similarity`). ``similarity`` is the title-similarity value in both cases.

    With a ``viewer`` the list respects their maturity level and leaves out what they watched; with a
    ``scorer`` too, it is personalised: ``score = z(similarity) + personal_weight * z(model score)`` over the
    ``pool_size`` most similar titles. Raises :class:`UnknownTitleError` / :class:`InvalidPageRequestError`.
    """
    if not isinstance(limit, int) or not 1 <= limit <= MAX_SIMILAR:
        raise InvalidPageRequestError(f"limit={limit!r}: expected an integer in [1, {MAX_SIMILAR}]")
    features = catalog.features
    row = features.index.get(title_id)
    if row is None:
        raise UnknownTitleError(title_id)
    mask = catalog.servable.copy()
    mask[row] = False
    ui = resolve_ui_language(ui_language, viewer.profile.ui_language if viewer else None)
    if viewer is not None:
        mask &= features.maturity_level <= viewer.profile.maturity_level
        mask[viewer.seen] = False
    sim = title_similarity(features, np.array([row]), cowatch=cowatch, subset=catalog.subset).astype(
        np.float64
    )
    contextual = getattr(scorer, "score_contexts", None)
    if callable(contextual):  # the unified model's SIMILAR task ranks every eligible servable title
        from ranking.model import RankingContext

        profile = viewer.profile if viewer is not None else _anonymous(features)
        model_all = np.asarray(contextual(profile, [RankingContext.similar(row)])[0], dtype=np.float64)
        # only among the ``pool_size`` most similar titles: over the whole catalog the task put Shawshank and
        # Return of the Jedi first for Toy Story (popular, not similar) — "more like this" must stay like it
        similar_pool = np.flatnonzero(mask & (sim > 0))
        similar_pool = similar_pool[np.lexsort((similar_pool, -sim[similar_pool]))][:pool_size]
        in_pool = np.zeros(len(mask), dtype=bool)
        in_pool[similar_pool] = True
        eligible = np.flatnonzero(in_pool & np.isfinite(model_all))
        # order by z(similarity) + z(SIMILAR task) over the pool: the task alone ranks what the source's
        # viewers also watched (Toy Story -> Forrest Gump, Shawshank first); the similarity keeps it "like this"
        order_key = _zscore(sim[eligible]) + _zscore(model_all[eligible])
        best = eligible[np.lexsort((eligible, -order_key))][:limit]
        reason = reason_text("similar_to_title", ui, title=catalog.display_name(row, ui))
        return [SimilarTitle(features.title_ids[r], catalog.display_name(int(r), ui), float(model_all[r]),
                             float(sim[r]), tile=catalog.tile(int(r), ui), reason=reason,
                             play_probability=float(np.exp(model_all[r])))
                for r in best]  # fmt: skip
    candidates = np.flatnonzero(mask & (sim > 0))
    candidates = candidates[np.lexsort((candidates, -sim[candidates]))][:pool_size]
    key = sim[candidates]
    model_in_order = np.full(len(candidates), np.nan)
    if viewer is not None and scorer is not None and len(candidates):
        model = np.asarray(scorer.score(viewer.profile, np.sort(candidates)), dtype=np.float64)
        by_row = dict(zip(np.sort(candidates).tolist(), model.tolist(), strict=True))
        model_in_order = np.array([by_row[int(r)] for r in candidates])
        finite = np.where(np.isfinite(model_in_order), model_in_order,
                          np.nanmin(np.where(np.isfinite(model_in_order), model_in_order, np.nan)) - 1.0
                          if np.isfinite(model_in_order).any() else 0.0)  # fmt: skip
        key = _zscore(sim[candidates]) + personal_weight * _zscore(finite)
    order = np.argsort(-key, kind="stable")[:limit]
    probability = scorer is not None and viewer is not None and _is_log_probability(scorer)
    reason = reason_text("similar_to_title", ui, title=catalog.display_name(row, ui))
    return [SimilarTitle(features.title_ids[candidates[i]], catalog.display_name(int(candidates[i]), ui),
                         float(key[i]), float(sim[candidates[i]]), tile=catalog.tile(int(candidates[i]), ui),
                         reason=reason,
                         play_probability=float(np.exp(model_in_order[i]))
                         if probability and np.isfinite(model_in_order[i]) else None)
            for i in order]  # fmt: skip


@dataclass
class PageBuilder:
    """Everything a service needs to build pages, built once: row catalog, co-watch index, the ranker.

    ``scorer`` None = the :class:`ranking.rows.HeuristicScorer` fallback (popularity + co-watch + content),
    so pages work before a ranking model is trained.
    """

    catalog: RowCatalog
    cowatch: CoWatchIndex | None = None
    scorer: RowScorer | None = None
    config: PageConfig = field(default_factory=PageConfig)

    def __post_init__(self) -> None:
        self.fallback = HeuristicScorer(self.catalog, self.cowatch)
        self._viewers: OrderedDict[str, tuple[ProfileFeatures, ViewerState]] = OrderedDict()
        self._viewer_lock = threading.Lock()

    @classmethod
    def build(
        cls,
        titles: pd.DataFrame,
        features: TitleFeatures,
        history: pd.DataFrame | None = None,
        *,
        scorer: RowScorer | None = None,
        config: PageConfig | None = None,
        servable_sources: tuple[str, ...] | None = ("netflix", "movielens"),
    ) -> PageBuilder:
        """From the catalog titles frame, the title features and a history frame (for co-watch)."""
        catalog = RowCatalog.from_frame(titles, features, servable_sources=servable_sources)
        cowatch = CoWatchIndex.from_frame(history, features) if history is not None and len(history) else None
        return cls(catalog, cowatch, scorer, config or PageConfig())

    @property
    def active_scorer(self) -> RowScorer:
        return self.scorer if self.scorer is not None else self.fallback

    def viewer(
        self,
        profile: ProfileFeatures,
        history: History | None,
        *,
        liked_genres: Sequence[str] = (),
        liked_titles: Sequence[str] = (),
    ) -> ViewerState:
        """The viewer state; onboarding ``liked_titles`` are appended to the history the model reads."""
        features = self.catalog.features
        liked = [t for t in liked_titles if t in features.index]
        if liked:
            base = history or History(profile.profile_id, [], np.zeros(0), [], profile.last_seq)
            last = float(base.timestamps[-1]) if len(base) else 0.0
            merged = History(profile.profile_id, [*base.title_ids, *liked],
                             np.concatenate([base.timestamps, np.full(len(liked), last)]),
                             [*base.kinds, *(["onboarding"] * len(liked))], base.last_seq, dict(base.extra))  # fmt: skip
            profile = replace(compute_profile_features(merged, features, profile=_as_profile(profile)),
                              last_seq=profile.last_seq)  # fmt: skip
        return viewer_state(profile, history, features, liked_genres=liked_genres, liked_titles=liked)

    def cached_viewer(self, profile: ProfileFeatures, history: Callable[[], History | None]) -> ViewerState:
        """:meth:`viewer` without onboarding input, kept per profile id while ``profile`` is the same object:
        the service's feature store hands out one ``ProfileFeatures`` per (profile, last event) and a new one
        after the next event or a settings change, so a kept state is never stale. ``history`` is only called
        on a miss (it reads the event store)."""
        with self._viewer_lock:
            kept = self._viewers.get(profile.profile_id)
        if kept is not None and kept[0] is profile:
            return kept[1]
        state = self.viewer(profile, history())
        with self._viewer_lock:
            self._viewers[profile.profile_id] = (profile, state)
            self._viewers.move_to_end(profile.profile_id)
            while len(self._viewers) > VIEWER_CACHE:
                self._viewers.popitem(last=False)
        return state

    def page(self, viewer: ViewerState, request: PageRequest | None = None) -> Page:
        scorer = self.active_scorer
        return build_page(self.catalog, viewer, scorer, request, cowatch=self.cowatch,
                          retrieval=None if _scores_all(scorer) else self.fallback, config=self.config)  # fmt: skip

    def similar(self, title_id: str, *, limit: int = 20, viewer: ViewerState | None = None,
                ui_language: str | None = None) -> list[SimilarTitle]:  # fmt: skip
        scorer: RowScorer | None = self.active_scorer
        if viewer is None and not callable(getattr(scorer, "score_contexts", None)):
            scorer = None  # only the unified model has something to say without a viewer
        return similar_titles(self.catalog, title_id, limit=limit, viewer=viewer, scorer=scorer,
                              cowatch=self.cowatch, ui_language=ui_language)  # fmt: skip


def _anonymous(titles: TitleFeatures) -> ProfileFeatures:
    """The features of a viewer with no history (``similar`` without a profile)."""
    return compute_profile_features(History("anonymous", [], np.zeros(0), []), titles)


def _as_profile(features: ProfileFeatures) -> Profile:
    from data.normalize import MATURITY_LEVELS

    maturity = {v: k for k, v in MATURITY_LEVELS.items()}[int(features.maturity_level)]
    return Profile(
        features.profile_id, maturity, tuple(features.languages), features.ui_language, features.country
    )
