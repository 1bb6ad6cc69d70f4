"""Ad state: the inventory documents, the delivery record and reservations (SQLite WAL or PostgreSQL).

Two halves:

* **inventory** — advertisers, campaigns, line items and creatives as JSON documents (the admin
  API's format; ``ads.inventory`` validates them), one row per entity with its kind, parent, status
  and a version counter bumped on every write;
* **delivery** — tracking events, each applied at most once per ``(impression_id, event)``: the
  event row, the viewer's exposure (per UTC day and lifetime, with the last time) and the line
  item's per-day counters and spend move together in ONE transaction. A replayed tracking call
  finds its row and changes nothing (:meth:`SqlAdStore.record_event` returns False);
* **reservations** — a decided, not yet tracked impression holds its cap slot and its spend in the
  database until its impression is tracked (the same transaction releases it) or it expires.
  :meth:`SqlAdStore.reserve` checks caps and budget and inserts the reservation in ONE transaction
  with the line item's spend row locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
  ``BEGIN IMMEDIATE`` serialises all writers of the file), so replicas deciding at once can never
  both take the last cap slot or the last of a budget.

Back ends: :func:`open_ad_store` takes a file path (SQLite, ``journal_mode=WAL`` with
``synchronous=FULL``) or a ``postgresql://`` URL; when a write returns, it is on disk. The store
knows nothing about prices: callers say what an event changes (exposure or not, how much spend)
and what a reservation is bound by (caps, budget), so the money logic lives once, in ``ads.delivery``.

Viewer keys are opaque strings (the service stores hashes, never raw user ids).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.errors import DataError
from data.sql import Database, Tx, dialect, open_database

KINDS: tuple[str, ...] = ("advertiser", "campaign", "line_item", "creative")
_PARENT_FIELD = {"advertiser": None, "campaign": "advertiser_id", "line_item": "campaign_id",
                 "creative": "advertiser_id"}  # fmt: skip
SECONDS_PER_DAY = 86_400

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent_id TEXT,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS tracking (
    impression_id TEXT NOT NULL,
    event TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    line_item_id TEXT NOT NULL,
    viewer_key TEXT,
    spend DOUBLE PRECISION NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (impression_id, event)
);
CREATE TABLE IF NOT EXISTS frequency (
    viewer_key TEXT NOT NULL,
    line_item_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (viewer_key, line_item_id, day)
);
CREATE TABLE IF NOT EXISTS exposure (
    viewer_key TEXT NOT NULL,
    line_item_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    last_ts DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (viewer_key, line_item_id)
);
CREATE TABLE IF NOT EXISTS delivery (
    line_item_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    event TEXT NOT NULL,
    count INTEGER NOT NULL,
    spend DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (line_item_id, day, event)
);
CREATE TABLE IF NOT EXISTS line_item_spend (
    line_item_id TEXT PRIMARY KEY,
    spend DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS reservations (
    impression_id TEXT PRIMARY KEY,
    line_item_id TEXT NOT NULL,
    viewer_key TEXT,
    day INTEGER NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    spend DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_by_line_item ON reservations (line_item_id, expires_at);
CREATE INDEX IF NOT EXISTS reservations_by_viewer ON reservations (viewer_key, line_item_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class CapLimits:
    """Frequency caps a reservation must respect (None = no such cap)."""

    per_day: int | None = None
    lifetime: int | None = None
    min_gap_s: float | None = None

    @property
    def any(self) -> bool:
        return self.per_day is not None or self.lifetime is not None or self.min_gap_s is not None


class AdStoreError(DataError):
    """Base class of ad-store errors."""


class EntityNotFoundError(AdStoreError):
    def __init__(self, kind: str, entity_id: str) -> None:
        super().__init__(f"{kind} {entity_id!r} does not exist")
        self.kind = kind
        self.entity_id = entity_id


class SqlAdStore:
    """Inventory documents, delivery counters and reservations on a :class:`data.sql.Database`;
    thread-safe and, on PostgreSQL (or one SQLite file), safe across processes."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.executescript(_SCHEMA)
        with db.transaction() as tx:  # stores written before line_item_spend existed: derive it once
            tx.execute("INSERT INTO line_item_spend (line_item_id, spend) SELECT line_item_id, SUM(spend) FROM delivery "
                       "WHERE true GROUP BY line_item_id ON CONFLICT (line_item_id) DO NOTHING")  # fmt: skip

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgres``."""
        return self.db.kind

    def close(self) -> None:
        self.db.close()

    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in KINDS:
            raise AdStoreError(f"kind={kind!r}: expected one of {', '.join(KINDS)}")

    # ----------------------------------------------------------------- inventory documents

    def put(self, kind: str, doc: Mapping[str, Any], *, now: float | None = None) -> bool:
        """Create or replace the ``kind`` document ``doc`` (keyed by ``doc['id']``). True when created."""
        self._check_kind(kind)
        entity_id = doc.get("id")
        if not isinstance(entity_id, str) or not entity_id:
            raise AdStoreError(f"{kind} document id={entity_id!r}: expected a non-empty string")
        parent_field = _PARENT_FIELD[kind]
        parent = doc.get(parent_field) if parent_field else None
        ts = time.time() if now is None else now
        text = json.dumps(dict(doc), sort_keys=True, separators=(",", ":"))
        with self.db.transaction() as tx:
            status = str(doc.get("status", "active"))
            updated = tx.execute_count(
                "UPDATE entities SET parent_id = ?, status = ?, doc = ?, version = version + 1, updated_at = ? "
                "WHERE kind = ? AND id = ?", (parent, status, text, ts, kind, entity_id))  # fmt: skip
            if not updated:
                tx.execute(
                    "INSERT INTO entities (kind, id, parent_id, status, doc, version, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET parent_id = excluded.parent_id, "
                    "status = excluded.status, doc = excluded.doc, version = entities.version + 1, "
                    "updated_at = excluded.updated_at", (kind, entity_id, parent, status, text, ts, ts))  # fmt: skip
        return not updated

    def put_many(self, docs: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        """Write many (kind, doc) pairs; returns how many were created."""
        return sum(self.put(kind, doc) for kind, doc in docs)

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self.db.read() as tx:
            return tx.execute(sql, tuple(params))

    def get(self, kind: str, entity_id: str) -> dict[str, Any]:
        """The document, or EntityNotFoundError."""
        self._check_kind(kind)
        rows = self._rows("SELECT doc FROM entities WHERE kind = ? AND id = ?", (kind, entity_id))
        if not rows:
            raise EntityNotFoundError(kind, entity_id)
        return json.loads(rows[0][0])  # type: ignore[no-any-return]

    def exists(self, kind: str, entity_id: str) -> bool:
        self._check_kind(kind)
        return bool(self._rows("SELECT 1 FROM entities WHERE kind = ? AND id = ?", (kind, entity_id)))

    def version(self, kind: str, entity_id: str) -> int:
        rows = self._rows("SELECT version FROM entities WHERE kind = ? AND id = ?", (kind, entity_id))
        if not rows:
            raise EntityNotFoundError(kind, entity_id)
        return int(rows[0][0])

    def documents(self, kind: str, *, parent_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Documents of ``kind`` sorted by id, optionally filtered by parent and status."""
        self._check_kind(kind)
        sql = "SELECT doc FROM entities WHERE kind = ?"
        args: list[Any] = [kind]
        if parent_id is not None:
            sql += " AND parent_id = ?"
            args.append(parent_id)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        return [json.loads(r[0]) for r in self._rows(sql + " ORDER BY id", args)]

    def set_status(self, kind: str, entity_id: str, status: str) -> dict[str, Any]:
        """Change an entity's status (in the document too); returns the updated document."""
        doc = self.get(kind, entity_id)
        doc["status"] = status
        self.put(kind, doc)
        return doc

    def inventory_docs(self) -> dict[str, list[dict[str, Any]]]:
        """Every document, grouped as ``Inventory.from_dicts`` takes them."""
        return {"advertisers": self.documents("advertiser"), "campaigns": self.documents("campaign"),
                "line_items": self.documents("line_item"), "creatives": self.documents("creative")}  # fmt: skip

    def count(self, kind: str) -> int:
        self._check_kind(kind)
        return int(self._rows("SELECT COUNT(*) FROM entities WHERE kind = ?", (kind,))[0][0])

    def is_empty(self) -> bool:
        return not self._rows("SELECT 1 FROM entities LIMIT 1")

    # ----------------------------------------------------------------- delivery

    def record_event(self, *, impression_id: str, event: str, ts: float, line_item_id: str,
                     viewer_key: str | None, exposure: bool, spend: float) -> bool:  # fmt: skip
        """Apply one tracking event atomically; False (and no change) when this (impression, event)
        was recorded before. ``exposure`` counts one impression against the viewer's caps (and
        releases the impression's reservation, in the same transaction); ``spend`` is added to the
        line item's spend."""
        day = int(ts // SECONDS_PER_DAY)
        with self.db.transaction() as tx:
            new = tx.execute_count(
                "INSERT INTO tracking (impression_id, event, ts, line_item_id, viewer_key, spend, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (impression_id, event) DO NOTHING",
                (impression_id, event, ts, line_item_id, viewer_key, spend, time.time()))  # fmt: skip
            if not new:
                return False
            # the line item's spend row is the lock reservations take: committing spend and releasing
            # the reservation happen while no reservation of this line item is being decided
            tx.execute("INSERT INTO line_item_spend (line_item_id, spend) VALUES (?, ?) ON CONFLICT (line_item_id) "
                       "DO UPDATE SET spend = line_item_spend.spend + excluded.spend", (line_item_id, spend))  # fmt: skip
            if event == "impression":
                tx.execute("DELETE FROM reservations WHERE impression_id = ?", (impression_id,))
            if exposure and viewer_key is not None:
                tx.execute(
                    "INSERT INTO frequency (viewer_key, line_item_id, day, count) VALUES (?, ?, ?, 1) "
                    "ON CONFLICT (viewer_key, line_item_id, day) DO UPDATE SET count = frequency.count + 1",
                    (viewer_key, line_item_id, day))  # fmt: skip
                tx.execute(dialect(self.db,
                    "INSERT INTO exposure (viewer_key, line_item_id, count, last_ts) VALUES (?, ?, 1, ?) "
                    "ON CONFLICT (viewer_key, line_item_id) DO UPDATE SET count = exposure.count + 1, "
                    "last_ts = {greatest}(exposure.last_ts, excluded.last_ts)"), (viewer_key, line_item_id, ts))  # fmt: skip
            tx.execute(
                "INSERT INTO delivery (line_item_id, day, event, count, spend) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (line_item_id, day, event) DO UPDATE SET count = delivery.count + 1, "
                "spend = delivery.spend + excluded.spend", (line_item_id, day, event, spend))  # fmt: skip
        return True

    # ----------------------------------------------------------------- reservations

    def reserve(self, *, impression_id: str, line_item_id: str, viewer_key: str | None, ts: float, spend: float,
                budget: float, caps: CapLimits = CapLimits(), ttl_s: float = 900.0) -> bool:  # fmt: skip
        """Hold one decided impression's cap slot and ``spend`` until it is tracked or ``ttl_s`` passes.

        In ONE transaction with the line item's spend row locked: True (and the reservation stored)
        when committed plus live reserved spend stays within ``budget`` and the viewer's committed plus
        reserved exposure passes ``caps``; False (nothing stored) otherwise. Idempotent: an impression
        already reserved or tracked returns True and changes nothing.
        """
        day = int(ts // SECONDS_PER_DAY)
        # not fsynced at commit: a reservation lost in a crash only frees a slot early (tracking is durable)
        with self.db.transaction(durable=False) as tx:
            tx.execute("INSERT INTO line_item_spend (line_item_id, spend) VALUES (?, 0) "
                       "ON CONFLICT (line_item_id) DO NOTHING", (line_item_id,))  # fmt: skip
            committed = float(tx.execute(dialect(self.db, "SELECT spend FROM line_item_spend WHERE line_item_id = ?"
                                                          "{for_update}"), (line_item_id,))[0][0])  # fmt: skip
            if tx.execute("SELECT 1 FROM reservations WHERE impression_id = ?", (impression_id,)) or tx.execute(
                    "SELECT 1 FROM tracking WHERE impression_id = ? AND event = 'impression'", (impression_id,)):  # fmt: skip
                return True
            reserved = float(tx.execute("SELECT COALESCE(SUM(spend), 0) FROM reservations WHERE line_item_id = ? "
                                        "AND expires_at > ?", (line_item_id, ts))[0][0])  # fmt: skip
            if committed + reserved + spend > budget + 1e-9:
                return False
            if caps.any and viewer_key is not None:
                today, lifetime, last = _exposure(tx, viewer_key, line_item_id, day, ts)
                if ((caps.per_day is not None and today >= caps.per_day)
                        or (caps.lifetime is not None and lifetime >= caps.lifetime)
                        or (caps.min_gap_s is not None and last is not None and ts - last < caps.min_gap_s)):  # fmt: skip
                    return False
            tx.execute("INSERT INTO reservations (impression_id, line_item_id, viewer_key, day, ts, spend, expires_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", (impression_id, line_item_id, viewer_key, day, ts, spend,
                                                        ts + ttl_s))  # fmt: skip
        return True

    def purge_reservations(self, now: float) -> int:
        """Delete reservations expired by ``now``; how many."""
        with self.db.transaction(durable=False) as tx:
            return tx.execute_count("DELETE FROM reservations WHERE expires_at <= ?", (now,))

    def held_exposure(self, viewer_key: str, line_item_id: str, now: float) -> tuple[int, int, float | None]:
        """(count today, lifetime count, last time) of committed plus live reserved impressions."""
        with self.db.read() as tx:
            return _exposure(tx, viewer_key, line_item_id, int(now // SECONDS_PER_DAY), now)

    def held_spend(self, line_item_id: str, now: float) -> float:
        """Committed plus live reserved spend of a line item."""
        rows = self._rows("SELECT (SELECT COALESCE(SUM(spend), 0) FROM line_item_spend WHERE line_item_id = ?) + "
                          "(SELECT COALESCE(SUM(spend), 0) FROM reservations WHERE line_item_id = ? AND expires_at > ?)",
                          (line_item_id, line_item_id, now))  # fmt: skip
        return float(rows[0][0])

    def committed_spend(self, line_item_id: str) -> float:
        rows = self._rows("SELECT spend FROM line_item_spend WHERE line_item_id = ?", (line_item_id,))
        return float(rows[0][0]) if rows else 0.0

    def event_counts(self, line_item_id: str) -> dict[str, int]:
        """Tracked events of one line item by name."""
        return {str(e): int(c) for e, c in self._rows(
            "SELECT event, SUM(count) FROM delivery WHERE line_item_id = ? GROUP BY event", (line_item_id,))}  # fmt: skip

    # ----------------------------------------------------------------- delivery reads

    def frequency_rows(self, day: int) -> list[tuple[str, str, int, int]]:
        """(viewer key, line item, day, count) of UTC day ``day``."""
        return [(str(v), str(li), int(d), int(c)) for v, li, d, c in self._rows(
            "SELECT viewer_key, line_item_id, day, count FROM frequency WHERE day = ?", (day,))]  # fmt: skip

    def exposure_rows(self) -> list[tuple[str, str, int, float]]:
        """(viewer key, line item, lifetime count, last impression time) for every pair."""
        return [(str(v), str(li), int(c), float(t)) for v, li, c, t in self._rows(
            "SELECT viewer_key, line_item_id, count, last_ts FROM exposure")]  # fmt: skip

    def exposure(self, viewer_key: str, line_item_id: str, day: int) -> tuple[int, int, float | None]:
        """(count on ``day``, lifetime count, last impression time) of one viewer and line item (tracked only)."""
        with self.db.read() as tx:
            today = tx.execute("SELECT count FROM frequency WHERE viewer_key = ? AND line_item_id = ? AND day = ?",
                               (viewer_key, line_item_id, day))  # fmt: skip
            life = tx.execute("SELECT count, last_ts FROM exposure WHERE viewer_key = ? AND line_item_id = ?",
                              (viewer_key, line_item_id))  # fmt: skip
        return (int(today[0][0]) if today else 0, int(life[0][0]) if life else 0,
                float(life[0][1]) if life else None)  # fmt: skip

    def spend_rows(self) -> list[tuple[str, float]]:
        """(line item, total spend)."""
        return [(str(li), float(s)) for li, s in self._rows(
            "SELECT line_item_id, SUM(spend) FROM delivery GROUP BY line_item_id")]  # fmt: skip

    def event_rows(self) -> list[tuple[str, str, int]]:
        """(line item, event, total count)."""
        return [(str(li), str(e), int(c)) for li, e, c in self._rows(
            "SELECT line_item_id, event, SUM(count) FROM delivery GROUP BY line_item_id, event")]  # fmt: skip

    def delivery_report(self, line_item_id: str) -> list[dict[str, Any]]:
        """Per UTC day: the day, spend and a count per event, oldest first."""
        rows = self._rows("SELECT day, event, count, spend FROM delivery WHERE line_item_id = ? ORDER BY day",
                          (line_item_id,))  # fmt: skip
        days: dict[int, dict[str, Any]] = {}
        for day, event, count, spend in rows:
            entry = days.setdefault(int(day), {"day": int(day), "spend": 0.0, "events": {}})
            entry["spend"] += float(spend)
            entry["events"][str(event)] = int(count)
        return list(days.values())

    def tracked(self, impression_id: str) -> list[str]:
        """Events recorded for one impression."""
        return [str(r[0]) for r in self._rows(
            "SELECT event FROM tracking WHERE impression_id = ? ORDER BY ts, event", (impression_id,))]  # fmt: skip

    def tracking_count(self) -> int:
        """Tracking rows stored (one per applied (impression, event))."""
        return int(self._rows("SELECT COUNT(*) FROM tracking")[0][0])

    # ----------------------------------------------------------------- meta

    def get_meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return None if not rows else str(rows[0][0])

    def set_meta(self, key: str, value: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                       "value = excluded.value", (key, value))  # fmt: skip


SQLiteAdStore = SqlAdStore
"""The former name (the SQLite store is the same class on an SQLite database)."""


def _exposure(tx: Tx, viewer_key: str, line_item_id: str, day: int, now: float) -> tuple[int, int, float | None]:
    """Committed plus live reserved (today, lifetime, last time) of one viewer and line item (one round trip)."""
    row = tx.execute(
        "SELECT (SELECT count FROM frequency WHERE viewer_key = ? AND line_item_id = ? AND day = ?), "
        "(SELECT count FROM exposure WHERE viewer_key = ? AND line_item_id = ?), "
        "(SELECT last_ts FROM exposure WHERE viewer_key = ? AND line_item_id = ?), "
        "(SELECT COALESCE(SUM(CASE WHEN day = ? THEN 1 ELSE 0 END), 0) FROM reservations "
        " WHERE viewer_key = ? AND line_item_id = ? AND expires_at > ?), "
        "(SELECT COUNT(*) FROM reservations WHERE viewer_key = ? AND line_item_id = ? AND expires_at > ?), "
        "(SELECT MAX(ts) FROM reservations WHERE viewer_key = ? AND line_item_id = ? AND expires_at > ?)",
        (viewer_key, line_item_id, day, viewer_key, line_item_id, viewer_key, line_item_id,
         day, viewer_key, line_item_id, now, viewer_key, line_item_id, now, viewer_key, line_item_id, now))[0]  # fmt: skip
    today, life, last, held_today, held_life, held_last = row
    lasts = [float(x) for x in (last, held_last) if x is not None]
    return (int(today or 0) + int(held_today), int(life or 0) + int(held_life), max(lasts) if lasts else None)


def open_ad_store(target: str | Path, *, max_connections: int = 16) -> SqlAdStore:
    """Open (creating if needed) the ad store at ``target``: an SQLite file path or a ``postgresql://`` URL."""
    return SqlAdStore(open_database(target, error=AdStoreError, max_connections=max_connections))
