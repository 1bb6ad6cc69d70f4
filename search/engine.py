"""Natural-language title search: dense retrieval fused with lexical retrieval, filters, profiles.

The pipeline for one query (``n`` titles in the index scope, ``d`` embedding dimension):

1. **Filters first.** The filters and the viewer's maturity level become one ``(n,)`` boolean mask of
   allowed titles *before* anything is retrieved, so a filter never empties a page that exists and a
   kids profile can never receive a title above its level: every channel, every exact-title boost and
   the personal re-ranker only ever see allowed titles (and the page is checked once more at the end).
2. **Channels.** ``dense``: the query embedding (one encoding; the encoder's LRU cache makes repeats
   free) searched in the FAISS index over catalog texts (one per title and description language),
   a title scoring the maximum over its texts. ``names``: BM25 over titles, localized titles, cast
   and directors, typo-tolerant and prefix-aware (:mod:`search.lexical`). ``content``: BM25 over
   descriptions, genres, keywords and tags, each description stemmed in its language and the query in
   its own (:func:`search.lexical.stem`).
3. **Fusion** (:mod:`search.fusion`): a weighted sum of per-channel normalised scores (``linear``,
   the default, the plot channel's cosines over a span of at least ``dense_span_floor``; weighted RRF
   is the alternative), with a gate that silences the names channel when
   the query's lexical coverage is weak and lets dense yield when the query is a title or a name.
4. **Exact and near-exact title matches first**: a title whose folded title (any language) equals
   the query comes first, then titles within :func:`search.lexical.max_edits` typos of the query
   (optimal string alignment: none under 4 characters, 1 under 12, else 2; or a title being typed);
   a query in a non-Latin script is also near-exact for a title among the channels' first
   :data:`search.dense.SOUND_CONFIRM_DEPTH` that sounds like it (:func:`search.langid.sound_key`:
   ``تيتانيك``, ``타이타닉``, ``タイタニック`` -> Titanic), or for any title when the key is long enough
   (:data:`search.dense.MIN_HEARD_KEY`: ``لا كاسا دي بابيل`` -> La casa de papel).
5. **Personal re-ranking** (optional): with a profile, a :class:`Reranker` may reorder the
   fused scores (exact-title tiers stay first).

:meth:`SearchEngine.rank` exposes the three systems compared offline (``bm25``, ``dense``,
``hybrid``); ``hybrid`` is exactly what :meth:`SearchEngine.search` serves.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from data.normalize import MATURITY_LEVELS, NATIONAL_LANGUAGES
from data.queries import script_of
from search.catalog import SearchCatalog
from search.dense import (
    DEFAULT_HUB_PENALTY,
    DEFAULT_LANGUAGE_CENTERING,
    DEFAULT_TITLE_ONLY_PENALTY,
    MIN_HEARD_KEY,
    SOUND_CONFIRM_DEPTH,
    DenseRetriever,
    DenseTitles,
    title_strings,
)
from search.errors import InvalidFilterError
from search.fusion import FusionConfig, fuse, gated_weights
from search.langid import (
    LanguageIdentifier,
    QueryLanguage,
    default_identifier,
    has_ideographs,
    sound_key,
    transliterate,
)
from search.lexical import LexicalConfig, LexicalIndex, LexicalScores
from search.people import People
from search.request import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    MatchReason,
    SearchFilters,
    SearchHit,
    SearchPage,
    Understood,
    Viewer,
    searchable,
    truncate_query,
)
from search.understand import Constraint, Understanding, without_sources
from search.understand import understand as understand_query

if TYPE_CHECKING:
    from embeddings.hubness import HubnessSource
    from embeddings.job import TitleStringVectors

log = logging.getLogger(__name__)

__all__ = ["SYSTEMS", "QueryEncoder", "Reranker", "Retrieved", "SearchEngine", "query_words"]

ENCODE_THREADS = 8
"""Helper threads for the dense channel when it overlaps the lexical side (one per concurrent request is plenty)."""
OVERLAP_MIN_CPUS = 4
"""Run the dense channel (encoding, then vector search) in a helper thread beside the lexical scoring
only with at least this many usable CPUs. The encoder uses two threads: on the 2-core CPU, lexical
scoring beside it slowed the encoder (in-process p50 14.8 ms vs 13.0 ms encoding first, 150 queries),
and a vector search beside it after the encoding saved nothing either."""
INTENT_BOOST = 0.5
INTENT_MASK_CACHE = 4096
"""Soft-constraint masks kept per engine (one bool per title each: ~17 KB on the default scope)."""
"""A title meeting every soft parsed constraint (the type aside) gains this share of the best fused
score, times the share of the query's words that are constraint words."""
UNDERSTOOD_REASONS = frozenset({"genre", "years", "country", "audience", "runtime"})
"""The understood constraints a hit names when it meets them (a type is met by nearly every hit; a person
and a "like" title have reasons of their own)."""
INTENT_SET_SHARE = 0.75
"""A query whose constraint words make up at least this share of it (:attr:`Understanding.share`:
"90s french comedy", "日本のホラー映画", "tom hanks" yes; "film français sur un chef" no) asks for a
set: every title meeting all its constraints ranks above every title that does not (a re-rank, not a
filter: the others follow, and exact title matches stay first)."""
INTENT_PRIOR = 1.0
"""In the ``intent`` channel (allowed titles meeting every parsed constraint), the popularity prior
weighs this much for a query that asks for a set (:data:`INTENT_SET_SHARE`), beside the query's dense
similarity (weight 1) among those titles only: candidates come from the catalog filter itself, not from
the top of text retrieval, so a set of 300 French comedies is not limited to the few the text finds."""
INTENT_PRIOR_PARTIAL = 0.1
"""The prior's weight when the query says more than its constraints ("film français sur un chef
cuisinier"): there the words left decide, and the prior only breaks near-ties."""
LIKE_GENRE_WEIGHT = 0.05
""""Movies like <title>": a neighbour's cosine to the title gains this much times the share of the
title's genres it shares (e5 plot neighbours alone drift to titles that merely sound alike: "The
Incident", "Incoming" for Inception), :data:`LIKE_PRIOR_WEIGHT` times its popularity prior (0..1) and
:data:`LIKE_SAME_WEIGHT` for sharing a country and for being of the same type (half each). Chosen by
reading the neighbours of Inception, Amélie, The Matrix, Toy Story, Train to Busan, 3 Idiots and Dark
(no judged "like" set exists): Inception -> 2012, Knowing, The Matrix..."""
LIKE_PRIOR_WEIGHT = 0.05
LIKE_SAME_WEIGHT = 0.03
LIKE_TITLE_COSINE = 0.9
"""The title named in "like <title>" is resolved lexically (an exact title first); else the dense title
channel's best string wins at this cosine and :data:`LIKE_TITLE_MARGIN` ahead of the next title
("ترين تو بوسان" -> Train to Busan 0.915, "千と千尋の神隠し" -> Spirited Away 0.929; wrong bests sit at
0.85-0.90: "インセプション" -> The Internship 0.862, "начало" -> Start-Up 0.895 vs 0.894); else the best
names BM25 match (transliterated for other scripts: "타이타닉" -> Titanic); else nothing (no like channel)."""
LIKE_TITLE_MARGIN = 0.01
TYPE_BOOST = 0.05
"""A title of the parsed type gains this share of the best fused score."""
TITLE_CHANNEL_MAX_WORDS = 6
"""The dense title channel weighs in for queries of at most this many words (:func:`query_words`).
Chosen on marquee-ml:dev: 4 and 6 give the same known-item Recall@10 0.562 (no limit: 0.549; the plot
queries' 0.633 and Latin's 0.609 come back to what they were without the channel, titles keep 0.631)."""
UNSPACED_LETTERS_PER_WORD = {"cjk": 2, "thai": 4}
"""Letters counted as one word in a run of a script written without spaces (:func:`query_words`)."""


def query_words(text: str) -> int:
    """How many words ``text`` has: its space-separated runs, a run in a script written without spaces
    counted by its letters (:data:`UNSPACED_LETTERS_PER_WORD`: 一群欠债的人参加儿童游戏 is 6 words, 流浪地球 2,
    ฉลาดเกมส์โกง 3). Counted as one word each, a Chinese, Japanese or Thai plot was one or two words, so
    the title channel spoke for it and its hits said "similar: 27, el club de los malditos".
    marquee-ml:dev: default scope Recall@10 .736 -> .742, MRR .657 -> .665 (CJK .63 -> .68); full scope
    Recall@10 .692 unchanged, MRR .593 -> .596."""
    words = 0
    for run in text.split():
        per = UNSPACED_LETTERS_PER_WORD.get(script_of(run))
        words += max(1, math.ceil(sum(ch.isalpha() for ch in run) / per)) if per else 1
    return words


TITLE_REASON_MARGIN = 0.02
"""A title is said to match by its title's meaning when its title-channel cosine is this close to the best."""
SET_NEIGHBOURS_BELOW = 20
"""A set query matching fewer allowed titles than this (a page) is followed by the titles most like them
(:meth:`SearchEngine._set_neighbours`), read from its best :data:`SET_NEIGHBOURS_FROM` members."""
SET_NEIGHBOURS_FROM = 10
RERANK_DEPTH = 100
"""A profile's re-ranker reorders the best ``max(RERANK_DEPTH, offset + limit)`` fused titles."""
WARM_QUERIES: tuple[str, ...] = ("titanic", "تيتانيك", "タイタニック", "타이타닉", "Титаник", "توم هانكس")
"""What :meth:`SearchEngine.warm` types at start: a Latin title, then titles and a name in other scripts, whose
first query builds the tables every later one reads (the title strings' scripts and sound keys, the people's
sound keys and name parts, the levelled vectors). Cold, on the full scope, the first Arabic query took 2.6 s
and the first two-word Hebrew one 0.2 s more."""
SYSTEMS: tuple[str, ...] = ("bm25", "dense", "hybrid")
SearchSystem = Literal["bm25", "dense", "hybrid"]




NAMED_PRIOR = 1.0
"""Weight of the popularity prior, on top of ``FusionConfig.prior``, among the titles in the exact and
near-exact tiers (the query names them, spells them nearly, or sounds like them in another script,
:meth:`SearchEngine._sounds_like`): on the full scope タイタニック sounds like Titanic (1943, 1953, 1997),
Titanica, Aitanic and Titanic II, and the encoder put Aitanic nearest; a viewer typing Titanic means the one
people watch."""


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Reranker(Protocol):
    """Personal re-ranking, given to the engine by services (``ranking.personalize.SearchReranker``).

    Search never imports ranking: services builds the implementation and hands it over typed.
    """

    def rerank(self, profile_id: str, title_ids: Sequence[str], scores: np.ndarray) -> np.ndarray:
        """``(m,)`` new scores for ``title_ids`` (``(m,)``) given their fused ``scores`` ``(m,)``;
        the scores unchanged when the profile has nothing to add."""
        ...


class SimilarTitles(Protocol):
    """"More like this" as ``GET /v1/titles/{id}/similar`` serves it (ranking's unified model over the
    most similar titles, no viewer), given to the engine by services for "like <title>" queries.

    Search never imports ranking: services builds the implementation and hands it over typed.
    """

    def similar_ids(self, title_id: str, limit: int) -> Sequence[str]:
        """Up to ``limit`` ids of the titles most like ``title_id``, best first; empty when there is
        nothing to say (an unknown title, the pages area not loaded)."""
        ...


class QueryEncoder(Protocol):
    """What search needs from an encoder (``embeddings.encoder.TextEncoder`` satisfies it)."""

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """``(q, d)`` float32 unit rows."""
        ...



@dataclass
class Retrieved:
    """Everything retrieved for one query, before fusion (kept for tuning and explanations)."""

    lexical: LexicalScores
    channels: dict[str, tuple[np.ndarray, np.ndarray]]
    dense_langs: dict[int, str] = field(default_factory=dict)
    title_strings: dict[int, int] = field(default_factory=dict)
    words: int = 0
    """Words in the query (the title channel only speaks for short queries)."""
    """Title position -> index of its best string in the dense title channel."""
    language: QueryLanguage | None = None
    """The query's language, its detector confidence and script (:mod:`search.langid`)."""
    embedding: np.ndarray | None = None
    """``(d,)`` the query embedding the dense channels used (``None``: no dense side)."""
    sounded: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Positions made near-exact only because their title sounds like the query (:meth:`SearchEngine._sounds_like`)."""
    like_source: int | None = None
    """Position of the title named in "like <title>" when the ``like`` channel answers for it."""
    text: str = ""
    """The query as retrieved (after truncation)."""


@dataclass(frozen=True)
class _DenseResult:
    positions: np.ndarray
    scores: np.ndarray
    langs: list[str]
    titles: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    embedding: np.ndarray


def _top_positive(scores: np.ndarray, allowed: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the ``k`` best strictly positive (and allowed) scores, best first."""
    s = scores if allowed is None else np.where(allowed, scores, 0.0)
    candidates = np.flatnonzero(s > 0)
    if candidates.size > k:
        part = np.argpartition(-s[candidates], k - 1)[:k]
        candidates = candidates[part]
    order = np.lexsort((candidates, -s[candidates]))
    candidates = candidates[order]
    return candidates.astype(np.int64), s[candidates].astype(np.float32)


class SearchEngine:
    """Hybrid title search over one catalog scope (see the module docstring for the pipeline)."""

    def __init__(
        self,
        catalog: SearchCatalog,
        lexical: LexicalIndex,
        dense: DenseRetriever | None,
        encoder: QueryEncoder | None,
        *,
        fusion: FusionConfig | None = None,
        reranker: Reranker | None = None,
        overlap: bool | None = None,
        language_identifier: LanguageIdentifier | None = None,
        titles: DenseTitles | None = None,
        similar: SimilarTitles | None = None,
    ) -> None:
        if lexical.n_titles != catalog.n:
            raise ValueError(f"lexical index covers {lexical.n_titles} titles; the catalog has {catalog.n}")
        self.catalog = catalog
        self.lexical = lexical
        self.dense = dense
        self.encoder = encoder
        self.fusion = fusion or FusionConfig()
        self.reranker = reranker
        self.similar = similar
        """"Like <title>" neighbours as the ``similar`` endpoint orders them; ``None``: by content alone."""
        self.language_identifier = language_identifier
        self.titles = titles
        """The dense title channel (:class:`search.dense.DenseTitles`); ``None``: plot passages only."""
        """Identifies each query's language (:mod:`search.langid`); ``None``: languages are not used."""
        self.overlap = _usable_cpus() >= OVERLAP_MIN_CPUS if overlap is None else overlap
        """Dense channel in a helper thread beside the lexical scoring (default: :data:`OVERLAP_MIN_CPUS`)."""
        self._executor: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        counts = {lang: int(mask.sum()) for lang, mask in catalog.description_language_masks.items()}
        most = max(counts.values(), default=0)
        self._content_share = {lang: count / most for lang, count in counts.items()} if most else {}
        self._gazetteer: People | None = None
        self._credited: dict[str, np.ndarray] | None = None
        self._intent_masks: dict[tuple[str, str, bool], np.ndarray] = {}
        """Soft-constraint masks already computed (read-only arrays; see :meth:`_intent_mask`)."""
        self._prior: np.ndarray | None = None
        """Titles described in each language, relative to the best-covered language (English: 1)."""
        self._prior_added: tuple[float, np.ndarray] | None = None
        """``(config.prior, scores)`` of the last :meth:`_prior_scores` (read-only)."""

    @classmethod
    def build(
        cls,
        titles: Any,
        *,
        index: Any = None,
        texts: Any = None,
        scope_title_ids: Sequence[str] | None = None,
        encoder: QueryEncoder | None = None,
        fusion: FusionConfig | None = None,
        lexical_config: LexicalConfig | None = None,
        reranker: Reranker | None = None,
        title_only_penalty: float = DEFAULT_TITLE_ONLY_PENALTY,
        language_centering: float = DEFAULT_LANGUAGE_CENTERING,
        hub_penalty: float = DEFAULT_HUB_PENALTY,
        language_identifier: LanguageIdentifier | None = None,
        title_embedder: Callable[[list[str]], np.ndarray] | None = None,
        title_string_vectors: TitleStringVectors | None = None,
        similar: SimilarTitles | None = None,
        text_hubness: HubnessSource | None = None,
    ) -> SearchEngine:
        """Build from the catalog's titles DataFrame and (optionally) a text index.

        Args:
            titles: the catalog's titles DataFrame.
            index: a vector index whose ids are text ids (``None``: lexical only).
            texts: DataFrame ``text_id, title_id, lang, kind`` describing the index's ids.
            scope_title_ids: the titles searched (default: every title with a text, or all titles).
            encoder: query encoder (required with ``index``).
            title_only_penalty, language_centering, hub_penalty: see :class:`DenseRetriever` (the texts'
                hubness is measured against the title channel's strings, :meth:`DenseRetriever.fit_hubness`).
            language_identifier: default: the process's shared :func:`search.langid.default_identifier`.
            title_string_vectors: the title strings and their vectors stored with the index version
                (:class:`embeddings.job.TitleStringVectors`): the dense title channel.
            title_embedder: for an index version built without them (``title_string_vectors`` is
                ``None``), query embeddings ``(s, d)`` of title strings (the encoder's
                ``encode_queries`` through the embedding cache): the channel is then embedded here,
                once per string (slow the first time; rebuilding the index stores them). Neither:
                no title channel.
            similar: "more like this" as served (:class:`SimilarTitles`) for "like <title>" queries.
            text_hubness: the texts' hubness as the index version stores it
                (:meth:`embeddings.job.IndexArtifacts.text_hubness`); ``None``: computed here.
        """
        if scope_title_ids is None and texts is not None:
            scope_title_ids = list(dict.fromkeys(texts["title_id"].astype(str).tolist()))
        catalog = SearchCatalog.from_frame(titles, scope_title_ids)
        lexical = LexicalIndex(catalog.lexical_documents(), lexical_config)
        dense = None
        if index is not None:
            if texts is None or encoder is None:
                raise ValueError("a dense index needs its texts table and a query encoder")
            positions = np.asarray([catalog.position.get(str(t), -1) for t in texts["title_id"]], dtype=np.int64)
            langs = ["" if not isinstance(x, str) else x for x in texts["lang"].tolist()]
            if "kind" in texts:
                langs = ["" if "title" in str(k) and "desc" not in str(k) else lang
                         for k, lang in zip(texts["kind"].tolist(), langs, strict=True)]  # fmt: skip
            scripts = [script_of(catalog.titles[p]) if p >= 0 else "latin" for p in positions.tolist()]
            dense = DenseRetriever(index, texts["text_id"].to_numpy(), positions, langs, catalog.n,
                                   title_only_penalty=title_only_penalty, language_centering=language_centering,
                                   text_scripts=scripts, hub_penalty=hub_penalty)  # fmt: skip
            dense.fit_languages()
        titles_channel = None
        if dense is not None and title_string_vectors is not None:
            titles_channel = DenseTitles.from_index(title_string_vectors, catalog.position, catalog.n)
        elif dense is not None and title_embedder is not None:
            positions_s, langs_s, texts_s = title_strings(catalog.titles, catalog.original_titles, catalog.title_variants)
            log.warning("the index version has no title-string vectors (built before they were stored with it): "
                        "embedding %d title strings now; `marquee index build` stores them", len(texts_s))  # fmt: skip
            vectors = np.asarray(title_embedder(texts_s), dtype=np.float32)
            titles_channel = DenseTitles(vectors, positions_s, langs_s, texts_s, catalog.n)
        if dense is not None and titles_channel is not None and hub_penalty > 0:
            if text_hubness is None:
                dense.fit_hubness(titles_channel.vectors)
            else:
                dense.fit_hubness(titles_channel.vectors, source=text_hubness)
        return cls(catalog, lexical, dense, encoder, fusion=fusion, reranker=reranker,
                   language_identifier=language_identifier or default_identifier(), titles=titles_channel,
                   similar=similar)  # fmt: skip

    # -- retrieval -----------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=ENCODE_THREADS, thread_name_prefix="search-encode")
            return self._executor

    def close(self) -> None:
        """Stop the encoding threads (``Resources.close`` calls this at shutdown)."""
        with self._pool_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None

    def embed(self, queries: Sequence[str]) -> np.ndarray:
        """``(q, d)`` query embeddings (the encoder caches repeats)."""
        if self.encoder is None:
            raise RuntimeError("this search engine has no encoder (lexical only)")
        return self.encoder.encode_queries(list(queries))

    def retrieve(self, query: str, allowed: np.ndarray | None, top: int,
                 query_embedding: np.ndarray | None, dense: bool = True) -> Retrieved:  # fmt: skip
        """Every channel's top ``top`` allowed titles for ``query`` (before fusion).

        ``allowed`` is the ``(n,)`` mask of allowed titles (``None``: all); ``query_embedding``
        ``(d,)`` skips the encoder when given.
        """
        language = self.identify(query)
        pending: Future[_DenseResult] | None = None
        if dense and self.dense is not None:
            if self.overlap:  # the encoder and faiss release the GIL: the helper runs beside this thread
                pending = self._pool().submit(self._dense_channel, query, query_embedding, top, allowed, language)
            elif query_embedding is None:
                query_embedding = self.embed([query])[0]  # alone: the encoder uses every core it has
        try:
            lex = self._lexical(query, language)
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        heard = lex.exact  # before the sound rule
        channels: dict[str, tuple[np.ndarray, np.ndarray]] = {
            "names": _top_positive(lex.fields["names"], allowed, top),
            "content": _top_positive(lex.fields["content"], allowed, top),
        }
        dense_langs: dict[int, str] = {}
        best_strings: dict[int, int] = {}
        embedding = None
        if dense and self.dense is not None:
            result = pending.result() if pending is not None else self._dense_channel(
                query, query_embedding, top, allowed, language)  # fmt: skip
            channels["dense"] = (result.positions, result.scores)
            embedding = result.embedding
            dense_langs = dict(zip(result.positions.tolist(), result.langs, strict=True))
            if result.titles is not None:
                t_pos, t_scores, t_strings = result.titles
                channels["titles"] = (t_pos, t_scores)
                best_strings = dict(zip(t_pos.tolist(), t_strings.tolist(), strict=True))
                lex = self._sounds_like(query, language, lex, np.concatenate(
                    [t_pos[:SOUND_CONFIRM_DEPTH], result.positions[:SOUND_CONFIRM_DEPTH],
                     channels["names"][0][:SOUND_CONFIRM_DEPTH]]))  # fmt: skip
        sounded = np.flatnonzero(lex.exact != heard) if lex.exact is not heard else np.empty(0, dtype=np.int64)
        if sounded.size and embedding is not None and self.titles is not None and "titles" in channels:
            channels["titles"] = self._with_namesakes(channels["titles"], sounded, embedding, allowed)
        return Retrieved(lexical=lex, channels=channels, dense_langs=dense_langs, language=language, sounded=sounded,
                         title_strings=best_strings, words=query_words(query), embedding=embedding, text=query)  # fmt: skip

    def _lexical(self, query: str, language: QueryLanguage | None) -> LexicalScores:
        """Lexical evidence; for a query in a non-Latin script, title and people matches of its Latin
        transliteration count too (per title, the better of the two; content stays the query's)."""
        lex = self.lexical.score(query, language=self._confident(language, self.fusion))
        latin = None if language is None else transliterate(query, language.script)
        if latin is None:
            return lex
        other = self.lexical.score(latin, fields=("title", "people"))  # the description words stay the query's
        fields = dict(lex.fields)
        for name in ("title", "people", "names"):
            if name in fields and name in other.fields:
                fields[name] = np.maximum(fields[name], other.fields[name])
        similarity = dict(other.title_similarity)
        for position, value in lex.title_similarity.items():
            similarity[position] = max(value, similarity.get(position, 0.0))
        return LexicalScores(fields=fields, title_similarity=similarity, exact=np.maximum(lex.exact, other.exact),
                             coverage=max(lex.coverage, other.coverage), query=lex.query)  # fmt: skip

    def _with_namesakes(self, channel: tuple[np.ndarray, np.ndarray], sounded: np.ndarray, embedding: np.ndarray,
                        allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The title channel with the titles heard by sound that its top missed, scored as it scores them
        (three titles named Titanic have the same string, so the same score: the prior then decides)."""
        assert self.titles is not None
        positions, scores = channel
        missing = np.setdiff1d(sounded, positions)
        if allowed is not None:
            missing = missing[allowed[missing]]
        if missing.size == 0:
            return channel
        positions = np.concatenate([positions, missing])
        scores = np.concatenate([scores, self.titles.best_scores(embedding, missing)]).astype(np.float32)
        order = np.lexsort((positions, -scores))
        return positions[order], scores[order]

    def _sounds_like(self, query: str, language: QueryLanguage | None, lex: LexicalScores,
                     candidates: np.ndarray) -> LexicalScores:  # fmt: skip
        """A title typed in another script (``تيتانيك``, ``タイタニック``) is a near-exact match of a title
        the encoder proposes (``candidates``) when the two sound alike (:func:`search.langid.sound_key`);
        a key of :data:`search.dense.MIN_HEARD_KEY` classes, in a query without Han ideographs, needs
        no proposal."""
        if self.titles is None or language is None or language.script in ("latin", "unknown"):
            return lex
        key = sound_key(query)
        anywhere = len(key) >= MIN_HEARD_KEY and not has_ideographs(query)
        matches = self.titles.sound_matches(key, None if anywhere else candidates)
        if matches.size == 0:
            return lex
        exact = lex.exact.copy()
        exact[matches] = np.maximum(exact[matches], 1)
        return replace(lex, exact=exact)

    def warm(self, queries: Sequence[str] = WARM_QUERIES) -> float:
        """Search each of ``queries`` once, so that no viewer's query builds what the first query in a script
        builds (:data:`WARM_QUERIES`); returns the seconds it took. The answers are dropped, and no profile
        or metric sees them."""
        start = time.perf_counter()
        for query in queries:
            self.search(query, limit=1)
        return time.perf_counter() - start

    def identify(self, query: str) -> QueryLanguage | None:
        """The query's language and script (``None`` without an identifier)."""
        return None if self.language_identifier is None else self.language_identifier.identify(query)

    def _dense_channel(self, query: str, query_embedding: np.ndarray | None, top: int, allowed: np.ndarray | None,
                       language: QueryLanguage | None) -> _DenseResult:  # fmt: skip
        """The plot channel and (when built) the title channel, from one query embedding."""
        if query_embedding is None:
            query_embedding = self.embed([query])[0]
        positions, scores, langs = self._dense_search(query_embedding, top, allowed, language)
        titles = None if self.titles is None else self._title_search(query_embedding, top, allowed, language)
        return _DenseResult(positions, scores, langs, titles, query_embedding)

    def _title_search(self, query_embedding: np.ndarray, top: int, allowed: np.ndarray | None,
                      language: QueryLanguage | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """The dense title channel (:meth:`search.dense.DenseTitles.search`) for a query in ``language``'s script."""
        assert self.titles is not None
        return self.titles.search(query_embedding, top, allowed, None if language is None else language.script)

    def _dense_search(self, query_embedding: np.ndarray, top: int, allowed: np.ndarray | None,
                      language: QueryLanguage | None) -> tuple[np.ndarray, np.ndarray, list[str]]:  # fmt: skip
        """Dense channel: for a query confidently in a description language with a centroid other
        than the catalog's main one, texts in other languages are searched with the language-centred
        query and texts in its own language with the query as encoded
        (:meth:`search.dense.DenseRetriever.search_in_language`); otherwise the query as encoded (a
        language without a centroid, or an undecided one, never moves the query). Returns
        positions, scores and the language of each title's best-matching text."""
        assert self.dense is not None
        return self.dense.search_in_language(query_embedding, self._confident(language, self.fusion), top, allowed,
                                             None if language is None else language.script)  # fmt: skip

    def fuse_retrieved(self, retrieved: Retrieved, allowed: np.ndarray | None,
                       config: FusionConfig) -> tuple[np.ndarray, np.ndarray, float]:  # fmt: skip
        """Fused ranking ``(positions, scores, gate)``, the popularity prior (``config.prior``) included;
        exact-title tiers are not applied here."""
        weights, gate = gated_weights(config, retrieved.lexical.coverage)
        if "dense" not in retrieved.channels:  # lexical-only engine: names speak regardless of the gate
            weights["names"] = config.weights.get("names", 0.0)
        if retrieved.words > TITLE_CHANNEL_MAX_WORDS:  # a plot, not a title: short titles sit near everything
            weights["titles"] = 0.0
        language = self.detected_language(retrieved, config)
        if language is not None:
            # BM25 only sees the descriptions written in the query's language: a French query can
            # only lexically reach the ~2% of titles described in French (same-language noise)
            weights["content"] *= self._content_share.get(language, 0.0)
        channels = dict(retrieved.channels)
        names_pos, names_scores = channels.get("names", (np.empty(0, np.int64), np.empty(0, np.float32)))
        if names_scores.size and config.names_floor > 0:
            keep = names_scores >= config.names_floor * float(names_scores[0])
            channels["names"] = (names_pos[keep], names_scores[keep])
        positions, scores = fuse(channels, weights, config)
        prior = self._prior_scores(config)
        if prior is not None and positions.size and retrieved.like_source is None:  # "like X": as similar serves
            scores = scores + prior[positions]
            # among the titles the query names, spells nearly or sounds like, the one people watch
            named = retrieved.lexical.exact[positions] > 0
            if named.any():
                scores = scores + NAMED_PRIOR * named * self._popularity_prior()[positions]
            order = np.lexsort((positions, -scores))
            positions, scores = positions[order], scores[order]
        return positions, scores, gate

    @staticmethod
    def _confident(language: QueryLanguage | None, config: FusionConfig) -> str | None:
        if language is None or language.code is None or config.language_confidence <= 0:
            return None
        return language.code if language.confidence >= config.language_confidence else None

    @classmethod
    def detected_language(cls, retrieved: Retrieved, config: FusionConfig) -> str | None:
        """The query's language when the identifier is at least ``config.language_confidence`` sure."""
        return cls._confident(retrieved.language, config)

    @staticmethod
    def exact_first(positions: np.ndarray, scores: np.ndarray, exact: np.ndarray, allowed: np.ndarray | None,
                    prior: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Exact (tier 2) and near-exact (tier 1) title matches first, each tier by fused score; a
        tier's scores are lifted above every lower tier's, so the scores a client sees fall with rank.
        A tier title no channel proposed scores its ``prior`` (``(n,)``, :meth:`_prior_scores`; else 0)."""
        tier_pos = np.flatnonzero(exact > 0)
        if allowed is not None:
            tier_pos = tier_pos[allowed[tier_pos]]
        if tier_pos.size == 0:
            return positions, scores
        missing = np.setdiff1d(tier_pos, positions, assume_unique=False)
        positions = np.concatenate([positions, missing])
        scores = np.concatenate([scores, np.zeros(missing.size) if prior is None else prior[missing]])
        tiers = exact[positions].astype(np.int64)
        scores = scores + tiers * (float(scores.max()) - float(scores.min()) + 1.0)
        order = np.lexsort((positions, -scores, -tiers))
        return positions[order], scores[order]

    def rank(self, query: str, system: SearchSystem = "hybrid", *, top_k: int = 100,
             query_embedding: np.ndarray | None = None, config: FusionConfig | None = None,
             understand: bool = True) -> list[str]:  # fmt: skip
        """Title ids, best first, for the offline comparison of ``bm25``, ``dense`` and ``hybrid``.

        ``hybrid`` is what :meth:`search` serves an adult viewer without explicit filters (same truncation,
        fusion, exact-title tiers and the query's own parsed filters, :meth:`parsed_allowed`; no profile). ``bm25`` ranks by the combined lexical score over all fields (weights
        ``lexical.config.field_weights``); ``dense`` by exact dense search alone (the hybrid's dense
        channel: title-only penalty and language centring included).
        """
        text, _ = truncate_query(query)
        cfg = config or self.fusion
        if system == "bm25":
            lex = self.lexical.score(text, language=self._confident(self.identify(text), cfg))
            pos, _ = _top_positive(lex.combined(self.lexical.config.field_weights), None, top_k)
        elif system == "dense":
            if self.dense is None:
                raise RuntimeError("this search engine has no dense index")
            emb = query_embedding if query_embedding is not None else self.embed([text])[0]
            pos, _, _ = self._dense_search(emb, top_k, None, self.identify(text))
        elif system == "hybrid":
            parsed = self.understand(text) if understand else None
            retrieved, allowed = self.retrieve_parsed(text, parsed, max(cfg.candidates, top_k), query_embedding)
            pos = self.hybrid_order(retrieved, parsed, cfg, allowed)[:top_k]
        else:
            raise ValueError(f"unknown system {system!r}; expected one of {SYSTEMS}")
        return [self.catalog.title_ids[int(p)] for p in pos]

    def hybrid_order(self, retrieved: Retrieved, parsed: Understanding | None, config: FusionConfig,
                     allowed: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        """Positions, best first, of the hybrid ranking from ``retrieved`` (its intent channels already
        added for ``parsed``) within ``allowed`` (:meth:`parsed_allowed`; ``None``: all): fusion, the parsed
        constraints' boost, exact titles first. :meth:`rank` and the fusion tuning
        (:func:`search.evaluate.tune_fusion`) share it."""
        pos, scores, _ = self.fuse_retrieved(retrieved, allowed, config)
        if parsed is not None and pos.size:
            scores = self._intent_boost(parsed, pos, scores)
            order = np.lexsort((pos, -scores))
            pos, scores = pos[order], scores[order]
        pos, _ = self.exact_first(pos, scores, retrieved.lexical.exact, allowed, self._prior_scores(config))
        return pos

    def retrieve_parsed(self, text: str, parsed: Understanding | None, top: int,
                        query_embedding: np.ndarray | None) -> tuple[Retrieved, np.ndarray | None]:  # fmt: skip
        """:meth:`retrieve` within :meth:`parsed_allowed`, with ``parsed``'s intent channels added (``None``: no
        understanding); returns the channels and the allowed mask. :meth:`rank` and the fusion tuning share it."""
        allowed = self.parsed_allowed(parsed)
        retrieved = self.retrieve(self.channel_text(text, parsed), allowed, top, query_embedding)
        if parsed is not None:
            everything = np.ones(self.catalog.n, dtype=bool) if allowed is None else allowed
            self.intent_channels(parsed, retrieved, everything, top)
        return retrieved, allowed

    @staticmethod
    def channel_text(text: str, parsed: Understanding | None) -> str:
        """What the channels read: ``text`` without the words of a running time ("dog movies under 90 minutes"
        read "90" and "minutes" as title words: Wave of Cinema: 90's Generation, Elizabeth at 90); those
        words name no plot or title (:func:`search.understand.without_sources`)."""
        runtime = [] if parsed is None else [c.source for c in parsed.of("runtime")]
        left = without_sources(text, runtime) if runtime else text
        return left if searchable(left) else text

    def parsed_allowed(self, parsed: Understanding | None) -> np.ndarray | None:
        """The titles :meth:`search` allows an adult viewer without explicit filters once the query's
        explicit parsed constraints filter ("for kids", "before 2000"); ``None`` when that is every title."""
        filters, _ = self._apply_understanding(parsed, SearchFilters())
        if filters == SearchFilters():
            return None
        allowed = self.catalog.allowed_mask(self.catalog.normalize_filters(filters), Viewer().maturity_level)
        return None if allowed.all() else allowed

    # -- the API -------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        filters: SearchFilters | None = None,
        viewer: Viewer | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        query_embedding: np.ndarray | None = None,
        understand: bool = True,
    ) -> SearchPage:
        """One page of hybrid results (see the module docstring); ``understand=False`` turns query
        understanding (:mod:`search.understand`) off.

        Raises:
            EmptyQueryError: empty or whitespace query.
            UnknownFilterValueError / InvalidFilterError: bad filters.
            InvalidFilterError: ``limit``/``offset`` out of bounds.
        """
        text, truncated = truncate_query(query)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidFilterError(f"limit={limit} is out of range; expected 1..{MAX_LIMIT}")
        if not 0 <= offset <= MAX_OFFSET:
            raise InvalidFilterError(f"offset={offset} is out of range; expected 0..{MAX_OFFSET}")
        viewer = viewer or Viewer()
        filters = self.catalog.normalize_filters(filters or SearchFilters())
        if not searchable(text):  # punctuation alone matches nothing (search.request.searchable)
            return SearchPage(query=text, query_truncated=truncated, total=0, offset=offset, limit=limit, hits=[],
                              facets=self.catalog.facets(np.empty(0, dtype=np.int64)), lexical_gate=0.0,
                              query_language=None, understood=())  # fmt: skip
        parsed = self.understand(text) if understand else None
        filters, understood = self._apply_understanding(parsed, filters)
        allowed = self.catalog.allowed_mask(filters, viewer.maturity_level)
        top = max(self.fusion.candidates, offset + limit)
        # every title allowed (no filter, an adult viewer): the channels skip applying the mask
        retrieved = self.retrieve(self.channel_text(text, parsed), None if allowed.all() else allowed, top,
                                  query_embedding)  # fmt: skip
        if parsed is not None:
            self.intent_channels(parsed, retrieved, allowed, top)
            if retrieved.like_source is None:  # "like <words>" named no title: no chip claims it did
                understood = tuple(u for u in understood if u.kind != "like")
        positions, scores, gate = self.fuse_retrieved(retrieved, allowed, self.fusion)
        if parsed is not None and positions.size:
            scores = self._intent_boost(parsed, positions, scores)
            order = np.lexsort((positions, -scores))
            positions, scores = positions[order], scores[order]
        keep = allowed[positions]  # fusion only saw allowed candidates; this is belt and braces
        positions, scores = positions[keep], scores[keep]
        if self.reranker is not None and viewer.profile_id and positions.size:
            # only the head is personal: the tail of a fused pool is noise the viewer's taste must not lift
            depth = min(positions.size, max(RERANK_DEPTH, offset + limit))
            head, head_scores = positions[:depth], scores[:depth]
            ids = [self.catalog.title_ids[int(p)] for p in head]
            reranked = np.asarray(self.reranker.rerank(viewer.profile_id, ids, head_scores.copy()), dtype=np.float64)
            if reranked.shape != head_scores.shape:
                raise ValueError(f"the re-ranker returned shape {reranked.shape}; expected {head_scores.shape}")
            order = np.lexsort((head, -reranked))
            # the tail keeps its order below every re-ranked title
            tail_scores = scores[depth:] - scores[depth:].max() + reranked.min() - 1.0 if positions.size > depth else scores[depth:]
            positions = np.concatenate([head[order], positions[depth:]])
            scores = np.concatenate([reranked[order], tail_scores])
        positions, scores = self.exact_first(positions, scores, retrieved.lexical.exact, allowed,
                                             self._prior_scores(self.fusion))  # fmt: skip
        # the hard invariant, checked once more on what leaves the engine
        keep = allowed[positions]
        positions, scores = positions[keep], scores[keep]
        page = positions[offset : offset + limit]
        page_scores = scores[offset : offset + limit]
        query_language = self.detected_language(retrieved, self.fusion)
        # descriptions in the viewer's languages, else in the query's language; titles in the viewer's
        described = viewer.languages or ((query_language,) if query_language else ())
        people = [] if parsed is None else [(c.value, mask) for c in parsed.of("person")
                                            if (mask := self._intent_mask(c)) is not None]  # fmt: skip
        # a filter is met by every hit and named on each: in a set of constraints only ("kids movies") it is
        # the reason the title is there
        met = [] if parsed is None else [(c, mask) for c in parsed.constraints if c.kind in UNDERSTOOD_REASONS
                                         and (mask := self._intent_mask(c)) is not None]  # fmt: skip
        hits = [self._hit(int(p), float(s), retrieved, viewer.languages, described, people, met)
                for p, s in zip(page, page_scores, strict=True)]  # fmt: skip
        return SearchPage(query=text, query_truncated=truncated, total=int(positions.size), offset=offset,
                          limit=limit, hits=hits, facets=self.catalog.facets(positions), lexical_gate=gate,
                          query_language=query_language, understood=understood)  # fmt: skip

    # -- query understanding ---------------------------------------------------------------------

    def _apply_understanding(self, parsed: Understanding | None,
                             filters: SearchFilters) -> tuple[SearchFilters, tuple[Understood, ...]]:  # fmt: skip
        """Explicit parsed constraints become filters unless the request already filters that field
        (the request wins: the constraint is then reported as a boost)."""
        if parsed is None:
            return filters, ()
        out = []
        for c in parsed.constraints:
            effect = c.effect
            if effect == "filter" and c.kind == "audience":
                if filters.max_maturity is None:
                    filters = replace(filters, max_maturity=c.value)
                else:
                    effect = "boost"
            elif effect == "filter" and c.kind == "years":
                low, _, high = c.value.partition("-")
                if filters.year_min is None and filters.year_max is None:
                    filters = replace(filters, year_min=int(low) if low else None, year_max=int(high) if high else None)
                else:
                    effect = "boost"
            elif effect == "filter" and c.kind == "runtime":
                low, _, high = c.value.partition("-")
                if filters.runtime_min is None and filters.runtime_max is None:
                    filters = replace(filters, runtime_min=int(low) if low else None,
                                      runtime_max=int(high) if high else None)  # fmt: skip
                else:
                    effect = "boost"
            out.append(Understood(c.kind, c.value, c.source, effect))
        return filters, tuple(out)

    def understand(self, text: str) -> Understanding:
        """:func:`search.understand.understand` with this catalog's cast and directors as the people gazetteer."""
        return understand_query(text, people=self._person)

    def _people(self) -> People:
        """The catalog's cast and directors as a gazetteer (:class:`search.people.People`), built on first use."""
        if self._gazetteer is None:
            names = (name for names in (*self.catalog.cast, *self.catalog.directors) for name in names)
            self._gazetteer = People(names, {name: p.size for name, p in self._credits().items()})
        return self._gazetteer

    def _person(self, words: str) -> str | None:
        """The cast/director name ``words`` (folded) are read as: ``송중기`` -> Song Joong-ki, ``Киану Ривзом``
        -> Keanu Reeves (:meth:`search.people.People.find`)."""
        return self._people().find(words)

    def _intent_mask(self, constraint: Constraint, loose: bool = True) -> np.ndarray | None:
        """``(n,)`` titles a soft constraint favours (read-only); ``None`` when the catalog cannot tell.
        ``loose``: a country also takes titles of unknown country in its language (:data:`NATIONAL_LANGUAGES`).

        Each mask is computed once per (kind, value, loose) and kept (at most :data:`INTENT_MASK_CACHE`
        of them): a query reads its constraints' masks several times (channels, boost, set tiers)."""
        cat = self.catalog
        if constraint.kind == "genre":
            mask = cat.genre_masks.get(constraint.value)
            return mask if mask is not None else self._cached_mask(("genre", "", False), lambda: np.zeros(cat.n, dtype=bool))
        if constraint.kind not in ("country", "type", "audience", "person", "years", "runtime"):
            return None
        key = (constraint.kind, constraint.value, loose and constraint.kind == "country")
        return self._cached_mask(key, lambda: self._compute_mask(constraint, loose))

    def _cached_mask(self, key: tuple[str, str, bool], compute: Callable[[], np.ndarray]) -> np.ndarray:
        mask = self._intent_masks.get(key)
        if mask is None:
            mask = compute()
            mask.flags.writeable = False
            if len(self._intent_masks) < INTENT_MASK_CACHE:
                self._intent_masks[key] = mask
        return mask

    def _compute_mask(self, constraint: Constraint, loose: bool) -> np.ndarray:
        cat = self.catalog
        if constraint.kind == "country":
            mask = cat.country_masks.get(constraint.value, np.zeros(cat.n, dtype=bool))
            languages = NATIONAL_LANGUAGES.get(constraint.value, ()) if loose else ()
            if languages:
                no_country = np.asarray([not c for c in cat.countries], dtype=bool)
                mask = mask | (no_country & np.isin(cat.original_language, languages))
            return mask.copy()
        if constraint.kind == "type":
            return np.asarray(cat.types == constraint.value, dtype=bool)
        if constraint.kind == "audience":
            return np.asarray(cat.maturity_level <= MATURITY_LEVELS.get(constraint.value, 0), dtype=bool)
        if constraint.kind == "person":
            mask = np.zeros(cat.n, dtype=bool)
            mask[self._credits().get(constraint.value, np.empty(0, dtype=np.int64))] = True
            return mask
        low, _, high = constraint.value.partition("-")  # years, runtime: a range, either end open
        values = cat.runtimes if constraint.kind == "runtime" else cat.years
        mask = ~np.isnan(values)
        if low:
            mask &= values >= int(low)
        if high:
            mask &= values <= int(high)
        return mask

    def _primary(self, parsed: Understanding) -> np.ndarray | None:
        """``(n,)`` titles mainly of every parsed country (``None``: no country parsed): the country is their
        only one, or their original language is its own (:data:`NATIONAL_LANGUAGES`), the countries being
        listed or not. A co-production merely listing the country is not: "90s french comedy" ranked Waking
        Ned Devine and Primary Colors (France, United Kingdom, United States; English) above Le Dîner de cons
        (French, no country in the data)."""
        countries = [c.value for c in parsed.of("country") if c.effect == "boost"]
        if not countries:
            return None
        cat = self.catalog

        def compute(country: str) -> np.ndarray:
            own = NATIONAL_LANGUAGES.get(country, ())
            mainly = np.asarray([list(c) == [country] for c in cat.countries], dtype=bool)
            if own:
                listed = cat.country_masks.get(country, np.zeros(cat.n, dtype=bool))
                unknown = np.asarray([not c for c in cat.countries], dtype=bool)
                mainly |= np.isin(cat.original_language, own) & (listed | unknown)
            return mainly

        mask = np.ones(cat.n, dtype=bool)
        for country in countries:
            mask = mask & self._cached_mask(("primary", country, False), lambda c=country: compute(c))  # type: ignore[misc]
        return mask

    def _credits(self) -> dict[str, np.ndarray]:
        """Cast/director name -> positions of the titles crediting it, built on first use."""
        if self._credited is None:
            credited: dict[str, list[int]] = {}
            for position, (cast, directors) in enumerate(zip(self.catalog.cast, self.catalog.directors, strict=True)):
                for name in {*cast, *directors}:
                    credited.setdefault(name, []).append(position)
            self._credited = {name: np.asarray(p, dtype=np.int64) for name, p in credited.items()}
        return self._credited

    def _prior_scores(self, config: FusionConfig) -> np.ndarray | None:
        """``(n,)`` what the popularity prior adds to each title's fused score (``None`` when it is off),
        read-only, computed once per prior weight (it was two catalog-sized products per query)."""
        if config.prior <= 0:
            return None
        added = self._prior_added
        if added is None or added[0] != config.prior:
            scores = config.prior * self._popularity_prior()
            scores.flags.writeable = False
            added = (config.prior, scores)
            self._prior_added = added
        return added[1]

    def _popularity_prior(self) -> np.ndarray:
        """Popularity over the catalog's highest, ``(n,)`` (read-only), computed once."""
        if self._prior is None:
            cat = self.catalog
            prior = cat.popularity / max(float(cat.popularity.max()), 1e-9)
            prior.flags.writeable = False
            self._prior = prior
        return self._prior

    def _soft(self, parsed: Understanding, loose: bool = True) -> list[tuple[Constraint, float, np.ndarray]]:
        """``(constraint, weight, mask)`` of each soft constraint: together the others weigh
        :data:`INTENT_BOOST`; the type weighs :data:`TYPE_BOOST` (viewers say "a movie" loosely)."""
        soft = [(c, m) for c in parsed.constraints if c.effect == "boost" and c.kind != "like"
                and (m := self._intent_mask(c, loose)) is not None]  # fmt: skip
        others = sum(1 for c, _ in soft if c.kind != "type")
        return [(c, TYPE_BOOST if c.kind == "type" else INTENT_BOOST / others, m) for c, m in soft]

    def _match(self, parsed: Understanding, loose: bool = True) -> np.ndarray | None:
        """``(n,)`` titles meeting every soft constraint, the type included (``None``: none parsed)."""
        masks = [m for _, _, m in self._soft(parsed, loose)]
        if not masks:
            return None
        match = masks[0].copy()
        for mask in masks[1:]:
            match &= mask
        return match

    def intent_channels(self, parsed: Understanding, retrieved: Retrieved, allowed: np.ndarray, top: int) -> None:
        """Two more channels from what the query means: ``intent`` (allowed titles meeting every soft
        constraint, by dense similarity among them plus a popularity prior, :data:`INTENT_PRIOR`; only
        with a country, years, audience or person constraint, or for a set query with a genre: a genre word
        inside a plot ("durante la guerra") is no request for war films; weighed in full whatever the
        constraints' share of the query:
        marquee-ml:dev known-item Recall@10 0.600 vs 0.588 scaled by the share) and
        ``like`` (the titles closest in meaning to the title named in "like <title>", sharing its genres).

        A query of constraints only whose non-type constraints all filter ("kids movies", "movies over 3 hours")
        gets the ``intent`` channel too, over what the filters allow. When such a query has no words to read
        (no topic, mood, person or English reading: "90s movies", "películas de los 80"), the set is ordered by
        the popularity prior alone and the plot channel, which read the same constraint words, is dropped:
        "movies over 3 hours" led with Elephants Dream 4 Hour, "90s movies" with Hot Shots!. marquee-ml:dev
        hybrid unchanged but for one Thai title read as constraints (เด็กใหม่: rank 76 -> beyond 100);
        reddit-tomt:validation unchanged on both scopes.

        First the channels that read the query again (:meth:`_read_again`). A query with a topic and a type
        word ("zombie movies") has its description channel read the topic only, as :meth:`_topic_channels`
        does for the other constraints: the type is read as the type, and descriptions saying "movie" (the
        Queen's home movies for a kids profile, State and Main's film crew) stop matching it. marquee-ml:dev
        unchanged on both scopes; reddit-tomt:validation hybrid MRR / R@10 .1265 / .209 -> .1273 / .209
        (default scope), .0605 / .1058 -> .0607 / .1032 (full scope). Likewise a query with a topic and a type
        or genre word has its names channel read the topic only (marquee-ml:dev and reddit-tomt:validation
        unchanged on both scopes)."""
        self._read_again(parsed, retrieved, allowed, top)
        if (parsed.share >= INTENT_SET_SHARE and retrieved.sounded.size
                and (parsed.of("person") or not parsed.topic)):  # fmt: skip
            # the query was read as a name (سلمان خان: Salman Khan) or as constraints only (ταινίες τρόμου:
            # horror films), not as a title that sounds like it (Solomon Kane, Tremors)
            exact = retrieved.lexical.exact.copy()
            exact[retrieved.sounded] = 0
            retrieved.lexical = replace(retrieved.lexical, exact=exact)
            retrieved.sounded = np.empty(0, dtype=np.int64)
        match = self._match(parsed)
        topic_read = False
        specific = any(c.kind not in ("type", "genre") for c, _, _ in self._soft(parsed))
        # constraints only, the non-type ones all filters ("kids movies", "movies over 3 hours"): the set is what
        # the filters allow (of the type asked for), not the titles whose words say "kids" or "hours"
        filtered_set = (parsed.share >= INTENT_SET_SHARE and not parsed.topic and not parsed.of("like")
                        and any(c.effect == "filter" for c in parsed.constraints))  # fmt: skip
        if match is None and filtered_set:
            match = np.ones(self.catalog.n, dtype=bool)
        if match is not None and (specific or filtered_set or (
                parsed.share >= INTENT_SET_SHARE and len(self._soft(parsed)) > 0
                and any(c.kind != "type" for c, _, _ in self._soft(parsed)))):  # fmt: skip
            match = match & allowed
            if not match.any():
                self._read_empty_set(parsed, retrieved, allowed, top)
            else:
                cat = self.catalog
                prior = self._popularity_prior()
                weight = INTENT_PRIOR if parsed.share >= INTENT_SET_SHARE else INTENT_PRIOR_PARTIAL
                score = weight * prior + 1e-3
                embedding = retrieved.embedding
                if parsed.share < INTENT_SET_SHARE and parsed.topic and self.encoder is not None and embedding is not None:
                    # "film français sur un chef cuisinier": among French films, the words left decide
                    embedding = self.embed([parsed.encoded_topic])[0]
                    self._topic_channels(parsed, embedding, retrieved, allowed, top)
                    topic_read = True
                elif self._reads_constraints(parsed, retrieved):
                    embedding = self._read_constraints(parsed, retrieved, allowed, top)
                elif (parsed.share >= INTENT_SET_SHARE and not parsed.topic and not parsed.moods
                      and not parsed.of("person") and not parsed.of("like")):  # fmt: skip
                    # constraints only, none with words to read ("movies over 3 hours", "películas de los 80"): the
                    # query's own words found Elephants Dream 4 Hour; popularity orders the set, and the plot
                    # channel, which read the same words, has nothing to add
                    embedding = None
                    retrieved.channels.pop("dense", None)
                    retrieved.dense_langs = {}  # no hit came from that reading: none is "described" by it
                if embedding is not None and self.dense is not None:
                    pos, cos, _ = self._dense_search(embedding, top, match, retrieved.language)
                    if pos.size:
                        hi, lo = float(cos.max()), float(cos.min())
                        text = np.zeros(cat.n)
                        text[pos] = (cos - lo) / (hi - lo) if hi > lo else 1.0
                        score = score + text
                retrieved.channels["intent"] = _top_positive(np.where(match, score, 0.0), None, top)
                if parsed.share >= INTENT_SET_SHARE:
                    if not parsed.topic:
                        self._drop_literal_channels(parsed, retrieved, allowed, top)
                    self._set_neighbours(retrieved, match, score, allowed, top)
        if (parsed.topic and parsed.of("type") and not topic_read and "content" in retrieved.channels
                and parsed.share < INTENT_SET_SHARE):  # fmt: skip
            # "zombie movies": the type word is read as the type; in the descriptions it matched "home movies".
            # A subject's English word is read too ("films de noël": Christmas; "noel" alone: Noel Gallagher)
            lex = self.lexical.score(parsed.glossed_topic, fields=("content",),
                                     language=self.detected_language(retrieved, self.fusion))  # fmt: skip
            retrieved.channels["content"] = _top_positive(lex.fields["content"], allowed, top)
        if (parsed.topic and (parsed.of("type") or parsed.of("genre")) and parsed.share < INTENT_SET_SHARE
                and "names" in retrieved.channels and not retrieved.lexical.exact.any()):  # fmt: skip
            # "stephen king horror": the genre word is read as the genre; as a title word it put The Amityville
            # Horror and Little Shop of Horrors above the Stephen King adaptations the descriptions name (a title
            # the query spells exactly keeps the whole query: "horror story" is Horror Story)
            names = self._lexical(parsed.topic, retrieved.language).fields["names"]
            retrieved.channels["names"] = _top_positive(names, allowed, top)
        like = parsed.of("like")
        if like and self.dense is not None:
            best = self._like_title(like[0].value, retrieved.language)
            vector = None if best is None else self.dense.title_vector(best)
            if vector is not None and best is not None:
                retrieved.channels["like"] = self._like_neighbours(best, vector, allowed, top)
                retrieved.like_source = best
                # "movies like X": the words themselves ("movies", "like", X spelled out) are no evidence
                for literal in ("names", "content", "titles", "dense"):
                    retrieved.channels.pop(literal, None)
                retrieved.title_strings = {}
                retrieved.dense_langs = {}

    def _read_empty_set(self, parsed: Understanding, retrieved: Retrieved, allowed: np.ndarray, top: int) -> None:
        """A query made only of constraints that no allowed title meets (a kids profile asking for "horror
        movies" or "ταινίες τρόμου") is answered as a set query would read it, among the titles it may see: the
        plot channel reads the constraints' English words (:meth:`_read_constraints`) and the title, word and
        description channels go, which read the words literally (the Queen's "home movies" documentary,
        titles that sound like the query). A person's name is still looked up in the credits.

        A query made only of constraints naming people none of whose titles are allowed (a kids profile asking
        for "brad pitt" or "tom cruise movies") is answered with nothing: read as a set, it listed Brad
        Hyland's and Brad Garrett's kids titles as Brad Pitt's; the page is empty and ``understood`` still
        names the person, so an app can say none of their titles is available here."""
        if self._names_no_allowed_title(parsed, allowed):
            retrieved.channels.clear()
            retrieved.title_strings, retrieved.dense_langs = {}, {}
            retrieved.lexical = replace(retrieved.lexical, exact=np.zeros_like(retrieved.lexical.exact))
            retrieved.sounded = np.empty(0, dtype=np.int64)
            return
        if self._reads_constraints(parsed, retrieved):
            self._read_constraints(parsed, retrieved, allowed, top)
            self._drop_literal_channels(parsed, retrieved, allowed, top)

    def _names_no_allowed_title(self, parsed: Understanding, allowed: np.ndarray) -> bool:
        """The query is only constraints, some of them people, and no allowed title credits any of them."""
        people = parsed.of("person")
        if not people or parsed.topic or parsed.moods or parsed.share < INTENT_SET_SHARE:
            return False
        return not bool((self._people_mask(people) & allowed).any())

    def _people_mask(self, people: Sequence[Constraint]) -> np.ndarray:
        """``(n,)`` the titles crediting any of ``people`` (their :meth:`_intent_mask` together)."""
        credited = np.zeros(self.catalog.n, dtype=bool)
        for mask in (self._intent_mask(person) for person in people):
            if mask is not None:
                credited |= mask
        return credited

    def _reads_constraints(self, parsed: Understanding, retrieved: Retrieved) -> bool:
        """A query made only of constraints (no topic, no mood) with an English reading and a plot channel to
        read it with (:meth:`_read_constraints`)."""
        return (parsed.share >= INTENT_SET_SHARE and not parsed.topic and not parsed.moods and bool(parsed.reading)
                and self.encoder is not None and "dense" in retrieved.channels)  # fmt: skip

    def _drop_literal_channels(self, parsed: Understanding, retrieved: Retrieved, allowed: np.ndarray, top: int) -> None:
        """Every word is a constraint: the title and word channels would read "horror movies" as The Amityville
        Horror and Scary Movie 5, "ταινίες τρόμου" as Tremors; a name is still looked up in the credits ("films
        avec omar sy" keeps Lupin, a show), as the name the query was read as, on the titles crediting it: "톰
        크루즈", transliterated "tom keuruju", matched every Tom (three Tom Segura specials after Tom Cruise's
        films), and "Tom Cruise" read as words The Cruise."""
        people = parsed.of("person")
        for literal in ("titles",) if people else ("titles", "names", "content"):
            retrieved.channels.pop(literal, None)
        retrieved.title_strings = {}
        if people and "names" in retrieved.channels:
            credited = self._people_mask(people)
            names = self.lexical.score(" ".join(c.value for c in people), fields=("title", "people")).fields["names"]
            retrieved.channels["names"] = _top_positive(np.where(credited, names, 0.0), allowed, top)

    def _read_constraints(self, parsed: Understanding, retrieved: Retrieved, allowed: np.ndarray, top: int) -> np.ndarray:
        """For a query made only of constraints, the plot channel (and the order within the set) reads their
        English words (:attr:`Understanding.reading`, one more encoding) instead of the query's: e5-small
        put "ταινίες τρόμου" ("horror films") nearest Tremors and "Teefa in Trouble", so a Greek, Hebrew or
        Korean viewer got another horror set than an English one. Returns the reading's embedding."""
        return self._read_plot_as(parsed.reading, retrieved, allowed, top, None)

    def _read_plot_as(self, text: str, retrieved: Retrieved, allowed: np.ndarray, top: int,
                      language: QueryLanguage | None) -> np.ndarray:  # fmt: skip
        """The plot channel and the query embedding replaced by ``text``'s (a mood's or the constraints'
        reading, one more encoding) searched as a query in ``language``; returns its embedding."""
        embedding = self.embed([text])[0]
        positions, scores, langs = self._dense_search(embedding, top, allowed, language)
        retrieved.channels["dense"] = (positions, scores)
        retrieved.dense_langs = dict(zip(positions.tolist(), langs, strict=True))
        retrieved.embedding = embedding
        return embedding

    def _set_neighbours(self, retrieved: Retrieved, match: np.ndarray, score: np.ndarray, allowed: np.ndarray,
                        top: int) -> None:  # fmt: skip
        """A set query whose set is smaller than :data:`SET_NEIGHBOURS_BELOW` ("ταινίες του Γιώργου Λάνθιμου",
        "현빈 드라마") is followed by the titles most like its members, as "movies like" ranks them
        (:meth:`_like_scores`, without the popularity prior): the plot channel searches the mean of its best
        :data:`SET_NEIGHBOURS_FROM` members' vectors instead of the query's words, which are constraints only
        (read as a plot, a Greek or Korean name sat nearest Danish and Italian stubs), and the title channel,
        which heard the name as titles (Lantana), is dropped. The members themselves still rank first
        (:meth:`_intent_boost`)."""
        members = np.flatnonzero(match)
        if self.dense is None or members.size == 0 or members.size >= SET_NEIGHBOURS_BELOW:
            return
        best = members[np.lexsort((members, -score[members]))][:SET_NEIGHBOURS_FROM]
        vectors = [v for v in (self.dense.title_vector(int(p)) for p in best) if v is not None]
        if not vectors:
            return
        mean = np.mean(vectors, axis=0)
        centroid = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        positions, cos, langs = self.dense.search(centroid, 2 * top, allowed)
        scores = self._like_scores(positions, cos, best.tolist(), prior=False)
        order = np.lexsort((positions, -scores))[:top]
        retrieved.channels["dense"] = (positions[order], scores[order].astype(np.float32))
        retrieved.dense_langs = {int(positions[i]): langs[i] for i in order}
        retrieved.channels.pop("titles", None)
        retrieved.title_strings = {}

    def _read_again(self, parsed: Understanding, retrieved: Retrieved, allowed: np.ndarray, top: int) -> None:
        """The channels that read the query again after understanding it.

        A query naming a subject in another language (:attr:`Understanding.gloss`: 좀비 -> "zombie") is read
        again by the plot and title channels with the subject's English word after it (one more encoding):
        e5-small puts 좀비 no nearer a zombie film than any other Korean word. A query naming a mood ("something
        to cry at") is read by the plot channel as the mood's reading (:attr:`Understanding.mood_text`) when no
        title matches it exactly. Each reading is computed only where it is kept: the mood's replaces the
        plot channel and the embedding, so the gloss's then serves the title channel alone (nothing when the
        mood also drops the title channel), and the mood's reading never searches the title channel."""
        read_mood = bool(parsed.moods) and not retrieved.lexical.exact.any()
        dense_reads = "dense" in retrieved.channels and self.encoder is not None
        # the mood's reading below replaces the plot channel and the embedding, and drops the title channel
        # when no topic is left: the gloss's reading is then not needed, or only for the title channel
        gloss_titles = "titles" in retrieved.channels and self.titles is not None and not (read_mood and not parsed.topic)
        if parsed.gloss and retrieved.text and dense_reads and (gloss_titles or not read_mood):
            glossed = self.embed([f"{retrieved.text} {parsed.gloss}"])[0]
            if retrieved.embedding is not None:
                glossed = glossed + retrieved.embedding
                glossed = (glossed / max(float(np.linalg.norm(glossed)), 1e-12)).astype(np.float32)
            if not read_mood:
                positions, scores, langs = self._dense_search(glossed, top, allowed, retrieved.language)
                retrieved.channels["dense"] = (positions, scores)
                retrieved.dense_langs = dict(zip(positions.tolist(), langs, strict=True))
            if gloss_titles:
                t_pos, t_scores, t_strings = self._title_search(glossed, top, allowed, retrieved.language)
                retrieved.channels["titles"] = (t_pos, t_scores)
                retrieved.title_strings = dict(zip(t_pos.tolist(), t_strings.tolist(), strict=True))
            retrieved.embedding = glossed
        if read_mood:
            # "something to cry at" read as drama: "cry" and "something" are no title words (Boys Don't Cry,
            # Something to Talk About); the names channel reads the words left, the title channel nothing,
            # and the plot and intent channels the mood's reading instead of its words
            if dense_reads:
                self._read_plot_as(parsed.mood_text, retrieved, allowed, top, retrieved.language)
            topic = parsed.topic
            if topic and "names" in retrieved.channels:
                names = self._lexical(topic, retrieved.language).fields["names"]
                retrieved.channels["names"] = _top_positive(names, allowed, top)
            elif not topic:
                retrieved.channels.pop("names", None)
                retrieved.channels.pop("titles", None)
                retrieved.title_strings = {}

    def _topic_channels(self, parsed: Understanding, topic_embedding: np.ndarray, retrieved: Retrieved,
                        allowed: np.ndarray, top: int) -> None:  # fmt: skip
        """The description words and the title channel read the topic only, for a query that says more than
        its constraints: its constraint words are already read as constraints ("film français" in "film
        français sur un chef cuisinier" made BM25 and the title channel favour Amélie and Suite Française
        over the French films about a chef). The plot channel keeps the whole query: read on the topic
        alone, marquee-ml:dev known-item hits@10 fell 0.689 -> 0.683; content and titles on the topic: 0.689,
        with "film français sur un chef cuisinier" finding Maacher Jhol 2nd instead of 3rd."""
        lex = self.lexical.score(parsed.topic, fields=("content",), language=self.detected_language(retrieved, self.fusion))
        retrieved.channels["content"] = _top_positive(lex.fields["content"], allowed, top)
        if self.titles is not None and "titles" in retrieved.channels:
            t_pos, t_scores, t_strings = self.titles.search(topic_embedding, top, allowed)
            retrieved.channels["titles"] = (t_pos, t_scores)
            retrieved.title_strings = dict(zip(t_pos.tolist(), t_strings.tolist(), strict=True))

    def _like_neighbours(self, best: int, vector: np.ndarray, allowed: np.ndarray,
                         top: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The ``top`` allowed titles most like title ``best``, ``best`` itself first: those the ``similar``
        endpoint serves (:attr:`similar`, in its order: co-watch R@10 .40 vs .056 for content alone in
        ``marquee eval ranking``), then by content: cosine to ``vector`` (its text vectors' mean) plus
        shared genres, popularity and country/type (:data:`LIKE_GENRE_WEIGHT`)."""
        pos, cos, _ = self.dense.search(vector, 2 * top, allowed)  # type: ignore[union-attr]
        if pos.size == 0:
            return pos, cos
        served = self._served_like(best, allowed, top)
        scores = self._like_scores(pos, cos, [best])
        if served.size:
            # the served neighbours above every content-only one, in their order
            rest = ~np.isin(pos, served)
            pos = np.concatenate([served, pos[rest]])
            lift = float(scores.max()) + 1.0 + (served.size - np.arange(served.size)) / served.size
            scores = np.concatenate([lift, scores[rest]])
        scores = np.where(pos == best, scores.max() + 1.0, scores)
        order = np.lexsort((pos, -scores))[:top]
        return pos[order], scores[order].astype(np.float32)

    def _like_scores(self, pos: np.ndarray, cos: np.ndarray, sources: Sequence[int], prior: bool = True) -> np.ndarray:
        """How like the ``sources`` titles each of ``pos`` is: its cosine ``cos`` to them plus the share of
        their genres it has, its popularity prior (when ``prior``), and sharing a country and their type (the
        weights of :data:`LIKE_GENRE_WEIGHT`)."""
        cat = self.catalog
        genres = {g for p in sources for g in cat.genres[p]} - {"international"}
        countries = {c for p in sources for c in cat.countries[p]}
        types = {cat.types[p] for p in sources}
        popularity = self._popularity_prior()[pos] if prior else np.zeros(pos.size)
        shared = np.asarray([len(genres.intersection(cat.genres[int(p)])) / len(genres) if genres else 0.0
                             for p in pos])  # fmt: skip
        same = np.asarray([0.5 * bool(countries.intersection(cat.countries[int(p)])) + 0.5 * (cat.types[int(p)] in types)
                           for p in pos], dtype=np.float64)  # fmt: skip
        return cos + LIKE_GENRE_WEIGHT * shared + LIKE_PRIOR_WEIGHT * popularity + LIKE_SAME_WEIGHT * same

    def _served_like(self, best: int, allowed: np.ndarray, top: int) -> np.ndarray:
        """Positions of the allowed titles :attr:`similar` serves for title ``best`` (best first)."""
        if self.similar is None:
            return np.zeros(0, dtype=np.int64)
        ids = self.similar.similar_ids(self.catalog.title_ids[best], top)
        found = (self.catalog.position.get(str(t), -1) for t in ids)
        return np.asarray([p for p in found if p >= 0 and allowed[p] and p != best], dtype=np.int64)

    def _like_title(self, text: str, language: QueryLanguage | None) -> int | None:
        """Position of the title named in "like <title>" (see :data:`LIKE_TITLE_COSINE`), or ``None``."""
        lex = self._lexical(text, self.identify(text) or language)
        if lex.exact.max() > 0:
            return int(np.argmax(lex.exact * 1e6 + lex.fields["names"]))
        if self.titles is not None and self.encoder is not None:
            t_pos, t_scores, _ = self.titles.search(self.embed([text])[0], 2, None)
            if (t_pos.size and float(t_scores[0]) >= LIKE_TITLE_COSINE
                    and (t_pos.size == 1 or float(t_scores[0]) - float(t_scores[1]) >= LIKE_TITLE_MARGIN)):  # fmt: skip
                return int(t_pos[0])
        best = int(np.argmax(lex.fields["names"]))
        return best if lex.fields["names"][best] > 0 else None

    def _intent_boost(self, parsed: Understanding, positions: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Fused scores raised by the share of soft constraints each title meets (at most ``INTENT_BOOST``
        of the best fused score, times the constraints' share of the query: a strong text match still
        beats a weak one that merely fits); for a query that asks for a set (:data:`INTENT_SET_SHARE`),
        the titles meeting every constraint then move above all others, in their fused order; with a
        country, those mainly of it (:meth:`_primary`: its own production or its language) come first, then
        the co-productions listing it."""
        soft = self._soft(parsed)
        if not soft:
            return scores
        best = float(scores.max())
        share = np.sum([weight * mask[positions] for _, weight, mask in soft], axis=0)
        scores = scores + best * parsed.share * share
        if parsed.share >= INTENT_SET_SHARE:
            loose, strict = self._match(parsed), self._match(parsed, loose=False)
            if loose is not None and strict is not None:
                primary = self._primary(parsed)
                second = strict if primary is None else primary
                tier = loose[positions].astype(np.float64) + (loose & second)[positions]
                scores = scores + tier * (float(scores.max()) - float(scores.min()) + 1.0)
        return scores

    def _hit(self, position: int, score: float, retrieved: Retrieved, title_languages: Sequence[str],
             described: Sequence[str], people: Sequence[tuple[str, np.ndarray]] = (),
             met: Sequence[tuple[Constraint, np.ndarray]] = ()) -> SearchHit:  # fmt: skip
        """One result and why it came up. ``people``: the names the query was read as (understanding) with
        the titles crediting them (:meth:`_intent_mask`), named on every title they are credited on ("том хэнкс": Cloud Atlas says Tom Hanks; the query's own words
        match no credit in another script). ``met``: the understood constraints of
        :data:`UNDERSTOOD_REASONS` with their masks, named on every title meeting them ("old movies":
        Grease said nothing)."""
        cat = self.catalog
        lex = retrieved.lexical
        reasons: list[MatchReason] = []
        languages: set[str] = set()
        tier = int(lex.exact[position])
        matched = self.lexical.matched_title_string(position, lex.query)
        # the title field also scores a completion of the last word ("aft": Aftershock) and the words of a
        # transliteration ("kuch kuch hota hay"), which name no title string of the query's own words
        if tier or lex.fields["title"][position] > 0:
            how = {2: "exact", 1: "near-exact"}.get(tier, "words")
            title_text = matched[1] if matched else cat.titles[position]
            reasons.append(MatchReason("title", f"{how}: {title_text}"))
            if matched and matched[0] not in ("", "original", "en", "und"):
                languages.add(matched[0])
        # the title channel's titles explain nothing for a plot: it does not weigh in (TITLE_CHANNEL_MAX_WORDS)
        string = retrieved.title_strings.get(position) if retrieved.words <= TITLE_CHANNEL_MAX_WORDS else None
        if string is not None and self.titles is not None and not reasons:
            t_pos, t_scores = retrieved.channels["titles"]
            # the title channel's near-best titles only: below that, every title is somewhat "similar"
            if t_scores.size and float(t_scores[np.flatnonzero(t_pos == position)[0]]) >= float(t_scores[0]) - TITLE_REASON_MARGIN:
                reasons.append(MatchReason("title", f"similar: {self.titles.texts[string]}"))
                if self.titles.langs[string] not in ("", "original", "en", "und"):
                    languages.add(self.titles.langs[string])
        credited = [name for name, mask in people if mask[position]]
        for name in dict.fromkeys([*credited, *self.lexical.matched_people(position, lex.query)]):
            reasons.append(MatchReason("person", name))
        dense_lang = retrieved.dense_langs.get(position)
        if dense_lang:
            reasons.append(MatchReason("description", dense_lang))
            if dense_lang != "en":
                languages.add(dense_lang)
        elif lex.fields["content"][position] > 0:
            reasons.append(MatchReason("description", "words"))
        source = retrieved.like_source
        if source is not None and position != source and np.any(retrieved.channels["like"][0] == position):
            reasons.append(MatchReason("like", cat.titles[source] or cat.display_title(source, title_languages)))
        if not reasons and string is not None and self.titles is not None:
            # nothing else explains it: the title channel brought it, below its near-best titles
            reasons.append(MatchReason("title", f"similar: {self.titles.texts[string]}"))
        elif not reasons and (dense_lang == "" or lex.title_similarity.get(position, 0.0) > 0):
            # the plot channel matched its title-only text (no description: language ""), or the names
            # channel its title spelt nearly like the query ("der untergang": The Deer Hunter)
            how = "similar" if dense_lang == "" else "spelt like"
            reasons.append(MatchReason("title", f"{how}: {cat.titles[position]}"))
        if not reasons and lex.fields.get("people") is not None and lex.fields["people"][position] > 0:
            # nothing stronger explains it: the people field matched a word of a name (Lego Lee for "lego movie")
            reasons.extend(MatchReason("person", name)
                           for name in self.lexical.matched_people(position, lex.query, any_word=True))  # fmt: skip
        reasons.extend(MatchReason("understood", f"{c.kind}: {c.value}") for c, mask in met if mask[position])
        reasons.extend(MatchReason("language", lang) for lang in sorted(languages))
        description, desc_lang = cat.description(position, described)
        year, runtime = cat.years[position], cat.runtimes[position]
        return SearchHit(
            title_id=cat.title_ids[position],
            display_title=cat.display_title(position, title_languages),
            year=None if np.isnan(year) else int(year),
            type=str(cat.types[position]),
            maturity=cat.maturity[position],
            runtime_minutes=None if np.isnan(runtime) else int(runtime),
            description=description,
            description_language=desc_lang,
            score=round(score, 6),
            reasons=tuple(reasons),
        )
