"""Search evaluation: metrics on hand-computed examples, query resolution, run_eval and tuning."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data.queries import Query
from search.evaluate import (
    METRICS,
    EvalQuery,
    check_tuning_split,
    evaluate_rankings,
    ndcg_at,
    recall_at,
    reciprocal_rank,
    resolve_queries,
    run_eval,
    source_id_index,
    tune_fusion,
)
from search.fusion import FusionConfig
from tests.search.search_synthetic import CONCEPTS, build_engine, concepts_of


def test_recall_rr_and_ndcg_on_known_answers() -> None:
    ranked = ["a", "b", "c", "d"]
    assert recall_at(ranked, {"c"}, 1) == 0.0
    assert recall_at(ranked, {"c"}, 3) == 1.0
    assert recall_at(ranked, {"a", "z"}, 10) == 0.5
    assert reciprocal_rank(ranked, {"c"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranked, {"z"}) == 0.0
    assert reciprocal_rank(ranked, {"d"}, depth=3) == 0.0
    assert ndcg_at(ranked, {"a"}, 10) == 1.0
    assert ndcg_at(ranked, {"b"}, 10) == pytest.approx(1 / math.log2(3))
    # two gold titles at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5), ideal = 1 + 1/log2(3)
    assert ndcg_at(ranked, {"b", "d"}, 10) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    with pytest.raises(ValueError):
        recall_at(ranked, set(), 10)


def test_evaluate_rankings_averages_over_queries() -> None:
    queries = [EvalQuery("1", "q", frozenset({"a"})), EvalQuery("2", "q", frozenset({"x"}))]
    metrics = evaluate_rankings([["a", "b"], ["b", "x"]], queries)
    assert set(metrics) == set(METRICS)
    assert metrics["recall@1"] == 0.5
    assert metrics["recall@10"] == 1.0
    assert metrics["mrr"] == pytest.approx((1 + 0.5) / 2)
    with pytest.raises(ValueError, match="one per query"):
        evaluate_rankings([["a"]], queries)
    assert evaluate_rankings([], []) == dict.fromkeys(METRICS, 0.0)


def test_queries_resolve_through_source_ids_and_only_in_scope() -> None:
    index = source_id_index(["tmdb:603", "netflix:s1"], [["imdb:tt0133093", "movielens:2571"], []])
    queries = [
        Query("q1", "red pill", gold=("imdb:tt0133093",)),
        Query("q2", "unknown", gold=("imdb:tt0000001",)),
        Query("q3", "a show", gold=("netflix:s1",)),
    ]
    resolved = resolve_queries(queries, index, scope=["tmdb:603", "netflix:s1"])
    assert [(q.qid, set(q.gold)) for q in resolved] == [("q1", {"tmdb:603"}), ("q3", {"netflix:s1"})]
    assert [q.qid for q in resolve_queries(queries, index, scope=["netflix:s1"])] == ["q3"]


@pytest.mark.parametrize("name", ["reddit-tomt:test", "trec-tot:2023-test", "trec-tot:2024-test-partial", "my_TEST.jsonl"])
def test_tuning_refuses_test_splits(name: str) -> None:
    with pytest.raises(ValueError, match="refusing"):
        check_tuning_split(name)
    check_tuning_split("reddit-tomt:validation")


@pytest.fixture(scope="module")
def synthetic() -> tuple:
    engine, titles, _ = build_engine()
    # known-item queries written like a viewer's recollection: the title's concepts in other words
    queries = []
    for i in range(5, 65):
        words = " ".join(CONCEPTS[c][1 if i % 2 else 0] for c in concepts_of(i))
        queries.append(EvalQuery(f"q{i}", f"i remember a movie with a {words} but not the name",
                                 frozenset({str(titles.iloc[i]["title_id"])})))  # fmt: skip
    return engine, titles, queries


def test_run_eval_reports_every_system_with_consistent_figures(synthetic: tuple) -> None:
    engine, _, queries = synthetic
    report = run_eval(engine, queries, n_queries=80)
    assert report.n_queries == 80 and report.n_resolved == len(queries)
    assert set(report.systems) == {"bm25", "dense", "hybrid"}
    for metrics in report.systems.values():
        assert 0.0 <= metrics["recall@1"] <= metrics["recall@10"] <= metrics["recall@100"] <= 1.0
        assert metrics["recall@1"] <= metrics["mrr"] <= metrics["recall@100"]
    # half the queries are in French against mostly English descriptions: only the dense side can
    # answer those; the hybrid must not lose what dense finds
    assert report.systems["dense"]["recall@10"] > report.systems["bm25"]["recall@10"]
    assert report.systems["hybrid"]["recall@10"] >= report.systems["dense"]["recall@10"] - 0.05
    as_dict = report.as_dict()
    assert as_dict["n_resolved"] == len(queries) and "hybrid" in as_dict["systems"]


def test_run_eval_matches_a_manual_computation(synthetic: tuple) -> None:
    engine, _, queries = synthetic
    subset = queries[:10]
    report = run_eval(engine, subset, n_queries=10, systems=["dense"])
    rr = [reciprocal_rank(engine.rank(q.text, "dense", top_k=100), q.gold) for q in subset]
    assert report.systems["dense"]["mrr"] == pytest.approx(float(np.mean(rr)))
    with pytest.raises(ValueError, match="unknown systems"):
        run_eval(engine, subset, n_queries=10, systems=["tfidf"])


def test_tune_fusion_orders_settings_by_the_objective(synthetic: tuple) -> None:
    engine, _, queries = synthetic
    embeddings = engine.embed([q.text for q in queries])
    grid = [FusionConfig(weights={"dense": 1.0, "names": 0.0, "content": 0.0}),
            FusionConfig(weights={"dense": 0.0, "names": 0.0, "content": 1.0}),
            FusionConfig(method="rrf", weights={"dense": 1.0, "names": 1.0, "content": 0.3})]  # fmt: skip
    scored = tune_fusion(engine, queries, embeddings, grid)
    objectives = [(m["mrr"] + m["recall@10"]) / 2 for _, m in scored]
    assert objectives == sorted(objectives, reverse=True)
    assert {id(c) for c, _ in scored} == {id(c) for c in grid}
    # tuning ranks exactly as the served hybrid does under each setting (understanding included)
    dense_only = next(m for c, m in scored if c is grid[0])
    served = [engine.rank(q.text, "hybrid", top_k=100, query_embedding=embeddings[i], config=grid[0])
              for i, q in enumerate(queries)]  # fmt: skip
    assert dense_only == pytest.approx(evaluate_rankings(served, queries))


def test_the_default_grid_keeps_the_understanding_channels() -> None:
    from search.evaluate import channel_grid, default_grid

    served = FusionConfig().weights
    for config in default_grid()[:: 50]:
        assert all(config.weights[c] == served[c] > 0 for c in ("titles", "intent", "like"))
    varied = channel_grid()
    assert {c.weights["intent"] for c in varied} >= {0.0, 1.0} and {c.weights["titles"] for c in varied} >= {0.0, 0.5}


@pytest.mark.parametrize("name", ["marquee-ml:all", "marquee-ml:test"])
def test_tuning_refuses_the_multilingual_test_half(name: str) -> None:
    from data.queries import MARQUEE_ML_FILE

    for spec in (name, str(MARQUEE_ML_FILE)):
        with pytest.raises(ValueError, match="refusing"):
            check_tuning_split(spec)
    check_tuning_split("marquee-ml:dev")


def test_precision_at_counts_over_the_smaller_of_k_and_the_gold_set() -> None:
    from search.evaluate import precision_at

    assert precision_at(["a", "b", "c"], {"a", "c"}, 10) == 1.0
    assert precision_at(list("abcdefghij"), set("abcde") | set("xyzuvw"), 10) == 0.5
    with pytest.raises(ValueError, match="at least one"):
        precision_at(["a"], set())


def test_understanding_accuracy_per_constraint_type() -> None:
    from data.queries import Intent, Query
    from search.evaluate import understanding_accuracy

    queries = [
        Query("1", "90s french comedy", kind="intent", intent=Intent(genres=("comedy",), country="France", years=(1990, 1999))),
        Query("2", "korean horror movies", kind="intent", intent=Intent(type="movie", genres=("horror",), country="South Korea")),
        Query("3", "comedy for kids", kind="intent", intent=Intent(genres=("drama",), maturity="kids")),
    ]
    report = understanding_accuracy(queries)
    assert report["genres"] == {"n": 3, "accuracy": pytest.approx(2 / 3, abs=1e-4), "spurious": 0.0}
    assert report["country"]["accuracy"] == 1.0 and report["years"]["accuracy"] == 1.0
    assert report["maturity"]["accuracy"] == 1.0 and report["type"]["n"] == 1


def test_understanding_accuracy_reads_people_and_scores_person_queries_on_the_person_only() -> None:
    from data.queries import Intent, Query
    from search.evaluate import understanding_accuracy
    from search.understand import understand

    people = {"omar sy": "Omar Sy", "penelope cruz": "Penélope Cruz"}
    queries = [
        Query("1", "films avec omar sy", kind="person", intent=Intent(person="Omar Sy")),
        Query("2", "películas con Penélope Cruz", kind="person", intent=Intent(person="Penélope Cruz")),
        Query("3", "films with someone unknown", kind="person", intent=Intent(person="Nobody Known")),
        Query("4", "french movies", kind="intent", intent=Intent(type="movie", country="France")),
    ]
    report = understanding_accuracy(queries, lambda text: understand(text, people=people.get))
    assert report["person"] == {"n": 3, "accuracy": pytest.approx(2 / 3, abs=1e-4), "spurious": 0.0}
    # "films" in a person query is not a spurious type: the person query's gold states the person only
    assert report["type"] == {"n": 1, "accuracy": 1.0, "spurious": 0.0}
    without_people = understanding_accuracy(queries)
    assert without_people["person"]["accuracy"] == 0.0
