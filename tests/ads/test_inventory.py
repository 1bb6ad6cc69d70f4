"""Inventory documents: validation (every problem named), round trips and referential integrity."""

from __future__ import annotations

import pytest

from ads.demo import demo_inventory
from ads.errors import InvalidInventoryError, UnknownEntityError
from ads.inventory import (
    Inventory,
    advertiser_from_dict,
    campaign_from_dict,
    creative_from_dict,
    line_item_from_dict,
    parse_time,
    top_category,
)
from tests.ads.helpers import T0, advertiser, campaign, creative, line_item, market


def test_documents_round_trip_through_to_dict() -> None:
    docs = market()
    for parse, group in ((advertiser_from_dict, "advertisers"), (campaign_from_dict, "campaigns"),
                         (creative_from_dict, "creatives"), (line_item_from_dict, "line_items")):  # fmt: skip
        for doc in docs[group]:
            entity = parse(doc)
            assert parse(entity.to_dict()) == entity


def test_times_accept_iso_and_unix_seconds() -> None:
    assert parse_time("2026-05-29T00:00:00Z") == parse_time(T0) == parse_time("2026-05-29T00:00:00") == T0
    with pytest.raises(ValueError):
        parse_time("yesterday")


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"bid": -1.0}, "bid=-1.0"),
        ({"bid_type": "cpc"}, "bid_type='cpc'"),
        ({"pacing": "fast"}, "pacing='fast'"),
        ({"priority": 7}, "priority=7"),
        ({"creative_ids": []}, "creative_ids=[]"),
        ({"end": "2020-01-01T00:00:00Z"}, "expected after start"),
        ({"targeting": {"countries": ["usa"]}}, "countries"),
        ({"targeting": {"device_types": [9]}}, "device_types"),
        ({"targeting": {"content_genres": ["space-opera"]}}, "space-opera"),
        ({"targeting": {"audiences": ["martians"]}}, "martians"),
        ({"targeting": {"content_maturity_min": 3, "content_maturity_max": 1}}, "expected min <= max"),
        ({"caps": {"per_day": 0}}, "caps.per_day=0"),
        ({"kids_safe": True, "targeting": {"audiences": ["heavy-sci-fi-viewers"]}}, "kids_safe=true with audiences"),
    ],
)
def test_line_item_problems_name_the_value_and_the_expectation(over: dict, needle: str) -> None:
    doc = line_item("li", "c", ["cr"]) | over
    with pytest.raises(InvalidInventoryError) as info:
        line_item_from_dict(doc)
    assert needle in str(info.value)
    assert "expected" in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidInventoryError) as info:
        line_item_from_dict(line_item("li", "c", [], bid=-2.0, pacing="warp"))
    assert len(info.value.problems) == 3


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"duration_s": 0}, "duration_s=0"),
        ({"categories": []}, "categories=[]"),
        ({"categories": ["Automotive"]}, "'Automotive' does not match"),
        ({"media_files": []}, "media_files=[]"),
        ({"media_files": [{"url": "ftp://x", "mime": "video/avi", "width": 5, "height": 1080}]}, "http(s) URL"),
        ({"universal_ad_id": "ABC"}, "universal_ad_id"),
        ({"click_through": "javascript:alert(1)"}, "click_through"),
    ],
)
def test_creative_problems(over: dict, needle: str) -> None:
    with pytest.raises(InvalidInventoryError) as info:
        creative_from_dict(creative("cr", "a") | over)
    assert needle in str(info.value)


def test_advertiser_domain_and_campaign_dates_are_checked() -> None:
    with pytest.raises(InvalidInventoryError, match="domain"):
        advertiser_from_dict(advertiser("a", domain="not a domain"))
    with pytest.raises(InvalidInventoryError, match="expected after start"):
        campaign_from_dict(campaign("c", "a", end=campaign("c", "a")["start"]))


def test_inventory_checks_references() -> None:
    docs = market()
    with pytest.raises(UnknownEntityError, match="campaign 'nope'"):
        Inventory.from_dicts(**docs | {"line_items": docs["line_items"] + [line_item("x", "nope", ["cr0a"])]})
    with pytest.raises(UnknownEntityError, match="creative 'ghost'"):
        Inventory.from_dicts(**docs | {"line_items": docs["line_items"] + [line_item("x", "c0", ["ghost"])]})
    with pytest.raises(InvalidInventoryError, match="belongs to advertiser 'adv1'"):
        Inventory.from_dicts(**docs | {"line_items": docs["line_items"] + [line_item("x", "c0", ["cr1a"])]})


def test_views_join_campaign_advertiser_and_flight() -> None:
    docs = market()
    docs["campaigns"][0]["end"] = "2026-06-01T00:00:00Z"
    view = Inventory.from_dicts(**docs).view("li0")
    assert view.advertiser.id == "adv0" and [c.id for c in view.creatives] == ["cr0a", "cr0b"]
    assert view.end == parse_time("2026-06-01T00:00:00Z")  # the campaign bounds the line item


def test_paused_creatives_are_left_out_of_views() -> None:
    docs = market()
    docs["creatives"][0]["status"] = "paused"
    assert [c.id for c in Inventory.from_dicts(**docs).view("li0").creatives] == ["cr0b"]


def test_top_category() -> None:
    assert top_category("IAB8-5") == "IAB8" and top_category("IAB19") == "IAB19"


def test_demo_inventory_is_valid_and_realistic() -> None:
    docs = demo_inventory(T0, seed=3)
    inv = Inventory.from_dicts(**docs)
    items = list(inv.line_items.values())
    assert len(inv.advertisers) >= 20 and len(items) >= 30
    assert {li.bid_type for li in items} == {"cpm", "cpcv"} and {li.pacing for li in items} == {"even", "asap"}
    assert {li.priority for li in items} >= {1, 2, 3, 4}
    assert any(li.kids_safe for li in items) and any(li.targeting.audiences for li in items)
    assert any(li.targeting.brief for li in items) and any(li.targeting.content_categories for li in items)
    alcohol = [li for li in items if any(c.startswith("IAB8-5") for cid in li.creative_ids
                                         for c in inv.creatives[cid].categories)]  # fmt: skip
    assert alcohol and all(li.targeting.content_maturity_min == 3 and not li.kids_safe for li in alcohol)
    assert all(len(c.media_files) == 4 and c.universal_ad_id[0] == "ad-id.org" for c in inv.creatives.values())
    assert demo_inventory(T0, seed=3) == docs and demo_inventory(T0, seed=4) != docs
