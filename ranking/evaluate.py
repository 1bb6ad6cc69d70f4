"""Offline evaluation: the Marquee ranker against most-popular, item-kNN, EASE and ALS on one split.

Everything ranks ALL universe titles (no sampled negatives), fed titles excluded. Metrics per user,
then averaged: Recall@k = hits in the top k ÷ min(k, held items) (the DATA-NOTES convention),
NDCG@10 with binary gains, catalog coverage@10 = share of universe titles in at least one top-10.

Two protocols on the same held-out users and the same trained models:

* **MovieLens-only** (``systems``): every system ranks the MovieLens titles seen in training (the
  "universe"), as in DATA-NOTES protocol 1.
* **Served path** (``served_path``): what the API does — the ranker is bound to every title the page
  serves (``servable_sources``: Netflix and MovieLens titles together, 17,617 in the default catalog, most
  of them with no interactions at all) and ranks them all; a held-out future watch counts wherever it
  maps (the unified catalog gives a MovieLens title matched to Netflix one id). Baselines that can only
  score titles with interactions (EASE, ALS, item-kNN) rank the rest below everything; ``popular`` ranks
  them by the catalog popularity prior (TMDB votes). The report adds the calibration of the ranker's
  play probabilities (:func:`calibration`).

* **Unified model, per task** (``unified``, :func:`unified_eval`): the one model
  (``ranking.model.Task``) against each task's own baseline on the same held-out users — Top Picks on the
  served path (unified vs the Top-Picks-only ranker trained the same way with ``tasks=("top_picks",)``
  vs EASE); Because You Watched (source = the viewer's newest fed title, relevant = their held-out
  future) and ``similar`` (anonymous; source = a seeded random title of the viewer, relevant = every
  other title that viewer watched: "titles watched by viewers who watched the source"), co-watch
  Recall@10 of the unified model vs content-only similarity, the served ``similar`` blend and item-kNN,
  ranking every servable title; search re-ranking MRR on the ambiguous-query protocol of
  :func:`personalized_search_eval` (popularity order → the Top-Picks blend → the unified search task).
  Each task's play probabilities are checked for calibration against that task's training target
  (``calibration_because_you_watched``: the held-out future inside the source's BYW pool;
  ``calibration_similar``: the viewer's other titles; search ``calibration_unified``: the softmax over the
  query's results, the future watches among them; Top Picks: ``top_picks.calibration_unified``).

Baseline hyper-parameters are tuned on a validation split carved from the TRAINING users
(``held_out_users_split(train_events, seed=seed + 1)``); the test users are touched once.

Shapes: ``u`` users, ``n`` universe titles.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from data.catalog import as_lists
from features.profiles import ProfileFeatureConfig, compute_profile_features
from features.titles import TitleFeatures
from ranking.baselines import ALS, EASE, ItemKNN, MostPopular, Recommender, binary_matrix
from ranking.model import RankingContext
from ranking.personalize import blend
from ranking.splits import EvalUser, HeldOutSplit, held_out_users_split
from ranking.train import TrainConfig, served_rows, train_ranker

__all__ = ["EvalConfig", "calibration", "evaluate_ranking", "ranking_metrics", "served_path_eval", "unified_eval",
           "user_metrics"]

SYSTEMS = ("marquee", "ease", "als", "itemknn", "popular")


@dataclass(frozen=True)
class EvalConfig:
    n_test: int = 120
    seed: int = 0
    fraction: float = 0.8
    n_validation: int = 100
    tune: bool = True
    ease_lambdas: tuple[float, ...] = (50.0, 200.0, 500.0)
    knn_neighbors: tuple[int, ...] = (50, 200)
    als_grid: tuple[tuple[int, float, float], ...] = ((64, 0.05, 10.0), (128, 0.1, 5.0), (128, 0.5, 20.0))
    search_queries_per_user: int = 5
    search_min_results: int = 20
    servable_sources: tuple[str, ...] = ("netflix", "movielens")
    """The served scope of the served-path protocol (the page's default)."""
    byw_pool: int = 300
    """A Because You Watched row's pool (the source's most similar titles, ``TrainConfig.source_pool``): the
    BYW calibration's observed plays are the held-out future inside it (the task's training target)."""
    unified: bool = True
    """Also train the Top-Picks-only ranker and report the unified model per task (``unified``)."""


def user_metrics(scores: np.ndarray, seen: Sequence[np.ndarray], held: Sequence[np.ndarray],
                 ks: tuple[int, ...] = (10, 20)) -> dict[str, np.ndarray]:  # fmt: skip
    """Per-user metrics (each (u,)) for ``scores`` (u, n); ``seen``/``held`` hold column indices."""
    top_k = max(ks)
    u, n = scores.shape
    out: dict[str, list[float]] = {f"recall@{k}": [] for k in ks}
    out["ndcg@10"] = []
    discounts = 1.0 / np.log2(np.arange(2, top_k + 2))
    tops = []
    for i in range(u):
        s = np.array(scores[i], dtype=np.float64, copy=True)
        s[np.asarray(seen[i], dtype=np.int64)] = -np.inf
        k = min(top_k, n)
        top = np.argpartition(-s, k - 1)[:k] if k < n else np.arange(n)
        top = top[np.argsort(-s[top], kind="stable")][:top_k]
        tops.append(top[:10])
        target = set(np.asarray(held[i]).tolist())
        hit = np.array([t in target for t in top], dtype=np.float64)
        for kk in ks:
            out[f"recall@{kk}"].append(hit[:kk].sum() / max(1, min(kk, len(target))))
        ideal = discounts[: min(10, len(target))].sum()
        out["ndcg@10"].append(float((hit[:10] * discounts[: len(hit[:10])]).sum() / ideal) if ideal > 0 else 0.0)
    result = {k: np.array(v) for k, v in out.items()}
    result["_top10"] = np.concatenate(tops) if tops else np.zeros(0, dtype=np.int64)
    return result


def ranking_metrics(scores: np.ndarray, seen: Sequence[np.ndarray], held: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean Recall@10, Recall@20, NDCG@10 and coverage@10 (see module docstring)."""
    per = user_metrics(scores, seen, held)
    out = {k: round(float(v.mean()), 4) for k, v in per.items() if not k.startswith("_")}
    out["coverage@10"] = round(len(np.unique(per["_top10"])) / scores.shape[1], 4)
    return out


# --------------------------------------------------------------------------------------- helpers


@dataclass
class _Prepared:
    split: HeldOutSplit
    column: dict[str, int]
    fed_cols: list[np.ndarray]
    held_cols: list[np.ndarray]
    train_matrix: Any


def _prepare(split: HeldOutSplit) -> _Prepared:
    column = {t: i for i, t in enumerate(split.universe)}
    train = split.train_events
    rows_by_user = train.groupby("profile_id", sort=True)["title_id"].agg(list)
    train_matrix = binary_matrix([np.array([column[t] for t in ts], dtype=np.int64) for ts in rows_by_user],
                                 len(column))  # fmt: skip
    fed = [np.array(sorted({column[t] for t in u.fed.title_ids if t in column}), dtype=np.int64) for u in split.users]
    held = [np.array([column[t] for t in u.held], dtype=np.int64) for u in split.users]
    return _Prepared(split, column, fed, held, train_matrix)


def _baseline_factories(config: EvalConfig) -> dict[str, list[tuple[dict[str, Any], Callable[[], Recommender]]]]:
    from functools import partial

    return {
        "popular": [({}, MostPopular)],
        "itemknn": [({"neighbors": k}, partial(ItemKNN, neighbors=k)) for k in config.knn_neighbors],
        "ease": [({"lambda": lam}, partial(EASE, lam)) for lam in config.ease_lambdas],
        "als": [({"factors": f, "regularization": r, "alpha": a},
                 partial(ALS, factors=f, regularization=r, alpha=a, seed=config.seed))
                for f, r, a in config.als_grid],
    }  # fmt: skip


def _tune(prepared: _Prepared, config: EvalConfig, say: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Pick each baseline's parameters by NDCG@10 on the validation users."""
    chosen: dict[str, dict[str, Any]] = {}
    for name, options in _baseline_factories(config).items():
        best: tuple[float, int] | None = None
        trials = []
        for i, (params, factory) in enumerate(options):
            if len(options) == 1 or not config.tune:
                break
            say(f"tuning {name} {params}")
            scores = factory().fit(prepared.train_matrix).score(binary_matrix(prepared.fed_cols, len(prepared.column)))
            m = ranking_metrics(scores, prepared.fed_cols, prepared.held_cols)
            trials.append({"params": params, **m})
            if best is None or m["ndcg@10"] > best[0]:
                best = (m["ndcg@10"], i)
        index = best[1] if best is not None else (1 if name == "ease" and len(options) > 1 else 0)
        chosen[name] = {"index": index, "params": options[index][0], "validation": trials}
    return chosen


def _profiles(users: Sequence[EvalUser], titles: TitleFeatures, config: ProfileFeatureConfig) -> list[Any]:
    return [compute_profile_features(u.fed, titles, config=config) for u in users]


# --------------------------------------------------------------------------------------- the run


def evaluate_ranking(
    events: pd.DataFrame,
    titles: pd.DataFrame,
    *,
    embeddings: tuple[Sequence[str], np.ndarray] | None = None,
    config: EvalConfig | None = None,
    train_config: TrainConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the whole evaluation and return the JSON-ready report (see ``marquee eval ranking``).

    ``events``: MovieLens-style history (profile_id, title_id, timestamp); ``titles``: catalog titles.
    """
    config = config or EvalConfig()
    train_config = train_config or TrainConfig(seed=config.seed)
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    events = events.sort_values(["profile_id", "timestamp"], kind="stable").reset_index(drop=True)
    # user order = order of first appearance in the ratings file (userId ascending)
    events = events.iloc[np.argsort(events["profile_id"].map(_numeric_suffix).to_numpy(), kind="stable")]
    split = held_out_users_split(events, n_test=config.n_test, seed=config.seed, fraction=config.fraction)
    prepared = _prepare(split)
    n = len(prepared.column)
    fed_matrix = binary_matrix(prepared.fed_cols, n)

    # 1. tune baselines on validation users carved from the training users
    validation = held_out_users_split(split.train_events, n_test=min(config.n_validation, len(split.users)),
                                      seed=config.seed + 1, fraction=config.fraction)  # fmt: skip
    chosen = _tune(_prepare(validation), config, say)

    # 2. baselines on the test users
    systems: dict[str, dict[str, Any]] = {}
    per_user: dict[str, dict[str, list[float]]] = {}
    factories = _baseline_factories(config)
    scores_by_system: dict[str, np.ndarray] = {}
    for name in ("popular", "itemknn", "ease", "als"):
        params, factory = factories[name][chosen[name]["index"]]
        say(f"fitting {name} {params}")
        t0 = time.perf_counter()
        scores = factory().fit(prepared.train_matrix).score(fed_matrix)
        seconds = time.perf_counter() - t0
        scores_by_system[name] = scores
        systems[name] = {**ranking_metrics(scores, prepared.fed_cols, prepared.held_cols), "params": params,
                         "fit_seconds": round(seconds, 1), "validation": chosen[name]["validation"]}  # fmt: skip
        per_user[name] = _per_user(scores, prepared)

    # 3. the Marquee ranker, trained on the same training users only
    say("training the marquee ranker")
    result = train_ranker(split.train_events, titles, embeddings=embeddings, config=train_config,
                          progress=lambda stage, step, total, loss: say(f"{stage} {step}/{total} loss={loss:.4f}"))  # fmt: skip
    ranker = result.ranker
    universe_rows = result.titles.rows(split.universe)
    ranker.bind(result.titles, universe_rows)
    profile_config = ProfileFeatureConfig(**ranker.manifest["profile_feature_config"])
    profiles = _profiles(split.users, result.titles, profile_config)
    ours = np.concatenate([ranker.score(profiles[i : i + 64], mask_seen=False) for i in range(0, len(profiles), 64)])
    scores_by_system["marquee"] = ours
    systems["marquee"] = {**ranking_metrics(ours, prepared.fed_cols, prepared.held_cols),
                          "train_seconds": round(result.seconds, 1),
                          "train_cpu_seconds": ranker.manifest["train_cpu_seconds"], "validation": result.validation,
                          "embeddings_used": ranker.manifest["embeddings_used"]}  # fmt: skip
    per_user["marquee"] = _per_user(ours, prepared)

    report: dict[str, Any] = {
        "split": split.description,
        "validation_split": {**validation.description, "note": "carved from the training users; used to tune baselines"},
        "systems": {name: systems[name] for name in SYSTEMS},
        "embeddings_used": ranker.manifest["embeddings_used"],
        "titles_with_embedding": ranker.manifest["titles_with_embedding"],
        "training_seconds": round(result.seconds, 1),
        "ratios": {
            "marquee_vs_ease_ndcg@10": _ratio(systems["marquee"]["ndcg@10"], systems["ease"]["ndcg@10"]),
            "marquee_vs_ease_recall@20": _ratio(systems["marquee"]["recall@20"], systems["ease"]["recall@20"]),
        },
        "paired_bootstrap": {f"marquee_minus_{name}": _paired(per_user["marquee"], per_user[name], config.seed)
                             for name in ("ease", "als", "itemknn", "popular")},
        "per_user": {"history_length": [len(u.fed) for u in split.users], "metrics": per_user},
    }  # fmt: skip
    say("served path")
    report["served_path"] = served_path_eval(split, prepared, ranker, result.titles, titles, profiles,
                                             scores_by_system, config)  # fmt: skip
    say("cold-start titles")
    report["cold_start_titles"] = cold_start_eval(split, prepared, ranker, result.titles, profiles, ours, config)
    say("personalized search")
    report["personalized_search"] = personalized_search_eval(split, prepared, ours, result.titles, titles, config)
    if config.unified:
        say("training the Top-Picks-only ranker (task-specific baseline)")
        single = train_ranker(split.train_events, titles, embeddings=embeddings,
                              config=replace(train_config, tasks=("top_picks",)), towers_from=ranker,
                              progress=lambda stage, step, total, loss: say(f"top-picks-only {stage} {step}/{total}"))  # fmt: skip
        say("unified model, per task")
        report["unified"] = unified_eval(split, prepared, ranker, single.ranker, result.titles, titles, profiles,
                                         scores_by_system, chosen, config)  # fmt: skip
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _numeric_suffix(profile_id: str) -> float:
    tail = str(profile_id).rsplit(":", 1)[-1]
    return float(tail) if tail.isdigit() else float("inf")


def _ratio(a: float, b: float) -> float:
    return round(a / b, 4) if b else float("nan")


def _paired(ours: dict[str, list[float]], theirs: dict[str, list[float]], seed: int,
            rounds: int = 2000) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Mean per-user difference and its 95% bootstrap interval (users resampled, same users both sides)."""
    rng = np.random.default_rng(seed)
    out = {}
    for metric in ("ndcg@10", "recall@20"):
        diff = np.asarray(ours[metric]) - np.asarray(theirs[metric])
        if len(diff) == 0:
            continue
        means = diff[rng.integers(0, len(diff), size=(rounds, len(diff)))].mean(axis=1)
        out[metric] = {"mean": round(float(diff.mean()), 4),
                       "ci95": [round(float(x), 4) for x in np.percentile(means, [2.5, 97.5])],
                       "wins": int((diff > 0).sum()), "losses": int((diff < 0).sum())}  # fmt: skip
    return out


def _per_user(scores: np.ndarray, prepared: _Prepared) -> dict[str, list[float]]:
    per = user_metrics(scores, prepared.fed_cols, prepared.held_cols)
    return {k: [round(float(x), 4) for x in v] for k, v in per.items() if not k.startswith("_")}


# ---------------------------------------------------------------------------- served path


def calibration(log_probs: np.ndarray, held: Sequence[np.ndarray], seen: Sequence[np.ndarray], *,
                top: int = 100, bins: int = 10) -> dict[str, Any]:  # fmt: skip
    """Calibration of play probabilities ``exp(log_probs)`` (u, n) against the training target: the chance
    that a title drawn at random from the viewer's future (``held``) is this one, i.e. ``1/|held|`` for a held
    title, 0 otherwise. Over each viewer's ``top`` most probable unseen titles, in ``bins`` equal-count bins
    of predicted probability: ECE = sum over bins of (share of pairs) * |mean predicted - mean observed|;
    also the ratio of total predicted to total observed mass in the top 10 and top ``top``, and the
    reliability curve (``[mean predicted, mean observed]`` per bin, least probable first). Rows of
    ``log_probs`` may be padded with -inf (e.g. result lists of different lengths)."""
    predicted, observed, rank = [], [], []
    for i in range(len(log_probs)):
        lp = np.array(log_probs[i], dtype=np.float64, copy=True)
        lp[np.asarray(seen[i], dtype=np.int64)] = -np.inf
        k = min(top, int(np.isfinite(lp).sum()))
        if k == 0 or len(held[i]) == 0:
            continue
        best = np.argpartition(-lp, k - 1)[:k]
        best = best[np.argsort(-lp[best], kind="stable")]
        target = set(np.asarray(held[i]).tolist())
        predicted.append(np.exp(lp[best]))
        observed.append(np.array([1.0 / len(target) if t in target else 0.0 for t in best]))
        rank.append(np.arange(k))
    if not predicted:
        return {}
    p, y, r = np.concatenate(predicted), np.concatenate(observed), np.concatenate(rank)
    order = np.argsort(p, kind="stable")
    ece = 0.0
    reliability = []
    for chunk in np.array_split(order, bins):
        if len(chunk):
            ece += len(chunk) / len(p) * abs(float(p[chunk].mean()) - float(y[chunk].mean()))
            reliability.append([round(float(p[chunk].mean()), 6), round(float(y[chunk].mean()), 6)])
    in10 = r < 10
    return {"ece": round(ece, 5), "mean_predicted": round(float(p.mean()), 5), "mean_observed": round(float(y.mean()), 5),
            "predicted_over_observed@10": _ratio(float(p[in10].sum()), float(y[in10].sum())),
            f"predicted_over_observed@{top}": _ratio(float(p.sum()), float(y.sum())), "pairs": int(len(p)),
            "reliability": reliability}  # fmt: skip


def _temperature(ranker: Any, task: str) -> float:
    """The ranker's fitted temperature for ``task`` (1 for a ranker without one)."""
    temperatures = getattr(ranker, "temperatures", None)
    return float(temperatures.get(task, 1.0)) if isinstance(temperatures, dict) else 1.0


def served_path_eval(split: HeldOutSplit, prepared: _Prepared, ranker: Any, title_features: TitleFeatures,
                     titles: pd.DataFrame, profiles: Sequence[Any], universe_scores: dict[str, np.ndarray],
                     config: EvalConfig) -> dict[str, Any]:  # fmt: skip
    """The served-path protocol (module docstring): every system ranks every servable title."""
    from ranking.model import log_probabilities

    served_rows = _served_rows(split, title_features, titles, config)
    universe_rows = title_features.rows(split.universe)
    position = np.full(len(title_features), -1, dtype=np.int64)
    position[served_rows] = np.arange(len(served_rows))
    to_served = position[universe_rows]  # universe column -> served column
    fed = [to_served[c] for c in prepared.fed_cols]
    held = [to_served[c] for c in prepared.held_cols]
    n = len(served_rows)

    ranker.bind(title_features, served_rows)
    raw, seen_masks = [], []
    for i in range(0, len(profiles), 64):
        scores, seen = ranker.scores_and_seen(profiles[i : i + 64])
        raw.append(scores)
        seen_masks.append(seen)
    ranker.bind(title_features, universe_rows)
    ours = np.concatenate(raw)
    systems: dict[str, dict[str, Any]] = {"marquee": ranking_metrics(ours, fed, held)}
    prior = title_features.catalog_prior[served_rows].astype(np.float64)
    for name in ("ease", "als", "itemknn", "popular"):
        scores = np.full((len(profiles), n), -np.inf, dtype=np.float32)
        if name == "popular":  # titles without interactions by the catalog prior, below every watched one
            scores[:] = (prior - 2.0)[None, :]
        scores[:, to_served] = universe_scores[name]
        systems[name] = ranking_metrics(scores, fed, held)
    cold = title_features.event_count[served_rows] == 0
    tops = [np.argsort(-np.where(np.isin(np.arange(n), f), -np.inf, s), kind="stable")[:10] for s, f in zip(ours, fed, strict=True)]
    log_probs = log_probabilities(ours, np.concatenate(seen_masks))
    return {
        "servable_sources": list(config.servable_sources), "served_titles": int(n),
        "titles_without_interactions": int(cold.sum()),
        "systems": {name: systems[name] for name in SYSTEMS},
        "ratios": {f"marquee_vs_{name}_ndcg@10": _ratio(systems["marquee"]["ndcg@10"], systems[name]["ndcg@10"])
                   for name in ("ease", "als", "itemknn", "popular")},
        "marquee_top10_without_interactions": round(float(np.mean([cold[t].mean() for t in tops])), 4),
        "calibration": calibration(log_probs, held, fed),
        # the same scores before the per-task temperature (Top Picks T undone; the order is the same)
        "calibration_uncalibrated": calibration(
            log_probabilities(ours * np.float32(_temperature(ranker, "top_picks")), np.concatenate(seen_masks)),
            held, fed),
        "temperature_top_picks": _temperature(ranker, "top_picks"),
        "score_range": [round(float(ours.min()), 3), round(float(ours.max()), 3)],
    }  # fmt: skip


# ---------------------------------------------------------------------------- cold-start titles


def cold_start_eval(split: HeldOutSplit, prepared: _Prepared, ranker: Any, title_features: TitleFeatures,
                    profiles: Sequence[Any], warm_scores: np.ndarray, config: EvalConfig,
                    fraction: float = 0.1) -> dict[str, Any]:  # fmt: skip
    """How well brand-new titles are ranked: a seeded ``fraction`` of the titles that test users
    watch later is re-bound AS NEW (no learned id, no item-item row, no events: what a title added
    after training looks like), and each user's held titles among them are ranked within that set
    ("new arrivals" row). Compared with the same titles known to the model (warm), the profile's
    genre affinity, content similarity of the history embedding, and random order."""
    rng = np.random.default_rng(config.seed + 2)
    held_titles = np.unique(np.concatenate(prepared.held_cols)) if prepared.held_cols else np.zeros(0, dtype=np.int64)
    size = min(len(held_titles), max(10, int(round(fraction * len(held_titles)))))
    if size < 2:
        return {}
    cold = np.sort(rng.choice(held_titles, size=size, replace=False))
    universe_rows = title_features.rows(split.universe)
    ranker.bind(title_features, universe_rows, as_new=[split.universe[c] for c in cold])
    as_new = np.concatenate([ranker.score(profiles[i : i + 64], mask_seen=False) for i in range(0, len(profiles), 64)])
    ranker.bind(title_features, universe_rows)
    rows = universe_rows[cold]
    genres = title_features.genres[rows] / np.maximum(title_features.genres[rows].sum(1, keepdims=True), 1)
    systems = {
        "marquee_as_new": as_new[:, cold],
        "marquee_warm": warm_scores[:, cold],
        "genre_affinity": np.stack([p.genre_affinity for p in profiles]) @ genres.T,
        "content_similarity": np.stack([p.history_embedding for p in profiles]) @ title_features.embeddings[rows].T,
        "random": rng.random((len(profiles), len(cold))),
    }
    position = {int(c): i for i, c in enumerate(cold)}
    users = [i for i, h in enumerate(prepared.held_cols) if any(int(c) in position for c in h)]
    seen = [np.array([position[int(c)] for c in prepared.fed_cols[i] if int(c) in position], dtype=np.int64) for i in users]
    held = [np.array([position[int(c)] for c in prepared.held_cols[i] if int(c) in position], dtype=np.int64) for i in users]
    out = {name: ranking_metrics(np.asarray(scores, dtype=np.float32)[users], seen, held)
           for name, scores in systems.items()}  # fmt: skip
    return {"new_titles": int(size), "users": len(users), "embeddings_used": bool(title_features.has_embedding[rows].any()),
            "systems": out,
            "note": "held titles ranked within the set of titles made new; metrics as in 'systems'"}  # fmt: skip


# ---------------------------------------------------------------------------- personalized search


def personalized_search_eval(split: HeldOutSplit, prepared: _Prepared, personal_scores: np.ndarray,
                             title_features: TitleFeatures, titles: pd.DataFrame, config: EvalConfig,
                             weights: Sequence[float] = (0.5, 1.0, 2.0), *, unified: Any = None,
                             profiles: Sequence[Any] = ()) -> dict[str, Any]:  # fmt: skip
    """Rank of each future watch among the results of an ambiguous query, with and without the
    re-ranking hook. Queries: one of the watched title's genres, and one word of its title that
    matches at least ``search_min_results`` universe titles. The unpersonalized order is the search
    engine's fallback for an ambiguous query: popularity; the personalized order blends it with the
    model score (``ranking.personalize.blend``). With ``unified`` (a ranker bound to the universe rows)
    and the test ``profiles``, the unified model's search task scores the results too, the context being
    the results themselves (``ranking.tasks.results_context`` over the popularity order), alone
    (``unified_alone``) and blended (``unified_w*``)."""
    from ranking.tasks import results_context

    universe_rows = title_features.rows(split.universe)
    rng = np.random.default_rng(config.seed)
    universe = split.universe
    meta = titles.set_index("title_id").reindex(universe)
    genres = [set(as_lists(g)) for g in meta["genres"]]
    words = [set(_words(t)) for t in meta["title"].fillna("")]
    by_genre: dict[str, list[int]] = {}
    by_word: dict[str, list[int]] = {}
    for col, (gs, ws) in enumerate(zip(genres, words, strict=True)):
        for g in gs:
            by_genre.setdefault(g, []).append(col)
        for w in ws:
            by_word.setdefault(w, []).append(col)
    popularity = np.asarray(prepared.train_matrix.sum(axis=0)).ravel().astype(np.float64)
    results: dict[str, Any] = {}
    for kind, index, terms_of in (("genre", by_genre, genres), ("title_word", by_word, words)):
        ranks: dict[str, list[int]] = {"unpersonalized": []}
        ranks.update({f"personalized_w{w:g}": [] for w in weights})
        if unified is not None:
            ranks["unified_alone"] = []
            ranks.update({f"unified_w{w:g}": [] for w in weights})
        sizes = []
        search_log_probs: list[np.ndarray] = []
        search_held: list[np.ndarray] = []
        for i, _user in enumerate(split.users):
            held = prepared.held_cols[i]
            picks = rng.permutation(held)[: config.search_queries_per_user]
            seen = set(prepared.fed_cols[i].tolist())
            for target in picks:
                options = sorted(t for t in terms_of[target] if len(index.get(t, [])) >= config.search_min_results)
                if not options:
                    continue
                term = options[int(rng.integers(len(options)))]
                cands = np.array([c for c in index[term] if c not in seen], dtype=np.int64)
                sizes.append(len(cands))
                relevance = np.log1p(popularity[cands])
                ranks["unpersonalized"].append(_rank_of(relevance, cands, target))
                for weight in weights:
                    blended = blend(relevance, personal_scores[i, cands], weight)
                    ranks[f"personalized_w{weight:g}"].append(_rank_of(blended, cands, target))
                if unified is not None:
                    by_popularity = cands[np.argsort(-relevance, kind="stable")]
                    context = results_context(title_features, universe_rows[by_popularity])
                    model = unified.score([profiles[i]], mask_seen=False, contexts=[context])[0][cands]
                    search_log_probs.append(model - _logsumexp(model))  # the softmax over the results
                    search_held.append(np.flatnonzero(np.isin(cands, held)))
                    ranks["unified_alone"].append(_rank_of(model, cands, target))
                    for weight in weights:
                        blended = blend(relevance, model, weight)
                        ranks[f"unified_w{weight:g}"].append(_rank_of(blended, cands, target))
        results[kind] = {
            "queries": len(sizes), "median_results": float(np.median(sizes)) if sizes else 0.0,
            **{name: _rank_summary(r) for name, r in ranks.items()},
        }  # fmt: skip
        if search_log_probs:  # the unified SEARCH task's play probabilities over each query's results
            width = max(len(x) for x in search_log_probs)
            padded = np.full((len(search_log_probs), width), -np.inf, dtype=np.float64)
            for j, x in enumerate(search_log_probs):
                padded[j, : len(x)] = x
            empty = [np.zeros(0, dtype=np.int64)] * len(search_held)
            results[kind]["calibration_unified"] = calibration(padded, search_held, empty)
    results["note"] = ("rank (1 = top) of a future watch among the titles matching an ambiguous query; "
                       "unpersonalized = popularity order, personalized = blend(popularity, model, weight)")  # fmt: skip
    return results


# ---------------------------------------------------------------------------- unified model, per task


def _served_rows(split: HeldOutSplit, title_features: TitleFeatures, titles: pd.DataFrame,
                 config: EvalConfig) -> np.ndarray:  # fmt: skip
    """Rows of every servable title (the served-path scope), with every title of the split's universe."""
    return served_rows(titles, title_features, config.servable_sources, title_features.rows(split.universe))


def unified_eval(split: HeldOutSplit, prepared: _Prepared, unified: Any, top_picks_only: Any,
                 title_features: TitleFeatures, titles: pd.DataFrame, profiles: Sequence[Any],
                 universe_scores: dict[str, np.ndarray], chosen: dict[str, dict[str, Any]],
                 config: EvalConfig) -> dict[str, Any]:  # fmt: skip
    """The per-task table of the unified model (module docstring, "Unified model, per task")."""
    from data.events import History
    from ranking.model import log_probabilities
    from ranking.similar import CoWatchIndex, SimilarityWeights, TitleSubset, title_similarity

    rng = np.random.default_rng(config.seed + 3)
    out: dict[str, Any] = {}

    # Top Picks on the served path: unified vs the Top-Picks-only ranker vs EASE
    unified_served = served_path_eval(split, prepared, unified, title_features, titles, profiles, universe_scores, config)
    single_served = served_path_eval(split, prepared, top_picks_only, title_features, titles, profiles,
                                     universe_scores, config)  # fmt: skip
    keep = ("ndcg@10", "recall@20", "coverage@10")
    out["top_picks"] = {
        "protocol": "served path: held-out users, next 20% by time, every servable title ranked",
        "systems": {"unified": {k: unified_served["systems"]["marquee"][k] for k in keep},
                    "top_picks_only": {k: single_served["systems"]["marquee"][k] for k in keep},
                    "ease": {k: unified_served["systems"]["ease"][k] for k in keep}},
        "calibration_unified": unified_served["calibration"],
        "calibration_unified_uncalibrated": unified_served["calibration_uncalibrated"],
        "temperature_unified_top_picks": unified_served["temperature_top_picks"],
        "calibration_top_picks_only": single_served["calibration"],
    }  # fmt: skip

    # Because You Watched and similar: rank every servable title for a source title
    served_rows = _served_rows(split, title_features, titles, config)
    n = len(served_rows)
    position = np.full(len(title_features), -1, dtype=np.int64)
    position[served_rows] = np.arange(n)
    universe_rows = title_features.rows(split.universe)
    to_served = position[universe_rows]
    subset = TitleSubset.of(title_features, served_rows)
    cowatch = CoWatchIndex.from_frame(split.train_events, title_features)
    params, factory = _baseline_factories(config)["itemknn"][chosen["itemknn"]["index"]]
    knn = factory().fit(prepared.train_matrix)
    content_only = SimilarityWeights(embedding=0.6, cowatch=0.0, genre=0.15)
    unified.bind(title_features, served_rows)
    profile_config = ProfileFeatureConfig(**unified.manifest["profile_feature_config"])
    empty = compute_profile_features(History("anonymous", [], np.zeros(0), []), title_features, config=profile_config)

    def source_scores(source_col: int, profile: Any, context: RankingContext, top_picks: bool) -> dict[str, np.ndarray]:
        row = int(universe_rows[source_col])
        scores = {"unified": unified.score([profile], mask_seen=False, contexts=[context])[0]}
        if top_picks:
            scores["unified_top_picks_task"] = unified.score([profile], mask_seen=False)[0]
        sim = title_similarity(title_features, np.array([row]), blend=content_only, subset=subset)
        scores["content_only"] = sim[served_rows]
        served_sim = title_similarity(title_features, np.array([row]), cowatch=cowatch, subset=subset)
        scores["similar_served_blend"] = served_sim[served_rows]
        knn_scores = np.full(n, -np.inf, dtype=np.float32)
        knn_scores[to_served] = knn.score(binary_matrix([np.array([source_col])], len(split.universe)))[0]
        scores["itemknn"] = knn_scores
        return scores

    for task in ("because_you_watched", "similar"):
        per_system: dict[str, list[np.ndarray]] = {}
        seen_all: list[np.ndarray] = []
        held_all: list[np.ndarray] = []
        target_all: list[np.ndarray] = []
        for i, user in enumerate(split.users):
            fed = prepared.fed_cols[i]
            if task == "because_you_watched":
                order = [t for t in reversed(user.fed.title_ids) if t in prepared.column]
                if not order or not len(prepared.held_cols[i]):
                    continue
                source = prepared.column[order[0]]
                context = RankingContext.because_you_watched(int(universe_rows[source]))
                profile, seen, held = profiles[i], to_served[fed], to_served[prepared.held_cols[i]]
            else:
                watched = np.unique(np.concatenate([fed, prepared.held_cols[i]]))
                if len(watched) < 2:
                    continue
                source = int(watched[rng.integers(len(watched))])
                context = RankingContext.similar(int(universe_rows[source]))
                profile, seen, held = empty, to_served[[source]], to_served[watched[watched != source]]
            by_system = source_scores(source, profile, context, task == "because_you_watched")
            for name, scores in by_system.items():
                per_system.setdefault(name, []).append(scores)
            seen_all.append(np.union1d(seen, to_served[[source]]))
            held_all.append(held)
            if task == "because_you_watched":  # the task's target: the future inside the source's BYW pool
                pool = np.argsort(-by_system["similar_served_blend"], kind="stable")[: config.byw_pool]
                target_all.append(np.intersect1d(held, pool))
            else:
                target_all.append(held)
        unified_scores = np.stack(per_system["unified"])
        seen_mask = np.zeros(unified_scores.shape, dtype=bool)
        for j, seen in enumerate(seen_all):
            seen_mask[j, seen] = True
        out[f"calibration_{task}"] = calibration(log_probabilities(unified_scores, seen_mask), target_all, seen_all)
        out[task] = {
            "protocol": ("source = the viewer's newest fed title; relevant = their held-out future" if
                         task == "because_you_watched" else "anonymous; source = a random title of a held-out "
                         "viewer, relevant = every other title they watched (co-watch)"),
            "sources": len(held_all),
            "systems": {name: ranking_metrics(np.stack(v), seen_all, held_all) for name, v in per_system.items()},
            "itemknn_params": params,
        }  # fmt: skip
    unified.bind(title_features, universe_rows)
    out["temperatures"] = {name: round(t, 4) for name, t in unified.temperatures.items()} if hasattr(
        unified, "temperatures") else {}

    # search re-ranking: popularity order -> the Top-Picks blend -> the unified search task
    out["search"] = personalized_search_eval(split, prepared, universe_scores["marquee"], title_features, titles,
                                             config, unified=unified, profiles=profiles)  # fmt: skip
    return out


def _logsumexp(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=np.float64)
    top = float(v.max())
    return top + float(np.log(np.exp(v - top).sum()))


def _words(title: str) -> list[str]:
    import re

    stop = {"the", "a", "an", "of", "and", "in", "to", "on", "for", "la", "le", "les", "de", "el", "with", "part"}
    return [w for w in re.findall(r"[a-z]{3,}", title.lower()) if w not in stop]


def _rank_of(scores: np.ndarray, candidates: np.ndarray, target: int) -> int:
    """1-based rank of ``target``; ties share the average rank (no credit for a lucky tie-break)."""
    position = int(np.flatnonzero(candidates == target)[0])
    above = int((scores > scores[position]).sum())
    ties = int((scores == scores[position]).sum()) - 1
    return int(round(above + 1 + ties / 2))


def _rank_summary(ranks: Sequence[int]) -> dict[str, float]:
    r = np.asarray(ranks, dtype=np.float64)
    if len(r) == 0:
        return {}
    return {"mrr": round(float((1.0 / r).mean()), 4), "hit@10": round(float((r <= 10).mean()), 4),
            "median_rank": float(np.median(r)), "mean_rank": round(float(r.mean()), 1)}  # fmt: skip


def with_defaults(config: EvalConfig, **changes: Any) -> EvalConfig:
    return replace(config, **changes)
