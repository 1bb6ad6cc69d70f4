"""Selection: one shared suite of invariants for every AdSelector, then the auction's own rules."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ads.inventory import Inventory
from ads.privacy import Regime, encode_tcf_core
from ads.request import AdRequest, ContentContext, PodRequest, PrivacySignals, SlotSpec
from ads.response_model import LAYOUT, ResponseModel
from ads.selector import AdEngine, AdSelector, Decision, RandomEligibleSelector
from tests.ads.helpers import (
    DIM,
    MP4,
    T0,
    counter_ids,
    feature_source,
    inventory,
    market,
    request,
)

SELECTORS = [AdEngine, RandomEligibleSelector]


def assert_pod_invariants(decision: Decision, req: AdRequest, inv: Inventory) -> None:
    for pod in req.pods:
        placed = decision.pod(pod.pod_id)
        assert [p.sequence for p in placed] == list(range(1, len(placed) + 1))
        assert len(placed) <= pod.capacity
        assert sum(p.creative.duration_s for p in placed) <= pod.duration_budget_s
        advertisers = [p.advertiser for p in placed]
        assert len(set(advertisers)) == len(advertisers), "two ads of one advertiser in a pod"
        cats = [c for p in placed for c in p.creative.top_categories]
        assert len(set(cats)) == len(cats), "two ads of one category in a pod"
        for p in placed:
            s = next(s for s in pod.slots if s.imp_id == p.imp_id)
            assert s.fits_duration(p.creative.duration_s)
            assert p.price_cpm >= s.floor_for(p.creative.duration_s) - 1e-9
            assert not (p.creative.mimes.isdisjoint(s.mimes))
            assert p.view.advertiser.domain not in req.blocked_advertisers
            assert not any(c in req.blocked_categories or c.split("-")[0] in req.blocked_categories
                           for c in p.creative.categories)  # fmt: skip
            if decision.regime.regime is Regime.KIDS:
                assert p.view.line_item.kids_safe
            if decision.regime.regime is not Regime.PERSONALIZED:
                assert not p.view.line_item.targeting.audiences


@pytest.fixture(params=SELECTORS, ids=lambda c: c.__name__)
def make(request: pytest.FixtureRequest) -> Any:
    cls = request.param

    def build(inv: Inventory | None = None, **kw: Any) -> AdSelector:
        return cls(inv or inventory(), id_factory=counter_ids(), **kw)  # type: ignore[no-any-return]

    return build


class TestEverySelector:
    """Invariants any selector must keep (run against AdEngine and the random baseline)."""

    def test_fills_a_dynamic_pod_within_its_duration_and_count(self, make: Any) -> None:
        sel = make()
        req = request(pod_duration=60, max_ads=3)
        decision = sel.decide(req)
        assert decision.filled and 1 <= len(decision.placements) <= 3
        assert_pod_invariants(decision, req, sel.inventory)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(pod=st.integers(15, 180), max_ads=st.integers(1, 6), floor=st.sampled_from([0.0, 10.0, 25.0]),
           bcat=st.sets(st.sampled_from(["IAB2", "IAB8", "IAB19", "IAB13-1"]), max_size=2),
           badv=st.sets(st.sampled_from(["adv0.example", "adv3.example"]), max_size=1),
           coppa=st.booleans(), seed=st.integers(0, 3))  # fmt: skip
    def test_invariants_hold_for_any_request(self, make: Any, pod: int, max_ads: int, floor: float, bcat: set[str],
                                             badv: set[str], coppa: bool, seed: int) -> None:  # fmt: skip
        sel = make(inventory(market(8, seed=seed)))
        req = request(pod_duration=pod, max_ads=max_ads, floor=floor, privacy=PrivacySignals(coppa=coppa),
                      blocked_categories=frozenset(bcat), blocked_advertisers=frozenset(badv))  # fmt: skip
        assert_pod_invariants(sel.decide(req), req, sel.inventory)

    def test_frequency_caps_hold_over_a_binge(self, make: Any) -> None:
        docs = market()
        for li in docs["line_items"]:
            li["caps"] = {"per_day": 2, "min_gap_s": 600}
        sel = make(inventory(docs))
        seen: Counter[str] = Counter()
        last: dict[str, float] = {}
        for i in range(40):
            now = T0 + 3600 + i * 120.0
            for p in sel.decide(request(now=now, request_id=f"r{i}")).placements:
                sel.delivery.apply("impression", p.ticket, now)
                seen[p.line_item_id] += 1
                assert now - last.get(p.line_item_id, -1e9) >= 600
                last[p.line_item_id] = now
        assert seen and max(seen.values()) <= 2

    def test_reservations_keep_caps_before_impressions_arrive(self, make: Any) -> None:
        docs = market()
        for li in docs["line_items"]:
            li["caps"] = {"per_day": 1}
        sel = make(inventory(docs))
        served = [p.line_item_id for i in range(10) for p in sel.decide(request(request_id=f"r{i}")).placements]
        assert served and max(Counter(served).values()) == 1  # no tracking at all, still capped

    def test_capped_line_items_need_a_viewer_key(self, make: Any) -> None:
        docs = market()
        docs["line_items"][0]["caps"] = {"lifetime": 10}
        sel = make(inventory(docs))
        decision = sel.decide(request(viewer=None, max_ads=6, pod_duration=180))
        assert "li0" not in {p.line_item_id for p in decision.placements}
        assert decision.rejections["frequency_unidentified"] == 1

    def test_coppa_serves_only_kids_safe_line_items(self, make: Any) -> None:
        sel = make()
        decision = sel.decide(request(privacy=PrivacySignals(coppa=True), pod_duration=120))
        assert decision.regime.regime is Regime.KIDS
        assert {p.line_item_id for p in decision.placements} <= {"litoys", "lihouse"} and decision.filled

    def test_kids_profile_gets_the_kids_regime_and_no_features(self, make: Any) -> None:
        sel = make(features=feature_source())
        decision = sel.decide(request(profile_id="kid", pod_duration=120))
        assert decision.regime.reason == "kids-profile"
        assert all(p.view.line_item.kids_safe for p in decision.placements)

    def test_no_consent_means_no_audience_targeting(self, make: Any) -> None:
        docs = market()
        for li in docs["line_items"]:
            if not li.get("kids_safe"):
                li["targeting"] = {"audiences": ["heavy-sci-fi-viewers"]}
        sel = make(inventory(docs), features=feature_source())
        consented = sel.decide(request(profile_id="scifi", privacy=PrivacySignals(gdpr=True, tcf_consent=encode_tcf_core({1, 3, 4}))))
        refused = sel.decide(request(profile_id="scifi", privacy=PrivacySignals(gdpr=True, tcf_consent=encode_tcf_core({1}))))
        assert consented.regime.regime is Regime.PERSONALIZED and consented.filled
        assert refused.regime.regime is Regime.CONTEXTUAL
        assert {p.line_item_id for p in refused.placements} <= {"litoys", "lihouse"}

    def test_structured_pods_fill_each_slot_and_put_last_requests_last(self, make: Any) -> None:
        sel = make()
        slots = (SlotSpec("a", MP4, 25, 30, slot_in_pod=-1), SlotSpec("b", MP4, 10, 15, slot_in_pod=1),
                 SlotSpec("c", MP4, 10, 15))  # fmt: skip
        req = AdRequest("r", (PodRequest("p", slots),), T0 + 60, viewer_key="v")
        decision = sel.decide(req)
        assert [p.imp_id for p in decision.placements] == ["b", "c", "a"]
        assert_pod_invariants(decision, req, sel.inventory)

    def test_unknown_fields_do_not_matter_and_nothing_eligible_means_no_fill(self, make: Any) -> None:
        sel = make()
        decision = sel.decide(request(now=T0 + 400 * 86_400))  # every flight is over
        assert not decision.filled and decision.rejections == {"flight": len(sel.inventory.views)}


# ---------------------------------------------------------------------------------------------- the auction


def test_priority_tiers_win_before_price() -> None:
    docs = market()
    docs["line_items"][0].update(priority=2, bid=5.0)
    decision = AdEngine(inventory(docs), id_factory=counter_ids()).decide(request(max_ads=1, pod_duration=30))
    assert [p.line_item_id for p in decision.placements] == ["li0"]


def test_first_price_is_the_bid_and_the_highest_bid_wins_without_a_model() -> None:
    docs = market()
    engine = AdEngine(inventory(docs), id_factory=counter_ids())
    decision = engine.decide(request(max_ads=1, pod_duration=30))
    best = max((li for li in docs["line_items"] if li.get("priority", 3) == 3), key=lambda li: li["bid"])
    assert decision.placements[0].line_item_id == best["id"]
    assert decision.placements[0].price_cpm == pytest.approx(best["bid"])


def test_cpcv_bids_are_priced_by_predicted_completion() -> None:
    docs = market(2)
    docs["line_items"][0].update(bid_type="cpcv", bid=0.05)
    docs["line_items"][1].update(bid=1.0)
    model = ResponseModel.prior(complete_rate=0.6)
    decision = AdEngine(inventory(docs), model=model, id_factory=counter_ids()).decide(request(max_ads=1, pod_duration=30))
    placed = decision.placements[0]
    assert placed.line_item_id == "li0"
    assert placed.price_cpm == pytest.approx(0.05 * 1000 * 0.6) and placed.p_complete == pytest.approx(0.6)


def test_predicted_quality_can_beat_a_slightly_higher_bid() -> None:
    docs = market(2)
    docs["line_items"][0]["bid"], docs["line_items"][1]["bid"] = 20.0, 21.0
    engine = AdEngine(inventory(docs), id_factory=counter_ids())
    assert engine.decide(request(max_ads=1, pod_duration=15)).placements[0].line_item_id == "li1"
    weights = ResponseModel.prior().weights.copy()
    from ads.hashing import hash_token

    col, sign = hash_token("li:li0", LAYOUT["hashed"][1])
    weights[LAYOUT["hashed"][0] + col, 0] = sign * 1.0  # viewers finish li0's ads far more often
    engine.set_model(ResponseModel(weights, np.array([0.7, 0.01])))
    assert engine.decide(request(max_ads=1, pod_duration=15, request_id="r2")).placements[0].line_item_id == "li0"


def test_audiences_come_from_the_shared_profile_features() -> None:
    docs = market(2)
    docs["line_items"][0]["targeting"] = {"audiences": ["heavy-sci-fi-viewers"]}
    docs["line_items"][0]["bid"] = 60.0
    engine = AdEngine(inventory(docs), features=feature_source(), id_factory=counter_ids())
    fan = engine.decide(request(profile_id="scifi", max_ads=1, pod_duration=30, viewer="a"))
    other = engine.decide(request(profile_id="drama", max_ads=1, pod_duration=30, viewer="b"))
    assert fan.placements[0].line_item_id == "li0"
    assert other.placements[0].line_item_id != "li0" and other.rejections["audience"] == 1


def test_contextual_briefs_match_through_title_embeddings() -> None:
    features = feature_source()
    tf = features.titles
    row = tf.index["tmdb:100"]
    docs = market(2)
    docs["line_items"][0].update(bid=60.0, targeting={"brief": "space battles", "min_similarity": 0.9})
    inv = inventory(docs, brief_embeddings={"li0": tf.embeddings[row]})
    engine = AdEngine(inv, features=features, id_factory=counter_ids())
    near = engine.decide(request(content=ContentContext("tmdb:100"), max_ads=1, pod_duration=30))
    far_row = int(np.argmin(tf.embeddings @ tf.embeddings[row]))
    far = engine.decide(request(content=ContentContext(tf.title_ids[far_row]), max_ads=1, pod_duration=30, viewer="w"))
    unknown = engine.decide(request(content=ContentContext("not-in-catalog"), max_ads=1, pod_duration=30, viewer="x"))
    assert near.placements[0].line_item_id == "li0"
    assert far.rejections["contextual"] == 1 and unknown.rejections["contextual"] == 1
    assert tf.embeddings.shape[1] == DIM


def test_title_features_complete_the_request_content() -> None:
    docs = market(2)
    docs["line_items"][0].update(bid=60.0, targeting={"content_genres": ["children"], "content_maturity_max": 0})
    engine = AdEngine(inventory(docs), features=feature_source(), id_factory=counter_ids())
    kids_title = engine.decide(request(content=ContentContext("tmdb:104"), max_ads=1, pod_duration=30))  # children, kids
    adult_title = engine.decide(request(content=ContentContext("tmdb:100"), max_ads=1, pod_duration=30, viewer="z"))
    assert kids_title.placements[0].line_item_id == "li0"
    assert adult_title.placements[0].line_item_id != "li0"


def test_engine_earns_more_than_random_on_the_same_requests() -> None:
    docs = market(8, seed=1)
    reqs = [request(request_id=f"r{i}", viewer=f"v{i}", pod_duration=60, max_ads=2) for i in range(60)]
    totals = {}
    for cls in SELECTORS:
        sel = cls(inventory(docs), id_factory=counter_ids(), seed=5)
        totals[cls.__name__] = sum(p.price_cpm for r in reqs for p in sel.decide(r).placements)
    assert totals["AdEngine"] > 1.2 * totals["RandomEligibleSelector"]


def test_model_inputs_match_what_was_scored() -> None:
    features = feature_source()
    engine = AdEngine(inventory(), features=features, id_factory=counter_ids())
    req = request(profile_id="scifi", content=ContentContext("tmdb:100"), device_type=3)
    decision = engine.decide(req)
    rows = engine.model_inputs(req, decision.placements)
    assert [pos for _, _, pos in rows] == [p.sequence - 1 for p in decision.placements]
    ctx = rows[0][0]
    assert ctx.personalized and ctx.device_type == 3
    assert np.allclose(ctx.genre_affinity, features.profile_features("scifi").genre_affinity)


def test_kids_profiles_are_recognised_without_features() -> None:
    from data.events import Profile

    class Profiles:
        def profile(self, profile_id: str) -> Profile:
            return Profile(profile_id, "kids" if profile_id == "little-one" else "adults")

    engine = AdEngine(inventory(), profiles=Profiles(), id_factory=counter_ids())
    kid = engine.decide(request(profile_id="little-one", pod_duration=120))
    adult = engine.decide(request(profile_id="grown-up", pod_duration=120, viewer="w"))
    assert kid.regime.reason == "kids-profile" and all(p.view.line_item.kids_safe for p in kid.placements)
    assert adult.regime.regime is Regime.PERSONALIZED and adult.filled
