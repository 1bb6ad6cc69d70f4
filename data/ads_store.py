"""Ad state: the inventory documents and the delivery record (one SQLite file in WAL mode).

Two halves:

* **inventory** — advertisers, campaigns, line items and creatives as JSON documents (the admin
  API's format; ``ads.inventory`` validates them), one row per entity with its kind, parent, status
  and a version counter bumped on every write;
* **delivery** — tracking events, each applied at most once per ``(impression_id, event)``: the
  event row, the viewer's exposure (per UTC day and lifetime, with the last time) and the line
  item's per-day counters and spend move together in ONE transaction. A replayed tracking call
  finds its row and changes nothing (:meth:`SQLiteAdStore.record_event` returns False).

Durability: ``journal_mode=WAL`` with ``synchronous=FULL`` — when a write returns, it is on disk.
The store knows nothing about prices or caps: callers say what an event changes (exposure or not,
how much spend), so the money logic lives once, in ``ads.delivery.effect_of``.

Viewer keys are opaque strings (the service stores hashes, never raw user ids).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from data.errors import DataError
from data.sqlite_wal import WalStore

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
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class AdStoreError(DataError):
    """Base class of ad-store errors."""


class EntityNotFoundError(AdStoreError):
    def __init__(self, kind: str, entity_id: str) -> None:
        super().__init__(f"{kind} {entity_id!r} does not exist")
        self.kind = kind
        self.entity_id = entity_id


class SQLiteAdStore(WalStore):
    """Inventory documents and delivery counters; thread-safe (one writer connection behind a lock,
    one reader connection per thread)."""

    error = AdStoreError

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)

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
        with self._lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                row = self._writer.execute("SELECT version FROM entities WHERE kind = ? AND id = ?",
                                           (kind, entity_id)).fetchone()  # fmt: skip
                if row is None:
                    self._writer.execute(
                        "INSERT INTO entities (kind, id, parent_id, status, doc, version, created_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                        (kind, entity_id, parent, str(doc.get("status", "active")), text, ts, ts))
                else:
                    self._writer.execute(
                        "UPDATE entities SET parent_id = ?, status = ?, doc = ?, version = version + 1, "
                        "updated_at = ? WHERE kind = ? AND id = ?",
                        (parent, str(doc.get("status", "active")), text, ts, kind, entity_id))
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
        return row is None

    def put_many(self, docs: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        """Write many (kind, doc) pairs; returns how many were created."""
        return sum(self.put(kind, doc) for kind, doc in docs)

    def get(self, kind: str, entity_id: str) -> dict[str, Any]:
        """The document, or EntityNotFoundError."""
        self._check_kind(kind)
        row = self._reader().execute("SELECT doc FROM entities WHERE kind = ? AND id = ?", (kind, entity_id)).fetchone()
        if row is None:
            raise EntityNotFoundError(kind, entity_id)
        return json.loads(row[0])  # type: ignore[no-any-return]

    def exists(self, kind: str, entity_id: str) -> bool:
        self._check_kind(kind)
        return self._reader().execute("SELECT 1 FROM entities WHERE kind = ? AND id = ?",
                                      (kind, entity_id)).fetchone() is not None  # fmt: skip

    def version(self, kind: str, entity_id: str) -> int:
        row = self._reader().execute("SELECT version FROM entities WHERE kind = ? AND id = ?",
                                     (kind, entity_id)).fetchone()  # fmt: skip
        if row is None:
            raise EntityNotFoundError(kind, entity_id)
        return int(row[0])

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
        rows = self._reader().execute(sql + " ORDER BY id", args).fetchall()
        return [json.loads(r[0]) for r in rows]

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
        return int(self._reader().execute("SELECT COUNT(*) FROM entities WHERE kind = ?", (kind,)).fetchone()[0])

    def is_empty(self) -> bool:
        return self._reader().execute("SELECT 1 FROM entities LIMIT 1").fetchone() is None

    # ----------------------------------------------------------------- delivery

    def record_event(self, *, impression_id: str, event: str, ts: float, line_item_id: str,
                     viewer_key: str | None, exposure: bool, spend: float) -> bool:  # fmt: skip
        """Apply one tracking event atomically; False (and no change) when this (impression, event)
        was recorded before. ``exposure`` counts one impression against the viewer's caps; ``spend``
        is added to the line item's spend."""
        day = int(ts // SECONDS_PER_DAY)
        with self._lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                cur = self._writer.execute(
                    "INSERT INTO tracking (impression_id, event, ts, line_item_id, viewer_key, spend, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (impression_id, event) DO NOTHING",
                    (impression_id, event, ts, line_item_id, viewer_key, spend, time.time()))
                if cur.rowcount == 0:
                    self._writer.execute("ROLLBACK")
                    return False
                if exposure and viewer_key is not None:
                    self._writer.execute(
                        "INSERT INTO frequency (viewer_key, line_item_id, day, count) VALUES (?, ?, ?, 1) "
                        "ON CONFLICT (viewer_key, line_item_id, day) DO UPDATE SET count = count + 1",
                        (viewer_key, line_item_id, day))
                    self._writer.execute(
                        "INSERT INTO exposure (viewer_key, line_item_id, count, last_ts) VALUES (?, ?, 1, ?) "
                        "ON CONFLICT (viewer_key, line_item_id) DO UPDATE SET count = count + 1, "
                        "last_ts = MAX(last_ts, excluded.last_ts)", (viewer_key, line_item_id, ts))
                self._writer.execute(
                    "INSERT INTO delivery (line_item_id, day, event, count, spend) VALUES (?, ?, ?, 1, ?) "
                    "ON CONFLICT (line_item_id, day, event) DO UPDATE SET count = count + 1, "
                    "spend = spend + excluded.spend", (line_item_id, day, event, spend))
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
        return True

    def frequency_rows(self, day: int) -> list[tuple[str, str, int, int]]:
        """(viewer key, line item, day, count) of UTC day ``day``."""
        return [tuple(r) for r in self._reader().execute(  # type: ignore[misc]
            "SELECT viewer_key, line_item_id, day, count FROM frequency WHERE day = ?", (day,)).fetchall()]

    def exposure_rows(self) -> list[tuple[str, str, int, float]]:
        """(viewer key, line item, lifetime count, last impression time) for every pair."""
        return [tuple(r) for r in self._reader().execute(  # type: ignore[misc]
            "SELECT viewer_key, line_item_id, count, last_ts FROM exposure").fetchall()]

    def exposure(self, viewer_key: str, line_item_id: str, day: int) -> tuple[int, int, float | None]:
        """(count on ``day``, lifetime count, last impression time) of one viewer and line item."""
        conn = self._reader()
        today = conn.execute("SELECT count FROM frequency WHERE viewer_key = ? AND line_item_id = ? AND day = ?",
                             (viewer_key, line_item_id, day)).fetchone()  # fmt: skip
        life = conn.execute("SELECT count, last_ts FROM exposure WHERE viewer_key = ? AND line_item_id = ?",
                            (viewer_key, line_item_id)).fetchone()  # fmt: skip
        return (int(today[0]) if today else 0, int(life[0]) if life else 0, float(life[1]) if life else None)

    def spend_rows(self) -> list[tuple[str, float]]:
        """(line item, total spend)."""
        return [(str(li), float(s)) for li, s in self._reader().execute(
            "SELECT line_item_id, SUM(spend) FROM delivery GROUP BY line_item_id").fetchall()]  # fmt: skip

    def event_rows(self) -> list[tuple[str, str, int]]:
        """(line item, event, total count)."""
        return [(str(li), str(e), int(c)) for li, e, c in self._reader().execute(
            "SELECT line_item_id, event, SUM(count) FROM delivery GROUP BY line_item_id, event").fetchall()]  # fmt: skip

    def delivery_report(self, line_item_id: str) -> list[dict[str, Any]]:
        """Per UTC day: the day, spend and a count per event, oldest first."""
        rows = self._reader().execute(
            "SELECT day, event, count, spend FROM delivery WHERE line_item_id = ? ORDER BY day",
            (line_item_id,)).fetchall()  # fmt: skip
        days: dict[int, dict[str, Any]] = {}
        for day, event, count, spend in rows:
            entry = days.setdefault(int(day), {"day": int(day), "spend": 0.0, "events": {}})
            entry["spend"] += float(spend)
            entry["events"][str(event)] = int(count)
        return list(days.values())

    def tracked(self, impression_id: str) -> list[str]:
        """Events recorded for one impression."""
        return [str(r[0]) for r in self._reader().execute(
            "SELECT event FROM tracking WHERE impression_id = ? ORDER BY ts, event", (impression_id,)).fetchall()]  # fmt: skip

    # ----------------------------------------------------------------- meta

    def get_meta(self, key: str) -> str | None:
        row = self._reader().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._writer.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                                 "value = excluded.value", (key, value))  # fmt: skip


def open_ad_store(path: Path) -> SQLiteAdStore:
    """Open (creating if needed) the ad store at ``path``."""
    return SQLiteAdStore(path)
