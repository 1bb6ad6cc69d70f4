"""The ad inventory: advertisers, campaigns, line items and creatives as frozen dataclasses.

Every entity round-trips through a plain JSON-able dict (``*_from_dict`` / ``to_dict``): that dict is
what the admin API accepts and what ``data.ads_store`` persists. ``*_from_dict`` validates and raises
:class:`~ads.errors.InvalidInventoryError` listing every problem, each naming the value and what was
expected.

Conventions:

* times are unix seconds (float) inside; dicts carry ISO-8601 UTC strings (unix numbers accepted);
* money is in the currency of the deployment (USD in the demo); ``bid`` is a CPM (price per 1000
  impressions) for ``bid_type="cpm"`` and a price per completed view for ``bid_type="cpcv"``;
* device types follow OpenRTB/AdCOM ``DeviceType`` (1 mobile/tablet, 2 PC, 3 connected TV, 4 phone,
  5 tablet, 6 connected device, 7 set-top box, 8 out-of-home);
* creative categories are IAB codes in the taxonomy named by ``cattax`` (OpenRTB ``cattax``; 1 = IAB
  Content Category 1.0, codes like ``IAB2`` or ``IAB8-5``, the OpenRTB default);
* content genres use the shared vocabulary ``data.normalize.GENRES``; maturity levels follow
  ``data.normalize.MATURITY_LEVELS`` (0 kids .. 3 adults).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ads.errors import InvalidInventoryError, UnknownEntityError
from data.normalize import GENRES
from features.audiences import AUDIENCES

STATUSES: tuple[str, ...] = ("active", "paused", "archived")
BID_TYPES: tuple[str, ...] = ("cpm", "cpcv")
PACING_MODES: tuple[str, ...] = ("even", "asap")
GOALS: tuple[str, ...] = ("completion", "click")
DEVICE_TYPES: dict[int, str] = {
    1: "mobile/tablet", 2: "personal computer", 3: "connected tv", 4: "phone", 5: "tablet",
    6: "connected device", 7: "set top box", 8: "out of home",
}  # fmt: skip
PRIORITY_TIERS: dict[int, str] = {1: "sponsorship", 2: "guaranteed", 3: "standard", 4: "house"}
"""Lower tier wins first in the auction, whatever the price (see ``ads.auction``)."""
DELIVERIES: tuple[str, ...] = ("progressive", "streaming")
VIDEO_MIMES: tuple[str, ...] = ("video/mp4", "video/webm", "application/x-mpegURL", "application/dash+xml")
_IAB_CODE = re.compile(r"^IAB\d{1,2}(-\d{1,2})?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def top_category(code: str) -> str:
    """The top-level IAB category of ``code`` ('IAB8-5' -> 'IAB8'); used for competitive separation."""
    return code.split("-", 1)[0]


# ------------------------------------------------------------------------------------------ entities


@dataclass(frozen=True)
class Advertiser:
    """A brand buying ads. ``domain`` is the OpenRTB ``adomain`` that ``badv`` blocks."""

    id: str
    name: str
    domain: str
    status: str = "active"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "domain": self.domain, "status": self.status}


@dataclass(frozen=True)
class Campaign:
    """A flight of an advertiser grouping line items; its dates bound its line items'."""

    id: str
    advertiser_id: str
    name: str
    start: float
    end: float
    status: str = "active"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "advertiser_id": self.advertiser_id, "name": self.name,
                "start": iso(self.start), "end": iso(self.end), "status": self.status}  # fmt: skip


@dataclass(frozen=True)
class MediaFile:
    """One rendition of a creative (VAST ``MediaFile``)."""

    url: str
    mime: str
    width: int
    height: int
    bitrate_kbps: int | None = None
    delivery: str = "progressive"
    codec: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "mime": self.mime, "width": self.width, "height": self.height,
                "bitrate_kbps": self.bitrate_kbps, "delivery": self.delivery, "codec": self.codec}  # fmt: skip


@dataclass(frozen=True)
class Creative:
    """A linear video ad. ``universal_ad_id`` is (registry, value), e.g. ('ad-id.org', 'NWMO0001000H')."""

    id: str
    advertiser_id: str
    name: str
    duration_s: int
    media_files: tuple[MediaFile, ...]
    categories: tuple[str, ...]
    universal_ad_id: tuple[str, str]
    cattax: int = 1
    click_through: str | None = None
    status: str = "active"

    @property
    def top_categories(self) -> frozenset[str]:
        return frozenset(top_category(c) for c in self.categories)

    @property
    def mimes(self) -> frozenset[str]:
        return frozenset(m.mime for m in self.media_files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "advertiser_id": self.advertiser_id, "name": self.name, "duration_s": self.duration_s,
            "media_files": [m.to_dict() for m in self.media_files], "categories": list(self.categories),
            "cattax": self.cattax, "universal_ad_id": {"registry": self.universal_ad_id[0],
                                                       "value": self.universal_ad_id[1]},
            "click_through": self.click_through, "status": self.status,
        }  # fmt: skip


@dataclass(frozen=True)
class Targeting:
    """Who and where a line item may serve. Empty sets mean "any". Dimensions combine with AND,
    values within a dimension with OR.

    ``content_genres`` match the watched title's genres; ``content_categories`` match the request's IAB
    content categories by prefix ('IAB17' matches 'IAB17-3'); the content's maturity level must lie in
    [``content_maturity_min``, ``content_maturity_max``]; ``audiences`` are names from
    ``features.audiences.AUDIENCES`` (the viewer must be in at least one; never true without
    personalization consent); ``brief`` is a text whose embedding must reach ``min_similarity`` cosine
    with the watched title's embedding (contextual targeting through the shared embeddings).
    """

    countries: frozenset[str] = frozenset()
    device_types: frozenset[int] = frozenset()
    content_genres: frozenset[str] = frozenset()
    content_categories: frozenset[str] = frozenset()
    content_maturity_min: int = 0
    content_maturity_max: int = 3
    audiences: frozenset[str] = frozenset()
    brief: str | None = None
    min_similarity: float = 0.80

    def to_dict(self) -> dict[str, Any]:
        return {
            "countries": sorted(self.countries), "device_types": sorted(self.device_types),
            "content_genres": sorted(self.content_genres), "content_categories": sorted(self.content_categories),
            "content_maturity_min": self.content_maturity_min, "content_maturity_max": self.content_maturity_max,
            "audiences": sorted(self.audiences), "brief": self.brief, "min_similarity": self.min_similarity,
        }  # fmt: skip


@dataclass(frozen=True)
class FrequencyCaps:
    """Per viewer (profile) limits: impressions per UTC day, over the line item's life, and the
    minimum seconds between two impressions. ``None`` = no limit."""

    per_day: int | None = None
    lifetime: int | None = None
    min_gap_s: float | None = None

    @property
    def any(self) -> bool:
        return self.per_day is not None or self.lifetime is not None or self.min_gap_s is not None

    def to_dict(self) -> dict[str, Any]:
        return {"per_day": self.per_day, "lifetime": self.lifetime, "min_gap_s": self.min_gap_s}


@dataclass(frozen=True)
class LineItem:
    """What is bought: a flight, a budget with a pacing mode, a bid, a tier, targeting, caps, creatives.

    ``kids_safe`` line items may serve in the kids regime (COPPA requests and kids profiles); their
    creatives must be suitable for children. ``goal`` is the response the score optimizes when the bid
    is a CPM ('completion' or 'click'); CPCV bids always optimize completion.
    """

    id: str
    campaign_id: str
    name: str
    start: float
    end: float
    budget: float
    bid: float
    creative_ids: tuple[str, ...]
    bid_type: str = "cpm"
    pacing: str = "even"
    priority: int = 3
    goal: str = "completion"
    targeting: Targeting = field(default_factory=Targeting)
    caps: FrequencyCaps = field(default_factory=FrequencyCaps)
    kids_safe: bool = False
    status: str = "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "campaign_id": self.campaign_id, "name": self.name, "start": iso(self.start),
            "end": iso(self.end), "budget": self.budget, "bid": self.bid, "bid_type": self.bid_type,
            "pacing": self.pacing, "priority": self.priority, "goal": self.goal,
            "targeting": self.targeting.to_dict(), "caps": self.caps.to_dict(),
            "creative_ids": list(self.creative_ids), "kids_safe": self.kids_safe, "status": self.status,
        }  # fmt: skip


# ------------------------------------------------------------------------------------------ inventory


@dataclass(frozen=True)
class LineItemView:
    """A line item joined with its campaign, advertiser and active creatives (what selection reads)."""

    line_item: LineItem
    campaign: Campaign
    advertiser: Advertiser
    creatives: tuple[Creative, ...]
    brief_embedding: np.ndarray | None  # (d,) float32 unit vector of targeting.brief, when encoded

    @functools.cached_property
    def id(self) -> str:
        return self.line_item.id

    @functools.cached_property
    def start(self) -> float:
        return max(self.line_item.start, self.campaign.start)

    @functools.cached_property
    def end(self) -> float:
        return min(self.line_item.end, self.campaign.end)

    @functools.cached_property
    def active(self) -> bool:
        return (self.line_item.status == "active" and self.campaign.status == "active"
                and self.advertiser.status == "active")  # fmt: skip


class Inventory:
    """An immutable snapshot of the whole inventory, validated for referential integrity.

    ``brief_embeddings`` maps line item id -> (d,) unit vector of its targeting brief (computed by the
    caller with the shared encoder); a line item with a brief but no embedding never matches
    contextually.
    """

    def __init__(
        self,
        advertisers: Iterable[Advertiser] = (),
        campaigns: Iterable[Campaign] = (),
        line_items: Iterable[LineItem] = (),
        creatives: Iterable[Creative] = (),
        *,
        brief_embeddings: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.advertisers = {a.id: a for a in advertisers}
        self.campaigns = {c.id: c for c in campaigns}
        self.line_items = {li.id: li for li in line_items}
        self.creatives = {c.id: c for c in creatives}
        self.brief_embeddings = dict(brief_embeddings or {})
        for c in self.campaigns.values():
            if c.advertiser_id not in self.advertisers:
                raise UnknownEntityError("advertiser", c.advertiser_id)
        for cr in self.creatives.values():
            if cr.advertiser_id not in self.advertisers:
                raise UnknownEntityError("advertiser", cr.advertiser_id)
        views = []
        for li in self.line_items.values():
            campaign = self.campaigns.get(li.campaign_id)
            if campaign is None:
                raise UnknownEntityError("campaign", li.campaign_id)
            for cid in li.creative_ids:
                creative = self.creatives.get(cid)
                if creative is None:
                    raise UnknownEntityError("creative", cid)
                if creative.advertiser_id != campaign.advertiser_id:
                    raise InvalidInventoryError("line item", li.id, [
                        f"creative {cid!r} belongs to advertiser {creative.advertiser_id!r}; expected the "
                        f"campaign's advertiser {campaign.advertiser_id!r}"])  # fmt: skip
            creatives = tuple(self.creatives[c] for c in li.creative_ids if self.creatives[c].status == "active")
            views.append(LineItemView(li, campaign, self.advertisers[campaign.advertiser_id], creatives,
                                      self.brief_embeddings.get(li.id)))  # fmt: skip
        self.views: tuple[LineItemView, ...] = tuple(sorted(views, key=lambda v: v.id))

    def view(self, line_item_id: str) -> LineItemView:
        for v in self.views:
            if v.id == line_item_id:
                return v
        raise UnknownEntityError("line item", line_item_id)

    def briefs(self) -> dict[str, str]:
        """line item id -> brief text, for every line item with a contextual brief."""
        return {li.id: li.targeting.brief for li in self.line_items.values() if li.targeting.brief}

    def with_brief_embeddings(self, embeddings: Mapping[str, np.ndarray]) -> Inventory:
        return Inventory(self.advertisers.values(), self.campaigns.values(), self.line_items.values(),
                         self.creatives.values(), brief_embeddings=embeddings)  # fmt: skip

    @classmethod
    def from_dicts(cls, advertisers: Iterable[Mapping[str, Any]] = (), campaigns: Iterable[Mapping[str, Any]] = (),
                   line_items: Iterable[Mapping[str, Any]] = (), creatives: Iterable[Mapping[str, Any]] = (),
                   *, brief_embeddings: Mapping[str, np.ndarray] | None = None) -> Inventory:  # fmt: skip
        """Validate and assemble an inventory from stored/admin dicts."""
        return cls([advertiser_from_dict(d) for d in advertisers], [campaign_from_dict(d) for d in campaigns],
                   [line_item_from_dict(d) for d in line_items], [creative_from_dict(d) for d in creatives],
                   brief_embeddings=brief_embeddings)  # fmt: skip


# ------------------------------------------------------------------------------------------ parsing


def iso(ts: float) -> str:
    """Unix seconds -> '2026-05-01T00:00:00Z'."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> float:
    """ISO-8601 (naive = UTC) or unix seconds -> unix seconds; ValueError when neither."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r}: expected an ISO-8601 time or unix seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r}: expected finite unix seconds")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise ValueError(f"{value!r}: expected an ISO-8601 time or unix seconds")


class _Checker:
    """Collects problems while reading one dict."""

    def __init__(self, kind: str, data: Mapping[str, Any]) -> None:
        self.kind = kind
        self.data = data
        self.problems: list[str] = []
        if not isinstance(data, Mapping):
            raise InvalidInventoryError(kind, None, [f"{data!r}: expected an object"])

    def ident(self, name: str) -> str:
        value = self.data.get(name)
        if not isinstance(value, str) or not _ID.match(value):
            self.problems.append(f"{name}={value!r}: expected an id of 1-64 letters, digits or ._:-")
            return str(value)
        return value

    def text(self, name: str, *, default: str | None = None, optional: bool = False) -> str | None:
        value = self.data.get(name, default)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip() or len(value) > 500:
            self.problems.append(f"{name}={value!r}: expected a non-empty string of at most 500 characters")
            return "" if not optional else None
        return value.strip()

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = self.data.get(name, default)
        if value not in options:
            self.problems.append(f"{name}={value!r}: expected one of {', '.join(options)}")
            return default
        return str(value)

    def number(self, name: str, *, low: float, high: float = math.inf, default: float | None = None,
               optional: bool = False, integer: bool = False) -> float | None:  # fmt: skip
        value = self.data.get(name, default)
        if value is None and optional:
            return None
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if ok and integer and float(value) != int(value):
            ok = False
        if not ok or not low <= value <= high:  # type: ignore[operator]
            kind = "an integer" if integer else "a number"
            self.problems.append(f"{name}={value!r}: expected {kind} in [{low}, {high}]")
            return low
        return int(value) if integer else float(value)  # type: ignore[arg-type]

    def time(self, name: str) -> float:
        try:
            return parse_time(self.data.get(name))
        except (ValueError, TypeError) as exc:
            self.problems.append(f"{name}: {exc}")
            return 0.0

    def strings(self, name: str, *, pattern: re.Pattern[str] | None = None, allowed: Iterable[str] | None = None,
                data: Mapping[str, Any] | None = None, example: str = "") -> tuple[str, ...]:  # fmt: skip
        label = name if data is None else f"targeting.{name}"
        value = (data if data is not None else self.data).get(name) or []
        allowed_set = set(allowed) if allowed is not None else None
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            self.problems.append(f"{label}={value!r}: expected a list of strings")
            return ()
        for v in value:
            if pattern is not None and not pattern.match(v):
                self.problems.append(f"{label}: {v!r} does not match {pattern.pattern}; expected values like {example}")
            if allowed_set is not None and v not in allowed_set:
                self.problems.append(f"{label}: {v!r} is unknown; expected one of {', '.join(sorted(allowed_set))}")
        return tuple(value)

    def done(self, entity_id: object) -> None:
        if self.problems:
            raise InvalidInventoryError(self.kind, entity_id, self.problems)


def advertiser_from_dict(data: Mapping[str, Any]) -> Advertiser:
    c = _Checker("advertiser", data)
    ident = c.ident("id")
    name = c.text("name") or ""
    domain = str(data.get("domain", "")).lower()
    if not _DOMAIN.match(domain):
        c.problems.append(f"domain={data.get('domain')!r}: expected a domain name like 'brand.example'")
    status = c.choice("status", STATUSES, "active")
    c.done(ident)
    return Advertiser(ident, name, domain, status)


def campaign_from_dict(data: Mapping[str, Any]) -> Campaign:
    c = _Checker("campaign", data)
    ident = c.ident("id")
    advertiser_id = c.ident("advertiser_id")
    name = c.text("name") or ""
    start, end = c.time("start"), c.time("end")
    if not c.problems and end <= start:
        c.problems.append(f"end={data.get('end')!r}: expected after start={data.get('start')!r}")
    status = c.choice("status", STATUSES, "active")
    c.done(ident)
    return Campaign(ident, advertiser_id, name, start, end, status)


def creative_from_dict(data: Mapping[str, Any]) -> Creative:
    c = _Checker("creative", data)
    ident = c.ident("id")
    advertiser_id = c.ident("advertiser_id")
    name = c.text("name") or ""
    duration = int(c.number("duration_s", low=1, high=300, integer=True) or 1)
    cattax = int(c.number("cattax", low=1, high=1000, default=1, integer=True) or 1)
    categories = c.strings("categories", pattern=_IAB_CODE if cattax == 1 else None, example="'IAB2', 'IAB8-5'")
    if not categories:
        c.problems.append("categories=[]: expected at least one IAB category (competitive separation needs it)")
    media: list[MediaFile] = []
    raw_media = data.get("media_files")
    if not isinstance(raw_media, list) or not raw_media:
        c.problems.append(f"media_files={raw_media!r}: expected a non-empty list of media files")
        raw_media = []
    for i, m in enumerate(raw_media):
        if not isinstance(m, Mapping):
            c.problems.append(f"media_files[{i}]={m!r}: expected an object")
            continue
        url = m.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            c.problems.append(f"media_files[{i}].url={url!r}: expected an http(s) URL")
        mime = m.get("mime")
        if mime not in VIDEO_MIMES:
            c.problems.append(f"media_files[{i}].mime={mime!r}: expected one of {', '.join(VIDEO_MIMES)}")
        dims = []
        for key in ("width", "height"):
            v = m.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or not 16 <= v <= 8192:
                c.problems.append(f"media_files[{i}].{key}={v!r}: expected an integer in [16, 8192]")
                v = 16
            dims.append(v)
        delivery = m.get("delivery", "progressive")
        if delivery not in DELIVERIES:
            c.problems.append(f"media_files[{i}].delivery={delivery!r}: expected one of {', '.join(DELIVERIES)}")
        bitrate = m.get("bitrate_kbps")
        if bitrate is not None and (not isinstance(bitrate, int) or isinstance(bitrate, bool) or bitrate <= 0):
            c.problems.append(f"media_files[{i}].bitrate_kbps={bitrate!r}: expected a positive integer or null")
        codec = m.get("codec")
        media.append(MediaFile(str(url), str(mime), dims[0], dims[1], bitrate, str(delivery),
                               str(codec) if codec else None))  # fmt: skip
    uaid = data.get("universal_ad_id")
    if (not isinstance(uaid, Mapping) or not isinstance(uaid.get("registry"), str) or not uaid.get("registry")
            or not isinstance(uaid.get("value"), str) or not uaid.get("value")):  # fmt: skip
        c.problems.append(f"universal_ad_id={uaid!r}: expected {{'registry': 'ad-id.org', 'value': '...'}}")
        uaid = {"registry": "unknown", "value": "unknown"}
    click = data.get("click_through")
    if click is not None and (not isinstance(click, str) or not click.startswith(("https://", "http://"))):
        c.problems.append(f"click_through={click!r}: expected an http(s) URL or null")
    status = c.choice("status", STATUSES, "active")
    c.done(ident)
    return Creative(ident, advertiser_id, name, duration, tuple(media), categories,
                    (str(uaid["registry"]), str(uaid["value"])), cattax, click, status)  # fmt: skip


def _targeting(c: _Checker, data: Mapping[str, Any]) -> Targeting:
    if not isinstance(data, Mapping):
        c.problems.append(f"targeting={data!r}: expected an object")
        return Targeting()
    countries = c.strings("countries", pattern=_COUNTRY, data=data, example="'US', 'FR'")
    devices_raw = data.get("device_types") or []
    devices: set[int] = set()
    if not isinstance(devices_raw, list | tuple):
        c.problems.append(f"targeting.device_types={devices_raw!r}: expected a list of OpenRTB device types")
    else:
        for d in devices_raw:
            if not isinstance(d, int) or isinstance(d, bool) or d not in DEVICE_TYPES:
                c.problems.append(f"targeting.device_types: {d!r}: expected an OpenRTB device type (1-8)")
            else:
                devices.add(d)
    genres = c.strings("content_genres", allowed=GENRES, data=data)
    categories = c.strings("content_categories", pattern=_IAB_CODE, data=data, example="'IAB17', 'IAB1-5'")
    sub = _Checker("targeting", data)
    low = int(sub.number("content_maturity_min", low=0, high=3, default=0, integer=True) or 0)
    high = int(sub.number("content_maturity_max", low=0, high=3, default=3, integer=True) or 0)
    if not sub.problems and low > high:
        sub.problems.append(f"content_maturity_min={low} > content_maturity_max={high}: expected min <= max")
    brief = sub.text("brief", optional=True)
    min_sim = float(sub.number("min_similarity", low=-1.0, high=1.0, default=0.80) or 0.0)
    c.problems += [f"targeting.{p}" for p in sub.problems]
    audiences = c.strings("audiences", allowed=AUDIENCES, data=data)
    return Targeting(frozenset(countries), frozenset(devices), frozenset(genres), frozenset(categories), low, high,
                     frozenset(audiences), brief, min_sim)  # fmt: skip


def _caps(c: _Checker, data: Mapping[str, Any]) -> FrequencyCaps:
    if not isinstance(data, Mapping):
        c.problems.append(f"caps={data!r}: expected an object")
        return FrequencyCaps()
    sub = _Checker("caps", data)
    per_day = sub.number("per_day", low=1, high=1_000, optional=True, integer=True)
    lifetime = sub.number("lifetime", low=1, high=100_000, optional=True, integer=True)
    gap = sub.number("min_gap_s", low=0, high=365 * 86_400, optional=True)
    c.problems += [f"caps.{p}" for p in sub.problems]
    return FrequencyCaps(int(per_day) if per_day is not None else None,
                         int(lifetime) if lifetime is not None else None, gap)  # fmt: skip


def line_item_from_dict(data: Mapping[str, Any]) -> LineItem:
    c = _Checker("line item", data)
    ident = c.ident("id")
    campaign_id = c.ident("campaign_id")
    name = c.text("name") or ""
    start, end = c.time("start"), c.time("end")
    if not c.problems and end <= start:
        c.problems.append(f"end={data.get('end')!r}: expected after start={data.get('start')!r}")
    budget = float(c.number("budget", low=0.0, high=1e9) or 0.0)
    bid_type = c.choice("bid_type", BID_TYPES, "cpm")
    bid = float(c.number("bid", low=0.0, high=1_000.0 if bid_type == "cpm" else 10.0) or 0.0)
    pacing = c.choice("pacing", PACING_MODES, "even")
    priority = int(c.number("priority", low=1, high=4, default=3, integer=True) or 3)
    goal = c.choice("goal", GOALS, "completion")
    creative_ids = c.strings("creative_ids", pattern=_ID, example="'cr-17'")
    if not creative_ids:
        c.problems.append("creative_ids=[]: expected at least one creative id")
    targeting = _targeting(c, data.get("targeting") or {})
    caps = _caps(c, data.get("caps") or {})
    kids_safe = data.get("kids_safe", False)
    if not isinstance(kids_safe, bool):
        c.problems.append(f"kids_safe={kids_safe!r}: expected true or false")
        kids_safe = False
    if kids_safe and targeting.audiences:
        c.problems.append("kids_safe=true with audiences: expected no audience targeting on kids-safe line items "
                          "(the kids regime never reads profile features)")  # fmt: skip
    status = c.choice("status", STATUSES, "active")
    c.done(ident)
    return LineItem(ident, campaign_id, name, start, end, budget, bid, tuple(creative_ids), bid_type, pacing,
                    priority, goal, targeting, caps, kids_safe, status)  # fmt: skip
