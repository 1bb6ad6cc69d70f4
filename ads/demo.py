"""A generated, realistic demo inventory (the bundled default of ``marquee ads seed-demo``).

Twenty-two fictional advertisers (``.example`` domains, no real brands) across the IAB categories a
streaming service actually sells — automotive, telecom, food and drink (including beer, restricted
to adult content), games, toys and cereal (kids-safe), finance, travel, beauty, health, retail,
sports, film studios, pets — plus Marquee's own house promos (tier 4, price 0) that fill what
nobody buys. Line items mix every targeting dimension (countries, devices, genres, IAB content
categories, content maturity, audiences, contextual briefs), both pacing modes, CPM and CPCV bids,
priority tiers and frequency caps; creatives come in 6/15/20/30/60-second cuts with four renditions
each (three progressive MP4 sizes and one HLS stream) and an Ad-ID universal ad id.

Everything is a plain dict in the admin API's format, so ``Inventory.from_dicts`` and the store
take it unchanged. Budgets are per flight and scale with ``budget_scale`` (1.0 sizes them for
roughly 40,000 ad slots a day).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ads.inventory import iso

DAY = 86_400.0

# (id, name, domain, ad-id prefix)
_ADVERTISERS: tuple[tuple[str, str, str, str], ...] = (
    ("northwind", "Northwind Motors", "northwind-motors.example", "NWMO"),
    ("helios", "Helios Mobile", "heliosmobile.example", "HELM"),
    ("crunch", "Crunch Burger", "crunchburger.example", "CRBG"),
    ("polar", "Polar Fizz", "polarfizz.example", "PLFZ"),
    ("riverbend", "Riverbend Brewing", "riverbendbrewing.example", "RVBB"),
    ("starforge", "Starforge Games", "starforge.example", "STFG"),
    ("bricktown", "Bricktown Toys", "bricktowntoys.example", "BRKT"),
    ("sunnyoats", "Sunny Oats", "sunnyoats.example", "SNYO"),
    ("guardian", "Guardian Mutual", "guardianmutual.example", "GRDM"),
    ("ledger", "Ledger Bank", "ledgerbank.example", "LDGB"),
    ("skyway", "Skyway Airlines", "skyway-air.example", "SKYW"),
    ("lumiere", "Lumière Beauty", "lumiere-beauty.example", "LUMB"),
    ("vitacare", "Vitacare", "vitacare.example", "VTCR"),
    ("shopfast", "Shopfast", "shopfast.example", "SHPF"),
    ("apex", "Apex Athletics", "apexathletics.example", "APXA"),
    ("nebula", "Nebula Pictures", "nebulapictures.example", "NBLP"),
    ("pawsome", "Pawsome Pet Food", "pawsome.example", "PAWS"),
    ("clearwater", "Clearwater Foundation", "clearwater.example", "CLWF"),
    ("quantum", "Quantum Cloud", "quantumcloud.example", "QNTC"),
    ("eurorail", "EuroRail", "eurorail.example", "EURL"),
    ("maple", "Maple Devices", "mapledevices.example", "MPLD"),
    ("cocoa", "Cocoa Crunch", "cocoacrunch.example", "COCO"),
    ("marquee", "Marquee Originals", "marquee.example", "MRQE"),
)

# line items: advertiser, name, category, durations, bid type, bid, pacing, priority, goal,
# daily budget (USD at budget_scale 1), flight days, targeting, caps, kids_safe
_LINE_ITEMS: tuple[dict[str, Any], ...] = (
    dict(adv="northwind", name="EV launch on connected TV", cat=["IAB2"], durs=[30, 15], bid=34.0, prio=2,
         daily=70.0, days=14, targeting={"device_types": [3, 7], "countries": ["US", "CA"]},
         caps={"per_day": 3, "min_gap_s": 1800}),
    dict(adv="northwind", name="Explorer SUV for sci-fi fans", cat=["IAB2"], durs=[30], bid=40.0,
         daily=35.0, days=7, targeting={"audiences": ["heavy-sci-fi-viewers", "action-fans"]},
         caps={"per_day": 2, "lifetime": 8}),
    dict(adv="helios", name="5G everywhere", cat=["IAB19"], durs=[15, 30], bid=22.0, daily=60.0, days=30,
         caps={"per_day": 4}),
    dict(adv="helios", name="Family plan (CPCV)", cat=["IAB19"], durs=[30], bid_type="cpcv", bid=0.035,
         daily=30.0, days=30, targeting={"audiences": ["family-viewers"]}, caps={"per_day": 3}),
    dict(adv="crunch", name="Late-night menu", cat=["IAB8"], durs=[15, 6], bid=18.0, pacing="asap",
         daily=25.0, days=3, caps={"per_day": 4, "min_gap_s": 600}),
    dict(adv="crunch", name="Value meals", cat=["IAB8"], durs=[15], bid=15.0, daily=40.0, days=30,
         caps={"per_day": 5}),
    dict(adv="polar", name="Summer refresh", cat=["IAB8"], durs=[15, 30], bid=21.0, daily=45.0, days=21,
         targeting={"content_maturity_max": 2}, caps={"per_day": 3}),
    dict(adv="riverbend", name="Craft lager (21+ content only)", cat=["IAB8-5"], durs=[30], bid=28.0,
         daily=30.0, days=14, targeting={"content_maturity_min": 3, "countries": ["US", "CA", "GB", "DE"]},
         caps={"per_day": 2, "lifetime": 10}),
    dict(adv="starforge", name="Galactic Frontier launch", cat=["IAB9-30"], durs=[30, 15], bid=36.0, prio=2,
         daily=55.0, days=10, targeting={"brief": "space battles, starships, alien worlds and distant galaxies",
                                         "min_similarity": 0.80}, caps={"per_day": 3}),
    dict(adv="starforge", name="Gamers audience", cat=["IAB9-30"], durs=[15], bid=26.0, goal="click",
         daily=30.0, days=30, targeting={"audiences": ["heavy-sci-fi-viewers", "action-fans", "horror-fans"],
                                         "device_types": [1, 2, 4, 5]}, caps={"per_day": 3}),
    dict(adv="bricktown", name="Build-a-castle (kids)", cat=["IAB9"], durs=[15, 30], bid=16.0, daily=35.0,
         days=30, kids=True, targeting={"content_maturity_max": 1}, caps={"per_day": 3, "min_gap_s": 900}),
    dict(adv="sunnyoats", name="Breakfast heroes (kids)", cat=["IAB8"], durs=[15], bid=14.0, daily=30.0,
         days=30, kids=True, targeting={"content_maturity_max": 1}, caps={"per_day": 3}),
    dict(adv="guardian", name="Home insurance", cat=["IAB13"], durs=[30], bid=26.0, daily=50.0, days=30,
         targeting={"content_genres": ["drama", "documentary", "crime", "thriller", "mystery"]},
         caps={"per_day": 2, "lifetime": 12}),
    dict(adv="ledger", name="No-fee checking", cat=["IAB13"], durs=[15, 30], bid=24.0, daily=45.0, days=30,
         caps={"per_day": 3}),
    dict(adv="skyway", name="Weekend getaways", cat=["IAB20"], durs=[30, 15], bid=27.0, daily=40.0, days=14,
         targeting={"brief": "travel adventure in exotic destinations, beaches and mountains",
                    "min_similarity": 0.80}),
    dict(adv="skyway", name="Documentary lovers", cat=["IAB20"], durs=[30], bid=30.0, daily=25.0, days=14,
         targeting={"audiences": ["documentary-viewers"]}, caps={"per_day": 2}),
    dict(adv="lumiere", name="Spring palette", cat=["IAB18"], durs=[15, 30], bid=23.0, daily=40.0, days=21,
         targeting={"audiences": ["romance-fans", "comedy-fans"]}, caps={"per_day": 3}),
    dict(adv="lumiere", name="Paris launch (contextual)", cat=["IAB18"], durs=[20], bid=20.0, daily=20.0,
         days=21, targeting={"countries": ["FR", "BE", "CH"], "content_genres": ["romance", "comedy", "drama"]}),
    dict(adv="vitacare", name="Allergy relief", cat=["IAB7"], durs=[15, 30], bid=19.0, daily=35.0, days=30,
         targeting={"content_maturity_min": 2}, caps={"per_day": 2}),
    dict(adv="shopfast", name="Flash sale (click)", cat=["IAB22"], durs=[15, 6], bid=17.0, goal="click",
         pacing="asap", daily=30.0, days=2, targeting={"device_types": [1, 2, 4, 5]}, caps={"per_day": 4}),
    dict(adv="shopfast", name="Everyday deals", cat=["IAB22"], durs=[15], bid=12.0, daily=60.0, days=30,
         caps={"per_day": 5, "min_gap_s": 300}),
    dict(adv="apex", name="Run season", cat=["IAB17"], durs=[30, 15], bid=25.0, daily=35.0, days=21,
         targeting={"content_genres": ["sports", "action", "adventure", "documentary"]}, caps={"per_day": 3}),
    dict(adv="apex", name="Live sports sponsorship", cat=["IAB17"], durs=[15], bid=30.0, prio=1, daily=25.0,
         days=30, targeting={"content_categories": ["IAB17"]}, caps={"per_day": 4}),
    dict(adv="nebula", name="Midnight Harvest (horror release)", cat=["IAB1-5"], durs=[30, 60], bid=31.0,
         prio=2, daily=40.0, days=7, targeting={"audiences": ["horror-fans", "crime-thriller-fans"],
                                                "content_maturity_min": 2}, caps={"per_day": 2, "lifetime": 6}),
    dict(adv="nebula", name="Family animated feature", cat=["IAB1-5"], durs=[30], bid=22.0, daily=30.0,
         days=14, kids=True, targeting={"content_genres": ["children", "family", "animation"]},
         caps={"per_day": 2}),
    dict(adv="pawsome", name="Puppy formula", cat=["IAB16"], durs=[15, 30], bid=16.0, daily=25.0, days=30,
         kids=True, caps={"per_day": 3}),
    dict(adv="clearwater", name="Wash your hands PSA", cat=["IAB7-32"], durs=[15, 30], bid=3.0, daily=10.0,
         days=60, kids=True, caps={"per_day": 2}),
    dict(adv="quantum", name="Cloud for startups", cat=["IAB19"], durs=[30], bid=29.0, daily=30.0, days=30,
         targeting={"device_types": [2, 3], "audiences": ["heavy-viewers", "documentary-viewers"]},
         caps={"per_day": 2}),
    dict(adv="eurorail", name="Interrail summer (contextual, EU)", cat=["IAB20"], durs=[20, 30], bid=21.0,
         daily=25.0, days=30, targeting={"countries": ["FR", "DE", "ES", "IT", "GB", "NL"]},
         caps={"per_day": 3}),
    dict(adv="maple", name="Maple Stick 4K", cat=["IAB19"], durs=[15, 30], bid=24.0, daily=30.0, days=21,
         targeting={"device_types": [3, 7]}, caps={"per_day": 3}),
    dict(adv="cocoa", name="Cocoa Crunch cartoon", cat=["IAB8"], durs=[15], bid=13.0, daily=20.0, days=30,
         kids=True, targeting={"content_maturity_max": 1}, caps={"per_day": 2}),
    dict(adv="marquee", name="House: new this week", cat=["IAB1-5"], durs=[15, 30, 6], bid=0.0, prio=4,
         pacing="asap", daily=0.0, days=365),
    dict(adv="marquee", name="House: kids picks", cat=["IAB1-5"], durs=[15, 30], bid=0.0, prio=4, pacing="asap",
         daily=0.0, days=365, kids=True, targeting={"content_maturity_max": 1}),
)

_RENDITIONS: tuple[tuple[str, int, int, int, str, str], ...] = (
    ("video/mp4", 1920, 1080, 8000, "progressive", "avc1.640028"),
    ("video/mp4", 1280, 720, 4000, "progressive", "avc1.4d401f"),
    ("video/mp4", 640, 360, 1000, "progressive", "avc1.42c01e"),
    ("application/x-mpegURL", 1920, 1080, 6000, "streaming", None),  # type: ignore[assignment]
)


def demo_inventory(start: float, *, budget_scale: float = 1.0, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """The demo inventory starting at unix time ``start`` (flights begin then), as admin-API dicts:
    ``{"advertisers": [...], "campaigns": [...], "line_items": [...], "creatives": [...]}``.

    ``seed`` jitters bids by up to ±10% (so two seeds give two markets); ``budget_scale`` multiplies
    every budget.
    """
    rng = np.random.default_rng(seed)
    advertisers = [{"id": a, "name": name, "domain": domain, "status": "active"}
                   for a, name, domain, _ in _ADVERTISERS]  # fmt: skip
    prefix = {a: p for a, _, _, p in _ADVERTISERS}
    names = {a: n for a, n, _, _ in _ADVERTISERS}
    campaigns: dict[str, dict[str, Any]] = {}
    line_items: list[dict[str, Any]] = []
    creatives: list[dict[str, Any]] = []
    serial: dict[str, int] = {}
    for k, spec in enumerate(_LINE_ITEMS):
        adv = spec["adv"]
        days = float(spec["days"])
        campaign_id = f"{adv}-c{1 + sum(1 for c in campaigns if c.startswith(adv + '-'))}"
        campaigns[campaign_id] = {"id": campaign_id, "advertiser_id": adv, "name": f"{names[adv]}: {spec['name']}",
                                  "start": iso(start), "end": iso(start + days * DAY), "status": "active"}  # fmt: skip
        li_id = f"li-{k + 1:03d}-{adv}"
        creative_ids = []
        for duration in spec["durs"]:
            serial[adv] = serial.get(adv, 0) + 1
            cr_id = f"cr-{adv}-{serial[adv]:02d}-{duration}s"
            creative_ids.append(cr_id)
            media = [{"url": f"https://cdn.marquee.example/ads/{cr_id}/{w}x{h}.{'m3u8' if 'mpegURL' in mime else 'mp4'}",
                      "mime": mime, "width": w, "height": h, "bitrate_kbps": kbps, "delivery": delivery,
                      "codec": codec} for mime, w, h, kbps, delivery, codec in _RENDITIONS]  # fmt: skip
            creatives.append({
                "id": cr_id, "advertiser_id": adv, "name": f"{spec['name']} ({duration}s)", "duration_s": duration,
                "media_files": media, "categories": list(spec["cat"]), "cattax": 1,
                "universal_ad_id": {"registry": "ad-id.org", "value": f"{prefix[adv]}{1000 * serial[adv]:07d}H"},
                "click_through": f"https://www.{next(d for a, _, d, _ in _ADVERTISERS if a == adv)}/?utm_source=marquee",
                "status": "active",
            })  # fmt: skip
        jitter = 1.0 + 0.1 * (2 * rng.random() - 1) if spec["bid"] > 0 else 1.0
        bid_type = spec.get("bid_type", "cpm")
        line_items.append({
            "id": li_id, "campaign_id": campaign_id, "name": spec["name"], "start": iso(start),
            "end": iso(start + days * DAY), "budget": round(spec["daily"] * days * budget_scale, 2),
            "bid": round(spec["bid"] * jitter, 4 if bid_type == "cpcv" else 2), "bid_type": bid_type,
            "pacing": spec.get("pacing", "even"), "priority": spec.get("prio", 3), "goal": spec.get("goal", "completion"),
            "targeting": dict(spec.get("targeting", {})), "caps": dict(spec.get("caps", {})),
            "creative_ids": creative_ids, "kids_safe": bool(spec.get("kids", False)), "status": "active",
        })  # fmt: skip
    return {"advertisers": advertisers, "campaigns": list(campaigns.values()), "line_items": line_items,
            "creatives": creatives}  # fmt: skip
