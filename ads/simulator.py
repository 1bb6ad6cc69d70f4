"""A documented simulator of viewers and their responses to ads, on the real catalog and history.

It produces a day of ad-break requests from real profiles watching titles from their own history
(plus COPPA traffic and the catalog's kids profile), and answers each played ad with VAST tracking
events drawn from a hidden response model. The pCTR/completion model is trained on its logs; the
benchmark replays a day against the selectors. Everything is seeded.

Traffic (:meth:`ViewerSimulator.traffic`)
    * sessions: each adult profile watches Poisson(λ) sessions in the day (at most 8), λ ∝
      exp(0.5 × activity_level) (heavier viewers watch more), scaled so the day has ``sessions``
      in all (1,400 by default: about 2.3 per profile); the kids profiles share 4% of the sessions
      and a kids app 4% more (COPPA, on a household's device); a session starts at a time drawn
      from a diurnal curve (evening peak at 20-21 h UTC, trough at 3-4 h) on a device from the
      profile's seeded mix (connected TV 45%, set-top box 7%, phone 18%, tablet 8%, PC 15%,
      mobile/tablet 7%);
    * the title: drawn from the profile's own history by its recency weights (a kids profile, or a
      COPPA session, draws a kids/older-kids title by popularity);
    * breaks: a pre-roll (30 s, up to 2 ads) then 1-4 mid-rolls (60/90/120 s, up to 4 ads) every
      20-30 minutes; each break is one request (as a server-side ad insertion service asks);
    * markets: each profile gets a seeded country (US 55%, CA 8%, GB 8%, FR 8%, DE 8%, ES 5%, IT 4%,
      NL 4%; a stored country wins); EU/UK viewers are under GDPR and consent to personalized ads
      with probability 0.6 (a TCF v2 string with purposes 1, 3, 4, 7; otherwise purposes 1 only);
      10% of US viewers send a US Privacy opt-out; 3% of sessions have limit-ad-tracking;
    * kids-app sessions send ``regs.coppa=1`` and no user id; caps count per household device;
    * floors: 5 USD CPM (70%), 10 (20%) or 20 (10%); 10% of requests block alcohol (``IAB8-5``),
      5% block a random advertiser domain; 8% ask for exact 15/30 s durations; 3% accept only
      VAST 2/3 (Marquee cannot answer those).

Responses (:meth:`ViewerSimulator.respond`) — hidden from the selector:
    ``logit P(complete) = 1.4 + device + hour − 0.5 (duration − 15)/15 − 0.2 position
    + 5 (interest − mean interest) + 3 (relevance − 0.8) + creative quality``,
    ``logit P(click) = −4.2 + device' + 6 (interest − mean interest) + 2 (relevance − 0.8)
    + creative click quality``, where ``interest`` = Σ_g profile genre affinity[g] × the ad
    category's hidden appeal to genre g (:data:`CATEGORY_APPEAL`), ``relevance`` = cosine(title
    embedding, brief embedding) when both exist (else 0.8, neutral), device effects are in
    :data:`DEVICE_COMPLETE`/:data:`DEVICE_CLICK`, late night (0-5 h) costs 0.3, and creative
    qualities are seeded normal draws (σ 0.4 and 0.3). The viewer is the same person whatever the
    privacy regime: their true interests drive the response even when the selector may not read them.
    Played ads always fire ``impression`` and ``start``; a non-completing ad stops uniformly after
    start, first quartile, midpoint or third quartile; a click fires with P(click).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ads.delivery import day_of
from ads.inventory import Inventory, top_category
from ads.privacy import encode_tcf_core
from ads.request import AdRequest, ContentContext, PodRequest, PrivacySignals, SlotSpec
from ads.selector import AdEngine, Placement
from data.events import History, Profile
from data.normalize import GENRES, MATURITY_LEVELS
from features import ProfileFeatures, TitleFeatures, compute_profile_features

_G = {g: i for i, g in enumerate(GENRES)}
MATURITY_NAMES = {level: name for name, level in MATURITY_LEVELS.items()}

CATEGORY_APPEAL: dict[str, dict[str, float]] = {
    "IAB2": {"action": 1.0, "adventure": 0.8, "sci-fi": 0.6, "thriller": 0.5, "documentary": 0.4},
    "IAB19": {"sci-fi": 1.0, "documentary": 0.7, "science-nature": 0.8, "thriller": 0.4, "action": 0.3},
    "IAB8": {"comedy": 0.8, "family": 0.7, "children": 0.8, "animation": 0.6, "romance": 0.4},
    "IAB9": {"children": 1.0, "animation": 0.9, "family": 0.8, "fantasy": 0.5, "sci-fi": 0.6, "action": 0.4},
    "IAB13": {"drama": 0.7, "documentary": 0.8, "crime": 0.5, "history": 0.6, "thriller": 0.3},
    "IAB20": {"adventure": 0.9, "documentary": 0.8, "romance": 0.6, "international": 0.7, "comedy": 0.3},
    "IAB18": {"romance": 1.0, "comedy": 0.7, "drama": 0.6, "musical": 0.6, "music": 0.5},
    "IAB7": {"documentary": 0.7, "drama": 0.6, "family": 0.5, "romance": 0.3},
    "IAB22": {"comedy": 0.7, "romance": 0.6, "family": 0.5, "drama": 0.4, "action": 0.3},
    "IAB17": {"sports": 1.0, "action": 0.6, "documentary": 0.5, "adventure": 0.5},
    "IAB1": {"horror": 0.9, "thriller": 0.8, "fantasy": 0.7, "sci-fi": 0.6, "animation": 0.5, "mystery": 0.6},
    "IAB16": {"family": 0.9, "children": 0.8, "comedy": 0.5, "animation": 0.6},
}
"""Hidden appeal of each top-level ad category to viewers of each genre (0..1; absent = 0.1)."""
_APPEAL_DEFAULT = 0.1
DEVICE_COMPLETE: dict[int, float] = {0: 0.0, 1: -0.3, 2: -0.2, 3: 0.6, 4: -0.4, 5: -0.1, 6: 0.2, 7: 0.5, 8: 0.0}
DEVICE_CLICK: dict[int, float] = {0: 0.0, 1: 0.8, 2: 0.7, 3: -1.2, 4: 0.9, 5: 0.6, 6: -0.8, 7: -1.3, 8: -2.0}
_DIURNAL = np.array([0.6, 0.4, 0.3, 0.25, 0.25, 0.3, 0.5, 0.8, 1.0, 1.1, 1.2, 1.3, 1.4, 1.4, 1.5, 1.7, 2.0,
                     2.5, 3.2, 3.8, 4.0, 3.6, 2.6, 1.4])  # fmt: skip
_DEVICES = (3, 7, 4, 5, 2, 1)
_DEVICE_P = np.array([0.45, 0.07, 0.18, 0.08, 0.15, 0.07])
_COUNTRIES = ("US", "CA", "GB", "FR", "DE", "ES", "IT", "NL")
_COUNTRY_P = np.array([0.55, 0.08, 0.08, 0.08, 0.08, 0.05, 0.04, 0.04])
GDPR_COUNTRIES = frozenset({"GB", "FR", "DE", "ES", "IT", "NL", "BE", "CH", "AT", "IE", "PT", "PL", "SE", "DK"})
_GENRE_TO_IAB = {"sports": "IAB17", "science-nature": "IAB15", "family": "IAB6", "children": "IAB6",
                 "music": "IAB1-6", "musical": "IAB1-6"}  # fmt: skip
QUARTILE_EVENTS: tuple[str, ...] = ("start", "firstQuartile", "midpoint", "thirdQuartile", "complete")


@functools.lru_cache(maxsize=65_536)
def _stable_normal(key: str, sigma: float) -> float:
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return float(np.random.default_rng(int.from_bytes(digest, "big")).normal(0.0, sigma))


def viewer_key(identifier: str) -> str:
    """The frequency-cap key of a profile or device id (a salted-free 16-byte hash: raw ids are not kept)."""
    return hashlib.blake2b(identifier.encode("utf-8"), digest_size=16).hexdigest()


class StaticFeatures:
    """A :class:`ads.selector.FeatureSource` over precomputed features (simulations and offline jobs):
    title features plus one ``features.ProfileFeatures`` per profile id (unknown ids: an adult with no
    history)."""

    def __init__(self, titles: TitleFeatures, profiles: Mapping[str, ProfileFeatures]) -> None:
        self._titles = titles
        self._profiles = dict(profiles)

    @property
    def titles(self) -> TitleFeatures:
        return self._titles

    @property
    def profiles(self) -> dict[str, ProfileFeatures]:
        return self._profiles

    def profile(self, profile_id: str) -> Profile:
        features = self._profiles.get(profile_id)
        maturity = MATURITY_NAMES[features.maturity_level] if features is not None else "adults"
        return Profile(profile_id, maturity)

    def profile_features(self, profile_id: str) -> ProfileFeatures:
        features = self._profiles.get(profile_id)
        if features is None:
            empty = History(profile_id, [], np.zeros(0), [], 0)
            features = compute_profile_features(empty, self._titles, profile=Profile(profile_id))
            self._profiles[profile_id] = features
        return features


@dataclass(frozen=True)
class SimConfig:
    """Knobs of the simulation (defaults documented in the module docstring)."""

    day_start: float
    sessions: int = 1400
    max_sessions_per_viewer: int = 8
    seed: int = 0
    coppa_share: float = 0.04
    kids_profile_share: float = 0.04
    lmt_share: float = 0.03
    us_opt_out_share: float = 0.10
    gdpr_consent_share: float = 0.6


@dataclass(frozen=True)
class SimViewer:
    profile_id: str
    features: ProfileFeatures
    country: str
    consent: str | None
    us_privacy: str | None
    device_p: np.ndarray


@dataclass(frozen=True)
class SimRequest:
    """One break request plus the simulator's ground truth about who is watching."""

    request: AdRequest
    profile_id: str
    session_id: int
    kids_truth: bool  # COPPA session or kids profile: only kids-safe, non-personalized ads are allowed
    title_row: int


@dataclass(frozen=True)
class Outcome:
    events: tuple[str, ...]
    completed: bool
    clicked: bool
    p_complete: float
    p_click: float


@dataclass
class ServedAd:
    """One played ad in a simulation log."""

    ts: float
    request_id: str
    pod_id: str
    sequence: int
    profile_id: str
    viewer_key: str | None
    kids_truth: bool
    regime: str
    line_item_id: str
    advertiser_id: str
    categories: frozenset[str]
    kids_safe: bool
    duration_s: int
    price_cpm: float
    spend: float
    completed: bool
    clicked: bool


@dataclass
class SimulationLog:
    """What a simulated day produced: served ads and per-request fill."""

    served: list[ServedAd] = field(default_factory=list)
    requests: int = 0
    filled_requests: int = 0
    requested_seconds: int = 0
    filled_seconds: int = 0
    spend_trajectory: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


class ViewerSimulator:
    """Traffic and responses (see the module docstring). ``profiles`` are real profile features
    (``features.compute_profile_features`` over the catalog history); ``titles`` the title features."""

    def __init__(self, titles: TitleFeatures, profiles: Mapping[str, ProfileFeatures], config: SimConfig,
                 *, inventory: Inventory | None = None) -> None:  # fmt: skip
        self.titles = titles
        self.config = config
        self.inventory = inventory
        rng = np.random.default_rng(config.seed)
        ids = sorted(profiles)
        self.viewers: list[SimViewer] = []
        for pid in ids:
            pf = profiles[pid]
            country = pf.country if pf.country else str(rng.choice(_COUNTRIES, p=_COUNTRY_P))
            consent = None
            if country in GDPR_COUNTRIES:
                consent = encode_tcf_core({1, 3, 4, 7} if rng.random() < config.gdpr_consent_share else {1})
            us = "1YYN" if country == "US" and rng.random() < config.us_opt_out_share else ("1YNN" if country == "US" else None)
            device_p = rng.dirichlet(_DEVICE_P * 20)
            self.viewers.append(SimViewer(pid, pf, country, consent, us, device_p))
        self._adults = [i for i, v in enumerate(self.viewers) if v.features.maturity_level > 1 and len(v.features.history)]
        self._kids = [i for i, v in enumerate(self.viewers) if v.features.maturity_level <= 1]
        act = np.array([self.viewers[i].features.activity_level for i in self._adults])
        self._adult_p = np.exp(0.5 * act) / np.exp(0.5 * act).sum()
        kids_titles = np.flatnonzero(titles.maturity_level <= 1)
        pop = np.exp(titles.popularity[kids_titles].astype(np.float64))
        self._kids_titles, self._kids_title_p = kids_titles, pop / pop.sum()
        appeal = np.full((len(CATEGORY_APPEAL) + 1, len(GENRES)), _APPEAL_DEFAULT)
        self._appeal_index = {c: i for i, c in enumerate(CATEGORY_APPEAL)}
        for c, weights in CATEGORY_APPEAL.items():
            for g, w in weights.items():
                appeal[self._appeal_index[c], _G[g]] = w
        self._appeal = appeal
        affinity = np.stack([v.features.genre_affinity for v in self.viewers])
        self._mean_interest = (affinity @ appeal.T).mean(axis=0)  # (C+1,)

    # ------------------------------------------------------------------ traffic

    def traffic(self) -> Iterator[SimRequest]:
        """Break requests of one day, in time order."""
        cfg = self.config
        rng = np.random.default_rng(cfg.seed + 1)
        hour_p = _DIURNAL / _DIURNAL.sum()
        out: list[SimRequest] = []
        domains = sorted({a.domain for a in self.inventory.advertisers.values()}) if self.inventory else []
        for session, (viewer, coppa, kids_profile) in enumerate(self._sessions(rng)):
            if coppa or kids_profile:
                title_row = int(rng.choice(self._kids_titles, p=self._kids_title_p))
            else:
                h = viewer.features.history
                w = viewer.features.weights.astype(np.float64)
                title_row = int(h[rng.choice(len(h), p=w / w.sum())])
            start = cfg.day_start + (int(rng.choice(24, p=hour_p)) + rng.random()) * 3600.0
            device = int(rng.choice(_DEVICES, p=viewer.device_p))
            lmt = rng.random() < cfg.lmt_share
            key = viewer_key(f"kids-app:{viewer.profile_id}") if coppa else viewer_key(viewer.profile_id)
            n_mid = int(min(4, 1 + rng.poisson(1.5)))
            breaks = [(start, 30, 2)]
            t = start
            for _ in range(n_mid):
                t += float(rng.uniform(20, 30)) * 60.0
                breaks.append((t, int(rng.choice([60, 90, 120])), 4))
            for k, (ts, poddur, maxseq) in enumerate(breaks):
                if ts >= cfg.day_start + 86_400.0:
                    break
                out.append(self._request(rng, session, k, ts, poddur, maxseq, viewer, title_row, device, coppa,
                                         bool(kids_profile), lmt, key, domains))  # fmt: skip
        out.sort(key=lambda r: r.request.now)
        yield from out

    def _sessions(self, rng: np.random.Generator) -> list[tuple[SimViewer, bool, bool]]:
        """(viewer, coppa?, kids profile?) per session: Poisson counts per profile, at most
        ``max_sessions_per_viewer`` each."""
        cfg = self.config
        cap = cfg.max_sessions_per_viewer
        adult_total = cfg.sessions * (1 - cfg.coppa_share - (cfg.kids_profile_share if self._kids else 0.0))
        out: list[tuple[SimViewer, bool, bool]] = []
        for i, n in zip(self._adults, np.minimum(rng.poisson(adult_total * self._adult_p), cap), strict=True):
            out += [(self.viewers[i], False, False)] * int(n)
        if self._kids:
            per_kid = cfg.sessions * cfg.kids_profile_share / len(self._kids)
            for i in self._kids:
                out += [(self.viewers[i], False, True)] * int(min(rng.poisson(per_kid), cap))
        for _ in range(int(rng.poisson(cfg.sessions * cfg.coppa_share))):  # a kids app on a household's device
            out.append((self.viewers[self._adults[int(rng.integers(len(self._adults)))]], True, False))
        return out

    def _request(self, rng: np.random.Generator, session: int, k: int, ts: float, poddur: int, maxseq: int,
                 viewer: SimViewer, title_row: int, device: int, coppa: bool, kids_profile: bool, lmt: bool,
                 key: str, domains: Sequence[str]) -> SimRequest:  # fmt: skip
        floor = float(rng.choice([5.0, 10.0, 20.0], p=[0.7, 0.2, 0.1]))
        mimes = (frozenset({"video/mp4", "application/x-mpegURL"}) if device in (3, 6, 7)
                 else frozenset({"video/mp4", "video/webm"}))  # fmt: skip
        protocols = frozenset({2, 3}) if rng.random() < 0.03 else frozenset({2, 3, 7, 11, 13})
        rqd = frozenset({15, 30}) if rng.random() < 0.08 else frozenset()
        slot = SlotSpec(f"{session}-{k}-imp", mimes, 5, 30 if k == 0 else 60, rqd, protocols, floor)
        pod = PodRequest(f"{session}-{k}", (slot,), dynamic=True, pod_duration_s=poddur, max_ads=maxseq,
                         pod_sequence=1 if k == 0 else 0)  # fmt: skip
        genres = frozenset(GENRES[j] for j in np.flatnonzero(self.titles.genres[title_row]))
        cats = {"IAB1-5"} | {_GENRE_TO_IAB[g] for g in genres if g in _GENRE_TO_IAB}
        bcat = frozenset({"IAB8-5"}) if rng.random() < 0.10 else frozenset()
        badv = frozenset({domains[int(rng.integers(len(domains)))]}) if domains and rng.random() < 0.05 else frozenset()
        gdpr = viewer.country in GDPR_COUNTRIES
        privacy = PrivacySignals(coppa=coppa, gdpr=gdpr, tcf_consent=viewer.consent if gdpr else None,
                                 us_privacy=viewer.us_privacy, limit_ad_tracking=lmt)  # fmt: skip
        request = AdRequest(
            request_id=f"sim-{session}-{k}", pods=(pod,), now=ts,
            content=ContentContext(self.titles.title_ids[title_row], genres, frozenset(cats)),
            profile_id=None if coppa else viewer.profile_id, viewer_key=key, device_type=device,
            country=viewer.country, privacy=privacy, blocked_categories=bcat, blocked_advertisers=badv)  # fmt: skip
        return SimRequest(request, viewer.profile_id, session, coppa or kids_profile, title_row)

    # ------------------------------------------------------------------ responses

    def interest(self, profile_id: str, category: str) -> float:
        """Hidden interest of a viewer in an ad category, centred on the population mean."""
        viewer = next(v for v in self.viewers if v.profile_id == profile_id)
        return self._interest(viewer.features.genre_affinity, category)

    def _interest(self, affinity: np.ndarray, category: str) -> float:
        row = self._appeal_index.get(top_category(category), len(CATEGORY_APPEAL))
        return float(affinity @ self._appeal[row] - self._mean_interest[row])

    def respond(self, sim: SimRequest, *, line_item_id: str, creative_id: str, category: str, duration_s: int,
                position: int, brief_embedding: np.ndarray | None, rng: np.random.Generator) -> Outcome:  # fmt: skip
        """Tracking events of one played ad (see the module docstring for the hidden model)."""
        viewer_features = self._features_of(sim.profile_id)
        interest = self._interest(viewer_features.genre_affinity, category)
        relevance = 0.8
        if brief_embedding is not None and self.titles.has_embedding[sim.title_row]:
            relevance = float(self.titles.embeddings[sim.title_row] @ brief_embedding)
        device = int(sim.request.device_type or 0)
        hour = int((sim.request.now % 86_400) // 3600)
        z_c = (1.4 + DEVICE_COMPLETE.get(device, 0.0) - (0.3 if hour < 5 else 0.0) - 0.5 * (duration_s - 15) / 15
               - 0.2 * position + 5.0 * interest + 3.0 * (relevance - 0.8)
               + _stable_normal(f"q:{creative_id}", 0.4))  # fmt: skip
        z_k = (-4.2 + DEVICE_CLICK.get(device, 0.0) + 6.0 * interest + 2.0 * (relevance - 0.8)
               + _stable_normal(f"k:{creative_id}", 0.3))  # fmt: skip
        p_c, p_k = 1 / (1 + np.exp(-z_c)), 1 / (1 + np.exp(-z_k))
        completed = bool(rng.random() < p_c)
        events = ["impression"]
        if completed:
            events += list(QUARTILE_EVENTS)
        else:
            events += list(QUARTILE_EVENTS[: 1 + int(rng.integers(4))])
        clicked = bool(rng.random() < p_k)
        if clicked:
            events.append("click")
        return Outcome(tuple(events), completed, clicked, float(p_c), float(p_k))

    def _features_of(self, profile_id: str) -> ProfileFeatures:
        if not hasattr(self, "_by_id"):
            self._by_id = {v.profile_id: v.features for v in self.viewers}
        return self._by_id[profile_id]


def simulate(selector: AdEngine, simulator: ViewerSimulator, requests: Sequence[SimRequest], *, seed: int = 0,
             on_placement: Callable[[SimRequest, Placement, Outcome], None] | None = None) -> SimulationLog:  # fmt: skip
    """Replay ``requests`` against ``selector`` (an :class:`ads.selector.AdEngine`), play every placed ad
    through :meth:`ViewerSimulator.respond` and apply its tracking events to the selector's delivery
    state. ``on_placement(sim_request, placement, outcome)`` is called for every played ad."""
    rng = np.random.default_rng(seed + 7)
    log = SimulationLog()
    for sim in requests:
        decision = selector.decide(sim.request)
        log.requests += 1
        log.requested_seconds += sum(p.duration_budget_s for p in sim.request.pods)
        if decision.placements:
            log.filled_requests += 1
        for placement in decision.placements:
            creative = placement.creative
            outcome = simulator.respond(sim, line_item_id=placement.line_item_id, creative_id=creative.id,
                                        category=creative.categories[0], duration_s=creative.duration_s,
                                        position=placement.sequence - 1, brief_embedding=placement.view.brief_embedding,
                                        rng=rng)  # fmt: skip
            spend_before = selector.delivery.committed_spend(placement.line_item_id)
            for event in outcome.events:
                selector.delivery.apply(event, placement.ticket, sim.request.now)
            spend = selector.delivery.committed_spend(placement.line_item_id) - spend_before
            log.filled_seconds += creative.duration_s
            log.served.append(ServedAd(
                sim.request.now, sim.request.request_id, placement.pod_id, placement.sequence, sim.profile_id,
                sim.request.viewer_key, sim.kids_truth, decision.regime.regime.value, placement.line_item_id,
                placement.advertiser, creative.top_categories, placement.view.line_item.kids_safe,
                creative.duration_s, placement.price_cpm, spend, outcome.completed, outcome.clicked))  # fmt: skip
            log.spend_trajectory.setdefault(placement.line_item_id, []).append(
                (sim.request.now, selector.delivery.committed_spend(placement.line_item_id)))
            if on_placement is not None:
                on_placement(sim, placement, outcome)
    return log


# ---------------------------------------------------------------------------------- violation checks


def cap_violations(served: Sequence[ServedAd], inventory: Inventory) -> int:
    """Impressions beyond a line item's per-day, lifetime or minimum-gap cap for the same viewer key,
    recounted from the log (independently of the selector's own bookkeeping)."""
    violations = 0
    day_counts: dict[tuple[str, str, int], int] = {}
    life: dict[tuple[str, str], int] = {}
    last: dict[tuple[str, str], float] = {}
    for ad in sorted(served, key=lambda a: a.ts):
        caps = inventory.line_items[ad.line_item_id].caps
        if not caps.any:
            continue
        if ad.viewer_key is None:
            violations += 1
            continue
        key = (ad.viewer_key, ad.line_item_id)
        d = (*key, day_of(ad.ts))
        day_counts[d] = day_counts.get(d, 0) + 1
        life[key] = life.get(key, 0) + 1
        broke = (caps.per_day is not None and day_counts[d] > caps.per_day) or \
            (caps.lifetime is not None and life[key] > caps.lifetime) or \
            (caps.min_gap_s is not None and key in last and ad.ts - last[key] < caps.min_gap_s)  # fmt: skip
        violations += int(broke)
        last[key] = ad.ts
    return violations


def separation_violations(served: Sequence[ServedAd]) -> int:
    """Pods holding two ads of the same advertiser or the same top-level IAB category (each extra ad
    counts once)."""
    pods: dict[tuple[str, str], list[ServedAd]] = {}
    for ad in served:
        pods.setdefault((ad.request_id, ad.pod_id), []).append(ad)
    violations = 0
    for ads_in_pod in pods.values():
        advertisers: set[str] = set()
        categories: set[str] = set()
        for ad in ads_in_pod:
            if ad.advertiser_id in advertisers or ad.categories & categories:
                violations += 1
            advertisers.add(ad.advertiser_id)
            categories |= ad.categories
    return violations


def kids_violations(served: Sequence[ServedAd]) -> int:
    """Ads played to a COPPA session or a kids profile (ground truth) that were not kids-safe or were
    chosen with profile features."""
    return sum(1 for ad in served if ad.kids_truth and (not ad.kids_safe or ad.regime == "personalized"))
