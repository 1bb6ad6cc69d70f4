"""The viewer simulator: traffic shape, responses, the violation counters, and a clean simulated day."""

from __future__ import annotations

import numpy as np
import pytest

from ads.delivery import day_of
from ads.demo import demo_inventory
from ads.inventory import Inventory
from ads.selector import AdEngine, RandomEligibleSelector
from ads.simulator import (
    QUARTILE_EVENTS,
    ServedAd,
    SimConfig,
    ViewerSimulator,
    cap_violations,
    kids_violations,
    separation_violations,
    simulate,
)
from ads.train import collect_log, train_on_log
from tests.ads.helpers import T0, counter_ids, feature_source


@pytest.fixture(scope="module")
def world() -> tuple[Inventory, ViewerSimulator, object]:
    features = feature_source(extra_profiles=60)
    inv = Inventory.from_dicts(**demo_inventory(T0))
    sim = ViewerSimulator(features.titles, features._profiles, SimConfig(T0, sessions=150, seed=4, coppa_share=0.1,
                                                                          kids_profile_share=0.1), inventory=inv)  # fmt: skip
    return inv, sim, features


def test_traffic_is_a_seeded_day_of_break_requests(world: tuple) -> None:
    inv, sim, features = world
    reqs = list(sim.traffic())
    again = list(sim.traffic())
    assert [r.request.request_id for r in reqs] == [r.request.request_id for r in again]
    times = np.array([r.request.now for r in reqs])
    assert np.all(np.diff(times) >= 0) and times.min() >= T0 and times.max() < T0 + 86_400
    sessions = {(r.profile_id, r.request.privacy.coppa): set() for r in reqs}
    for r in reqs:
        sessions[(r.profile_id, r.request.privacy.coppa)].add(r.session_id)
    assert 100 < len({r.session_id for r in reqs}) < 200 and len(reqs) > 300  # a pre-roll and mid-rolls each
    assert max(len(v) for (pid, coppa), v in sessions.items() if not coppa) <= 8
    kids = [r for r in reqs if r.kids_truth]
    assert kids and all(features.titles.maturity_level[r.title_row] <= 1 for r in kids)
    coppa = [r for r in reqs if r.request.privacy.coppa]
    assert coppa and all(r.request.profile_id is None and r.request.viewer_key for r in coppa)
    hours = np.bincount(((times - T0) // 3600).astype(int), minlength=24)
    assert hours[18:23].sum() > 3 * hours[1:6].sum()  # evening peak


def test_responses_follow_the_vast_event_order(world: tuple) -> None:
    inv, sim, _ = world
    req = next(r for r in sim.traffic() if not r.kids_truth)
    rng = np.random.default_rng(0)
    for _ in range(50):
        out = sim.respond(req, line_item_id="li", creative_id="cr", category="IAB19", duration_s=15, position=0,
                          brief_embedding=None, rng=rng)  # fmt: skip
        played = [e for e in out.events if e in QUARTILE_EVENTS]
        assert out.events[0] == "impression" and played == list(QUARTILE_EVENTS[: len(played)])
        assert out.completed == ("complete" in out.events) and out.clicked == ("click" in out.events)


def test_hidden_interest_drives_completion(world: tuple) -> None:
    _, sim, _ = world
    assert sim.interest("scifi", "IAB19") > sim.interest("drama", "IAB19")
    assert sim.interest("drama", "IAB13") > sim.interest("scifi", "IAB13")


def ad(ts: float, li: str = "li-001-northwind", viewer: str = "v", pod: str = "p", adv: str = "a",
       cats: frozenset[str] = frozenset({"IAB2"}), kids: bool = False, safe: bool = False,
       regime: str = "personalized") -> ServedAd:  # fmt: skip
    return ServedAd(ts, "r", pod, 1, "pid", viewer, kids, regime, li, adv, cats, safe, 15, 10.0, 0.01, True, False)


def test_the_violation_counters_catch_planted_violations(world: tuple) -> None:
    inv = world[0]
    caps = inv.line_items["li-001-northwind"].caps  # 3 per day, 30 min apart
    assert caps.per_day == 3 and caps.min_gap_s == 1800
    ok = [ad(T0 + i * 2000) for i in range(3)]
    assert cap_violations(ok, inv) == 0
    assert cap_violations([*ok, ad(T0 + 6500)], inv) == 1  # fourth of the day
    assert cap_violations([ad(T0), ad(T0 + 100)], inv) == 1  # gap
    assert day_of(T0 + 86_400 + 10) != day_of(T0) and cap_violations([*ok, ad(T0 + 86_400 + 10)], inv) == 0
    assert separation_violations([ad(T0, adv="a"), ad(T0, adv="a", cats=frozenset({"IAB8"}))]) == 1
    assert separation_violations([ad(T0, adv="a"), ad(T0, adv="b")]) == 1  # same category
    assert separation_violations([ad(T0, adv="a"), ad(T0, adv="b", pod="q")]) == 0
    assert kids_violations([ad(T0, kids=True, safe=False, regime="kids")]) == 1
    assert kids_violations([ad(T0, kids=True, safe=True, regime="personalized")]) == 1
    assert kids_violations([ad(T0, kids=True, safe=True, regime="kids"), ad(T0, kids=False)]) == 0


@pytest.mark.parametrize("cls", [AdEngine, RandomEligibleSelector], ids=lambda c: c.__name__)
def test_a_simulated_day_has_no_violations(world: tuple, cls: type) -> None:
    inv, sim, features = world
    engine = cls(inv, features=features, id_factory=counter_ids())
    log = simulate(engine, sim, list(sim.traffic()))
    assert log.served and 0 < log.filled_requests <= log.requests
    assert cap_violations(log.served, inv) == 0
    assert separation_violations(log.served) == 0
    assert kids_violations(log.served) == 0
    assert any(a.kids_truth for a in log.served)
    assert sum(a.spend for a in log.served) == pytest.approx(sum(engine.delivery.committed_spend(li) for li in inv.line_items))


@pytest.mark.slow
def test_training_on_simulator_logs_reports_held_out_quality() -> None:
    features = feature_source(extra_profiles=60)
    inv = Inventory.from_dicts(**demo_inventory(T0))
    sim = ViewerSimulator(features.titles, features._profiles, SimConfig(T0, sessions=800, seed=2), inventory=inv)
    log = collect_log(RandomEligibleSelector(inv, features=features, seed=1), sim, list(sim.traffic()))
    assert len(log.rows) == len(log.completed) > 1500
    model, report = train_on_log(log, seed=0)
    assert model.trained and set(report) == {"complete", "click"}
    assert report["complete"].log_loss < report["complete"].base_log_loss
