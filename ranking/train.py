"""Training the Marquee ranker: closed-form item-item, then towers, then the head — losses live here.

Stages (all seeded; ``fit``/``tune`` users are a seeded split of the training users):

1. **Item-item** — EASE closed form on the ``fit`` users' histories (titles watched at least
   ``itemitem_min_count`` times), L2 strength ``lam``; and the transition matrix (SLIT-style closed
   form, "after a cut" regressed on the recency-weighted "before") on the same titles.
2. **Towers** — TitleTower + UserTower + Interaction trained on the ``fit`` users with the
   multinomial likelihood of "what comes after a cut" (random cut points per user; the future of a
   sample is never in its input), full softmax over all training titles (no sampled negatives),
   already-watched titles masked.
3. **Head** — towers frozen; ``head_new_fraction`` of the titles are bound as brand-new (no learned id,
   no item-item row, no events: how a Netflix-only title or a new arrival is scored) and empty and
   short histories (``head_short_cuts`` events) are added to the samples, so every head input varies in
   training the way it does at serving and one score scale covers titles with and without history
   (inputs are standardised by :func:`ranking.model.fit_standardisation`); the head the head learns to combine the neural, item-item, content, affinity,
   popularity, catalog prior, added-recency, trend and activity inputs on the ``tune`` users (cuts near the evaluation's 80%), whose histories were in NEITHER the item-item
   fit NOR the towers' training — so the blend weights are learned on scores that behave like scores
   for a brand-new profile. A slice of the tune users (``head_validation_fraction``) is kept out of
   the head's training and gives the validation metrics in the manifest.
   The head is the ONE model of every task (``ranking.model.Task``): besides the Top Picks samples
   (next new titles after a cut), the same tune histories give ``head_task_cuts`` samples per user and
   task — **Because You Watched**: the source is one of the last ``source_recent`` titles before the cut,
   targets the titles after it among the source's ``source_pool`` most similar titles (the row's pool); **similar**: the source is a title after the cut (a viewer with no
   history at all for the first cut: pure co-watch), targets the other titles after it; **search**: a
   pseudo-query (:class:`ranking.tasks.QueryTerms`: a genre or title word of a title after the cut),
   targets the titles after the cut that match it, the softmax restricted to the query's results and the
   context the results' mean content vector (:func:`ranking.tasks.results_context`). ``tasks`` picks the
   tasks trained (``("top_picks",)`` = the Top-Picks-only ranker, the task-specific baseline).
4. **Refit** — the item-item matrix and title popularity are recomputed on every training user but the
   head-validation ones (more data; head inputs are standardised so their scale carries over).
5. **Calibration** — after the last fit, a temperature per task (:func:`fit_temperatures`) on the
   head-validation users (out of every fit: towers, head, item-item), titles bound as the page serves
   them (``calibration_sources``), so the served log-softmax is a calibrated play probability.

Shapes: ``N`` bound (training) titles, ``b`` batch, ``S`` samples.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from data.catalog import as_lists
from data.events import History
from features.profiles import (
    ProfileFeatureConfig,
    ProfileFeatures,
    compute_profile_features,
    histories_from_frame,
)
from features.titles import TitleFeatures, build_title_features
from ranking.baselines import binary_matrix, ease_weights
from ranking.model import (
    TASKS,
    RankerConfig,
    RankingContext,
    Task,
    TrainedRanker,
    build_model,
    distinct_recent,
    fit_standardisation,
)
from ranking.similar import CoWatchIndex, TitleSubset, title_similarity
from ranking.splits import prefix
from ranking.tasks import QueryTerms, results_context

if TYPE_CHECKING:
    import torch

__all__ = ["DataParallel", "Sample", "TrainConfig", "TrainResult", "fit_itemitem", "fit_temperatures", "fit_transition", "served_rows", "train_ranker"]


@dataclass(frozen=True)
class TrainConfig:
    """Training knobs (recorded in the manifest)."""

    seed: int = 0
    epochs: int = 8
    head_epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-2
    cuts_per_user: int = 6
    min_cut_fraction: float = 0.3
    max_cut_fraction: float = 0.95
    head_cut_fractions: tuple[float, float] = (0.7, 0.9)
    """The head learns the blend on cuts like the ones it is used at (the last ~20% to predict)."""
    head_new_fraction: float = 0.15
    """Share of the titles bound as brand-new while the head learns (cold titles on the same scale)."""
    head_short_cuts: tuple[int, ...] = (0, 1, 3)
    """Extra head samples per tune user cut after this many events (0 = a brand-new viewer)."""
    tune_fraction: float = 0.25
    head_validation_fraction: float = 0.3
    lam: float = 200.0
    itemitem_min_count: int = 2
    transition_lam: float = 500.0
    transition_cuts: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    refit: bool = True
    device: str = "auto"
    threads: int = 2
    dim: int = 64
    max_len: int = 50
    n_layers: int = 1
    dropout: float = 0.2
    itemitem_half_life: float = 10.0
    itemitem_long_half_life: float = 100.0
    tasks: tuple[str, ...] = TASKS
    """Tasks the head learns (``ranking.model.TASKS`` names); Top Picks is always among them."""
    head_task_cuts: int = 2
    """Head samples per tune user for each context task (BYW, similar, search)."""
    source_recent: int = 3
    """A Because You Watched source is one of the last this many titles before the cut."""
    source_pool: int = 300
    """A Because You Watched target is a title after the cut among the source's ``source_pool`` most similar
    titles (``ranking.similar.title_similarity``: content + co-watch; the page's BYW pool)."""
    search_min_results: int = 20
    """A pseudo-query term must match at least this many training titles (an ambiguous query)."""
    calibration_cuts: int = 2
    """Top Picks cuts per head-validation user for the per-task temperature (context tasks: ``head_task_cuts``)."""
    calibration_sources: tuple[str, ...] | None = ("netflix", "movielens")
    """Titles bound while the temperatures are fitted: those with one of these catalog sources (the page's
    servable scope, ``ranking.rows.RowCatalog.from_frame``) and every training title; None = every title. The
    softmax's denominator is the bound titles, so the scale is calibrated for this scope."""
    calibration_top: int | None = 10
    """The temperature matches the predicted to the observed play mass of each sample's top this many titles
    (``fit_temperatures``); None = the whole-list likelihood."""


@dataclass(frozen=True)
class Sample:
    """One training example: a profile's features at a cut and the bound positions that follow it.

    ``context``: the task and its context (None = Top Picks); ``allowed``: (a,) int64 bound positions the
    softmax runs over (a search's results), None = every bound title."""

    features: ProfileFeatures
    targets: np.ndarray  # (t,) int64 positions of distinct titles after the cut, not seen before it
    context: RankingContext | None = None
    allowed: np.ndarray | None = None


@dataclass
class TrainResult:
    ranker: TrainedRanker
    titles: TitleFeatures
    seconds: float
    validation: dict[str, dict[str, float]]
    history: list[dict[str, Any]]
    calibration_profiles: list[str] = field(default_factory=list)
    """The head-validation profiles: out of every fit; the per-task temperatures are fitted on them."""


def fit_itemitem(sequences: Sequence[np.ndarray], n_titles: int, *, lam: float, min_count: int
                 ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """EASE weights over titles watched by at least ``min_count`` of ``sequences``.

    Returns ``(weights (k, k) float32, positions (k,) int64)`` — ``positions`` are the columns of the
    binary matrix built from ``sequences`` (0..n_titles-1) that the weights cover.
    """
    matrix = binary_matrix([np.asarray(s, dtype=np.int64) for s in sequences], n_titles)
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    keep = np.flatnonzero(counts >= min_count)
    if len(keep) == 0:
        return np.zeros((0, 0), dtype=np.float32), keep.astype(np.int64)
    sub = matrix[:, keep]
    return ease_weights((sub.T @ sub).toarray(), lam), keep.astype(np.int64)


def fit_transition(sequences: Sequence[np.ndarray], positions: np.ndarray, n_titles: int, *, lam: float,
                   half_life: float, cuts: Sequence[float]) -> np.ndarray:  # fmt: skip
    """SLIT-style closed form (Choi et al. 2021): W = (PᵀP + lam I)^-1 PᵀN over the titles ``positions``.

    For each sequence and cut, a row of P is the history before the cut with recency weights
    (halving every ``half_life`` titles back) and the row of N marks the titles after it; so W maps
    "what was just watched" to "what comes next". Returns (k, k) float32, k = len(positions).
    """
    import scipy.sparse as sp
    from scipy.linalg import lapack

    k = len(positions)
    if k == 0:
        return np.zeros((0, 0), dtype=np.float32)
    column = np.full(n_titles, -1, dtype=np.int64)
    column[positions] = np.arange(k)
    p_rows, p_cols, p_vals, n_rows, n_cols = [], [], [], [], []
    row = 0
    for seq in sequences:
        mapped = column[np.asarray(seq, dtype=np.int64)]
        mapped = mapped[mapped >= 0]
        for fraction in cuts:
            cut = int(np.floor(fraction * len(mapped)))
            if cut < 1 or cut >= len(mapped):
                continue
            age = np.arange(cut - 1, -1, -1, dtype=np.float64)
            p_rows.append(np.full(cut, row))
            p_cols.append(mapped[:cut])
            p_vals.append(0.5 ** (age / half_life))
            n_rows.append(np.full(len(mapped) - cut, row))
            n_cols.append(mapped[cut:])
            row += 1
    if row == 0:
        return np.zeros((k, k), dtype=np.float32)
    past = sp.csr_matrix((np.concatenate(p_vals), (np.concatenate(p_rows), np.concatenate(p_cols))), shape=(row, k))
    future = sp.csr_matrix((np.ones(sum(len(c) for c in n_cols)), (np.concatenate(n_rows), np.concatenate(n_cols))),
                           shape=(row, k))  # fmt: skip
    gram = (past.T @ past).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += lam
    rhs = np.asarray((past.T @ future).toarray(), dtype=np.float32, order="F")
    chol, info = lapack.spotrf(gram, lower=0, overwrite_a=1)
    if info != 0:
        raise ValueError(f"transition: Gram matrix + {lam} I is not positive definite (info={info}); expected lam > 0")
    solution, info = lapack.spotrs(chol, rhs, lower=0, overwrite_b=1)
    if info != 0:
        raise ValueError(f"transition: solve failed (info={info})")
    return np.ascontiguousarray(solution, dtype=np.float32)


def served_rows(titles: pd.DataFrame, features: TitleFeatures, sources: Sequence[str] | None,
                also: np.ndarray | None = None) -> np.ndarray:
    """(m,) int64 sorted rows of ``features`` in the served scope: the titles of the catalog frame ``titles``
    with one of ``sources`` (None: every row), plus the rows ``also`` (e.g. every training title)."""
    if sources is None:
        servable = np.ones(len(features), dtype=bool)
    else:
        wanted = set(sources)
        frame = titles.drop_duplicates("title_id").set_index("title_id").reindex(features.title_ids)
        cells = frame["sources"] if "sources" in frame else pd.Series([None] * len(frame))
        servable = np.array([bool(wanted.intersection(as_lists(x))) if isinstance(x, list | np.ndarray | tuple)
                             else False for x in cells], dtype=bool)  # fmt: skip
    if also is not None:
        also = np.asarray(also, dtype=np.int64)
        servable[also[also >= 0]] = True
    return np.flatnonzero(servable)


def _device(name: str) -> torch.device:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _samples(histories: Sequence[History], titles: TitleFeatures, position_of_row: np.ndarray,
             fractions: Sequence[Sequence[float]], profile_config: ProfileFeatureConfig) -> list[Sample]:  # fmt: skip
    """Cut each history at the given fractions; targets = distinct bound titles after the cut."""
    out = []
    for history, cuts in zip(histories, fractions, strict=True):
        positions = position_of_row[titles.rows(history.title_ids)]
        for fraction in cuts:
            cut = int(np.floor(fraction * len(history)))
            if cut < 1 or cut >= len(history):
                continue
            seen = set(positions[:cut].tolist())
            future = [p for p in dict.fromkeys(positions[cut:].tolist()) if p >= 0 and p not in seen]
            if not future:
                continue
            features = compute_profile_features(prefix(history, cut), titles, config=profile_config)
            out.append(Sample(features, np.array(future, dtype=np.int64)))
    return out


def _prefix_samples(histories: Sequence[History], titles: TitleFeatures, position_of_row: np.ndarray,
                    counts: Sequence[int], profile_config: ProfileFeatureConfig) -> list[Sample]:  # fmt: skip
    """Cut each history after ``counts`` events (0 = no history at all); targets as in :func:`_samples`."""
    out = []
    for history in histories:
        positions = position_of_row[titles.rows(history.title_ids)]
        for cut in counts:
            if cut >= len(history) - 1:
                continue
            seen = set(positions[:cut].tolist())
            future = [p for p in dict.fromkeys(positions[cut:].tolist()) if p >= 0 and p not in seen]
            if future:
                features = compute_profile_features(prefix(history, cut), titles, config=profile_config)
                out.append(Sample(features, np.array(future, dtype=np.int64)))
    return out


def _task_samples(histories: Sequence[History], titles: TitleFeatures, position_of_row: np.ndarray,
                  rng: np.random.Generator, config: TrainConfig, profile_config: ProfileFeatureConfig,
                  terms: QueryTerms | None, neighbours: Callable[[int], set[int]]) -> list[Sample]:  # fmt: skip
    """Head samples of the context tasks in ``config.tasks`` (see the module docstring, stage 3);
    ``neighbours(source row)``: the bound positions of the source's BYW pool."""
    out: list[Sample] = []
    lo, hi = config.head_cut_fractions
    for history in histories:
        rows = titles.rows(history.title_ids)
        positions = position_of_row[rows]
        for task in (Task.BECAUSE_YOU_WATCHED, Task.SIMILAR, Task.SEARCH):
            if task.name.lower() not in config.tasks:
                continue
            for k in range(config.head_task_cuts):
                if task == Task.SIMILAR and k == 0:
                    cut = 0  # a viewer with no history: co-watch only
                else:
                    cut = int(np.floor(rng.uniform(lo, hi) * len(history)))
                if cut >= len(history) - 1 or (task == Task.BECAUSE_YOU_WATCHED and cut < 1):
                    continue
                seen = set(positions[:cut].tolist())
                future = [p for p in dict.fromkeys(positions[cut:].tolist()) if p >= 0 and p not in seen]
                row_of = {int(p): int(r) for p, r in zip(positions[cut:], rows[cut:], strict=True) if p >= 0}
                sample = _task_sample(task, history, cut, seen, future, row_of, rows, positions, titles,
                                      position_of_row, rng, config, profile_config, terms, neighbours)  # fmt: skip
                if sample is not None:
                    out.append(sample)
    return out


def _task_sample(task: Task, history: History, cut: int, seen: set[int], future: list[int], row_of: dict[int, int],
                 rows: np.ndarray, positions: np.ndarray, titles: TitleFeatures, position_of_row: np.ndarray,
                 rng: np.random.Generator, config: TrainConfig, profile_config: ProfileFeatureConfig,
                 terms: QueryTerms | None, neighbours: Callable[[int], set[int]]) -> Sample | None:  # fmt: skip
    """One head sample of a context task at ``cut`` (None when the history offers none)."""
    allowed = None
    if task == Task.BECAUSE_YOU_WATCHED:
        before = distinct_recent(positions[:cut][positions[:cut] >= 0])
        if not len(before) or not future:
            return None
        source = int(before[-config.source_recent:][rng.integers(min(config.source_recent, len(before)))])
        source_row = int(rows[:cut][positions[:cut] == source][-1])
        context = RankingContext.because_you_watched(source_row)
        pool = neighbours(source_row)
        targets = [p for p in future if p in pool]
    elif task == Task.SIMILAR:
        if len(future) < 2:
            return None
        source = future[int(rng.integers(len(future)))]
        context = RankingContext.similar(row_of[source])
        targets = [p for p in future if p != source]
    else:
        if terms is None or not future:
            return None
        picked = future[int(rng.integers(len(future)))]
        options = terms.terms_of.get(row_of[picked], [])
        if not options:
            return None
        term = options[int(rng.integers(len(options)))]
        results = terms.rows_of[term]
        results = results[np.argsort(-titles.popularity[results], kind="stable")]  # the engine's fallback order
        allowed = position_of_row[results]
        allowed = allowed[(allowed >= 0) & ~np.isin(allowed, list(seen))]
        targets = [p for p in future if p in set(allowed.tolist())]
        context = results_context(titles, results)
    if not targets:
        return None
    features = compute_profile_features(prefix(history, cut), titles, config=profile_config)
    return Sample(features, np.array(targets, dtype=np.int64), context, allowed)


def _target_matrix(samples: Sequence[Sample], n: int, device: torch.device) -> torch.Tensor:
    import torch

    rows = np.concatenate([np.full(len(s.targets), i) for i, s in enumerate(samples)])
    cols = np.concatenate([s.targets for s in samples])
    target = torch.zeros(len(samples), n, device=device)
    target[torch.from_numpy(rows).to(device), torch.from_numpy(cols).to(device)] = 1.0
    return target / target.sum(1, keepdim=True)


def multinomial_loss(scores: torch.Tensor, target: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of −Σ target·log softmax(scores) with watched titles masked (Mult-VAE style)."""
    import torch

    logp = torch.log_softmax(scores.masked_fill(seen, -1e9), dim=1)
    return -(target * logp).sum(1).mean()


def _cuts(rng: np.random.Generator, n_users: int, per_user: int, lo: float, hi: float) -> list[list[float]]:
    return [sorted(rng.uniform(lo, hi, per_user).tolist()) for _ in range(n_users)]


class DataParallel(Protocol):
    """One worker of a data-parallel tower stage (``ranking.train_ray`` implements it on Ray Train):
    every worker draws the same seeded order, trains on its ``shard`` of it (equal sizes, so every
    worker takes the same number of steps) and averages gradients with the others before each step."""

    def shard(self, order: np.ndarray) -> np.ndarray: ...

    def average_gradients(self, parameters: Sequence[Any]) -> None: ...


def _optimise(losses: Iterable[Any], optimizer: Any, after_backward: Callable[[], None] | None = None) -> float:
    """One epoch: a gradient step on each loss as it is produced; the mean loss."""
    total, batches = 0.0, 0
    for loss in losses:
        optimizer.zero_grad()
        loss.backward()
        if after_backward is not None:
            after_backward()
        optimizer.step()
        total += float(loss.detach())
        batches += 1
    return total / max(batches, 1)


def train_ranker(
    events: pd.DataFrame,
    titles: pd.DataFrame,
    *,
    embeddings: tuple[Sequence[str], np.ndarray] | None = None,
    config: TrainConfig | None = None,
    profile_config: ProfileFeatureConfig | None = None,
    progress: Callable[[str, int, int, float], None] | None = None,
    data_version: str | None = None,
    data_parallel: DataParallel | None = None,
    towers_from: TrainedRanker | None = None,
) -> TrainResult:
    """Train on every profile of ``events`` (columns profile_id, title_id, timestamp[, seq, kind]).

    ``titles``: the catalog titles frame (``read_titles``); ``embeddings``: ``(title_ids, vectors)``
    or None (content inputs are then zeros and the manifest says so). ``progress(stage, step, total,
    loss)`` is called after every epoch. ``towers_from``: a ranker trained by this function on the same
    events with the same seed and tower settings; its towers are copied instead of retrained (the seeded
    draws are replayed, so the head sees the same samples): how the evaluation fits a second head (the
    Top-Picks-only baseline) on the same towers.
    """
    import torch

    started = time.perf_counter()
    cpu_started = time.process_time()
    config = config or TrainConfig()
    if "top_picks" not in config.tasks or not set(config.tasks) <= set(TASKS):
        raise ValueError(f"tasks={config.tasks}; expected top_picks and any of {', '.join(TASKS)}")
    profile_config = profile_config or ProfileFeatureConfig()
    report = progress or (lambda *_: None)
    stage_seconds: dict[str, list[float]] = {}  # stage -> [wall, CPU] seconds (the manifest's ``stage_seconds``)
    clock = [time.perf_counter(), time.process_time()]

    def mark(name: str) -> None:  # the time since the last mark was spent on ``name``
        now = [time.perf_counter(), time.process_time()]
        spent = stage_seconds.setdefault(name, [0.0, 0.0])
        spent[0] += now[0] - clock[0]
        spent[1] += now[1] - clock[1]
        clock[:] = now

    def say(stage: str, step: int, total: int, loss: float) -> None:
        mark(stage if step else f"{stage} inputs")  # before step 0: the stage's samples and inputs
        report(stage, step, total, loss)

    torch.manual_seed(config.seed)
    torch.set_num_threads(max(1, config.threads))
    rng = np.random.default_rng(config.seed)
    device = _device(config.device)

    events = events[events["title_id"].astype(str).isin(set(titles["title_id"].astype(str)))]
    histories = list(histories_from_frame(events))
    if len(histories) < 4:
        raise ValueError(f"{len(histories)} profiles with events; expected at least 4 to train the ranker")
    order = rng.permutation(len(histories))
    n_tune = max(2, int(round(config.tune_fraction * len(histories))))
    tune_ids = {histories[i].profile_id for i in order[:n_tune]}
    fit_h = [h for h in histories if h.profile_id not in tune_ids]
    tune_h = [h for h in histories if h.profile_id in tune_ids]
    n_val = max(1, int(round(config.head_validation_fraction * len(tune_h))))
    head_val_h, head_train_h = tune_h[:n_val], tune_h[n_val:]

    # Stage 0: features on the fit users only (popularity of tune users' futures must not leak in).
    fit_events = events[~events["profile_id"].isin(tune_ids)]
    title_features = build_title_features(titles, fit_events, embeddings=embeddings)
    vocab_rows = np.unique(title_features.rows(events["title_id"].astype(str).unique()))
    vocab_rows = vocab_rows[vocab_rows >= 0]
    vocab = [title_features.title_ids[r] for r in vocab_rows]
    n = len(vocab)
    position_of_row = np.full(len(title_features), -1, dtype=np.int64)
    position_of_row[vocab_rows] = np.arange(n)

    def sequences(hs: Sequence[History]) -> list[np.ndarray]:
        return [distinct_recent(p[p >= 0]) for p in (position_of_row[title_features.rows(h.title_ids)] for h in hs)]

    # Stage 1: item-item on fit users.
    say("item-item", 0, 1, 0.0)
    fit_sequences = sequences(fit_h)
    ii_weights, ii_positions = fit_itemitem(fit_sequences, n, lam=config.lam, min_count=config.itemitem_min_count)
    transition = fit_transition(fit_sequences, ii_positions, n, lam=config.transition_lam,
                                half_life=config.itemitem_half_life, cuts=config.transition_cuts)  # fmt: skip
    del fit_sequences
    say("item-item", 1, 1, 0.0)

    rconfig = RankerConfig(
        n_vocab=n, content_dim=title_features.dim, side_dim=title_features.numeric().shape[1],
        profile_dim=title_features.genres.shape[1] + title_features.languages.shape[1] + 1, dim=config.dim,
        max_len=config.max_len, n_layers=config.n_layers, dropout=config.dropout,
        itemitem_half_life=config.itemitem_half_life, itemitem_long_half_life=config.itemitem_long_half_life,
    )  # fmt: skip
    model: Any = build_model(rconfig, ii_weights, transition)
    ranker = TrainedRanker(model, vocab, [vocab[p] for p in ii_positions])
    ranker.bind(title_features, vocab_rows)
    model.to(device)

    # Stage 2: towers on fit users.
    fit_samples = _samples(fit_h, title_features, position_of_row,
                           _cuts(rng, len(fit_h), config.cuts_per_user, config.min_cut_fraction,
                                 config.max_cut_fraction), profile_config)  # fmt: skip
    tower_params = [p for name, p in model.named_parameters() if not name.startswith("head.")]
    optimizer = torch.optim.AdamW(tower_params, lr=config.lr, weight_decay=config.weight_decay)
    log: list[dict[str, Any]] = []
    say("towers", 0, config.epochs, 0.0)
    def tower_losses(perm: np.ndarray) -> Iterator[Any]:
        for start in range(0, len(perm), config.batch_size):
            chunk = [fit_samples[i] for i in perm[start : start + config.batch_size]]
            batch = ranker.batch([s.features for s in chunk]).to(device)
            scores = model.components(batch, model.title_vectors(), parts=("neural",))["neural"]
            yield multinomial_loss(scores, _target_matrix(chunk, n, device), batch.seen_mask(n))

    if towers_from is not None:
        copied = {k: v for k, v in towers_from.model.state_dict().items() if not k.startswith("head.")}
        model.load_state_dict(copied, strict=False)
    for epoch in range(config.epochs):
        model.train()
        order = rng.permutation(len(fit_samples))
        if towers_from is not None:  # the same seeded draws, no training
            continue
        if data_parallel is None:
            mean_loss = _optimise(tower_losses(order), optimizer)
        else:
            mean_loss = _optimise(tower_losses(data_parallel.shard(order)), optimizer,
                                  lambda: data_parallel.average_gradients(tower_params))  # fmt: skip
        log.append({"stage": "towers", "epoch": epoch + 1, "loss": mean_loss})
        say("towers", epoch + 1, config.epochs, mean_loss)

    # Stage 3: head on tune users (towers frozen).
    model.eval()
    head_samples = _samples(head_train_h, title_features, position_of_row,
                            _cuts(rng, len(head_train_h), config.cuts_per_user, *config.head_cut_fractions),
                            profile_config)  # fmt: skip
    head_samples += _prefix_samples(head_train_h, title_features, position_of_row, config.head_short_cuts,
                                    profile_config)  # fmt: skip
    terms = None
    if "search" in config.tasks:
        names = titles.drop_duplicates("title_id").set_index("title_id")["title"].reindex(title_features.title_ids)
        terms = QueryTerms.build(title_features, names.fillna("").astype(str).tolist(), vocab_rows,
                                 min_results=config.search_min_results)  # fmt: skip
    similarity_subset = TitleSubset.of(title_features, vocab_rows)
    fit_cowatch = CoWatchIndex.from_frame(fit_events, title_features)

    pools: dict[int, np.ndarray] = {}  # source row -> its BYW pool rows (a source recurs across cuts and users)
    pool_features = title_features  # the pools of the fit users' features, also for the calibration after the refit

    def neighbours(source_row: int, positions: np.ndarray = position_of_row) -> set[int]:
        if source_row not in pools:
            sim = title_similarity(pool_features, np.array([source_row]), cowatch=fit_cowatch, subset=similarity_subset)
            sim[source_row] = 0.0
            size = min(config.source_pool, len(sim) - 1)
            best = np.argpartition(-sim, size)[:size]
            pools[source_row] = best[sim[best] > 0]
        return set(positions[pools[source_row]].tolist())

    head_samples += _task_samples(head_train_h, title_features, position_of_row, rng, config, profile_config, terms,
                                  neighbours)  # fmt: skip
    n_new = int(round(config.head_new_fraction * n))
    as_new = [vocab[p] for p in np.sort(rng.choice(n, size=n_new, replace=False))] if n_new else []
    ranker.bind(title_features, vocab_rows, as_new=as_new)
    model.to(device)
    cache = _head_cache(model, ranker, head_samples, device, config.batch_size)
    mean, std = fit_standardisation(cache)
    model.input_mean.copy_(mean.to(device))
    model.input_std.copy_(std.to(device))
    cache.sub_(model.input_mean).div_(model.input_std)  # in place: the cache is (S, N, F), ~1 GB on MovieLens
    head_opt = torch.optim.AdamW(model.head.parameters(), lr=1e-2, weight_decay=1e-4)
    seen = torch.stack([_seen_row(s, position_of_row, device) for s in head_samples]) if head_samples else None
    target = _target_matrix(head_samples, n, device) if head_samples else None
    task_ids = torch.tensor([int(s.context.task) if s.context is not None else 0 for s in head_samples],
                            dtype=torch.long, device=device)  # fmt: skip
    say("head", 0, config.head_epochs, 0.0)
    def head_losses(order: Any, inputs: Any, target: Any, seen: Any) -> Iterator[Any]:
        for start in range(0, len(order), config.batch_size):
            chosen = order[start : start + config.batch_size]
            yield multinomial_loss(model.head(inputs[chosen], task_ids[chosen]), target[chosen], seen[chosen])

    for epoch in range(config.head_epochs if head_samples else 0):
        model.head.train()
        head_order = torch.from_numpy(rng.permutation(len(head_samples)))
        mean_loss = _optimise(head_losses(head_order, cache, target, seen), head_opt)
        log.append({"stage": "head", "epoch": epoch + 1, "loss": mean_loss})
        say("head", epoch + 1, config.head_epochs, mean_loss)
    model.eval()
    del cache
    ranker.bind(title_features, vocab_rows)
    model.to(device)

    # Validation on the head-validation users at the evaluation cut (0.8), vs EASE on the same fit.
    validation = _validate(ranker, head_val_h, title_features, position_of_row, ii_weights, ii_positions,
                           profile_config)  # fmt: skip
    mark("validation")

    # Stage 4: refit item-item and title features on every training user but the head-validation ones
    # (out of every fit, they calibrate the model as it is served: stage 5).
    calibration_ids = {h.profile_id for h in head_val_h}
    refit_h = [h for h in histories if h.profile_id not in calibration_ids]
    if config.refit:
        say("refit", 0, 1, 0.0)
        title_features = build_title_features(titles, events[~events["profile_id"].isin(calibration_ids)],
                                              embeddings=embeddings)  # fmt: skip
        all_sequences = sequences(refit_h)
        ii_weights, ii_positions = fit_itemitem(all_sequences, n, lam=config.lam,
                                                min_count=config.itemitem_min_count)  # fmt: skip
        transition = fit_transition(all_sequences, ii_positions, n, lam=config.transition_lam,
                                    half_life=config.itemitem_half_life, cuts=config.transition_cuts)  # fmt: skip
        del all_sequences
        model.item_item.weights = torch.from_numpy(ii_weights).to(device)
        model.transition.weights = torch.from_numpy(transition).to(device)
        ranker.itemitem_titles = [vocab[p] for p in ii_positions]
        say("refit", 1, 1, 0.0)

    # Stage 5: calibration, AFTER the last fit: per-task temperature on the head-validation users, the titles
    # bound as the page binds them (its servable scope, ``calibration_sources``: the softmax's denominator).
    say("calibration", 0, 1, 0.0)
    calibration_rows = served_rows(titles, title_features, config.calibration_sources, vocab_rows)
    calibration_position = np.full(len(title_features), -1, dtype=np.int64)
    calibration_position[calibration_rows] = np.arange(len(calibration_rows))
    calib_rng = np.random.default_rng(config.seed + 1)  # its own draws: the training's stay as they were
    calib_samples = _samples(head_val_h, title_features, calibration_position,
                             _cuts(calib_rng, len(head_val_h), config.calibration_cuts, *config.head_cut_fractions),
                             profile_config)  # fmt: skip
    calib_samples += _task_samples(head_val_h, title_features, calibration_position, calib_rng, config,
                                   profile_config, terms, lambda row: neighbours(row, calibration_position))  # fmt: skip
    model.to("cpu")
    ranker.bind(title_features, calibration_rows)
    temperatures = fit_temperatures(ranker, calib_samples, top=config.calibration_top)
    say("calibration", 1, 1, 0.0)
    model.to("cpu")
    ranker.bind(title_features)
    seconds = time.perf_counter() - started
    ranker.manifest = {
        "kind": "marquee-ranker",
        "seed": config.seed,
        "train_config": asdict(config),
        "profile_feature_config": asdict(profile_config),
        "data_version": data_version or _frame_version(events),
        "profiles": len(histories), "events": len(events), "vocab": n, "itemitem_titles": len(ii_positions),
        "head_new_titles": len(as_new), "head_samples": len(head_samples),
        "head_samples_by_task": {name: sum(1 for x in head_samples
                                            if (x.context.task if x.context is not None else Task.TOP_PICKS).name.lower() == name)
                                 for name in TASKS},
        "fit_profiles": len(fit_h), "tune_profiles": len(tune_h), "head_validation_profiles": len(head_val_h),
        "embeddings_used": bool(title_features.has_embedding.any()),
        "titles_with_embedding": int(title_features.has_embedding.sum()),
        "train_seconds": round(seconds, 1),
        # CPU seconds over all threads: comparable across busy and idle machines (÷ threads ≈ idle wall time)
        "train_cpu_seconds": round(time.process_time() - cpu_started, 1),
        "threads": config.threads,
        "device": str(device),
        "torch": torch.__version__,
        "metrics": {"validation": validation},
        "refit_profiles": len(refit_h) if config.refit else len(fit_h),
        "stage_seconds": {stage: {"wall": round(w, 1), "cpu": round(c, 1)} for stage, (w, c) in stage_seconds.items()},
        "calibration_samples": len(calib_samples),
        "calibration_profiles": len(head_val_h), "calibration_titles": len(calibration_rows),
        "history": log,
    }  # fmt: skip
    ranker.set_temperatures(temperatures)
    return TrainResult(ranker, title_features, seconds, validation, log, sorted(calibration_ids))


def fit_temperatures(ranker: TrainedRanker, samples: Sequence[Sample], *, batch_size: int = 64,
                     bounds: tuple[float, float] = (0.05, 20.0), top: int | None = 10) -> dict[str, float]:  # fmt: skip
    """Per-task temperature T of ``scores / T`` on ``samples`` (held out from every fit; targets are positions
    of the ``ranker``'s current binding; watched titles, the source and titles outside a search's results
    masked). With ``top`` (default 10): the T whose predicted play mass in each sample's ``top`` most probable
    titles, summed over the samples, equals the observed mass there (a target title counts 1/|targets|, the
    training target) — what a row shows; the whole-list likelihood's T left the top 10 over-confident
    (predicted/observed 1.66–1.74 on real data) because the score's head is sharper than its tail. With
    ``top=None``, or when no target is in any top list: the T minimising the multinomial likelihood.
    Golden-section search on log T; a task without samples keeps T = 1. The scale only: T > 0 changes no
    order."""
    import torch

    old = ranker.temperatures
    ranker.set_temperatures(dict.fromkeys(TASKS, 1.0))
    n = len(ranker.bound_rows)
    by_task: dict[str, list[Sample]] = {}
    for s in samples:
        by_task.setdefault((s.context.task if s.context is not None else Task.TOP_PICKS).name.lower(), []).append(s)
    out: dict[str, float] = {}
    for name in TASKS:
        chosen = by_task.get(name, [])
        if not chosen:
            out[name] = 1.0
            continue
        scores, masks = [], []
        for start in range(0, len(chosen), batch_size):
            chunk = chosen[start : start + batch_size]
            raw, seen = ranker.scores_and_seen([s.features for s in chunk],
                                               [s.context or RankingContext() for s in chunk])  # fmt: skip
            for i, s in enumerate(chunk):
                if s.allowed is not None:
                    outside = np.ones(n, dtype=bool)
                    outside[s.allowed] = False
                    seen[i] |= outside
            scores.append(raw)
            masks.append(seen)
        raw_t = torch.from_numpy(np.concatenate(scores).astype(np.float32))
        seen_t = torch.from_numpy(np.concatenate(masks))
        target = _target_matrix(chosen, n, torch.device("cpu"))

        out[name] = _best_temperature(raw_t, target, seen_t, bounds, top=top)
    ranker.set_temperatures(old)
    return out


def _best_temperature(scores: torch.Tensor, target: torch.Tensor, seen: torch.Tensor,
                      bounds: tuple[float, float], steps: int = 40, top: int | None = None) -> float:  # fmt: skip
    """T in ``bounds`` minimising ``multinomial_loss(scores / T, target, seen)``, or with ``top`` the squared
    log ratio of predicted to observed mass in each row's ``top`` best unmasked titles (golden section on
    log T; the top mass falls as T grows, so its match is unique)."""
    import torch

    masked = scores.masked_fill(seen, float("-inf"))
    best = torch.topk(masked, min(top, scores.shape[1]), dim=1).indices if top else None
    observed = float(target.gather(1, best).sum()) if best is not None else 0.0

    def loss(log_t: float) -> float:
        if best is None or observed <= 0:
            return float(multinomial_loss(scores / float(np.exp(log_t)), target, seen))
        log_p = torch.log_softmax(masked / float(np.exp(log_t)), dim=1)
        predicted = float(log_p.gather(1, best).exp().sum())
        return float(np.log(max(predicted, 1e-30) / observed) ** 2)

    lo, hi = float(np.log(bounds[0])), float(np.log(bounds[1]))
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(steps):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = loss(b)
    return round(float(np.exp((lo + hi) / 2.0)), 5)


def _seen_row(sample: Sample, position_of_row: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N,) bool: the bound titles out of the sample's softmax: already in its input history, its context's
    source title, and for a search sample every title outside the query's results."""
    import torch

    n = int(position_of_row.max()) + 1
    row = torch.zeros(n, dtype=torch.bool, device=device)
    positions = position_of_row[sample.features.history]
    row[torch.from_numpy(positions[positions >= 0]).to(device)] = True
    if sample.context is not None and sample.context.source_row >= 0 and position_of_row[sample.context.source_row] >= 0:
        row[int(position_of_row[sample.context.source_row])] = True
    if sample.allowed is not None:
        outside = torch.ones(n, dtype=torch.bool, device=device)
        outside[torch.from_numpy(sample.allowed).to(device)] = False
        row |= outside
    return row


def _head_cache(model: Any, ranker: TrainedRanker, samples: Sequence[Sample], device: torch.device,
                batch_size: int) -> torch.Tensor:  # fmt: skip
    """(S, N, F) raw head inputs for the samples, computed once with the towers frozen."""
    import torch

    from ranking.model import HEAD_INPUTS

    out = torch.empty(len(samples), model.n_titles, len(HEAD_INPUTS), device=device)  # filled in place: no
    with torch.no_grad():  # list of parts + torch.cat (twice the memory and one more copy of ~1 GB)
        vectors = model.title_vectors()
        for start in range(0, len(samples), batch_size):
            chunk = samples[start : start + batch_size]
            contexts = [s.context if s.context is not None else RankingContext() for s in chunk]
            batch = ranker.batch([s.features for s in chunk], contexts).to(device)
            comps = model.components(batch, vectors)
            for f, name in enumerate(HEAD_INPUTS):
                out[start : start + len(chunk), :, f] = comps[name]
    return out


def _validate(ranker: TrainedRanker, users: Sequence[History], titles: TitleFeatures, position_of_row: np.ndarray,
              ii_weights: np.ndarray, ii_positions: np.ndarray, profile_config: ProfileFeatureConfig,
              fraction: float = 0.8) -> dict[str, dict[str, float]]:  # fmt: skip
    """Metrics at the evaluation cut for the model and for EASE (same fit users, same λ)."""
    from ranking.evaluate import ranking_metrics

    samples = _samples(users, titles, position_of_row, [[fraction]] * len(users), profile_config)
    if not samples:
        return {}
    n = len(ranker.bound_rows)
    ours = np.concatenate([ranker.score([s.features for s in samples[i : i + 64]]) for i in range(0, len(samples), 64)])
    seen = [np.unique(position_of_row[s.features.history]) for s in samples]
    fed = binary_matrix([p[p >= 0] for p in seen], n)
    ease = np.full((len(samples), n), -np.inf, dtype=np.float32)
    if len(ii_positions):
        ease[:, ii_positions] = np.asarray(fed[:, ii_positions] @ ii_weights)
    held = [s.targets for s in samples]
    return {"marquee": ranking_metrics(ours, seen, held), "ease": ranking_metrics(ease, seen, held)}


def _frame_version(events: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for column in ("profile_id", "title_id", "timestamp"):
        digest.update(pd.util.hash_pandas_object(events[column], index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]
