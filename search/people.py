"""The people gazetteer: the catalog's cast and director names, and how words typed in a query are read
as one of them.

:class:`People` reads a run of folded query words (:func:`data.normalize.fold`) as a name of two words
or more, in this order:

1. the name itself ("omar sy"), also with a Turkish case suffix after an apostrophe dropped
   ("cem yılmaz'ın" -> Cem Yılmaz); in Latin script, else a name it nearly spells
   (:data:`PERSON_SPELLING_EDITS`: "brad pit" -> Brad Pitt, "leonardo di caprio" -> Leonardo DiCaprio);
2. (another script) the name its Latin transliteration spells (``अक्षय कुमार`` -> ``akshay kumar``), see
   :func:`search.langid.transliterate`;
3. (another script, two to four words) the name it sounds like word by word: each typed word has the
   consonant skeleton (:func:`search.langid.sound_key`) of the name's word in the same place, read with
   the case ending the query's language puts on a name replaced by the nominative's (Russian instrumental
   ``Ривзом`` -> Ривз, Greek genitive ``Λάνθιμου`` -> Λάνθιμος), a particle glued before it dropped (Thai
   ``ของ`` "of", Hebrew and Arabic one-letter prefixes) and the letters whose Latin reading varies read
   both ways (Greek ``γ`` before a front vowel as ``g`` or ``y``, Thai ``จ`` as ``ch`` or ``j``, Hebrew
   ``ו`` as ``v`` or a vowel, Cyrillic ``дж`` as ``j``, Hangul also as Korean spells a loanword:
   :func:`search.langid.hangul_loanword`): ``Киану Ривзом`` -> Keanu Reeves, ``브래드 피트`` -> Brad Pitt,
   ``Γιώργου Λάνθιμου`` -> Yorgos Lanthimos, ``โทนี่ จา`` -> Tony Jaa, ``ליאור רז`` -> Lior Raz,
   ``Μπραντ Πιτ`` -> Brad Pitt. A name's words are also keyed as kana and Hangul spell English
   (:func:`search.langid.sound_key` with ``loanword=True``: モーガン -> Morgan), and katakana's middle dot
   parts them (ジョニー・デップ). Each word must also open as the name's does (vowel or consonant) and the
   words be spelt alike (:data:`PERSON_PARTS_SPELLING`), and the person be credited more than once
   (:data:`PERSON_PARTS_CREDITS`): a skeleton per word, in order, is much rarer than one for the whole run,
   but short words still sound like some name among tens of thousands;
4. (another script) the name it sounds like as a whole: the same consonant skeleton and spelt alike once
   transliterated (:data:`PERSON_SOUND_SIMILARITY`): a name typed as one word (``송중기`` -> Song
   Joong-ki, ``シャー・ルク・カーン`` -> Shah Rukh Khan) or in fewer words than the catalog's.

Spans with Han characters are never read by sound: pinyin is not how names are romanized (电车 read as
Dean Choe), and the catalog's names are Latin only, so a name written in characters (周星驰: Stephen
Chow) cannot be found. When several names fit, the one spelt most alike wins, then the most credited.
Which words may form a name at all (not function words, not words already read as something else) is
:func:`search.understand.understand`'s decision.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from types import MappingProxyType

from data.normalize import fold
from data.queries import script_of
from search.langid import _GREEK_DIGRAPHS, _GREEK_STOPS, hangul_loanword, sound_key, transliterate

__all__ = ["PERSON_PARTS_CREDITS", "PERSON_PARTS_SPELLING", "PERSON_SOUND_MIN_KEY", "PERSON_SPELLING_EDITS", "PERSON_SOUND_SIMILARITY", "PERSON_SOUND_SPELLING", "People"]

PERSON_SOUND_MIN_KEY = 3
"""A name typed in another script is matched by sound only with a consonant skeleton of at least this
many classes (``현빈`` -> npn, Hyun Bin); word by word, the skeletons of all its words together."""
PERSON_SOUND_SIMILARITY = {3: 78.0}
"""...and, read as a whole, only when its Latin transliteration and the name are this alike (rapidfuzz
ratio, 0..100), by skeleton length (:data:`PERSON_SOUND_SPELLING` otherwise): ``hyeonbin`` / ``hyunbin``
80 (npn), ``shiyarukukan`` / ``shahrukhkhan`` 75 (srkn), ``songjunggi`` / ``songjoongki`` 76. Chosen on
marquee-ml:dev queries, for precision: wrong readings sit at 55-67 (슬기로운 / Sergio Leone 67, 조선시대 /
Jon Seda 67, про врачей / Pablo Bracho 57). Read word by word, :data:`PERSON_PARTS_SPELLING` applies instead
(``kianu rivz`` / ``keanu reeves`` is 55 as a whole, but the skeleton of every word agrees)."""
PERSON_SOUND_SPELLING = 68.0
PERSON_PARTS_SPELLING = 70.0
"""Read word by word, a name must also be spelt alike: the mean over its words of the typed word's reading
against the name's word, both spelt plainly (:func:`_spelt`: ``c``/``q`` -> ``k``, ``ph`` -> ``f``, ``h``
after a consonant and doubled letters dropped, ``y`` -> ``i``, ``ee`` -> ``i``, ``oo`` -> ``u``), rapidfuzz
ratio 0..100; and every word of it must open as the typed word does (both with a vowel or both with a
consonant: ना is not Anna). Chosen on marquee-ml:dev's people and hand-typed names in six scripts against
random pairs of the dev queries' other words (function words aside): at 70, 28 of 32 names are read and
13 of 8,448 word pairs (one of them μπραντ πιτ, rightly) read as someone; at 65, 29 and 51; at 75, 26 and
10 (measured before the last reading rules). ``kianu rivz`` / Keanu Reeves is 73."""
PERSON_SPELLING_EDITS = {8: 1, 13: 2}
"""(Latin script) a run of two to four words is read as a name spelt nearly like it: the run and the name,
spaces removed, at most this many edits apart (Damerau-Levenshtein, by the name's length: 1 from 8
letters, 2 from 13; none below 8), opening with the same two letters and keeping the name's first or
last word as it is spelt, the person credited at least
:data:`PERSON_PARTS_CREDITS` times: "brad pit" -> Brad Pitt, "scarlet johanson" -> Scarlett Johansson,
"leonardo di caprio" -> Leonardo DiCaprio. See :meth:`People._by_spelling` for how it was checked."""
PERSON_PARTS_CREDITS = 2
"""...and only as a person credited on at least this many titles of the scope (read as a whole by sound,
too: 기생충, "parasite", sounded like Ka Sang Cheung, credited once): a viewer types a known name
in their own script; a name credited once is, far more often, an ordinary pair of words that sounds like
it (without the bound, three times as many of the random word pairs above read as someone). Only such
names are indexed for this reading, which also keeps it cheap (about 15 us a query on average, p99 +0.1 ms
on marquee-ml:dev, a shared 2-core box)."""

_HAN = re.compile(r"[\u3400-\u9fff]")
_PARTICLE_AFTER_KATAKANA = re.compile(r"(?<=[\u30a0-\u30ff])[\u3040-\u309f]+$")
_APOSTROPHE_SUFFIX = re.compile(r"(?<=\w)['’][^\W\d_]+$")
"""Turkish writes a case suffix on a proper noun after an apostrophe: ``yılmaz'ın`` (Yılmaz's)."""

_CASE_ENDINGS: dict[str, tuple[tuple[str, str], ...]] = {
    # Russian and Ukrainian: a name declines; only endings that add a consonant change its skeleton
    # (instrumental Ривзом, Хабенским; the vowel endings -а -у -е -ой fall away with the vowels)
    "cyrillic": tuple((ending, "") for ending in ("ом", "ем", "ём", "ым", "им", "ами", "ями", "ого", "его", "ому", "ему")),
    # Greek: the genitive and accusative drop the nominative's ς (Λάνθιμου, Γιώργο: Lanthimos, Yorgos)
    "greek": (("ου", "ος"), ("ο", "ος"), ("η", "ης"), ("α", "ας")),
}
"""Case endings a query's language puts on a name, by script: a typed word is also read with the ending
replaced by the nominative's (the form the catalog's romanized names come from)."""
_PREFIXES: dict[str, tuple[str, ...]] = {
    "thai": ("ของ", "กับ", "โดย", "จาก", "และ", "ที่"),  # of, with, by, from, and, that: glued to the next word
    "hebrew": ("ה", "ו", "ב", "ל", "מ", "ש", "כ"),  # the, and, in, to, from, that, as
    "arabic": ("و", "ب", "ل"),  # and, with, for
}
"""Particles glued before a word, by script: a typed word is read with and without one."""
def _hangul_as_loanword(match: re.Match[str]) -> str:
    return hangul_loanword(match.group(0))


_READINGS: dict[str, tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...]] = {
    # Джонни Депп, Хэнкс: дж is English "j", х stands for "h" (anyascii: "dzh", "kh")
    "cyrillic": ((re.compile("дж"), "j"), (re.compile("дж"), "g"), (re.compile("х"), "h")),
    # Γιώργος is Yorgos as often as Giorgos (γ before a front vowel sounds "y"); Τζόνι Ντεπ, Τζάκι Τσαν,
    # Τομ Χανκς: τζ is "j", τσ "ch", χ stands for "h" (anyascii: "tz", "ts", "ch")
    "greek": ((_GREEK_DIGRAPHS, ""), (re.compile(r"γ(?=[ιεηυ])"), "y"), (re.compile("τζ"), "j"),
              (re.compile("τσ"), "ch"), (re.compile("χ"), "h")),
    # จ: "ch" in the royal romanization, "j" in most names (Jaa); เ แ โ ใ ไ are written before the
    # consonant they follow in speech (โทนี: Tony, anyascii "othni")
    "thai": ((re.compile("จ"), "j"), (re.compile("([เแโใไ])([ก-ฮ])"), r"\2\1")),
    # ו inside a word is mostly the vowel o/u (ליאור: Lior), the consonant v at its start or doubled;
    # ג' ז' צ' (with a geresh) are j, zh, ch in foreign names (ג'וני: Johnny)
    # ב פ כ open a word hard (b, p, k; anyascii: v, f, kh)
    "hebrew": ((re.compile("^ב"), "b"), (re.compile("^פ"), "p"), (re.compile("^כ"), "k"), (re.compile("ג['׳]"), "j"),
               (re.compile("ז['׳]"), "zh"), (re.compile("צ['׳]"), "ch"), (re.compile(r"(?<=\w|['׳])ו(?![ו])(?<!וו)"), "o")),
    # و after a letter is the vowel u/o (توم: Tom); Arabic has no p: ب writes it in foreign names (بيت: Pitt);
    # an alef opens a word with a vowel (إمام: Emam; anyascii writes nothing)
    "arabic": ((re.compile(r"(?<=[\u0621-\u064a])و"), "u"), (re.compile("ب"), "p"), (re.compile("^[اأإآ]"), "a")),
    # Hangul spells an English name with a silent ㅡ between consonants and ㄹ for r (브래드 피트: Brad Pitt;
    # anyascii "beulaedeu piteu"): also read as a loanword (search.langid.hangul_loanword)
    "hangul": ((re.compile("[\uac00-\ud7a3]+"), _hangul_as_loanword),),
}  # fmt: skip
"""Letters whose Latin reading varies, by script: the word is also read with each replaced (by the Latin
letters, or what a function of the match gives; ``""``: Greek's stops)."""


_NAME_DOTS = re.compile("[\u30fb\uff65\u00b7]+")
"""Katakana middle dots (full and half width) and the Latin middle dot between a name's words."""



@dataclass(frozen=True)
class _Spellings:
    """The names :meth:`People._by_spelling` may read a misspelling as."""

    by_start: dict[tuple[str, int], tuple[list[str], list[str]]]
    """(The first two letters, the length) of a name written without spaces -> (those spellings, their names),
    most credited first."""
    name_ends: frozenset[str]
    """Each name's first word as ``<word`` and last word as ``word>`` (a misspelling keeps one of them)."""

class People:
    """The cast/director names of a catalog, for reading query words as a person.

    Args:
        names: every credited name, in catalog order (a folded spelling shared by several names keeps
            the first); names of one word are not kept (one word is too often an ordinary word).
        credits: name -> the number of titles crediting it (ties between names that fit equally well).
    """

    def __init__(self, names: Iterable[str], credits: Mapping[str, int]) -> None:
        self._names: dict[str, str] = {}
        for name in names:
            key = fold(name)
            if " " in key:
                self._names.setdefault(key, name)
        self._credits = credits
        self._sounds: dict[str, list[str]] | None = None
        self._parts: dict[tuple[str, ...], list[str]] | None = None
        self._spellings: _Spellings | None = None

    def __contains__(self, folded: str) -> bool:
        return folded in self._names

    def find(self, words: str) -> str | None:
        """The name ``words`` (folded query words) are read as (see the module docstring), or ``None``."""
        if words in self._names:
            return self._names[words]
        unsuffixed = " ".join(_APOSTROPHE_SUFFIX.sub("", w) for w in words.split())
        if unsuffixed != words and unsuffixed in self._names:
            return self._names[unsuffixed]
        if words.isascii():
            return self._by_spelling(words)
        latin = _latin(words)
        # katakana writes a foreign name's words apart with a middle dot (ジョニー・デップ): read them as words
        spaced = _NAME_DOTS.sub(" ", words).strip()
        return self._names.get(" ".join(latin.split())) or self._by_parts(spaced) or self._by_sound(words)

    def _spelling_index(self) -> _Spellings:
        """The names credited at least :data:`PERSON_PARTS_CREDITS` times, as :class:`_Spellings`, built on
        first use."""
        if self._spellings is None:
            index: dict[tuple[str, int], tuple[list[str], list[str]]] = {}
            ends: set[str] = set()
            ranked = sorted(self._names.items(), key=lambda item: (-self._credits.get(item[1], 0), item[0]))
            for folded, name in ranked:
                compact = folded.replace(" ", "")
                if self._credits.get(name, 0) >= PERSON_PARTS_CREDITS and len(compact) >= min(PERSON_SPELLING_EDITS):
                    spellings, names = index.setdefault((compact[:2], len(compact)), ([], []))
                    spellings.append(compact)
                    names.append(name)
                    parts = folded.split()
                    ends.update((f"<{parts[0]}", f"{parts[-1]}>"))
            self._spellings = _Spellings(index, frozenset(ends))
        return self._spellings

    def _by_spelling(self, words: str) -> str | None:
        """The name a run of two to four Latin words is a near spelling of (:data:`PERSON_SPELLING_EDITS`).

        Checked on the default and full scopes: of 8,000 random pairs of marquee-ml:dev's words one reads as
        someone (jack instead: Jack Binstead); of 31,889 two-to-four-word titles on the full scope, three
        (naomi campbel, peter andersen, charlie bartlett: Charlie Barnett), none of 6,679 on the default."""
        from rapidfuzz.distance import OSA
        from rapidfuzz.process import extractOne

        compact, parts = words.replace(" ", ""), words.split()
        if not 2 <= len(parts) <= 4 or not compact.isalpha() or len(compact) < min(PERSON_SPELLING_EDITS) - 1:
            return None
        index = self._spelling_index()
        if f"<{parts[0]}" not in index.name_ends and f"{parts[-1]}>" not in index.name_ends:
            return None  # a misspelt name keeps its first or last word ("brad pit", "mery streep")
        most = max(PERSON_SPELLING_EDITS.values())
        best: tuple[int, int, str] | None = None  # (edits, -credits, name)
        for length in range(len(compact) - most, len(compact) + most + 1):
            allowed = max((e for size, e in PERSON_SPELLING_EDITS.items() if length >= size), default=0)
            if not allowed or abs(length - len(compact)) > allowed:
                continue
            spellings, names = index.by_start.get((compact[:2], length), ([], []))
            found = extractOne(compact, spellings, scorer=OSA.distance, score_cutoff=allowed)
            if found is not None:
                candidate = (int(found[1]), -self._credits.get(names[found[2]], 0), names[found[2]])
                best = candidate if best is None or candidate < best else best
        return None if best is None else best[2]

    def _sound_index(self) -> dict[str, list[str]]:
        """:func:`search.langid.sound_key` of each name -> the names, built on first use; a key ending in
        ``s`` is also filed without it (Greek genitive: Λάνθιμου)."""
        if self._sounds is None:
            index: dict[str, list[str]] = {}
            for name in dict.fromkeys(self._names.values()):
                for key in dict.fromkeys([sound_key(name), sound_key(name, loanword=True)]):
                    if len(key) >= PERSON_SOUND_MIN_KEY:
                        index.setdefault(key, []).append(name)
                        if key.endswith("s") and len(key) > PERSON_SOUND_MIN_KEY:
                            index.setdefault(key[:-1], []).append(name)
            self._sounds = index
        return self._sounds

    def _by_sound(self, words: str) -> str | None:
        """The name ``words`` sound like as a whole: the same consonant skeleton (the name's less a final
        ``s`` counts too), spelt alike once transliterated (:data:`PERSON_SOUND_SIMILARITY`), credited at
        least :data:`PERSON_PARTS_CREDITS` times."""
        # a katakana name keeps a hiragana particle glued to it (シャー・ルク・カーンの映画): not part of the name
        typed = _PARTICLE_AFTER_KATAKANA.sub("", unicodedata.normalize("NFC", words))
        key = sound_key(typed)
        if len(key) < PERSON_SOUND_MIN_KEY or _HAN.search(typed):  # pinyin is not how names are romanized
            return None
        names = [n for n in self._sound_index().get(key, []) if self._credits.get(n, 0) >= PERSON_PARTS_CREDITS]
        if not names:
            return None
        best, spelling = self._best(_latin(typed), names)
        return best if spelling >= PERSON_SOUND_SIMILARITY.get(len(key), PERSON_SOUND_SPELLING) else None

    def _parts_index(self) -> dict[tuple[str, ...], list[str]]:
        """The skeletons of a name's words (two to four words) -> the names, built on first use. Names with a
        word of no consonant and names credited less than :data:`PERSON_PARTS_CREDITS` times are left out."""
        if self._parts is None:
            index: dict[tuple[str, ...], list[str]] = {}
            for folded, name in self._names.items():
                parts = folded.split()
                if not 2 <= len(parts) <= 4 or self._credits.get(name, 0) < PERSON_PARTS_CREDITS:
                    continue
                # as spelt, and as kana and Hangul spell it (Morgan Freeman: モーガン・フリーマン, no r)
                for loanword in (False, True):
                    keys = tuple(sound_key(part, loanword=loanword) for part in parts)
                    if all(keys) and sum(map(len, keys)) >= PERSON_SOUND_MIN_KEY and name not in index.get(keys, ()):
                        index.setdefault(keys, []).append(name)
            self._parts = index
        return self._parts

    def _by_parts(self, words: str) -> str | None:
        """The name ``words`` (two to four words, another script) sound like word by word: every typed
        word, read as :func:`_readings` gives, has the skeleton of the name's word in its place, opens as it
        does, and the words are spelt alike (:data:`PERSON_PARTS_SPELLING`, :data:`PERSON_PARTS_CREDITS`)."""
        typed = unicodedata.normalize("NFC", words).split()
        if not 2 <= len(typed) <= 4 or _HAN.search(words) or script_of(words) in ("latin", "unknown"):
            return None
        readings = [_readings(word) for word in typed]
        index = self._parts_index()
        spelt: dict[str, float] = {}
        for combination in product(*(list(r) for r in readings)):
            if sum(map(len, combination)) < PERSON_SOUND_MIN_KEY:
                continue
            for name in index.get(combination, ()):
                parts = fold(name).split()
                alike = [max((0.0 if _opens_apart(latin, part) else _spelt_alike(latin, part))
                             for latin in dict.fromkeys(map(_latin, readings[i][key])))
                         for i, (key, part) in enumerate(zip(combination, parts, strict=True))]  # fmt: skip
                if min(alike) > 0:
                    spelt[name] = max(spelt.get(name, 0.0), sum(alike) / len(parts))
        if not spelt:
            return None
        best = max(spelt, key=lambda n: (spelt[n], self._credits.get(n, 0)))
        return best if spelt[best] >= PERSON_PARTS_SPELLING else None

    def _best(self, latin: str, names: list[str]) -> tuple[str, float]:
        scored = [(_spelling(latin, n), self._credits.get(n, 0), n) for n in dict.fromkeys(names)]
        spelling, _, name = max(scored)
        return name, spelling


_PLAIN = ((re.compile(r"c(?=[eiy])"), "s"), (re.compile(r"ck|c|q"), "k"), (re.compile("ph"), "f"),
          (re.compile(r"(?<=[bcdfgjkpqrtvxz])h"), ""), (re.compile("y"), "i"), (re.compile("ee"), "i"),
          (re.compile("oo"), "u"), (re.compile(r"([a-z])\1+"), r"\1"))
"""Spellings English and transliterations disagree on, made one (see :data:`PERSON_PARTS_SPELLING`)."""


@lru_cache(maxsize=8192)
def _spelt(text: str) -> str:
    """``text``'s Latin letters spelt plainly (:data:`_PLAIN`): ``reeves`` -> ``rives``, ``thoni`` -> ``toni``."""
    out = "".join(ch for ch in text.lower() if "a" <= ch <= "z")
    for pattern, latin in _PLAIN:
        out = pattern.sub(latin, out)
    return out


def _spelt_alike(latin: str, part: str) -> float:
    """How alike a typed word's reading and a name's (folded) word are, spelt plainly (rapidfuzz ratio)."""
    from rapidfuzz.fuzz import ratio

    return ratio(_spelt(latin), _spelt(part))


@lru_cache(maxsize=8192)
def _latin(words: str) -> str:
    """A Latin spelling of ``words`` (lowercase): :func:`search.langid.transliterate`, else anyascii."""
    from anyascii import anyascii

    return transliterate(words, script_of(words)) or anyascii(words).lower()


def _greek_stop(match: re.Match[str]) -> str:
    return _GREEK_STOPS[match.group(0)]


def _opens_apart(latin: str, part: str) -> bool:
    """Whether the typed word's reading ``latin`` and the name's word ``part`` open differently: one with a
    vowel (``y`` counts; so do an apostrophe or a backtick, anyascii's glottal stop and ayin), the other
    with a consonant (ना is not Anna, عشر not Shreya)."""
    return bool(latin) and bool(part) and (latin[0] in "aeiouy'`") != (part[0] in "aeiouy")


def _spelling(latin: str, name: str) -> float:
    """How alike a transliteration and a name are spelt (rapidfuzz ratio of their letters, 0..100)."""
    from rapidfuzz.fuzz import ratio

    letters = "".join(ch for ch in fold(name) if ch.isalpha())
    return ratio("".join(ch for ch in latin if ch.isalpha()), letters)


@lru_cache(maxsize=4096)
def _readings(word: str) -> Mapping[str, tuple[str, ...]]:
    """The consonant skeletons ``word`` (one typed word) may be read with -> the forms giving it: as typed,
    less a case ending or a glued particle of its script, with each letter of varying reading read both
    ways (see :data:`_CASE_ENDINGS`, :data:`_PREFIXES`, :data:`_READINGS`). The forms are spelt in Latin
    (:func:`_latin`) only when their skeletons fit a name: transliterating is most of the cost."""
    script = script_of(word)
    if script == "arabic" and word.startswith("ال"):  # the article opens the word with a vowel (anyascii: "l")
        word = "al" + word[2:]
    forms = [word]
    for prefix in _PREFIXES.get(script, ()):
        if word.startswith(prefix) and len(word) > len(prefix) + 2:
            forms.append(word[len(prefix) :])
    for ending, nominative in _CASE_ENDINGS.get(script, ()):
        forms.extend(f[: -len(ending)] + nominative for f in list(forms)
                     if f.endswith(ending) and len(f) > len(ending) + 1)  # fmt: skip
    for pattern, latin in _READINGS.get(script, ()):
        forms.extend(pattern.sub(latin or _greek_stop, f) for f in list(forms) if pattern.search(f))
    out: dict[str, tuple[str, ...]] = {}
    for form in forms:
        key = sound_key(form)
        if key:
            out[key] = (*out.get(key, ()), form)
    return MappingProxyType(out)  # cached: a query's runs of words share their words
