"""The event/profile store: validation, idempotency, ordering, import/export, concurrency — every store
test runs on both back ends (SQLite WAL and a real PostgreSQL, ``db_target`` in tests/conftest.py)."""

from __future__ import annotations

import math
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.events import (
    EVENT_KINDS,
    MAX_BATCH_EVENTS,
    BatchTooLargeError,
    InvalidProfileError,
    Profile,
    ProfileNotFoundError,
    SqlEventStore,
    ViewingEvent,
    open_event_store,
    read_event_export,
)
from tests.features.synthetic import make_world

TITLES = {"tmdb:1", "tmdb:2", "tmdb:3"}


@pytest.fixture
def store(db_target: str | Path) -> SqlEventStore:
    s = open_event_store(db_target)
    s.put_profile(Profile("p1"))
    s.put_profile(Profile("p2", maturity="kids", languages=("fr", "en"), ui_language="fr", country="FR"))
    yield s
    s.close()


def ev(event_id: str, profile: str = "p1", title: str = "tmdb:1", ts: float = 100.0, kind: str = "play",
       **kw: float | None) -> ViewingEvent:  # fmt: skip
    return ViewingEvent(event_id, profile, title, ts, kind, **kw)  # type: ignore[arg-type]


def test_commits_are_durable_on_both_backends(store: SqlEventStore) -> None:
    if store.backend == "sqlite":
        conn = sqlite3.connect(store.db.path)  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
        with store.db.transaction() as tx:
            assert tx.execute("PRAGMA synchronous")[0][0] == 2  # FULL
    else:
        with store.db.read() as tx:
            assert tx.execute("SHOW synchronous_commit")[0][0] == "on"
            assert tx.execute("SHOW fsync")[0][0] == "on"


def test_valid_events_are_stored_and_invalid_ones_rejected_individually(store: SqlEventStore) -> None:
    out = store.append([
        ev("a"), ev("b", title="tmdb:unknown"), ev("c", profile="nobody"), ev("d", kind="pause"),
        ev("e", ts=-1.0), ev("f", kind="rating", rating=4.5), ev("g", kind="rating"),
        ev("h", position_s=50.0, duration_s=10.0), ev("i", kind="progress", position_s=5.0, duration_s=10.0),
    ], known_title_ids=TITLES)  # fmt: skip
    status = {o.event_id: o.status for o in out}
    assert status == {"a": "stored", "b": "rejected", "c": "rejected", "d": "rejected", "e": "rejected",
                      "f": "stored", "g": "rejected", "h": "rejected", "i": "stored"}  # fmt: skip
    errors = {o.event_id: " ".join(o.errors) for o in out}
    assert "tmdb:unknown" in errors["b"] and "unknown title" in errors["b"]
    assert "nobody" in errors["c"] and "unknown profile" in errors["c"]
    assert "'pause'" in errors["d"] and "play" in errors["d"]
    assert store.count_events() == 3
    assert store.has_events(["a", "b", "f", "i"]) == {"a", "f", "i"}


def test_append_is_idempotent_by_event_id(store: SqlEventStore) -> None:
    first = store.append([ev("a"), ev("b", ts=200.0), ev("a", ts=300.0)], known_title_ids=TITLES)
    assert [o.status for o in first] == ["stored", "stored", "duplicate"]
    again = store.append([ev("a"), ev("b", ts=200.0), ev("c")], known_title_ids=TITLES)
    assert [o.status for o in again] == ["duplicate", "duplicate", "stored"]
    assert store.count_events() == 3
    # the first write wins: the duplicate with another timestamp changed nothing
    assert store.history("p1").timestamps.tolist() == [100.0, 100.0, 200.0]


def test_batch_size_limit(store: SqlEventStore) -> None:
    with pytest.raises(BatchTooLargeError, match=f"at most {MAX_BATCH_EVENTS}"):
        store.append([ev(f"e{i}") for i in range(MAX_BATCH_EVENTS + 1)], known_title_ids=TITLES)
    assert store.count_events() == 0
    out = store.append([ev(f"e{i}") for i in range(MAX_BATCH_EVENTS)], known_title_ids=TITLES)
    assert all(o.status == "stored" for o in out)


def test_history_is_time_ordered_and_limit_keeps_the_newest(store: SqlEventStore) -> None:
    store.append([ev("x", title="tmdb:3", ts=300.0), ev("y", title="tmdb:1", ts=100.0),
                  ev("z", title="tmdb:2", ts=200.0), ev("w", profile="p2", ts=50.0)], known_title_ids=TITLES)  # fmt: skip
    history = store.history("p1")
    assert history.title_ids == ["tmdb:1", "tmdb:2", "tmdb:3"]
    assert history.kinds == ["play"] * 3
    assert store.history("p1", limit=2).title_ids == ["tmdb:2", "tmdb:3"]
    assert len(store.history("nobody")) == 0


def test_last_seq_moves_only_for_the_profile_that_changed(store: SqlEventStore) -> None:
    assert store.last_seq("p1") == 0
    store.append([ev("a")], known_title_ids=TITLES)
    p1, p2 = store.last_seq("p1"), store.last_seq("p2")
    store.append([ev("b", profile="p2")], known_title_ids=TITLES)
    assert store.last_seq("p1") == p1
    assert store.last_seq("p2") > p2
    assert store.last_seq() == store.last_seq("p2")


def test_profiles_round_trip_and_validate(store: SqlEventStore) -> None:
    got = store.get_profile("p2")
    assert got == Profile("p2", "kids", ("fr", "en"), "fr", "FR", "api")
    assert got.maturity_level == 0
    assert store.put_profile(Profile("p2", maturity="teens")) is False  # replaced, not created
    assert store.get_profile("p2").maturity == "teens"
    with pytest.raises(ProfileNotFoundError, match="'ghost'"):
        store.get_profile("ghost")
    with pytest.raises(InvalidProfileError) as info:
        store.put_profile(Profile("p3", maturity="grown-ups", languages=("english",), country="usa"))
    message = str(info.value)
    assert "grown-ups" in message and "english" in message and "usa" in message


def test_import_history_once_per_version_and_export_round_trip(db_target: str | Path, tmp_path: Path) -> None:
    world = make_world(n_users=12, n_titles=30, events_per_user=8)
    store = open_event_store(db_target)
    assert store.import_history(world.events, world.profiles, source_version="v1") == len(world.events)
    assert store.import_history(world.events, world.profiles, source_version="v1") == 0
    # a new catalog version re-imports, but derived event ids make it a no-op for known events
    assert store.import_history(world.events, world.profiles, source_version="v2") == 0
    assert store.get_profile("demo:kids").maturity == "kids"
    store.put_profile(Profile("demo:fr", maturity="teens", languages=("fr",), ui_language="fr"))
    store.import_history(world.events, world.profiles, source_version="v3")
    assert store.get_profile("demo:fr").maturity == "teens", "an import never overwrites an API edit"
    path = store.export_parquet(tmp_path / "export" / "events.parquet")
    frame = read_event_export(path)
    assert len(frame) == len(world.events)
    assert frame["seq"].is_monotonic_increasing
    got = frame.sort_values(["profile_id", "timestamp", "title_id"])[["profile_id", "title_id"]].to_numpy()
    want = world.events.sort_values(["profile_id", "timestamp", "title_id"])[["profile_id", "title_id"]].to_numpy()
    assert (got == want).all()
    assert np.allclose(frame["rating"], 4.0)
    assert set(store.profile_ids()) == set(world.profiles["profile_id"].astype(str))
    assert store.profile_ids() == sorted(store.profile_ids())
    store.close()


def test_concurrent_appends_lose_nothing(db_target: str | Path) -> None:
    store = open_event_store(db_target)
    store.put_profile(Profile("p1"))
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for b in range(5):
                store.append([ev(f"{w}-{b}-{i}", ts=float(i)) for i in range(20)], known_title_ids=TITLES)
                store.history("p1")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.count_events() == 4 * 5 * 20
    store.close()


def test_two_stores_racing_on_the_same_ids_store_each_exactly_once(db_target: str | Path) -> None:
    """Two stores on one database (as two replicas) append overlapping batches at once: every id is
    reported ``stored`` by exactly one of them and is in the table once."""
    stores = [open_event_store(db_target) for _ in range(2)]
    stores[0].put_profile(Profile("p1"))
    results: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def worker(k: int) -> None:
        barrier.wait()
        for b in range(10):
            out = stores[k].append([ev(f"{b}-{i}", ts=float(i)) for i in range(30)], known_title_ids=TITLES)
            results[k] += [o.event_id for o in out if o.status == "stored"]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = results[0] + results[1]
    assert sorted(stored) == sorted(f"{b}-{i}" for b in range(10) for i in range(30))
    assert stores[1].count_events() == 300
    for s in stores:
        s.close()


def test_a_reopened_store_sees_committed_events(db_target: str | Path) -> None:
    store = open_event_store(db_target)
    store.put_profile(Profile("p1"))
    store.append([ev("a"), ev("b")], known_title_ids=TITLES)
    store.close()
    again = open_event_store(db_target)
    assert again.count_events() == 2
    assert again.has_profile("p1")
    again.close()


@settings(max_examples=60, deadline=None)
@given(
    ts=st.floats(allow_nan=True, allow_infinity=True, width=64),
    kind=st.sampled_from([*EVENT_KINDS, "pause", ""]),
    rating=st.one_of(st.none(), st.floats(-10, 10)),
)
def test_event_validation_matches_the_contract(ts: float, kind: str, rating: float | None) -> None:
    problems = ViewingEvent("e", "p", "t", ts, kind, rating=rating).problems()
    valid_ts = math.isfinite(ts) and ts >= 0
    valid_rating = (rating is not None and 0 <= rating <= 5) if kind == "rating" else rating is None
    assert (not problems) == (valid_ts and kind in EVENT_KINDS and valid_rating)
