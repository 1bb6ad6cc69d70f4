"""``AdEngine.explain``: the same pod ``decide`` answers, one rule per line item, and no state change."""

from __future__ import annotations

from typing import Any

import pytest

from ads.privacy import PrivacySignals
from ads.selector import STAGES, AdEngine, RandomEligibleSelector
from tests.ads.helpers import T0, counter_ids, inventory, market, request


@pytest.mark.parametrize("cls", [AdEngine, RandomEligibleSelector], ids=lambda c: c.__name__)
def test_explain_predicts_decide_and_reserves_nothing(cls: Any) -> None:
    docs = market(8, seed=1)
    docs["line_items"][0]["caps"] = {"per_day": 1}
    engine = cls(inventory(docs), id_factory=counter_ids(), seed=3)
    req = request(pod_duration=60, max_ads=3)
    first = engine.explain(req)
    again = engine.explain(req)  # a dry run leaves delivery, ids and the random stream as they were
    assert [p.line_item_id for p in first.decision.placements] == [p.line_item_id for p in again.decision.placements]
    decision = engine.decide(req)
    assert [p.line_item_id for p in decision.placements] == [p.line_item_id for p in first.decision.placements]
    assert [p.ticket.impression_id for p in decision.placements][0] == "imp-1"  # no id was drawn by explain
    chosen = [c for c in first.candidates if c.kept]
    assert sorted(c.line_item_id for c in chosen) == sorted(p.line_item_id for p in decision.placements)
    assert {c.line_item_id for c in first.candidates} == {v.id for v in engine.inventory.views}
    assert {c.stage for c in first.candidates} <= set(STAGES)


def test_each_rule_is_named() -> None:
    docs = market(8, seed=0)
    lis = {li["id"]: li for li in docs["line_items"]}
    lis["li1"]["targeting"] = {"countries": ["FR"]}  # eligibility: country
    lis["li2"]["budget"] = 0.001  # pacing: budget exhausted by one impression
    lis["li3"]["caps"] = {"per_day": 2}
    engine = AdEngine(inventory(docs), id_factory=counter_ids())
    req = request(pod_duration=60, max_ads=3, country="US")
    why = {c.line_item_id: c for c in engine.explain(req).candidates}
    assert (why["li1"].stage, why["li1"].rule) == ("eligibility", "country")
    assert (why["li2"].stage, why["li2"].rule) == ("pacing", "budget")
    # adv2 and adv5 share top-level category IAB8: whichever is not chosen is separated or outranked
    stages = {c.stage for c in why.values()}
    assert "chosen" in stages and stages & {"separation", "auction"}
    for c in why.values():
        if c.stage == "separation":
            assert c.rule in ("separation_advertiser", "separation_category") and "position" in c.detail
    # a floor above every price rejects every live candidate at the floor stage
    floored = {c.line_item_id: c for c in engine.explain(request(floor=500.0)).candidates}
    assert floored["li0"].stage == "floor" and "floor" in floored["li0"].detail
    # COPPA: only kids-safe line items pass eligibility
    kids = engine.explain(request(privacy=PrivacySignals(coppa=True))).candidates
    assert {c.line_item_id for c in kids if c.rule == "kids_unsafe"} == {f"li{i}" for i in range(8)}
    assert all(c.line_item_id in ("litoys", "lihouse") for c in kids if c.kept)


def test_capped_line_item_is_explained_as_cap_after_its_impression() -> None:
    docs = market(6, seed=2)
    for li in docs["line_items"]:
        li["caps"] = {"per_day": 1}
    engine = AdEngine(inventory(docs), id_factory=counter_ids())
    placed = engine.decide(request(now=T0 + 3600)).placements
    assert placed
    why = {c.line_item_id: c for c in engine.explain(request(now=T0 + 3700, request_id="r2")).candidates}
    for p in placed:
        assert (why[p.line_item_id].stage, why[p.line_item_id].rule) == ("cap", "frequency_day")
