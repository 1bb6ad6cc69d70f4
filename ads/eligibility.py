"""Eligibility rules: may this line item (and this creative, in this slot) serve this request?

Each rule returns None when it passes or a short reason slug (the keys of :data:`REASONS`), so the
selector can count why inventory was rejected and tests can target one rule at a time.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

import numpy as np

from ads.inventory import Creative, LineItemView, top_category
from ads.privacy import Regime
from ads.request import SlotSpec

REASONS: dict[str, str] = {
    "inactive": "line item, campaign or advertiser is paused or archived",
    "flight": "outside the flight dates",
    "kids_unsafe": "kids regime and the line item is not kids-safe",
    "country": "viewer country not targeted",
    "device": "device type not targeted",
    "genre": "content genres not targeted",
    "category": "content IAB categories not targeted",
    "maturity": "content maturity outside the targeted range (or unknown while the range is restricted)",
    "audience": "viewer in none of the targeted audiences (or no personalization consent)",
    "contextual": "watched title not similar enough to the brief (or no embedding to compare)",
    "blocked_advertiser": "advertiser domain in badv",
    "frequency_unidentified": "the line item has frequency caps and the request has no viewer key",
    "frequency_day": "daily frequency cap reached",
    "frequency_lifetime": "lifetime frequency cap reached",
    "frequency_gap": "minimum gap since the last impression not reached",
    "budget": "budget exhausted",
    "pacing": "ahead of the even pacing schedule",
    "reservation": "another decision (this or another server process) took the last cap slot or budget first",
    "no_creative": "no active creative",
    "blocked_category": "creative category in bcat (or not comparable with bcat's taxonomy)",
    "duration": "creative duration does not fit the slot",
    "mime": "no media file in an accepted MIME type",
    "protocol": "the slot accepts no VAST 4 inline response",
    "floor": "bid below the floor",
}
"""Every rejection reason and what it means."""


@dataclass(frozen=True)
class ContentSignals:
    """The watched content as selection sees it. ``genres`` are names from ``data.normalize.GENRES``;
    ``maturity_level`` None = unknown; ``embedding`` (d,) unit vector or None."""

    title_id: str | None
    genres: frozenset[str]
    categories: frozenset[str]
    maturity_level: int | None
    embedding: np.ndarray | None


def _category_match(targets: Set[str], categories: Set[str]) -> bool:
    """Prefix match: target 'IAB17' matches content 'IAB17-3'; target 'IAB17-3' matches only itself."""
    return any(cat in targets or top_category(cat) in targets for cat in categories)


def line_item_rejection(
    view: LineItemView,
    *,
    now: float,
    regime: Regime,
    country: str | None,
    device_type: int | None,
    content: ContentSignals,
    audiences: Set[str],
    content_similarity: float | None,
    blocked_advertisers: Set[str],
) -> str | None:
    """The first request-level rule ``view`` fails, or None.

    ``audiences`` must be empty unless the regime is personalized (the caller enforces it; this rule
    also refuses audience targeting outside that regime). ``content_similarity`` is cosine(title
    embedding, brief embedding), None when either is missing.
    """
    li = view.line_item
    t = li.targeting
    if not view.active:
        return "inactive"
    if not view.start <= now < view.end:
        return "flight"
    if regime is Regime.KIDS and not li.kids_safe:
        return "kids_unsafe"
    if view.advertiser.domain in blocked_advertisers:
        return "blocked_advertiser"
    if t.countries and country not in t.countries:
        return "country"
    if t.device_types and device_type not in t.device_types:
        return "device"
    if t.content_genres and not (t.content_genres & content.genres):
        return "genre"
    if t.content_categories and not _category_match(t.content_categories, content.categories):
        return "category"
    restricted = t.content_maturity_min > 0 or t.content_maturity_max < 3
    level = content.maturity_level
    if restricted and (level is None or not t.content_maturity_min <= level <= t.content_maturity_max):
        return "maturity"  # an unknown maturity fails any restriction
    if t.audiences and (regime is not Regime.PERSONALIZED or not (t.audiences & audiences)):
        return "audience"
    if t.brief and (content_similarity is None or content_similarity < t.min_similarity):
        return "contextual"
    if not view.creatives:
        return "no_creative"
    return None


def blocked_category(creative: Creative, blocked: Set[str], blocked_cattax: int) -> bool:
    """True when ``creative`` may not run under ``bcat``. Codes block by prefix ('IAB8' blocks
    'IAB8-5'); when bcat uses another taxonomy than the creative, it cannot be checked and blocks."""
    if not blocked:
        return False
    if creative.cattax != blocked_cattax:
        return True
    return any(c in blocked or top_category(c) in blocked for c in creative.categories)


def creative_rejection(creative: Creative, slot: SlotSpec) -> str | None:
    """The first slot rule ``creative`` fails (duration, MIME type, VAST protocol), or None."""
    if creative.status != "active":
        return "no_creative"
    if not slot.fits_duration(creative.duration_s):
        return "duration"
    if slot.mimes and not (creative.mimes & slot.mimes):
        return "mime"
    if not slot.fits_protocols():
        return "protocol"
    return None
