"""Budget pacing: spread a line item's budget evenly over its flight, or spend it as fast as possible.

Even pacing follows the straight schedule ``target(t) = budget × (t − start) / (end − start)``. A
line item may bid while its spend (committed plus reserved) is below ``target(t + lookahead)``:
ahead of schedule it sits out, behind schedule it bids on everything it can win. The lookahead
(``max(lookahead_fraction × flight, min_lookahead_s)``) lets it spend a little ahead so that a
night of thin traffic is made up for in the evening peak without a burst at the start.
``asap`` pacing bids while budget remains. Both stop when one more impression would overspend.

The error of a delivered trajectory against the schedule is :func:`pacing_error`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ads.inventory import LineItemView


@dataclass(frozen=True)
class PacingConfig:
    lookahead_fraction: float = 0.01
    min_lookahead_s: float = 300.0


def schedule_target(budget: float, start: float, end: float, now: float) -> float:
    """Spend the even schedule expects by ``now``."""
    if now <= start:
        return 0.0
    if now >= end:
        return budget
    return budget * (now - start) / (end - start)


def pacing_allows(view: LineItemView, spent: float, price_cpm: float, now: float,
                  config: PacingConfig = PacingConfig()) -> str | None:  # fmt: skip
    """None when the line item may take one more impression at ``price_cpm``; else the reason
    ('budget' when exhausted, 'pacing' when ahead of its even schedule)."""
    budget = view.line_item.budget
    next_spend = price_cpm / 1000.0
    if spent + next_spend > budget + 1e-9:
        return "budget"
    if view.line_item.pacing == "asap":
        return None
    flight = view.end - view.start
    lookahead = max(config.lookahead_fraction * flight, config.min_lookahead_s)
    if spent >= schedule_target(budget, view.start, view.end, now + lookahead):
        return "pacing"
    return None


@dataclass(frozen=True)
class PacingError:
    """How far delivery strayed from the even schedule, as fractions of the budget.

    ``mean_abs`` / ``max_abs``: mean and worst |spend(t) − target(t)| ÷ budget over the checkpoints;
    ``delivered``: final spend ÷ budget (1.0 = fully delivered).
    """

    mean_abs: float
    max_abs: float
    delivered: float


def pacing_error(times: np.ndarray, cumulative_spend: np.ndarray, budget: float, start: float,
                 end: float) -> PacingError:  # fmt: skip
    """Error of a spend trajectory: ``times`` (k,) checkpoints (unix s), ``cumulative_spend`` (k,) spend
    reached by each checkpoint."""
    times = np.asarray(times, dtype=np.float64)
    spend = np.asarray(cumulative_spend, dtype=np.float64)
    if budget <= 0 or len(times) == 0:
        return PacingError(0.0, 0.0, 0.0)
    target = np.array([schedule_target(budget, start, end, t) for t in times])
    gap = np.abs(spend - target) / budget
    return PacingError(float(gap.mean()), float(gap.max()), float(spend[-1] / budget))
