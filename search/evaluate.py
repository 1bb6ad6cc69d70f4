"""Offline evaluation of search on real known-item queries, and the fusion tuning that uses it.

Metrics (binary relevance; a query's gold set is the catalog titles its gold source ids resolve to):

* ``recall@k`` = |gold ∩ top k| / |gold| (k = 1, 10, 100);
* ``mrr`` = mean reciprocal rank of the first gold title within the top 100 (0 beyond: MRR@100);
* ``ndcg@10`` with gain 1 per gold title, ideal DCG over min(|gold|, 10) positions.

Only queries whose gold resolves to a title *in the searched scope* count (``n_resolved``); the
others are reported, never scored as misses, so figures from different scopes say how many queries
they stand on.

Tuning (:func:`tune_fusion`) evaluates a grid of fusion settings on precomputed channels; callers
must pass training or validation queries only (:func:`check_tuning_split` refuses test splits).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from search.engine import SYSTEMS, SearchEngine
from search.fusion import FusionConfig
from search.request import truncate_query

__all__ = [
    "METRICS",
    "EvalQuery",
    "EvalReport",
    "channel_grid",
    "check_tuning_split",
    "evaluate_rankings",
    "ndcg_at",
    "reciprocal_rank",
    "recall_at",
    "resolve_queries",
    "run_breakdown",
    "run_eval",
    "source_id_index",
    "tune_fusion",
]

METRICS: tuple[str, ...] = ("recall@1", "recall@10", "recall@100", "mrr", "ndcg@10")
MRR_DEPTH = 100


@dataclass(frozen=True)
class EvalQuery:
    """A query whose gold answers are catalog title ids (at least one)."""

    qid: str
    text: str
    gold: frozenset[str]


def recall_at(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Share of ``gold`` found in ``ranked[:k]``."""
    gold_set = set(gold)
    if not gold_set:
        raise ValueError("recall needs at least one gold title")
    return len(gold_set.intersection(ranked[:k])) / len(gold_set)


def reciprocal_rank(ranked: Sequence[str], gold: Iterable[str], depth: int = MRR_DEPTH) -> float:
    """1 / rank of the first gold title within ``depth`` (rank from 1); 0 when none is found."""
    gold_set = set(gold)
    for rank, title in enumerate(ranked[:depth], start=1):
        if title in gold_set:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[str], gold: Iterable[str], k: int = 10) -> float:
    """Binary-gain nDCG@k."""
    gold_set = set(gold)
    if not gold_set:
        raise ValueError("nDCG needs at least one gold title")
    dcg = sum(1.0 / math.log2(i + 2) for i, t in enumerate(ranked[:k]) if t in gold_set)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold_set), k)))
    return dcg / ideal


def evaluate_rankings(rankings: Sequence[Sequence[str]], queries: Sequence[EvalQuery]) -> dict[str, float]:
    """Mean of every metric in :data:`METRICS` over aligned ``rankings`` and ``queries``."""
    if len(rankings) != len(queries):
        raise ValueError(f"{len(rankings)} rankings for {len(queries)} queries; expected one per query")
    if not queries:
        return dict.fromkeys(METRICS, 0.0)
    sums = dict.fromkeys(METRICS, 0.0)
    for ranked, query in zip(rankings, queries, strict=True):
        sums["recall@1"] += recall_at(ranked, query.gold, 1)
        sums["recall@10"] += recall_at(ranked, query.gold, 10)
        sums["recall@100"] += recall_at(ranked, query.gold, 100)
        sums["mrr"] += reciprocal_rank(ranked, query.gold)
        sums["ndcg@10"] += ndcg_at(ranked, query.gold, 10)
    return {name: value / len(queries) for name, value in sums.items()}


def source_id_index(title_ids: Sequence[str], source_ids: Sequence[Iterable[str]]) -> dict[str, set[str]]:
    """Canonical source id (``imdb:tt0133093``) -> the title ids carrying it (usually one)."""
    out: dict[str, set[str]] = {}
    for title_id, ids in zip(title_ids, source_ids, strict=True):
        for sid in [title_id, *ids]:
            out.setdefault(str(sid), set()).add(str(title_id))
    return out


def resolve_queries(
    queries: Sequence[Any], by_source_id: Mapping[str, set[str]], scope: Iterable[str]
) -> list[EvalQuery]:
    """Keep the queries with a gold title in ``scope``; gold becomes those title ids.

    ``queries`` are :class:`data.queries.Query` objects (``qid``, ``query``, ``gold`` canonical ids).
    """
    in_scope = set(scope)
    out = []
    for q in queries:
        gold = {t for sid in q.gold for t in by_source_id.get(sid, ()) if t in in_scope}
        if gold:
            out.append(EvalQuery(qid=str(q.qid), text=str(q.query), gold=frozenset(gold)))
    return out


@dataclass
class EvalReport:
    """Metrics per system on one query set (the ``--json`` output of ``marquee eval search``)."""

    n_queries: int
    n_resolved: int
    systems: dict[str, dict[str, float]]
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"n_queries": self.n_queries, "n_resolved": self.n_resolved,
                "systems": {k: {m: round(v, 4) for m, v in s.items()} for k, s in self.systems.items()},
                **self.info}  # fmt: skip


def run_eval(
    engine: SearchEngine,
    queries: Sequence[EvalQuery],
    *,
    n_queries: int,
    systems: Sequence[str] = SYSTEMS,
    query_embeddings: np.ndarray | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> EvalReport:
    """Rank every resolved query with every system and average the metrics.

    Args:
        engine: the search engine (the same one the API serves).
        queries: resolved queries.
        n_queries: how many queries the set had before resolution (reported).
        systems: a subset of ``bm25``, ``dense``, ``hybrid``.
        query_embeddings: ``(len(queries), d)`` precomputed embeddings; computed here otherwise
            (one encoding per query, shared by ``dense`` and ``hybrid``).
        progress: ``progress(stage, done, total)``.
    """
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown systems {sorted(unknown)}; expected some of {SYSTEMS}")
    texts = [truncate_query(q.text)[0] for q in queries]
    needs_dense = any(s in ("dense", "hybrid") for s in systems) and engine.dense is not None
    if needs_dense and query_embeddings is None:
        query_embeddings = embed_in_batches(engine, texts, progress)
    results: dict[str, dict[str, float]] = {}
    for system in systems:
        if system in ("dense", "hybrid") and engine.dense is None:
            continue
        rankings = []
        for i, text in enumerate(texts):
            emb = query_embeddings[i] if query_embeddings is not None else None
            rankings.append(engine.rank(text, system, top_k=MRR_DEPTH, query_embedding=emb))  # type: ignore[arg-type]
            if progress and (i + 1) % 100 == 0:
                progress(system, i + 1, len(texts))
        results[system] = evaluate_rankings(rankings, queries)
    return EvalReport(n_queries=n_queries, n_resolved=len(queries), systems=results)


def embed_in_batches(engine: SearchEngine, texts: Sequence[str],
                     progress: Callable[[str, int, int], None] | None = None,
                     batch_size: int = 32) -> np.ndarray:  # fmt: skip
    """``(len(texts), d)`` query embeddings, encoded in batches (with progress)."""
    parts = []
    for start in range(0, len(texts), batch_size):
        parts.append(engine.embed(list(texts[start : start + batch_size])))
        if progress:
            progress("encoding", min(start + batch_size, len(texts)), len(texts))
    if not parts:
        return np.empty((0, 0), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32, copy=False)


# ------------------------------------------------------------------------------------------ tuning


def check_tuning_split(name: str) -> None:
    """Refuse to tune on anything that looks like a test split (``reddit-tomt:test``, ``..._test.jsonl``),
    on ``marquee-ml:all`` or on the multilingual file itself (:func:`data.queries.check_tuning_set`,
    whose :class:`data.errors.TuningSetError` becomes a ``ValueError`` here)."""
    from data.errors import TuningSetError
    from data.queries import check_tuning_set

    try:
        check_tuning_set(name)
    except TuningSetError as exc:
        raise ValueError(f"refusing to tune on {name!r}: {exc}") from exc
    lowered = name.lower()
    if "test" in lowered:
        raise ValueError(f"refusing to tune on {name!r}: tune on training or validation splits only")


def default_grid() -> list[FusionConfig]:
    """The fusion settings :func:`tune_fusion` tries by default.

    The gate ``(0, 0)`` is always open and comes with ``dense_yield=0``: classic ungated fusion. Every
    setting keeps the served weights of the ``titles``, ``intent`` and ``like`` channels (a grid that
    left them out would tune a hybrid without them); :func:`channel_grid` varies those.
    """
    served = dict(FusionConfig().weights)
    gates = ((0.0, 0.0, 0.0), (0.2, 0.6, 0.0), (0.2, 0.6, 0.8), (0.3, 0.8, 0.8), (0.5, 0.9, 0.8))
    grid = []
    contents = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
    for k, names, content, (low, high, yield_) in itertools.product(
        (30.0, 60.0, 100.0), (0.0, 0.5, 1.0, 2.0), contents, gates
    ):
        grid.append(FusionConfig(method="rrf", rrf_k=k, weights={**served, "dense": 1.0, "names": names, "content": content},
                                 gate_low=low, gate_high=high, dense_yield=yield_))  # fmt: skip
    for names, content, (low, high, yield_) in itertools.product((0.0, 0.25, 0.5, 1.0), contents, gates):
        grid.append(FusionConfig(method="linear", weights={**served, "dense": 1.0, "names": names, "content": content},
                                 gate_low=low, gate_high=high, dense_yield=yield_))  # fmt: skip
    return grid


def channel_grid(base: FusionConfig | None = None) -> list[FusionConfig]:
    """The served fusion with the ``titles``, ``intent`` and ``like`` weights varied (0 drops a channel)."""
    base = base or FusionConfig()
    return [base.with_(weights={"titles": t, "intent": i, "like": lk})
            for t, i, lk in itertools.product((0.0, 0.25, 0.5, 1.0), (0.0, 0.5, 1.0, 2.0), (0.5, 1.0, 2.0))]  # fmt: skip


def tune_fusion(
    engine: SearchEngine,
    queries: Sequence[EvalQuery],
    query_embeddings: np.ndarray,
    grid: Sequence[FusionConfig] | None = None,
    *,
    objective: Callable[[Mapping[str, float]], float] | None = None,
) -> list[tuple[FusionConfig, dict[str, float]]]:
    """Evaluate fusion settings on precomputed channels; best first by ``objective``.

    The default objective is the mean of MRR and Recall@10 (the two figures the hybrid must win on).
    Channels are retrieved once per query with the largest ``candidates`` of the grid, with query
    understanding's ``intent`` and ``like`` channels, and ranked exactly as the served hybrid
    (:meth:`SearchEngine.hybrid_order`).
    """
    grid = list(grid or default_grid())
    objective = objective or (lambda m: (m["mrr"] + m["recall@10"]) / 2)
    top = max(max(c.candidates for c in grid), MRR_DEPTH)
    retrieved = []
    for i, q in enumerate(queries):
        text = truncate_query(q.text)[0]
        parsed = engine.understand(text)
        r, allowed = engine.retrieve_parsed(text, parsed, top, query_embeddings[i])
        retrieved.append((r, parsed, allowed))
    scored = []
    for config in grid:
        rankings = []
        for r, parsed, allowed in retrieved:
            pos = engine.hybrid_order(r, parsed, config, allowed)
            rankings.append([engine.catalog.title_ids[int(p)] for p in pos[:MRR_DEPTH]])
        scored.append((config, evaluate_rankings(rankings, queries)))
    scored.sort(key=lambda item: -objective(item[1]))
    return scored


# ------------------------------------------------------------------------------------------ breakdowns

BREAKDOWNS: tuple[str, ...] = ("lang", "script", "kind")


def precision_at(ranked: Sequence[str], gold: Iterable[str], k: int = 10) -> float:
    """Share of ``ranked[:k]`` in ``gold``, over ``min(k, |gold|)`` (an intent query's gold is a set)."""
    gold_set = set(gold)
    if not gold_set:
        raise ValueError("precision needs at least one gold title")
    return len(gold_set.intersection(ranked[:k])) / min(k, len(gold_set))


UNDERSTOOD_TYPES: tuple[str, ...] = ("type", "genres", "country", "years", "maturity", "person")


def understanding_accuracy(queries: Sequence[Any],
                           understand: Callable[[str], Any] | None = None) -> dict[str, dict[str, float]]:  # fmt: skip
    """Per constraint type of the queries' gold ``intent`` (:data:`UNDERSTOOD_TYPES`): how often
    ``understand`` (default :func:`search.understand.understand`; the engine's passes its people
    gazetteer) read exactly that value (``accuracy``, over the queries that state it) and how often it
    read one the query does not state (``spurious``, over the queries that do not)."""
    from search.understand import understand as parse

    read = understand or parse
    right: dict[str, list[int]] = {}
    spurious: dict[str, list[int]] = {}
    for q in queries:
        if q.intent is None:
            continue
        parsed = read(q.query)
        got: dict[str, object] = {}
        types = [c.value for c in parsed.of("type")]
        got["type"] = types[0] if len(types) == 1 else (tuple(types) or None)
        got["genres"] = tuple(sorted(c.value for c in parsed.of("genre"))) or None
        countries = [c.value for c in parsed.of("country")]
        got["country"] = countries[0] if len(countries) == 1 else (tuple(countries) or None)
        years = [c.value for c in parsed.of("years")]
        got["years"] = years[0] if years else None
        audience = [c.value for c in parsed.of("audience")]
        got["maturity"] = audience[0] if audience else None
        people = [c.value for c in parsed.of("person")]
        got["person"] = people[0] if len(people) == 1 else (tuple(people) or None)
        want = q.intent
        stated = {"type": want.type, "genres": tuple(sorted(want.genres)) or None, "country": want.country,
                  "years": f"{want.years[0]}-{want.years[1]}" if want.years else None, "maturity": want.maturity,
                  "person": want.person}  # fmt: skip
        for key, value in stated.items():
            if q.kind != "intent" and key != "person":
                continue  # a person query's gold states the person only ("films de X" leaves the type open)
            if value is None:
                spurious.setdefault(key, []).append(int(got[key] is not None))
            elif key == "years" and isinstance(got[key], str):
                low, _, high = str(got[key]).partition("-")
                ok = (not low or int(low) == want.years[0]) and (not high or int(high) == want.years[1])  # type: ignore[index]
                right.setdefault(key, []).append(int(ok))
            elif key == "maturity":  # "for kids" reads as a ceiling; kids/older_kids both are that
                right.setdefault(key, []).append(int(got[key] is not None and value in ("kids", "older_kids")))
            else:
                right.setdefault(key, []).append(int(got[key] == value))
    out: dict[str, dict[str, float]] = {}
    for key in UNDERSTOOD_TYPES:
        r, s = right.get(key, []), spurious.get(key, [])
        out[key] = {"n": len(r), "accuracy": round(sum(r) / len(r), 4) if r else float("nan"),
                    "spurious": round(sum(s) / len(s), 4) if s else 0.0}  # fmt: skip
    return out


def run_breakdown(engine: SearchEngine, queries: Sequence[Any], titles: Sequence[Mapping[str, Any]],
                  by_source_id: Mapping[str, set[str]], *, by: Sequence[str] = BREAKDOWNS,
                  systems: Sequence[str] = SYSTEMS) -> dict[str, Any]:  # fmt: skip
    """The multilingual set's evaluation: known-item metrics overall and per ``by`` field (``lang``,
    ``script``, ``kind``) for each system; intent queries scored by precision@10 against every
    scope title that matches their intent (``data.queries.intent_matches``); and the understanding
    accuracy per constraint type (:func:`understanding_accuracy`).

    ``queries`` are ``data.queries.Query`` objects; ``titles`` the catalog's title records.
    """
    from data.queries import intent_matches

    unknown = set(by) - set(BREAKDOWNS)
    if unknown:
        raise ValueError(f"unknown breakdowns {sorted(unknown)}; expected some of {BREAKDOWNS}")
    scope = set(engine.catalog.title_ids)
    known = [q for q in queries if q.kind != "intent"]
    resolved = resolve_queries(known, by_source_id, scope)
    meta = {str(q.qid): q for q in queries}
    intents = [q for q in queries if q.kind == "intent" and q.intent is not None]
    in_scope = [t for t in titles if str(t["title_id"]) in scope]
    intent_gold = {str(q.qid): {str(t["title_id"]) for t in in_scope if intent_matches(t, q.intent)} for q in intents}
    intents = [q for q in intents if intent_gold[str(q.qid)]]
    systems = [s for s in systems if s == "bm25" or engine.dense is not None]
    texts = [truncate_query(q.text)[0] for q in resolved] + [truncate_query(q.query)[0] for q in intents]
    embeddings = embed_in_batches(engine, texts) if engine.dense is not None and texts else None
    report: dict[str, Any] = {"n_queries": len(queries), "n_known_item": len(known), "n_resolved": len(resolved),
                              "n_intent": len(intents), "systems": {}}  # fmt: skip
    for system in systems:
        rankings = [engine.rank(t, system, top_k=MRR_DEPTH,  # type: ignore[arg-type]
                                query_embedding=None if embeddings is None else embeddings[i])
                    for i, t in enumerate(texts)]  # fmt: skip
        known_rankings, intent_rankings = rankings[: len(resolved)], rankings[len(resolved):]
        entry: dict[str, Any] = {"overall": evaluate_rankings(known_rankings, resolved), "by": {}}
        for field_name in by:
            groups: dict[str, list[int]] = {}
            for i, q in enumerate(resolved):
                groups.setdefault(str(getattr(meta[q.qid], field_name) or "unknown"), []).append(i)
            entry["by"][field_name] = {
                key: {"n": len(idx), **{m: round(v, 4) for m, v in evaluate_rankings(
                    [known_rankings[i] for i in idx], [resolved[i] for i in idx]).items() if m in ("recall@10", "mrr")}}
                for key, idx in sorted(groups.items())
            }  # fmt: skip
        precisions = [precision_at(r, intent_gold[str(q.qid)]) for r, q in zip(intent_rankings, intents, strict=True)]
        entry["intent_precision@10"] = round(float(np.mean(precisions)), 4) if precisions else float("nan")
        entry["overall"] = {m: round(v, 4) for m, v in entry["overall"].items()}
        report["systems"][system] = entry
    # every query with a gold intent: the intent queries and the person queries ("films de Shah Rukh Khan")
    stated = intents + [q for q in queries if q.kind != "intent" and q.intent is not None]
    report["understanding"] = understanding_accuracy(stated, engine.understand)
    return report
