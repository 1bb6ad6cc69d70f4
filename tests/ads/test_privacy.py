"""Privacy regimes: COPPA and kids profiles, consent (TCF v2 purposes), US Privacy, GPP, LMT."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ads.privacy import Regime, decide_regime, encode_tcf_core, tcf_consented_purposes, us_privacy_opted_out
from ads.request import PrivacySignals

CONSENT = encode_tcf_core({1, 2, 3, 4, 7, 10})
STORAGE_ONLY = encode_tcf_core({1})


@given(st.sets(st.integers(min_value=1, max_value=24)))
def test_tcf_purposes_round_trip(purposes: set[int]) -> None:
    assert tcf_consented_purposes(encode_tcf_core(purposes)) == purposes


@pytest.mark.parametrize("bad", [None, "", "!!!", "AAAA", "Zm9v", CONSENT[:10]])
def test_malformed_tcf_strings_mean_no_consent(bad: str | None) -> None:
    assert tcf_consented_purposes(bad) == frozenset()


def test_tcf_segments_after_the_core_are_ignored() -> None:
    assert tcf_consented_purposes(CONSENT + ".IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAA") == {1, 2, 3, 4, 7, 10}


@pytest.mark.parametrize(
    ("signals", "maturity", "regime", "reason"),
    [
        (PrivacySignals(), 3, Regime.PERSONALIZED, "no-restriction"),
        (PrivacySignals(), None, Regime.PERSONALIZED, "no-restriction"),
        (PrivacySignals(coppa=True), 3, Regime.KIDS, "coppa"),
        (PrivacySignals(coppa=True, gdpr=True, tcf_consent=CONSENT), 3, Regime.KIDS, "coppa"),
        (PrivacySignals(), 0, Regime.KIDS, "kids-profile"),
        (PrivacySignals(), 1, Regime.KIDS, "kids-profile"),
        (PrivacySignals(), 2, Regime.PERSONALIZED, "no-restriction"),
        (PrivacySignals(limit_ad_tracking=True), 3, Regime.CONTEXTUAL, "limit-ad-tracking"),
        (PrivacySignals(us_privacy="1YYN"), 3, Regime.CONTEXTUAL, "us-privacy-opt-out"),
        (PrivacySignals(us_privacy="1YNN"), 3, Regime.PERSONALIZED, "no-restriction"),
        (PrivacySignals(gdpr=True), 3, Regime.CONTEXTUAL, "gdpr-no-consent"),
        (PrivacySignals(gdpr=True, tcf_consent=STORAGE_ONLY), 3, Regime.CONTEXTUAL, "gdpr-no-consent"),
        (PrivacySignals(gdpr=True, tcf_consent="garbage"), 3, Regime.CONTEXTUAL, "gdpr-no-consent"),
        (PrivacySignals(gdpr=True, tcf_consent=CONSENT), 3, Regime.PERSONALIZED, "consented"),
        (PrivacySignals(gdpr=False, tcf_consent=None), 3, Regime.PERSONALIZED, "no-restriction"),
        (PrivacySignals(gpp=f"DBABMA~{CONSENT}", gpp_sid=(2,)), 3, Regime.PERSONALIZED, "consented"),
        (PrivacySignals(gpp=f"DBABMA~{STORAGE_ONLY}", gpp_sid=(2,)), 3, Regime.CONTEXTUAL, "gdpr-no-consent"),
        (PrivacySignals(gpp="DBABTA~1YYN", gpp_sid=(6,)), 3, Regime.CONTEXTUAL, "us-privacy-opt-out"),
        (PrivacySignals(gpp="DBABTA~1YNN", gpp_sid=(6,)), 3, Regime.PERSONALIZED, "no-restriction"),
        (PrivacySignals(gpp="DBABLA~BVQqAAAAAgA.QA", gpp_sid=(7,)), 3, Regime.CONTEXTUAL, "gpp-us-section"),
    ],
)
def test_regimes(signals: PrivacySignals, maturity: int | None, regime: Regime, reason: str) -> None:
    decision = decide_regime(signals, maturity)
    assert (decision.regime, decision.reason) == (regime, reason)
    assert decision.personalized == (regime is Regime.PERSONALIZED)


def test_us_privacy_strings() -> None:
    assert us_privacy_opted_out("1YYY") and not us_privacy_opted_out("1NNN") and not us_privacy_opted_out("1---")
    assert not us_privacy_opted_out("garbage") and not us_privacy_opted_out(None)
