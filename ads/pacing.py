"""Budget pacing: spread a line item's budget evenly over its flight, or spend it as fast as possible.

Even pacing follows the schedule ``target(t) = budget × F(t)``, where ``F`` is the share of the
flight's expected traffic before ``t``: with no traffic forecast (the default) that is the
straight line ``(t − start) / (end − start)``; with an hourly traffic shape (24 weights, e.g. the
request counts of yesterday by UTC hour) every day of the flight gets the same share of the budget
and within a day the schedule follows the shape, so a line item is not "behind" at 4 a.m. A
line item may bid while its spend (committed plus reserved) is below ``target(t + lookahead)``:
ahead of schedule it sits out, behind schedule it bids on everything it can win. The lookahead
(``min(lookahead_s, max_lookahead_fraction × flight)``, 15 minutes by default) lets it win the
next impressions a little ahead of the line instead of stalling exactly on it; falling behind
(a night of thin traffic) is made up by bidding on everything until the line is reached again.
``asap`` pacing bids while budget remains. Both stop when one more impression would overspend.

The error of a delivered trajectory against the schedule is :func:`pacing_error`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ads.inventory import LineItemView

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class PacingConfig:
    """``hourly_shape``: 24 non-negative weights of expected traffic by UTC hour (None = flat)."""

    lookahead_s: float = 900.0
    max_lookahead_fraction: float = 0.05
    hourly_shape: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        shape = self.hourly_shape
        if shape is not None and (len(shape) != 24 or min(shape) < 0 or sum(shape) <= 0):
            raise ValueError(f"hourly_shape has {len(shape)} values: expected 24 non-negative weights, not all 0")


def _traffic_days(ts: float, shape: np.ndarray) -> float:
    """Expected traffic from the epoch to ``ts``, in days (each whole day = 1); ``shape`` sums to 1."""
    day, sec = divmod(ts, SECONDS_PER_DAY)
    hour = min(int(sec // 3600), 23)
    return float(day + shape[:hour].sum() + shape[hour] * (sec - hour * 3600) / 3600)


def schedule_target(budget: float, start: float, end: float, now: float,
                    hourly_shape: tuple[float, ...] | None = None) -> float:  # fmt: skip
    """Spend the even schedule expects by ``now`` (see the module docstring)."""
    if now <= start:
        return 0.0
    if now >= end:
        return budget
    if hourly_shape is None:
        return budget * (now - start) / (end - start)
    shape = np.asarray(hourly_shape, dtype=np.float64)
    shape = shape / shape.sum()
    t0, t1 = _traffic_days(start, shape), _traffic_days(end, shape)
    return budget * (_traffic_days(now, shape) - t0) / (t1 - t0) if t1 > t0 else budget * (now - start) / (end - start)


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
    lookahead = min(config.lookahead_s, config.max_lookahead_fraction * (view.end - view.start))
    if spent >= schedule_target(budget, view.start, view.end, now + lookahead, config.hourly_shape):
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
                 end: float, hourly_shape: tuple[float, ...] | None = None) -> PacingError:  # fmt: skip
    """Error of a spend trajectory against the schedule: ``times`` (k,) checkpoints (unix s),
    ``cumulative_spend`` (k,) spend reached by each checkpoint."""
    times = np.asarray(times, dtype=np.float64)
    spend = np.asarray(cumulative_spend, dtype=np.float64)
    if budget <= 0 or len(times) == 0:
        return PacingError(0.0, 0.0, 0.0)
    target = np.array([schedule_target(budget, start, end, t, hourly_shape) for t in times])
    gap = np.abs(spend - target) / budget
    return PacingError(float(gap.mean()), float(gap.max()), float(spend[-1] / budget))
