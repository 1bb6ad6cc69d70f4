"""The multilingual evaluation set (data/querysets/marquee-multilingual.jsonl) and its reader."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from data.errors import QueryFileError, TuningSetError
from data.queries import (
    MARQUEE_ML_FILE,
    Intent,
    assign_splits,
    check_tuning_set,
    intent_gold,
    intent_matches,
    read_queries,
    read_query_file,
    script_of,
)


@pytest.mark.parametrize(
    ("text", "script"),
    [("el juego del calamar", "latin"), ("Amélie", "latin"), ("韓国のゾンビ映画 電車", "cjk"), ("ゾンビ", "cjk"),
     ("泰坦尼克号", "cjk"), ("오징어 게임", "hangul"), ("تيتانيك", "arabic"), ("कुछ कुछ होता है", "devanagari"),
     ("Титаник", "cyrillic"), ("ไททานิค", "thai"), ("Τιτανικός", "greek"), ("טיטאניק", "hebrew"),
     ("Netflix のドラマ", "cjk"), ("ＮＥＴＦＬＩＸ", "latin"), ("1997 !!", "unknown"), ("", "unknown")],
)  # fmt: skip
def test_script_of(text: str, script: str) -> None:
    assert script_of(text) == script


def test_every_malformed_line_is_reported_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        "\n".join([
            '{"qid": "a", "query": "ok", "kind": "title", "split": "dev"}',
            "{not json",
            '{"qid": "b", "query": "x", "kind": "rumour"}',
            '{"qid": "c", "query": "x", "split": "train"}',
            '{"qid": "d", "query": "x", "kind": "intent"}',
            '{"qid": "e", "query": "x", "intent": {"years": [2000, 1990]}}',
            '{"qid": "f", "query": "x", "intent": {"decade": "90s"}}',
            '{"qid": "a", "query": "again"}',
            '{"qid": "g", "query": "fine", "intent": {"type": "movie", "genres": ["comedy"], "years": [1990, 1999]}}',
        ]) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    with pytest.raises(QueryFileError) as caught:
        read_query_file(path)
    problems = caught.value.problems
    assert [p.split(": ", 1)[0] for p in problems] == [f"{path}:{n}" for n in (2, 3, 4, 5, 6, 7, 8)]
    for text in ("not valid JSON", "'kind' 'rumour'", "'split' 'train'", "needs an 'intent'", "'years' must be",
                 "unknown intent key(s) ['decade']", "duplicate qid 'a'"):  # fmt: skip
        assert text in str(caught.value)


def test_fields_of_the_format_are_read(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    line = {"qid": "i1", "query": "comédies françaises des années 90", "lang": "fr", "kind": "intent",
            "script": "latin", "split": "dev", "gold": [{"source": "netflix", "id": "s1"}],
            "intent": {"type": "movie", "genres": ["comedy"], "country": "France", "years": [1990, 1999]}}  # fmt: skip
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    (query,) = read_queries(path)
    assert (query.kind, query.lang, query.script, query.split, query.gold) == ("intent", "fr", "latin", "dev",
                                                                              ("netflix:s1",))  # fmt: skip
    assert query.intent == Intent(type="movie", genres=("comedy",), country="France", years=(1990, 1999))
    assert query.intent.as_dict() == line["intent"]


def test_unknown_named_sets_say_what_exists(tmp_path: Path) -> None:
    with pytest.raises(QueryFileError, match="marquee-ml:dev"):
        read_queries("marquee-ml:train")
    with pytest.raises(QueryFileError, match="catalog directory"):
        read_queries("reddit-tomt:test")
    (tmp_path / "queries").mkdir()
    with pytest.raises(QueryFileError, match="available"):
        read_queries("reddit-tomt:test", tmp_path)


def test_tuning_guard_allows_dev_only() -> None:
    for name in (
        "marquee-ml:test",
        "marquee-ml:all",
        str(MARQUEE_ML_FILE),
        "reddit-tomt:test",
        "x_test.jsonl",
    ):
        with pytest.raises(TuningSetError):
            check_tuning_set(name)
    for name in ("marquee-ml:dev", "reddit-tomt:validation", "reddit-tomt:train"):
        check_tuning_set(name)


def _title(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"title_id": "netflix:s1", "type": "movie", "genres": ["comedy", "romance"],
                               "countries": ["France"], "year": 1995.0, "maturity_level": 1, "maturity_known": True,
                               "cast": ["Audrey Tautou"], "directors": ["Jean-Pierre Jeunet"]}  # fmt: skip
    return base | fields


def test_intent_matches_each_constraint() -> None:
    french_90s_comedy = Intent(type="movie", genres=("comedy",), country="France", years=(1990, 1999))
    assert intent_matches(_title(), french_90s_comedy)
    for change in ({"type": "show"}, {"genres": ["drama"]}, {"countries": ["Belgium"]}, {"year": 2001.0},
                   {"year": float("nan")}, {"year": None}):  # fmt: skip
        assert not intent_matches(_title(**change), french_90s_comedy), change
    kids = Intent(maturity="older_kids")
    assert intent_matches(_title(), kids)
    assert not intent_matches(_title(maturity_level=2), kids)
    assert not intent_matches(_title(maturity_known=False), kids)
    # no country in the data: French as the original language makes it French; another country's language not
    assert intent_matches(_title(countries=[], original_language="fr"), french_90s_comedy)
    for change in ({"countries": [], "original_language": "en"}, {"countries": [], "original_language": None},
                   {"countries": ["Belgium"], "original_language": "fr"}):  # fmt: skip
        assert not intent_matches(_title(**change), french_90s_comedy), change
    assert intent_matches(_title(), Intent(person="Jean-Pierre Jeunet"))
    assert not intent_matches(_title(), Intent(person="Jean-Pierre"))
    titles = [_title(title_id="netflix:s2"), _title(title_id="netflix:s1"), _title(title_id="x", type="show")]
    assert intent_gold(french_90s_comedy, titles) == ["netflix:s1", "netflix:s2"]


def test_assign_splits_is_stratified_deterministic_and_keeps_splits() -> None:
    records = [{"qid": f"q{i}", "lang": lang, "kind": kind} for i, (lang, kind) in
               enumerate([(lang, kind) for lang in ("en", "ja") for kind in ("plot", "title") for _ in range(5)])]  # fmt: skip
    splits = assign_splits(records)
    assert splits == assign_splits(records)
    groups: dict[tuple[str, str], Counter[str]] = {}
    for rec, split in zip(records, splits, strict=True):
        groups.setdefault((rec["lang"], rec["kind"]), Counter())[split] += 1
    assert all(abs(c["dev"] - c["test"]) == 1 for c in groups.values())
    kept = [rec | {"split": split} for rec, split in zip(records, splits, strict=True)]
    kept.append({"qid": "new", "lang": "en", "kind": "plot"})
    assert assign_splits(kept)[:-1] == splits


# ------------------------------------------------------------------------------------------ the set itself


def test_the_set_is_split_into_disjoint_balanced_halves() -> None:
    every = read_queries("marquee-ml:all")
    dev, test = read_queries("marquee-ml:dev"), read_queries("marquee-ml:test")
    assert {q.qid for q in dev}.isdisjoint(q.qid for q in test)
    assert len(dev) + len(test) == len(every)
    groups: dict[tuple[str | None, str | None], Counter[str | None]] = {}
    for q in every:
        groups.setdefault((q.lang, q.kind), Counter())[q.split] += 1
    unbalanced = {g: dict(c) for g, c in groups.items() if abs(c["dev"] - c["test"]) > 1}
    assert not unbalanced
    assert all(q.script == script_of(q.query) for q in every)


@pytest.mark.slow
@pytest.mark.realdata
def test_every_gold_title_is_in_the_default_scope_and_intents_recompute(real_catalog_dir: Path) -> None:
    from data.catalog import read_titles
    from data.queries import validate_queryset
    from embeddings.job import select_titles

    titles = select_titles(read_titles(real_catalog_dir), "default").to_dict("records")
    queries = read_queries("marquee-ml:all")
    assert validate_queryset(queries, titles) == []
    intents = [q for q in queries if q.kind == "intent"]
    assert intents and all(q.intent is not None and q.gold for q in intents)


def test_the_set_is_large_and_diverse_enough() -> None:
    queries = read_queries("marquee-ml:all")
    assert len(queries) >= 300
    assert len({q.lang for q in queries}) >= 13
    assert len({q.script for q in queries}) >= 6
    kinds = Counter(q.kind for q in queries)
    assert set(kinds) == {"plot", "cross-lingual", "title", "person", "intent"}
    assert all(q.intent is not None for q in queries if q.kind == "intent")
