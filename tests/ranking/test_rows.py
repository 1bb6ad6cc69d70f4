"""Candidate rows, viewer state, row catalog, co-watch similarity and the row-title message catalog."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from data.events import History, Profile
from data.normalize import GENRES
from features import LANGUAGES, compute_profile_features
from ranking.row_titles import (
    GENRE_NAMES,
    LANGUAGE_NAMES,
    REASONS,
    TITLES,
    UI_LANGUAGES,
    genre_name,
    language_name,
    reason_text,
    resolve_ui_language,
    row_title,
)
from ranking.rows import (
    HeuristicScorer,
    RowCatalog,
    RowConfig,
    candidate_rows,
    popularity_prior,
    viewer_state,
)
from ranking.similar import CoWatchIndex, title_similarity
from tests.ranking.page_synthetic import Synthetic, history_of, make_synthetic


@lru_cache(maxsize=1)
def world() -> tuple[Synthetic, RowCatalog, CoWatchIndex]:
    synth = make_synthetic()
    return (
        synth,
        RowCatalog.from_frame(synth.titles, synth.features),
        CoWatchIndex.from_frame(synth.events, synth.features),
    )


def _viewer(profile_id: str = "movielens:3", profile: Profile | None = None, history: History | None = None):
    synth, catalog, _ = world()
    history = history if history is not None else history_of(synth.events, profile_id)
    features = compute_profile_features(history, synth.features, profile=profile or Profile(profile_id))
    return viewer_state(features, history, synth.features)


def _rows(viewer, **config):
    synth, catalog, cowatch = world()
    cheap = HeuristicScorer(catalog, cowatch).score(viewer.profile, np.arange(len(catalog)))
    return candidate_rows(catalog, viewer, retrieval=cheap, cowatch=cowatch, config=RowConfig(**config))


# ----------------------------------------------------------------------------------------- viewer state


def _history(events: list[tuple[str, str]], extra: dict | None = None) -> History:
    return History("p", [t for t, _ in events], np.arange(len(events), dtype=np.float64) * 10.0,
                   [k for _, k in events], len(events), extra or {})  # fmt: skip


def test_viewer_state_splits_started_and_finished_titles() -> None:
    synth, _, _ = world()
    a, b, c, d = synth.features.title_ids[:4]
    history = _history([(a, "play"), (b, "rating"), (c, "play"), (c, "progress"), (a, "complete"), (d, "play"),
                        (b, "play")])  # fmt: skip
    state = viewer_state(compute_profile_features(history, synth.features), history, synth.features)
    rows = synth.features.rows
    # b was finished then started again: in progress (most recent first), and still finished once
    assert state.in_progress.tolist() == rows([b, d, c]).tolist()
    assert sorted(state.finished.tolist()) == sorted(rows([a, b]).tolist())
    assert sorted(state.seen.tolist()) == sorted(rows([a, b, c, d]).tolist())
    assert np.isnan(state.progress).all()


def test_viewer_state_uses_position_and_duration_when_present() -> None:
    synth, _, _ = world()
    a, b = synth.features.title_ids[:2]
    extra = {"position_s": [100.0, 5900.0], "duration_s": [6000.0, 6000.0]}
    history = _history([(a, "progress"), (b, "progress")], extra)
    state = viewer_state(compute_profile_features(history, synth.features), history, synth.features)
    assert state.in_progress.tolist() == [synth.features.index[a]]
    assert state.progress[0] == pytest.approx(100 / 6000)
    assert state.finished.tolist() == [synth.features.index[b]]


def test_viewer_state_onboarding_input_is_validated_and_counts_as_seen() -> None:
    synth, _, _ = world()
    empty = History("new", [], np.zeros(0), [], 0)
    features = compute_profile_features(empty, synth.features)
    liked = synth.features.title_ids[5]
    state = viewer_state(features, empty, synth.features, liked_genres=["comedy", "not-a-genre", "comedy"],
                         liked_titles=[liked, "tmdb:does-not-exist"])  # fmt: skip
    assert state.liked_genres == ("comedy",)
    assert state.liked_titles.tolist() == [synth.features.index[liked]]
    assert state.seen.tolist() == [synth.features.index[liked]]
    assert not state.is_cold
    assert viewer_state(features, empty, synth.features).is_cold


# ----------------------------------------------------------------------------------------- catalog


def test_row_catalog_languages_servability_and_dates() -> None:
    synth, catalog, _ = world()
    ko, fr, es = LANGUAGES.index("ko"), LANGUAGES.index("fr"), LANGUAGES.index("es")
    titles = synth.titles.set_index("title_id")
    for i, tid in enumerate(catalog.features.title_ids):
        countries = list(titles.loc[tid, "countries"])
        assert catalog.content_languages[i, ko] == (countries[:1] == ["South Korea"])
        assert catalog.content_languages[i, es] == (countries[:1] == ["Spain"])
        assert catalog.content_languages[i, fr] == ("fr" in titles.loc[tid, "description_languages"])
        assert catalog.servable[i] == bool({"netflix", "movielens"} & set(titles.loc[tid, "sources"]))
        assert np.isnan(catalog.added_at[i]) == pd.isna(titles.loc[tid, "date_added"])
    assert catalog.display_name(3, "ko") != catalog.names[3]  # a localized name exists for title 3
    assert catalog.display_name(3, "de") == catalog.names[3]
    assert ((catalog.prior >= 0) & (catalog.prior <= 1)).all()


def test_popularity_prior_orders_by_events_then_votes_then_recency() -> None:
    events = np.array([0, 5, 50, 0, 0, 0])
    votes = np.array([np.nan, np.nan, np.nan, 10.0, 1000.0, np.nan])
    added = np.array([np.nan] * 5 + [1.6e9])
    prior = popularity_prior(events, votes, added)
    assert prior[2] > prior[1] > 0 and prior[4] > prior[3] > 0
    assert prior[0] == 0 and 0 < prior[5] <= 0.5


# ----------------------------------------------------------------------------------------- similarity


def test_cowatch_cosine_matches_brute_force() -> None:
    synth, _, cowatch = world()
    dense = cowatch.matrix.toarray()
    norms = np.sqrt(dense.sum(axis=0))
    for row in (0, 7, 42):
        expected = (dense.T @ dense[:, row]) / np.maximum(norms * norms[row], 1e-12)
        expected[norms == 0] = 0
        np.testing.assert_allclose(cowatch.neighbors(row), expected, rtol=1e-5, atol=1e-6)


def test_title_similarity_ranks_same_cluster_titles_first() -> None:
    synth, _, cowatch = world()
    row = 11
    sim = title_similarity(synth.features, np.array([row]), cowatch=cowatch)
    sim[row] = -1
    top = np.argsort(-sim)[:10]
    assert (synth.cluster[top] == synth.cluster[row]).mean() >= 0.8


def test_title_similarity_without_embeddings_uses_the_remaining_signals() -> None:
    synth, _, cowatch = world()
    from dataclasses import replace

    no_emb = replace(synth.features, has_embedding=np.zeros(len(synth.features), bool),
                     embeddings=np.zeros_like(synth.features.embeddings), index={})  # fmt: skip
    sim = title_similarity(no_emb, np.array([11]), cowatch=None)
    genres_11 = synth.features.genres[11] > 0
    same_genres = (synth.features.genres[:, genres_11] > 0).any(axis=1)
    assert (sim[same_genres] > 0).all() and (sim[~same_genres] == 0).all()


# ----------------------------------------------------------------------------------------- candidate rows


def test_every_pool_is_eligible_for_the_viewer() -> None:
    synth, catalog, _ = world()
    for level in range(4):
        maturity = ["kids", "older_kids", "teens", "adults"][level]
        viewer = _viewer(profile=Profile("movielens:3", maturity=maturity, languages=("en", "ko")))
        for row in _rows(viewer):
            assert (catalog.features.maturity_level[row.pool] <= level).all(), row.row_id
            assert catalog.servable[row.pool].all(), row.row_id
            assert np.all(np.diff(row.pool) > 0), row.row_id  # sorted, no duplicates
            assert len(row.theme) == len(row.pool)
            if row.kind not in ("rewatch", "continue_watching"):
                assert not np.isin(row.pool, viewer.seen).any(), row.row_id
            if row.kind == "rewatch":
                assert np.isin(row.pool, viewer.finished).all()


def test_genre_rows_follow_the_viewers_affinity() -> None:
    viewer = _viewer("movielens:5")
    rows = [r for r in _rows(viewer, min_genre_share=0.0) if r.kind == "genre"]
    top = GENRES[int(np.argmax(viewer.profile.genre_affinity))]
    assert rows[0].row_id == f"genre:{top}"
    assert rows[0].reason == "genre_affinity" and rows[0].params["share"] > 0
    col = GENRES.index(top)
    assert (world()[0].features.genres[rows[0].pool, col] > 0).all()


def test_language_rows_split_shows_and_movies_of_the_preferred_language() -> None:
    _, catalog, _ = world()
    viewer = _viewer(profile=Profile("movielens:3", languages=("en", "ko")))
    rows = {r.row_id: r for r in _rows(viewer, min_titles=3) if r.kind == "language"}
    ko = LANGUAGES.index("ko")
    assert {"language:ko:show", "language:ko:movie"} <= set(rows)
    for rid, is_show in (("language:ko:show", True), ("language:ko:movie", False)):
        pool = rows[rid].pool
        assert catalog.content_languages[pool, ko].all() and (catalog.is_show[pool] == is_show).all()
        assert rows[rid].reason == "language_preferred"


def test_a_cold_viewer_gets_popular_and_explore_genres_and_no_personal_rows() -> None:
    empty = History("new", [], np.zeros(0), [], 0)
    viewer = _viewer(profile=Profile("new"), history=empty)
    rows = _rows(viewer)
    kinds = {r.kind for r in rows}
    assert {"popular", "genre"} <= kinds
    assert not kinds & {"top_picks", "because_you_watched", "continue_watching", "rewatch"}
    assert {r.reason for r in rows if r.kind == "genre"} == {"genre_explore"}


def test_because_you_watched_pools_are_similar_to_the_evidence() -> None:
    synth, _, _ = world()
    viewer = _viewer("movielens:7")
    rows = [r for r in _rows(viewer) if r.kind == "because_you_watched"]
    assert 1 <= len(rows) <= RowConfig().max_because_rows
    for row in rows:
        evidence = row.evidence[0]
        assert row.row_id == f"because-you-watched:{synth.features.title_ids[evidence]}"
        best = row.pool[np.argsort(-row.theme)[:10]]
        assert (synth.cluster[best] == synth.cluster[evidence]).mean() >= 0.7


def test_new_arrivals_fall_back_to_the_latest_additions() -> None:
    synth, catalog, _ = world()
    viewer = _viewer("movielens:3")
    wide = {r.row_id: r for r in _rows(viewer, new_arrival_days=3650)}["new-arrivals"]
    narrow = {r.row_id: r for r in _rows(viewer, new_arrival_days=1)}["new-arrivals"]
    assert wide.reason == "recently_added" and narrow.reason == "latest_added"
    assert not np.isnan(catalog.added_at[narrow.pool]).any()


# ----------------------------------------------------------------------------------------- row titles


def test_message_catalog_is_complete_for_every_ui_language() -> None:
    for table in (TITLES, REASONS):
        for key, templates in table.items():
            assert set(templates) == set(UI_LANGUAGES), key
    assert set(GENRE_NAMES) == set(GENRES)
    assert all(len(v) == 4 for v in (*GENRE_NAMES.values(), *LANGUAGE_NAMES.values()))  # en fr es de inline
    assert set(LANGUAGES) - {"other"} <= set(LANGUAGE_NAMES)
    assert len(UI_LANGUAGES) >= 18
    for lang in UI_LANGUAGES[4:]:  # the others name every genre and language in their own words
        assert sum(genre_name(g, lang) != genre_name(g, "en") for g in GENRES) >= len(GENRES) // 2, lang
        assert all(language_name(code, lang) != code for code in set(LANGUAGES) - {"other"}), lang


@pytest.mark.parametrize(("lang", "expected"), [
    ("ja", "韓国語のシリーズ"), ("ko", "한국어 시리즈"), ("zh", "韩语剧集"), ("it", "Serie in coreano"),
    ("ru", "Сериалы — язык: корейский"),
])  # fmt: skip
def test_language_rows_in_more_ui_languages(lang: str, expected: str) -> None:
    assert row_title("language_show", lang, language="ko") == expected


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "Korean Series"), ("fr", "Séries en coréen"), ("es", "Series en coreano"), ("de", "Serien auf Koreanisch"),
])  # fmt: skip
def test_language_row_titles_are_translated(lang: str, expected: str) -> None:
    assert row_title("language_show", lang, language="ko") == expected


def test_row_titles_and_reasons_render_in_each_language() -> None:
    rendered = {lang: row_title("because_you_watched", lang, title="Amélie") for lang in UI_LANGUAGES}
    assert all("Amélie" in text for text in rendered.values())
    assert len(set(rendered.values())) == len(UI_LANGUAGES)
    assert row_title("genre", "es", genre="comedy") == "Comedias"
    assert (
        reason_text("genre_affinity", "fr", genre="comedy", share=23)
        == "Comédies : 23 % de vos visionnages récents"
    )
    with pytest.raises(KeyError, match="no message 'nope'"):
        row_title("nope", "en")


@pytest.mark.parametrize(("requested", "fallback", "expected"), [
    ("fr", "es", "fr"), ("fr-CA", None, "fr"), ("pt", "es", "pt"), ("sw", "es", "es"), (None, "de", "de"),
    ("sw", "xx", "en"), ("pt-BR", None, "pt"),
    (None, None, "en"), ("ES_mx", None, "es"),
])  # fmt: skip
def test_resolve_ui_language(requested: str | None, fallback: str | None, expected: str) -> None:
    assert resolve_ui_language(requested, fallback) == expected


def test_catalog_rows_missing_from_the_frame_are_not_servable() -> None:
    synth, _, _ = world()
    partial = synth.titles.iloc[10:]
    catalog = RowCatalog.from_frame(partial, synth.features)
    assert not catalog.servable[:10].any()
    assert catalog.names[0] == synth.features.title_ids[0]
    assert isinstance(partial, pd.DataFrame)


def test_pool_cut_keeps_the_highest_keys_and_breaks_ties_by_row() -> None:
    from ranking.rows import _pool

    key = np.array([5.0, 1.0, 3.0, 3.0, 3.0, 9.0, 0.0])
    mask = np.array([True, True, True, True, True, True, False])
    assert _pool(mask, key, 3).tolist() == [0, 2, 5]  # 9, 5, then the lowest-row 3
    assert _pool(mask, key, 10).tolist() == [0, 1, 2, 3, 4, 5]
    assert _pool(mask, key, 0).tolist() == []


def test_fallback_scorer_scores_every_servable_title_the_same_way_both_paths() -> None:
    synth, catalog, cowatch = world()
    scorer = HeuristicScorer(catalog, cowatch)
    viewer = _viewer("movielens:12")
    servable = np.flatnonzero(catalog.servable)
    np.testing.assert_allclose(scorer.score_all(viewer.profile)[servable], scorer.score(viewer.profile, servable),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    cold = _viewer(profile=Profile("new"), history=History("new", [], np.zeros(0), [], 0))
    np.testing.assert_allclose(scorer.score(cold.profile, servable), 0.5 * catalog.prior[servable], rtol=1e-6)


@pytest.mark.parametrize("keep", [2000, 7])
def test_similar_pools_from_the_kept_neighbours_equal_the_full_computation(
    keep: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RowCatalog.similar_pool (kept top similar titles, filtered per request) = _pool over the full similarity,
    also when a viewer's eligibility leaves fewer kept titles than the pool needs (keep=7: full fallback)."""
    import ranking.rows as rows_module
    from ranking.rows import _pool

    monkeypatch.setattr(rows_module, "SIMILAR_KEEP", keep)
    synth, _, cowatch = world()
    catalog = RowCatalog.from_frame(synth.titles, synth.features)  # a fresh cache
    rng = np.random.default_rng(0)
    for row in (0, 5, 17, 42):
        for _ in range(3):
            eligible = catalog.servable & (rng.random(len(catalog)) < 0.7)
            for size in (5, 40):
                rows, sims = catalog.similar_pool(row, eligible, size, cowatch)
                sim = title_similarity(catalog.features, np.array([row]), cowatch=cowatch, subset=catalog.subset)
                expected = _pool(eligible & (sim > 0), sim, size)
                np.testing.assert_array_equal(rows, expected)
                np.testing.assert_allclose(sims, sim[expected])
