"""Evaluation splits over viewing histories: the future of a user never predicts that user's past.

Protocol 1 (the main one, ../shared/DATA-NOTES.md): **held-out users** ("strong generalization",
Liang et al. 2018). A seeded random set of users is held out (``np.random.default_rng(seed)
.permutation(users)[:n_test]`` over users in order of first appearance); every other user is
training data; each held-out user's events are sorted by time, the first ``fraction`` are fed in and
the rest are to be predicted. Items are the titles seen in training ("the universe"); fed or held
items outside it are dropped; fed items are excluded from the ranking.

Shapes: ``u`` users, ``n`` universe titles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.events import History
from features.profiles import histories_from_frame

__all__ = ["EvalUser", "HeldOutSplit", "held_out_users_split", "prefix", "user_order"]


def prefix(history: History, count: int) -> History:
    """The first ``count`` events of ``history`` (same profile)."""
    return History(history.profile_id, history.title_ids[:count], history.timestamps[:count],
                   history.kinds[:count], history.last_seq)  # fmt: skip


def user_order(events: pd.DataFrame) -> list[str]:
    """Profile ids in order of first appearance in ``events`` (the ``ratings.userId.unique()`` order)."""
    return list(pd.unique(events["profile_id"].astype(str)))


@dataclass(frozen=True)
class EvalUser:
    """One held-out user: ``fed`` (the first part of the history, time order) and the ``held`` titles."""

    profile_id: str
    fed: History
    held: list[str]  # distinct universe title ids after the cut, not in the fed part


@dataclass(frozen=True)
class HeldOutSplit:
    """Training events (everyone else) and the held-out users."""

    train_events: pd.DataFrame
    users: list[EvalUser]
    universe: list[str]  # title ids seen in training, sorted
    description: dict[str, object]


def held_out_users_split(
    events: pd.DataFrame,
    *,
    n_test: int = 120,
    seed: int = 0,
    fraction: float = 0.8,
    exclude: set[str] | None = None,
) -> HeldOutSplit:
    """Protocol 1 on an events frame (``profile_id``, ``title_id``, ``timestamp`` [, ``seq``]).

    ``exclude``: profile ids that are neither training nor test (e.g. carving a validation split out
    of the training users of an outer split). The fed part is ``floor(fraction * len(history))``
    events; users left with no held item in the universe are dropped (counted in ``description``).
    """
    exclude = exclude or set()
    users = [u for u in user_order(events) if u not in exclude]
    if n_test >= len(users):
        raise ValueError(f"n_test={n_test}: expected fewer than the {len(users)} users in the events")
    test = set(np.random.default_rng(seed).permutation(np.array(users, dtype=object))[:n_test].tolist())
    profiles = events["profile_id"].astype(str)
    train = events[~profiles.isin(test | exclude)]
    universe = sorted(set(train["title_id"].astype(str)))
    known = set(universe)
    out: list[EvalUser] = []
    dropped = 0
    for history in histories_from_frame(events[profiles.isin(test)]):
        cut = int(np.floor(fraction * len(history)))
        fed = prefix(history, cut)
        fed_set = set(fed.title_ids)
        held = list(dict.fromkeys(t for t in history.title_ids[cut:] if t in known and t not in fed_set))
        if not held:
            dropped += 1
            continue
        out.append(EvalUser(history.profile_id, fed, held))
    out.sort(key=lambda u: u.profile_id)
    description = {
        "protocol": "held-out users (strong generalization)",
        "seed": seed, "n_test_users": n_test, "fraction_fed": fraction,
        "users_evaluated": len(out), "users_dropped_no_held_items": dropped,
        "train_users": int(train["profile_id"].nunique()), "train_events": len(train),
        "universe_titles": len(universe), "held_items": sum(len(u.held) for u in out),
        "ranking": "all universe titles, fed titles excluded, no sampled negatives",
    }  # fmt: skip
    return HeldOutSplit(train, out, universe, description)
