"""The ad store: inventory documents, exactly-once tracking effects, reservations, durability across
reopen — on both back ends (SQLite WAL and a real PostgreSQL, ``db_target`` in tests/conftest.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from data.ads_store import AdStoreError, CapLimits, EntityNotFoundError, SqlAdStore, open_ad_store

DAY = 86_400


@pytest.fixture
def store(db_target: str | Path) -> SqlAdStore:
    s = open_ad_store(db_target)
    yield s
    s.close()


def test_documents_create_replace_list_and_version(store: SqlAdStore) -> None:
    assert store.is_empty()
    assert store.put("advertiser", {"id": "a", "name": "A", "domain": "a.example"})
    assert not store.put("advertiser", {"id": "a", "name": "A2", "domain": "a.example"})
    assert store.get("advertiser", "a")["name"] == "A2" and store.version("advertiser", "a") == 2
    store.put("campaign", {"id": "c2", "advertiser_id": "a", "status": "paused"})
    store.put("campaign", {"id": "c1", "advertiser_id": "a"})
    store.put("campaign", {"id": "c3", "advertiser_id": "b"})
    assert [d["id"] for d in store.documents("campaign")] == ["c1", "c2", "c3"]
    assert [d["id"] for d in store.documents("campaign", parent_id="a")] == ["c1", "c2"]
    assert [d["id"] for d in store.documents("campaign", status="paused")] == ["c2"]
    assert store.set_status("campaign", "c1", "paused")["status"] == "paused"
    assert store.count("campaign") == 3 and not store.is_empty()
    assert set(store.inventory_docs()) == {"advertisers", "campaigns", "line_items", "creatives"}


def test_unknown_kinds_ids_and_entities_are_refused(store: SqlAdStore) -> None:
    with pytest.raises(AdStoreError, match="expected one of"):
        store.put("coupon", {"id": "x"})
    with pytest.raises(AdStoreError, match="non-empty string"):
        store.put("advertiser", {"name": "no id"})
    with pytest.raises(EntityNotFoundError, match="'nope' does not exist"):
        store.get("line_item", "nope")


def record(store: SqlAdStore, imp: str, event: str = "impression", ts: float = 1000.0, spend: float = 0.02,
           viewer: str | None = "v") -> bool:  # fmt: skip
    return store.record_event(impression_id=imp, event=event, ts=ts, line_item_id="li", viewer_key=viewer,
                              exposure=event == "impression", spend=spend)  # fmt: skip


def test_each_event_applies_once(store: SqlAdStore) -> None:
    assert record(store, "i1")
    assert not record(store, "i1", spend=99.0)  # replay: no change, even with other numbers
    assert record(store, "i1", "complete", spend=0.0)
    assert record(store, "i2", ts=1500.0)
    assert store.spend_rows() == [("li", pytest.approx(0.04))]
    assert store.exposure("v", "li", 0) == (2, 2, 1500.0)
    assert sorted(store.event_rows()) == [("li", "complete", 1), ("li", "impression", 2)]
    assert store.tracked("i1") == ["complete", "impression"]
    report = store.delivery_report("li")
    assert report == [{"day": 0, "spend": pytest.approx(0.04), "events": {"impression": 2, "complete": 1}}]


def test_frequency_is_per_utc_day_and_lifetime(store: SqlAdStore) -> None:
    record(store, "a", ts=DAY - 1)
    record(store, "b", ts=DAY + 1)
    record(store, "c", ts=DAY + 2, viewer=None)  # no viewer key: spend counts, exposure cannot
    assert store.frequency_rows(0) == [("v", "li", 0, 1)] and store.frequency_rows(1) == [("v", "li", 1, 1)]
    assert store.exposure_rows() == [("v", "li", 2, DAY + 1)]
    assert store.spend_rows()[0][1] == pytest.approx(0.06)


def test_concurrent_replays_apply_exactly_once(store: SqlAdStore) -> None:
    results: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for i in range(25):
            ok = record(store, f"imp-{i}")
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 25 and len(results) == 100
    assert store.exposure("v", "li", 0)[1] == 25


def test_everything_survives_a_reopen(db_target: str | Path) -> None:
    path = db_target
    first = open_ad_store(path)
    first.put("advertiser", {"id": "a", "name": "A", "domain": "a.example"})
    record(first, "i1")
    first.set_meta("seeded_at", "123")
    first.close()
    again = open_ad_store(path)
    try:
        assert again.get("advertiser", "a")["name"] == "A"
        assert not record(again, "i1") and again.spend_rows() == [("li", pytest.approx(0.02))]
        assert again.get_meta("seeded_at") == "123" and again.get_meta("missing") is None
    finally:
        again.close()


def reserve(store: SqlAdStore, imp: str, *, ts: float = 1000.0, spend: float = 0.02, budget: float = 1.0,
            caps: CapLimits = CapLimits(), viewer: str | None = "v", ttl: float = 100.0) -> bool:  # fmt: skip
    return store.reserve(impression_id=imp, line_item_id="li", viewer_key=viewer, ts=ts, spend=spend, budget=budget,
                         caps=caps, ttl_s=ttl)  # fmt: skip


def test_reservations_hold_caps_and_budget_until_tracked_or_expired(store: SqlAdStore) -> None:
    caps = CapLimits(per_day=2)
    assert reserve(store, "r1", caps=caps) and reserve(store, "r2", caps=caps)
    assert not reserve(store, "r3", caps=caps), "two reserved impressions fill a per-day cap of 2"
    assert reserve(store, "r1", caps=caps), "reserving the same impression again is a no-op"
    assert store.held_exposure("v", "li", 1000.0) == (2, 2, 1000.0)
    assert store.held_spend("li", 1000.0) == pytest.approx(0.04)
    assert record(store, "r1", ts=1001.0)  # tracked: committed, reservation released (not counted twice)
    assert store.held_exposure("v", "li", 1002.0) == (2, 2, 1001.0)
    assert store.held_spend("li", 1002.0) == pytest.approx(0.04) and store.committed_spend("li") == pytest.approx(0.02)
    assert store.held_exposure("v", "li", 1101.0)[0] == 1, "r2 expired unplayed"
    assert reserve(store, "r4", ts=1101.0, caps=caps)
    assert store.purge_reservations(1101.0) == 1  # r2
    assert not reserve(store, "r5", ts=1102.0, budget=0.05), "0.02 committed + 0.02 reserved + 0.02 > 0.05"
    assert reserve(store, "r5", ts=1102.0, budget=0.06, viewer="w")
    assert not reserve(store, "r6", ts=1103.0, caps=CapLimits(min_gap_s=10.0)), "the gap counts reservations"
    assert not reserve(store, "r6", ts=1103.0, caps=CapLimits(lifetime=2))
    assert store.event_counts("li") == {"impression": 1}


def test_racing_reservations_from_two_stores_never_exceed_caps_or_budget(db_target: str | Path) -> None:
    """Two stores on one database (as two replicas) reserve at once for the same viewers: no viewer
    gets more than its cap and the reserved spend never exceeds the budget."""
    stores = [open_ad_store(db_target) for _ in range(2)]
    granted: list[tuple[str, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def worker(k: int) -> None:
        store = stores[k % 2]
        barrier.wait()
        for i in range(30):
            viewer = f"v{i % 5}"
            if store.reserve(impression_id=f"{k}-{i}", line_item_id="li", viewer_key=viewer, ts=1000.0 + i * 0.01,
                             spend=0.01, budget=0.25, caps=CapLimits(per_day=3), ttl_s=900.0):  # fmt: skip
                with lock:
                    granted.append((viewer, f"{k}-{i}"))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_viewer = {v: sum(1 for g, _ in granted if g == v) for v in {g for g, _ in granted}}
    assert max(per_viewer.values()) <= 3
    assert len(granted) == 15, "5 viewers x cap 3 (budget 0.25 allows 25)"
    assert stores[0].held_spend("li", 1001.0) == pytest.approx(0.15)
    for s in stores:
        s.close()


def test_spend_recorded_before_the_spend_table_is_derived_on_open(db_target: str | Path) -> None:
    first = open_ad_store(db_target)
    record(first, "i1")
    record(first, "i2", spend=0.03)
    with first.db.transaction() as tx:  # as a store written by the previous version left it
        tx.execute("DELETE FROM line_item_spend")
    first.close()
    again = open_ad_store(db_target)
    try:
        assert again.committed_spend("li") == pytest.approx(0.05)
        assert again.held_spend("li", 1000.0) == pytest.approx(0.05)
    finally:
        again.close()
