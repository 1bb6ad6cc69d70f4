"""What a search asks and what it answers: filters, the viewer, hits, pages and query limits."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from data.normalize import MATURITY_LEVELS
from search.errors import EmptyQueryError

MatchKind = Literal["title", "person", "description", "language", "like", "understood"]
"""Why a title matched (see :class:`MatchReason`); the HTTP schema reads its values from here."""

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_QUERY_CHARS",
    "RUNTIME_MAX",
    "RUNTIME_MIN",
    "MatchReason",
    "SearchFilters",
    "SearchHit",
    "SearchPage",
    "Understood",
    "Viewer",
    "searchable",
    "truncate_query",
]

MAX_QUERY_CHARS = 2000
"""Longer queries are cut (at a word boundary) to this many characters: about the 512-token window
the encoder reads; the response says when it happened."""
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_OFFSET = 900
"""``offset + limit`` never exceeds 1,000: deeper pages of a relevance ranking are noise."""
RUNTIME_MIN, RUNTIME_MAX = 1, 1000
"""A running-time bound (``runtime_min``, ``runtime_max``, "under 90 minutes") is this many minutes."""


@dataclass(frozen=True)
class SearchFilters:
    """Filters; empty tuples and ``None`` mean "no filter". Multi-valued filters match any value."""

    types: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    runtime_min: int | None = None
    runtime_max: int | None = None
    """Running time bounds in minutes (a title of unknown running time, a series, never passes one)."""
    description_languages: tuple[str, ...] = ()
    original_languages: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    max_maturity: str | None = None


@dataclass(frozen=True)
class Viewer:
    """Who is searching: the maturity ceiling is a hard filter; languages pick descriptions."""

    profile_id: str | None = None
    maturity_level: int = MATURITY_LEVELS["adults"]
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatchReason:
    """Why a title matched: ``kind`` is title | person | description | language | like | understood.

    ``title``: the query matches one of its titles (detail: "exact", "near-exact" or "words", plus
    the matched title); ``person``: a cast or director name (detail: the name); ``description``: the
    meaning of the query is close to its description (detail: the description's language) or its
    words appear in it; ``language``: it matched through a text in another language than English
    (detail: that language); ``like``: it is among the titles most like the one a "like <title>" query
    names (detail: that title); ``understood``: it meets a genre, era, country or audience the query was
    read as (detail: ``kind: value`` as in the response's ``understood``, e.g. ``years: -1979``).
    """

    kind: MatchKind
    detail: str


@dataclass(frozen=True)
class SearchHit:
    """One result title, ready for the response."""

    title_id: str
    display_title: str
    year: int | None
    type: str
    maturity: str
    runtime_minutes: int | None
    description: str | None
    description_language: str | None
    score: float
    reasons: tuple[MatchReason, ...]


@dataclass(frozen=True)
class SearchPage:
    """A page of results and the facet counts of the whole (filtered) result set."""

    query: str
    query_truncated: bool
    total: int
    offset: int
    limit: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    lexical_gate: float
    query_language: str | None = None
    understood: tuple[Understood, ...] = ()


@dataclass(frozen=True)
class Understood:
    """A constraint parsed from the query (:mod:`search.understand`) and what it did: ``effect`` is
    ``filter`` or ``boost`` (a parsed filter the request's own filter overrides is reported as a boost)."""

    kind: str
    value: str
    source: str
    effect: Literal["filter", "boost"]


_SEARCHABLE = frozenset("LNS")
"""Unicode general categories of the characters a query can match by: letters, numbers and symbols (an
emoji such as 👻 or 🎄 finds titles through the encoder)."""


def searchable(text: str) -> bool:
    """Whether ``text`` holds a letter, number or symbol (:data:`_SEARCHABLE`). A query of punctuation or
    control characters alone ("???", "...", "#") matches nothing: it answers an empty page, where it used
    to answer arbitrary titles (the request is valid, so it is no 422)."""
    return any(unicodedata.category(char)[0] in _SEARCHABLE for char in text)


def truncate_query(query: str, max_chars: int = MAX_QUERY_CHARS) -> tuple[str, bool]:
    """Strip and collapse whitespace; cut to ``max_chars`` at a word boundary. Raises on empty."""
    if not isinstance(query, str):
        raise EmptyQueryError(f"query must be a string; got {type(query).__name__}")
    text = " ".join(query.split())
    if not text:
        raise EmptyQueryError("query is empty or whitespace only; expected at least one visible character")
    if len(text) <= max_chars:
        return text, False
    cut = text[:max_chars]
    space = cut.rfind(" ")
    if space > max_chars // 2:
        cut = cut[:space]
    return cut, True
