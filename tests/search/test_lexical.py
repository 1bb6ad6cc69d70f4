"""Lexical retrieval: folding, fields, exact/near-exact/prefix title matching, people, coverage."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.lexical import (
    LexicalConfig,
    LexicalDocuments,
    LexicalIndex,
    _similarities,
    _similarity,
    stem,
    tokenize,
)

TITLES = [
    [("", "The Matrix")],
    [("", "The Matrix Reloaded")],
    [("", "Stranger Things")],
    [("", "Beyond Stranger Things")],
    [("", "Amélie"), ("original", "Le Fabuleux Destin d'Amélie Poulain"), ("fr", "Le Fabuleux Destin d'Amélie Poulain")],
    [("", "Philadelphia")],
    [("", "Tom Segura: Ball Hog")],
    [("", "Love")],
    [("", "Lovesong")],
    [("", "The Strangers")],
]
PEOPLE = [
    ["Keanu Reeves", "Lana Wachowski"],
    ["Keanu Reeves"],
    ["Millie Bobby Brown"],
    [],
    ["Audrey Tautou"],
    ["Tom Hanks", "Denzel Washington"],
    ["Tom Segura"],
    ["Tom Hansen"],
    [],
    ["Liv Tyler"],
]
CONTENT = [
    "sci-fi a hacker learns reality is a simulation",
    "sci-fi the hacker returns to fight the machines",
    "horror kids in a small town face a monster from another dimension",
    "documentary the making of a show about a monster",
    "romance une jeune femme timide decide de changer la vie des autres",
    "drama a lawyer with aids sues his firm",
    "stand-up comedy special",
    "romance a couple falls in love",
    "music a love song",
    "horror masked strangers terrorize a couple",
]


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex(LexicalDocuments(TITLES, PEOPLE, CONTENT))


def top(scores: np.ndarray, k: int = 3) -> list[int]:
    order = np.lexsort((np.arange(scores.size), -scores))
    return [int(i) for i in order[:k] if scores[i] > 0]


def test_tokenize_folds_accents_and_case() -> None:
    assert tokenize("Amélie's CAFÉ  Über") == ["amelie", "s", "cafe", "uber"]
    assert tokenize("") == []


def test_documents_must_align() -> None:
    with pytest.raises(ValueError, match="one entry per title"):
        LexicalDocuments([[("", "A")]], [], ["x"])


def test_config_rejects_unknown_fields_and_negative_weights() -> None:
    with pytest.raises(ValueError, match="unknown lexical fields"):
        LexicalConfig(field_weights={"plot": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        LexicalConfig(field_weights={"title": -1.0})


def test_exact_title_match_is_tier_two_in_any_case_and_accent(index: LexicalIndex) -> None:
    scores = index.score("AMELIE")
    assert scores.exact[4] == 2
    assert int(scores.exact.sum()) == 2
    assert index.score("the matrix").exact[0] == 2
    assert index.score("the matrix").exact[1] == 0  # "Reloaded" is not an exact match


def test_localized_and_original_titles_match(index: LexicalIndex) -> None:
    scores = index.score("le fabuleux destin")
    assert top(scores.fields["names"], 1) == [4]
    assert index.matched_title_string(4, scores.query) == ("original", "Le Fabuleux Destin d'Amélie Poulain")


@pytest.mark.parametrize(("typo", "expected"), [("matrx", 0), ("the matirx", 0), ("strnger things", 2), ("phladelphia", 5)])
def test_typos_are_near_exact(index: LexicalIndex, typo: str, expected: int) -> None:
    scores = index.score(typo)
    assert scores.exact[expected] == 1
    assert top(scores.fields["names"], 1) == [expected]
    assert scores.coverage >= 0.9


def test_prefix_typing_finds_the_title_being_typed(index: LexicalIndex) -> None:
    scores = index.score("stranger thi")
    assert top(scores.fields["names"], 1) == [2]
    assert scores.exact[2] == 1  # typed most of the title: near-exact
    early = index.score("stra")
    assert early.exact[2] == 0  # too little typed to call it near-exact ...
    assert {2, 3, 9} <= set(top(early.fields["title"], 5))  # ... but the prefix already finds them


def test_full_person_name_beats_a_shared_first_name(index: LexicalIndex) -> None:
    scores = index.score("tom hanks")
    assert top(scores.fields["names"], 1) == [5]
    assert index.matched_people(5, scores.query) == ["Tom Hanks"]
    assert index.matched_people(6, scores.query) == []


def test_coverage_is_high_for_names_and_low_for_descriptions_or_unknown_scripts(index: LexicalIndex) -> None:
    assert index.score("keanu reeves").coverage == pytest.approx(1.0)
    assert index.score("the matrix").coverage == pytest.approx(1.0)
    rambling = index.score("a movie where a guy finds out the world is fake and fights machines in the end")
    assert rambling.coverage < 0.35
    assert index.score("괴물 영화").coverage == 0.0
    assert index.score("괴물 영화").fields["names"].max() == 0.0


def test_long_queries_drop_stopwords_and_keep_the_rarest_terms() -> None:
    lex = LexicalIndex(LexicalDocuments(TITLES, PEOPLE, CONTENT), LexicalConfig(long_query_terms=5, max_query_terms=3))
    parsed = lex.parse("the a of and with simulation hacker reality machines fight the end")
    assert parsed.is_long
    assert len(parsed.tokens) == 3
    assert not {"the", "a", "of", "and", "with"} & set(parsed.tokens)
    short = lex.parse("the who")
    assert short.tokens == ("the", "who")  # short queries keep every word: "The Who" is a title


def test_content_field_scores_descriptions(index: LexicalIndex) -> None:
    scores = index.score("hacker simulation")
    assert top(scores.fields["content"], 1) == [0]
    assert scores.combined({"content": 1.0})[0] == scores.fields["content"][0]


def test_stems_are_taken_in_each_language_of_folded_words() -> None:
    assert stem(["magicians", "obsessed"], "en") == stem(["magician", "obsession"], "en") == ["magician", "obsess"]
    assert stem(tokenize("émeutes"), "fr") == stem(tokenize("émeute"), "fr") == ["emeut"]
    assert stem(["historias"], "es") == stem(["historia"], "es")
    assert stem(["magicians"], None) == stem(["magicians"], "en")  # undecided: the catalog's main language
    assert stem(["magicians", "dzieci"], "pl") == ["magicians", "dzieci"]  # no Polish stemmer: words stay whole
    assert stem([], "fr") == []


def test_content_matches_a_word_in_another_form_in_the_query_language() -> None:
    # a plot in the plural finds the description in the singular, each read by its own language's stemmer
    descriptions = [{"en": "a magician's rivalry with another magician"}, {"fr": "trois copains après une émeute"},
                    {"en": "two friends open a bakery"}]  # fmt: skip
    docs = LexicalDocuments([[("", "The Prestige")], [("", "La Haine")], [("", "Bread")]], [["Hugh Jackman"], [], []],
                            ["thriller", "drame", "comedy"], descriptions)  # fmt: skip
    lex = LexicalIndex(docs)
    assert top(lex.score("two rival magicians", language="en").fields["content"], 1) == [0]
    assert top(lex.score("des émeutes en banlieue", language="fr").fields["content"], 1) == [1]
    joined = [f"{c} {' '.join(d.values())}" for c, d in zip(docs.content, descriptions, strict=True)]
    # descriptions given as one English text: an English plural still meets its singular
    as_english = LexicalIndex(LexicalDocuments(docs.title_strings, docs.people, joined))
    assert top(as_english.score("magicians").fields["content"], 1) == [0]
    with pytest.raises(ValueError, match="one entry per title"):
        LexicalDocuments(docs.title_strings, docs.people, docs.content, descriptions[:2])


def test_empty_and_symbol_only_queries_score_nothing(index: LexicalIndex) -> None:
    for query in ("", "   ", "!!!", "\x00\x01"):
        scores = index.score(query)
        assert all(float(a.max()) == 0.0 for a in scores.fields.values())
        assert scores.coverage == 0.0


@pytest.mark.parametrize(("query", "title", "near"), [
    ("matrx", "the matrix", True), ("the matirx", "the matrix", True), ("strnger things", "stranger things", True),
    ("stranger thi", "stranger things", True), ("str", "stranger things", False), ("stran", "stranger things", False),
    ("toy story", "tokyo story", False), ("toy story", "toy story 3", True), ("love", "lovesong", False),
    ("matrix", "matrix", True), ("comedy", "comedian", False), ("stranger thimgs", "stranger things", True),
    # a typo never changes a number: 2001 is one swap from 2010, 1917 one from 1971
    ("2001", "2010", False), ("1917", "1971", False), ("2001 a spce odyssey", "2001 a space odyssey", True),
    ("toy stroy 3", "toy story 3", True), ("toy story 4", "toy story 3", False), ("2001 a space odys", "2001 a space odyssey", True),
])  # fmt: skip
def test_near_exact_allows_few_typos_for_the_length(query: str, title: str, near: bool) -> None:
    from search.lexical import _similarity

    similarity, is_near = _similarity(query, title)
    assert is_near is near
    assert 0.0 <= similarity <= 100.0


def test_foreign_function_words_are_no_title_evidence_in_a_short_query() -> None:
    titles = [
        [("", "Pan's Labyrinth"), ("original", "El laberinto del fauno")],
        [("", "El final del paraíso")],
        [("", "Les Misérables")],
        [("", "La casa de papel")],
        [("", "Juego de tronos")],
        [("", "The Shawshank Redemption"), ("fr", "Les Évadés")],
    ]
    content = ["fantasy una niña en la guerra civil", "drama el narco del cartel", "drama des misérables",
               "crime un atraco a la casa de la moneda", "fantasy reinos en guerra", "drama un banquier en prison"]
    people = [["Ivana Baquero"], ["Juana Acosta"], ["Hugh Jackman"], ["Úrsula Corberó"], ["Emilia Clarke"],
              ["Tim Robbins"]]
    index = LexicalIndex(LexicalDocuments(titles, people, content))
    scores = index.score("el juego del calamar")
    names = scores.fields["names"]
    # "el" and "del" no longer find El laberinto del fauno and El final del paraíso; "juego" still finds its title
    assert names[0] == 0 and names[1] == 0 and names[4] > 0
    assert scores.query.tokens == ("juego", "calamar")
    assert index.score("les évadés").fields["names"].argmax() == 5 and index.score("les évadés").fields["names"][2] == 0
    # exact titles read the whole query; a query of function words alone keeps them
    assert index.score("la casa de papel").exact[3] == 2
    assert index.score("de la").query.tokens == ("de", "la")


_KEY_LETTERS = "abcdeilmnorst 0129"


@settings(max_examples=300, deadline=None)
@given(query=st.text(_KEY_LETTERS, min_size=1, max_size=16),
       keys=st.lists(st.text(_KEY_LETTERS, max_size=24), max_size=12))  # fmt: skip
def test_batched_fuzzy_similarity_is_the_one_pair_rule(query: str, keys: list[str]) -> None:
    """The fuzzy candidates are verified in one batch (:func:`search.lexical._similarities`); each answer
    is exactly the one-pair rule's (article-less keys, typed prefixes, near-exact edits included)."""
    query = " ".join(query.split()) or "a"
    keys = [*keys, "the " + query, query + "x", "le " + query[:-1] + "s", query[: max(1, len(query) - 1)]]
    assert _similarities(query, keys) == [_similarity(query, k) for k in keys]
