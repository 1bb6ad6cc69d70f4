"""OpenRTB translation and the VAST builder, validated against the VAST 4 structure check."""

from __future__ import annotations

import pytest
from lxml import etree

from ads.privacy import encode_tcf_core
from services.protocols.openrtb import BidRequest, country_code, genres_of, to_ad_request, vast_version_for
from services.protocols.vast import (
    VAST_NS,
    VastAd,
    VastMediaFile,
    build_vast,
    duration_text,
    vast_structure_errors,
)

NOW = 1_780_000_000.0


def vast_ad(**over: object) -> VastAd:
    base = dict(ad_id="imp-1", ad_title="EV launch (30s)", creative_id="cr-1", duration_s=30,
                universal_ad_id=("ad-id.org", "NWMO0001000H"),
                media_files=(VastMediaFile("https://cdn.example/a.mp4", "video/mp4", 1920, 1080, "progressive", 8000),
                             VastMediaFile("https://cdn.example/a.m3u8", "application/x-mpegURL", 1920, 1080, "streaming")),
                impression_url="https://ads.example/track/impression?t=x",
                tracking={e: f"https://ads.example/track/{e}?t=x" for e in
                          ("start", "firstQuartile", "midpoint", "thirdQuartile", "complete")},
                ad_serving_id="imp-1", sequence=1, advertiser="Northwind", advertiser_domain="northwind.example",
                categories=("IAB2",), error_url="https://ads.example/track/error?t=x&code=[ERRORCODE]",
                click_through="https://northwind.example/", click_tracking="https://ads.example/track/click?t=x",
                price_cpm=31.5)  # fmt: skip
    return VastAd(**(base | over))  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["4.0", "4.1", "4.2"])
def test_built_documents_are_valid_vast(version: str) -> None:
    doc = build_vast([vast_ad(), vast_ad(ad_id="imp-2", ad_serving_id="imp-2", sequence=2)], version=version)
    assert vast_structure_errors(doc) == []
    root = etree.fromstring(doc)
    assert root.get("version") == version and etree.QName(root).namespace == VAST_NS
    assert [a.get("sequence") for a in root.findall(f"{{{VAST_NS}}}Ad")] == ["1", "2"]
    assert root.find(f".//{{{VAST_NS}}}Duration").text == "00:00:30.000"


def test_an_empty_vast_is_the_no_ad_answer() -> None:
    assert vast_structure_errors(build_vast([])) == [] and b"<Ad" not in build_vast([])
    with pytest.raises(ValueError, match="expected one of"):
        build_vast([], version="3.0")


def _mutate(xpath: str, action: str, value: str = "") -> bytes:
    root = etree.fromstring(build_vast([vast_ad()]))
    ns = {"v": VAST_NS}
    for el in root.xpath(xpath, namespaces=ns):
        if action == "drop":
            el.getparent().remove(el)
        elif action == "text":
            el.text = value
        else:
            name, _, val = action.partition("=")
            if val:
                el.set(name, val)
            else:
                del el.attrib[name]
    return etree.tostring(root)


@pytest.mark.parametrize(
    ("xpath", "action", "value", "needle"),
    [
        ("/v:VAST", "version=3.0", "", "VAST@version"),
        ("//v:Ad", "id", "", "Ad[0]@id is missing"),
        ("//v:Ad", "sequence=0", "", "positive integer"),
        ("//v:AdSystem", "drop", "", "<AdSystem>"),
        ("//v:AdTitle", "drop", "", "<AdTitle>"),
        ("//v:AdServingId", "drop", "", "<AdServingId>"),
        ("//v:Impression", "drop", "", "no <Impression>"),
        ("//v:Impression", "text", "not a url", "is not a URL"),
        ("//v:UniversalAdId", "idRegistry", "", "idRegistry is missing"),
        ("//v:UniversalAdId", "drop", "", "no <UniversalAdId>"),
        ("//v:Duration", "text", "30 seconds", "HH:MM:SS"),
        ("//v:MediaFile", "delivery=download", "", "@delivery"),
        ("//v:MediaFile", "width", "", "@width=None"),
        ("//v:MediaFile", "type", "", "@type is missing"),
        ("//v:MediaFiles", "drop", "", "<MediaFiles>"),
        ("//v:Tracking[@event='midpoint']", "event=halfway", "", "not a VAST event"),
        ("//v:Category", "authority", "", "authority is missing"),
        ("//v:Creatives", "drop", "", "<Creatives>"),
    ],
)
def test_the_structure_check_catches_each_defect(xpath: str, action: str, value: str, needle: str) -> None:
    errors = vast_structure_errors(_mutate(xpath, action, value))
    assert any(needle in e for e in errors), errors


def test_the_structure_check_rejects_non_vast() -> None:
    assert "not well-formed" in vast_structure_errors(b"<VAST")[0]
    assert "expected <VAST>" in vast_structure_errors(b"<VMAP/>")[0]
    two = build_vast([vast_ad(sequence=1), vast_ad(sequence=1)])
    assert any("repeat" in e for e in vast_structure_errors(two))


def test_durations() -> None:
    assert duration_text(15) == "00:00:15.000" and duration_text(3725.5) == "01:02:05.500"


def test_bid_request_translation_reads_pods_content_device_and_regs() -> None:
    raw = {
        "id": "r", "bcat": ["IAB8-5"], "badv": ["Brand.Example"], "unknown": 1,
        "imp": [{"id": "a", "bidfloor": 4.0, "video": {"mimes": ["video/mp4"], "podid": "p1", "poddur": 90, "maxseq": 3,
                                                         "minduration": 6, "maxduration": 30, "rqddurs": [15, 30],
                                                         "mincpmpersec": 0.5, "protocols": [7, 13]}},
                {"id": "b", "video": {"mimes": ["video/mp4"], "podid": "p2", "slotinpod": 1}},
                {"id": "c", "video": {"mimes": ["video/mp4"], "podid": "p2", "slotinpod": -1}},
                {"id": "d", "video": {"mimes": ["video/mp4"]}}],
        "site": {"content": {"id": "tmdb:603", "genre": "Science Fiction|Thriller", "cat": ["IAB1-5"],
                             "contentrating": "R"}},
        "device": {"devicetype": 7, "ifa": "ifa-1", "lmt": 0, "geo": {"country": "DEU"}},
        "user": {"ext": {"consent": encode_tcf_core({1, 3, 4})}},
        "regs": {"ext": {"gdpr": 1, "us_privacy": "1YNN"}, "gpp_sid": [2]},
    }  # fmt: skip
    req = to_ad_request(BidRequest.model_validate(raw), now=NOW)
    assert req is not None
    pods = {p.pod_id: p for p in req.pods}
    assert set(pods) == {"p1", "p2", "d"}
    p1 = pods["p1"]
    assert p1.dynamic and p1.pod_duration_s == 90 and p1.max_ads == 3
    assert p1.slots[0].required_durations == {15, 30} and p1.slots[0].floor_for(30) == 15.0
    assert not pods["p2"].dynamic and [s.imp_id for s in pods["p2"].slots] == ["b", "c"]
    assert req.content.title_id == "tmdb:603" and req.content.genres == {"sci-fi", "thriller"}
    assert req.content.maturity_level == 3
    assert req.country == "DE" and req.device_type == 7 and req.profile_id is None and req.viewer_key
    assert req.privacy.gdpr and req.privacy.tcf_consent and req.privacy.us_privacy == "1YNN"
    assert req.blocked_categories == {"IAB8-5"} and req.blocked_advertisers == {"brand.example"}


def test_requests_without_a_fillable_video_imp_are_no_bids() -> None:
    banner = BidRequest.model_validate({"id": "r", "imp": [{"id": "1", "banner": {"w": 1, "h": 1}}]})
    assert to_ad_request(banner, now=NOW) is None


def test_helpers() -> None:
    assert genres_of("Kids, Comedies ,  Sci-Fi & Fantasy") == {"children", "comedy", "sci-fi", "fantasy"}
    assert genres_of(None) == frozenset() and genres_of("polka") == frozenset()
    assert country_code("FRA") == "FR" and country_code("fr") == "FR" and country_code("XYZ") is None
    assert vast_version_for(frozenset()) == ("4.2", 13) and vast_version_for(frozenset({3, 7})) == ("4.0", 7)
