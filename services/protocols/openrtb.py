"""OpenRTB 2.6 (the subset a video ad decision reads) as pydantic models, and the translation to and
from ``ads``.

Every object allows unknown fields (``extra="allow"``), as the specification requires of bidders;
only the fields Marquee reads are typed, with the 2.5 ``ext`` locations accepted as fallbacks
(``regs.ext.gdpr``, ``regs.ext.us_privacy``, ``user.ext.consent``). A request that fails these
models — missing ``id``/``imp``, a video without ``mimes``, wrong types — is malformed (HTTP 400);
a well-formed request Marquee cannot fill is a no-bid (HTTP 204).

Pods (2.6 §7.6): video imps sharing ``podid`` form one pod. One imp with ``poddur`` is a *dynamic*
pod (up to ``maxseq`` ads within ``poddur`` seconds, each within ``minduration``/``maxduration``
or ``rqddurs``); several imps are a *structured* pod, one ad per imp; an imp without ``podid`` is
a pod of its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ads.request import AdRequest, ContentContext, PodRequest, PrivacySignals, SlotSpec
from ads.selector import Decision, Placement
from data.normalize import GENRES, MOVIELENS_GENRES, NETFLIX_GENRES, TMDB_GENRES, fold, maturity_of
from services.body_limit import INTEGRAL, JsonInt

MAX_DURATION_S = 3600
"""Longest ad, break or duration bound accepted (seconds): an hour."""
MAX_POD_ADS = 30
"""Most ads one pod may ask for (``maxseq``); a larger break is a malformed request (400)."""
NO_BID_INVALID_REQUEST = 2
"""OpenRTB no-bid reason code 2: invalid request."""
VIDEO_MARKUP = 2  # Bid.mtype: video
INSTREAM = 1
"""Video.plcmt Marquee sells: in-stream ads in its own content (other placements get no bid)."""
PROTOCOL_VERSIONS: dict[int, str] = {13: "4.2", 11: "4.1", 7: "4.0"}
"""OpenRTB protocol ids of inline VAST 4.x -> the VAST version Marquee writes."""


class _Open(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", populate_by_name=True)


class Geo(_Open):
    country: str | None = Field(default=None, description="ISO-3166-1 alpha-3 (alpha-2 tolerated).")


class Device(_Open):
    ua: str | None = None
    ip: str | None = None
    devicetype: Annotated[int, Field(ge=1, le=8), INTEGRAL] | None = Field(default=None, description="AdCOM DeviceType.")
    ifa: str | None = None
    lmt: Annotated[int, Field(ge=0, le=1), INTEGRAL] | None = Field(default=None)
    geo: Geo | None = None


class Content(_Open):
    id: str | None = Field(default=None, description="The catalog title id, e.g. 'tmdb:603'.")
    title: str | None = None
    series: str | None = None
    genre: str | None = Field(default=None, description="Genres, comma-separated.")
    cat: list[str] | None = None
    cattax: JsonInt | None = None
    contentrating: str | None = None
    language: str | None = None
    livestream: JsonInt | None = None
    len: JsonInt | None = None


class App(_Open):
    id: str | None = None
    bundle: str | None = None
    content: Content | None = None


class Site(_Open):
    id: str | None = None
    domain: str | None = None
    content: Content | None = None


class User(_Open):
    id: str | None = None
    buyeruid: str | None = None
    consent: str | None = None
    geo: Geo | None = None
    ext: dict[str, Any] | None = None


class Regs(_Open):
    coppa: Annotated[int, Field(ge=0, le=1), INTEGRAL] | None = Field(default=None)
    gdpr: Annotated[int, Field(ge=0, le=1), INTEGRAL] | None = Field(default=None)
    us_privacy: str | None = None
    gpp: str | None = None
    gpp_sid: list[JsonInt] | None = None
    ext: dict[str, Any] | None = None


class Video(_Open):
    mimes: list[str] = Field(min_length=1, description="Required: accepted MIME types.")
    minduration: Annotated[int, Field(ge=0, le=MAX_DURATION_S), INTEGRAL] | None = Field(default=None)
    maxduration: Annotated[int, Field(ge=1, le=MAX_DURATION_S), INTEGRAL] | None = Field(default=None)
    rqddurs: list[Annotated[int, Field(ge=1, le=MAX_DURATION_S), INTEGRAL]] | None = Field(default=None, max_length=100)
    protocols: list[JsonInt] | None = None
    w: JsonInt | None = None
    h: JsonInt | None = None
    startdelay: JsonInt | None = None
    plcmt: Annotated[int, Field(ge=1, le=4), INTEGRAL] | None = Field(default=None, description="2.6 placement: 1 instream ... 4 standalone.")
    placement: JsonInt | None = None
    podid: str | None = None
    podseq: JsonInt | None = None
    slotinpod: Annotated[int, Field(ge=-1, le=2), INTEGRAL] | None = Field(default=None)
    poddur: Annotated[int, Field(ge=1, le=MAX_DURATION_S), INTEGRAL] | None = Field(default=None)
    maxseq: Annotated[int, Field(ge=1, le=MAX_POD_ADS), INTEGRAL] | None = Field(default=None)
    mincpmpersec: float | None = Field(default=None, ge=0, le=1e6)
    linearity: JsonInt | None = None


class Imp(_Open):
    id: str = Field(min_length=1)
    video: Video | None = None
    bidfloor: float = Field(default=0.0, ge=0, le=1e9)
    bidfloorcur: str = "USD"
    secure: JsonInt | None = None


class BidRequest(_Open):
    id: str = Field(min_length=1)
    imp: list[Imp] = Field(min_length=1)
    app: App | None = None
    site: Site | None = None
    device: Device | None = None
    user: User | None = None
    regs: Regs | None = None
    bcat: list[str] | None = None
    cattax: JsonInt | None = None
    badv: list[str] | None = None
    tmax: Annotated[int, Field(ge=1), INTEGRAL] | None = Field(default=None)
    test: JsonInt | None = None
    at: JsonInt | None = None
    cur: list[str] | None = None


class Bid(_Open):
    id: str
    impid: str
    price: float
    adm: str | None = None
    adid: str | None = None
    adomain: list[str] | None = None
    cat: list[str] | None = None
    cattax: int | None = None
    crid: str | None = None
    cid: str | None = None
    dur: int | None = None
    slotinpod: int | None = None
    mtype: int | None = None
    protocol: int | None = None
    ext: dict[str, Any] | None = None


class SeatBid(_Open):
    bid: list[Bid]
    seat: str | None = None


class BidResponse(_Open):
    id: str
    seatbid: list[SeatBid] = Field(default_factory=list)
    bidid: str | None = None
    cur: str = "USD"
    nbr: int | None = None


# ------------------------------------------------------------------------------------------ genres and countries

_GENRE_WORDS: dict[str, tuple[str, ...]] = {fold(g): (g,) for g in GENRES}
for _vocab in (NETFLIX_GENRES, MOVIELENS_GENRES, TMDB_GENRES):
    for _label, _genres in _vocab.items():
        _GENRE_WORDS.setdefault(fold(_label), _genres)
_GENRE_WORDS.update({"science fiction": ("sci-fi",), "scifi": ("sci-fi",), "kids": ("children",),
                     "documentaries": ("documentary",), "comedies": ("comedy",), "dramas": ("drama",)})  # fmt: skip

ALPHA3_TO_ALPHA2: dict[str, str] = {
    "USA": "US", "CAN": "CA", "MEX": "MX", "BRA": "BR", "ARG": "AR", "CHL": "CL", "COL": "CO", "PER": "PE",
    "GBR": "GB", "IRL": "IE", "FRA": "FR", "DEU": "DE", "ESP": "ES", "ITA": "IT", "PRT": "PT", "NLD": "NL",
    "BEL": "BE", "LUX": "LU", "CHE": "CH", "AUT": "AT", "DNK": "DK", "SWE": "SE", "NOR": "NO", "FIN": "FI",
    "ISL": "IS", "POL": "PL", "CZE": "CZ", "SVK": "SK", "HUN": "HU", "ROU": "RO", "BGR": "BG", "GRC": "GR",
    "HRV": "HR", "SVN": "SI", "EST": "EE", "LVA": "LV", "LTU": "LT", "TUR": "TR", "RUS": "RU", "UKR": "UA",
    "ISR": "IL", "ARE": "AE", "SAU": "SA", "EGY": "EG", "ZAF": "ZA", "NGA": "NG", "KEN": "KE", "MAR": "MA",
    "IND": "IN", "PAK": "PK", "CHN": "CN", "HKG": "HK", "TWN": "TW", "JPN": "JP", "KOR": "KR", "SGP": "SG",
    "MYS": "MY", "THA": "TH", "VNM": "VN", "IDN": "ID", "PHL": "PH", "AUS": "AU", "NZL": "NZ",
}  # fmt: skip


def genres_of(text: str | None) -> frozenset[str]:
    """``content.genre`` ('Sci-Fi, Thriller' / 'Science Fiction') -> names of ``data.normalize.GENRES``."""
    out: set[str] = set()
    for part in (text or "").replace("|", ",").replace("/", ",").split(","):
        out.update(_GENRE_WORDS.get(fold(part), ()))
    return frozenset(out)


def country_code(value: str | None) -> str | None:
    """OpenRTB alpha-3 (or alpha-2) country -> alpha-2; None when unknown."""
    if not value:
        return None
    code = value.strip().upper()
    if len(code) == 2 and code.isalpha():
        return code
    return ALPHA3_TO_ALPHA2.get(code)


def hashed_viewer_key(kind: str, identifier: str) -> str:
    """The frequency-cap key stored for a user id or device id (raw ids are never stored)."""
    return hashlib.blake2b(f"{kind}:{identifier}".encode(), digest_size=16).hexdigest()


# ------------------------------------------------------------------------------------------ translation


def _slot(imp: Imp) -> SlotSpec:
    video = imp.video
    assert video is not None
    return SlotSpec(
        imp_id=imp.id, mimes=frozenset(video.mimes), min_duration_s=max(video.minduration or 1, 1),
        max_duration_s=video.maxduration or 300, required_durations=frozenset(video.rqddurs or ()),
        protocols=frozenset(video.protocols or ()), floor_cpm=imp.bidfloor, min_cpm_per_s=video.mincpmpersec or 0.0,
        slot_in_pod=video.slotinpod or 0, width=video.w, height=video.h)  # fmt: skip


def to_ad_request(request: BidRequest, *, now: float) -> AdRequest | None:
    """The protocol-neutral request, or None when no imp is a video Marquee could fill (a no-bid)."""
    videos = [imp for imp in request.imp if imp.video is not None and (imp.video.plcmt or INSTREAM) == INSTREAM]
    if not videos:
        return None
    groups: dict[str, list[Imp]] = {}
    for imp in videos:
        key = f"pod:{imp.video.podid}" if imp.video and imp.video.podid else f"imp:{imp.id}"
        groups.setdefault(key, []).append(imp)
    pods = []
    for key, imps in groups.items():
        first = imps[0].video
        assert first is not None
        pod_id = key.split(":", 1)[1]
        if len(imps) == 1 and first.poddur:
            pods.append(PodRequest(pod_id, (_slot(imps[0]),), dynamic=True, pod_duration_s=first.poddur,
                                   max_ads=first.maxseq, pod_sequence=first.podseq or 0))  # fmt: skip
        else:
            pods.append(PodRequest(pod_id, tuple(_slot(i) for i in imps), pod_duration_s=first.poddur,
                                   pod_sequence=first.podseq or 0))  # fmt: skip
    content = (request.app.content if request.app and request.app.content else
               request.site.content if request.site and request.site.content else None)  # fmt: skip
    maturity = None
    if content is not None and content.contentrating:
        _, level, known = maturity_of(content.contentrating)
        maturity = level if known else None
    context = ContentContext(
        title_id=content.id if content else None, genres=genres_of(content.genre if content else None),
        categories=frozenset(content.cat or ()) if content else frozenset(), maturity_level=maturity,
        language=content.language if content else None)  # fmt: skip
    regs, user, device = request.regs or Regs(), request.user or User(), request.device or Device()
    regs_ext, user_ext = regs.ext or {}, user.ext or {}
    gdpr = regs.gdpr if regs.gdpr is not None else regs_ext.get("gdpr")
    privacy = PrivacySignals(
        coppa=bool(regs.coppa), gdpr=None if gdpr is None else bool(gdpr),
        tcf_consent=user.consent or (user_ext.get("consent") if isinstance(user_ext.get("consent"), str) else None),
        us_privacy=regs.us_privacy or regs_ext.get("us_privacy"), gpp=regs.gpp, gpp_sid=tuple(regs.gpp_sid or ()),
        limit_ad_tracking=bool(device.lmt))  # fmt: skip
    viewer = hashed_viewer_key("user", user.id) if user.id else (
        hashed_viewer_key("ifa", device.ifa) if device.ifa else None)  # fmt: skip
    geo = device.geo or user.geo
    return AdRequest(
        request_id=request.id, pods=tuple(pods), now=now, content=context, profile_id=user.id, viewer_key=viewer,
        device_type=device.devicetype, country=country_code(geo.country if geo else None), privacy=privacy,
        blocked_categories=frozenset(request.bcat or ()), blocked_cattax=request.cattax or 1,
        blocked_advertisers=frozenset(d.lower() for d in request.badv or ()), test=bool(request.test))  # fmt: skip


def vast_version_for(protocols: frozenset[int]) -> tuple[str, int]:
    """(VAST version, OpenRTB protocol id) to answer a slot accepting ``protocols`` (default 4.2)."""
    for protocol, version in PROTOCOL_VERSIONS.items():
        if not protocols or protocol in protocols:
            return version, protocol
    return "4.2", 13


def _slot_in_pod(placement: Placement, count: int) -> int:
    if count == 1:
        return 0
    if placement.sequence == 1:
        return 1
    return -1 if placement.sequence == count else 0


def bid_response(request: AdRequest, decision: Decision, markup: Callable[[Placement, str], str]) -> BidResponse:
    """The BidResponse of ``decision``: one bid per placed ad; ``markup(placement, vast_version)`` makes
    its ``adm``."""
    slots = {s.imp_id: s for pod in request.pods for s in pod.slots}
    bids = []
    for placement in decision.placements:
        version, protocol = vast_version_for(slots[placement.imp_id].protocols)
        pod_size = len(decision.pod(placement.pod_id))
        creative, view = placement.creative, placement.view
        bids.append(Bid(
            id=placement.ticket.impression_id, impid=placement.imp_id, price=round(placement.price_cpm, 4),
            adm=markup(placement, version), adid=view.id, adomain=[view.advertiser.domain],
            cat=list(creative.categories), cattax=creative.cattax, crid=creative.id, cid=view.campaign.id,
            dur=creative.duration_s, slotinpod=_slot_in_pod(placement, pod_size), mtype=VIDEO_MARKUP,
            protocol=protocol, ext={"marquee": {"pod_id": placement.pod_id, "sequence": placement.sequence,
                                                "regime": decision.regime.regime.value}}))  # fmt: skip
    return BidResponse(id=request.request_id, seatbid=[SeatBid(bid=bids, seat="marquee")], bidid=request.request_id)


def invalid_request_body(request_id: str | None, errors: Sequence[str]) -> dict[str, Any]:
    """The body of a 400: a BidResponse carrying no-bid reason 2 (invalid request) and the problems."""
    return {"id": request_id or "", "nbr": NO_BID_INVALID_REQUEST, "ext": {"errors": list(errors)}}
