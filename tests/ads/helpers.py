"""Builders of small, realistic ad inventories and feature sets for the ads tests (seeded)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from ads.inventory import Inventory, iso
from ads.request import AdRequest, ContentContext, PodRequest, PrivacySignals, SlotSpec
from ads.simulator import StaticFeatures
from data.events import History, Profile
from features import build_title_features, compute_profile_features

DAY = 86_400.0
T0 = 1_780_012_800.0  # a UTC midnight (2026-05-29)
DIM = 16
MP4 = frozenset({"video/mp4"})


def advertiser(ident: str, **over: Any) -> dict[str, Any]:
    return {"id": ident, "name": ident.title(), "domain": f"{ident}.example", **over}


def campaign(ident: str, adv: str, **over: Any) -> dict[str, Any]:
    return {"id": ident, "advertiser_id": adv, "name": ident, "start": iso(T0 - DAY), "end": iso(T0 + 30 * DAY),
            **over}  # fmt: skip


def creative(ident: str, adv: str, duration: int = 15, categories: tuple[str, ...] = ("IAB2",), **over: Any) -> dict[str, Any]:
    return {
        "id": ident, "advertiser_id": adv, "name": ident, "duration_s": duration, "categories": list(categories),
        "media_files": [{"url": f"https://cdn.example/{ident}/1080.mp4", "mime": "video/mp4", "width": 1920,
                         "height": 1080, "bitrate_kbps": 6000},
                        {"url": f"https://cdn.example/{ident}/master.m3u8", "mime": "application/x-mpegURL",
                         "width": 1920, "height": 1080, "delivery": "streaming"}],
        "universal_ad_id": {"registry": "ad-id.org", "value": f"{ident.upper()[:4]}0001000H"},
        "click_through": f"https://{adv}.example/landing", **over,
    }  # fmt: skip


def line_item(ident: str, camp: str, creatives: list[str], bid: float = 20.0, **over: Any) -> dict[str, Any]:
    return {"id": ident, "campaign_id": camp, "name": ident, "start": iso(T0 - DAY), "end": iso(T0 + 30 * DAY),
            "budget": 10_000.0, "bid": bid, "creative_ids": creatives, "pacing": "asap", **over}  # fmt: skip


def market(n_advertisers: int = 6, *, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """A small market: ``n_advertisers`` advertisers in distinct-or-shared categories, each with a CPM line
    item (15 s and 30 s creatives), plus a kids-safe one and a house ad."""
    rng = np.random.default_rng(seed)
    cats = ["IAB2", "IAB19", "IAB8", "IAB13", "IAB20", "IAB8", "IAB17", "IAB19"]
    docs: dict[str, list[dict[str, Any]]] = {"advertisers": [], "campaigns": [], "line_items": [], "creatives": []}
    for i in range(n_advertisers):
        adv = f"adv{i}"
        docs["advertisers"].append(advertiser(adv))
        docs["campaigns"].append(campaign(f"c{i}", adv))
        cr = [creative(f"cr{i}a", adv, 15, (cats[i % len(cats)],)), creative(f"cr{i}b", adv, 30, (cats[i % len(cats)],))]
        docs["creatives"] += cr
        docs["line_items"].append(line_item(f"li{i}", f"c{i}", [c["id"] for c in cr], bid=float(10 + 30 * rng.random())))
    docs["advertisers"].append(advertiser("toys"))
    docs["campaigns"].append(campaign("ctoys", "toys"))
    docs["creatives"].append(creative("crtoys", "toys", 15, ("IAB9",)))
    docs["line_items"].append(line_item("litoys", "ctoys", ["crtoys"], bid=12.0, kids_safe=True))
    docs["advertisers"].append(advertiser("house"))
    docs["campaigns"].append(campaign("chouse", "house"))
    docs["creatives"].append(creative("crhouse", "house", 15, ("IAB1-5",)))
    docs["line_items"].append(line_item("lihouse", "chouse", ["crhouse"], bid=0.0, priority=4, kids_safe=True))
    return docs


def inventory(docs: dict[str, list[dict[str, Any]]] | None = None, **kw: Any) -> Inventory:
    return Inventory.from_dicts(**(docs or market()), **kw)


def counter_ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"imp-{next(counter)}"


def slot(imp_id: str = "1", *, low: int = 5, high: int = 60, floor: float = 0.0, **kw: Any) -> SlotSpec:
    return SlotSpec(imp_id, kw.pop("mimes", MP4), low, high, floor_cpm=floor, **kw)


def request(*, pod_duration: int = 60, max_ads: int = 4, now: float = T0 + 3600, viewer: str | None = "viewer-1",
            profile_id: str | None = None, privacy: PrivacySignals | None = None, floor: float = 0.0,
            content: ContentContext | None = None, request_id: str = "r1", **kw: Any) -> AdRequest:  # fmt: skip
    pod = PodRequest("pod1", (slot(floor=floor),), dynamic=True, pod_duration_s=pod_duration, max_ads=max_ads)
    return AdRequest(request_id, (pod,), now, content or ContentContext(), profile_id=profile_id, viewer_key=viewer,
                     privacy=privacy or PrivacySignals(), **kw)  # fmt: skip


# ---------------------------------------------------------------------------------------------- features

GENRE_SETS = [["sci-fi", "action"], ["sci-fi", "thriller"], ["drama"], ["comedy", "romance"], ["children", "animation"],
              ["documentary"], ["horror", "thriller"], ["family", "children"], ["crime", "drama"], ["sports"]]  # fmt: skip
MATURITY = [3, 3, 2, 2, 0, 1, 3, 0, 3, 1]


def title_frame(n: int = 40) -> pd.DataFrame:
    rows = []
    for i in range(n):
        rows.append({"title_id": f"tmdb:{100 + i}", "genres": GENRE_SETS[i % len(GENRE_SETS)],
                     "original_language": "en", "description_languages": ["en"],
                     "maturity_level": MATURITY[i % len(MATURITY)], "year": 1990.0 + i % 30})  # fmt: skip
    return pd.DataFrame(rows)


def unit_vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def feature_source(n_titles: int = 40, seed: int = 0, extra_profiles: int = 0) -> StaticFeatures:
    """Title features with seeded embeddings and three profiles: 'scifi' (heavy sci-fi history),
    'drama' (drama history) and 'kid' (a kids profile), plus ``extra_profiles`` adults 'p<i>' whose
    histories lean to one seeded genre group."""
    titles = title_frame(n_titles)
    ids = titles["title_id"].tolist()
    events = pd.DataFrame({"title_id": ids * 3, "timestamp": np.arange(3 * n_titles, dtype=float) + T0 - 10 * DAY})
    tf = build_title_features(titles, events, embeddings=(ids, unit_vectors(n_titles, seed)))
    scifi = [t for t, g in zip(ids, titles["genres"], strict=True) if "sci-fi" in g]
    drama = [t for t, g in zip(ids, titles["genres"], strict=True) if "drama" in g]
    kids = [t for t, g in zip(ids, titles["genres"], strict=True) if "children" in g]
    profiles = {}
    for pid, watched, maturity in (("scifi", scifi * 3, "adults"), ("drama", drama * 3, "adults"), ("kid", kids, "kids")):
        history = History(pid, watched, np.arange(len(watched), dtype=float) + T0 - DAY, ["play"] * len(watched))
        profiles[pid] = compute_profile_features(history, tf, profile=Profile(pid, maturity))
    rng = np.random.default_rng(seed + 1)
    for i in range(extra_profiles):
        favourite = int(rng.integers(len(GENRE_SETS)))
        weights = np.array([4.0 if j % len(GENRE_SETS) == favourite else 1.0 for j in range(n_titles)])
        watched = [ids[j] for j in rng.choice(n_titles, size=int(rng.integers(5, 40)), p=weights / weights.sum())]
        history = History(f"p{i}", watched, np.arange(len(watched), dtype=float) + T0 - DAY, ["play"] * len(watched))
        profiles[f"p{i}"] = compute_profile_features(history, tf, profile=Profile(f"p{i}"))
    return StaticFeatures(tf, profiles)
