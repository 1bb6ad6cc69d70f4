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
    cfg = PacingConfig(lookahead_s=0.0)
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


def run_day(pacing: str, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
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
    times, spend = run_day("even")  # 2000 opportunities for 500 impressions
    error = pacing_error(times, spend, 10.0, T0, T0 + DAY)
    assert error.delivered == pytest.approx(1.0, abs=0.01)
    assert error.max_abs < 0.02  # within 2% of the budget of the straight line all day


def test_asap_pacing_spends_as_fast_as_it_can() -> None:
    times, spend = run_day("asap")
    assert spend[499] == pytest.approx(10.0) and spend[-1] == pytest.approx(10.0)
    assert pacing_error(times, spend, 10.0, T0, T0 + DAY).mean_abs > 0.3  # all in the first quarter of the day


def test_a_traffic_shape_moves_the_schedule_within_each_day() -> None:
    shape = tuple([0.0] * 12 + [1.0] * 12)  # all traffic in the afternoon
    assert schedule_target(100, T0, T0 + DAY, T0 + DAY / 2, shape) == pytest.approx(0)
    assert schedule_target(100, T0, T0 + DAY, T0 + 18 * 3600, shape) == pytest.approx(50)
    assert schedule_target(100, T0, T0 + 2 * DAY, T0 + DAY, shape) == pytest.approx(50)  # each day its share
    flat = tuple([1.0] * 24)
    assert schedule_target(100, T0, T0 + DAY, T0 + 6 * 3600, flat) == pytest.approx(25)
    with pytest.raises(ValueError, match="24"):
        PacingConfig(hourly_shape=(1.0, 2.0))


@pytest.mark.slow
def test_shaped_pacing_follows_diurnal_traffic() -> None:
    weights = np.array([0.05] * 8 + [1.0] * 10 + [3.0] * 6)  # night (too thin to follow a flat line), day, peak
    rng = np.random.default_rng(0)
    hours = rng.choice(24, size=4000, p=weights / weights.sum())
    times = np.sort(T0 + (hours + rng.random(4000)) * 3600)
    shape = tuple(float(w) for w in weights)
    results = {}
    for name, cfg in (("flat", PacingConfig()), ("shaped", PacingConfig(hourly_shape=shape))):
        engine = AdEngine(one_item(pacing="even"), id_factory=counter_ids(), pacing=cfg)
        spend = []
        for i, now in enumerate(times):
            for p in engine.decide(AdRequest(f"r{i}", (PodRequest("p", (slot(),)),), float(now), viewer_key=f"v{i}")).placements:
                engine.delivery.apply("impression", p.ticket, float(now))
            spend.append(engine.delivery.committed_spend("li"))
        results[name] = pacing_error(times, np.array(spend), 10.0, T0, T0 + DAY, cfg.hourly_shape)
    assert results["shaped"].delivered == pytest.approx(1.0, abs=0.01)
    assert results["shaped"].max_abs < 0.03  # tracks its own (shaped) schedule closely
    assert results["flat"].max_abs > 0.1  # the flat line cannot be followed through the night
