"""The language and script of a short query.

Language: lingua-language-detector (pinned in pyproject), chosen because it is built for short
text: it combines a rule-based script filter with 1- to 5-gram models, where langid-style
classifiers trained on sentences degrade on two- or three-word queries
(``benchmarks/langid.py`` measures both on short queries: ``benchmarks/results/langid.json``).
The detector is restricted to :data:`LANGUAGES` (the catalog's description languages and the
languages viewers search in), with every model preloaded once per process (about 10 s at start,
then 0.1-0.5 ms per query).

Script: :func:`data.queries.script_of` (the script most of the letters are written in). A query in
a script only one supported language uses (Hangul, Thai, Greek, Hebrew, Devanagari...) is that
language with full confidence whatever the detector would add.

:func:`transliterate` gives a Latin spelling of a query in another script, for lexical title matching;
:func:`hangul_loanword` spells Hangul as Korean writes an English name or loanword (for reading names);
:func:`sound_key` is the consonant skeleton both are matched by.

Search uses the language for three things only, each safe when it is ``None``: the content
channel's weight (BM25 over descriptions in that language), the language centring of the dense
query (only for a language with a centroid in the index; no centroid, no centring) and the
language descriptions are shown in when the viewer asked for none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from data.queries import script_of

if TYPE_CHECKING:
    from lingua import LanguageDetector

__all__ = ["LANGUAGES", "LanguageIdentifier", "QueryLanguage", "default_identifier", "hangul_loanword", "has_ideographs",
           "sound_key", "transliterate"]

LANGUAGES: tuple[str, ...] = ("en", "es", "fr", "de", "it", "pt", "da", "pl", "nl", "sv", "tr",
                              "ru", "uk", "el", "he", "ar", "fa", "hi", "th", "ja", "ko", "zh")  # fmt: skip
"""ISO 639-1 codes the detector chooses among."""

SCRIPT_LANGUAGE: dict[str, str] = {"hangul": "ko", "thai": "th", "greek": "el", "hebrew": "he", "devanagari": "hi"}
"""Scripts that, among :data:`LANGUAGES`, only one language writes."""
IDENTIFY_CACHE = 4096
"""Texts whose identified language each :class:`LanguageIdentifier` keeps (repeated and retyped queries)."""


@dataclass(frozen=True)
class QueryLanguage:
    """What the identifier says of a query: ISO 639-1 ``code`` (``None`` when undecided), the
    detector's ``confidence`` in it (0..1) and the query's ``script`` (``latin``, ``cjk``...)."""

    code: str | None
    confidence: float
    script: str


class LanguageIdentifier:
    """Identify the language of short queries (lingua's detector is thread-safe; build once, share).

    Args:
        languages: ISO 639-1 codes to choose among (default :data:`LANGUAGES`).
        preload: load every language model now instead of at the first query in that language.
    """

    def __init__(self, languages: Sequence[str] = LANGUAGES, *, preload: bool = True) -> None:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        unknown = [c for c in languages if not hasattr(IsoCode639_1, c.upper())]
        if unknown:
            raise ValueError(f"languages {unknown} are not ISO 639-1 codes lingua knows")
        chosen = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in languages]
        builder = LanguageDetectorBuilder.from_languages(*chosen)
        if preload:
            builder = builder.with_preloaded_language_models()
        self.languages = tuple(languages)
        self._detector: LanguageDetector = builder.build()
        self._identified = lru_cache(maxsize=IDENTIFY_CACHE)(self._identify)

    def identify(self, text: str) -> QueryLanguage:
        """The language of ``text`` with the detector's confidence, and its script (the last
        :data:`IDENTIFY_CACHE` texts' answers are kept: a repeated query costs no detection)."""
        return self._identified(text)

    def _identify(self, text: str) -> QueryLanguage:
        script = script_of(text)
        if script == "unknown":
            return QueryLanguage(None, 0.0, script)
        only = SCRIPT_LANGUAGE.get(script)
        if only is not None and only in self.languages:
            return QueryLanguage(only, 1.0, script)
        values = self._detector.compute_language_confidence_values(text)
        if not values:
            return QueryLanguage(None, 0.0, script)
        best = values[0]
        code = best.language.iso_code_639_1.name.lower()
        return QueryLanguage(code, float(best.value), script)


@lru_cache(maxsize=1)
def default_identifier() -> LanguageIdentifier:
    """One shared identifier over :data:`LANGUAGES` per process (the models take ~10 s to load)."""
    return LanguageIdentifier()


def transliterate(text: str, script: str) -> str | None:
    """A lowercase Latin transliteration of a query in another script (anyascii: ``Титаник`` ->
    ``titanik``, ``कुछ कुछ होता है`` -> ``kuch kuch hota hai``, ``卧虎藏龙`` -> ``wohucanglong``);
    ``None`` for Latin-script text or when nothing Latin comes out. Lexical title matching uses it
    beside the query itself (cheap, and a near-exact title tier for well-transliterated scripts)."""
    if script in ("latin", "unknown"):
        return None
    from anyascii import anyascii

    if script == "devanagari":
        text = _devanagari_vowels(text)
    # anyascii writes aleph, ayin, hamza and soft signs as apostrophes: dropped, a word stays one word
    # (פאודה -> "fvdh", not "f" + "vdh"); a word left with one letter is dropped too: as a token it only
    # matched the initials in cast names (F. Murray Abraham for פאודה)
    words = (word.replace("'", "") for word in anyascii(text).lower().split())
    latin = " ".join(word for word in words if len(word) > 1)
    return latin if any(ch.isalpha() for ch in latin) else None


_HANGUL_INITIALS = ("g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch", "k", "t", "p", "h")
_HANGUL_VOWELS = ("a", "a", "ya", "yae", "o", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u", "wo", "we", "wi", "yu",
                  "", "ui", "i")  # fmt: skip
_HANGUL_FINALS = ("", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l", "m", "p", "p", "t", "t",
                  "ng", "t", "t", "k", "t", "p", "t")  # fmt: skip
_HANGUL_EU, _HANGUL_SILENT, _HANGUL_RIEUL, _HANGUL_FINAL_RIEUL = 18, 11, 5, 8


def hangul_loanword(text: str) -> str:
    """``text`` with each Hangul syllable spelt as Korean writes an English loanword or name (``브래드 피트``
    -> ``brad pit``, ``맷 데이먼`` -> ``mat deimon``; anyascii: ``beulaedeu piteu``, ``maes deimeon``): the
    vowel ㅡ after a consonant is the one Korean inserts between consonants (silent), ㅐ and ㅓ are English
    "a" and "o", ㄹ opens a syllable as "r" ("l" after a final ㄹ), a final ㅅ is "t". Other characters are
    kept."""
    out: list[str] = []
    final: int | None = None
    for ch in text:
        code = ord(ch) - 0xAC00
        if not 0 <= code < 11172:
            out.append(ch)
            final = None
            continue
        initial, vowel, this_final = code // 588, (code % 588) // 28, code % 28
        onset = "l" if initial == _HANGUL_RIEUL and final == _HANGUL_FINAL_RIEUL else _HANGUL_INITIALS[initial]
        nucleus = "eu" if vowel == _HANGUL_EU and initial == _HANGUL_SILENT else _HANGUL_VOWELS[vowel]
        out.append(onset + nucleus + _HANGUL_FINALS[this_final])
        final = this_final
    return "".join(out)


_DEVANAGARI = re.compile(r"[\u0900-\u097f]")
_IDEOGRAPHS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_DEVANAGARI_CONSONANTS = frozenset(chr(c) for c in range(0x0915, 0x093A))
_DEVANAGARI_VOWEL_SIGNS = frozenset(chr(c) for c in (*range(0x093E, 0x094E), 0x0962, 0x0963))
"""Dependent vowel signs and the virama (U+094D): a consonant followed by one has no inherent "a"."""
_DEVANAGARI_VOWELS = frozenset(chr(c) for c in (*range(0x0904, 0x0915), *range(0x093E, 0x094D), 0x0960, 0x0961))
_DEVANAGARI_LATIN = {"\u0936": "sh", "\u0937": "sh", "\u0902": "n", "\u0901": "n"}
"""श and ष are "sh" (anyascii: "s"); the anusvara and candrabindu a nasal "n" (anyascii: "m")."""
_DEVANAGARI_NUKTA = {"\u091c": "z", "\u092b": "f", "\u0921": "r", "\u0922": "rh", "\u0915": "q", "\u0916": "kh",
                     "\u0917": "gh"}  # fmt: skip
"""A consonant with a nukta (ज़ फ़ ड़): what it is read as; anyascii writes the nukta as an apostrophe."""


def _devanagari_vowels(text: str) -> str:
    """``text`` with Devanagari consonants spelt out in Latin with the inherent vowel anyascii leaves out
    (``दंगल`` -> ``dangal``, ``सलमान`` -> ``salman``, ``अक्षय`` -> ``akshay``; anyascii: ``dmgl``, ``slman``,
    ``aksy``). The "a" is not written at the end of a word, nor between a vowel and a consonant that
    carries one (Hindi schwa deletion: सलमान is "salman", not "salaman"); other characters are left for
    anyascii."""
    import unicodedata

    from anyascii import anyascii

    chars = list(unicodedata.normalize("NFD", text))
    out: list[str] = []
    previous_vowel = False
    i = 0
    while i < len(chars):
        ch = chars[i]
        if ch not in _DEVANAGARI_CONSONANTS:
            out.append(_DEVANAGARI_LATIN.get(ch, ch))
            previous_vowel = ch in _DEVANAGARI_VOWELS
            i += 1
            continue
        nukta = i + 1 < len(chars) and chars[i + 1] == "\u093c"
        out.append(_DEVANAGARI_NUKTA.get(ch, anyascii(ch)) if nukta else _DEVANAGARI_LATIN.get(ch, anyascii(ch)))
        i += 2 if nukta else 1
        after = chars[i] if i < len(chars) else ""
        if after in _DEVANAGARI_VOWEL_SIGNS:
            previous_vowel = False  # the sign itself comes next
            continue
        # the consonant after this one, and whether a vowel follows it (a sign, or its own inherent "a")
        following = chars[i + 1] if i + 1 < len(chars) else ""
        voiced_next = after in _DEVANAGARI_CONSONANTS and following not in ("\u094d", "") and not following.isspace()
        if after in _DEVANAGARI_CONSONANTS and following == "\u093c":
            following = chars[i + 2] if i + 2 < len(chars) else ""
            voiced_next = following not in ("\u094d", "") and not following.isspace()
        word_end = after == "" or not ("\u0900" <= after <= "\u097f")
        if word_end or (previous_vowel and voiced_next):
            previous_vowel = False
            continue
        out.append("a")
        previous_vowel = True
    return "".join(out)


_SOUND_CLASS: dict[str, str] = {
    **dict.fromkeys("aeiouyh", ""),  # vowels: what transliterations disagree on most
    **dict.fromkeys("cgkqx", "k"), **dict.fromkeys("bpfv", "p"), **dict.fromkeys("dt", "t"),
    **dict.fromkeys("sz", "s"), **dict.fromkeys("lr", "r"), "j": "s", "m": "m", "n": "n",
}  # fmt: skip
_SOFT_C = re.compile(r"c(?=[eiy])")
_GEMINATION = str.maketrans("", "", "ッっ")
"""The Japanese small tsu doubles the next consonant; anyascii writes it as a "t" of its own."""


_GREEK_STOPS = {"μπ": "b", "ντ": "d", "γκ": "g", "γγ": "ng"}
_GREEK_DIGRAPHS = re.compile("|".join(_GREEK_STOPS))
"""Modern Greek spells b, d and g with two letters (Μπραντ Πιτ: Brad Pitt); anyascii reads them "mp", "nt"."""


_NON_RHOTIC_R = re.compile(r"r+(?![aeiouy])")
_SOFT_G = re.compile(r"g(?=[eiy])")
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+")


def has_ideographs(text: str) -> bool:
    """Whether ``text`` holds a Han ideograph (Chinese, or the kanji of Japanese): its transliteration is
    a reading (pinyin), not how a foreign title is spelt."""
    return _IDEOGRAPHS.search(text) is not None


def sound_key(text: str, *, loanword: bool = False) -> str:
    """A consonant skeleton of ``text``'s Latin transliteration, for matching a title typed in another
    script to the title it sounds like: vowels, ``y`` and ``h`` dropped, consonants folded into
    classes (voiced with voiceless, ``l`` with ``r``), repeats collapsed, spaces ignored.

    ``تيتانيك`` (tytnyk), ``타이타닉`` (taitanig), ``タイタニック``, ``ไททานิค`` (aiththanikh),
    ``טיטאניק`` and ``Titanic`` all give ``tnk``; ``دانكيرك`` and ``Dunkirk`` give ``tnkrk``. Short keys
    collide easily: search only uses a key of at least three classes, and only to confirm a title the
    encoder already proposes (:meth:`search.dense.DenseTitles.sound_matches`).

    ``loanword=True`` keys a Latin-script title as Japanese and Korean spell English loanwords: an ``r``
    that no vowel follows is silent (Terminator: ターミネーター, ``tmnt``; Potter: ポッター) and ``g``
    before ``e``/``i``/``y`` sounds ``j`` (Avengers: アベンジャーズ, 어벤져스, ``pns``), and a leading
    "the"/"a"/"an" is not said (The Avengers). The plain key of those titles (``trmntr``, ``tpnkrs``)
    matched no query typed in kana or Hangul. Such a key is shorter, so it collides more: Dunkirk's is
    Titanic's ``tnk`` (:data:`search.dense.MIN_LOANWORD_KEY`).
    """
    from anyascii import anyascii

    if _DEVANAGARI.search(text):  # the anusvara is "n" (दंगल: Dangal), not anyascii's "m"
        text = _devanagari_vowels(text)
    latin = anyascii(_GREEK_DIGRAPHS.sub(lambda m: _GREEK_STOPS[m.group(0)], text.lower().translate(_GEMINATION))).lower()
    latin = _SOFT_C.sub("s", latin.replace("tion", "sion"))  # Inception: "insepsion"
    if loanword:
        latin = _SOFT_G.sub("j", _NON_RHOTIC_R.sub("", _LEADING_ARTICLE.sub("", latin)))
    out: list[str] = []
    for ch in latin:
        if not ("a" <= ch <= "z"):
            continue
        key = _SOUND_CLASS.get(ch, ch)
        if key and (not out or out[-1] != key):
            out.append(key)
    return "".join(out)
