"""Viewing events in: ``POST /v1/events`` (batches, validated per event, idempotent, durable).

* A batch holds 1 to :data:`data.events.MAX_BATCH_EVENTS` (1,000) events; a bigger or malformed body
  is a 422 problem for the whole batch.
* Each event is validated on its own: an unknown ``title_id`` or ``profile_id`` (create profiles
  with ``PUT /v1/profiles/{id}``), an unknown ``kind`` or an out-of-range field rejects THAT event
  with its errors; the valid ones are still stored.
* Idempotent by the client's ``event_id``: re-sending a batch (e.g. after a timeout) stores nothing
  twice; already-stored events come back as ``duplicate``.
* Durable before acknowledged: the 200 response is sent only after the batch's transaction has
  committed with ``synchronous=FULL`` (``data.events.SQLiteEventStore``); a process killed mid-batch
  loses only events that were never acknowledged.
* ``GET /v1/profiles/{id}/features`` shows the features the ranker reads for a profile; new events
  are reflected on the next request.

Shared resources (:mod:`services.resources`): "catalog", "event_store", "features" and "ranker".
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from data.events import MAX_ID
from services import resources as shared
from services.errors import ProblemError, problem_responses
from services.state import Resources

log = logging.getLogger("marquee.events")

router = APIRouter(tags=["events"])

MAX_BATCH = 1000
"""Mirror of ``data.events.MAX_BATCH_EVENTS`` for the request schema (checked equal in the tests)."""


# ------------------------------------------------------------------------------------------ schemas


class EventIn(BaseModel):
    """One viewing event as sent by a client."""

    model_config = ConfigDict(strict=True)  # JSON types as documented: no "5" for 5, no false for 0

    event_id: str = Field(min_length=1, max_length=MAX_ID, description="Client-chosen id; makes retries idempotent.")
    profile_id: str = Field(min_length=1, max_length=MAX_ID)
    title_id: str = Field(min_length=1, max_length=MAX_ID, examples=["tmdb:603"])
    timestamp: float = Field(description="Unix seconds when it happened (client clock).")
    kind: str = Field(description="play | progress | complete | rating", examples=["play"])
    position_s: float | None = Field(default=None, description="Playback position in seconds.")
    duration_s: float | None = Field(default=None, description="Title duration in seconds.")
    rating: float | None = Field(default=None, description="0..5, only for kind=rating.")


class EventBatchRequest(BaseModel):
    model_config = ConfigDict(strict=True)

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class EventResult(BaseModel):
    event_id: str
    status: Literal["stored", "duplicate", "rejected"]
    errors: list[str] = Field(default_factory=list)


class EventBatchResponse(BaseModel):
    """Per-event outcomes, in request order. Every ``stored`` or ``duplicate`` event is durable."""

    stored: int
    duplicates: int
    rejected: int
    results: list[EventResult]


class ProfileFeaturesResponse(BaseModel):
    profile_id: str
    known_profile: bool
    n_events: int
    n_titles: int
    activity_level: float
    last_seq: int
    recent_title_ids: list[str]
    top_genres: dict[str, float]
    top_languages: dict[str, float]
    has_history_embedding: bool


# ------------------------------------------------------------------------------------------ startup


def startup(resources: Resources) -> None:
    """Open the event store and build the feature store (shared with pages, search and ads); the ranker
    is optional here (personalized search and pages use it)."""
    shared.event_store(resources)
    shared.features(resources)
    shared.ranker(resources)


# ------------------------------------------------------------------------------------------ routes


def _get(request: Request, name: str) -> Any:
    resources: Resources | None = getattr(request.app.state, "resources", None)
    value = resources.peek(name) if resources is not None else None
    if value is None:
        detail = (resources.errors.get("events") if resources else None) or f"{name} is not loaded"
        raise ProblemError(503, f"events are not ready: {detail}", slug="not-ready")
    return value


@router.post("/v1/events", response_model=EventBatchResponse, responses=problem_responses(422),
             summary=f"Store a batch of up to {MAX_BATCH} viewing events (idempotent by event_id).")  # fmt: skip
def post_events(request: Request, body: Annotated[EventBatchRequest, Body()]) -> EventBatchResponse:
    """Validate each event, store the valid ones in one durable transaction, then acknowledge.

    Sync on purpose: FastAPI runs it in the threadpool, and the response is only produced after
    ``append`` returned, i.e. after the commit was fsynced.
    """
    from data.events import ViewingEvent

    store = _get(request, "event_store")
    features = _get(request, "features")
    events = [ViewingEvent(**e.model_dump()) for e in body.events]
    outcomes = store.append(events, known_title_ids=features.titles.index)  # EventStoreError: a 422 problem
    results = [EventResult(event_id=o.event_id, status=o.status, errors=list(o.errors)) for o in outcomes]
    return EventBatchResponse(
        stored=sum(o.status == "stored" for o in outcomes), duplicates=sum(o.status == "duplicate" for o in outcomes),
        rejected=sum(o.status == "rejected" for o in outcomes), results=results,
    )  # fmt: skip


@router.get("/v1/profiles/{profile_id}/features", response_model=ProfileFeaturesResponse,
            summary="The features the ranker reads for a profile (reflects events up to this request).")  # fmt: skip
def get_profile_features(
    request: Request, profile_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)]
) -> ProfileFeaturesResponse:
    from features import GENRES, LANGUAGES

    store = _get(request, "event_store")
    features = _get(request, "features")
    pf = features.profile_features(profile_id)
    recent = [features.titles.title_ids[r] for r in pf.history[::-1][:10]]

    def top(values: Any, names: tuple[str, ...]) -> dict[str, float]:
        order = sorted(range(len(names)), key=lambda i: -float(values[i]))
        return {names[i]: round(float(values[i]), 4) for i in order[:5] if values[i] > 0}

    return ProfileFeaturesResponse(
        profile_id=profile_id, known_profile=bool(store.has_profile(profile_id)), n_events=pf.n_events,
        n_titles=pf.n_titles, activity_level=round(pf.activity_level, 4), last_seq=pf.last_seq,
        recent_title_ids=recent, top_genres=top(pf.genre_affinity, GENRES),
        top_languages=top(pf.language_affinity, LANGUAGES),
        has_history_embedding=bool(abs(pf.history_embedding).sum() > 0),
    )  # fmt: skip
