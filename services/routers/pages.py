"""Home pages, profiles and "more like this".

* ``GET /v1/profiles/{profile_id}/page`` — the viewer's home page: titled rows of ranked titles
  (:mod:`ranking.page`). An unknown profile is a new viewer and gets a cold-start page, not a 404;
  ``liked_genres`` / ``liked_titles`` (onboarding) shape it.
* ``PUT /v1/profiles/{profile_id}`` / ``GET /v1/profiles/{profile_id}`` — create/update and read a profile.
* ``GET /v1/titles/{title_id}/similar`` — more like this, personalised with ``profile_id``.

Shared resources (:mod:`services.resources`): "catalog", "index" (optional: without it rows use
co-watch and genres only), "event_store", "features", "ranker" (optional: without it the page falls
back to a popularity + co-watch scorer); and this area's "pages" (the :class:`ranking.page.PageBuilder`).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from data.events import COUNTRY_PATTERN, LANGUAGE_PATTERN, LANGUAGE_TAG_PATTERN, MAX_ID
from data.normalize import GENRES, MaturityName, MaturitySource
from services import resources as shared
from services.errors import ProblemError, problem_responses
from services.state import Resources

if TYPE_CHECKING:
    import numpy as np

    from features import FeatureStore
    from ranking.page import PageBuilder
    from ranking.rows import RankerScorer, TileInfo

log = logging.getLogger("marquee.pages")

router = APIRouter(tags=["pages"])

MAX_ROWS = 30  # mirror ranking.page.MAX_ROWS / MAX_PER_ROW (import-free module level)
MAX_PER_ROW = 50
MAX_LIKED = 20
MAX_SIMILAR = 100
_GENRE = "|".join(re.escape(g) for g in GENRES)
_GENRE_LIST = rf"^[ ]*({_GENRE})?[ ]*(,[ ]*({_GENRE})?[ ]*)*$"
"""Comma-separated known genres (``data.normalize.GENRES``); empty pieces are ignored."""
ProfileId = Annotated[str, Path(min_length=1, max_length=MAX_ID, description=f"Any id up to {MAX_ID} characters.")]


# ------------------------------------------------------------------------------------------ models


class TileModel(BaseModel):
    """What an app draws on a tile besides the title (null where the catalog does not know)."""

    type: Literal["movie", "show"] | None = Field(default=None, description="movie | show")
    year: int | None = None
    maturity: MaturityName | None = Field(default=None, description="kids | older_kids | teens | adults, from a rating "
                                      "or inferred from the genres (maturity_source); null when neither gives one "
                                      "(see maturity_note).")  # fmt: skip
    maturity_level: int | None = Field(default=None, description="0 (kids) .. 3 (adults); null when unknown.")
    maturity_known: bool = Field(default=False, description="True: a source gives an age rating.")
    maturity_source: MaturitySource = Field(default="unknown", description="rating: a US age rating; inferred: no "
                                            "rating, the rung comes from the genres (never kids); unknown: neither, "
                                            "the title is shown to adult profiles only.")  # fmt: skip
    maturity_rating: str | None = Field(default=None, description="The source's own label, e.g. 'PG-13', 'TV-Y', "
                                        "'NR'.")  # fmt: skip
    maturity_note: str | None = Field(default=None, description="How maturity was inferred, or why it is null "
                                      "(English); null when rated.")  # fmt: skip
    genres: list[str] = Field(default_factory=list, examples=[["action", "sci-fi"]])
    duration_minutes: int | None = Field(default=None, description="Movies: running time.")
    seasons: int | None = Field(default=None, description="Shows: number of seasons.")
    description: str | None = Field(default=None, description="In the UI language when the catalog has one, "
                                    "else English, else any language it has.")  # fmt: skip
    description_language: str | None = Field(default=None, description="Language of ``description``.")


def tile_model(tile: TileInfo) -> TileModel:
    """A :class:`ranking.rows.TileInfo` as the API model."""
    return TileModel(**tile.as_dict)


class PageItemModel(BaseModel):
    title_id: str = Field(examples=["tmdb:603"])
    title: str = Field(description="Display title, in the UI language when the catalog has it.")
    score: float = Field(description="The ranking model's score for this viewer: with the trained model, the log "
                         "of play_probability (one scale for every title on the page).")  # fmt: skip
    play_probability: float | None = Field(
        default=None, description="Probability that the next new title this viewer plays is this one (trained "
        "model only; null with the no-model fallback).")  # fmt: skip
    reason: str = Field(default="", description="Why the title is here, in the UI language.")
    progress: float | None = Field(
        default=None, description="Continue Watching: fraction watched, when known."
    )
    tile: TileModel = Field(default_factory=TileModel)


class RowReasonModel(BaseModel):
    code: str = Field(description="Machine-readable reason: in_progress, model_top, similar_to_watched, "
                      "similar_to_liked, trending, recently_added, latest_added, popular, genre_affinity, "
                      "genre_liked, genre_explore, language_preferred, language_affinity, rewatch.")  # fmt: skip
    text: str = Field(description="The reason in the UI language.")
    evidence_title_id: str | None = Field(
        default=None, description="Because You Watched: the evidence title."
    )
    stage: int = Field(description="Selection stage that placed the row (0 = pinned).")
    relevance: float = Field(description="Position-discounted mean utility of the row's titles when placed.")
    redundancy: float = Field(description="Largest content similarity to a row placed before it.")


class PageRowModel(BaseModel):
    row_id: str = Field(examples=["because-you-watched:tmdb:603", "genre:comedy", "language:ko:show"])
    kind: str = Field(description="continue_watching | top_picks | because_you_watched | trending | "
                      "new_arrivals | popular | genre | language | rewatch")  # fmt: skip
    title: str = Field(examples=["Because You Watched The Matrix"])
    reason: RowReasonModel
    items: list[PageItemModel]


class PageResponse(BaseModel):
    profile_id: str
    known_profile: bool = Field(
        description="False: a new viewer (defaults: adults, English) got a cold-start page."
    )
    cold_start: bool = Field(description="No history and no onboarding input: popular, diverse rows.")
    ui_language: str = Field(description="Language of row titles and reasons (one of 18: en fr es de it pt nl pl ru tr el he ar hi th ja ko zh).")
    maturity: str
    scorer: str = Field(description="The model that ranked the rows ('heuristic' = the no-model fallback).")
    exploration: float
    rows: list[PageRowModel]


class ProfileRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={"examples": [
        {"maturity": "kids", "languages": ["en", "es"], "ui_language": "es", "country": "MX"}]})  # fmt: skip

    maturity: MaturityName = "adults"
    languages: list[Annotated[str, Field(pattern=LANGUAGE_PATTERN)]] = Field(
        default_factory=lambda: ["en"], description="Preferred content languages, ISO 639 (lower case), most "
        "preferred first.", min_length=1, max_length=10)  # fmt: skip
    ui_language: str = Field(default="en", pattern=LANGUAGE_PATTERN, description="Language of the app (row titles).")
    country: str | None = Field(default=None, pattern=COUNTRY_PATTERN, description="ISO 3166 alpha-2, e.g. 'KR'.")


class ProfileResponse(BaseModel):
    profile_id: str
    maturity: str
    maturity_level: int
    languages: list[str]
    ui_language: str
    country: str | None
    origin: str


class SimilarItemModel(BaseModel):
    title_id: str
    title: str
    score: float = Field(description="Similarity, blended with the viewer's model score when personalised.")
    similarity: float
    play_probability: float | None = Field(default=None, description="Personalised: probability that the "
                                           "viewer's next new title is this one.")  # fmt: skip
    reason: str = Field(default="", description="'Similar to <title>' in the UI language.")
    tile: TileModel = Field(default_factory=TileModel)


class SimilarResponse(BaseModel):
    title_id: str
    profile_id: str | None
    personalized: bool
    items: list[SimilarItemModel]


# ------------------------------------------------------------------------------------------ resources


def ranker_scorer(resources: Resources, servable: np.ndarray | None = None) -> RankerScorer | None:
    """The shared ranker as a page scorer, or None (the page falls back to popularity + co-watch).

    ``servable``: (n,) bool mask of the titles the page can show; the scorer then uses its own binding of
    the shared model (:meth:`ranking.model.TrainedRanker.view`, same weights) to those titles only, so a
    page scores 17,617 titles instead of all 53,094."""
    import numpy as np

    from ranking.rows import RankerScorer

    ranker = shared.ranker(resources)
    if ranker is None or not hasattr(ranker, "score_rows"):
        return None
    if servable is not None and hasattr(ranker, "view") and ranker.titles is not None:
        ranker = ranker.view().bind(ranker.titles, np.flatnonzero(servable))
    return RankerScorer(ranker)


def load_page_builder(resources: Resources) -> PageBuilder:
    """The "pages" resource: a :class:`ranking.page.PageBuilder` over the shared catalog and features."""
    from ranking.page import PageBuilder

    features = shared.features(resources)
    store = shared.event_store(resources)
    history = store.events_frame()[["profile_id", "title_id"]] if hasattr(store, "events_frame") else None
    builder = PageBuilder.build(shared.catalog(resources), features.titles, history)
    builder.scorer = ranker_scorer(resources, builder.catalog.servable)
    return builder


def startup(resources: Resources) -> None:
    """Load (or share) catalog, event store, features, ranker and the page builder; build one page to warm up."""
    from ranking.page import PageRequest

    builder = resources.get("pages", lambda: load_page_builder(resources))
    profile = shared.features(resources).profile_features("warm-up:nobody")
    builder.page(builder.viewer(profile, None), PageRequest(rows=3, per_row=5))


# ------------------------------------------------------------------------------------------ helpers


def _loaded(request: Request) -> tuple[PageBuilder, FeatureStore]:
    """The page builder and feature store built at startup (503 when the area failed to load)."""
    resources: Resources | None = getattr(request.app.state, "resources", None)
    builder = resources.peek("pages") if resources is not None else None
    features = resources.peek("features") if resources is not None else None
    if builder is None or features is None:
        raise ProblemError(503, "the pages area is not loaded; see /readyz", slug="not-ready")
    return builder, features


def _viewer(builder: PageBuilder, features: FeatureStore, profile_id: str, liked_genres: list[str],
            liked_titles: list[str], max_maturity: str | None) -> tuple[Any, bool]:  # fmt: skip
    """(ViewerState, known profile?) read from the live event store: the next request sees new events."""
    from dataclasses import replace

    from data.normalize import MATURITY_LEVELS

    store = features.events
    known = bool(store.has_profile(profile_id))
    profile = features.profile_features(profile_id)
    if max_maturity is not None and MATURITY_LEVELS[max_maturity] < profile.maturity_level:
        profile = replace(profile, maturity_level=MATURITY_LEVELS[max_maturity])
    if liked_genres or liked_titles:
        history = store.history(profile_id) if profile.last_seq else None
        return builder.viewer(profile, history, liked_genres=liked_genres, liked_titles=liked_titles), known
    # the state is kept until the profile's next event (the feature store's profile object changes then)
    return builder.cached_viewer(profile, lambda: store.history(profile_id) if profile.last_seq else None), known


def _split(values: list[str] | None) -> list[str]:
    """Accept both ``?x=a&x=b`` and ``?x=a,b``."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


# ------------------------------------------------------------------------------------------ routes


@router.get("/v1/profiles/{profile_id}/page", response_model=PageResponse, responses=problem_responses(404, 422),
            summary="The viewer's personalized home page (a cold-start page for a new viewer).")  # fmt: skip
def get_page(
    request: Request,
    profile_id: ProfileId,
    rows: Annotated[int, Query(ge=1, le=MAX_ROWS, description=f"Rows on the page, 1..{MAX_ROWS}.")] = 10,
    per_row: Annotated[int, Query(ge=1, le=MAX_PER_ROW, description=f"Titles per row, 1..{MAX_PER_ROW}.")] = 20,
    language: Annotated[
        str | None, Query(pattern=LANGUAGE_TAG_PATTERN,
                          description="UI language of row titles (18 languages, e.g. en, fr, ja, ar); default: the profile's.")
    ] = None,  # fmt: skip
    liked_genres: Annotated[
        list[Annotated[str, Field(pattern=_GENRE_LIST)]] | None,
        Query(description="Onboarding: genres the viewer likes (repeat or comma-separate).")
    ] = None,  # fmt: skip
    liked_titles: Annotated[
        list[str] | None, Query(max_length=MAX_LIKED, description=f"Onboarding: up to {MAX_LIKED} title ids the "
                                "viewer likes (repeat or comma-separate); an unknown one is a 404.")
    ] = None,  # fmt: skip
    max_maturity: Annotated[
        MaturityName | None, Query(description="Lower the maturity ceiling for this page.")
    ] = None,
    explore: Annotated[float, Query(ge=0.0, le=1.0, description="Exploration in [0, 1]; 0 = deterministic ranking.")] = 0.0,
    seed: Annotated[int, Query(ge=0, le=2**32 - 1, description="Seed of the exploration noise (same seed, same page).")] = 0,
) -> Response:
    from ranking.page import PageRequest

    builder, features = _loaded(request)
    # genres: the schema's pattern already admits only known ones, and there are few (no count limit needed)
    genres, titles = list(dict.fromkeys(_split(liked_genres))), list(dict.fromkeys(_split(liked_titles)))
    unknown = [g for g in genres if g not in GENRES]
    if unknown:
        raise ProblemError(422, f"liked_genres={unknown!r}: unknown genre; expected some of {', '.join(GENRES)}",
                           slug="invalid-page-request")  # fmt: skip
    missing = [t for t in titles if t not in builder.catalog.features.index]
    if missing:
        raise ProblemError(404, f"liked_titles={missing!r}: unknown title; expected catalog title ids",
                           slug="unknown-title", title_id=missing[0])  # fmt: skip
    if len(titles) > MAX_LIKED:
        raise ProblemError(422, f"liked_titles has {len(titles)} entries; expected at most {MAX_LIKED}",
                           slug="invalid-page-request")  # fmt: skip
    page_request = PageRequest(rows=rows, per_row=per_row, ui_language=language, exploration=explore,
                               seed=seed).validate()  # fmt: skip
    viewer, known = _viewer(builder, features, profile_id, genres, titles, max_maturity)
    page = builder.page(viewer, page_request)
    from data.normalize import MATURITY_LEVELS

    maturity = {v: k for k, v in MATURITY_LEVELS.items()}[int(viewer.profile.maturity_level)]
    # the body is written straight from the page's plain values (tiles are dicts built once per title and UI
    # language): a 200-title page through PageResponse validation and serialisation cost more than building it;
    # the schema stays PageResponse (tests/services/test_pages.py validates real bodies against it)
    body = {
        "profile_id": profile_id, "known_profile": known, "cold_start": page.cold_start,
        "ui_language": page.ui_language, "maturity": maturity, "scorer": page.scorer,
        "exploration": page.exploration,
        "rows": [{"row_id": r.row_id, "kind": r.kind, "title": r.title,
                  "reason": {"code": r.reason.code, "text": r.reason.text,
                             "evidence_title_id": r.reason.evidence_title_id, "stage": r.reason.stage,
                             "relevance": r.reason.relevance, "redundancy": r.reason.redundancy},
                  "items": [{"title_id": i.title_id, "title": i.name, "score": i.score,
                             "play_probability": i.play_probability, "reason": i.reason, "progress": i.progress,
                             "tile": i.tile.as_dict} for i in r.items]} for r in page.rows],
    }  # fmt: skip
    return Response(content=to_json(body), media_type="application/json")


@router.put("/v1/profiles/{profile_id}", response_model=ProfileResponse, status_code=200,
            responses={201: {"model": ProfileResponse, "description": "Created"}, **problem_responses(422)},
            summary="Create (201) or update (200) a profile.")  # fmt: skip
def put_profile(request: Request, response: Response, profile_id: ProfileId,
                body: Annotated[ProfileRequest, Body()]) -> ProfileResponse:  # fmt: skip
    from data.events import Profile

    _, features = _loaded(request)
    profile = Profile(
        profile_id, body.maturity, tuple(body.languages), body.ui_language, body.country, origin="api"
    )
    created = features.events.put_profile(profile)  # InvalidProfileError: a 422 problem
    features.invalidate(profile_id)
    if created:
        response.status_code = 201
    return ProfileResponse(**profile.as_dict())


@router.get("/v1/profiles/{profile_id}", response_model=ProfileResponse, summary="Read a profile.",
            responses=problem_responses(404))
def get_profile(request: Request, profile_id: ProfileId) -> ProfileResponse:
    _, features = _loaded(request)
    profile = features.events.get_profile(profile_id)  # ProfileNotFoundError: a 404 problem
    return ProfileResponse(**profile.as_dict())


@router.get("/v1/titles/{title_id}/similar", response_model=SimilarResponse, responses=problem_responses(404),
            summary="More like this title, optionally personalised for a profile.")  # fmt: skip
def get_similar(
    request: Request,
    title_id: Annotated[str, Path(min_length=1, max_length=MAX_ID, examples=["tmdb:603"])],
    profile_id: Annotated[str | None, Query(min_length=1, max_length=MAX_ID,
                                            description="Personalise (maturity, unwatched, model).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SIMILAR, description=f"Titles to return, 1..{MAX_SIMILAR}.")] = 20,
    language: Annotated[str | None, Query(pattern=LANGUAGE_TAG_PATTERN,
                                          description="Language for display titles (e.g. fr, pt-BR).")] = None,
) -> SimilarResponse:
    builder, features = _loaded(request)
    viewer = _viewer(builder, features, profile_id, [], [], None)[0] if profile_id else None
    # UnknownTitleError: a 404 problem (services/errors.py)
    items = builder.similar(title_id, limit=limit, viewer=viewer, ui_language=language)
    return SimilarResponse(title_id=title_id, profile_id=profile_id, personalized=viewer is not None,
                           items=[SimilarItemModel(title_id=i.title_id, title=i.name, score=i.score,
                                                   similarity=i.similarity, play_probability=i.play_probability,
                                                   reason=i.reason, tile=tile_model(i.tile))
                                  for i in items])  # fmt: skip
