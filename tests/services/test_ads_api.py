"""The ads API end to end: keys and scopes, OpenRTB (200/204/400), VAST tags, tracking, admin."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from ads.inventory import iso
from data.ads_store import open_ad_store
from services.app import create_app
from services.protocols.vast import VAST_NS, vast_structure_errors
from services.settings import Settings
from tests.ads.helpers import market

DECIDE = {"X-API-Key": "demo-decide-key"}
ADMIN = {"X-API-Key": "demo-admin-key"}
NS = {"v": VAST_NS}


def live_market() -> dict[str, list[dict[str, Any]]]:
    docs = market(6, seed=2)
    now = time.time()
    for group in ("campaigns", "line_items"):
        for doc in docs[group]:
            doc["start"], doc["end"] = iso(now - 86_400), iso(now + 30 * 86_400)
    docs["line_items"][0].update(caps={"per_day": 1}, bid=80.0)  # the top bid, capped at one a day
    return docs


def seed(settings: Settings, docs: dict[str, list[dict[str, Any]]]) -> None:
    store = open_ad_store(settings.ads_db_path)
    for kind, group in (("advertiser", "advertisers"), ("campaign", "campaigns"), ("creative", "creatives"),
                        ("line_item", "line_items")):  # fmt: skip
        store.put_many((kind, d) for d in docs[group])
    store.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(artifacts_dir=tmp_path / "artifacts", cache_dir=tmp_path / "cache", data_dir=tmp_path / "none")
    seed(s, live_market())
    return s


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, areas=("ads",))) as c:
        yield c


def bid_request(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "req-1", "tmax": 5000, "cur": ["USD"], "at": 1, "some_future_field": {"x": 1},
        "imp": [{"id": "1", "bidfloor": 1.0, "bidfloorcur": "USD", "ext": {"anything": True},
                 "video": {"mimes": ["video/mp4", "application/x-mpegURL"], "minduration": 5, "maxduration": 30,
                           "protocols": [7, 11, 13], "plcmt": 1, "podid": "pod-1", "poddur": 60, "maxseq": 3,
                           "slotinpod": 0, "w": 1920, "h": 1080, "unknown_video_field": 7}}],
        "app": {"id": "marquee-app", "bundle": "dev.marquee.app",
                "content": {"id": "tmdb:603", "genre": "Sci-Fi, Action", "cat": ["IAB1-5"], "livestream": 0}},
        "device": {"devicetype": 3, "ua": "Roku/1.0", "ip": "192.0.2.1", "geo": {"country": "USA"}},
        "user": {"id": "viewer-42"},
        "regs": {"coppa": 0, "gdpr": 0},
    }  # fmt: skip
    body.update(over)
    return body


def vast_ads(adm: str) -> list[etree._Element]:
    return etree.fromstring(adm.encode()).findall("v:Ad", NS)


# ------------------------------------------------------------------------------------------ keys


def test_every_partner_call_needs_a_key_of_the_right_scope(client: TestClient) -> None:
    assert client.post("/v1/ads/openrtb", json=bid_request()).status_code == 401
    missing = client.post("/v1/ads/openrtb", json=bid_request(), headers={"X-API-Key": "guess"})
    assert missing.status_code == 401 and missing.headers["content-type"] == "application/problem+json"
    assert client.post("/v1/ads/openrtb", json=bid_request(), headers=ADMIN).status_code == 403
    assert client.get("/v1/ads/campaigns", headers=DECIDE).status_code == 403
    assert client.get("/v1/ads/campaigns", headers={"Authorization": "Bearer demo-admin-key"}).status_code == 200
    assert client.get("/v1/ads/vast").status_code == 401
    assert client.get("/v1/ads/vast", params={"key": "demo-decide-key"}).status_code == 200
    assert client.get("/v1/ads/campaigns", params={"key": "demo-admin-key"}).status_code == 401  # query keys: tags only


# ------------------------------------------------------------------------------------------ OpenRTB


def test_a_dynamic_pod_gets_one_bid_per_ad_with_inline_vast(client: TestClient) -> None:
    response = client.post("/v1/ads/openrtb", json=bid_request(), headers=DECIDE)
    assert response.status_code == 200 and response.headers["x-openrtb-version"] == "2.6"
    body = response.json()
    assert body["id"] == "req-1" and body["cur"] == "USD"
    bids = body["seatbid"][0]["bid"]
    assert 1 <= len(bids) <= 3
    assert sum(b["dur"] for b in bids) <= 60 and len({b["adomain"][0] for b in bids}) == len(bids)
    for b in bids:
        assert b["impid"] == "1" and b["price"] >= 1.0 and b["mtype"] == 2 and b["protocol"] in (7, 11, 13)
        assert vast_structure_errors(b["adm"]) == []
        (ad,) = vast_ads(b["adm"])
        assert int(ad.get("sequence")) == b["ext"]["marquee"]["sequence"] and ad.get("id") == b["id"]
        inline = ad.find("v:InLine", NS)
        assert inline.find("v:Impression", NS).text.startswith("http://testserver/v1/ads/track/impression?t=")
        events = {t.get("event") for t in inline.iterfind(".//v:Tracking", NS)}
        assert events == {"start", "firstQuartile", "midpoint", "thirdQuartile", "complete"}
        uaid = inline.find(".//v:UniversalAdId", NS)
        assert uaid.get("idRegistry") == "ad-id.org" and uaid.text
        assert len(inline.findall(".//v:MediaFile", NS)) == 2
        assert etree.fromstring(b["adm"].encode()).get("version") == "4.2"
    assert sorted(b["ext"]["marquee"]["sequence"] for b in bids) == list(range(1, len(bids) + 1))
    slots = [b["slotinpod"] for b in sorted(bids, key=lambda b: b["ext"]["marquee"]["sequence"])]
    assert len(bids) == 1 or (slots[0] == 1 and slots[-1] == -1)


def test_a_structured_pod_fills_each_imp(client: TestClient) -> None:
    video = {"mimes": ["video/mp4"], "podid": "p", "protocols": [7]}
    imps = [{"id": "a", "video": video | {"minduration": 15, "maxduration": 15, "slotinpod": 1}},
            {"id": "b", "video": video | {"minduration": 25, "maxduration": 30, "slotinpod": -1}}]  # fmt: skip
    body = client.post("/v1/ads/openrtb", json=bid_request(imp=imps), headers=DECIDE).json()
    bids = {b["impid"]: b for b in body["seatbid"][0]["bid"]}
    assert set(bids) == {"a", "b"} and bids["a"]["dur"] == 15 and bids["b"]["dur"] == 30
    assert (bids["a"]["ext"]["marquee"]["sequence"], bids["b"]["ext"]["marquee"]["sequence"]) == (1, 2)
    assert all(etree.fromstring(b["adm"].encode()).get("version") == "4.0" for b in bids.values())


@pytest.mark.parametrize(
    "over",
    [
        {"imp": [{"id": "1", "bidfloor": 500.0, "video": {"mimes": ["video/mp4"]}}]},
        {"imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]},
        {"imp": [{"id": "1", "video": {"mimes": ["video/mp4"], "plcmt": 4}}]},
        {"imp": [{"id": "1", "video": {"mimes": ["video/ogg"]}}]},
        {"imp": [{"id": "1", "video": {"mimes": ["video/mp4"], "protocols": [2, 3]}}]},
    ],
    ids=["floor", "banner", "standalone", "mime", "vast3-only"],
)
def test_no_bid_is_an_empty_204(client: TestClient, over: dict[str, Any]) -> None:
    response = client.post("/v1/ads/openrtb", json=bid_request(**over), headers=DECIDE)
    assert response.status_code == 204 and response.content == b""


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"{not json", "not JSON"),
        (json.dumps({"imp": [{"id": "1", "video": {"mimes": ["video/mp4"]}}]}).encode(), "id"),
        (json.dumps({"id": "x", "imp": []}).encode(), "imp"),
        (json.dumps({"id": "x", "imp": [{"id": "1", "video": {"maxduration": 30}}]}).encode(), "mimes"),
        (json.dumps({"id": "x", "imp": [{"id": "1", "bidfloor": "cheap", "video": {"mimes": ["video/mp4"]}}]}).encode(),
         "bidfloor"),
        (json.dumps({"id": "x", "imp": [{"id": "1", "video": {"mimes": ["video/mp4"]}}], "device": {"devicetype": 99}}).encode(),
         "devicetype"),
        (json.dumps(["an", "array"]).encode(), "request: Input should be a valid dictionary"),
    ],
)
def test_malformed_requests_are_400_with_openrtb_no_bid_reason(client: TestClient, raw: bytes, needle: str) -> None:
    response = client.post("/v1/ads/openrtb", content=raw, headers=DECIDE | {"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["nbr"] == 2 and any(needle in e for e in body["ext"]["errors"])


def test_coppa_requests_get_only_kids_safe_ads(client: TestClient) -> None:
    req = bid_request(regs={"coppa": 1})
    req["imp"][0]["bidfloor"] = 0.0
    bids = client.post("/v1/ads/openrtb", json=req, headers=DECIDE).json()["seatbid"][0]["bid"]
    assert bids and {b["adid"] for b in bids} <= {"litoys", "lihouse"}
    assert all(b["ext"]["marquee"]["regime"] == "kids" for b in bids)


def test_blocked_categories_and_advertisers_are_respected(client: TestClient) -> None:
    first = client.post("/v1/ads/openrtb", json=bid_request(), headers=DECIDE).json()["seatbid"][0]["bid"]
    top = first[0]
    req = bid_request(bcat=[top["cat"][0].split("-")[0]], badv=[first[-1]["adomain"][0]], user={"id": "other"})
    response = client.post("/v1/ads/openrtb", json=req, headers=DECIDE)
    bids = response.json()["seatbid"][0]["bid"] if response.status_code == 200 else []
    for b in bids:
        assert b["adomain"][0] != first[-1]["adomain"][0]
        assert not any(c.split("-")[0] == top["cat"][0].split("-")[0] for c in b["cat"])


# ------------------------------------------------------------------------------------------ VAST tag


def test_vast_tag_returns_a_valid_pod_and_tolerates_unexpanded_macros(client: TestClient) -> None:
    params = {"key": "demo-decide-key", "pod_duration": "90", "max_ads": "3", "uid": "viewer-7", "ifa": "[IFA]",
              "gdpr_consent": "[GDPRCONSENT]", "device_type": "3", "country": "US", "cb": "[CACHEBUSTING]",
              "genre": "Drama", "mimes": "video/mp4"}  # fmt: skip
    response = client.get("/v1/ads/vast", params=params)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    assert vast_structure_errors(response.content) == []
    ads = etree.fromstring(response.content).findall("v:Ad", NS)
    assert 1 <= len(ads) <= 3 and [int(a.get("sequence")) for a in ads] == list(range(1, len(ads) + 1))
    assert response.headers["x-marquee-regime"] == "personalized"
    for sid in ("[GPP_SID]", "2", " 2 , 6 "):  # a macro is absent; section ids are read
        assert client.get("/v1/ads/vast", params=params | {"gpp_sid": sid}).status_code == 200, sid


@pytest.mark.parametrize("params", [{"floor": "999"}, {"min_duration": "40", "max_duration": "20"}])
def test_vast_tag_without_fill_is_an_empty_vast(client: TestClient, params: dict[str, str]) -> None:
    """Also when no ad can fit (each parameter valid, together unfillable): an empty VAST, not an error."""
    response = client.get("/v1/ads/vast", params={"key": "demo-decide-key"} | params)
    assert response.status_code == 200 and vast_structure_errors(response.content) == []
    assert etree.fromstring(response.content).findall("v:Ad", NS) == []


@pytest.mark.parametrize("params", [{"pod_duration": "soon"}, {"device_type": "12"}, {"floor": "-1"},
                                    {"floor": "1e999"}, {"gpp_sid": "false"}, {"gpp_sid": "2,x"},
                                    {"gpp_sid": "123456"}, {"gpp_sid": "²"},
                                    {"gpp_sid": "false", "min_duration": "40", "max_duration": "20"}])  # fmt: skip
def test_vast_tag_rejects_bad_parameters_as_problems(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/v1/ads/vast", params={"key": "demo-decide-key"} | params)
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    assert "expected" in response.json()["detail"]


# ------------------------------------------------------------------------------------------ tracking


def _tracking_urls(adm: str) -> dict[str, str]:
    root = etree.fromstring(adm.encode())
    urls = {t.get("event"): t.text for t in root.iterfind(".//v:Tracking", NS)}
    urls["impression"] = root.find(".//v:Impression", NS).text
    urls["click"] = root.find(".//v:ClickTracking", NS).text
    return urls


def test_tracking_is_idempotent_and_moves_spend_and_caps(client: TestClient, settings: Settings) -> None:
    req = bid_request(imp=[{"id": "1", "video": {"mimes": ["video/mp4"], "maxduration": 30}}])
    bid = client.post("/v1/ads/openrtb", json=req, headers=DECIDE).json()["seatbid"][0]["bid"][0]
    urls = _tracking_urls(bid["adm"])
    first = client.get(urls["impression"])
    assert first.status_code == 204 and first.headers["x-marquee-tracked"] == "new"
    assert client.get(urls["impression"]).headers["x-marquee-tracked"] == "duplicate"
    for event in ("start", "firstQuartile", "midpoint", "thirdQuartile", "complete", "click"):
        assert client.get(urls[event]).status_code == 204
    delivery = client.get(f"/v1/ads/line-items/{bid['adid']}/delivery", headers=ADMIN).json()
    assert delivery["spend"] == pytest.approx(bid["price"] / 1000, rel=1e-4)
    assert delivery["events"]["impression"] == 1 and delivery["events"]["complete"] == 1
    assert delivery["days"][0]["events"]["click"] == 1
    store = open_ad_store(settings.ads_db_path)
    assert sorted(store.tracked(bid["id"])) == sorted(["impression", "start", "firstQuartile", "midpoint",
                                                        "thirdQuartile", "complete", "click"])  # fmt: skip
    store.close()


def test_caps_hold_through_the_api_and_across_a_restart(settings: Settings) -> None:
    def served(c: TestClient) -> list[str]:
        r = c.post("/v1/ads/openrtb", json=bid_request(), headers=DECIDE)
        bids = r.json()["seatbid"][0]["bid"] if r.status_code == 200 else []
        for b in bids:
            c.get(_tracking_urls(b["adm"])["impression"])
        return [b["adid"] for b in bids]

    with TestClient(create_app(settings, areas=("ads",))) as c:
        assert "li0" in served(c)  # li0 bids highest in this market and is capped at one a day
        assert "li0" not in served(c)
    with TestClient(create_app(settings, areas=("ads",))) as c:
        assert "li0" not in served(c)  # the cap comes back from the store


def test_forged_expired_or_unknown_tracking_calls_are_problems(client: TestClient) -> None:
    forged = client.get("/v1/ads/track/impression", params={"t": "forged.token"})  # the token is the credential
    assert forged.status_code == 403 and forged.json()["type"].endswith("/tracking-token-invalid")
    unknown = client.get("/v1/ads/track/teleport", params={"t": "whatever-token"})  # the path's enum says so
    assert unknown.status_code == 422 and unknown.json()["type"].endswith("/validation")
    assert client.get("/v1/ads/track/impression").status_code == 422


# ------------------------------------------------------------------------------------------ admin


def test_admin_creates_updates_pauses_and_lists(client: TestClient) -> None:
    adv = {"id": "newco", "name": "NewCo", "domain": "newco.example"}
    assert client.post("/v1/ads/advertisers", json=adv, headers=ADMIN).status_code == 201
    assert client.post("/v1/ads/advertisers", json=adv, headers=ADMIN).status_code == 409
    now = time.time()
    camp = {"id": "newco-c", "advertiser_id": "newco", "name": "Launch", "start": iso(now - 60), "end": iso(now + 86_400)}
    assert client.post("/v1/ads/campaigns", json=camp, headers=ADMIN).status_code == 201
    creative = copy.deepcopy(live_market()["creatives"][0]) | {"id": "newco-cr", "advertiser_id": "newco",
                                                               "categories": ["IAB26"]}  # fmt: skip
    assert client.post("/v1/ads/creatives", json=creative, headers=ADMIN).status_code == 201
    li = {"id": "newco-li", "campaign_id": "newco-c", "name": "Big bid", "start": iso(now - 60), "end": iso(now + 86_400),
          "budget": 500.0, "bid": 90.0, "pacing": "asap", "priority": 1, "creative_ids": ["newco-cr"]}  # fmt: skip
    created = client.post("/v1/ads/line-items", json=li, headers=ADMIN)
    assert created.status_code == 201 and created.json()["targeting"]["countries"] == []

    def winners() -> list[str]:
        r = client.post("/v1/ads/openrtb", json=bid_request(user={"id": f"u{time.perf_counter_ns()}"}), headers=DECIDE)
        return [b["adid"] for b in r.json()["seatbid"][0]["bid"]] if r.status_code == 200 else []

    assert winners()[0] == "newco-li"
    assert client.post("/v1/ads/line-items/newco-li/pause", headers=ADMIN).json()["status"] == "paused"
    assert "newco-li" not in winners()
    assert client.post("/v1/ads/line-items/newco-li/resume", headers=ADMIN).json()["status"] == "active"
    patched = client.patch("/v1/ads/line-items/newco-li", json={"targeting": {"countries": ["FR"]}}, headers=ADMIN)
    assert patched.status_code == 200 and patched.json()["targeting"]["countries"] == ["FR"]
    assert patched.json()["bid"] == 90.0  # untouched fields stay
    assert "newco-li" not in winners()  # the request comes from the US
    listing = client.get("/v1/ads/line-items", params={"parent_id": "newco-c"}, headers=ADMIN).json()
    assert listing["count"] == 1 and listing["items"][0]["id"] == "newco-li"
    assert client.get("/v1/ads/campaigns/newco-c", headers=ADMIN).json()["name"] == "Launch"
    assert client.get("/v1/ads/campaigns/ghost", headers=ADMIN).status_code == 404
    status = client.get("/v1/ads/status", headers=ADMIN).json()
    assert status["inventory"]["line_items"] == 9 and "contextual-only" in status["features"]


@pytest.mark.parametrize(
    ("path", "doc", "slug"),
    [
        ("/v1/ads/advertisers", {"id": "x", "name": "X", "domain": "not a domain"}, "invalid-inventory"),
        ("/v1/ads/campaigns", {"id": "x", "advertiser_id": "ghost", "name": "X", "start": "2026-01-01",
                               "end": "2026-02-01"}, "unknown-reference"),
        ("/v1/ads/line-items", {"id": "x", "campaign_id": "c0", "name": "X", "start": "2026-01-01",
                                "end": "2026-02-01", "budget": 1, "bid": 1, "creative_ids": ["cr1a"]}, "invalid-inventory"),
    ],
)
def test_invalid_admin_writes_are_422_problems_and_change_nothing(client: TestClient, path: str, doc: dict, slug: str) -> None:
    response = client.post(path, json=doc, headers=ADMIN)
    assert response.status_code == 422 and response.json()["type"].endswith(slug)
    assert client.get(f"{path}/x", headers=ADMIN).status_code == 404


def test_ids_cannot_change_by_patch(client: TestClient) -> None:
    assert client.patch("/v1/ads/campaigns/c0", json={"id": "c9"}, headers=ADMIN).status_code == 422


def test_profile_maturity_falls_back_to_the_profile_store_then_the_catalog(tmp_path: Path) -> None:
    from data.events import Profile, ProfileLookup, open_event_store

    store = open_event_store(tmp_path / "events.db")
    try:
        store.put_profile(Profile("stored-kid", "kids"))
        profiles = ProfileLookup(store, {"catalog-kid": 1, "stored-kid": 3})
        assert profiles.profile("stored-kid").maturity_level == 0  # the store wins over the catalog
        assert profiles.profile("catalog-kid").maturity_level == 1
        assert profiles.profile("catalog-kid").origin == "catalog"
        assert profiles.profile("stranger").maturity_level == 3
        assert profiles.profile("stranger").origin == "unknown"
    finally:
        store.close()
