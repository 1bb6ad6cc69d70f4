"""Delivery state: frequency caps, reservations, spend and idempotent tracking; signed tokens.

The in-memory ``DeliveryState`` and the server's ``StoredDelivery`` (on both back ends, ``db_target``)
are held to the same rules; several engines on one database (as replicas) never break a cap or a budget."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ads.delivery import DeliveryState, Exposure, StoredDelivery, Ticket, cap_violation, day_of, effect_of
from ads.errors import InvalidTrackingTokenError
from ads.inventory import FrequencyCaps
from ads.selector import AdEngine
from ads.tracking import TokenSigner
from data.ads_store import open_ad_store
from tests.ads.helpers import DAY, T0, inventory, market, request


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


@pytest.fixture
def stored(db_target: str | Path) -> StoredDelivery:
    store = open_ad_store(db_target)
    yield StoredDelivery(store, pending_ttl_s=100)
    store.close()


def test_stored_delivery_follows_the_same_rules(stored: StoredDelivery) -> None:
    assert stored.reserve(ticket(1), T0)
    assert stored.exposure("v", "li", T0) == Exposure(1, 1, T0)
    assert stored.spend("li", T0) == pytest.approx(0.02)
    assert stored.apply("impression", ticket(1), T0 + 5)
    assert not stored.apply("impression", ticket(1), T0 + 6)
    assert stored.exposure("v", "li", T0 + 6) == Exposure(1, 1, T0 + 5)  # committed, not double counted
    assert stored.reserve(ticket(2), T0 + 10)
    assert stored.exposure("v", "li", T0 + 50).lifetime == 2
    assert stored.exposure("v", "li", T0 + 111).lifetime == 1  # the unplayed reservation expired
    assert stored.spend("li", T0 + 111) == pytest.approx(0.02) and stored.committed_spend("li") == pytest.approx(0.02)
    assert not stored.reserve(ticket(3), T0 + 120, caps=FrequencyCaps(per_day=1))
    assert not stored.reserve(ticket(3), T0 + 120, budget=0.03)
    assert stored.reserve(ticket(3), T0 + 120, caps=FrequencyCaps(per_day=2), budget=0.04)
    cpcv = ticket(9, bid_type="cpcv", bid=0.05, price=30.0)
    assert stored.apply("complete", cpcv, T0 + 130) and stored.committed_spend("li") == pytest.approx(0.07)
    assert stored.event_counts("li") == {"impression": 1, "complete": 1}


def test_in_memory_reserve_refuses_past_caps_and_budget() -> None:
    state = DeliveryState()
    assert state.reserve(ticket(1), T0, caps=FrequencyCaps(per_day=1), budget=0.05)
    assert not state.reserve(ticket(2), T0, caps=FrequencyCaps(per_day=1))
    assert state.reserve(ticket(2, viewer="w"), T0, budget=0.05)
    assert not state.reserve(ticket(3, viewer="x"), T0, budget=0.05)
    assert state.spend("li", T0) == pytest.approx(0.04)


def test_engines_sharing_one_database_never_break_caps_or_budgets(db_target: str | Path) -> None:
    """Two engines, each with its own store on one database (two replicas), decide for the same viewers
    at once: no viewer sees a capped line item more than its cap, and no line item reserves more than
    its budget."""
    docs = market()
    for li in docs["line_items"]:
        li["caps"] = {"per_day": 2}
        li["budget"] = 0.5
    inv = inventory(docs)
    stores = [open_ad_store(db_target) for _ in range(2)]
    engines = [AdEngine(inv, delivery=StoredDelivery(s)) for s in stores]
    placed: list[tuple[str, str, float]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def worker(k: int) -> None:
        engine = engines[k % 2]
        barrier.wait()
        for i in range(25):
            viewer = f"viewer-{i % 4}"
            decision = engine.decide(request(viewer=viewer, request_id=f"{k}-{i}", max_ads=2))
            with lock:
                placed.extend((viewer, p.line_item_id, p.price_cpm) for p in decision.placements)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_viewer = Counter((v, li) for v, li, _ in placed)
    assert placed and max(per_viewer.values()) <= 2
    spend: Counter[str] = Counter()
    for _, li, price in placed:
        spend[li] += price / 1000.0
    assert all(s <= 0.5 + 1e-9 for s in spend.values())
    for li in spend:  # every placement holds a reservation the database counts
        assert engines[0].delivery.spend(li, T0 + 3600) == pytest.approx(spend[li])
    for s in stores:
        s.close()
