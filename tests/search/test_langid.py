"""Query language identification (the real lingua models) and what search does with the language."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from search.engine import SearchEngine
from search.langid import (
    LanguageIdentifier,
    QueryLanguage,
    default_identifier,
    hangul_loanword,
    sound_key,
    transliterate,
)
from tests.search.search_synthetic import ConceptEncoder, build_engine


@pytest.mark.parametrize(("query", "code", "script"), [
    ("韓国のゾンビ映画 電車", "ja", "cjk"),
    ("恐怖电影 韩国", "zh", "cjk"),
    ("تيتانيك", "ar", "arabic"),
    ("कुछ कुछ होता है", "hi", "devanagari"),
    ("좀비 영화 기차", "ko", "hangul"),
    ("фильм про войну", "ru", "cyrillic"),
    ("หนังผี", "th", "thai"),
    ("ταινία τρόμου", "el", "greek"),
    ("סרט אימה", "he", "hebrew"),
    ("una película de terror en un hotel aislado", "es", "latin"),
    ("un film d'animation pour les enfants", "fr", "latin"),
    ("ein Film über den Krieg und die Liebe", "de", "latin"),
    ("a movie about a dog who waits for his owner", "en", "latin"),
])  # fmt: skip
def test_each_script_and_language_is_identified(query: str, code: str, script: str) -> None:
    found = default_identifier().identify(query)
    assert (found.code, found.script) == (code, script)
    assert found.confidence >= 0.4


def test_no_letters_no_language_and_unknown_codes_are_refused() -> None:
    assert default_identifier().identify("1999 !!!") == QueryLanguage(None, 0.0, "unknown")
    with pytest.raises(ValueError, match="ISO 639-1"):
        LanguageIdentifier(("en", "xx"), preload=False)


@pytest.fixture(scope="module")
def engine() -> SearchEngine:
    built, _, _ = build_engine(signature=0.3, language_centering=0.5)
    return built


def test_a_language_without_a_centroid_never_moves_the_query(engine: SearchEngine) -> None:
    """Only a confident language with a centroid moves (centres) the query; a script other than Latin or a
    known language without a centroid levels the description languages instead (the query as encoded,
    :meth:`search.dense.DenseRetriever.levels`); an undecided or unsure Latin query is the plain search."""
    assert engine.dense is not None and "ja" not in engine.dense._language_names
    q = engine.embed(["robot city war"])[0]
    plain = engine._dense_search(q, 20, None, None)
    for language in (QueryLanguage("fr", 0.2, "latin"), QueryLanguage(None, 0.0, "unknown"),
                     QueryLanguage("en", 1.0, "latin")):  # fmt: skip
        same = engine._dense_search(q, 20, None, language)
        assert np.array_equal(same[0], plain[0]) and np.array_equal(same[1], plain[1])
    levelled = engine.dense.search(q, 20, level=True)
    assert not np.array_equal(levelled[1], plain[1])
    for language in (QueryLanguage("ja", 1.0, "cjk"), QueryLanguage(None, 0.0, "cjk"), QueryLanguage("tr", 0.9, "latin")):
        found = engine._dense_search(q, 20, None, language)
        assert np.array_equal(found[0], levelled[0]) and np.allclose(found[1], levelled[1])
    centred = engine._dense_search(q, 20, None, QueryLanguage("fr", 0.9, "latin"))
    assert not np.array_equal(centred[1], plain[1]) and not np.array_equal(centred[1], levelled[1])


def test_descriptions_follow_the_query_language_when_the_viewer_names_none(engine: SearchEngine) -> None:
    page = engine.search("un vieux automate qui trouve la guerre dans la ville", limit=20)
    assert page.query_language == "fr"
    both = [h for h in page.hits if h.title_id in _described_in(engine, "fr") and h.title_id in _described_in(engine, "en")]
    assert both and all(h.description_language == "fr" for h in both)
    english = engine.search("an old robot who finds the war in the city", limit=20)
    assert all(h.description_language == "en" for h in english.hits if h.title_id in _described_in(engine, "en"))


def _described_in(engine: SearchEngine, lang: str) -> set[str]:
    mask = engine.catalog.description_language_masks[lang]
    return {engine.catalog.title_ids[i] for i in np.flatnonzero(mask)}


def test_a_title_typed_in_another_script_is_matched_through_its_transliteration() -> None:
    engine, titles, _ = build_engine(n=80)
    page = engine.search("Драгон Гарден", limit=3)  # "Dragon Garden" in Cyrillic letters
    assert page.hits[0].display_title == "Dragon Garden"
    assert page.hits[0].reasons[0].kind == "title"
    # the Latin query is scored as it is: no transliteration, the same page
    assert ids_of(engine.search("dragon garden", limit=5))[0] == page.hits[0].title_id


def test_the_dense_title_channel_finds_a_title_by_its_words_in_another_language() -> None:
    plain, _, _ = build_engine(n=80)
    with_titles, _, encoder = build_engine(n=80, title_embedder=lambda texts: ConceptEncoder().encode_queries(texts))
    assert plain.titles is None and with_titles.titles is not None
    assert len(with_titles.titles.texts) >= 80  # every title, plus original and localized titles
    retrieved = with_titles.retrieve("dragona huerto", None, 20, None)  # Spanish for dragon + garden
    positions, _ = retrieved.channels["titles"]
    assert with_titles.catalog.titles[int(positions[0])] == "Dragon Garden"
    ranked = [h.display_title for h in with_titles.search("dragona huerto", limit=10).hits]
    before = [h.display_title for h in plain.search("dragona huerto", limit=10).hits]
    assert "Dragon Garden" in ranked[:3]
    assert "Dragon Garden" not in before[:3] or ranked.index("Dragon Garden") <= before.index("Dragon Garden")
    hit = with_titles.search("dragona huerto", limit=10).hits[ranked.index("Dragon Garden")]
    assert any(r.kind == "title" and r.detail.startswith("similar: ") for r in hit.reasons)


def test_the_title_channel_stored_with_the_index_is_the_channel_embedded_at_start() -> None:
    """An index version stores its title strings' vectors (``embeddings.job``); an older version
    without them has the same channel embedded at start (the fallback), and a title out of the
    engine's scope is left out."""
    from embeddings.job import TitleStringVectors, catalog_title_strings
    from tests.search.search_synthetic import synthetic_titles

    fallback, _, _ = build_engine(n=80, title_embedder=lambda texts: ConceptEncoder().encode_queries(texts))
    strings = catalog_title_strings(synthetic_titles(80, 0))
    extra = pd.DataFrame({"title_id": ["netflix:not-in-scope"], "lang": [""], "text": ["Dragon Garden"]})
    strings = pd.concat([strings, extra], ignore_index=True)
    stored = TitleStringVectors(strings, ConceptEncoder().encode_queries(strings["text"].tolist()))
    loaded, _, _ = build_engine(n=80, title_string_vectors=stored)
    assert fallback.titles is not None and loaded.titles is not None
    assert sorted(zip(loaded.titles.positions.tolist(), loaded.titles.texts, strict=True)) == \
        sorted(zip(fallback.titles.positions.tolist(), fallback.titles.texts, strict=True))  # fmt: skip
    for query in ("dragona huerto", "the matrix", "castillo"):
        assert ids_of(loaded.search(query, limit=10)) == ids_of(fallback.search(query, limit=10))


def ids_of(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.title_id for h in page.hits]


@pytest.mark.parametrize(("typed", "title"), [
    ("تيتانيك", "Titanic"), ("타이타닉", "Titanic"), ("タイタニック", "Titanic"), ("ไททานิค", "Titanic"),
    ("טיטאניק", "Titanic"), ("Титаник", "Titanic"), ("دانكيرك", "Dunkirk"), ("ダンケルク", "Dunkirk"),
    ("인셉션", "Inception"), ("インセプション", "Inception"), ("انترستلر", "Interstellar"), ("दंगल", "Dangal"),
])  # fmt: skip
def test_a_title_typed_in_another_script_sounds_like_the_title(typed: str, title: str) -> None:
    assert sound_key(typed) == sound_key(title)
    assert len(sound_key(title)) >= 3


@pytest.mark.parametrize(("typed", "title"), [
    ("ターミネーター", "The Terminator"), ("터미네이터", "The Terminator"), ("ジュラシック・パーク", "Jurassic Park"),
    ("アベンジャーズ", "The Avengers"), ("어벤져스", "Avengers"), ("ハリー・ポッター", "Harry Potter"),
])  # fmt: skip
def test_a_loanword_sounds_like_the_english_title_without_its_silent_r(typed: str, title: str) -> None:
    """Kana and Hangul spell English as a non-rhotic speaker says it: Terminator is ターミネーター."""
    assert sound_key(typed) == sound_key(title, loanword=True) != sound_key(title)


def test_a_short_loanword_key_confirms_nothing() -> None:
    """Dunkirk said without its r is Titanic's ``tnk``: a loanword key confirms a title only from four classes."""
    from search.dense import DenseTitles

    texts = ["Dunkirk", "Titanic", "The Terminator"]
    assert sound_key("Dunkirk", loanword=True) == sound_key("タイタニック") == "tnk"
    vectors = np.eye(len(texts), 4, dtype=np.float32) + 0.01
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    channel = DenseTitles(vectors, np.arange(len(texts)), [""] * len(texts), texts, len(texts))
    assert channel.sound_matches(sound_key("タイタニック"), np.arange(3)).tolist() == [1]
    assert channel.sound_matches(sound_key("ターミネーター"), np.arange(3)).tolist() == [2]
    assert channel.sound_matches(sound_key("ダンケルク"), np.arange(3)).tolist() == [0]


def test_sound_keys_confirm_only_candidates_and_only_long_enough_keys() -> None:
    from search.dense import DenseTitles

    texts = ["Titanic", "Waiting...", "Thank You", "Titan", "Up", "Τιτανικός"]
    assert [sound_key(t) for t in texts[:5]] == ["tnk", "wtnk", "tnk", "tn", "p"]
    vectors = np.eye(len(texts), 4, dtype=np.float32)[:, :4] + 0.01
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    channel = DenseTitles(vectors, np.arange(len(texts)), [""] * len(texts), texts, len(texts))
    assert channel.sound_matches("tnk", np.asarray([0, 1, 3])).tolist() == [0]  # "Thank You" is no candidate
    assert channel.sound_matches("tnk", np.asarray([0, 2])).tolist() == [0, 2]  # a collision the encoder must rule out
    assert channel.sound_matches("tnks", np.asarray([0])).tolist() == [0]  # a case ending: Τιτανικός
    assert channel.sound_matches("tn", np.asarray([3])).size == 0  # too short to mean anything
    assert channel.sound_matches("tnk", np.empty(0, dtype=np.int64)).size == 0


def test_a_long_key_is_heard_with_no_title_proposed_and_han_never_is() -> None:
    """Six consonant classes match any title string, proposed or not; a shorter key still needs a proposal."""
    from search.dense import MIN_HEARD_KEY, DenseTitles
    from search.langid import has_ideographs

    texts = ["La casa de papel", "Babel", "Titanic", "Casa de papel"]
    vectors = np.eye(len(texts), 4, dtype=np.float32) + 0.01
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    channel = DenseTitles(vectors, np.arange(len(texts)), [""] * len(texts), texts, len(texts))
    heard = sound_key("لا كاسا دي بابيل")
    assert heard == sound_key("La casa de papel") and len(heard) >= MIN_HEARD_KEY
    assert channel.sound_matches(heard, None).tolist() == [0]  # "Casa de papel" sounds otherwise (no "la")
    assert channel.sound_matches(heard, np.asarray([1])).tolist() == []  # with candidates, only those
    assert channel.sound_matches(sound_key("تيتانيك"), None).tolist() == []  # tnk: too short to need no proposal
    assert has_ideographs("三城记") and has_ideographs("千と千尋の神隠し")
    assert not has_ideographs("となりのトトロ") and not has_ideographs("لا كاسا دي بابيل") and not has_ideographs("Titanic")


@pytest.mark.parametrize(("typed", "latin"), [
    ("दंगल", "dangal"), ("सलमान खान", "salman khan"), ("अक्षय कुमार", "akshay kumar"), ("कमल", "kamal"),
    ("शाहरुख खान", "shahrukh khan"), ("ज़िंदगी ना मिलेगी दोबारा", "zindagi na milegi dobara"),
    ("कुछ कुछ होता है", "kuch kuch hota hai"), ("थ्री इडियट्स", "thri idiyats"), ("हम आपके हैं कौन", "ham apke hain kaun"),
])  # fmt: skip
def test_devanagari_is_transliterated_with_its_inherent_vowels(typed: str, latin: str) -> None:
    # anyascii alone writes दंगल "dmgl" and सलमान "slman": no title or name is spelt like that
    assert transliterate(typed, "devanagari") == latin


@pytest.mark.parametrize(("typed", "latin"), [
    ("브래드 피트", "brad pit"), ("맷 데이먼", "mat deimon"), ("톰 행크스", "tom hangks"), ("샌들러", "sandllo"),
    ("아이언맨", "aionman"), ("Brad 피트!", "Brad pit!"),
])  # fmt: skip
def test_hangul_is_read_as_korean_spells_a_loanword(typed: str, latin: str) -> None:
    # anyascii: "beulaedeu piteu", "maes deimeon": the inserted ㅡ ("eu") and ㄹ as "l" spell no English name
    assert hangul_loanword(typed) == latin


@pytest.mark.parametrize(("typed", "script", "latin"), [
    ("פאודה", "hebrew", "fvdh"), ("שאה רוק חאן", "hebrew", "sh rvk hn"), ("Очень странные дела", "cyrillic", "ochen strannye dela"),
    ("книга и фильм", "cyrillic", "kniga film"),
])  # fmt: skip
def test_a_transliteration_keeps_each_word_whole_and_drops_one_letter_words(typed: str, script: str, latin: str) -> None:
    # anyascii writes aleph and soft signs as apostrophes ("f'vdh"): the tokenizer split them into "f" and
    # "vdh", and "f" matched every cast list with an F. in it (F. Murray Abraham for פאודה)
    got = transliterate(typed, script)
    assert got == latin
    assert got is not None and all(len(word) > 1 for word in got.split())
