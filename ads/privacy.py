"""The privacy regime of a request: the first step of selection, before any feature is read.

Three regimes:

* ``kids`` — COPPA flagged (``regs.coppa=1``) or a kids profile (maturity level <= 1: the ``kids`` and
  ``older_kids`` rungs, viewers under 13). No profile features, no audiences, only line items marked
  ``kids_safe``. Frequency caps still count against the viewer key: COPPA's "support for internal
  operations" covers frequency capping.
* ``contextual`` — the viewer has not allowed personalized ads: GDPR applies without TCF consent to
  purposes 1 (store/access), 3 (create a personalized-ads profile) and 4 (select personalized ads);
  a US Privacy string opting out of sale (``1-Y-``); a GPP string carrying US national or state
  sections (ids 7-23), which Marquee does not decode and so treats as an opt-out; or
  ``device.lmt=1``. No profile features and no audiences; contextual, genre and brief targeting still
  apply.
* ``personalized`` — everything else: profile features (affinities, history embedding, activity)
  feed audiences and the response model.

The TCF v2 core string is decoded for its purpose-consent bits only (vendor consents are not read:
Marquee acts as the publisher's own ad server). A malformed string counts as no consent.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from enum import StrEnum

from ads.request import PrivacySignals

KIDS_MAX_MATURITY = 1
"""Profiles at or below this maturity level (``data.normalize.MATURITY_LEVELS``) are kids profiles."""
PERSONALIZATION_PURPOSES: frozenset[int] = frozenset({1, 3, 4})
"""TCF purposes whose consent personalized ads need."""
GPP_TCF_EU_SID = 2
GPP_USP_SID = 6
GPP_US_SIDS: frozenset[int] = frozenset(range(7, 24))
_PURPOSES_OFFSET = 152  # bits before PurposesConsent in the TCF v2 core segment
_USP = re.compile(r"^1[YN-][YN-][YN-]$")


class Regime(StrEnum):
    PERSONALIZED = "personalized"
    CONTEXTUAL = "contextual"
    KIDS = "kids"


@dataclass(frozen=True)
class RegimeDecision:
    """The regime and why (a short machine-readable reason)."""

    regime: Regime
    reason: str

    @property
    def personalized(self) -> bool:
        return self.regime is Regime.PERSONALIZED


def _bits(segment: str) -> str:
    padded = segment + "=" * (-len(segment) % 4)
    raw = base64.urlsafe_b64decode(padded.encode("ascii"))
    return "".join(f"{byte:08b}" for byte in raw)


def tcf_consented_purposes(consent: str | None) -> frozenset[int]:
    """Purpose ids (1-24) with consent in a TCF v2 string; empty for a missing or malformed string."""
    if not consent:
        return frozenset()
    try:
        bits = _bits(consent.split(".", 1)[0].strip())
    except (ValueError, UnicodeEncodeError):
        return frozenset()
    if len(bits) < _PURPOSES_OFFSET + 24 or int(bits[:6], 2) != 2:
        return frozenset()
    field = bits[_PURPOSES_OFFSET : _PURPOSES_OFFSET + 24]
    return frozenset(i + 1 for i, b in enumerate(field) if b == "1")


def encode_tcf_core(purposes: frozenset[int] | set[int], *, created_ds: int = 16_000_000_000) -> str:
    """A minimal TCF v2 core segment consenting to ``purposes`` (for simulations and tests).

    Header fields carry plausible constants (CMP 1, version 1, English, vendor list 1, policy 4); no
    vendor consents follow, so this is only meaningful to readers of the purpose bits like this one.
    """
    fields = [(2, 6), (created_ds, 36), (created_ds, 36), (1, 12), (1, 12), (1, 6),
              (4 * 64 + 13, 12), (1, 12), (4, 6), (1, 1), (0, 1), (0, 12)]  # fmt: skip
    bits = "".join(f"{value:0{width}b}" for value, width in fields)
    bits += "".join("1" if i + 1 in purposes else "0" for i in range(24))
    # LI transparency, purpose-one treatment, publisher CC, empty vendor consent/LI sections, no restrictions
    bits += "0" * 24 + "0" + f"{4 * 64 + 13:012b}" + "0" * 16 + "0" + "0" * 16 + "0" + "0" * 12
    bits += "0" * (-len(bits) % 8)
    raw = int(bits, 2).to_bytes(len(bits) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _gpp_sections(gpp: str) -> list[str]:
    parts = [p for p in gpp.split("~") if p]
    return parts[1:]  # the first part is the header


def us_privacy_opted_out(us_privacy: str | None) -> bool:
    """True when a US Privacy (CCPA) string says the viewer opted out of sale ('1-Y-')."""
    return bool(us_privacy) and bool(_USP.match(us_privacy or "")) and (us_privacy or "")[2] == "Y"


def decide_regime(signals: PrivacySignals, profile_maturity_level: int | None) -> RegimeDecision:
    """The regime for a request; ``profile_maturity_level`` is the stored profile's (None if unknown)."""
    if signals.coppa:
        return RegimeDecision(Regime.KIDS, "coppa")
    if profile_maturity_level is not None and profile_maturity_level <= KIDS_MAX_MATURITY:
        return RegimeDecision(Regime.KIDS, "kids-profile")
    if signals.limit_ad_tracking:
        return RegimeDecision(Regime.CONTEXTUAL, "limit-ad-tracking")
    if us_privacy_opted_out(signals.us_privacy):
        return RegimeDecision(Regime.CONTEXTUAL, "us-privacy-opt-out")
    tcf = signals.tcf_consent
    sids = set(signals.gpp_sid)
    if signals.gpp:
        sections = _gpp_sections(signals.gpp)
        if sids & GPP_US_SIDS:
            return RegimeDecision(Regime.CONTEXTUAL, "gpp-us-section")
        if GPP_USP_SID in sids and any(us_privacy_opted_out(s) for s in sections):
            return RegimeDecision(Regime.CONTEXTUAL, "us-privacy-opt-out")
        if GPP_TCF_EU_SID in sids and not tcf:
            tcf = next((s for s in sections if tcf_consented_purposes(s)), None)
    gdpr_applies = bool(signals.gdpr) or GPP_TCF_EU_SID in sids
    if gdpr_applies and not tcf_consented_purposes(tcf) >= PERSONALIZATION_PURPOSES:
        return RegimeDecision(Regime.CONTEXTUAL, "gdpr-no-consent")
    return RegimeDecision(Regime.PERSONALIZED, "consented" if gdpr_applies else "no-restriction")
