"""Search's domain errors: every one is caused by the request, never by the server.

``services/errors.py`` maps them to problem+json (422) once; nothing below services/ knows HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["EmptyQueryError", "InvalidFilterError", "SearchError", "UnknownFilterValueError"]


class SearchError(ValueError):
    """Base class of search's domain errors (all caused by the request, never by the server)."""


class EmptyQueryError(SearchError):
    """The query is empty or whitespace only."""


class InvalidFilterError(SearchError):
    """A filter value is out of range (e.g. ``year_min`` above ``year_max``)."""


class UnknownFilterValueError(SearchError):
    """A filter names values the catalog does not have; ``allowed`` lists the ones it has."""

    def __init__(self, field_name: str, unknown: Sequence[str], allowed: Sequence[str]) -> None:
        self.field = field_name
        self.unknown = list(unknown)
        self.allowed = list(allowed)
        shown = ", ".join(self.allowed[:40]) + (", ..." if len(self.allowed) > 40 else "")
        super().__init__(f"unknown {field_name} {self.unknown}; expected any of: {shown}")
