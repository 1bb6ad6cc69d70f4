"""A protocol-neutral ad request: what OpenRTB bid requests and VAST tag calls are translated into.

``services/protocols/openrtb.py`` and the VAST tag endpoint build :class:`AdRequest`; selection
(``ads.selector``) reads nothing else about the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ads.errors import InvalidAdRequestError

VAST4_INLINE_PROTOCOLS: frozenset[int] = frozenset({7, 11, 13})
"""OpenRTB/AdCOM creative subtypes Marquee can answer with: VAST 4.0, 4.1, 4.2 (inline, not wrapper)."""


@dataclass(frozen=True)
class SlotSpec:
    """One ad position: OpenRTB ``imp`` video constraints.

    ``required_durations`` (``rqddurs``) overrides [``min_duration_s``, ``max_duration_s``] when set.
    ``floor_cpm`` is the ``bidfloor``; ``min_cpm_per_s`` (``mincpmpersec``) adds a per-second floor.
    ``slot_in_pod``: OpenRTB ``slotinpod`` (1 first, -1 last, 2 first or last, 0 any).
    """

    imp_id: str
    mimes: frozenset[str]
    min_duration_s: int = 1
    max_duration_s: int = 300
    required_durations: frozenset[int] = frozenset()
    protocols: frozenset[int] = frozenset()
    floor_cpm: float = 0.0
    min_cpm_per_s: float = 0.0
    slot_in_pod: int = 0
    width: int | None = None
    height: int | None = None

    def fits_duration(self, duration_s: int) -> bool:
        if self.required_durations:
            return duration_s in self.required_durations
        return self.min_duration_s <= duration_s <= self.max_duration_s

    def fits_protocols(self) -> bool:
        return not self.protocols or bool(self.protocols & VAST4_INLINE_PROTOCOLS)

    def floor_for(self, duration_s: int) -> float:
        """The CPM a bid must reach for an ad of ``duration_s`` seconds."""
        return max(self.floor_cpm, self.min_cpm_per_s * duration_s)


@dataclass(frozen=True)
class PodRequest:
    """An ad break. Structured pods list one slot per position (``dynamic=False``); a dynamic pod has
    one slot template filled up to ``max_ads`` times within ``pod_duration_s`` seconds."""

    pod_id: str
    slots: tuple[SlotSpec, ...]
    dynamic: bool = False
    pod_duration_s: int | None = None
    max_ads: int | None = None
    pod_sequence: int = 0

    def __post_init__(self) -> None:
        if not self.slots:
            raise InvalidAdRequestError(f"pod {self.pod_id!r} has no slot; expected at least one imp")
        if self.dynamic and len(self.slots) != 1:
            raise InvalidAdRequestError(f"dynamic pod {self.pod_id!r} has {len(self.slots)} slot templates; "
                                        "expected exactly 1")  # fmt: skip
        if self.pod_duration_s is not None and self.pod_duration_s <= 0:
            raise InvalidAdRequestError(f"pod {self.pod_id!r} duration {self.pod_duration_s}: expected > 0 s")

    @property
    def capacity(self) -> int:
        """The most ads the pod can take."""
        if not self.dynamic:
            return len(self.slots)
        if self.max_ads:
            return self.max_ads
        slot = self.slots[0]
        shortest = min(slot.required_durations) if slot.required_durations else max(slot.min_duration_s, 1)
        return max(1, (self.pod_duration_s or slot.max_duration_s) // shortest)

    @property
    def duration_budget_s(self) -> int:
        """The pod's total seconds (``poddur``; for a structured pod, the sum of the slots' maxima)."""
        if self.pod_duration_s is not None:
            return self.pod_duration_s
        if self.dynamic:
            return self.slots[0].max_duration_s * self.capacity
        return sum(max(s.required_durations) if s.required_durations else s.max_duration_s for s in self.slots)


@dataclass(frozen=True)
class PrivacySignals:
    """Regulatory signals of a request (OpenRTB ``regs``, ``user.consent``, ``device.lmt``)."""

    coppa: bool = False
    gdpr: bool | None = None
    tcf_consent: str | None = None
    us_privacy: str | None = None
    gpp: str | None = None
    gpp_sid: tuple[int, ...] = ()
    limit_ad_tracking: bool = False


@dataclass(frozen=True)
class ContentContext:
    """What is being watched. ``title_id`` is a catalog id (OpenRTB ``app.content.id``); ``genres`` come
    from the request and are completed from the title features; ``maturity_level`` None = unknown
    (treated as adults unless the title features know better)."""

    title_id: str | None = None
    genres: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    maturity_level: int | None = None
    language: str | None = None


@dataclass(frozen=True)
class AdRequest:
    """One decision request: pods to fill for one viewer watching one title.

    ``profile_id`` is the catalog profile (OpenRTB ``user.id``) used for features, ``viewer_key`` the
    identifier frequency caps count against (the profile id or the device's advertising id, hashed by
    the caller); without a ``viewer_key`` line items with caps cannot serve. ``now`` is unix seconds.
    """

    request_id: str
    pods: tuple[PodRequest, ...]
    now: float
    content: ContentContext = field(default_factory=ContentContext)
    profile_id: str | None = None
    viewer_key: str | None = None
    device_type: int | None = None
    country: str | None = None
    privacy: PrivacySignals = field(default_factory=PrivacySignals)
    blocked_categories: frozenset[str] = frozenset()
    blocked_cattax: int = 1
    blocked_advertisers: frozenset[str] = frozenset()
    test: bool = False

    def __post_init__(self) -> None:
        if not self.pods:
            raise InvalidAdRequestError(f"request {self.request_id!r} has no pod; expected at least one")
