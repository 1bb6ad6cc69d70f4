"""Quarantine: malformed source rows are kept with their reason, counted and reported — never dropped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class QuarantinedRow:
    """One rejected record: where it came from, why, and its raw text (truncated to 2,000 chars)."""

    source: str
    locator: str
    reason: str
    raw: str


@dataclass
class Quarantine:
    """Collects rejected rows across loaders."""

    rows: list[QuarantinedRow] = field(default_factory=list)

    def add(self, source: str, locator: str, reason: str, raw: object) -> None:
        self.rows.append(QuarantinedRow(source, str(locator), reason, str(raw)[:2000]))

    def counts(self) -> dict[str, dict[str, int]]:
        """``{source: {reason: count}}`` in sorted order (deterministic)."""
        by_source: dict[str, Counter[str]] = {}
        for row in self.rows:
            by_source.setdefault(row.source, Counter())[row.reason] += 1
        return {s: dict(sorted(c.items())) for s, c in sorted(by_source.items())}

    def __len__(self) -> int:
        return len(self.rows)
