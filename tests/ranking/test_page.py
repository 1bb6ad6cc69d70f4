"""The page builder: every row type, de-duplication, finished titles, maturity (hypothesis), cold start,
onboarding, languages, determinism and exploration, stage-wise selection, bounds and similar titles."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.events import History, Profile
from features import ProfileFeatures, TitleFeatures, compute_profile_features
from ranking.page import (
    MAX_PER_ROW,
    MAX_ROWS,
    InvalidPageRequestError,
    Page,
    PageBuilder,
    PageConfig,
    PageError,
    PageRequest,
    UnknownTitleError,
    build_page,
)
from ranking.row_titles import row_title
from ranking.rows import ROW_KINDS, RowConfig
from tests.ranking.page_synthetic import CLUSTERS, Synthetic, history_of, make_synthetic

MATURITIES = ("kids", "older_kids", "teens", "adults")


@lru_cache(maxsize=1)
def world() -> tuple[Synthetic, PageBuilder]:
    synth = make_synthetic()
    return synth, PageBuilder.build(synth.titles, synth.features, synth.events)


def _page(
    profile_id: str = "movielens:3",
    *,
    profile: Profile | None = None,
    history: History | None = None,
    request: PageRequest | None = None,
    builder: PageBuilder | None = None,
    liked_genres: tuple[str, ...] = (),
    liked_titles: tuple[str, ...] = (),
) -> Page:
    synth, default = world()
    builder = builder or default
    history = history if history is not None else history_of(synth.events, profile_id)
    features = compute_profile_features(history, synth.features, profile=profile or Profile(profile_id))
    viewer = builder.viewer(features, history, liked_genres=liked_genres, liked_titles=liked_titles)
    return builder.page(viewer, request or PageRequest(rows=12, per_row=8))


def _with_progress(profile_id: str, count: int = 3) -> History:
    """The viewer's ratings plus ``count`` titles started (play/progress) and not finished."""
    synth, _ = world()
    base = history_of(synth.events, profile_id)
    seen = set(base.title_ids)
    started = [t for t in synth.features.title_ids if t not in seen][:count]
    last = float(base.timestamps[-1])
    return History(profile_id, [*base.title_ids, *started, started[0]],
                   np.concatenate([base.timestamps, last + 10 + np.arange(count + 1)]),
                   [*base.kinds, *(["play"] * count), "progress"], len(base) + count + 1)  # fmt: skip


# ----------------------------------------------------------------------------------------- row types


def test_every_row_kind_can_appear_on_a_page() -> None:
    synth, builder = world()
    builder = PageBuilder(builder.catalog, builder.cowatch, None,
                          PageConfig(rows=RowConfig(new_arrival_days=3650), redundancy_weight=0.0))  # fmt: skip
    seen_kinds: set[str] = set()
    history = _with_progress("movielens:3")
    request = PageRequest(rows=MAX_ROWS, per_row=5)
    seen_kinds |= {r.kind for r in _page(profile=Profile("movielens:3", languages=("en", "ko")), history=history,
                                          request=request, builder=builder).rows}  # fmt: skip
    seen_kinds |= {r.kind for r in _page("nobody", history=History("nobody", [], np.zeros(0), [], 0),
                                          request=request, builder=builder).rows}  # fmt: skip
    assert seen_kinds == set(ROW_KINDS)


def test_continue_watching_is_pinned_first_most_recent_first() -> None:
    synth, _ = world()
    history = _with_progress("movielens:3", count=3)
    page = _page(history=history)
    first = page.rows[0]
    assert first.kind == "continue_watching" and first.reason.stage == 0
    started = history.title_ids[-4:-1]
    # the first started title got a later progress event: it is the most recent
    assert [i.title_id for i in first.items] == [started[0], started[2], started[1]]
    assert first.title == "Continue Watching"


def test_because_you_watched_names_its_evidence_title() -> None:
    synth, builder = world()
    page = _page("movielens:7", request=PageRequest(rows=MAX_ROWS, per_row=6, ui_language="fr"))
    rows = [r for r in page.rows if r.kind == "because_you_watched"]
    assert rows
    history = set(history_of(synth.events, "movielens:7").title_ids)
    for row in rows:
        evidence = row.reason.evidence_title_id
        assert evidence in history and row.row_id == f"because-you-watched:{evidence}"
        name = builder.catalog.display_name(synth.features.index[evidence], "fr")
        assert row.title == row_title("because_you_watched", "fr", title=name)


# ----------------------------------------------------------------------------------------- invariants


@st.composite
def page_cases(draw: st.DrawFn) -> tuple[Profile, History, PageRequest]:
    synth, _ = world()
    ids = synth.features.title_ids
    picked = draw(st.lists(st.integers(0, len(ids) - 1), max_size=30))
    kinds = draw(st.lists(st.sampled_from(["play", "progress", "complete", "rating"]), min_size=len(picked),
                          max_size=len(picked)))  # fmt: skip
    profile = Profile("hyp", maturity=draw(st.sampled_from(MATURITIES)),
                      languages=tuple(draw(st.lists(st.sampled_from(["en", "ko", "fr", "es"]), min_size=1,
                                                    max_size=3, unique=True))))  # fmt: skip
    history = History(
        "hyp", [ids[i] for i in picked], np.arange(len(picked), dtype=np.float64), kinds, len(picked)
    )
    request = PageRequest(rows=draw(st.integers(1, MAX_ROWS)), per_row=draw(st.integers(1, 15)),
                          exploration=draw(st.sampled_from([0.0, 0.5])), seed=draw(st.integers(0, 3)))  # fmt: skip
    return profile, history, request


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page_cases())
def test_page_invariants(case: tuple[Profile, History, PageRequest]) -> None:
    """No duplicates, nothing above the maturity level, finished titles only in rewatch rows, started
    titles only in Continue Watching, bounds respected, rows in stage order."""
    profile, history, request = case
    synth, builder = world()
    page = _page(profile=profile, history=history, request=request)
    viewer = builder.viewer(compute_profile_features(history, synth.features, profile=profile), history)
    ids = page.title_ids()
    assert len(ids) == len(set(ids))
    assert len(page.rows) <= request.rows
    level = profile.maturity_level
    finished = set(viewer.finished.tolist())
    started = set(viewer.in_progress.tolist())
    for row in page.rows:
        assert 1 <= len(row.items) <= request.per_row
        rows = [i.row for i in row.items]
        assert (synth.features.maturity_level[rows] <= level).all()
        assert builder.catalog.servable[rows].all()
        if row.kind != "rewatch":
            assert not finished - started & set(rows) or row.kind == "continue_watching"
        if row.kind != "continue_watching":
            assert not started & set(rows)
        if row.kind not in ("rewatch", "continue_watching"):
            assert not set(viewer.seen.tolist()) & set(rows)
    stages = [r.reason.stage for r in page.rows]
    assert stages == sorted(stages)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page_cases())
def test_kids_never_see_titles_above_their_level_even_in_similar_titles(
    case: tuple[Profile, History, PageRequest],
) -> None:
    _, history, request = case
    synth, builder = world()
    kids = Profile("hyp", maturity="kids")
    page = _page(profile=kids, history=history, request=request)
    assert all(synth.features.maturity_level[i.row] == 0 for r in page.rows for i in r.items)
    viewer = builder.viewer(compute_profile_features(history, synth.features, profile=kids), history)
    for title_id in synth.features.title_ids[::37]:
        for item in builder.similar(title_id, limit=20, viewer=viewer):
            assert synth.features.maturity_level[synth.features.index[item.title_id]] == 0


# ----------------------------------------------------------------------------------------- cold start


def test_cold_start_page_is_popular_diverse_and_maturity_appropriate() -> None:
    synth, builder = world()
    empty = History("new", [], np.zeros(0), [], 0)
    page = _page("new", profile=Profile("new", maturity="older_kids"), history=empty)
    assert page.cold_start
    assert {r.kind for r in page.rows} >= {"popular", "genre"} and "top_picks" not in {
        r.kind for r in page.rows
    }
    assert all(synth.features.maturity_level[i.row] <= 1 for r in page.rows for i in r.items)
    genre_rows = [r.row_id for r in page.rows if r.kind == "genre"]
    assert len(genre_rows) == len(set(genre_rows)) >= 2
    # popular: the Popular row of a cold viewer holds the most popular allowed titles
    top = page.rows[[r.kind for r in page.rows].index("popular")]
    priors = builder.catalog.prior[[i.row for i in top.items]]
    allowed = builder.catalog.servable & (synth.features.maturity_level <= 1)
    assert priors.min() >= np.sort(builder.catalog.prior[allowed])[::-1][30]


def test_onboarding_genres_and_titles_shape_the_cold_page() -> None:
    synth, _ = world()
    empty = History("new", [], np.zeros(0), [], 0)
    liked = synth.features.title_ids[int(np.flatnonzero(synth.cluster == 4)[0])]
    page = _page("new", history=empty, liked_genres=("horror",), liked_titles=(liked,),
                 request=PageRequest(rows=MAX_ROWS, per_row=8))  # fmt: skip
    assert not page.cold_start
    reasons = {r.reason.code: r for r in page.rows}
    assert reasons["genre_liked"].row_id == "genre:horror"
    assert reasons["similar_to_liked"].reason.evidence_title_id == liked
    assert liked not in page.title_ids()
    # the model reads the liked title: top picks lean to its cluster
    top = next(r for r in page.rows if r.kind == "top_picks")
    clusters = synth.cluster[[i.row for i in top.items]]
    assert (clusters == 4).mean() > (synth.cluster == 4).mean()


# ----------------------------------------------------------------------------------------- languages


@pytest.mark.parametrize(("ui", "top_picks"), [
    ("en", "Top Picks for You"), ("fr", "Nos meilleurs choix pour vous"),
    ("es", "Nuestras mejores recomendaciones para ti"), ("de", "Top-Empfehlungen für dich"),
    ("ja", "あなたへのおすすめ"), ("sw", "Top Picks for You"),
])  # fmt: skip
def test_row_titles_follow_the_requested_ui_language(ui: str, top_picks: str) -> None:
    page = _page(request=PageRequest(rows=8, per_row=5, ui_language=ui))
    assert page.ui_language == (ui if ui != "sw" else "en")
    assert next(r for r in page.rows if r.kind == "top_picks").title == top_picks


def test_ui_language_defaults_to_the_profile_and_language_rows_use_it() -> None:
    page = _page(profile=Profile("movielens:3", languages=("ko", "en"), ui_language="es"),
                 request=PageRequest(rows=MAX_ROWS, per_row=5))  # fmt: skip
    assert page.ui_language == "es"
    titles = {r.row_id: r.title for r in page.rows}
    assert (
        titles.get("language:ko:show") == "Series en coreano"
        or titles.get("language:ko:movie") == "Películas en coreano"
    )


# ----------------------------------------------------------------------------------------- determinism


def _signature(page: Page) -> list[tuple[str, list[str], list[float]]]:
    return [(r.row_id, [i.title_id for i in r.items], [i.score for i in r.items]) for r in page.rows]


def test_pages_are_deterministic_and_exploration_is_seeded() -> None:
    base = _signature(_page())
    assert base == _signature(_page())
    explore = PageRequest(rows=12, per_row=8, exploration=0.8, seed=1)
    a, b = _signature(_page(request=explore)), _signature(_page(request=explore))
    c = _signature(_page(request=replace(explore, seed=2)))
    assert a == b and a != base and c != a
    # scores reported are the model's, with or without exploration noise
    scores = {t: s for _, ids, ss in base for t, s in zip(ids, ss, strict=True)}
    assert all(scores.get(t, s) == pytest.approx(s) for _, ids, ss in a for t, s in zip(ids, ss, strict=True))


# ----------------------------------------------------------------------------------------- selection


class ClusterScorer:
    """A stand-in ranking model that loves one taste cluster."""

    name = "cluster"

    def __init__(self, cluster: np.ndarray, favourite: int) -> None:
        self.cluster, self.favourite = cluster, favourite

    def score(self, profile: ProfileFeatures, title_rows: np.ndarray) -> np.ndarray:
        return (self.cluster[title_rows] == self.favourite).astype(np.float32) + 0.001 * (title_rows % 7)


def test_rows_are_ranked_by_the_plugged_in_model() -> None:
    synth, builder = world()
    favourite = 6
    plugged = PageBuilder(builder.catalog, builder.cowatch, ClusterScorer(synth.cluster, favourite))
    page = _page(builder=plugged, request=PageRequest(rows=6, per_row=8))
    assert page.scorer == "cluster"
    top = page.rows[0]
    assert top.kind == "top_picks"
    assert (synth.cluster[[i.row for i in top.items]] == favourite).all()
    for row in page.rows:  # within every row, model order (ties aside) for yes/no themes
        if row.kind in ("genre", "language", "top_picks"):
            scores = [round(i.score) for i in row.items]
            assert scores == sorted(scores, reverse=True), row.row_id


def test_redundancy_weight_trades_relevance_for_diversity() -> None:
    synth, builder = world()
    request = PageRequest(rows=8, per_row=8)

    def mean_redundancy(weight: float) -> float:
        tuned = PageBuilder(builder.catalog, builder.cowatch, None, PageConfig(redundancy_weight=weight))
        page = _page("movielens:9", builder=tuned, request=request)
        from ranking.page import _centroid

        cents = [_centroid(builder.catalog, np.array([i.row for i in r.items])) for r in page.rows]
        return float(np.mean([max(c @ d for d in cents[:k]) for k, c in enumerate(cents) if k]))

    assert mean_redundancy(2.0) < mean_redundancy(0.0)


def test_rows_are_chosen_stage_by_stage() -> None:
    """Stage-wise: a page of k rows is the first k rows of a page of k + 1 rows (each next row is chosen
    given the rows above it); Continue Watching is pinned above stage 1."""
    pages = [
        _page(history=_with_progress("movielens:3"), request=PageRequest(rows=k, per_row=8))
        for k in range(1, 9)
    ]
    for small, large in zip(pages, pages[1:], strict=False):
        assert _signature(large)[: len(small.rows)] == _signature(small)
    assert pages[-1].rows[0].kind == "continue_watching" and pages[-1].rows[0].reason.stage == 0
    selected = pages[-1].rows[1:]
    assert [r.reason.stage for r in selected] == list(range(1, len(selected) + 1))
    # the recorded redundancy is the largest content similarity to the rows above (pinned row included)
    from ranking.page import _centroid

    catalog = world()[1].catalog
    cents = [_centroid(catalog, np.array([i.row for i in r.items])) for r in pages[-1].rows]
    for k, row in enumerate(selected, start=1):
        assert row.reason.redundancy == pytest.approx(max(float(cents[k] @ c) for c in cents[:k]), abs=1e-5)
    plain = _page(request=PageRequest(rows=4, per_row=8)).rows
    assert plain[0].reason.stage == 1 and plain[0].reason.redundancy == 0.0


def test_rows_shorter_than_the_minimum_are_dropped_and_short_pages_are_allowed() -> None:
    synth, builder = world()
    page = _page(
        profile=Profile("movielens:3", maturity="kids"),
        request=PageRequest(rows=MAX_ROWS, per_row=MAX_PER_ROW),
    )
    assert 1 <= len(page.rows) < MAX_ROWS
    assert all(len(r.items) >= RowConfig().min_titles for r in page.rows if r.kind != "continue_watching")


# ----------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("request_", [
    PageRequest(rows=0), PageRequest(rows=MAX_ROWS + 1), PageRequest(per_row=0), PageRequest(per_row=MAX_PER_ROW + 1),
    PageRequest(exploration=-0.1), PageRequest(exploration=1.5),
])  # fmt: skip
def test_out_of_bounds_requests_are_rejected(request_: PageRequest) -> None:
    with pytest.raises(InvalidPageRequestError, match="expected"):
        _page(request=request_)


def test_a_scorer_returning_the_wrong_shape_is_an_error() -> None:
    synth, builder = world()

    class Broken:
        def score(self, profile: ProfileFeatures, title_rows: np.ndarray) -> np.ndarray:
            return np.zeros(len(title_rows) + 1)

    features = compute_profile_features(history_of(synth.events, "movielens:3"), synth.features)
    with pytest.raises(PageError, match="expected one per title"):
        build_page(builder.catalog, builder.viewer(features, None), Broken())


def test_similar_titles_errors_and_personalisation() -> None:
    synth, builder = world()
    with pytest.raises(UnknownTitleError, match="tmdb:nope"):
        builder.similar("tmdb:nope")
    with pytest.raises(InvalidPageRequestError, match=r"limit=0"):
        builder.similar(synth.features.title_ids[0], limit=0)
    anchor = synth.features.title_ids[11]
    plain = builder.similar(anchor, limit=10)
    assert anchor not in [s.title_id for s in plain]
    assert (
        synth.cluster[[synth.features.index[s.title_id] for s in plain]] == synth.cluster[11]
    ).mean() >= 0.7
    history = history_of(synth.events, "movielens:3")
    viewer = builder.viewer(compute_profile_features(history, synth.features), history)
    personal = builder.similar(anchor, limit=10, viewer=viewer)
    assert not set(history.title_ids) & {s.title_id for s in personal}
    assert [s.similarity for s in plain] == sorted((s.similarity for s in plain), reverse=True)


def test_synthetic_world_has_the_structure_the_tests_rely_on() -> None:
    synth, builder = world()
    assert len(CLUSTERS) == 7 and builder.cowatch is not None
    assert builder.catalog.servable.sum() > 200 and (synth.features.maturity_level == 0).sum() > 20


def test_watch_it_again_is_worth_at_most_its_utility_factor() -> None:
    """Watched titles are ranked among themselves: the model's liking for titles like the ones already
    watched cannot make the rewatch row outrank rows of new titles."""
    synth, builder = world()
    config = PageConfig(rows=RowConfig(rewatch_utility=0.25))
    tuned = PageBuilder(builder.catalog, builder.cowatch, None, config)
    page = _page("movielens:7", builder=tuned, request=PageRequest(rows=MAX_ROWS, per_row=5))
    rewatch = [r for r in page.rows if r.kind == "rewatch"]
    assert rewatch and rewatch[0].reason.relevance <= 0.25 + 1e-9
    assert page.rows.index(rewatch[0]) > [r.kind for r in page.rows].index("top_picks")


class FakeTrainedRanker:
    """Duck-types ranking.model.TrainedRanker: bound to some rows of ``titles``, -inf elsewhere."""

    def __init__(self, titles: TitleFeatures, bound: np.ndarray, scores: np.ndarray) -> None:
        self.titles, self.bound_rows, self.scores = titles, bound, scores
        self.calls = 0
        self.context_calls = 0
        self.manifest = {
            "profile_feature_config": {"half_life_events": 10.0, "max_history": 100, "recent_days": 7.0}
        }

    def score(self, profiles: list[ProfileFeatures], *, mask_seen: bool = True) -> np.ndarray:
        self.calls += 1
        return np.stack([self.scores[self.bound_rows] for _ in profiles]).astype(np.float32)

    def score_rows(self, profile: ProfileFeatures, rows: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.where(np.isin(rows, self.bound_rows), self.scores[rows], -np.inf).astype(np.float32)

    def scores_and_seen(self, profiles: list[ProfileFeatures]) -> tuple[np.ndarray, np.ndarray]:
        scores = self.score(profiles, mask_seen=False)
        return scores, np.zeros(scores.shape, dtype=bool)

    def log_probability_rows(self, profile: ProfileFeatures, contexts: list[Any]) -> np.ndarray:
        """The unified model's context call (Because You Watched rows, similar): the same scores here."""
        self.context_calls += 1
        out = np.full((len(contexts), len(self.titles)), -np.inf, dtype=np.float32)
        out[:, self.bound_rows] = self.scores[self.bound_rows] - np.log(np.exp(self.scores[self.bound_rows]).sum())
        return out


def test_the_trained_ranker_adapter_and_unscorable_titles() -> None:
    from ranking.rows import RankerScorer

    synth, builder = world()
    n = len(synth.features)
    scores = np.random.default_rng(3).normal(size=n)
    bound = np.arange(0, n, 2)  # half the titles are outside the ranker's bound rows
    fake = FakeTrainedRanker(synth.features, bound, scores)
    scorer = RankerScorer(fake)  # type: ignore[arg-type]
    assert scorer.profile_config is not None and scorer.profile_config.half_life_events == 10.0
    full = scorer.score_all(compute_profile_features(History("x", [], np.zeros(0), [], 0), synth.features))
    assert np.isneginf(full[1::2]).all()
    # log play-probabilities: the model's scores shifted by one normaliser, probabilities summing to 1
    assert np.allclose(full[bound] - scores[bound], (full[bound] - scores[bound])[0], atol=1e-5)
    assert np.isclose(np.exp(full[bound].astype(np.float64)).sum(), 1.0, atol=1e-4)
    plugged = PageBuilder(builder.catalog, builder.cowatch, scorer)
    fake.calls = 0
    page = _page(builder=plugged, request=PageRequest(rows=6, per_row=8))
    assert fake.calls == 1  # one model call per page: retrieval and ranking share it
    assert fake.context_calls <= 1  # and one for every Because You Watched row together
    assert page.scorer == "marquee-ranker"
    all_scores = [i.score for r in page.rows for i in r.items]
    assert np.isfinite(all_scores).all()  # -inf never reaches the response
    top = next(r for r in page.rows if r.kind == "top_picks")
    assert all(i.row % 2 == 0 for i in top.items)  # scored titles come before unscorable ones
    assert [i.score for i in top.items] == sorted((i.score for i in top.items), reverse=True)
    assert all(i.play_probability is not None and 0 < i.play_probability <= 1 for i in top.items)


def test_the_title_just_finished_gets_its_because_you_watched_row_at_once() -> None:
    synth, _ = world()
    base = history_of(synth.events, "movielens:3")
    watched = set(base.title_ids)
    new = next(t for t in synth.titles["title_id"] if t not in watched)
    last = float(base.timestamps[-1])
    after = History(base.profile_id, [*base.title_ids, new], np.concatenate([base.timestamps, [last + 60.0]]),
                    [*base.kinds, "complete"], base.last_seq + 1)  # fmt: skip
    before = _page(history=base, request=PageRequest(rows=8, per_row=6))
    page = _page(history=after, request=PageRequest(rows=8, per_row=6))
    assert not any(r.reason.evidence_title_id == new for r in before.rows)
    fresh = [i for i, r in enumerate(page.rows) if r.kind == "because_you_watched" and r.reason.evidence_title_id == new]
    assert fresh and fresh[0] <= 2, [r.row_id for r in page.rows]
    assert page.rows[0].kind == "top_picks"  # promoted after the first chosen row, not above it
