"""Ad selection: privacy regime → eligibility → frequency caps → pacing → score → auction → pod.

:class:`AdEngine` is the production selector; :class:`RandomEligibleSelector` runs the very same
filters and pod rules but picks uniformly among eligible ads (the baseline of the benchmark). Both
satisfy the :class:`AdSelector` protocol, and the shared tests run against both.

Scoring (one number per (line item, creative, pod position), from :class:`~ads.response_model.ResponseModel`):

* a CPCV line item is worth ``eCPM = bid × 1000 × P(complete)`` — what it is expected to pay;
* a CPM line item is worth its bid times a quality multiplier: ``score = bid × P(goal) / base rate``
  where the goal is completion or click (``line_item.goal``), so an ad viewers finish (or click)
  more than average outranks a slightly higher bid they would skip.

Auction: lower priority tier first (sponsorships beat standard beat house), then score; the winner pays
its own bid (first price: ``eCPM`` for CPCV) and must reach the slot's floor (``bidfloor``, and
``mincpmpersec`` × duration). Pods are filled greedily position by position: at each position the
best remaining ad that fits the remaining duration, the slot's constraints and competitive
separation (no second ad of the same advertiser or the same top-level IAB category in a pod).

:meth:`AdEngine.explain` answers what :meth:`~AdEngine.decide` would answer now, without reserving
anything, and says for every line item of the inventory the rule that kept or rejected it.
"""

from __future__ import annotations

import copy
import functools
import itertools
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from ads.delivery import Delivery, DeliveryState, Exposure, Ticket, cap_violation
from ads.eligibility import REASONS, ContentSignals, blocked_category, creative_rejection, line_item_rejection
from ads.inventory import Creative, FrequencyCaps, Inventory, LineItemView, top_category
from ads.pacing import PacingConfig, pacing_allows
from ads.privacy import RegimeDecision, decide_regime
from ads.request import AdRequest, PodRequest, SlotSpec
from ads.response_model import ModelCandidate, ModelContext, PreparedCandidates, ResponseModel
from data.events import Profile
from data.normalize import GENRES
from features import ProfileFeatures, TitleFeatures
from features.audiences import audiences_of

_GENRE_INDEX = {g: i for i, g in enumerate(GENRES)}
MAX_POSITIONS = 8


class ProfileSource(Protocol):
    """Where a profile's maturity comes from (the profile store; ``features.FeatureStore`` satisfies it)."""

    def profile(self, profile_id: str) -> Profile: ...


class FeatureSource(Protocol):
    """What selection reads from ``features`` (``features.FeatureStore`` satisfies it)."""

    @property
    def titles(self) -> TitleFeatures: ...

    def profile(self, profile_id: str) -> Profile: ...

    def profile_features(self, profile_id: str) -> ProfileFeatures: ...


@dataclass(frozen=True)
class Placement:
    """One ad placed in a pod. ``sequence`` is 1-based within the pod; ``price_cpm`` the first price."""

    pod_id: str
    imp_id: str
    sequence: int
    slot_in_pod: int
    view: LineItemView
    creative: Creative
    price_cpm: float
    score: float
    p_complete: float
    p_click: float
    ticket: Ticket

    @property
    def line_item_id(self) -> str:
        return self.view.id

    @property
    def advertiser(self) -> str:
        return self.view.advertiser.id


@dataclass(frozen=True)
class Decision:
    """The outcome of one request: placements (possibly none) and why inventory was rejected."""

    request_id: str
    regime: RegimeDecision
    placements: tuple[Placement, ...]
    rejections: dict[str, int] = field(default_factory=dict)
    eligible_line_items: int = 0

    @property
    def filled(self) -> bool:
        return bool(self.placements)

    def pod(self, pod_id: str) -> list[Placement]:
        return [p for p in self.placements if p.pod_id == pod_id]


class AdSelector(Protocol):
    """Anything that turns an :class:`~ads.request.AdRequest` into a :class:`Decision`."""

    def decide(self, request: AdRequest) -> Decision: ...


STAGES: dict[str, str] = {
    "eligibility": "a request-level targeting or status rule (see ads.eligibility.REASONS), or bcat",
    "cap": "a frequency cap for this viewer",
    "pacing": "the budget or the even pacing schedule",
    "slot": "no creative fits the slot (duration, MIME type, protocol) or the time left in the pod",
    "separation": "competitive separation: the pod already has this advertiser or top-level category",
    "floor": "its price is below the slot's floor",
    "auction": "it was feasible but another ad ranked first (tier, then score)",
    "chosen": "it is in the pod",
}
"""The stages of :meth:`AdEngine.explain`, in pipeline order, and what each means."""

POD_REASONS: dict[str, str] = {
    "separation_advertiser": "the pod already has an ad of this advertiser",
    "separation_category": "the pod already has an ad of this top-level IAB category",
    "pod_time": "longer than the time left in the pod",
    "outranked": "another ad ranked first (tier, then score)",
    "chosen": "placed in the pod",
}
"""Pod-level reasons of :meth:`AdEngine.explain` (request-level ones are ``ads.eligibility.REASONS``)."""


@dataclass(frozen=True)
class CandidateExplanation:
    """Why one line item is or is not in the answer. ``stage`` is a key of :data:`STAGES`, ``rule`` a key
    of ``ads.eligibility.REASONS`` or :data:`POD_REASONS`; ``detail`` says it in words. ``pod_id`` /
    ``sequence`` / ``price_cpm`` / ``score`` are set when it was chosen (price and score also when it
    lost the auction: its best position's values)."""

    line_item_id: str
    name: str
    advertiser: str
    priority: int
    bid_type: str
    bid: float
    stage: str
    rule: str
    detail: str
    pod_id: str | None = None
    sequence: int | None = None
    price_cpm: float | None = None
    score: float | None = None

    @property
    def kept(self) -> bool:
        return self.stage == "chosen"


@dataclass(frozen=True)
class Explanation:
    """What :meth:`AdEngine.decide` would answer now (its placements carry dry-run impression ids
    ``explain-1``, ``explain-2``... that were never reserved) and one entry per inventory line item."""

    decision: Decision
    candidates: tuple[CandidateExplanation, ...]


def _candidate(view: LineItemView, stage: str, rule: str, detail: str, *, pod_id: str | None = None,
               sequence: int | None = None, price_cpm: float | None = None,
               score: float | None = None) -> CandidateExplanation:  # fmt: skip
    li = view.line_item
    return CandidateExplanation(li.id, li.name, view.advertiser.id, li.priority, li.bid_type, li.bid, stage, rule,
                                detail, pod_id, sequence, price_cpm, score)  # fmt: skip


class _DryRunDelivery:
    """Reads the engine's delivery state; reservations stay here (a dry run changes nothing), so a
    later pod of the same request still sees an earlier pod's placements, as in ``decide``."""

    def __init__(self, base: Delivery) -> None:
        self._base = base
        self._tickets: list[Ticket] = []

    def exposure(self, viewer_key: str, line_item_id: str, now: float) -> Exposure:
        seen = self._base.exposure(viewer_key, line_item_id, now)
        mine = sum(1 for t in self._tickets if t.viewer_key == viewer_key and t.line_item_id == line_item_id)
        return Exposure(seen.today + mine, seen.lifetime + mine, now) if mine else seen

    def spend(self, line_item_id: str, now: float | None = None) -> float:
        mine = sum(t.price_cpm / 1000.0 for t in self._tickets if t.line_item_id == line_item_id)
        return self._base.spend(line_item_id, now) + mine

    def reserve(self, ticket: Ticket, now: float, *, caps: FrequencyCaps | None = None,
                budget: float | None = None) -> bool:  # fmt: skip
        """As the store would: refused past ``caps`` or ``budget``, counting this dry run's own picks."""
        if budget is not None and self.spend(ticket.line_item_id, now) + ticket.price_cpm / 1000.0 > budget + 1e-9:
            return False
        if (caps is not None and ticket.viewer_key is not None
                and cap_violation(caps, self.exposure(ticket.viewer_key, ticket.line_item_id, now), now)):  # fmt: skip
            return False
        self._tickets.append(ticket)
        return True


@dataclass(frozen=True)
class _PodTrace:
    """One ``_fill_pod`` call of a dry run: its inputs and the placements it made."""

    pod: PodRequest
    ok: np.ndarray  # (n,) bool candidates allowed into the pod
    price: np.ndarray  # (n, P)
    score: np.ndarray  # (n, P)
    placements: tuple[Placement, ...]


@dataclass(frozen=True)
class _Signals:
    """What one request tells selection, after the privacy gate."""

    regime: RegimeDecision
    profile: ProfileFeatures | None  # None unless personalized
    content: ContentSignals
    ctx: ModelContext
    content_sim: np.ndarray  # (v,) cosine(title, brief) per line item, NaN when unknown
    viewer_sim: np.ndarray  # (v,) cosine(history, brief), 0 when unknown
    audiences: frozenset[str]


@dataclass(frozen=True)
class _Prepared:
    """Per-inventory arrays over the n (line item, creative) candidates (row order = ``pairs``)."""

    inventory: Inventory
    pairs: tuple[tuple[int, Creative], ...]  # (view index, creative)
    view_of: np.ndarray  # (n,) view index
    duration: np.ndarray  # (n,) int seconds
    advertiser: np.ndarray  # (n,) int advertiser index
    categories: np.ndarray  # (n, C) bool top-level categories
    priority: np.ndarray  # (n,) int tier
    cpcv: np.ndarray  # (n,) bool
    click_goal: np.ndarray  # (n,) bool
    bid: np.ndarray  # (n,) float
    model_candidates: PreparedCandidates
    brief_rows: np.ndarray  # (v,) row of the view's brief in ``briefs`` or -1
    briefs: np.ndarray  # (b, d) float32 brief embeddings
    fit_cache: dict[tuple, np.ndarray] = field(default_factory=dict)  # slot signature -> (n,) bool


class AdEngine:
    """The selection pipeline over an inventory snapshot, a response model, features and delivery.

    ``features`` may be None (no profile or title features: requests are decided contextually from
    what they carry); ``profiles`` says which profiles are kids profiles (defaults to ``features``;
    pass a profile store when features are unavailable); ``delivery`` is shared with the tracking
    path; ``id_factory`` makes impression ids (random 128-bit hex by default; tests pass a counter).
    """

    def __init__(
        self,
        inventory: Inventory,
        *,
        model: ResponseModel | None = None,
        features: FeatureSource | None = None,
        profiles: ProfileSource | None = None,
        delivery: Delivery | None = None,
        pacing: PacingConfig = PacingConfig(),
        id_factory: Callable[[], str] | None = None,
        seed: int = 0,
    ) -> None:
        self.model = model or ResponseModel.prior()
        self.features = features
        self.profiles: ProfileSource | None = profiles if profiles is not None else features
        self.delivery: Delivery = delivery if delivery is not None else DeliveryState()
        self.pacing = pacing
        self._new_id = id_factory or (lambda: secrets.token_hex(16))
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()
        self._prepared = self._prepare(inventory)

    # ------------------------------------------------------------------ inventory and model

    @property
    def inventory(self) -> Inventory:
        return self._prepared.inventory

    def set_inventory(self, inventory: Inventory) -> None:
        """Swap in a new inventory snapshot (atomic for concurrent decisions)."""
        self._prepared = self._prepare(inventory)

    def set_model(self, model: ResponseModel) -> None:
        self.model = model
        self._prepared = self._prepare(self._prepared.inventory)

    def _prepare(self, inventory: Inventory) -> _Prepared:
        views = inventory.views
        pairs = tuple((i, c) for i, v in enumerate(views) for c in v.creatives)
        advertisers = {a: i for i, a in enumerate(sorted(inventory.advertisers))}
        top = sorted({t for _, c in pairs for t in c.top_categories})
        top_index = {t: i for i, t in enumerate(top)}
        categories = np.zeros((len(pairs), max(len(top), 1)), dtype=bool)
        for row, (_, c) in enumerate(pairs):
            for t in c.top_categories:
                categories[row, top_index[t]] = True
        briefs = [(i, v.brief_embedding) for i, v in enumerate(views) if v.brief_embedding is not None]
        brief_rows = np.full(len(views), -1, dtype=np.int64)
        for row, (i, _) in enumerate(briefs):
            brief_rows[i] = row
        dim = len(briefs[0][1]) if briefs else 0
        brief_matrix = np.stack([b for _, b in briefs]).astype(np.float32) if briefs else np.zeros((0, dim), np.float32)
        candidates = [ModelCandidate(views[i].id, c.id, views[i].advertiser.id, top_category(c.categories[0]),
                                     c.duration_s) for i, c in pairs]  # fmt: skip
        return _Prepared(
            inventory=inventory, pairs=pairs,
            view_of=np.array([i for i, _ in pairs], dtype=np.int64),
            duration=np.array([c.duration_s for _, c in pairs], dtype=np.int64),
            advertiser=np.array([advertisers[views[i].advertiser.id] for i, _ in pairs], dtype=np.int64),
            categories=categories,
            priority=np.array([views[i].line_item.priority for i, _ in pairs], dtype=np.int64),
            cpcv=np.array([views[i].line_item.bid_type == "cpcv" for i, _ in pairs], dtype=bool),
            click_goal=np.array([views[i].line_item.goal == "click" for i, _ in pairs], dtype=bool),
            bid=np.array([views[i].line_item.bid for i, _ in pairs], dtype=np.float64),
            model_candidates=self.model.prepare(candidates), brief_rows=brief_rows, briefs=brief_matrix,
        )  # fmt: skip

    # ------------------------------------------------------------------ request signals

    def _regime(self, request: AdRequest) -> tuple[RegimeDecision, ProfileFeatures | None]:
        maturity: int | None = None
        if request.profile_id and self.profiles is not None:
            maturity = int(self.profiles.profile(request.profile_id).maturity_level)
        regime = decide_regime(request.privacy, maturity)
        profile = None
        if regime.personalized and request.profile_id and self.features is not None:
            profile = self.features.profile_features(request.profile_id)
        return regime, profile

    def _content(self, request: AdRequest) -> tuple[ContentSignals, np.ndarray]:
        """Content signals and the (G,) genre multi-hot the model reads."""
        c = request.content
        multi_hot = np.zeros(len(GENRES), dtype=np.float32)
        for g in c.genres:
            if g in _GENRE_INDEX:
                multi_hot[_GENRE_INDEX[g]] = 1.0
        maturity = c.maturity_level
        embedding = None
        if c.title_id and self.features is not None:
            titles = self.features.titles
            row = titles.index.get(c.title_id)
            if row is not None:
                multi_hot = np.maximum(multi_hot, titles.genres[row])
                maturity = int(titles.maturity_level[row])
                if titles.has_embedding[row]:
                    embedding = titles.embeddings[row]
        genres = frozenset(GENRES[j] for j in np.flatnonzero(multi_hot))
        level = None if maturity is None else int(maturity)
        return ContentSignals(c.title_id, genres, c.categories, level, embedding), multi_hot

    # ------------------------------------------------------------------ the pipeline

    def _signals(self, request: AdRequest, prepared: _Prepared) -> _Signals:
        views = prepared.inventory.views
        regime, profile = self._regime(request)
        content, content_genres = self._content(request)
        # contextual similarity of the title (and of the viewer's history) to each brief; NaN = unknown
        content_sim = np.full(len(views), np.nan)
        viewer_sim = np.zeros(len(views))
        if len(prepared.briefs):
            has = prepared.brief_rows >= 0
            brief_vectors = prepared.briefs[prepared.brief_rows[has]]
            if content.embedding is not None and content.embedding.shape[0] == brief_vectors.shape[1]:
                content_sim[has] = brief_vectors @ content.embedding
            if (profile is not None and profile.history_embedding.shape[0] == brief_vectors.shape[1]
                    and np.any(profile.history_embedding)):  # fmt: skip
                viewer_sim[has] = brief_vectors @ profile.history_embedding
        ctx = ModelContext(
            device_type=request.device_type, hour=datetime.fromtimestamp(request.now, UTC).hour,
            personalized=profile is not None, activity_level=profile.activity_level if profile is not None else 0.0,
            genre_affinity=profile.genre_affinity if profile is not None else np.zeros(len(GENRES), np.float32),
            content_genres=content_genres)  # fmt: skip
        audiences = audiences_of(profile) if profile is not None else frozenset()
        return _Signals(regime, profile, content, ctx, content_sim, viewer_sim, audiences)

    def model_inputs(self, request: AdRequest, placements: Sequence[Placement]) -> list[tuple[ModelContext, ModelCandidate, int]]:
        """The response model's inputs for ``placements`` of ``request`` — what a training log records,
        computed by the serving code itself."""
        prepared = self._prepared
        sig = self._signals(request, prepared)
        index = {v.id: i for i, v in enumerate(prepared.inventory.views)}
        out = []
        for p in placements:
            i = index[p.line_item_id]
            sim = sig.content_sim[i]
            cand = ModelCandidate(p.line_item_id, p.creative.id, p.advertiser, top_category(p.creative.categories[0]),
                                  p.creative.duration_s, 0.0 if np.isnan(sim) else float(sim),
                                  float(sig.viewer_sim[i]), not np.isnan(sim))  # fmt: skip
            out.append((sig.ctx, cand, p.sequence - 1))
        return out

    def decide(self, request: AdRequest) -> Decision:
        prepared = self._prepared
        views = prepared.inventory.views
        now = request.now
        sig = self._signals(request, prepared)
        regime, content, audiences, content_sim = sig.regime, sig.content, sig.audiences, sig.content_sim

        rejections: Counter[str] = Counter()
        eligible = np.zeros(len(views), dtype=bool)
        sims = [None if s != s else s for s in content_sim.tolist()]  # NaN -> None
        for i, view in enumerate(views):
            sim = sims[i]
            reason = line_item_rejection(
                view, now=now, regime=regime.regime, country=request.country, device_type=request.device_type,
                content=content, audiences=audiences, content_similarity=sim,
                blocked_advertisers=request.blocked_advertisers)  # fmt: skip
            if reason is None:
                eligible[i] = True
            else:
                rejections[reason] += 1
        n_eligible = int(eligible.sum())
        if not n_eligible:
            return Decision(request.request_id, regime, (), dict(rejections), 0)

        # creatives blocked by bcat, once per request
        cand_ok = eligible[prepared.view_of].copy()
        if request.blocked_categories:
            for row in np.flatnonzero(cand_ok):
                if blocked_category(prepared.pairs[row][1], request.blocked_categories, request.blocked_cattax):
                    cand_ok[row] = False
                    rejections["blocked_category"] += 1

        # response model: (n, P, 2) probabilities
        positions = min(max(p.capacity for p in request.pods), MAX_POSITIONS)
        has_brief = ~np.isnan(content_sim[prepared.view_of])
        probs = self.model.predict(sig.ctx, prepared.model_candidates, np.nan_to_num(content_sim[prepared.view_of]),
                                   sig.viewer_sim[prepared.view_of], has_brief, positions)  # fmt: skip
        p_complete, p_click = probs[:, :, 0], probs[:, :, 1]
        base = self.model.base_rates
        price = np.where(prepared.cpcv[:, None], prepared.bid[:, None] * 1000.0 * p_complete, prepared.bid[:, None])
        quality = np.where(prepared.click_goal[:, None], p_click / base[1], p_complete / base[0])
        score = np.where(prepared.cpcv[:, None], price, price * quality)

        placements: list[Placement] = []
        for pod in request.pods:
            live = self._live(request, views, eligible, rejections)
            pod_ok = cand_ok & live[prepared.view_of]
            placements += self._fill_pod(request, pod, prepared, pod_ok, price, score, p_complete, p_click, rejections)
        return Decision(request.request_id, regime, tuple(placements), dict(rejections), n_eligible)

    def _live(self, request: AdRequest, views: tuple[LineItemView, ...], eligible: np.ndarray,
              rejections: Counter[str]) -> np.ndarray:  # fmt: skip
        """Frequency caps then pacing, for the eligible line items (rechecked per pod: a placement in an
        earlier pod of the same request is already reserved)."""
        live = eligible.copy()
        now = request.now
        for i in np.flatnonzero(eligible):
            view = views[i]
            li = view.line_item
            reason = None
            if li.caps.any:
                if request.viewer_key is None:
                    reason = "frequency_unidentified"
                else:
                    reason = cap_violation(li.caps, self.delivery.exposure(request.viewer_key, li.id, now), now)
            if reason is None:
                expected_cpm = li.bid if li.bid_type == "cpm" else li.bid * 1000.0 * self.model.base_rates[0]
                reason = pacing_allows(view, self.delivery.spend(li.id, now), expected_cpm, now, self.pacing)
            if reason is not None:
                live[i] = False
                rejections[reason] += 1
        return live

    @staticmethod
    def _slot_fit(prepared: _Prepared, slot: SlotSpec) -> np.ndarray:
        """(n,) bool: the creatives that fit ``slot`` (cached per slot signature and inventory)."""
        key = (slot.mimes, slot.min_duration_s, slot.max_duration_s, slot.required_durations, slot.protocols)
        fit = prepared.fit_cache.get(key)
        if fit is None:
            fit = np.array([creative_rejection(c, slot) is None for _, c in prepared.pairs], dtype=bool)
            if len(prepared.fit_cache) > 256:
                prepared.fit_cache.clear()
            prepared.fit_cache[key] = fit
        return fit

    def _order_key(self, score: np.ndarray, priority: np.ndarray) -> np.ndarray:
        """Smaller is better: tier first, then score."""
        return priority * 1e9 - score

    def _pick(self, feasible: np.ndarray, key: np.ndarray) -> int:
        rows = np.flatnonzero(feasible)
        return int(rows[np.argmin(key[rows])])

    def _fill_pod(self, request: AdRequest, pod: PodRequest, prepared: _Prepared, ok: np.ndarray,
                  price: np.ndarray, score: np.ndarray, p_complete: np.ndarray, p_click: np.ndarray,
                  rejections: Counter[str]) -> list[Placement]:  # fmt: skip
        """Greedy pod construction with competitive separation (see module docstring)."""
        if pod.dynamic:
            slots = [pod.slots[0]] * pod.capacity
        else:  # first-slot requests first, last-slot requests last, the rest in request order
            order = {1: 0, 2: 1, 0: 1, -1: 2}
            slots = sorted(pod.slots, key=lambda s: order.get(s.slot_in_pod, 1))
        remaining = pod.duration_budget_s
        used_adv = np.zeros(int(prepared.advertiser.max(initial=0)) + 1, dtype=bool)
        used_cat = np.zeros(prepared.categories.shape[1], dtype=bool)
        used_rows = np.zeros(len(ok), dtype=bool)
        placed: list[Placement] = []
        for slot in slots[:MAX_POSITIONS]:
            pos = len(placed)
            fit = ok & self._slot_fit(prepared, slot) & ~used_rows
            fit &= prepared.duration <= remaining
            fit &= ~used_adv[prepared.advertiser]
            fit &= ~(prepared.categories & used_cat[None, :]).any(axis=1)
            floors = np.maximum(slot.floor_cpm, slot.min_cpm_per_s * prepared.duration)
            above = price[:, pos] >= floors - 1e-9
            if not pod.dynamic and not (fit & above).any() and fit.any():
                rejections["floor"] += 1
            fit &= above
            if not fit.any():
                if pod.dynamic:
                    break
                continue
            while True:  # reserve the pick (caps and budget, atomically in the store); else the next best
                row = self._pick(fit, self._order_key(score[:, pos], prepared.priority))
                view_index, creative = prepared.pairs[row]
                view = prepared.inventory.views[view_index]
                li = view.line_item
                ticket = Ticket(self._new_id(), li.id, creative.id, request.viewer_key, float(price[row, pos]),
                                li.bid_type, li.bid, request.now)  # fmt: skip
                if self.delivery.reserve(ticket, request.now, caps=li.caps, budget=li.budget):
                    break
                rejections["reservation"] += 1  # another decision took the last cap slot or budget
                fit &= prepared.view_of != view_index
                if not fit.any():
                    break
            if not fit.any():
                if pod.dynamic:
                    break
                continue
            placed.append(Placement(pod.pod_id, slot.imp_id, pos + 1, slot.slot_in_pod, view, creative,
                                    float(price[row, pos]), float(score[row, pos]), float(p_complete[row, pos]),
                                    float(p_click[row, pos]), ticket))  # fmt: skip
            remaining -= creative.duration_s
            used_adv[prepared.advertiser[row]] = True
            used_cat |= prepared.categories[row]
            used_rows |= prepared.view_of == view_index  # one creative per line item per pod
        return placed


    # ------------------------------------------------------------------ explanation

    def explain(self, request: AdRequest) -> Explanation:
        """What :meth:`decide` would answer for ``request`` now, and for every line item of the inventory
        the stage and rule that kept or rejected it. Nothing changes: no reservation, no impression id
        drawn, the random stream (of :class:`RandomEligibleSelector`) left where it was.

        The pods come from ``decide`` itself, run on a shallow copy of this engine whose delivery keeps
        its reservations to itself and whose pod builder records its inputs; the per-line-item rules
        are then read from the same functions (eligibility, ``_live``, slot fit, separation, floor).
        """
        shadow = copy.copy(self)
        shadow.delivery = _DryRunDelivery(self.delivery)  # type: ignore[assignment]
        shadow._rng = copy.deepcopy(self._rng)
        ids = itertools.count(1)
        shadow._new_id = lambda: f"explain-{next(ids)}"
        traces: list[_PodTrace] = []
        fill = shadow._fill_pod

        def traced_fill(request: AdRequest, pod: PodRequest, prepared: _Prepared, ok: np.ndarray, price: np.ndarray,
                        score: np.ndarray, p_complete: np.ndarray, p_click: np.ndarray,
                        rejections: Counter[str]) -> list[Placement]:  # fmt: skip
            placed = fill(request, pod, prepared, ok, price, score, p_complete, p_click, rejections)
            traces.append(_PodTrace(pod, ok.copy(), price, score, tuple(placed)))
            return placed

        shadow._fill_pod = traced_fill  # type: ignore[method-assign]
        decision = shadow.decide(request)
        shadow.delivery = _DryRunDelivery(self.delivery)  # type: ignore[assignment]  # caps as decide saw them
        prepared = shadow._prepared
        views = prepared.inventory.views
        sig = shadow._signals(request, prepared)
        chosen = {p.line_item_id: p for p in reversed(decision.placements)}
        out: list[CandidateExplanation] = []
        for i, view in enumerate(views):
            li = view.line_item
            entry = functools.partial(_candidate, view)
            sim = float(sig.content_sim[i])
            reason = line_item_rejection(
                view, now=request.now, regime=sig.regime.regime, country=request.country,
                device_type=request.device_type, content=sig.content, audiences=sig.audiences,
                content_similarity=None if np.isnan(sim) else sim, blocked_advertisers=request.blocked_advertisers)  # fmt: skip
            if reason is not None:
                out.append(entry("eligibility", reason, REASONS[reason]))
                continue
            rows = np.flatnonzero(prepared.view_of == i)
            if request.blocked_categories and all(
                    blocked_category(prepared.pairs[r][1], request.blocked_categories, request.blocked_cattax)
                    for r in rows):  # fmt: skip
                out.append(entry("eligibility", "blocked_category", REASONS["blocked_category"]))
                continue
            only = np.zeros(len(views), dtype=bool)
            only[i] = True
            live_reasons: Counter[str] = Counter()
            shadow._live(request, views, only, live_reasons)
            if live_reasons:
                reason = next(iter(live_reasons))
                out.append(entry("cap" if reason.startswith("frequency") else "pacing", reason, REASONS[reason]))
                continue
            placement = chosen.get(li.id)
            if placement is not None:
                out.append(entry("chosen", "chosen", f"{POD_REASONS['chosen']} {placement.pod_id!r} at position "
                                 f"{placement.sequence} (creative {placement.creative.id}, "
                                 f"{placement.creative.duration_s}s)", pod_id=placement.pod_id,
                                 sequence=placement.sequence, price_cpm=placement.price_cpm,
                                 score=placement.score))  # fmt: skip
                continue
            stage, rule, detail, price, score = self._pod_outcome(prepared, traces, rows)
            out.append(entry(stage, rule, detail, price_cpm=price, score=score))
        return Explanation(decision, tuple(out))

    def _pod_outcome(self, prepared: _Prepared, traces: Sequence[_PodTrace],
                     rows: np.ndarray) -> tuple[str, str, str, float | None, float | None]:  # fmt: skip
        """(stage, rule, detail, price, score) of an eligible, live line item (candidate ``rows``) that no pod
        took: each position of each traced pod is re-checked in ``_fill_pod``'s order (slot fit, time
        left, separation, floor) against the pod as it stood before that position; a position it passed
        was lost in the auction. ``detail`` lists every position; the stage is the most telling outcome
        (separation, then auction, floor, slot) and price/score are those of its first such position."""
        rank = {"separation": 3, "auction": 2, "floor": 1, "slot": 0}
        views = prepared.inventory.views
        steps_seen: list[tuple[int, str, str, str, float, float]] = []  # best outcome per pod position
        for trace in traces:
            pod, placed = trace.pod, trace.placements
            slots = {s.imp_id: s for s in pod.slots}
            limit = min(pod.capacity, MAX_POSITIONS, trace.price.shape[1])
            steps = [(k, slots.get(p.imp_id, pod.slots[0])) for k, p in enumerate(placed)]
            if len(placed) < limit:  # the position that stayed empty
                steps += [(len(placed), pod.slots[0])] if pod.dynamic else [
                    (len(placed), s) for s in pod.slots if s.imp_id not in {p.imp_id for p in placed}]
            for k, slot in steps:
                before = placed[:k]
                remaining = pod.duration_budget_s - sum(p.creative.duration_s for p in before)
                advertisers = {p.advertiser for p in before}
                categories = {t for p in before for t in p.creative.top_categories}
                step: tuple[int, str, str, str, float, float] | None = None
                for r in rows:
                    if not trace.ok[r]:
                        continue
                    creative = prepared.pairs[r][1]
                    floor = max(slot.floor_cpm, slot.min_cpm_per_s * creative.duration_s)
                    price, score = float(trace.price[r, k]), float(trace.score[r, k])
                    misfit = creative_rejection(creative, slot)
                    if misfit is not None:
                        outcome = ("slot", misfit, REASONS[misfit])
                    elif creative.duration_s > remaining:
                        outcome = ("slot", "pod_time", f"{creative.duration_s}s, {remaining}s left")
                    elif views[prepared.view_of[r]].advertiser.id in advertisers:
                        outcome = ("separation", "separation_advertiser", POD_REASONS["separation_advertiser"])
                    elif categories & set(creative.top_categories):
                        shared = ", ".join(sorted(categories & set(creative.top_categories)))
                        outcome = ("separation", "separation_category",
                                   f"{POD_REASONS['separation_category']} ({shared})")  # fmt: skip
                    elif price < floor - 1e-9:
                        outcome = ("floor", "floor", f"price {price:.2f} < floor {floor:.2f} CPM")
                    elif k < len(placed):
                        winner = placed[k]
                        outcome = ("auction", "outranked", f"lost to {winner.line_item_id} (tier "
                                   f"{winner.view.line_item.priority}, score {winner.score:.2f}) with tier "
                                   f"{views[prepared.view_of[r]].line_item.priority}, score {score:.2f}")  # fmt: skip
                    else:
                        outcome = ("auction", "outranked", "the pod was complete")
                    if step is None or rank[outcome[0]] > step[0]:
                        step = (rank[outcome[0]], outcome[0], outcome[1], f"position {k + 1}: {outcome[2]}", price, score)
                if step is not None:
                    steps_seen.append(step)
        if not steps_seen:
            return "slot", "no_creative", "no pod was tried", None, None
        best = max(steps_seen, key=lambda s: s[0])  # the first of the most telling outcomes
        return best[1], best[2], "; ".join(s[3] for s in steps_seen), best[4], best[5]


class RandomEligibleSelector(AdEngine):
    """The baseline: the same regime, eligibility, caps, pacing, floors and pod rules, but each
    position takes a uniformly random feasible ad (no tiers, no scores)."""

    random_order = True

    def _pick(self, feasible: np.ndarray, key: np.ndarray) -> int:
        rows = np.flatnonzero(feasible)
        with self._rng_lock:
            return int(rows[self._rng.integers(len(rows))])
