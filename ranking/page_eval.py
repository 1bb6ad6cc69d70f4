"""Offline page metric: how many of a viewer's future watches the home page shows, and how high.

Protocol (held-out viewers, "strong generalization"; the split itself comes from the ranking evaluation
so both evaluations see the same viewers): every non-held-out viewer's history plus the *fed* part (the
first 80% by time) of each held-out viewer builds the title features, popularity, co-watch and the ranker;
each held-out viewer's page is built from their fed history alone; their *future* (the last 20%) is what
the page should contain.

Systems compared on the same viewers, each with the same number of titles as that viewer's built page
(``N``, and ``N3`` = the titles in its first three rows):

* ``page`` — the built page (:func:`ranking.page.build_page`);
* ``model`` — the ranking model's own top ``N`` over every eligible title (Top Picks repeated);
* one ``row:<kind>`` system per single row generator (Because You Watched, genre, trending, popular …),
  its theme order repeated to ``N`` titles;
* ``popularity`` — the ``N`` most popular eligible titles.

Page health (:class:`PageHealth`, for the built page, the model's own list, the best single row and the
popularity page): share of slots filled by titles with no interactions, median popularity percentile of
the first row (Top Picks on the built page), intra-page diversity (1 - mean pairwise cosine of the genre
vectors; standard deviation of the years), catalog coverage over all viewers, share of slots above the
viewer's maturity level, and how often a Because You Watched row's evidence title is among the viewer's
last 20 titles. Run it for held-out, cold-start (no history) and kids viewers (``marquee eval page
--health``).

"Eligible" is the same for everyone: servable, at or below the viewer's maturity level, not in the fed
history. Per system: mean hits anywhere / in the first three rows (first ``N3`` titles of a flat list),
the same divided by the number of future titles (recall), and the share of viewers with at least one hit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data.events import History, Profile
from features import TitleFeatures, build_title_features, compute_profile_features
from ranking.page import PageBuilder, PageConfig, PageRequest, rank_candidates
from ranking.rows import RowConfig, RowScorer

__all__ = [
    "HeldOutViewer",
    "PageHealth",
    "PageEvalReport",
    "PageSystemResult",
    "ScorerFactory",
    "evaluate_pages",
    "format_table",
]

ScorerFactory = Callable[[TitleFeatures, pd.DataFrame], RowScorer | None]
"""(title features, training history frame) -> a trained ranker, or None for the fallback scorer."""

SINGLE_ROW_KINDS: tuple[str, ...] = ("because_you_watched", "genre", "trending", "popular")


@dataclass(frozen=True)
class HeldOutViewer:
    """One held-out viewer: ``fed`` (their first events, what the page may use) and ``future`` title ids."""

    profile_id: str
    fed: History
    future: frozenset[str]
    maturity: str = "adults"


@dataclass
class PageSystemResult:
    system: str
    titles: float = 0.0
    titles_top3: float = 0.0
    hits: float = 0.0
    hits_top3: float = 0.0
    recall: float = 0.0
    recall_top3: float = 0.0
    viewers_hit: float = 0.0
    viewers: int = 0


@dataclass
class PageHealth:
    """Product-owner figures of one system's pages (see the module docstring)."""

    system: str
    no_interactions: float = 0.0
    first_row_popularity_percentile: float = 0.0
    genre_diversity: float = 0.0
    year_spread: float = 0.0
    coverage: float = 0.0
    above_maturity: float = 0.0
    evidence_in_history: float | None = None


class _HealthTally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.slots = 0
        self.cold = 0
        self.above = 0
        self.first_row: list[float] = []
        self.genre: list[float] = []
        self.years: list[float] = []
        self.titles: set[int] = set()
        self.evidence: list[bool] = []

    def add(self, rows: np.ndarray, first_row: np.ndarray, features: TitleFeatures, percentile: np.ndarray,
            maturity_level: int) -> None:  # fmt: skip
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        self.slots += len(rows)
        self.cold += int((features.event_count[rows] == 0).sum())
        self.above += int((features.maturity_level[rows] > maturity_level).sum())
        self.first_row.extend(percentile[np.asarray(first_row, dtype=np.int64)].tolist())
        genres = features.genres[rows].astype(np.float64)
        norms = np.linalg.norm(genres, axis=1)
        unit = genres[norms > 0] / norms[norms > 0, None]
        if len(unit) > 1:
            cosine = unit @ unit.T
            m = len(unit)
            self.genre.append(1.0 - float((cosine.sum() - m) / (m * (m - 1))))
        years = features.year[rows]
        years = years[np.isfinite(years)]
        if len(years) > 1:
            self.years.append(float(years.std()))
        self.titles.update(rows.tolist())

    def result(self, servable: int) -> PageHealth:
        return PageHealth(
            system=self.name, no_interactions=round(self.cold / max(self.slots, 1), 4),
            first_row_popularity_percentile=round(float(np.median(self.first_row)) if self.first_row else 0.0, 4),
            genre_diversity=round(float(np.mean(self.genre)) if self.genre else 0.0, 4),
            year_spread=round(float(np.mean(self.years)) if self.years else 0.0, 2),
            coverage=round(len(self.titles) / max(servable, 1), 4), above_maturity=round(self.above / max(self.slots, 1), 4),
            evidence_in_history=round(float(np.mean(self.evidence)), 4) if self.evidence else None,
        )  # fmt: skip


@dataclass(frozen=True)
class PageEvalReport:
    viewers: int
    scorer: str
    request: dict[str, Any]
    servable_sources: tuple[str, ...] | None
    systems: list[PageSystemResult]
    best_single_row: str
    hits_by_row_kind: dict[str, float] = field(default_factory=dict)
    """Share of the built pages' hits that came from each row kind."""
    rows_by_kind: dict[str, float] = field(default_factory=dict)
    """Mean number of rows of each kind on a page."""
    health: list[PageHealth] = field(default_factory=list)

    def system(self, name: str) -> PageSystemResult:
        return next(s for s in self.systems if s.system == name)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["servable_sources"] = list(self.servable_sources) if self.servable_sources else None
        return out


class _Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.values: list[tuple[int, int, int, int, int]] = []  # titles, titles3, hits, hits3, future

    def add(self, titles: Sequence[str], top3: int, future: frozenset[str]) -> None:
        hits = sum(t in future for t in titles)
        hits3 = sum(t in future for t in titles[:top3])
        self.values.append((len(titles), top3, hits, hits3, len(future)))

    def result(self) -> PageSystemResult:
        arr = np.array(self.values, dtype=np.float64).reshape(-1, 5)
        if not len(arr):
            return PageSystemResult(self.name)
        future = np.maximum(arr[:, 4], 1.0)
        return PageSystemResult(
            system=self.name, titles=float(arr[:, 0].mean()), titles_top3=float(arr[:, 1].mean()),
            hits=float(arr[:, 2].mean()), hits_top3=float(arr[:, 3].mean()),
            recall=float((arr[:, 2] / future).mean()), recall_top3=float((arr[:, 3] / future).mean()),
            viewers_hit=float((arr[:, 2] > 0).mean()), viewers=len(arr),
        )  # fmt: skip


def _top(scores: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` rows with the highest scores, best first (ties: lower row first)."""
    order = np.lexsort((rows, -np.asarray(scores, dtype=np.float64)))
    return rows[order[:k]]


def evaluate_pages(
    titles: pd.DataFrame,
    train_events: pd.DataFrame,
    viewers: Sequence[HeldOutViewer],
    *,
    scorer_factory: ScorerFactory | None = None,
    embeddings: tuple[Sequence[str], np.ndarray] | None = None,
    request: PageRequest | None = None,
    config: PageConfig | None = None,
    servable_sources: tuple[str, ...] | None = ("movielens",),
    single_rows: Sequence[str] = SINGLE_ROW_KINDS,
    progress: Callable[[int, int], None] | None = None,
) -> PageEvalReport:
    """Run the page metric (see the module docstring). ``train_events``: the training viewers' events
    (``profile_id``, ``title_id``, ``timestamp``, ``kind``); the held-out viewers' fed events are added
    here. ``servable_sources`` defaults to MovieLens: the only titles a held-out viewer's future can hold."""
    request = (request or PageRequest(rows=10, per_row=20)).validate()
    config = config or PageConfig()
    fed = [pd.DataFrame({"profile_id": v.profile_id, "title_id": v.fed.title_ids, "timestamp": v.fed.timestamps,
                         "kind": v.fed.kinds}) for v in viewers if len(v.fed)]  # fmt: skip
    columns = ["profile_id", "title_id", "timestamp", "kind"]
    history = pd.concat([train_events[columns], *[f[columns] for f in fed]], ignore_index=True)
    features = build_title_features(titles, history, embeddings=embeddings)
    scorer = scorer_factory(features, history) if scorer_factory is not None else None
    builder = PageBuilder.build(titles, features, history, scorer=scorer, config=config,
                                servable_sources=servable_sources)  # fmt: skip
    model = builder.active_scorer
    catalog = builder.catalog
    tallies = {
        name: _Tally(name) for name in ("page", "model", *[f"row:{k}" for k in single_rows], "popularity")
    }
    health = {name: _HealthTally(name) for name in tallies}
    servable_rows = np.flatnonzero(catalog.servable)
    percentile = np.zeros(len(features))
    percentile[servable_rows] = pd.Series(catalog.prior[servable_rows]).rank(pct=True).to_numpy()
    kind_hits: dict[str, int] = {}
    kind_rows: dict[str, int] = {}
    profile_config = getattr(scorer, "profile_config", None)  # the ranker's own feature settings
    score_all = callable(getattr(model, "score_all", None))
    for done, viewer in enumerate(viewers, start=1):
        owner = Profile(viewer.profile_id, viewer.maturity)
        profile = compute_profile_features(viewer.fed, features, profile=owner, config=profile_config)
        state = builder.viewer(profile, viewer.fed)
        page = builder.page(state, request)
        page_ids = page.title_ids()
        n_titles = len(page_ids)
        top3 = sum(len(r.items) for r in page.rows[:3])
        tallies["page"].add(page_ids, top3, viewer.future)
        page_rows = np.array([i.row for r in page.rows for i in r.items], dtype=np.int64)
        first = next((r for r in page.rows if r.kind == "top_picks"), page.rows[0] if page.rows else None)
        first_rows = np.array([i.row for i in first.items], dtype=np.int64) if first else np.zeros(0, np.int64)
        health["page"].add(page_rows, first_rows, features, percentile, profile.maturity_level)
        recent = set(viewer.fed.title_ids[-20:])
        health["page"].evidence.extend(r.reason.evidence_title_id in recent for r in page.rows
                                       if r.kind == "because_you_watched" and r.reason.evidence_title_id)  # fmt: skip
        for row in page.rows:
            kind_rows[row.kind] = kind_rows.get(row.kind, 0) + 1
            kind_hits[row.kind] = kind_hits.get(row.kind, 0) + sum(
                i.title_id in viewer.future for i in row.items
            )

        eligible = catalog.servable & (features.maturity_level <= profile.maturity_level)
        eligible[state.seen] = False
        rows = np.flatnonzero(eligible)
        ids = features.title_ids
        model_scores = model.score_all(profile)[rows] if score_all else model.score(profile, rows)  # type: ignore[attr-defined]
        model_top = _top(model_scores, rows, n_titles)
        popular_top = _top(catalog.prior[rows], rows, n_titles)
        tallies["model"].add([ids[r] for r in model_top], top3, viewer.future)
        tallies["popularity"].add([ids[r] for r in popular_top], top3, viewer.future)
        for name, chosen_rows in (("model", model_top), ("popularity", popular_top)):
            health[name].add(chosen_rows, chosen_rows[: request.per_row], features, percentile, profile.maturity_level)
        if single_rows:
            wide = PageConfig(rows=RowConfig(**{**asdict(config.rows), "pool_size": max(n_titles, config.rows.pool_size),
                                                "min_titles": 1}),  # fmt: skip
                              rank_scale=config.rank_scale)  # fmt: skip
            ranked = rank_candidates(catalog, state, model, request, cowatch=builder.cowatch,
                                     retrieval=None if score_all else builder.fallback, config=wide)  # fmt: skip
            for kind in single_rows:
                order = next(
                    (o for r, o in zip(ranked.rows, ranked.orders, strict=True) if r.kind == kind), None
                )
                chosen = [] if order is None else [ids[r] for r in order[:n_titles]]
                tallies[f"row:{kind}"].add(chosen, top3, viewer.future)
                if order is not None:
                    health[f"row:{kind}"].add(order[:n_titles], order[: request.per_row], features, percentile,
                                              profile.maturity_level)  # fmt: skip
        if progress is not None:
            progress(done, len(viewers))

    systems = [t.result() for t in tallies.values()]
    singles = [s for s in systems if s.system == "model" or s.system.startswith("row:")]
    best = max(singles, key=lambda s: (s.hits, s.hits_top3)).system if singles else "model"
    total_hits = sum(kind_hits.values()) or 1
    return PageEvalReport(
        viewers=len(viewers), scorer=str(getattr(model, "name", type(model).__name__)),
        request={"rows": request.rows, "per_row": request.per_row}, servable_sources=servable_sources,
        systems=systems, best_single_row=best,
        hits_by_row_kind={k: round(v / total_hits, 4) for k, v in sorted(kind_hits.items())},
        rows_by_kind={k: round(v / max(len(viewers), 1), 3) for k, v in sorted(kind_rows.items())},
        health=[h.result(len(servable_rows)) for h in health.values()],
    )  # fmt: skip


def format_table(report: PageEvalReport) -> str:
    """The side-by-side table (Markdown): built page, best single row model repeated, popularity page."""
    headline = ["page", report.best_single_row, "popularity"]
    others = [s.system for s in report.systems if s.system not in headline]
    lines = [
        f"{report.viewers} held-out viewers, {report.request['rows']} rows x {report.request['per_row']} titles, "
        f"scorer {report.scorer}, servable {report.servable_sources}",
        "",
        "| system | titles | hits anywhere | hits in first 3 rows | recall anywhere | recall first 3 rows | viewers with a hit |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in [*headline, *others]:
        s = report.system(name)
        label = f"{name} (best single row)" if name == report.best_single_row else name
        lines.append(f"| {label} | {s.titles:.1f} | {s.hits:.3f} | {s.hits_top3:.3f} | {s.recall:.4f} | "
                     f"{s.recall_top3:.4f} | {s.viewers_hit:.3f} |")  # fmt: skip
    return "\n".join(lines)


def format_health(report: PageEvalReport, group: str) -> str:
    """The page health table (Markdown) of one viewer group: built page, best single row, popularity page."""
    by_name = {h.system: h for h in report.health}
    lines = [
        f"{group}: {report.viewers} viewers, scorer {report.scorer}, servable {report.servable_sources}",
        "",
        "| system | slots without interactions | first-row popularity percentile (median) | genre diversity | "
        "year spread (std) | catalog coverage | above maturity | evidence in last 20 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("page", report.best_single_row, "popularity"):
        h = by_name.get(name)
        if h is None:
            continue
        evidence = "-" if h.evidence_in_history is None else f"{h.evidence_in_history:.3f}"
        lines.append(f"| {name} | {h.no_interactions:.3f} | {h.first_row_popularity_percentile:.3f} | "
                     f"{h.genre_diversity:.3f} | {h.year_spread:.1f} | {h.coverage:.4f} | {h.above_maturity:.3f} | "
                     f"{evidence} |")  # fmt: skip
    return "\n".join(lines)
