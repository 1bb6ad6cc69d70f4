"""Lexical retrieval over titles, localized titles, people and descriptions (BM25 with bm25s).

Text is accent- and case-folded (:func:`data.normalize.fold`) and split on word characters, so
"Amélie" and "AMELIE" are the same token. Three word fields, each its own BM25 index:

* ``title``: one document per title string (display title, original title, every localized title);
  a title's score is the maximum over its strings, so many localized titles never dilute one.
* ``people``: cast and directors of a title, one document per title.
* ``content``: genres, descriptions (every language), keywords and tags, one document per title,
  stemmed: each description by its language's Snowball stemmer (:func:`stem`, PyStemmer), the English
  genres, keywords and tags by English's; a query's words by the stemmer of its language (English
  when undecided), so "magicians" meets "magician" and "émeute" "émeutes".

Typo tolerance: a fourth BM25 index over character trigrams of the title strings proposes
candidates for short queries, and rapidfuzz's ratio (0..100) over the folded title key verifies
them (:attr:`LexicalScores.title_similarity`). Prefix-aware: the query's last token is also expanded
to the title vocabulary words it begins ("stranger thi" also scores "things"), so a title is found
while it is being typed on a remote.

Query-side treatment for long queries (tip-of-the-tongue posts are long and rambling): above
``long_query_terms`` tokens, stopwords are dropped and only the ``max_query_terms`` rarest distinct
tokens are kept; a shorter query drops only the :data:`FUNCTION_WORDS` of the catalog's other
languages ("el", "del", "les"), unless nothing else is left. Shapes: ``n`` titles, ``s`` title strings.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from data.normalize import fold, title_key

if TYPE_CHECKING:
    import bm25s

__all__ = [
    "FIELDS",
    "LexicalConfig",
    "LexicalDocuments",
    "LexicalIndex",
    "LexicalScores",
    "ParsedQuery",
    "SNOWBALL",
    "stem",
    "tokenize",
]

FIELDS: tuple[str, ...] = ("title", "people", "content")
FUNCTION_WORDS: frozenset[str] = frozenset({
    "el", "la", "los", "las", "lo", "le", "les", "l", "un", "una", "unos", "unas", "une", "uno", "del", "de", "des",
    "du", "di", "da", "dos", "der", "den", "dem", "ein", "eine", "einen", "einem", "einer", "eines", "il", "gli",
    "y", "et", "und", "al", "au", "aux", "della", "delle", "dello", "dei", "degli", "nel", "nella", "em", "na",
    "nos", "en", "avec", "mit", "von", "zu", "para", "por", "pour", "sur", "sobre", "dans"
})  # fmt: skip
"""Articles, prepositions and conjunctions of the catalog's other description languages (es, fr, de, it,
pt) that are no English words, left out of a short query's BM25 terms (a long query drops every
stopword, :func:`_stopwords`). Among mostly English titles they are rare, so BM25 gave them a high IDF:
"el juego del calamar" found Pan's Labyrinth (El laberinto del fauno) and El final del paraíso by "el"
and "del" alone, "les évadés" Les Misérables. Exact and near-exact title matching reads the whole query
("la casa de papel" still finds La casa de papel first). Ambiguous words stay: die, do, no, con, per, a."""
FUZZY_MIN_SIMILARITY = 75.0
"""Fuzzy title candidates below this similarity (0..100) add nothing to the names channel."""
_WORD = re.compile(r"\w+")


SNOWBALL: Mapping[str, str] = {
    "en": "english", "fr": "french", "es": "spanish", "it": "italian", "de": "german", "da": "danish",
    "pt": "portuguese", "nl": "dutch", "sv": "swedish", "no": "norwegian", "fi": "finnish", "ru": "russian",
    "tr": "turkish", "ro": "romanian", "hu": "hungarian", "ca": "catalan",
}  # fmt: skip
"""Language code -> Snowball stemmer (PyStemmer: the Snowball project's own C stemmers, the library bm25s
documents) for the content field. Polish has none: its words stay whole. Measured on marquee-ml:dev
(hybrid, the served path): full scope MRR .614 -> .618, default .674 -> .683, Recall@1 +1 / +2 queries,
Recall@10 unchanged; reddit-tomt:validation (hybrid) MRR .132 -> .132 / .060 -> .065 (default / full),
Recall@10 .201 -> .187 / .106 -> .116, Recall@100 .366 -> .366 / .233 -> .217."""
MAIN_LANGUAGE = "en"
"""The stemmer of a query whose language is undecided, and of genres, keywords and tags."""
_stemmers = threading.local()


def stem(tokens: Sequence[str], language: str | None) -> list[str]:
    """``tokens`` (folded words, :func:`tokenize`) stemmed by ``language``'s Snowball stemmer
    (:data:`SNOWBALL`; ``None``: :data:`MAIN_LANGUAGE`'s); unchanged in a language without one.

    Stems are taken of folded words, on both sides of the match: ``émeutes`` -> ``emeutes`` -> ``emeut``,
    as ``émeute``. PyStemmer's stemmers are not thread-safe: each thread keeps its own."""
    name = SNOWBALL.get(language or MAIN_LANGUAGE)
    if name is None or not tokens:
        return list(tokens)
    cache: dict[str, Any] | None = getattr(_stemmers, "by_name", None)
    if cache is None:
        cache = _stemmers.by_name = {}
    stemmer = cache.get(name)
    if stemmer is None:
        import Stemmer

        stemmer = cache[name] = Stemmer.Stemmer(name)
    stems: list[str] = stemmer.stemWords(list(tokens))
    return stems


def tokenize(text: str) -> list[str]:
    """Folded word tokens: ``"Amélie's café"`` -> ``["amelie", "s", "cafe"]``."""
    return _WORD.findall(fold(text))


def _trigrams(key: str) -> list[str]:
    """Character trigrams of each word of a folded key, padded at word boundaries."""
    grams: list[str] = []
    for word in key.split():
        padded = f"#{word}#"
        if len(padded) < 3:
            continue
        grams.extend(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    """Stopwords of the catalog's description languages (bm25s lists), folded."""
    import bm25s.stopwords as sw

    names = ("STOPWORDS_EN_PLUS", "STOPWORDS_FRENCH", "STOPWORDS_GERMAN", "STOPWORDS_SPANISH",
             "STOPWORDS_ITALIAN", "STOPWORDS_PORTUGUESE", "STOPWORDS_DANISH")  # fmt: skip
    words: set[str] = set()
    for name in names:
        words.update(fold(w) for w in getattr(sw, name, ()))
    return frozenset(words)


@dataclass(frozen=True)
class LexicalConfig:
    """Field weights and query-side knobs (chosen on reddit-tomt train/validation, see search.evaluate).

    ``field_weights`` combine the per-field BM25 scores into the ``bm25`` system's one lexical score
    (a weight of 0 drops the field); tuned on reddit-tomt train+validation (1,186 resolved queries,
    default scope): descriptions carry known-item queries, titles and names add little there.
    ``names_weights`` weigh title against people inside the hybrid's names channel.
    ``max_query_terms`` = 64: 24 lost 4 points of Recall@10 against 48-96; more changed nothing.
    """

    field_weights: Mapping[str, float] = field(
        default_factory=lambda: {"title": 0.2, "people": 0.5, "content": 1.0}
    )
    names_weights: Mapping[str, float] = field(default_factory=lambda: {"title": 1.0, "people": 1.0})
    k1: float = 1.2
    b: Mapping[str, float] = field(default_factory=lambda: {"title": 0.3, "people": 0.3, "content": 0.75})
    long_query_terms: int = 12
    max_query_terms: int = 64
    prefix_expansions: int = 16
    min_prefix_chars: int = 2
    fuzzy_max_query_chars: int = 80
    fuzzy_candidates: int = 32
    min_fuzzy_chars: int = 4

    def __post_init__(self) -> None:
        unknown = set(self.field_weights) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown lexical fields {sorted(unknown)}; expected some of {FIELDS}")
        if any(w < 0 for w in self.field_weights.values()):
            raise ValueError(f"field weights must be >= 0; got {dict(self.field_weights)}")
        if self.max_query_terms < 1 or self.long_query_terms < 1:
            raise ValueError("max_query_terms and long_query_terms must be >= 1")


@dataclass(frozen=True)
class LexicalDocuments:
    """What the lexical index reads for each of ``n`` titles (position ``i`` = title ``i``).

    Attributes:
        title_strings: per title, ``(lang, text)`` pairs: display title first, then original and
            localized titles (``lang`` is ``""`` for the display title, ``"original"`` for the
            original title, else the localized title's language).
        people: per title, cast and director names.
        content: per title, one English text: genres, keywords, tags (and any description whose language
            is unknown).
        descriptions: per title, language -> description (each stemmed in its language); empty: none.
    """

    title_strings: Sequence[Sequence[tuple[str, str]]]
    people: Sequence[Sequence[str]]
    content: Sequence[str]
    descriptions: Sequence[Mapping[str, str]] = ()

    def __post_init__(self) -> None:
        n = len(self.title_strings)
        if len(self.people) != n or len(self.content) != n or (self.descriptions and len(self.descriptions) != n):
            raise ValueError(
                f"title_strings, people, content and descriptions (when given) must have one entry per title; "
                f"got lengths {n}, {len(self.people)}, {len(self.content)}, {len(self.descriptions)}"
            )

    def content_tokens(self, position: int) -> list[str]:
        """The content field's stemmed tokens of the title at ``position`` (see :func:`stem`)."""
        tokens = stem(tokenize(self.content[position]), MAIN_LANGUAGE)
        if self.descriptions:
            for language, text in self.descriptions[position].items():
                tokens.extend(stem(tokenize(text), language))
        return tokens


@dataclass(frozen=True)
class ParsedQuery:
    """A query as the lexical side sees it."""

    folded: str
    key: str
    tokens: tuple[str, ...]
    """Distinct tokens used for scoring (after the long-query treatment)."""
    all_tokens: tuple[str, ...]
    """Every token of the query, in order."""
    is_long: bool
    content_tokens: tuple[str, ...]
    """:attr:`tokens` stemmed in the query's language (:func:`stem`), for the content field."""


@dataclass
class LexicalScores:
    """Per-title lexical evidence for one query; arrays are ``(n,)`` float32.

    ``coverage`` is the share of the query's IDF mass (title and people fields, unknown tokens
    counted at the highest IDF) matched by the best title/people document: near 1 for a typed title
    or name, near 0 for a rambling description or a query in a script the catalog never uses. The
    fusion gate reads it to decide how much the lexical side may say.
    """

    fields: dict[str, np.ndarray]
    title_similarity: dict[int, float]
    exact: np.ndarray
    coverage: float
    query: ParsedQuery

    def combined(self, weights: Mapping[str, float]) -> np.ndarray:
        """Weighted sum of the field scores: ``(n,)`` float32."""
        total: np.ndarray | None = None
        for name, weight in weights.items():
            if weight == 0 or name not in self.fields:
                continue
            part = self.fields[name] * np.float32(weight)
            total = part if total is None else total + part
        if total is None:
            return np.zeros_like(self.exact, dtype=np.float32)
        return total


def _sum_by_doc(docs: np.ndarray, weights: Sequence[np.ndarray], n_docs: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Distinct ``docs`` ``(m,)`` and, for each weights array, its sum per distinct doc ``(m,)``.

    Sorting the postings is cheaper when they are few; a dense bincount when they cover much of the
    collection (a common word, a trigram such as "#th").
    """
    if docs.size * 16 < n_docs:
        unique, inverse = np.unique(docs, return_inverse=True)
        return unique, [np.bincount(inverse, weights=w, minlength=unique.size) for w in weights]
    seen = np.zeros(n_docs, dtype=bool)
    seen[docs] = True
    unique = np.flatnonzero(seen)
    return unique, [np.bincount(docs, weights=w, minlength=n_docs)[unique] for w in weights]


class _FieldIndex:
    """One BM25 field over documents that each belong to a title (several documents may share one).

    bm25s builds the (term x document) score matrix; scoring reads its columns, adds them per
    document and keeps each title's best document (a title is as good as its best title string or
    person name, never diluted by its other ones).
    """

    def __init__(self, documents: Sequence[Sequence[str]], doc_title: np.ndarray, n_titles: int,
                 *, k1: float, b: float) -> None:  # fmt: skip
        import bm25s

        self.n_docs = len(documents)
        self.n_titles = n_titles
        self.doc_title = np.asarray(doc_title, dtype=np.int64)
        if self.doc_title.shape != (self.n_docs,):
            raise ValueError(f"doc_title must have one entry per document ({self.n_docs}); got {self.doc_title.shape}")
        corpus = [list(doc) for doc in documents]
        self._bm25: bm25s.BM25 = bm25s.BM25(k1=k1, b=b)
        self._bm25.index(corpus, show_progress=False)
        self.vocab: dict[str, int] = dict(self._bm25.vocab_dict)
        scores: dict[str, Any] = self._bm25.scores
        self._data = np.asarray(scores["data"], dtype=np.float32)
        self._indices = np.asarray(scores["indices"], dtype=np.int64)
        self._indptr = np.asarray(scores["indptr"], dtype=np.int64)
        doc_freq = np.diff(self._indptr)
        n = max(self.n_docs, 1)
        self.idf = np.log1p((n - doc_freq + 0.5) / (doc_freq + 0.5)).astype(np.float32)
        self.max_idf = float(np.log1p((n + 0.5) / 0.5))
        self.sorted_vocab = sorted(t for t in self.vocab if t)
        self._doc_freq = doc_freq
        self._completions: dict[str, list[str]] = {}

    def postings(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """Documents containing ``token`` and their BM25 contribution (both ``(p,)``)."""
        tid = self.vocab.get(token) if token else None
        if tid is None:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        lo, hi = self._indptr[tid], self._indptr[tid + 1]
        return self._indices[lo:hi], self._data[lo:hi]

    def token_idf(self, token: str) -> float:
        """IDF of ``token``; 0 for a token this field has never seen."""
        tid = self.vocab.get(token) if token else None
        return 0.0 if tid is None else float(self.idf[tid])

    def doc_freq(self, token: str) -> int:
        tid = self.vocab.get(token) if token else None
        return 0 if tid is None else int(self._doc_freq[tid])

    def score_titles(self, tokens: Sequence[str], *, alternatives: Sequence[str] = (),
                     alternative_of: str = "") -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Per-title best-document BM25 score and matched IDF mass: two ``(n,)`` float32 arrays.

        ``alternatives`` (prefix completions of the token ``alternative_of``) count, in documents
        that lack ``alternative_of`` itself, with the best of their scores and ``alternative_of``'s IDF.
        """
        docs, vals, idfs = [], [], []
        for token in tokens:
            d, v = self.postings(token)
            if d.size:
                docs.append(d)
                vals.append(v)
                idfs.append(np.full(d.size, self.token_idf(token), dtype=np.float32))
        if alternatives:
            have, _ = self.postings(alternative_of)
            alt_docs, alt_vals = [], []
            for word in alternatives:
                d, v = self.postings(word)
                alt_docs.append(d)
                alt_vals.append(v)
            d_alt = np.concatenate(alt_docs)
            v_alt = np.concatenate(alt_vals)
            if d_alt.size:
                order = np.lexsort((-v_alt, d_alt))  # per document, its best completion first
                d_alt, v_alt = d_alt[order], v_alt[order]
                first = np.ones(d_alt.size, dtype=bool)
                first[1:] = d_alt[1:] != d_alt[:-1]
                d_alt, v_alt = d_alt[first], v_alt[first]
                keep = ~np.isin(d_alt, have, assume_unique=False)
                d_alt, v_alt = d_alt[keep], v_alt[keep]
                # an unseen typed fragment weighs like its rarest completion
                idf = self.token_idf(alternative_of) or max(self.token_idf(w) for w in alternatives)
                docs.append(d_alt)
                vals.append(v_alt)
                idfs.append(np.full(d_alt.size, idf, dtype=np.float32))
        score = np.zeros(self.n_titles, dtype=np.float32)
        matched = np.zeros(self.n_titles, dtype=np.float32)
        if not docs:
            return score, matched
        hit, (doc_score, doc_matched) = _sum_by_doc(np.concatenate(docs), [np.concatenate(vals), np.concatenate(idfs)],
                                                    self.n_docs)  # fmt: skip
        np.maximum.at(score, self.doc_title[hit], doc_score.astype(np.float32))
        np.maximum.at(matched, self.doc_title[hit], doc_matched.astype(np.float32))
        return score, matched

    def score_docs(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Documents matching any token and their BM25 scores: ``(m,)`` int64 and ``(m,)`` float64."""
        parts = [self.postings(t) for t in tokens]
        parts = [p for p in parts if p[0].size]
        if not parts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        hit, (doc_score,) = _sum_by_doc(np.concatenate([p[0] for p in parts]), [np.concatenate([p[1] for p in parts])],
                                        self.n_docs)  # fmt: skip
        return hit, doc_score

    def prefix_completions(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` vocabulary words longer than ``prefix`` that start with it, most frequent first."""
        cached = self._completions.get(prefix)
        if cached is not None:
            return cached[:limit]
        import bisect

        lo = bisect.bisect_left(self.sorted_vocab, prefix)
        out: list[str] = []
        for word in self.sorted_vocab[lo:]:
            if not word.startswith(prefix):
                break
            if word != prefix:
                out.append(word)
        out.sort(key=lambda w: (-self.doc_freq(w), w))
        if len(self._completions) < 50_000:  # typed prefixes repeat: keep the sorted answer
            self._completions[prefix] = out[:limit]
        return out[:limit]


class LexicalIndex:
    """BM25 over the fields of ``n`` titles plus fuzzy and prefix title matching (see the module doc)."""

    def __init__(self, documents: LexicalDocuments, config: LexicalConfig | None = None) -> None:
        self.config = config or LexicalConfig()
        cfg = self.config
        n = len(documents.title_strings)
        self.n_titles = n
        string_title: list[int] = []
        string_lang: list[str] = []
        string_text: list[str] = []
        title_tokens: list[list[str]] = []
        trigram_docs: list[list[str]] = []
        string_keys: list[str] = []
        for i, strings in enumerate(documents.title_strings):
            seen: set[str] = set()
            for lang, text in strings:
                key = title_key(text)
                if not key or key in seen:
                    continue
                seen.add(key)
                string_title.append(i)
                string_lang.append(lang)
                string_text.append(text)
                string_keys.append(key)
                title_tokens.append(tokenize(text))
                trigram_docs.append(_trigrams(key))
        self.string_title = np.asarray(string_title, dtype=np.int64)
        # strings are appended title by title: title i owns strings [start[i], start[i + 1])
        self._string_start = np.searchsorted(self.string_title, np.arange(n + 1))
        self.string_lang = string_lang
        self.string_text = string_text
        self.string_keys = string_keys
        self._string_words = [frozenset(key.split()) for key in string_keys]
        """Each title string key's words (:meth:`matched_title_string`)."""
        self._key_to_titles: dict[str, list[int]] = {}
        for key, title in zip(string_keys, string_title, strict=True):
            bucket = self._key_to_titles.setdefault(key, [])
            if not bucket or bucket[-1] != title:
                bucket.append(title)
        self._title = _FieldIndex(title_tokens, self.string_title, n, k1=cfg.k1, b=cfg.b.get("title", 0.3))
        self._trigram = _FieldIndex(trigram_docs, self.string_title, n, k1=cfg.k1, b=0.3)
        # one document per person name: "tom hanks" must beat a title with a Tom and a Hanks apart
        person_docs: list[list[str]] = []
        person_title: list[int] = []
        self.people: list[list[tuple[str, frozenset[str], str]]] = []
        for i, names in enumerate(documents.people):
            own = []
            for name in dict.fromkeys(names):
                tokens = tokenize(name)
                if tokens:
                    person_docs.append(tokens)
                    person_title.append(i)
                    own.append((name, frozenset(tokens), tokens[-1]))
            self.people.append(own)
        self._people_words = [frozenset().union(*(parts for _, parts, _ in own)) for own in self.people]
        """Every word of each title's people's names (:meth:`matched_people` skips a title sharing none)."""
        self._people = _FieldIndex(person_docs, np.asarray(person_title, dtype=np.int64), n, k1=cfg.k1,
                                   b=cfg.b.get("people", 0.3))  # fmt: skip
        self._content = _FieldIndex([documents.content_tokens(i) for i in range(n)], np.arange(n), n, k1=cfg.k1,
                                    b=cfg.b.get("content", 0.75))  # fmt: skip
        self._stopwords = _stopwords()

    # ---------------------------------------------------------------------------------- queries

    def parse(self, query: str, language: str | None = None) -> ParsedQuery:
        """Fold, tokenize and (for long queries) drop stopwords and keep the rarest tokens; the content
        field's tokens are stemmed in ``language`` (``None``: undecided)."""
        cfg = self.config
        folded = fold(query)
        all_tokens = tuple(_WORD.findall(folded))
        is_long = len(all_tokens) > cfg.long_query_terms
        distinct = list(dict.fromkeys(all_tokens))
        if is_long:
            kept = [t for t in distinct if t not in self._stopwords and len(t) > 1]
            distinct = kept or distinct
        stems: dict[str, str] = dict(zip(distinct, stem(distinct, language), strict=True))  # once per query
        if is_long:
            if len(distinct) > cfg.max_query_terms:
                # keep the rarest tokens: highest IDF across title/people/content
                distinct.sort(key=lambda t: -max(self._content.token_idf(stems[t]), self._title.token_idf(t)))
                distinct = distinct[: cfg.max_query_terms]
        else:
            distinct = [t for t in distinct if t not in FUNCTION_WORDS] or distinct
        return ParsedQuery(folded=folded, key=title_key(query), tokens=tuple(distinct), all_tokens=all_tokens,
                           is_long=is_long, content_tokens=tuple(dict.fromkeys(stems[t] for t in distinct)))  # fmt: skip

    def score(self, query: str | ParsedQuery, *, fields: Sequence[str] = FIELDS,
              language: str | None = None) -> LexicalScores:  # fmt: skip
        """Per-title evidence for ``query`` over ``fields`` (``(n,)`` arrays; see :class:`LexicalScores`);
        ``language``: the query's, for the content field's stems (``None``: undecided)."""
        cfg = self.config
        parsed = query if isinstance(query, ParsedQuery) else self.parse(query, language)
        n = self.n_titles
        out: dict[str, np.ndarray] = {}
        tokens = list(parsed.tokens)
        coverage_num = np.zeros(n, dtype=np.float32)

        if "title" in fields:
            # prefix-aware: the last typed token may be incomplete ("stranger thi")
            last = parsed.all_tokens[-1] if parsed.all_tokens else ""
            completions: list[str] = []
            if not parsed.is_long and len(last) >= cfg.min_prefix_chars:
                completions = self._title.prefix_completions(last, cfg.prefix_expansions)
            title_score, title_matched = self._title.score_titles(tokens, alternatives=completions,
                                                                  alternative_of=last)  # fmt: skip
            out["title"] = title_score
            coverage_num += title_matched
        if "people" in fields:
            people_score, people_matched = self._people.score_titles(tokens)
            out["people"] = people_score
            coverage_num += people_matched
        if "content" in fields:
            out["content"], _ = self._content.score_titles(list(parsed.content_tokens))

        # unknown tokens (a script the titles never use, a typo) count at the highest IDF
        total_idf = sum(max(self._title.token_idf(t), self._people.token_idf(t)) or self._title.max_idf
                        for t in tokens)  # fmt: skip
        coverage = float(coverage_num.max() / total_idf) if tokens and total_idf > 0 else 0.0

        exact = np.zeros(n, dtype=np.int8)
        similarity: dict[int, float] = {}
        if "title" in fields and parsed.key:
            for title in self._key_to_titles.get(parsed.key, ()):
                exact[title] = 2
            if cfg.min_fuzzy_chars <= len(parsed.key) <= cfg.fuzzy_max_query_chars:
                similarity, near = self._fuzzy(parsed.key)
                for title in near:
                    if exact[title] == 0:
                        exact[title] = 1
                if near:  # a misspelt title has unknown words but is a title query all the same
                    coverage = max(coverage, max(similarity[t] for t in near) / 100.0)
        if "title" in fields and "people" in fields:
            out["names"] = self._names(out, similarity, cfg)
        return LexicalScores(fields=out, title_similarity=similarity, exact=exact,
                             coverage=min(coverage, 1.0), query=parsed)  # fmt: skip

    def _names(self, fields: Mapping[str, np.ndarray], similarity: Mapping[int, float],
               cfg: LexicalConfig) -> np.ndarray:  # fmt: skip
        """Title and people BM25 (the stronger one plus half the other), raised to the fuzzy title
        similarity where that is higher.

        A fuzzy match scores ``(similarity / 100) ** 2`` times the best BM25 names score of the query
        (or 1 when no word matched: a misspelt title has no exact word), so a typo still ranks.
        """
        weights = cfg.names_weights
        title = fields["title"] * np.float32(weights.get("title", 1.0))
        people = fields["people"] * np.float32(weights.get("people", 1.0))
        # the stronger field counts fully, the other by half: a query word found in both a title and
        # a name ("tom") must not outscore a full name ("tom hanks") found once
        names = np.maximum(title, people) + np.float32(0.5) * np.minimum(title, people)
        if similarity:
            reference = float(names.max()) or 1.0
            titles = np.fromiter(similarity.keys(), dtype=np.int64, count=len(similarity))
            sims = np.fromiter(similarity.values(), dtype=np.float32, count=len(similarity)) / 100.0
            fuzzy = np.where(sims >= FUZZY_MIN_SIMILARITY / 100.0, reference * sims**2, 0.0).astype(np.float32)
            names[titles] = np.maximum(names[titles], fuzzy)
        return names

    def _fuzzy(self, key: str) -> tuple[dict[int, float], set[int]]:
        """Trigram candidates verified with rapidfuzz: title position -> best similarity (0..100),
        and the titles the query is a near-exact match of."""
        docs, score = self._trigram.score_docs(list(dict.fromkeys(_trigrams(key))))
        k = min(self.config.fuzzy_candidates, score.size)
        if k == 0:
            return {}, set()
        top = docs[np.argpartition(-score, k - 1)[:k]] if score.size > k else docs
        out: dict[int, float] = {}
        near: set[int] = set()
        candidates = top.tolist()
        for s, (sim, is_near) in zip(candidates, _similarities(key, [self.string_keys[s] for s in candidates]),
                                     strict=True):  # fmt: skip
            title = int(self.string_title[s])
            if sim > out.get(title, -1.0):
                out[title] = sim
            if is_near:
                near.add(title)
        return out, near

    # ---------------------------------------------------------------------------------- explain

    def matched_title_string(self, title: int, parsed: ParsedQuery) -> tuple[str, str] | None:
        """The ``(lang, text)`` title string of ``title`` sharing most tokens with the query, if any."""
        tokens = set(parsed.all_tokens)
        best: tuple[int, tuple[str, str]] | None = None
        for s in range(int(self._string_start[title]), int(self._string_start[title + 1])):
            key = self.string_keys[s]
            overlap = len(tokens & self._string_words[s])
            if key == parsed.key:
                overlap += 1000
            if overlap and (best is None or overlap > best[0]):
                best = (overlap, (self.string_lang[s], self.string_text[s]))
        return best[1] if best else None

    def matched_people(self, title: int, parsed: ParsedQuery, *, any_word: bool = False) -> list[str]:
        """Names of ``title``'s cast/directors matched by the query: two of their words, the surname,
        or the whole query ("tom" names every Tom; "tom hanks" names only Tom Hanks). ``any_word``: every
        name sharing a word with the query (what the people field scored: "lego movie" and Lego Lee)."""
        if self._people_words[title].isdisjoint(parsed.all_tokens):
            return []
        tokens = set(parsed.all_tokens)
        out = []
        for name, parts, surname in self.people[title]:
            hit = parts & tokens
            if hit and (any_word or len(hit) >= min(2, len(parts)) or tokens <= parts or surname in hit):
                out.append(name)
        return out


_ARTICLES = frozenset({"the", "a", "an", "le", "la", "les", "l", "el", "los", "las", "il", "lo", "gli",
                       "der", "die", "das", "den", "det", "o", "os", "un", "une", "uno", "una", "ein", "eine"})  # fmt: skip


def max_edits(query_key: str) -> int:
    """Typos tolerated for a near-exact title match: none under 4 characters, 1 under 12, else 2."""
    return 0 if len(query_key) < 4 else 1 if len(query_key) < 12 else 2


_NUMBER = re.compile(r"\d+")


def same_numbers(query_key: str, key: str) -> bool:
    """Whether ``query_key`` and ``key`` hold the same numbers in the same order: a typo never changes one
    (``2001`` is one swap from ``2010``, ``1917`` one from ``1971``, and neither is a near-exact match)."""
    return _NUMBER.findall(query_key) == _NUMBER.findall(key)


def _similarities(query_key: str, title_keys: Sequence[str]) -> list[tuple[float, bool]]:
    """:func:`_similarity` of ``query_key`` with each of ``title_keys``, the same values: rapidfuzz's
    ``cdist`` compares the query with every key variant in one call per measure (one call per variant
    and measure cost ~0.2 ms per query for the ~30 fuzzy candidates)."""
    from rapidfuzz.distance import OSA, Indel
    from rapidfuzz.process import cdist

    if not title_keys:
        return []
    allowed = max_edits(query_key)
    typed_chars = len(query_key)
    owners: list[int] = []
    variants: list[str] = []
    for i, key in enumerate(title_keys):
        head, _, rest = key.partition(" ")
        owners.append(i)
        variants.append(key)
        if rest and head in _ARTICLES:
            owners.append(i)
            variants.append(rest)
    longer = [j for j, v in enumerate(variants) if len(v) > typed_chars]
    prefixes = [variants[j][:typed_chars] for j in longer]
    whole = cdist([query_key], variants, scorer=Indel.normalized_similarity, dtype=np.float64)[0].tolist()
    edits = cdist([query_key], variants, scorer=OSA.distance, score_cutoff=allowed, dtype=np.int64)[0].tolist()
    if longer:
        head_sims = cdist([query_key], prefixes, scorer=Indel.normalized_similarity, dtype=np.float64)[0].tolist()
        head_edits = cdist([query_key], prefixes, scorer=OSA.distance, score_cutoff=allowed, dtype=np.int64)[0].tolist()
    best = [0.0] * len(title_keys)
    near = [False] * len(title_keys)
    for j, i in enumerate(owners):
        best[i] = max(best[i], 100.0 * whole[j])
        near[i] = near[i] or (edits[j] <= allowed and same_numbers(query_key, variants[j]))
    for m, j in enumerate(longer):
        i = owners[j]
        typed = typed_chars / len(variants[j])
        best[i] = max(best[i], 100.0 * head_sims[m] * min(1.0, 0.4 + typed * 0.75))
        near[i] = near[i] or (typed >= 0.6 and head_edits[m] <= allowed - 1 and same_numbers(query_key, prefixes[m]))
    return list(zip(best, near, strict=True))


def _similarity(query_key: str, title_key_: str) -> tuple[float, bool]:
    """The rule one pair at a time (:func:`_similarities` applies it to a batch). Typo-tolerant similarity (0..100) of a folded query and a folded title key, and whether the
    query is a near-exact match of the title.

    Similarity is the best rapidfuzz ratio of: the whole key; the key without a leading article
    ("matrx" ~ "the matrix"); and, for a title being typed, the key's prefix of the query's length,
    discounted by the share of the title typed so far. Near-exact means at most :func:`max_edits`
    typos (insertion, deletion, substitution or swap of neighbours: optimal string alignment) away
    from the key (or the article-less key), or one typo fewer from the typed prefix once 60% of the
    title is typed: "matrx" and "strnger things" are near-exact, "stranger
    thi" is, "toy story" is not near-exact for "tokyo story" (two edits in nine letters). A typo
    never changes a number (:func:`same_numbers`): "2001" is not near-exact for "2010".
    """
    from rapidfuzz.distance import OSA, Indel

    allowed = max_edits(query_key)
    head, _, rest = title_key_.partition(" ")
    keys = [title_key_] + ([rest] if rest and head in _ARTICLES else [])
    best = 0.0
    near = False
    for key in keys:
        best = max(best, 100.0 * Indel.normalized_similarity(query_key, key))
        near = near or (OSA.distance(query_key, key, score_cutoff=allowed) <= allowed and same_numbers(query_key, key))
        if len(key) > len(query_key):
            typed = len(query_key) / len(key)
            prefix = key[: len(query_key)]
            best = max(best, 100.0 * Indel.normalized_similarity(query_key, prefix) * min(1.0, 0.4 + typed * 0.75))
            # one typo fewer on a prefix: "comedy" is not "comedi(an)" being typed
            near = near or (typed >= 0.6 and OSA.distance(query_key, prefix, score_cutoff=allowed) <= allowed - 1
                            and same_numbers(query_key, prefix))  # fmt: skip
    return best, near
