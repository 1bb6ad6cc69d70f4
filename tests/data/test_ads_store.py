"""The ad store: inventory documents, exactly-once tracking effects, durability across reopen."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from data.ads_store import AdStoreError, EntityNotFoundError, SQLiteAdStore, open_ad_store

DAY = 86_400


@pytest.fixture
def store(tmp_path: Path) -> SQLiteAdStore:
    s = open_ad_store(tmp_path / "ads.db")
    yield s
    s.close()


def test_documents_create_replace_list_and_version(store: SQLiteAdStore) -> None:
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


def test_unknown_kinds_ids_and_entities_are_refused(store: SQLiteAdStore) -> None:
    with pytest.raises(AdStoreError, match="expected one of"):
        store.put("coupon", {"id": "x"})
    with pytest.raises(AdStoreError, match="non-empty string"):
        store.put("advertiser", {"name": "no id"})
    with pytest.raises(EntityNotFoundError, match="'nope' does not exist"):
        store.get("line_item", "nope")


def record(store: SQLiteAdStore, imp: str, event: str = "impression", ts: float = 1000.0, spend: float = 0.02,
           viewer: str | None = "v") -> bool:  # fmt: skip
    return store.record_event(impression_id=imp, event=event, ts=ts, line_item_id="li", viewer_key=viewer,
                              exposure=event == "impression", spend=spend)  # fmt: skip


def test_each_event_applies_once(store: SQLiteAdStore) -> None:
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


def test_frequency_is_per_utc_day_and_lifetime(store: SQLiteAdStore) -> None:
    record(store, "a", ts=DAY - 1)
    record(store, "b", ts=DAY + 1)
    record(store, "c", ts=DAY + 2, viewer=None)  # no viewer key: spend counts, exposure cannot
    assert store.frequency_rows(0) == [("v", "li", 0, 1)] and store.frequency_rows(1) == [("v", "li", 1, 1)]
    assert store.exposure_rows() == [("v", "li", 2, DAY + 1)]
    assert store.spend_rows()[0][1] == pytest.approx(0.06)


def test_concurrent_replays_apply_exactly_once(store: SQLiteAdStore) -> None:
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


def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ads.db"
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
