"""Even and as-fast-as-possible pacing, and the pacing error measure."""

from __future__ import annotations

import numpy as np
import pytest

from ads.inventory import Inventory
from ads.pacing import PacingConfig, pacing_allows, pacing_error, schedule_target
from ads.request import AdRequest, PodRequest
from ads.selector import AdEngine
from tests.ads.helpers import DAY, T0, advertiser, campaign, counter_ids, creative, line_item, slot


def one_item(**over: object) -> Inventory:
    docs = {"advertisers": [advertiser("a")], "campaigns": [campaign("c", "a")], "creatives": [creative("cr", "a")],
            "line_items": [line_item("li", "c", ["cr"], start=T0, end=T0 + DAY, budget=10.0, bid=20.0, **over)]}  # fmt: skip
    return Inventory.from_dicts(**docs)


def test_schedule_is_linear_and_clamped() -> None:
    assert schedule_target(100, T0, T0 + DAY, T0 - 5) == 0
    assert schedule_target(100, T0, T0 + DAY, T0 + DAY / 4) == pytest.approx(25)
    assert schedule_target(100, T0, T0 + DAY, T0 + 2 * DAY) == 100


def test_even_pacing_sits_out_ahead_of_schedule_and_stops_at_budget() -> None:
    view = one_item(pacing="even").view("li")
    cfg = PacingConfig(lookahead_fraction=0.0, min_lookahead_s=0.0)
    assert pacing_allows(view, 2.0, 20.0, T0 + DAY / 2, cfg) is None  # behind: 2 of 5 expected
    assert pacing_allows(view, 6.0, 20.0, T0 + DAY / 2, cfg) == "pacing"  # ahead
    assert pacing_allows(view, 9.99, 20.0, T0 + DAY, cfg) == "budget"  # one more would overspend
    asap = one_item(pacing="asap").view("li")
    assert pacing_allows(asap, 9.0, 20.0, T0 + 1, cfg) is None
    assert pacing_allows(asap, 9.99, 20.0, T0 + 1, cfg) == "budget"


def test_pacing_error_measures_distance_from_the_line() -> None:
    times = T0 + np.array([0.25, 0.5, 0.75, 1.0]) * DAY
    perfect = pacing_error(times, np.array([25, 50, 75, 100.0]), 100, T0, T0 + DAY)
    assert perfect.mean_abs == 0 and perfect.delivered == 1
    front = pacing_error(times, np.array([100, 100, 100, 100.0]), 100, T0, T0 + DAY)
    assert front.max_abs == pytest.approx(0.75) and front.mean_abs == pytest.approx(0.375)


def run_day(pacing: str, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    engine = AdEngine(one_item(pacing=pacing), id_factory=counter_ids())
    times = T0 + (np.arange(n) + 0.5) / n * DAY
    spend = np.zeros(n)
    for i, now in enumerate(times):
        request = AdRequest(f"r{i}", (PodRequest("p", (slot(),)),), float(now), viewer_key=f"v{i}")
        for p in engine.decide(request).placements:
            engine.delivery.apply("impression", p.ticket, float(now))
        spend[i] = engine.delivery.committed_spend("li")
    return times, spend


def test_even_pacing_delivers_the_budget_along_the_schedule() -> None:
    times, spend = run_day("even")  # 4000 opportunities for 500 impressions
    error = pacing_error(times, spend, 10.0, T0, T0 + DAY)
    assert error.delivered == pytest.approx(1.0, abs=0.01)
    assert error.max_abs < 0.02  # within 2% of the budget of the straight line all day


def test_asap_pacing_spends_as_fast_as_it_can() -> None:
    times, spend = run_day("asap")
    assert spend[499] == pytest.approx(10.0) and spend[-1] == pytest.approx(10.0)
    assert pacing_error(times, spend, 10.0, T0, T0 + DAY).mean_abs > 0.4
