"""Training the response model on simulator logs.

Logs come from the exploration policy (:class:`~ads.selector.RandomEligibleSelector`: every eligible
ad has a chance, so the logs are not biased toward what a model already likes). Each played ad
gives one row — the response model's inputs as the *serving* code computes them
(:meth:`AdEngine.model_inputs`) — labelled with whether it completed and whether it was clicked.
A seeded 20% of sessions is held out to report log loss and AUC against the base-rate model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ads.hashing import log_loss, roc_auc
from ads.inventory import Inventory
from ads.response_model import (
    ModelCandidate,
    ModelContext,
    ResponseModel,
    design_matrix,
    train_response_model,
)
from ads.selector import AdEngine, Placement, RandomEligibleSelector
from ads.simulator import Outcome, SimConfig, SimRequest, StaticFeatures, ViewerSimulator, simulate


@dataclass(frozen=True)
class TrainingLog:
    rows: list[tuple[ModelContext, ModelCandidate, int]]
    completed: np.ndarray  # (n,) 0/1
    clicked: np.ndarray  # (n,) 0/1
    sessions: np.ndarray  # (n,) session id of each row

    @staticmethod
    def concat(logs: Sequence[TrainingLog]) -> TrainingLog:
        """Logs of several days as one (session ids kept distinct per day)."""
        return TrainingLog([r for log in logs for r in log.rows], np.concatenate([log.completed for log in logs]),
                           np.concatenate([log.clicked for log in logs]),
                           np.concatenate([log.sessions + 1_000_000 * k for k, log in enumerate(logs)]))  # fmt: skip


def exploration_days(inventory: Inventory, features: StaticFeatures, *, day_start: float, sessions: int,
                     seeds: Sequence[int]) -> tuple[TrainingLog, np.ndarray]:  # fmt: skip
    """Simulate one day per seed played by the exploration policy; returns the combined log and the
    requests per UTC hour over those days ((24,) counts, the traffic forecast pacing can follow)."""
    logs, hours = [], np.zeros(24)
    for seed in seeds:
        sim = ViewerSimulator(features.titles, features.profiles, SimConfig(day_start, sessions=sessions, seed=seed),
                              inventory=inventory)  # fmt: skip
        requests = list(sim.traffic())
        hours += np.bincount([int((r.request.now - day_start) // 3600) % 24 for r in requests], minlength=24)
        logs.append(collect_log(RandomEligibleSelector(inventory, features=features, seed=seed), sim, requests, seed=seed))
    return TrainingLog.concat(logs), hours


def collect_log(policy: AdEngine, simulator: ViewerSimulator, requests: Sequence[SimRequest], *,
                seed: int = 0) -> TrainingLog:  # fmt: skip
    """Play ``requests`` with ``policy`` and record one row per played ad."""
    rows: list[tuple[ModelContext, ModelCandidate, int]] = []
    completed: list[int] = []
    clicked: list[int] = []
    sessions: list[int] = []

    def record(sim: SimRequest, placement: Placement, outcome: Outcome) -> None:
        rows.extend(policy.model_inputs(sim.request, [placement]))
        completed.append(int(outcome.completed))
        clicked.append(int(outcome.clicked))
        sessions.append(sim.session_id)

    simulate(policy, simulator, requests, seed=seed, on_placement=record)
    return TrainingLog(rows, np.array(completed), np.array(clicked), np.array(sessions))


@dataclass(frozen=True)
class HeadReport:
    log_loss: float
    base_log_loss: float
    auc: float


def _report(model: ResponseModel, log: TrainingLog, mask: np.ndarray) -> dict[str, HeadReport]:
    rows = [r for r, keep in zip(log.rows, mask, strict=True) if keep]
    z = design_matrix(rows) @ model.weights  # (m, 2)
    p = 1 / (1 + np.exp(-z))
    out = {}
    for h, (name, labels) in enumerate((("complete", log.completed[mask]), ("click", log.clicked[mask]))):
        base = np.full(len(labels), model.base_rates[h])
        out[name] = HeadReport(log_loss(labels, p[:, h]), log_loss(labels, base), roc_auc(labels, p[:, h]))
    return out


def train_on_log(log: TrainingLog, *, holdout: float = 0.2, seed: int = 0,
                 l2: float = 1e-3) -> tuple[ResponseModel, dict[str, HeadReport]]:  # fmt: skip
    """Fit on the sessions not held out; report held-out log loss / AUC (then refit on everything)."""
    rng = np.random.default_rng(seed)
    unique = np.unique(log.sessions)
    held = set(rng.choice(unique, size=int(len(unique) * holdout), replace=False).tolist()) if holdout else set()
    test = np.array([s in held for s in log.sessions], dtype=bool)
    train = ~test
    fitted = train_response_model([r for r, k in zip(log.rows, train, strict=True) if k], log.completed[train],
                                  log.clicked[train], l2=l2)  # fmt: skip
    report = _report(fitted, log, test) if test.any() else {}
    model = train_response_model(log.rows, log.completed, log.clicked, l2=l2, metadata={
        "holdout": {k: vars(v) for k, v in report.items()}, "sessions": len(unique)})  # fmt: skip
    return model, report
