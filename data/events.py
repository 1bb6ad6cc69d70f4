"""Viewing events and profiles: one durable store on SQLite (WAL, the default) or PostgreSQL.

The store holds two things:

* **profiles** — MovieLens users (imported as adult profiles), the demo profiles of
  ``profiles.parquet`` and profiles created through the API (``put_profile``);
* **viewing events** — ``(event_id, profile_id, title_id, timestamp, kind, position_s, duration_s,
  rating)`` with ``kind`` in :data:`EVENT_KINDS`. ``event_id`` is chosen by the client and makes
  writes idempotent: a second append with the same ``event_id`` is reported as a duplicate and
  changes nothing.

Durability: every :meth:`SqlEventStore.append` is ONE transaction; SQLite runs ``journal_mode=WAL``
with ``synchronous=FULL`` and PostgreSQL its default ``synchronous_commit=on``, so when ``append``
returns, the batch is on disk (the WAL is fsynced at commit) and survives a process kill or a power
cut. Callers acknowledge an event only after ``append`` has returned.

Back ends: :func:`open_event_store` takes a file path (SQLite, no server) or a ``postgresql://`` URL
(``MARQUEE_DATABASE_URL``); both are the one class :class:`SqlEventStore` over ``data.sql`` with the
same SQL (``INSERT … ON CONFLICT (event_id) DO NOTHING RETURNING``), and one shared test suite runs
against both.

Sequence numbers: each stored event gets a monotonically increasing ``seq``. ``last_seq(profile_id)``
changes exactly when a profile's history changes, which lets ``features.FeatureStore`` cache profile
features and still reflect new events on the very next request.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.errors import DataError
from data.normalize import MATURITY_LEVELS
from data.sql import Database, Tx, open_database

EventKind = Literal["play", "progress", "complete", "rating"]
EVENT_KINDS: tuple[str, ...] = ("play", "progress", "complete", "rating")
MAX_BATCH_EVENTS = 1000
"""The most events one ``append`` (and one ``POST /v1/events``) accepts."""

EXPORT_SCHEMA = pa.schema([
    ("seq", pa.int64()), ("event_id", pa.string()), ("profile_id", pa.string()), ("title_id", pa.string()),
    ("timestamp", pa.float64()), ("kind", pa.string()), ("position_s", pa.float64()),
    ("duration_s", pa.float64()), ("rating", pa.float32()), ("received_at", pa.float64()),
])  # fmt: skip
"""Columns of :meth:`SqlEventStore.export_parquet` (the file training reads)."""

LANGUAGE_PATTERN = r"^[a-z]{2,3}$"
"""A language code as profiles and events store it: ISO 639-1 or 639-3, lowercase ("en", "fil")."""
LANGUAGE_TAG_PATTERN = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$"
"""A language tag as a request may give it, shaped like BCP 47 (``de-AT``, ``pt_BR``, ``zh-Hant-TW``): only
its language subtag is read (:func:`language_subtag`)."""

_LANGUAGE = re.compile(LANGUAGE_PATTERN)
COUNTRY_PATTERN = r"^[A-Z]{2}$"
"""A country code as profiles give it: ISO 3166-1 alpha-2, uppercase ("KR")."""
_COUNTRY = re.compile(COUNTRY_PATTERN)
MAX_ID = 200
"""The longest profile or title id an event, a profile or a request may carry (characters)."""


def language_subtag(tag: str) -> str:
    """The lowercase language subtag of a tag (:data:`LANGUAGE_TAG_PATTERN`): ``de-AT`` -> ``de``."""
    return tag.strip().lower().replace("_", "-").split("-")[0]


class EventStoreError(DataError):
    """Base class of event-store errors."""


class InvalidEventError(EventStoreError):
    """An event field has a value outside its contract (the message names field, value, expectation)."""


class InvalidProfileError(EventStoreError):
    """A profile field has a value outside its contract."""


class ProfileNotFoundError(EventStoreError):
    """No profile with this id in the store."""

    def __init__(self, profile_id: str) -> None:
        super().__init__(f"profile {profile_id!r} does not exist; create it with PUT /v1/profiles/{{id}} first")
        self.profile_id = profile_id


class BatchTooLargeError(EventStoreError):
    """More events in one append than :data:`MAX_BATCH_EVENTS`."""

    def __init__(self, size: int, limit: int = MAX_BATCH_EVENTS) -> None:
        super().__init__(f"batch of {size} events; expected at most {limit}")
        self.size = size
        self.limit = limit


# ---------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ViewingEvent:
    """One viewing event. ``timestamp`` is unix seconds; positions and durations are seconds."""

    event_id: str
    profile_id: str
    title_id: str
    timestamp: float
    kind: str
    position_s: float | None = None
    duration_s: float | None = None
    rating: float | None = None

    def problems(self) -> list[str]:
        """Everything wrong with the event's own fields (empty when valid); store lookups not included."""
        out = []
        for name in ("event_id", "profile_id", "title_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or len(value) > MAX_ID:
                out.append(f"{name}={value!r}: expected a non-empty string of at most {MAX_ID} characters")
        if self.kind not in EVENT_KINDS:
            out.append(f"kind={self.kind!r}: expected one of {', '.join(EVENT_KINDS)}")
        if not _finite(self.timestamp) or self.timestamp < 0:
            out.append(f"timestamp={self.timestamp!r}: expected finite unix seconds >= 0")
        for name in ("position_s", "duration_s"):
            value = getattr(self, name)
            if value is not None and (not _finite(value) or value < 0):
                out.append(f"{name}={value!r}: expected finite seconds >= 0 or null")
        if self.position_s is not None and self.duration_s is not None and self.position_s > self.duration_s:
            out.append(f"position_s={self.position_s!r}: expected <= duration_s={self.duration_s!r}")
        if self.kind == "rating":
            if self.rating is None or not _finite(self.rating) or not 0.0 <= self.rating <= 5.0:
                out.append(f"rating={self.rating!r}: a rating event needs a rating in [0, 5]")
        elif self.rating is not None:
            out.append(f"rating={self.rating!r}: only kind='rating' events carry a rating")
        return out


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Profile:
    """A viewer profile. ``maturity_level`` follows ``data.normalize.MATURITY_LEVELS`` (0 kids .. 3 adults)."""

    profile_id: str
    maturity: str = "adults"
    languages: tuple[str, ...] = ("en",)
    ui_language: str = "en"
    country: str | None = None
    origin: str = "api"

    @property
    def maturity_level(self) -> int:
        return MATURITY_LEVELS[self.maturity]

    def validate(self) -> Profile:
        """Return self when valid, else raise :class:`InvalidProfileError` naming every problem."""
        problems = []
        if not isinstance(self.profile_id, str) or not self.profile_id or len(self.profile_id) > MAX_ID:
            problems.append(f"profile_id={self.profile_id!r}: expected a non-empty string of at most {MAX_ID} chars")
        if self.maturity not in MATURITY_LEVELS:
            problems.append(f"maturity={self.maturity!r}: expected one of {', '.join(MATURITY_LEVELS)}")
        if not self.languages or any(not _LANGUAGE.match(str(x)) for x in self.languages):
            problems.append(f"languages={list(self.languages)!r}: expected a non-empty list of ISO 639 codes like 'en'")
        if not _LANGUAGE.match(str(self.ui_language)):
            problems.append(f"ui_language={self.ui_language!r}: expected an ISO 639 code like 'en'")
        if self.country is not None and not _COUNTRY.match(str(self.country)):
            problems.append(f"country={self.country!r}: expected an ISO 3166 alpha-2 code like 'US' or null")
        if problems:
            raise InvalidProfileError("; ".join(problems))
        return self

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["languages"] = list(self.languages)
        out["maturity_level"] = self.maturity_level
        return out


@dataclass(frozen=True)
class EventOutcome:
    """What happened to one event of a batch: ``stored``, ``duplicate`` (event_id seen before) or ``rejected``."""

    event_id: str
    status: Literal["stored", "duplicate", "rejected"]
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class History:
    """One profile's events in time order (ties by arrival). Arrays have shape (e,) for e events."""

    profile_id: str
    title_ids: list[str]
    timestamps: np.ndarray  # float64 unix seconds
    kinds: list[str]
    last_seq: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.title_ids)


class EventStore(Protocol):
    """What the services, features and training code need from an event store."""

    def append(self, events: Sequence[ViewingEvent], *, known_title_ids: Container[str]) -> list[EventOutcome]: ...
    def history(self, profile_id: str, *, limit: int | None = None) -> History: ...
    def last_seq(self, profile_id: str | None = None) -> int: ...
    def get_profile(self, profile_id: str) -> Profile: ...
    def put_profile(self, profile: Profile) -> bool: ...
    def has_profile(self, profile_id: str) -> bool: ...
    def profile_ids(self) -> list[str]: ...
    def count_events(self) -> int: ...
    def export_parquet(self, path: Path) -> Path: ...
    def close(self) -> None: ...


# ---------------------------------------------------------------------------------------- SQL

_SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    profile_id TEXT PRIMARY KEY,
    maturity TEXT NOT NULL,
    languages TEXT NOT NULL,
    ui_language TEXT NOT NULL,
    country TEXT,
    origin TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq {serial},
    event_id TEXT NOT NULL UNIQUE,
    profile_id TEXT NOT NULL,
    title_id TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    position_s DOUBLE PRECISION,
    duration_s DOUBLE PRECISION,
    rating REAL,
    received_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_profile ON events (profile_id, ts, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_EVENT_COLUMNS = "(event_id, profile_id, title_id, ts, kind, position_s, duration_s, rating, received_at)"
_UPSERT_PROFILE = (
    "INSERT INTO profiles (profile_id, maturity, languages, ui_language, country, origin, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (profile_id) DO UPDATE SET maturity = excluded.maturity, "
    "languages = excluded.languages, ui_language = excluded.ui_language, country = excluded.country, "
    "origin = excluded.origin, updated_at = excluded.updated_at"
)
_ROWS_PER_INSERT = 200
"""Events per multi-row INSERT (9 parameters each, far under both back ends' parameter limits)."""


class ProfileLookup:
    """Who a profile id is, answered in one place: the event store's profile; else the catalog's
    maturity level for the id (``profiles.parquet``, when no store holds it); else an adult with
    :class:`Profile`'s defaults and origin ``unknown`` (only an ad request's ``regs.coppa`` protects
    such an id)."""

    def __init__(self, store: EventStore | None = None, catalog_levels: Mapping[str, int] | None = None) -> None:
        self.store = store
        self._catalog = dict(catalog_levels or {})
        self._names = {level: name for name, level in MATURITY_LEVELS.items()}

    def profile(self, profile_id: str) -> Profile:
        if self.store is not None:
            try:
                return self.store.get_profile(profile_id)
            except ProfileNotFoundError:
                pass
        level = self._catalog.get(profile_id)
        if level is not None:
            return Profile(profile_id, self._names[level], origin="catalog")
        return Profile(profile_id, origin="unknown")


class SqlEventStore:
    """:class:`EventStore` on a :class:`data.sql.Database`: SQLite in WAL mode (default) or PostgreSQL.

    Thread-safe and, on PostgreSQL (or one SQLite file), safe across processes: every append is one
    transaction, and which events it stored comes from the database (``INSERT ... ON CONFLICT DO
    NOTHING RETURNING event_id``), so two replicas appending the same ``event_id`` at once report it
    ``stored`` exactly once.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        db.executescript(_SCHEMA)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgres``."""
        return self.db.kind

    def close(self) -> None:
        self.db.close()

    # ----------------------------------------------------------------- profiles

    def put_profile(self, profile: Profile) -> bool:
        """Create or replace a profile. Returns True when it was created."""
        profile.validate()
        with self.db.transaction() as tx:
            existed = bool(tx.execute("SELECT 1 FROM profiles WHERE profile_id = ?", (profile.profile_id,)))
            tx.execute(_UPSERT_PROFILE, _profile_row(profile))
        return not existed

    def get_profile(self, profile_id: str) -> Profile:
        with self.db.read() as tx:
            rows = tx.execute("SELECT profile_id, maturity, languages, ui_language, country, origin FROM profiles "
                              "WHERE profile_id = ?", (profile_id,))  # fmt: skip
        if not rows:
            raise ProfileNotFoundError(profile_id)
        row = rows[0]
        return Profile(row[0], row[1], tuple(json.loads(row[2])), row[3], row[4], row[5])

    def has_profile(self, profile_id: str) -> bool:
        with self.db.read() as tx:
            return bool(tx.execute("SELECT 1 FROM profiles WHERE profile_id = ?", (profile_id,)))

    def profile_ids(self) -> list[str]:
        """Every profile id, sorted (what ``pages precompute`` iterates over)."""
        with self.db.read() as tx:
            return [r[0] for r in tx.execute("SELECT profile_id FROM profiles ORDER BY profile_id")]

    # ----------------------------------------------------------------- events

    def append(self, events: Sequence[ViewingEvent], *, known_title_ids: Container[str]) -> list[EventOutcome]:
        """Validate and store a batch in ONE durable transaction; returns one outcome per event, in order.

        An event is rejected (and the others still stored) when its fields are invalid, its profile
        is not in the store or its title is not in ``known_title_ids``. An ``event_id`` already stored
        (or repeated earlier in the same batch) is a ``duplicate`` and changes nothing. Raises
        :class:`BatchTooLargeError` for more than :data:`MAX_BATCH_EVENTS` events.
        """
        if len(events) > MAX_BATCH_EVENTS:
            raise BatchTooLargeError(len(events))
        errors: list[list[str]] = [ev.problems() for ev in events]
        for ev, errs in zip(events, errors, strict=True):
            if not errs and ev.title_id not in known_title_ids:
                errs.append(f"title_id={ev.title_id!r}: unknown title; expected a catalog title id")
        now = time.time()
        with self.db.transaction() as tx:
            candidates = [ev for ev, errs in zip(events, errors, strict=True) if not errs]
            known_profiles = _existing(tx, "profiles", "profile_id", {ev.profile_id for ev in candidates})
            rows: dict[str, tuple[Any, ...]] = {}
            for ev, errs in zip(events, errors, strict=True):
                if not errs and ev.profile_id not in known_profiles:
                    errs.append(f"profile_id={ev.profile_id!r}: unknown profile; create it with PUT /v1/profiles/{{id}}")
                if not errs and ev.event_id not in rows:
                    rows[ev.event_id] = (ev.event_id, ev.profile_id, ev.title_id, float(ev.timestamp), ev.kind,
                                         ev.position_s, ev.duration_s, ev.rating, now)  # fmt: skip
            stored = _insert_events(tx, list(rows.values()), returning=True)
        outcomes: list[EventOutcome] = []
        for ev, errs in zip(events, errors, strict=True):
            if errs:
                outcomes.append(EventOutcome(str(ev.event_id), "rejected", tuple(errs)))
            elif ev.event_id in stored:
                stored.discard(ev.event_id)  # a repeat later in the batch is a duplicate
                outcomes.append(EventOutcome(ev.event_id, "stored"))
            else:
                outcomes.append(EventOutcome(ev.event_id, "duplicate"))
        return outcomes

    def history(self, profile_id: str, *, limit: int | None = None) -> History:
        """The profile's events in time order; ``limit`` keeps the most recent ones."""
        with self.db.read() as tx:
            if limit is None:
                rows = tx.execute("SELECT title_id, ts, kind, seq FROM events WHERE profile_id = ? ORDER BY ts, seq",
                                  (profile_id,))  # fmt: skip
            else:
                rows = tx.execute("SELECT title_id, ts, kind, seq FROM events WHERE profile_id = ? "
                                  "ORDER BY ts DESC, seq DESC LIMIT ?", (profile_id, int(limit)))[::-1]  # fmt: skip
        last = max((r[3] for r in rows), default=0)
        return History(profile_id, [r[0] for r in rows], np.array([r[1] for r in rows], dtype=np.float64),
                       [r[2] for r in rows], int(last))  # fmt: skip

    def last_seq(self, profile_id: str | None = None) -> int:
        """The newest event sequence number (of one profile, or of the whole store); 0 when none."""
        with self.db.read() as tx:
            if profile_id is None:
                rows = tx.execute("SELECT MAX(seq) FROM events")
            else:
                rows = tx.execute("SELECT MAX(seq) FROM events WHERE profile_id = ?", (profile_id,))
        return int(rows[0][0] or 0)

    def count_events(self) -> int:
        with self.db.read() as tx:
            return int(tx.execute("SELECT COUNT(*) FROM events")[0][0])

    def has_events(self, event_ids: Iterable[str]) -> set[str]:
        """Which of ``event_ids`` are stored."""
        with self.db.read() as tx:
            return _existing(tx, "events", "event_id", set(event_ids))

    # ----------------------------------------------------------------- bulk import / export

    def import_history(self, events: pd.DataFrame, profiles: pd.DataFrame, *, source_version: str) -> int:
        """Load the catalog's history (``read_events``/``read_profiles`` frames) once per ``source_version``.

        Event ids are derived (``<profile_id>|<title_id>|<timestamp>|<kind>``) so re-importing is a no-op.
        Returns the number of events inserted (0 when this version was already imported).
        """
        key = "imported_history"
        with self.db.read() as tx:
            row = tx.execute("SELECT value FROM meta WHERE key = ?", (key,))
        if row and row[0][0] == source_version:
            return 0
        now = time.time()
        prof_rows = []
        for rec in profiles.to_dict("records"):
            langs = tuple(str(x) for x in (rec.get("languages") if rec.get("languages") is not None else ["en"]))
            country = rec.get("country")
            prof = Profile(str(rec["profile_id"]), str(rec.get("maturity") or "adults"), langs or ("en",),
                           str(rec.get("ui_language") or "en"), None if pd.isna(country) else str(country),
                           str(rec.get("origin") or "catalog"))  # fmt: skip
            prof_rows.append(_profile_row(prof.validate(), now))
        ts = events["timestamp"].astype("float64").to_numpy()
        ratings = events["rating"].to_numpy() if "rating" in events else np.full(len(events), np.nan)
        ids = (events["profile_id"].astype(str) + "|" + events["title_id"].astype(str) + "|"
               + events["timestamp"].astype("int64").astype(str) + "|" + events["kind"].astype(str))  # fmt: skip
        rows = [(eid, p, t, float(s), k, None, None, None if np.isnan(r) else float(r), now)
                for eid, p, t, s, k, r in zip(ids, events["profile_id"], events["title_id"], ts,
                                              events["kind"], ratings.astype("float64"), strict=True)]  # fmt: skip
        with self.db.transaction() as tx:
            # catalog profiles never overwrite a profile edited through the API
            tx.executemany(_UPSERT_PROFILE.split(" ON CONFLICT")[0] + " ON CONFLICT (profile_id) DO NOTHING", prof_rows)
            before = int(tx.execute("SELECT COUNT(*) FROM events")[0][0])
            _insert_events(tx, rows, returning=False)
            after = int(tx.execute("SELECT COUNT(*) FROM events")[0][0])
            tx.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                       "value = excluded.value", (key, source_version))  # fmt: skip
        return after - before

    def events_frame(self) -> pd.DataFrame:
        """Every event as a frame with the :data:`EXPORT_SCHEMA` columns, ordered by seq."""
        with self.db.read() as tx:
            rows = tx.execute("SELECT seq, event_id, profile_id, title_id, ts, kind, position_s, duration_s, rating, "
                              "received_at FROM events ORDER BY seq")  # fmt: skip
        frame = pd.DataFrame(rows, columns=EXPORT_SCHEMA.names)
        return frame.astype({"seq": "int64", "timestamp": "float64", "position_s": "float64",
                             "duration_s": "float64", "rating": "float32", "received_at": "float64"})  # fmt: skip

    def export_parquet(self, path: Path) -> Path:
        """Write every event to ``path`` (Parquet, :data:`EXPORT_SCHEMA`) atomically; returns ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(self.events_frame(), schema=EXPORT_SCHEMA, preserve_index=False)
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)
        return path


SQLiteEventStore = SqlEventStore
"""The former name (the SQLite store is the same class on an SQLite database)."""


def _insert_events(tx: Tx, rows: Sequence[tuple[Any, ...]], *, returning: bool) -> set[str]:
    """Insert event rows (multi-row VALUES, ``ON CONFLICT DO NOTHING``); the ids actually inserted when
    ``returning`` (else an empty set)."""
    stored: set[str] = set()
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        values = ",".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
        sql = f"INSERT INTO events {_EVENT_COLUMNS} VALUES {values} ON CONFLICT (event_id) DO NOTHING"
        params = [v for row in chunk for v in row]
        if returning:
            stored.update(r[0] for r in tx.execute(sql + " RETURNING event_id", params))
        else:
            tx.execute(sql, params)
    return stored


def _profile_row(profile: Profile, now: float | None = None) -> tuple[Any, ...]:
    return (profile.profile_id, profile.maturity, json.dumps(list(profile.languages)), profile.ui_language,
            profile.country, profile.origin, time.time() if now is None else now)  # fmt: skip


def _existing(tx: Tx, table: str, column: str, values: set[str]) -> set[str]:
    """The subset of ``values`` present in ``table.column`` (chunked under the parameter limits)."""
    found: set[str] = set()
    items = sorted(values)
    for start in range(0, len(items), 500):
        chunk = items[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in tx.execute(f"SELECT {column} FROM {table} WHERE {column} IN ({marks})", chunk))
    return found


def open_event_store(target: str | Path, *, max_connections: int = 16) -> SqlEventStore:
    """The one factory: the event store at ``target`` — an SQLite file path (created if needed) or a
    ``postgresql://`` URL (``MARQUEE_DATABASE_URL``)."""
    return SqlEventStore(open_database(target, error=EventStoreError, max_connections=max_connections))


def read_event_export(path: Path) -> pd.DataFrame:
    """Read a Parquet export written by :meth:`SqlEventStore.export_parquet`."""
    path = Path(path)
    if not path.is_file():
        raise EventStoreError(f"{path}: no event export; expected a file written by export_parquet")
    return pq.read_table(path).to_pandas()
