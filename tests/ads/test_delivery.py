"""Delivery state: frequency caps, reservations, spend and idempotent tracking; signed tokens."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ads.delivery import DeliveryState, Exposure, Ticket, cap_violation, day_of, effect_of
from ads.errors import InvalidTrackingTokenError
from ads.inventory import FrequencyCaps
from ads.tracking import TokenSigner
from tests.ads.helpers import DAY, T0


def ticket(i: int = 1, *, li: str = "li", viewer: str | None = "v", price: float = 20.0, bid_type: str = "cpm",
           bid: float = 20.0, at: float = T0) -> Ticket:  # fmt: skip
    return Ticket(f"imp-{i}", li, "cr", viewer, price, bid_type, bid, at)


@pytest.mark.parametrize(
    ("caps", "exposure", "now", "expected"),
    [
        (FrequencyCaps(per_day=2), Exposure(1, 5, T0), T0 + 10, None),
        (FrequencyCaps(per_day=2), Exposure(2, 5, T0), T0 + 10, "frequency_day"),
        (FrequencyCaps(lifetime=5), Exposure(0, 5, T0 - DAY), T0, "frequency_lifetime"),
        (FrequencyCaps(lifetime=5), Exposure(0, 4, T0 - DAY), T0, None),
        (FrequencyCaps(min_gap_s=600), Exposure(1, 1, T0), T0 + 599, "frequency_gap"),
        (FrequencyCaps(min_gap_s=600), Exposure(1, 1, T0), T0 + 600, None),
        (FrequencyCaps(), Exposure(99, 99, T0), T0, None),
    ],
)
def test_cap_rules(caps: FrequencyCaps, exposure: Exposure, now: float, expected: str | None) -> None:
    assert cap_violation(caps, exposure, now) == expected


def test_effects_charge_cpm_on_impression_and_cpcv_on_complete() -> None:
    assert effect_of("impression", ticket(price=25.0)).spend == pytest.approx(0.025)
    assert effect_of("impression", ticket()).exposure
    assert effect_of("complete", ticket()).spend == 0.0
    cpcv = ticket(bid_type="cpcv", bid=0.04, price=30.0)
    assert effect_of("impression", cpcv).spend == 0.0 and effect_of("complete", cpcv).spend == 0.04
    assert not effect_of("click", cpcv).exposure
    with pytest.raises(ValueError, match="expected one of"):
        effect_of("teleport", cpcv)


def test_reservations_count_at_once_and_commit_or_expire() -> None:
    state = DeliveryState(pending_ttl_s=100)
    state.reserve(ticket(1), T0)
    assert state.exposure("v", "li", T0) == Exposure(1, 1, T0)
    assert state.spend("li", T0) == pytest.approx(0.02)
    assert state.apply("impression", ticket(1), T0 + 5)
    assert state.exposure("v", "li", T0 + 6) == Exposure(1, 1, T0 + 5)  # committed, not double counted
    state.reserve(ticket(2), T0 + 10)
    assert state.exposure("v", "li", T0 + 50).lifetime == 2
    assert state.exposure("v", "li", T0 + 111).lifetime == 1  # the unplayed reservation expired
    assert state.spend("li", T0 + 111) == pytest.approx(0.02)


def test_tracking_is_idempotent_per_impression_and_event() -> None:
    state = DeliveryState()
    assert state.apply("impression", ticket(), T0)
    assert not state.apply("impression", ticket(), T0 + 1)
    assert state.apply("complete", ticket(), T0 + 2)
    assert state.committed_spend("li") == pytest.approx(0.02)
    assert state.exposure("v", "li", T0 + 3).lifetime == 1
    assert state.event_counts("li") == {"impression": 1, "complete": 1}


def test_days_are_utc_days() -> None:
    state = DeliveryState()
    state.apply("impression", ticket(1), T0 + DAY - 1)
    assert day_of(T0 + DAY - 1) + 1 == day_of(T0 + DAY)
    assert state.exposure("v", "li", T0 + DAY - 0.5).today == 1
    assert state.exposure("v", "li", T0 + DAY).today == 0


def test_load_seeds_from_store_rows() -> None:
    state = DeliveryState()
    day = day_of(T0)
    state.load([("v", "li", day, 3)], [("v", "li", 7, T0 - 5)], [("li", 1.5)], [("li", "impression", 7)])
    assert state.exposure("v", "li", T0) == Exposure(3, 7, T0 - 5)
    assert state.spend("li") == 1.5 and state.event_counts("li") == {"impression": 7}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.sampled_from(["impression", "complete", "click"])), max_size=60))
def test_replaying_events_never_changes_the_result(events: list[tuple[int, str]]) -> None:
    once, twice = DeliveryState(), DeliveryState()
    for i, event in events:
        once.apply(event, ticket(i, bid_type="cpcv", bid=0.03), T0 + i)
    for i, event in events + events[::-1]:
        twice.apply(event, ticket(i, bid_type="cpcv", bid=0.03), T0 + i)
    assert once.committed_spend("li") == pytest.approx(twice.committed_spend("li"))
    assert once.exposure("v", "li", T0 + 100) == twice.exposure("v", "li", T0 + 100)


def test_tokens_round_trip_and_reject_forgery_and_age() -> None:
    signer = TokenSigner("secret", max_age_s=60)
    t = ticket(price=17.25)
    token = signer.sign(t)
    assert signer.verify(token, now=T0 + 59) == t
    payload, mac = token.split(".")
    with pytest.raises(InvalidTrackingTokenError, match="signature"):
        TokenSigner("other").verify(token, now=T0)
    with pytest.raises(InvalidTrackingTokenError, match="signature"):
        signer.verify(payload[:-2] + "AA." + mac, now=T0)
    with pytest.raises(InvalidTrackingTokenError) as info:
        signer.verify(token, now=T0 + 61)
    assert info.value.expired
    with pytest.raises(InvalidTrackingTokenError, match="expected"):
        signer.verify("no-dot-here", now=T0)
    with pytest.raises(ValueError):
        TokenSigner("")
