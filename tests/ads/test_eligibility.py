"""Every eligibility rule, one at a time, against a line item that passes everything else."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ads.eligibility import REASONS, ContentSignals, blocked_category, creative_rejection, line_item_rejection
from ads.inventory import Inventory, creative_from_dict
from ads.privacy import Regime
from ads.request import SlotSpec
from tests.ads.helpers import DAY, T0, advertiser, campaign, creative, line_item

CONTENT = ContentSignals("tmdb:1", frozenset({"sci-fi", "action"}), frozenset({"IAB1-5", "IAB17-3"}), 3, None)


def view(li_over: dict[str, Any] | None = None, *, campaign_over: dict[str, Any] | None = None,
         adv_over: dict[str, Any] | None = None, brief_embedding: np.ndarray | None = None) -> Any:  # fmt: skip
    docs = {"advertisers": [advertiser("a", **(adv_over or {}))], "campaigns": [campaign("c", "a", **(campaign_over or {}))],
            "creatives": [creative("cr", "a")], "line_items": [line_item("li", "c", ["cr"], **(li_over or {}))]}  # fmt: skip
    emb = {"li": brief_embedding} if brief_embedding is not None else None
    return Inventory.from_dicts(**docs, brief_embeddings=emb).view("li")


def reason(v: Any, **kw: Any) -> str | None:
    args: dict[str, Any] = dict(now=T0, regime=Regime.PERSONALIZED, country="US", device_type=3, content=CONTENT,
                                audiences=frozenset({"heavy-sci-fi-viewers"}), content_similarity=None,
                                blocked_advertisers=frozenset())  # fmt: skip
    args.update(kw)
    return line_item_rejection(v, **args)


def test_the_baseline_line_item_is_eligible() -> None:
    assert reason(view()) is None


@pytest.mark.parametrize(
    ("li_over", "kw", "expected"),
    [
        ({"status": "paused"}, {}, "inactive"),
        ({"start": T0 + DAY}, {}, "flight"),
        ({"end": T0 - 1}, {"now": T0}, "flight"),
        ({}, {"regime": Regime.KIDS}, "kids_unsafe"),
        ({"targeting": {"countries": ["FR", "DE"]}}, {}, "country"),
        ({"targeting": {"countries": ["FR"]}}, {"country": None}, "country"),
        ({"targeting": {"device_types": [4, 5]}}, {}, "device"),
        ({"targeting": {"device_types": [3]}}, {"device_type": None}, "device"),
        ({"targeting": {"content_genres": ["drama", "comedy"]}}, {}, "genre"),
        ({"targeting": {"content_categories": ["IAB17-4"]}}, {}, "category"),
        ({"targeting": {"content_maturity_max": 2}}, {}, "maturity"),
        ({"targeting": {"content_maturity_min": 3}},
         {"content": ContentSignals(None, frozenset(), frozenset(), None, None)}, "maturity"),
        ({"targeting": {"audiences": ["horror-fans"]}}, {}, "audience"),
        ({"targeting": {"audiences": ["heavy-sci-fi-viewers"]}}, {"regime": Regime.CONTEXTUAL}, "audience"),
        ({"targeting": {"brief": "space opera", "min_similarity": 0.8}}, {"content_similarity": 0.79}, "contextual"),
        ({"targeting": {"brief": "space opera"}}, {"content_similarity": None}, "contextual"),
        ({}, {"blocked_advertisers": frozenset({"a.example"})}, "blocked_advertiser"),
    ],
)
def test_each_rule_rejects(li_over: dict[str, Any], kw: dict[str, Any], expected: str) -> None:
    assert expected in REASONS
    assert reason(view(li_over), **kw) == expected


@pytest.mark.parametrize(
    ("li_over", "kw"),
    [
        ({"kids_safe": True}, {"regime": Regime.KIDS}),
        ({"targeting": {"countries": ["US", "CA"]}}, {}),
        ({"targeting": {"device_types": [3, 7]}}, {}),
        ({"targeting": {"content_genres": ["sci-fi", "drama"]}}, {}),
        ({"targeting": {"content_categories": ["IAB17"]}}, {}),  # prefix match on IAB17-3
        ({"targeting": {"content_categories": ["IAB1-5"]}}, {}),
        ({"targeting": {"content_maturity_min": 3}}, {}),
        ({"targeting": {"audiences": ["horror-fans", "heavy-sci-fi-viewers"]}}, {}),
        ({"targeting": {"brief": "space opera", "min_similarity": 0.8}}, {"content_similarity": 0.8}),
    ],
)
def test_each_rule_accepts_a_match(li_over: dict[str, Any], kw: dict[str, Any]) -> None:
    assert reason(view(li_over), **kw) is None


def test_campaign_and_advertiser_status_and_dates_apply() -> None:
    assert reason(view(campaign_over={"status": "paused"})) == "inactive"
    assert reason(view(adv_over={"status": "archived"})) == "inactive"
    assert reason(view(campaign_over={"end": T0 - 10})) == "flight"


def test_a_line_item_without_active_creatives_cannot_serve() -> None:
    docs = {"advertisers": [advertiser("a")], "campaigns": [campaign("c", "a")],
            "creatives": [creative("cr", "a", status="paused")], "line_items": [line_item("li", "c", ["cr"])]}  # fmt: skip
    assert reason(Inventory.from_dicts(**docs).view("li")) == "no_creative"


def test_bcat_blocks_by_prefix_and_refuses_other_taxonomies() -> None:
    beer = creative_from_dict(creative("b", "a", categories=("IAB8-5",)))
    assert blocked_category(beer, frozenset({"IAB8"}), 1)
    assert blocked_category(beer, frozenset({"IAB8-5"}), 1)
    assert not blocked_category(beer, frozenset({"IAB8-9", "IAB7"}), 1)
    assert not blocked_category(beer, frozenset(), 1)
    assert blocked_category(beer, frozenset({"1002"}), 6)  # cannot compare: conservative


@pytest.mark.parametrize(
    ("slot_kw", "expected"),
    [
        ({}, None),
        ({"min_duration_s": 20}, "duration"),
        ({"max_duration_s": 10}, "duration"),
        ({"required_durations": frozenset({15, 30})}, None),
        ({"required_durations": frozenset({6, 30})}, "duration"),
        ({"mimes": frozenset({"video/webm"})}, "mime"),
        ({"mimes": frozenset({"application/x-mpegURL"})}, None),
        ({"protocols": frozenset({2, 3})}, "protocol"),
        ({"protocols": frozenset({3, 7})}, None),
    ],
)
def test_creative_must_fit_the_slot(slot_kw: dict[str, Any], expected: str | None) -> None:
    cr = creative_from_dict(creative("cr", "a", duration=15))
    kw = {"mimes": frozenset({"video/mp4"}), "min_duration_s": 5, "max_duration_s": 30} | slot_kw
    assert creative_rejection(cr, SlotSpec("1", **kw)) == expected
