"""Ad decisions, tracking and the inventory admin API.

Decision endpoints (API key with scope ``decide``):

* ``POST /v1/ads/openrtb`` — an OpenRTB 2.6 BidRequest → a BidResponse whose bids carry inline VAST
  4 in ``adm`` (200), an empty 204 for no bid, or a 400 with ``nbr=2`` for a malformed request
  (OpenRTB semantics, not problem+json).
* ``POST /v1/ads/openrtb/explain`` (scope ``admin``) — the same BidRequest, decided as a dry run: the
  pod ``/v1/ads/openrtb`` would answer now and, for every line item, the stage and rule that kept or
  rejected it (eligibility, cap, pacing, slot, separation, floor, auction); nothing is reserved.
* ``GET /v1/ads/vast`` — the same decision as a VAST tag for players (the key may come as ``key=``,
  since players cannot add headers); unexpanded macros (``[IFA]``) count as absent.

Tracking (``GET /v1/ads/track/{event}?t=...``): the signed token in each tracking URL is the credential
(see ``ads.tracking``); each (impression, event) is applied once, durably, in the ad store's database
(``ads.delivery.StoredDelivery``), which the next decision of every server process reads. Always 204.

``GET /v1/ads/demo-keys`` returns the documented demo keys while the server accepts them (404 once it
runs with its own), so the console can prefill them in development without a key in its source.

Admin (scope ``admin``): ``/v1/ads/{advertisers|campaigns|line-items|creatives}`` list/create/get/
patch, ``.../{id}/pause`` and ``/resume``, ``/v1/ads/line-items/{id}/delivery`` and ``/v1/ads/status``.
Every write is validated with ``ads.inventory`` against the whole inventory before it is stored, and
the engine swaps to the new inventory at once.

Shared resources: "ads" (:class:`AdsService`), and — when present — "features" (profile and title
features; without them requests are decided contextually, and the status says so) and "encoder"
(line item briefs are embedded only when title embeddings exist to compare them with).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, WithJsonSchema

from services import auth
from services import resources as shared
from services.errors import ProblemError, problem_responses
from services.settings import Settings
from services.state import Resources

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from ads.inventory import Inventory
    from ads.request import AdRequest
    from ads.response_model import ResponseModel
    from ads.selector import AdEngine, Placement
    from ads.tracking import TokenSigner
    from data.ads_store import SqlAdStore
    from data.events import ProfileLookup
    from features import FeatureStore
    from services.protocols.vast import VastAd

log = logging.getLogger("marquee.ads")

router = APIRouter(tags=["ads"])

MODEL_FILE = "ads_response.npz"
OPENRTB_VERSION = "2.6"
Collection = Literal["advertisers", "campaigns", "line-items", "creatives"]
KIND_OF: dict[str, str] = {"advertisers": "advertiser", "campaigns": "campaign", "line-items": "line_item",
                           "creatives": "creative"}  # fmt: skip
TrackingEvent = Literal["impression", "start", "firstQuartile", "midpoint", "thirdQuartile", "complete", "click",
                        "error"]  # fmt: skip
"""Mirror of ``ads.delivery.EVENTS`` for the path schema (checked equal in the tests)."""


class InvalidBidRequestErrors(BaseModel):
    errors: list[str] = Field(description="What is malformed, one entry per problem.")


class InvalidBidRequestResponse(BaseModel):
    """OpenRTB's answer to a malformed bid request: a BidResponse with no-bid reason 2."""

    id: str = Field(description="The request's id when it could be read, else ''.")
    nbr: Literal[2] = Field(description="No-bid reason 2: invalid request.")
    ext: InvalidBidRequestErrors


@dataclass
class AdsService:
    """Everything the ads endpoints share: store, engine, signer and the brief encoder."""

    store: SqlAdStore
    engine: AdEngine
    signer: TokenSigner
    encode_briefs: Callable[[list[str]], np.ndarray] | None = None
    features_note: str = "features available"
    model_note: str = ""
    _brief_cache: dict[str, np.ndarray] = field(default_factory=dict)
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    def brief_embeddings(self, briefs: dict[str, str]) -> dict[str, np.ndarray]:
        """line item -> brief embedding (encoded once per text); empty without an encoder."""
        if self.encode_briefs is None or not briefs:
            return {}
        missing = sorted({t for t in briefs.values() if t not in self._brief_cache})
        if missing:
            vectors = self.encode_briefs(missing)
            self._brief_cache.update(zip(missing, vectors, strict=True))
        return {li: self._brief_cache[text] for li, text in briefs.items()}

    def build_inventory(self, docs: dict[str, list[dict[str, Any]]]) -> Inventory:
        from ads.inventory import Inventory

        inventory = Inventory.from_dicts(docs["advertisers"], docs["campaigns"], docs["line_items"], docs["creatives"])
        embeddings = self.brief_embeddings(inventory.briefs())
        return inventory.with_brief_embeddings(embeddings) if embeddings else inventory

    def reload(self) -> None:
        self.engine.set_inventory(self.build_inventory(self.store.inventory_docs()))

    def close(self) -> None:
        self.store.close()


# ------------------------------------------------------------------------------------------ startup


def _optional_features(resources: Resources) -> tuple[FeatureStore | None, str]:
    """The shared "features" resource, or None (contextual-only decisions) with the reason."""
    try:
        return shared.features(resources), "features available"
    except Exception as exc:  # the ads area still decides contextually
        log.warning("ads decide without profile/title features: %s", exc)
        return None, f"features unavailable ({type(exc).__name__}: {exc}); decisions are contextual-only"


def _profile_fallback(resources: Resources) -> ProfileLookup | None:
    """Where kids profiles are recognised when features are unavailable."""
    from data.events import ProfileLookup

    try:
        return ProfileLookup(shared.event_store(resources))
    except Exception as exc:
        log.warning("no event store for profile maturity: %s", exc)
    catalog = {pid: int(p["maturity_level"]) for pid, p in shared.catalog_profiles(resources).items()}
    if not catalog:
        log.warning("no profile maturity source: only regs.coppa triggers the kids regime")
        return None
    return ProfileLookup(catalog_levels=catalog)


def _optional_encoder(resources: Resources, features: FeatureStore | None) -> Callable[[list[str]], np.ndarray] | None:
    """An ``encode_queries`` callable for briefs, only when title embeddings exist to compare with."""
    if features is None or not bool(features.titles.has_embedding.any()):
        return None
    try:
        return shared.encoder(resources).encode_queries
    except Exception as exc:
        log.warning("line item briefs stay unembedded (contextual brief targeting off): %s", exc)
        return None


def load_model(models_dir: Path) -> tuple[ResponseModel, str]:
    """The trained response model, or the base-rate prior (selection by price) with the reason."""
    from ads.errors import ModelFormatError
    from ads.response_model import ResponseModel

    path = models_dir / MODEL_FILE
    if not path.is_file():
        return ResponseModel.prior(), f"no {path}; base-rate model (run `marquee ads seed-demo`)"
    try:
        return ResponseModel.load(path), f"trained model {path}"
    except (ModelFormatError, OSError, ValueError, KeyError) as exc:
        log.warning("ads response model unusable: %s", exc)
        return ResponseModel.prior(), f"{path} unusable ({exc}); base-rate model"


def load_ads_service(settings: Settings, resources: Resources) -> AdsService:
    from ads.delivery import StoredDelivery
    from ads.selector import AdEngine
    from ads.tracking import TokenSigner
    from data.ads_store import open_ad_store

    store = open_ad_store(settings.ads_target)
    try:
        features, features_note = _optional_features(resources)
        model, model_note = load_model(settings.models_dir)
        delivery = StoredDelivery(store)  # caps, budgets and reservations live in the database, shared by replicas
        from ads.inventory import Inventory

        profiles = None if features is not None else _profile_fallback(resources)
        engine = AdEngine(Inventory(), model=model, features=features, profiles=profiles, delivery=delivery)
        service = AdsService(store, engine, TokenSigner(settings.ads_tracking_secret),
                             _optional_encoder(resources, features), features_note, model_note)  # fmt: skip
        service.reload()
    except Exception:
        store.close()
        raise
    if store.is_empty():
        log.warning("the ads inventory at %s is empty: run `marquee ads seed-demo`", store.db.describe())
    return service


def startup(resources: Resources) -> None:
    """Check the API keys, open the ad store, load the inventory, the response model, delivery state and features."""
    auth.key_ring(resources)  # a malformed MARQUEE_API_KEYS stops the area here, not at the first request
    resources.get("ads", lambda: load_ads_service(resources.settings, resources))


# ------------------------------------------------------------------------------------------ dependencies


def _service(request: Request) -> AdsService:
    resources: Resources | None = getattr(request.app.state, "resources", None)
    service = resources.peek("ads") if resources is not None else None
    if service is None:
        raise ProblemError(503, "the ads area is not loaded; see /readyz", slug="not-ready")
    return service  # type: ignore[no-any-return]


ServiceDep = Annotated[AdsService, Depends(_service)]


def require_decide(_: Annotated[None, Depends(auth.require("decide"))], service: ServiceDep) -> AdsService:
    return service


def require_decide_tag(_: Annotated[None, Depends(auth.require("decide", allow_query=True))],
                       service: ServiceDep) -> AdsService:  # fmt: skip
    return service


def require_admin(_: Annotated[None, Depends(auth.require("admin"))], service: ServiceDep) -> AdsService:
    return service


DecideDep = Annotated[AdsService, Depends(require_decide)]
DecideTagDep = Annotated[AdsService, Depends(require_decide_tag)]
AdminDep = Annotated[AdsService, Depends(require_admin)]


# ------------------------------------------------------------------------------------------ markup


def _tracking_url(base: str, event: str, token: str, extra: str = "") -> str:
    return f"{base}v1/ads/track/{event}?t={token}{extra}"


def placement_vast_ad(placement: Placement, base_url: str, signer: TokenSigner, *, sequence: int | None) -> VastAd:
    from services.protocols.vast import VastAd, VastMediaFile

    token = signer.sign(placement.ticket)
    creative, view = placement.creative, placement.view
    tracking = {e: _tracking_url(base_url, e, token) for e in
                ("start", "firstQuartile", "midpoint", "thirdQuartile", "complete")}  # fmt: skip
    return VastAd(
        ad_id=placement.ticket.impression_id, ad_title=creative.name, creative_id=creative.id,
        duration_s=creative.duration_s, universal_ad_id=creative.universal_ad_id,
        media_files=tuple(VastMediaFile(m.url, m.mime, m.width, m.height, m.delivery, m.bitrate_kbps, m.codec)
                          for m in creative.media_files),
        impression_url=_tracking_url(base_url, "impression", token), tracking=tracking,
        ad_serving_id=placement.ticket.impression_id, sequence=sequence, advertiser=view.advertiser.name,
        advertiser_domain=view.advertiser.domain, categories=creative.categories,
        error_url=_tracking_url(base_url, "error", token, "&code=[ERRORCODE]"),
        click_through=creative.click_through, click_tracking=_tracking_url(base_url, "click", token),
        price_cpm=placement.price_cpm)  # fmt: skip


# ------------------------------------------------------------------------------------------ decisions


def _openrtb_error(request_id: str | None, errors: list[str]) -> JSONResponse:
    from services.protocols.openrtb import invalid_request_body

    return JSONResponse(invalid_request_body(request_id, errors), status_code=400,
                        headers={"x-openrtb-version": OPENRTB_VERSION})  # fmt: skip


@router.post(
    "/v1/ads/openrtb", summary="OpenRTB 2.6 bid request → bid response with inline VAST 4", response_model=None,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/BidRequest"}}}}},
    responses={200: {"description": "BidResponse", "content": {"application/json": {"schema": {"type": "object"}}}},
               204: {"description": "No bid (empty body)"},
               400: {"description": "Malformed request (OpenRTB semantics, not problem+json): no-bid reason 2 "
                                    "and the errors.", "model": InvalidBidRequestResponse}},  # fmt: skip
)
async def openrtb(request: Request, service: DecideDep) -> Response:
    from pydantic import ValidationError

    from ads.errors import InvalidAdRequestError
    from services.body_limit import MalformedJSONError, strict_json_loads
    from services.protocols.openrtb import BidRequest, bid_response, to_ad_request
    from services.protocols.vast import build_vast

    started = time.perf_counter()
    raw = await request.body()
    try:
        payload = strict_json_loads(raw)
    except MalformedJSONError as exc:
        return _openrtb_error(None, [str(exc)])
    request_id = payload.get("id") if isinstance(payload, dict) and isinstance(payload.get("id"), str) else None
    try:
        bid_request = BidRequest.model_validate(payload)
        ad_request = to_ad_request(bid_request, now=time.time())
    except ValidationError as exc:
        return _openrtb_error(request_id, [f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}"
                                           for e in exc.errors()])  # fmt: skip
    except InvalidAdRequestError as exc:
        return _openrtb_error(request_id, [str(exc)])
    headers = {"x-openrtb-version": OPENRTB_VERSION}
    if ad_request is None:
        return Response(status_code=204, headers=headers)
    # selection reads SQLite (profile features) and numpy: keep it off the event loop
    decision = await run_in_threadpool(service.engine.decide, ad_request)
    late = bid_request.tmax is not None and (time.perf_counter() - started) * 1000 > bid_request.tmax
    if not decision.placements or late:
        return Response(status_code=204, headers=headers)
    base = str(request.base_url)

    def markup(placement: Placement, version: str) -> str:
        ad = placement_vast_ad(placement, base, service.signer, sequence=placement.sequence)
        return build_vast([ad], version=version).decode("utf-8")

    body = bid_response(ad_request, decision, markup).model_dump(exclude_none=True)
    return JSONResponse(body, headers=headers)


class ExplainedPlacement(BaseModel):
    """One ad of the dry-run answer."""

    pod_id: str
    sequence: int = Field(description="1-based position in the pod.")
    line_item_id: str
    creative_id: str
    advertiser: str
    duration_s: int
    price_cpm: float
    score: float


class ExplainedCandidate(BaseModel):
    """One line item of the inventory and the rule that kept or rejected it."""

    line_item_id: str
    name: str
    advertiser: str
    priority: int = Field(description="Tier: lower wins first (sponsorship 1 ... house 4).")
    bid_type: str
    bid: float
    kept: bool = Field(description="True when it is in the answer (stage 'chosen').")
    stage: Literal["eligibility", "cap", "pacing", "slot", "separation", "floor", "auction", "chosen"]
    rule: str = Field(description="The reason slug (ads.eligibility.REASONS or ads.selector.POD_REASONS).")
    detail: str
    pod_id: str | None = None
    sequence: int | None = None
    price_cpm: float | None = Field(default=None, description="Chosen: its price; lost the auction: at its best try.")
    score: float | None = None


class ExplainResponse(BaseModel):
    """The dry-run decision of a BidRequest and why each line item is or is not in it."""

    request_id: str
    regime: str = Field(description="Privacy regime: personalized, contextual or kids.")
    regime_reason: str
    filled: bool
    eligible_line_items: int
    placements: list[ExplainedPlacement]
    candidates: list[ExplainedCandidate] = Field(description="Every line item: chosen first, then by stage.")
    rejections: dict[str, int] = Field(description="How often each rule rejected inventory in the dry run.")
    stages: dict[str, str] = Field(description="What each stage means.")


@router.post(
    "/v1/ads/openrtb/explain", response_model=ExplainResponse, summary="Why this pod: a dry-run decision (admin)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/BidRequest"}}}}},
    responses={400: {"description": "Malformed BidRequest (problem+json with 'errors')."},
               204: {"description": "A well-formed request Marquee does not sell (e.g. no video imp)."}},  # fmt: skip
)
async def explain_openrtb(request: Request, service: AdminDep) -> Response | ExplainResponse:
    """Decide an OpenRTB 2.6 BidRequest without reserving anything, and say for each line item the
    rule that kept or rejected it. Call it before ``/v1/ads/openrtb`` to see why that call will answer
    what it answers (the real call then reserves its placements against caps and pacing)."""
    from pydantic import ValidationError

    from ads.errors import InvalidAdRequestError
    from ads.selector import STAGES
    from services.body_limit import MalformedJSONError, strict_json_loads
    from services.protocols.openrtb import BidRequest, to_ad_request

    raw = await request.body()
    try:
        bid_request = BidRequest.model_validate(strict_json_loads(raw))
        ad_request = to_ad_request(bid_request, now=time.time())
    except MalformedJSONError as exc:
        raise ProblemError(400, str(exc), slug="invalid-bid-request", errors=[str(exc)]) from exc
    except ValidationError as exc:
        errors = [f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors()]
        raise ProblemError(400, "; ".join(errors), slug="invalid-bid-request", errors=errors) from exc
    except InvalidAdRequestError as exc:
        raise ProblemError(400, str(exc), slug="invalid-bid-request", errors=[str(exc)]) from exc
    if ad_request is None:
        return Response(status_code=204)
    explanation = await run_in_threadpool(service.engine.explain, ad_request)
    decision = explanation.decision
    order = {stage: n for n, stage in enumerate(reversed(list(STAGES)))}
    candidates = sorted(explanation.candidates, key=lambda c: (order[c.stage], c.sequence or 0, c.line_item_id))
    return ExplainResponse(
        request_id=decision.request_id, regime=decision.regime.regime.value, regime_reason=decision.regime.reason,
        filled=decision.filled, eligible_line_items=decision.eligible_line_items,
        placements=[ExplainedPlacement(pod_id=p.pod_id, sequence=p.sequence, line_item_id=p.line_item_id,
                                       creative_id=p.creative.id, advertiser=p.advertiser,
                                       duration_s=p.creative.duration_s, price_cpm=p.price_cpm, score=p.score)
                    for p in decision.placements],
        candidates=[ExplainedCandidate(line_item_id=c.line_item_id, name=c.name, advertiser=c.advertiser,
                                       priority=c.priority, bid_type=c.bid_type, bid=c.bid, kept=c.kept,
                                       stage=c.stage, rule=c.rule, detail=c.detail, pod_id=c.pod_id,  # type: ignore[arg-type]
                                       sequence=c.sequence, price_cpm=c.price_cpm, score=c.score)
                    for c in candidates],
        rejections=dict(decision.rejections), stages=dict(STAGES),
    )  # fmt: skip


def _param(value: str | None) -> str | None:
    """A tag parameter, or None when absent, empty or an unexpanded macro like '[IFA]'."""
    if value is None:
        return None
    value = value.strip()
    if not value or (value.startswith("[") and value.endswith("]")) or value.startswith("%%"):
        return None
    return value


def _int_param(name: str, value: str | None, low: int, high: int) -> int | None:
    text = _param(value)
    if text is None:
        return None
    try:
        number = int(text)
    except ValueError:
        raise ProblemError(400, f"{name}={text!r}: expected an integer in [{low}, {high}]", slug="invalid-tag") from None
    if not low <= number <= high:
        raise ProblemError(400, f"{name}={number}: expected an integer in [{low}, {high}]", slug="invalid-tag")
    return number


def _int_list_param(name: str, value: str | None, high: int) -> list[int]:
    """A comma-separated list of integers in [0, ``high``] (absent, empty or a macro: none); anything else
    is a 400 rather than parts silently dropped."""
    parts = _list_param(value)
    if not all(p.isascii() and p.isdigit() and int(p) <= high for p in parts):
        raise ProblemError(400, f"{name}={_param(value)!r}: expected comma-separated integers in [0, {high}]",
                           slug="invalid-tag")  # fmt: skip
    return [int(p) for p in parts]


def _list_param(value: str | None) -> list[str]:
    text = _param(value)
    return [p.strip() for p in text.split(",") if p.strip()] if text else []


MAX_GPP_SECTION = 99_999
"""GPP section ids (IAB GPP ``gpp_sid``, e.g. ``2,6``: small integers) as documented: at most five digits."""
MAX_FLOOR_CPM = 1e9
MACRO_PATTERN = r"^[ \t]*(\[.*\]|%%.*)?[ \t]*$"
"""An absent value as players send it: empty, or a macro left unexpanded ('[IFA]', '%%CACHEBUSTER%%')."""
GPP_SID_PATTERN = r"^[ \t]*[0-9]{1,5}([ \t]*,[ \t]*[0-9]{1,5})*[ \t]*$"
"""``gpp_sid`` as documented: section ids, comma-separated (range checked by :func:`_int_list_param`)."""


def _int(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def _macro_or(schema: dict[str, Any]) -> WithJsonSchema:
    """The documented schema of a numeric or list tag parameter: the value, or an unexpanded macro / nothing."""
    return WithJsonSchema({"anyOf": [schema, {"type": "string", "pattern": MACRO_PATTERN}]})


def vast_tag_request(params: dict[str, str | None], *, now: float) -> AdRequest | None:
    """The ad request of a VAST tag call (see :func:`vast_tag` for the parameters); None when no ad can
    fill it (``min_duration`` above ``max_duration``: an empty VAST, as for any unfilled tag)."""
    from ads.request import AdRequest, ContentContext, PodRequest, PrivacySignals, SlotSpec
    from data.normalize import maturity_of
    from services.protocols.openrtb import country_code, genres_of, hashed_viewer_key

    pod_duration = _int_param("pod_duration", params.get("pod_duration"), 1, 600)
    max_ads = _int_param("max_ads", params.get("max_ads"), 1, 10)
    min_dur = _int_param("min_duration", params.get("min_duration"), 1, 300) or 1
    max_dur = _int_param("max_duration", params.get("max_duration"), 1, 300) or (pod_duration or 60)
    floor_text = _param(params.get("floor"))
    try:
        floor = float(floor_text) if floor_text else 0.0
    except ValueError:
        raise ProblemError(400, f"floor={floor_text!r}: expected a CPM number", slug="invalid-tag") from None
    if not 0 <= floor <= MAX_FLOOR_CPM:
        raise ProblemError(400, f"floor={floor}: expected a CPM in [0, {MAX_FLOOR_CPM:g}]", slug="invalid-tag")
    mimes = frozenset(_list_param(params.get("mimes")) or ["video/mp4"])
    device_type = _int_param("device_type", params.get("device_type"), 1, 8)
    coppa, lmt = _int_param("coppa", params.get("coppa"), 0, 1), _int_param("lmt", params.get("lmt"), 0, 1)
    gdpr = _int_param("gdpr", params.get("gdpr"), 0, 1)
    sid = _int_list_param("gpp_sid", params.get("gpp_sid"), MAX_GPP_SECTION)
    if min_dur > max_dur:  # every parameter valid, together unfillable: checked after all of them
        return None
    slot = SlotSpec("1", mimes, min_dur, max_dur, floor_cpm=floor)
    if pod_duration is not None or (max_ads or 1) > 1:
        pod = PodRequest("1", (slot,), dynamic=True, pod_duration_s=pod_duration or max_dur * (max_ads or 1),
                         max_ads=max_ads)  # fmt: skip
    else:
        pod = PodRequest("1", (slot,))
    rating = _param(params.get("rating"))
    maturity = None
    if rating:
        _, level, known = maturity_of(rating)
        maturity = level if known else None
    uid, ifa = _param(params.get("uid")), _param(params.get("ifa"))
    return AdRequest(
        request_id=_param(params.get("cb")) or f"tag-{int(now * 1000)}", pods=(pod,), now=now,
        content=ContentContext(_param(params.get("content_id")), genres_of(_param(params.get("genre"))),
                               frozenset(_list_param(params.get("cat"))), maturity),
        profile_id=uid, viewer_key=hashed_viewer_key("user", uid) if uid else (
            hashed_viewer_key("ifa", ifa) if ifa else None),
        device_type=device_type,
        country=country_code(_param(params.get("country"))),
        privacy=PrivacySignals(coppa=bool(coppa),
                               gdpr=None if gdpr is None else bool(gdpr), tcf_consent=_param(params.get("gdpr_consent")),
                               us_privacy=_param(params.get("us_privacy")), gpp=_param(params.get("gpp")),
                               gpp_sid=tuple(sid), limit_ad_tracking=bool(lmt)),
        blocked_categories=frozenset(_list_param(params.get("bcat"))),
        blocked_advertisers=frozenset(d.lower() for d in _list_param(params.get("badv"))))  # fmt: skip


@router.get("/v1/ads/vast", summary="The decision as a VAST 4 tag (a pod of ads with sequence)",
            response_class=Response, responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}}},
                                                **problem_responses(400, s400="A parameter is out of range.")})  # fmt: skip
def vast_tag(
    request: Request,
    service: DecideTagDep,
    uid: Annotated[str | None, Query(description="Profile id (user.id).")] = None,
    ifa: Annotated[str | None, Query(description="[IFA] device advertising id.")] = None,
    content_id: Annotated[str | None, Query(description="Catalog title id being watched.")] = None,
    genre: Annotated[str | None, Query(description="Content genres, comma-separated.")] = None,
    cat: Annotated[str | None, Query(description="IAB content categories, comma-separated.")] = None,
    rating: Annotated[str | None, Query(description="Content rating (TV-MA, PG-13...).")] = None,
    device_type: Annotated[str | None, Query(description="OpenRTB device type 1-8."), _macro_or(_int(1, 8))] = None,
    country: Annotated[str | None, Query(description="ISO country (alpha-2 or alpha-3).")] = None,
    pod_duration: Annotated[str | None, Query(description="Break length in seconds (a dynamic pod)."),
                            _macro_or(_int(1, 600))] = None,  # fmt: skip
    max_ads: Annotated[str | None, Query(description="Most ads in the break."), _macro_or(_int(1, 10))] = None,
    min_duration: Annotated[str | None, Query(), _macro_or(_int(1, 300))] = None,
    max_duration: Annotated[str | None, Query(description="Above min_duration, or the tag gets an empty VAST."),
                            _macro_or(_int(1, 300))] = None,  # fmt: skip
    floor: Annotated[str | None, Query(description="CPM floor."),
                     _macro_or({"type": "number", "minimum": 0, "maximum": MAX_FLOOR_CPM})] = None,  # fmt: skip
    mimes: Annotated[str | None, Query(description="[MEDIAMIME] accepted types, comma-separated.")] = None,
    coppa: Annotated[str | None, Query(), _macro_or(_int(0, 1))] = None,
    gdpr: Annotated[str | None, Query(), _macro_or(_int(0, 1))] = None,
    gdpr_consent: Annotated[str | None, Query(description="[GDPRCONSENT] TCF v2 string.")] = None,
    us_privacy: Annotated[str | None, Query()] = None,
    gpp: Annotated[str | None, Query()] = None,
    gpp_sid: Annotated[str | None, Query(description="[GPP_SID] GPP section ids, comma-separated."),
                       _macro_or({"type": "string", "pattern": GPP_SID_PATTERN})] = None,
    lmt: Annotated[str | None, Query(description="[LIMITADTRACKING]"), _macro_or(_int(0, 1))] = None,
    bcat: Annotated[str | None, Query()] = None,
    badv: Annotated[str | None, Query()] = None,
    cb: Annotated[str | None, Query(description="[CACHEBUSTING]")] = None,
) -> Response:
    """A VAST tag: every parameter is optional; macros left unexpanded by the player count as absent."""
    from services.protocols.vast import build_vast

    params = {k: v for k, v in locals().items() if k not in ("request", "service") and isinstance(v, str | None)}
    ad_request = vast_tag_request(params, now=time.time())
    if ad_request is None:
        return Response(build_vast([]), media_type="application/xml", headers={"x-marquee-regime": "none"})
    decision = service.engine.decide(ad_request)
    base = str(request.base_url)
    ads = [placement_vast_ad(p, base, service.signer, sequence=p.sequence) for p in decision.placements]
    return Response(build_vast(ads), media_type="application/xml",
                    headers={"x-marquee-regime": decision.regime.regime.value})  # fmt: skip


# ------------------------------------------------------------------------------------------ tracking


@router.get("/v1/ads/track/{event}", status_code=204, response_class=Response,
            responses=problem_responses(403, 410, s403="The token is malformed or forged.",
                                        s410="The token has expired."),
            summary="Tracking pixel: impression, quartiles, complete, click, error (idempotent)")  # fmt: skip
def track(
    event: Annotated[TrackingEvent, PathParam(description="The tracked event.")],
    service: ServiceDep,
    t: Annotated[str, Query(min_length=8, max_length=2048, description="The signed token of the tracking URL.")],
) -> Response:
    now = time.time()
    ticket = service.signer.verify(t, now=now)  # InvalidTrackingTokenError: 403, or 410 when expired
    new = service.engine.delivery.apply(event, ticket, now)  # durable, once per (impression, event)
    return Response(status_code=204, headers={"x-marquee-tracked": "new" if new else "duplicate"})


# ------------------------------------------------------------------------------------------ admin


def _normalize(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Validate one document and return its canonical form (ISO times, sorted sets)."""
    from ads import inventory

    parse = {"advertiser": inventory.advertiser_from_dict, "campaign": inventory.campaign_from_dict,
             "line_item": inventory.line_item_from_dict, "creative": inventory.creative_from_dict}[kind]  # fmt: skip
    return parse(doc).to_dict()  # type: ignore[no-any-return, attr-defined]


def _write(service: AdsService, kind: str, doc: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """Validate ``doc`` alone and within the whole inventory, then store it and swap the engine's inventory.

    ``InvalidInventoryError`` and ``UnknownEntityError`` propagate (422 problems, see services/errors.py)."""
    with service._write_lock:
        canonical = _normalize(kind, doc)
        if create and service.store.exists(kind, canonical["id"]):
            raise ProblemError(409, f"{kind} {canonical['id']!r} already exists; PATCH it instead", slug="conflict")
        docs = service.store.inventory_docs()
        group = {"advertiser": "advertisers", "campaign": "campaigns", "line_item": "line_items",
                 "creative": "creatives"}[kind]  # fmt: skip
        docs[group] = [d for d in docs[group] if d.get("id") != canonical["id"]] + [canonical]
        inventory = service.build_inventory(docs)
        service.store.put(kind, canonical)
        service.engine.set_inventory(inventory)
    return canonical


def _get(service: AdsService, kind: str, entity_id: str) -> dict[str, Any]:
    """The stored document (``EntityNotFoundError`` propagates: a 404 problem)."""
    return service.store.get(kind, entity_id)  # type: ignore[no-any-return]


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if key in ("targeting", "caps", "universal_ad_id") and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


DEMO_KEYS: dict[str, str] = {"decide": "demo-decide-key", "admin": "demo-admin-key"}
"""The documented demo keys (``Settings.api_keys``'s default)."""


class DemoKeysResponse(BaseModel):
    """The demo keys this server accepts, by scope (for the console in development)."""

    keys: dict[str, str] = Field(examples=[DEMO_KEYS])


@router.get("/v1/ads/demo-keys", response_model=DemoKeysResponse,
            responses=problem_responses(404, s404="The server runs with its own keys, not the demo ones."),
            summary="The public demo API keys, only while the server still accepts them")  # fmt: skip
def demo_keys(ring: auth.KeyRingDep) -> DemoKeysResponse:
    """Lets the console prefill its key fields in development without any key in its source. Only the
    documented demo keys are ever returned, and only those the server accepts with that scope; a server
    configured with its own keys answers 404, and the console asks the user to paste one."""
    keys = {scope: key for scope, key in DEMO_KEYS.items() if ring.accepts(key, scope)}
    if not keys:
        raise ProblemError(404, "this server does not accept the demo keys; paste an API key", slug="no-demo-keys")
    return DemoKeysResponse(keys=keys)


@router.get("/v1/ads/status", summary="Inventory counts, model and feature availability (admin)")
def ads_status(service: AdminDep) -> dict[str, Any]:
    store = service.store
    inventory = service.engine.inventory
    return {
        "inventory": {k: store.count(KIND_OF[c]) for c, k in (("advertisers", "advertisers"),
                      ("campaigns", "campaigns"), ("line-items", "line_items"), ("creatives", "creatives"))},
        "active_line_items": sum(1 for v in inventory.views if v.active),
        "briefs_embedded": len(inventory.brief_embeddings), "briefs": len(inventory.briefs()),
        "model": service.model_note, "features": service.features_note,
    }  # fmt: skip


@router.get("/v1/ads/{collection}", summary="List advertisers, campaigns, line items or creatives (admin)")
def list_entities(
    collection: Collection,
    service: AdminDep,
    status: Annotated[Literal["active", "paused", "archived"] | None, Query()] = None,
    parent_id: Annotated[str | None, Query(description="advertiser id (campaigns, creatives) or campaign id "
                                                       "(line items)")] = None,  # fmt: skip
) -> dict[str, Any]:
    items = service.store.documents(KIND_OF[collection], parent_id=parent_id, status=status)
    return {"items": items, "count": len(items)}


_WRITE_422 = ("The entity is invalid alone or within the inventory (its problems are listed), or names an entity "
              "that does not exist. Cross-field rules (end after start, min <= max, references) are not in the schema.")


@router.post("/v1/ads/{collection}", status_code=201, summary="Create an inventory entity (admin)",
             responses=problem_responses(409, 422, s422=_WRITE_422))
def create_entity(
    collection: Collection,
    service: AdminDep,
    doc: Annotated[dict[str, Any], Body(description="The entity (see ads.inventory for every field).")],
) -> dict[str, Any]:
    return _write(service, KIND_OF[collection], doc, create=True)


@router.get("/v1/ads/{collection}/{entity_id}", summary="Read one inventory entity (admin)",
            responses=problem_responses(404))
def get_entity(collection: Collection, entity_id: str, service: AdminDep) -> dict[str, Any]:
    return _get(service, KIND_OF[collection], entity_id)


@router.patch("/v1/ads/{collection}/{entity_id}", summary="Update fields of an inventory entity (admin)",
              responses=problem_responses(404, 422, s422=_WRITE_422))
def update_entity(
    collection: Collection, entity_id: str, service: AdminDep,
    patch: Annotated[dict[str, Any], Body(description="Fields to change; targeting/caps merge one level deep.")],
) -> dict[str, Any]:  # fmt: skip
    kind = KIND_OF[collection]
    if "id" in patch and patch["id"] != entity_id:
        raise ProblemError(422, f"id={patch['id']!r}: expected {entity_id!r} (ids cannot change)", slug="invalid-inventory")
    return _write(service, kind, _merge(_get(service, kind, entity_id), patch), create=False)


@router.post("/v1/ads/{collection}/{entity_id}/pause", summary="Pause an entity (admin)",
             responses=problem_responses(404, 422, s422=_WRITE_422))
def pause_entity(collection: Collection, entity_id: str, service: AdminDep) -> dict[str, Any]:
    kind = KIND_OF[collection]
    return _write(service, kind, {**_get(service, kind, entity_id), "status": "paused"}, create=False)


@router.post("/v1/ads/{collection}/{entity_id}/resume", summary="Resume a paused entity (admin)",
             responses=problem_responses(404, 422, s422=_WRITE_422))
def resume_entity(collection: Collection, entity_id: str, service: AdminDep) -> dict[str, Any]:
    kind = KIND_OF[collection]
    return _write(service, kind, {**_get(service, kind, entity_id), "status": "active"}, create=False)


@router.get("/v1/ads/line-items/{entity_id}/delivery", summary="Spend, pacing and events of a line item (admin)",
            responses=problem_responses(404))
def line_item_delivery(entity_id: str, service: AdminDep) -> dict[str, Any]:
    from ads.inventory import line_item_from_dict
    from ads.pacing import schedule_target

    li = line_item_from_dict(_get(service, "line_item", entity_id))
    now = time.time()
    view = next((v for v in service.engine.inventory.views if v.id == entity_id), None)
    start, end = (view.start, view.end) if view is not None else (li.start, li.end)
    spent = service.engine.delivery.committed_spend(entity_id)
    target = schedule_target(li.budget, start, end, now)
    return {
        "line_item_id": entity_id, "budget": li.budget, "pacing": li.pacing, "spend": round(spent, 6),
        "reserved": round(service.engine.delivery.spend(entity_id, now) - spent, 6),
        "even_schedule_target": round(target, 6),
        "pacing_error": round((spent - target) / li.budget, 6) if li.budget > 0 else 0.0,
        "events": service.engine.delivery.event_counts(entity_id), "days": service.store.delivery_report(entity_id),
    }  # fmt: skip
