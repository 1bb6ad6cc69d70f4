"""Delivery state: per-viewer exposure (frequency caps) and per-line-item spend (budgets, pacing).

Ads are decided before they play, so a decision *reserves* its impression (counted at once against
caps and budgets, expiring after ``pending_ttl_s`` if the player never reports it) and the tracked
impression *commits* it. Counting reservations is what keeps two back-to-back decisions for the same
viewer from both passing a cap before either impression arrives.

:class:`Delivery` is what selection and tracking need; two implementations:

* :class:`StoredDelivery` — the server's: every read, reservation and tracked event goes to the ad
  store's database (``data.ads_store``: SQLite WAL by default, PostgreSQL with
  ``MARQUEE_DATABASE_URL``). :meth:`Delivery.reserve` checks the caps and the budget and stores the
  reservation in ONE database transaction with the line item locked, so several processes (``marquee
  serve --workers N``, replicas on one PostgreSQL) never both take the last cap slot or the last of a
  budget: pacing and caps are correct across processes, not per process.
* :class:`DeliveryState` — in process memory (the simulator, the benchmarks and unit tests), the same
  rules under one lock.

Both apply the same :func:`effect_of` for an event, and both are idempotent per (impression id,
event): a replayed tracking call changes nothing. Days are UTC days.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ads.inventory import FrequencyCaps
from data.ads_store import CapLimits, SqlAdStore

EVENTS: tuple[str, ...] = ("impression", "start", "firstQuartile", "midpoint", "thirdQuartile", "complete", "click",
                           "error")
"""Tracking events (VAST names); ``error`` is the VAST error pixel (recorded, no effect)."""
SECONDS_PER_DAY = 86_400


def day_of(ts: float) -> int:
    """UTC day number of unix seconds ``ts``."""
    return int(ts // SECONDS_PER_DAY)


@dataclass(frozen=True)
class Ticket:
    """What one placed ad's tracking URLs carry (signed by ``ads.tracking``).

    ``price_cpm`` is the first price the ad won at; ``bid_type``/``bid`` say how it is charged: a CPM ad
    spends ``price_cpm / 1000`` on its impression, a CPCV ad spends ``bid`` on its completion.
    """

    impression_id: str
    line_item_id: str
    creative_id: str
    viewer_key: str | None
    price_cpm: float
    bid_type: str
    bid: float
    decided_at: float


@dataclass(frozen=True)
class Effect:
    """What an event changes: a viewer exposure (caps) and money spent (budget)."""

    exposure: bool
    spend: float


def effect_of(event: str, ticket: Ticket) -> Effect:
    """The effect of tracking ``event`` for ``ticket`` (ValueError for an unknown event)."""
    if event not in EVENTS:
        raise ValueError(f"event={event!r}: expected one of {', '.join(EVENTS)}")
    if event == "impression":
        return Effect(True, ticket.price_cpm / 1000.0 if ticket.bid_type == "cpm" else 0.0)
    if event == "complete" and ticket.bid_type == "cpcv":
        return Effect(False, ticket.bid)
    return Effect(False, 0.0)


@dataclass(frozen=True)
class Exposure:
    """A viewer's exposure to one line item: impressions today, over its life, and the latest time."""

    today: int = 0
    lifetime: int = 0
    last_ts: float | None = None


def cap_violation(caps: FrequencyCaps, exposure: Exposure, now: float) -> str | None:
    """The cap one more impression at ``now`` would break ('frequency_day', 'frequency_lifetime',
    'frequency_gap'), or None when it is allowed."""
    if caps.per_day is not None and exposure.today >= caps.per_day:
        return "frequency_day"
    if caps.lifetime is not None and exposure.lifetime >= caps.lifetime:
        return "frequency_lifetime"
    if caps.min_gap_s is not None and exposure.last_ts is not None and now - exposure.last_ts < caps.min_gap_s:
        return "frequency_gap"
    return None


class Delivery(Protocol):
    """Exposure, spend and reservations as selection and tracking see them (see the module docstring)."""

    def exposure(self, viewer_key: str, line_item_id: str, now: float) -> Exposure:
        """Committed plus reserved exposure of ``viewer_key`` to ``line_item_id`` as of ``now``."""
        ...

    def spend(self, line_item_id: str, now: float | None = None) -> float:
        """Committed plus reserved spend of a line item."""
        ...

    def committed_spend(self, line_item_id: str) -> float: ...

    def event_counts(self, line_item_id: str) -> dict[str, int]: ...

    def reserve(self, ticket: Ticket, now: float, *, caps: FrequencyCaps | None = None,
                budget: float | None = None) -> bool:  # fmt: skip
        """Hold a decided impression against caps and budget; False (nothing held) when one more
        impression would break ``caps`` or overspend ``budget``."""
        ...

    def apply(self, event: str, ticket: Ticket, ts: float) -> bool:
        """Apply a tracked event; False (and no change) when (impression, event) was applied before."""
        ...


def _over_budget(spent: float, spend: float, budget: float | None) -> bool:
    return budget is not None and spent + spend > budget + 1e-9


class StoredDelivery:
    """:class:`Delivery` in the ad store's database, shared by every process on it (module docstring).

    ``purge_every_s``: how often (at most) a reservation call also deletes expired reservations.
    """

    def __init__(self, store: SqlAdStore, *, pending_ttl_s: float = 900.0, purge_every_s: float = 60.0) -> None:
        self.store = store
        self.pending_ttl_s = pending_ttl_s
        self.purge_every_s = purge_every_s
        self._next_purge = 0.0

    def exposure(self, viewer_key: str, line_item_id: str, now: float) -> Exposure:
        today, lifetime, last = self.store.held_exposure(viewer_key, line_item_id, now)
        return Exposure(today, lifetime, last)

    def spend(self, line_item_id: str, now: float | None = None) -> float:
        return self.store.held_spend(line_item_id, time.time() if now is None else now)

    def committed_spend(self, line_item_id: str) -> float:
        return self.store.committed_spend(line_item_id)

    def event_counts(self, line_item_id: str) -> dict[str, int]:
        return self.store.event_counts(line_item_id)

    def reserve(self, ticket: Ticket, now: float, *, caps: FrequencyCaps | None = None,
                budget: float | None = None) -> bool:  # fmt: skip
        if now >= self._next_purge:
            self._next_purge = now + self.purge_every_s
            self.store.purge_reservations(now)
        limits = CapLimits(caps.per_day, caps.lifetime, caps.min_gap_s) if caps is not None else CapLimits()
        return self.store.reserve(impression_id=ticket.impression_id, line_item_id=ticket.line_item_id,
                                  viewer_key=ticket.viewer_key, ts=now, spend=ticket.price_cpm / 1000.0,
                                  budget=math.inf if budget is None else budget, caps=limits,
                                  ttl_s=self.pending_ttl_s)  # fmt: skip

    def apply(self, event: str, ticket: Ticket, ts: float) -> bool:
        effect = effect_of(event, ticket)
        return self.store.record_event(impression_id=ticket.impression_id, event=event, ts=ts,
                                       line_item_id=ticket.line_item_id, viewer_key=ticket.viewer_key,
                                       exposure=effect.exposure, spend=effect.spend)  # fmt: skip


class DeliveryState:
    """Thread-safe in-memory exposure and spend, with reservations (see module docstring)."""

    def __init__(self, *, pending_ttl_s: float = 900.0) -> None:
        self.pending_ttl_s = pending_ttl_s
        self._lock = threading.RLock()
        self._day: dict[tuple[str, str, int], int] = defaultdict(int)
        self._life: dict[tuple[str, str], int] = defaultdict(int)
        self._last: dict[tuple[str, str], float] = {}
        self._spend: dict[str, float] = defaultdict(float)
        self._events: dict[str, Counter[str]] = defaultdict(Counter)
        self._seen: set[tuple[str, str]] = set()
        # reservations: impression id -> (viewer key, line item, day, ts, spend)
        self._pending: dict[str, tuple[str | None, str, int, float, float]] = {}
        self._pending_count: dict[tuple[str, str, int], int] = defaultdict(int)
        self._pending_life: dict[tuple[str, str], int] = defaultdict(int)
        self._pending_last: dict[tuple[str, str], float] = {}
        self._pending_spend: dict[str, float] = defaultdict(float)
        self._expiry: list[tuple[float, str]] = []

    # ------------------------------------------------------------------ reads

    def exposure(self, viewer_key: str, line_item_id: str, now: float) -> Exposure:
        """Committed plus reserved exposure of ``viewer_key`` to ``line_item_id`` as of ``now``."""
        with self._lock:
            self._expire(now)
            key = (viewer_key, line_item_id)
            day = day_of(now)
            last = max(self._last.get(key, -1.0), self._pending_last.get(key, -1.0))
            return Exposure(
                self._day.get((viewer_key, line_item_id, day), 0) + self._pending_count.get((*key, day), 0),
                self._life.get(key, 0) + self._pending_life.get(key, 0),
                last if last >= 0 else None,
            )

    def spend(self, line_item_id: str, now: float | None = None) -> float:
        """Committed plus reserved spend of a line item."""
        with self._lock:
            if now is not None:
                self._expire(now)
            return self._spend.get(line_item_id, 0.0) + self._pending_spend.get(line_item_id, 0.0)

    def committed_spend(self, line_item_id: str) -> float:
        with self._lock:
            return self._spend.get(line_item_id, 0.0)

    def event_counts(self, line_item_id: str) -> dict[str, int]:
        with self._lock:
            return dict(self._events.get(line_item_id, {}))

    # ------------------------------------------------------------------ writes

    def reserve(self, ticket: Ticket, now: float, *, caps: FrequencyCaps | None = None,
                budget: float | None = None) -> bool:  # fmt: skip
        """Count a decided (not yet played) impression against caps and budget until it is tracked or
        expires; False (nothing counted) when it would break ``caps`` or overspend ``budget``."""
        spend = ticket.price_cpm / 1000.0
        with self._lock:
            self._expire(now)
            if ticket.impression_id in self._pending or (ticket.impression_id, "impression") in self._seen:
                return True
            if _over_budget(self.spend(ticket.line_item_id), spend, budget):
                return False
            if (caps is not None and ticket.viewer_key is not None
                    and cap_violation(caps, self.exposure(ticket.viewer_key, ticket.line_item_id, now), now)):  # fmt: skip
                return False
            day = day_of(now)
            self._pending[ticket.impression_id] = (ticket.viewer_key, ticket.line_item_id, day, now, spend)
            if ticket.viewer_key is not None:
                key = (ticket.viewer_key, ticket.line_item_id)
                self._pending_count[(*key, day)] += 1
                self._pending_life[key] += 1
                self._pending_last[key] = max(self._pending_last.get(key, -1.0), now)
            self._pending_spend[ticket.line_item_id] += spend
            heapq.heappush(self._expiry, (now + self.pending_ttl_s, ticket.impression_id))
            return True

    def apply(self, event: str, ticket: Ticket, ts: float) -> bool:
        """Apply a tracked event; False (and no change) when (impression, event) was applied before."""
        effect = effect_of(event, ticket)
        with self._lock:
            if (ticket.impression_id, event) in self._seen:
                return False
            self._seen.add((ticket.impression_id, event))
            if event == "impression":
                self._release(ticket.impression_id)
            self._commit(ticket.viewer_key, ticket.line_item_id, effect, ts)
            self._events[ticket.line_item_id][event] += 1
            return True

    def load(self, frequency: Iterable[tuple[str, str, int, int]], lifetime: Iterable[tuple[str, str, int, float]],
             spend: Iterable[tuple[str, float]], events: Iterable[tuple[str, str, int]] = ()) -> None:  # fmt: skip
        """Seed from the durable store: (viewer, line item, day, count), (viewer, line item, count,
        last ts), (line item, spend) and (line item, event, count) rows."""
        with self._lock:
            for viewer, li, day, count in frequency:
                self._day[(viewer, li, int(day))] = int(count)
            for viewer, li, count, last in lifetime:
                self._life[(viewer, li)] = int(count)
                self._last[(viewer, li)] = float(last)
            for li, amount in spend:
                self._spend[li] = float(amount)
            for li, event, count in events:
                self._events[li][event] = int(count)

    # ------------------------------------------------------------------ internals

    def _commit(self, viewer_key: str | None, line_item_id: str, effect: Effect, ts: float) -> None:
        if effect.exposure and viewer_key is not None:
            key = (viewer_key, line_item_id)
            self._day[(*key, day_of(ts))] += 1
            self._life[key] += 1
            self._last[key] = max(self._last.get(key, -1.0), ts)
        if effect.spend:
            self._spend[line_item_id] += effect.spend

    def _release(self, impression_id: str) -> None:
        entry = self._pending.pop(impression_id, None)
        if entry is None:
            return
        viewer, li, day, ts, spend = entry
        if viewer is not None:
            key = (viewer, li)
            self._dec(self._pending_count, (*key, day))
            self._dec(self._pending_life, key)
            if self._pending_life.get(key, 0) == 0:
                self._pending_last.pop(key, None)
        self._pending_spend[li] -= spend
        if abs(self._pending_spend[li]) < 1e-12:
            del self._pending_spend[li]

    @staticmethod
    def _dec(counts: dict, key: tuple) -> None:  # type: ignore[type-arg]
        counts[key] -= 1
        if counts[key] <= 0:
            del counts[key]

    def _expire(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, impression_id = heapq.heappop(self._expiry)
            self._release(impression_id)
