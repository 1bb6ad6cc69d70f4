"""``GET/POST /v1/search``: multilingual natural-language title search with filters and profiles.

Shared resources (:mod:`services.resources`): "catalog", "encoder" and "index" (built by the serving
encoder's model, or the area does not start); and this area's "search" (the
:class:`search.engine.SearchEngine`).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from data.events import LANGUAGE_TAG_PATTERN, language_subtag
from data.normalize import MaturityName
from search.request import RUNTIME_MAX, RUNTIME_MIN, MatchKind
from search.understand import Kind as UnderstoodKind
from services import resources as shared
from services.body_limit import INTEGRAL, JsonInt
from services.errors import ProblemError
from services.settings import Settings
from services.state import Resources

if TYPE_CHECKING:
    from embeddings.job import IndexArtifacts
    from search.engine import Reranker, SearchEngine, SearchPage
    from search.request import SearchFilters, Viewer

log = logging.getLogger("marquee.search")

router = APIRouter(tags=["search"])

VISIBLE = r"[^\s\x1c-\x1f\x85]"
"""A query must contain one character that is not whitespace (to Python, JSON Schema and pydantic alike)."""
TYPE_LIST = r"^[ ]*(movie|show)?[ ]*(,[ ]*(movie|show)?[ ]*)*$"
"""Comma-separated types, as ``type=movie,show`` (empty pieces are ignored)."""
MAX_QUERY_CHARS = 2000  # mirrors search.request.MAX_QUERY_CHARS (kept import-free: nothing heavy at import)
MAX_LIMIT = 100
MAX_OFFSET = 900


# ------------------------------------------------------------------------------------------ models


class MatchReasonModel(BaseModel):
    """Why a title matched."""

    kind: MatchKind = Field(
        description="title: the query matches one of its titles; person: a cast or director name; "
        "description: the query's meaning is close to its description (detail: the description's "
        "language) or its words appear there ('words'); language: it matched through a text in that "
        "non-English language; like: it is among the titles most like the one a 'like <title>' query names "
        "(detail: that title); understood: it meets a genre, era, country or audience the query was read as "
        "(detail: 'kind: value' as in understood, e.g. 'years: -1979')."
    )
    detail: str


class UnderstoodModel(BaseModel):
    """A constraint read from the query (an app can show it as a removable chip)."""

    kind: UnderstoodKind
    value: str = Field(description="movie|show, a genre, '1990-1999' / '-1999' / '2017-', a country, a maturity "
                       "level, a person's name, or the title named in 'like <title>'.", examples=["comedy"])  # fmt: skip
    source: str = Field(description="The query words it was read from (case- and accent-folded).")
    effect: Literal["filter", "boost"] = Field(description="filter: only matching titles; boost: matching titles "
                                               "rank higher. A request filter on the same field wins.")  # fmt: skip


class SearchResult(BaseModel):
    """One title in the results."""

    title_id: str = Field(examples=["tmdb:603"])
    title: str = Field(description="Display title, localized for the viewer when available.", examples=["The Matrix"])
    year: int | None = Field(examples=[1999])
    type: Literal["movie", "show"] | str = Field(examples=["movie"])
    maturity: str = Field(examples=["adults"])
    runtime_minutes: int | None = Field(description="Running time in minutes (none for a series or when unknown).",
                                        examples=[136])
    description: str | None = Field(description="Short description (at most about 240 characters) in the "
                                    "viewer's best language.")  # fmt: skip
    description_language: str | None = Field(examples=["en"])
    score: float = Field(description="Fused relevance score (comparable within one response only).")
    matched: list[MatchReasonModel]


class SearchResponse(BaseModel):
    """A page of results with facet counts over the whole filtered result set."""

    query: str = Field(description="The query as searched (whitespace collapsed, truncated when too long).")
    query_truncated: bool = Field(description=f"True when the query was cut to {MAX_QUERY_CHARS} characters.")
    profile_id: str | None
    query_language: str | None = Field(default=None, description="The query's language as read from its "
                                       "embedding, when clear (it mutes description word-matching in "
                                       "languages few titles are described in).", examples=["en"])  # fmt: skip
    understood: list[UnderstoodModel] = Field(default_factory=list, description="What the query was understood "
                                              "to ask for (empty with understand=false).")  # fmt: skip
    total: int = Field(description="Titles in the filtered result set (at most 1,000 deep).")
    limit: int
    offset: int
    results: list[SearchResult]
    facets: dict[str, dict[str, int]] = Field(
        description="Counts per filter value over the filtered result set: types, genres, "
        "description_languages, original_languages, countries (top 20), decades, maturity."
    )

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "query": "the matrix", "query_truncated": False, "profile_id": None, "total": 393, "limit": 1, "offset": 0,
        "results": [{"title_id": "tmdb:603", "title": "The Matrix", "year": 1999, "type": "movie",
                     "maturity": "adults", "description": "Set in the 22nd century, The Matrix tells the story of "
                     "a computer hacker who joins a group of underground insurgents…", "description_language": "en",
                     "score": 0.0328, "matched": [{"kind": "title", "detail": "exact: The Matrix"},
                                                  {"kind": "description", "detail": "en"}]}],
        "facets": {"types": {"movie": 350, "show": 43}, "genres": {"action": 120, "sci-fi": 80}},
    }]})  # fmt: skip


class SearchRequest(BaseModel):
    """The POST body (for long queries); the same fields as the GET parameters."""

    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={"examples": [
        {"q": "un film d'animation où une petite fille se retrouve dans un monde d'esprits", "limit": 5},
        {"q": "dinosaur park", "profile_id": "demo:kids", "genres": ["adventure"], "year_min": 1990},
    ]})  # fmt: skip

    q: str = Field(min_length=1, pattern=VISIBLE,
                   description=f"The query, any language; longer than {MAX_QUERY_CHARS} characters is truncated.")
    profile_id: str | None = None
    lang: str | None = Field(default=None, pattern=LANGUAGE_TAG_PATTERN,
                             description="Preferred language for titles and descriptions (e.g. en, fr, pt-BR).")
    types: list[Annotated[str, Field(pattern=TYPE_LIST)]] = Field(default_factory=list, description="movie | show")
    genres: list[str] = Field(default_factory=list)
    year_min: Annotated[int, Field(ge=1800, le=2200), INTEGRAL] | None = Field(default=None)
    year_max: Annotated[int, Field(ge=1800, le=2200), INTEGRAL] | None = Field(default=None)
    runtime_min: Annotated[int, Field(ge=RUNTIME_MIN, le=RUNTIME_MAX), INTEGRAL] | None = Field(
        default=None, description="At least this many minutes long (titles of unknown running time, series, never pass).")
    runtime_max: Annotated[int, Field(ge=RUNTIME_MIN, le=RUNTIME_MAX), INTEGRAL] | None = Field(
        default=None, description="At most this many minutes long (titles of unknown running time, series, never pass).")
    description_languages: list[str] = Field(default_factory=list)
    original_languages: list[str] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)
    max_maturity: MaturityName | None = Field(default=None, description="kids | older_kids | teens | adults")
    limit: JsonInt = Field(default=20, ge=1, le=MAX_LIMIT)
    offset: JsonInt = Field(default=0, ge=0, le=MAX_OFFSET)
    understand: bool = Field(default=True, description="Read type, genres, era, country, audience, running time "
                             "and 'like <title>' from the query (false: the words are only searched).")  # fmt: skip


# ------------------------------------------------------------------------------------------ startup


def load_search_engine(settings: Settings, resources: Resources | None = None) -> SearchEngine:
    """Build the search engine from the catalog, encoder and current index version (shared via ``resources``;
    without it, e.g. in the CLI, a private set is loaded)."""
    own = resources if resources is not None else Resources(settings)
    return _engine_from(own, shared.index(own), resources)


def load_served_search_engine(settings: Settings) -> SearchEngine:
    """The engine as the API serves a viewer without a profile, for offline evaluation: its own resources
    with the pages area's builder loaded, so "movies like <title>" ranks with the ``similar`` endpoint's
    neighbours as served (:func:`load_search_engine` alone has none)."""
    from services.routers.pages import load_page_builder

    resources = Resources(settings)
    resources.get("pages", lambda: load_page_builder(resources))
    return load_search_engine(settings, resources)


def _engine_from(own: Resources, artifacts: IndexArtifacts, resources: Resources | None) -> SearchEngine:
    from search.engine import SearchEngine

    engine = SearchEngine.build(shared.catalog(own), index=artifacts.index, texts=artifacts.texts,
                                scope_title_ids=artifacts.title_ids, encoder=shared.encoder(own),
                                reranker=_personal_reranker(resources),
                                similar=None if resources is None else shared.served_similar(resources),
                                title_string_vectors=artifacts.title_strings,
                                title_embedder=shared.title_embedder(own),
                                text_hubness=artifacts.text_hubness)  # fmt: skip
    engine.search("warm up")  # first-call costs (imports, caches) are paid at start, not by a viewer
    return engine


def _engine_for_version(resources: Resources, version: str) -> SearchEngine:
    """A new engine over index ``version`` (checked against the serving encoder's model)."""
    from embeddings.job import load_index_artifacts

    artifacts = load_index_artifacts(resources.settings.index_dir, shared.encoder(resources).fingerprint,
                                     version=version)  # fmt: skip
    engine = _engine_from(resources, artifacts, resources)
    engine.warm()
    return engine


def _serving_version(resources: Resources) -> str | None:
    artifacts = resources.peek("index")
    return getattr(artifacts, "version", None)


def _personal_reranker(resources: Resources | None) -> Reranker | None:
    """Ranking's personal re-ranker (:func:`services.resources.search_reranker`); none without shared
    resources (the CLI's private engine serves no profiles)."""
    return None if resources is None else shared.search_reranker(resources)


def startup(resources: Resources) -> None:
    """Load the engine once (catalog, encoder and index are shared with the other areas) and warm it
    (:meth:`search.engine.SearchEngine.warm`), then watch the index store: a newly activated version is
    warmed and served without a restart (:mod:`services.index_watch`)."""
    from services.index_watch import IndexWatcher

    settings = resources.settings
    engine = resources.get("search", lambda: load_search_engine(settings, resources))
    log.info("search warmed in %.1f s", engine.warm())
    shared.catalog_profiles(resources)
    if settings.index_watch_s > 0:
        watcher = IndexWatcher(settings.index_dir, _serving_version(resources),
                               build=lambda version: _engine_for_version(resources, version),
                               install=lambda engine: resources.put("search", engine),
                               interval_s=settings.index_watch_s)  # fmt: skip
        resources.put("index_watch", watcher)
        watcher.start()


# ------------------------------------------------------------------------------------------ OpenAPI

_FILTER_PARAMS = {"type": "types", "genre": "genres", "description_language": "description_languages",
                  "original_language": "original_languages", "country": "countries"}  # fmt: skip
"""GET parameter -> POST body field -> ``SearchCatalog.vocabulary()`` key."""


def _csv_pattern(values: list[str]) -> str:
    import re

    alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    return rf"^[ ]*({alternatives})?[ ]*(,[ ]*({alternatives})?[ ]*)*$"


def refine_openapi(schema: dict[str, Any], resources: Resources) -> None:
    """Write the serving catalog's filter values into the document (comma-separated lists of them), so
    that the documented schema is what is validated: an unknown value is a 422 that lists the allowed ones."""
    engine = resources.peek("search")
    if engine is None:
        return
    vocabulary = engine.catalog.vocabulary()
    patterns = {field: _csv_pattern(list(vocabulary[field])) for field in _FILTER_PARAMS.values()}
    for method in ("get",):
        for param in schema["paths"].get("/v1/search", {}).get(method, {}).get("parameters", []):
            field = _FILTER_PARAMS.get(param["name"])
            if field is not None:
                param["schema"] = {"anyOf": [{"type": "array", "items": {"type": "string", "pattern": patterns[field]}},
                                             {"type": "null"}], "title": param["schema"].get("title", field)}  # fmt: skip
    body = schema.get("components", {}).get("schemas", {}).get("SearchRequest", {}).get("properties", {})
    for field, pattern in patterns.items():
        if field in body:
            body[field]["items"] = {"type": "string", "pattern": pattern}


# ------------------------------------------------------------------------------------------ helpers


def _engine(request: Request) -> SearchEngine:
    resources: Resources | None = getattr(request.app.state, "resources", None)
    engine = resources.peek("search") if resources is not None else None
    if engine is None:
        detail = (resources.errors.get("search") if resources else None) or "the search index is not loaded"
        raise ProblemError(503, f"search is not ready: {detail}", slug="not-ready")
    return engine


def _viewer(request: Request, profile_id: str | None, lang: str | None) -> Viewer:
    """The viewer of a request: maturity ceiling and languages from the profile (event store first)."""
    from search.request import Viewer

    langs: tuple[str, ...] = (language_subtag(lang),) if lang else ()
    if profile_id is None:
        return Viewer(languages=langs)
    resources: Resources = request.app.state.resources
    store = resources.peek("event_store")
    if store is not None:
        from data.events import ProfileNotFoundError

        try:
            profile = store.get_profile(profile_id)
        except ProfileNotFoundError:
            pass  # the catalog's demo profiles below may still know it
        else:
            return Viewer(profile_id=profile_id, maturity_level=int(profile.maturity_level),
                          languages=tuple(dict.fromkeys([*langs, *profile.languages, profile.ui_language])))  # fmt: skip
    known = resources.peek("catalog_profiles") or {}
    if profile_id not in known:
        raise ProblemError(404, f"profile {profile_id!r} does not exist; create it or omit profile_id",
                           slug="profile-not-found", profile_id=profile_id)  # fmt: skip
    entry = known[profile_id]
    return Viewer(profile_id=profile_id, maturity_level=entry["maturity_level"],
                  languages=tuple(dict.fromkeys([*langs, *entry["languages"]])))  # fmt: skip


def _split(values: list[str] | None) -> tuple[str, ...]:
    """Repeated and comma-separated values: ``["drama,comedy", "horror"]`` -> 3 values."""
    out: list[str] = []
    for value in values or ():
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return tuple(out)


def _run(request: Request, body: SearchRequest) -> Response:
    from search.request import SearchFilters

    engine = _engine(request)
    viewer = _viewer(request, body.profile_id, body.lang)
    filters = SearchFilters(
        types=_split(body.types), genres=_split(body.genres), year_min=body.year_min, year_max=body.year_max,
        runtime_min=body.runtime_min, runtime_max=body.runtime_max, description_languages=_split(body.description_languages), original_languages=_split(body.original_languages),
        countries=_split(body.countries), max_maturity=body.max_maturity,
    )  # fmt: skip
    if _empty_range(body.year_min, body.year_max) or _empty_range(body.runtime_min, body.runtime_max):
        return _empty_range_page(engine, body, filters, viewer)
    page = engine.search(body.q, filters=filters, viewer=viewer, limit=body.limit, offset=body.offset,
                         understand=body.understand)  # fmt: skip
    return _json_response(page, body.profile_id)


def _empty_range(low: int | None, high: int | None) -> bool:
    return low is not None and high is not None and low > high


def _empty_range_page(engine: SearchEngine, body: SearchRequest, filters: SearchFilters, viewer: Viewer) -> Response:
    """``year_min`` above ``year_max`` (or ``runtime_min`` above ``runtime_max``) selects no title: an empty page
    (each value is valid on its own, so this is not an error), with the other filters still checked and the
    facet names of a normal page."""
    from dataclasses import replace

    probe = engine.search(body.q, filters=replace(filters, year_min=None, year_max=None, runtime_min=None,
                                                  runtime_max=None), viewer=viewer, limit=1)  # fmt: skip
    empty = replace(probe, hits=[], total=0, limit=body.limit, offset=body.offset,
                    facets={name: {} for name in probe.facets})  # fmt: skip
    return _json_response(empty, body.profile_id)


def _json_response(page: SearchPage, profile_id: str | None) -> Response:
    """The :class:`SearchResponse` document, serialised directly (the engine's values are already plain
    and checked; building and re-validating the pydantic models cost ~0.8 ms of a ~15 ms request)."""
    doc = {
        "query": page.query, "query_truncated": page.query_truncated, "profile_id": profile_id,
        "query_language": page.query_language,
        "understood": [{"kind": u.kind, "value": u.value, "source": u.source, "effect": u.effect} for u in page.understood],
        "total": page.total, "limit": page.limit, "offset": page.offset,
        "results": [{"title_id": h.title_id, "title": h.display_title, "year": h.year, "type": h.type,
                     "maturity": h.maturity, "runtime_minutes": h.runtime_minutes, "description": h.description,
                     "description_language": h.description_language, "score": h.score,
                     "matched": [{"kind": r.kind, "detail": r.detail} for r in h.reasons]}
                    for h in page.hits],
        "facets": page.facets,
    }  # fmt: skip
    return Response(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
                    media_type="application/json")  # fmt: skip


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown profile_id (problem+json)."},
    422: {"description": "Empty query, unknown filter values (the problem lists the allowed ones), "
                         "or limit/offset out of bounds (problem+json)."},  # fmt: skip
    503: {"description": "The search index is not loaded yet (problem+json)."},
}


# ------------------------------------------------------------------------------------------ routes

_Q_EXAMPLES: dict[str, Any] = {
    "title": {"summary": "A title", "value": "the matrix"},
    "typing": {"summary": "A title being typed on a remote", "value": "stranger thi"},
    "typo": {"summary": "A misspelt title", "value": "matrx"},
    "person": {"summary": "An actor", "value": "tom hanks"},
    "spanish": {"summary": "A description, in Spanish", "value": "película de terror en un hotel aislado en invierno"},
    "french": {"summary": "A localized title", "value": "le fabuleux destin d'amélie poulain"},
}


@router.get("/v1/search", response_model=SearchResponse, responses=_ERRORS,
            summary="Search titles in natural language (any language).")  # fmt: skip
def search_get(
    request: Request,
    q: Annotated[str, Query(min_length=1, pattern=VISIBLE,
                            description=f"The query, any language; cut to {MAX_QUERY_CHARS} characters.",
                            openapi_examples=_Q_EXAMPLES)],  # fmt: skip
    profile_id: Annotated[str | None, Query(examples=["demo:kids"])] = None,
    lang: Annotated[str | None, Query(pattern=LANGUAGE_TAG_PATTERN,
                                      description="Preferred language for titles and descriptions (e.g. en, fr, pt-BR).")] = None,
    type: Annotated[list[Annotated[str, Field(pattern=TYPE_LIST)]] | None,
                    Query(description="movie | show (repeat or comma-separate).")] = None,  # fmt: skip
    genre: Annotated[list[str] | None, Query(description="Any of these genres (repeat or comma-separate).")] = None,
    year_min: Annotated[int | None, Query(ge=1800, le=2200)] = None,
    year_max: Annotated[int | None, Query(ge=1800, le=2200)] = None,
    runtime_min: Annotated[int | None, Query(ge=RUNTIME_MIN, le=RUNTIME_MAX,
                                             description="At least this many minutes long (series never pass).")] = None,
    runtime_max: Annotated[int | None, Query(ge=RUNTIME_MIN, le=RUNTIME_MAX,
                                             description="At most this many minutes long (series never pass).")] = None,
    description_language: Annotated[list[str] | None, Query(description="Has a description in any of these.")] = None,
    original_language: Annotated[list[str] | None, Query()] = None,
    country: Annotated[list[str] | None, Query(description="Produced in any of these countries.")] = None,
    max_maturity: Annotated[MaturityName | None, Query(description="kids | older_kids | teens | adults")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    understand: Annotated[bool, Query(description="false: no query understanding (the words are only searched).")] = True,
) -> Response:
    """Hybrid search: dense multilingual retrieval fused with title/cast/director matching.

    Exact and near-exact title matches come first. A profile's maturity level is a hard ceiling.
    """
    # already validated by the Query declarations above; model_construct skips a second validation
    body = SearchRequest.model_construct(q=q, profile_id=profile_id, lang=lang, types=type or [], genres=genre or [],
                                         year_min=year_min, year_max=year_max, runtime_min=runtime_min,
                                         runtime_max=runtime_max, description_languages=description_language or [],
                                         original_languages=original_language or [], countries=country or [],
                                         max_maturity=max_maturity, limit=limit, offset=offset,
                                         understand=understand)  # fmt: skip
    return _run(request, body)


@router.post("/v1/search", response_model=SearchResponse, responses=_ERRORS,
             summary="Search with a JSON body (long queries).")  # fmt: skip
def search_post(request: Request, body: Annotated[SearchRequest, Body()]) -> Response:
    """The same search as GET, for queries too long for a URL."""
    return _run(request, body)


class IndexStatus(BaseModel):
    """Which index version search serves, and what the index watch last saw."""

    serving_version: str | None = Field(description="The index version the engine answering now was built from.")
    current_version: str | None = Field(description="The version the index store's CURRENT names.")
    watch_interval_s: float = Field(description="Seconds between checks; 0 when the watch is off.")
    swaps: int = Field(description="Versions swapped in since the service started.")
    last_check: float | None = Field(description="Unix time of the last check.")
    last_error: str | None = Field(description="Why the newest version is not served, when it is not.")


@router.get("/v1/search/index", response_model=IndexStatus, summary="The index version search serves.")
def search_index_status(request: Request) -> IndexStatus:
    """A version activated by ``marquee index build`` is served within ``index_watch_s`` seconds, without
    a restart; one that cannot be served (corrupt, built by another model) is named in ``last_error``."""
    _engine(request)  # 503 until search is loaded
    resources: Resources = request.app.state.resources
    watcher = resources.peek("index_watch")
    if watcher is not None:
        return IndexStatus(**watcher.status())
    serving = _serving_version(resources)
    return IndexStatus(serving_version=serving, current_version=None, watch_interval_s=0.0, swaps=0,
                       last_check=None, last_error=None)  # fmt: skip
