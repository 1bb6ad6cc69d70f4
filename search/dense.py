"""Dense retrieval: FAISS search over catalog texts (plot passages), and the dense title channel over
every title string (embedded by the index build, :func:`embeddings.job.title_strings`); a title scores
the maximum over its texts (or strings)."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.hubness import HUB_NEIGHBOURS, MAX_HUB_REFERENCES, HubnessConfig, HubnessSource, text_hubness
from embeddings.index import (
    HalfShortlist,
    LazyHalfShortlist,
    faiss_single_thread,
    inner_products,
    mask_selector,
)
from embeddings.job import title_strings

if TYPE_CHECKING:
    from embeddings.job import TitleStringVectors

__all__ = ["DEFAULT_HUB_PENALTY", "DEFAULT_LANGUAGE_CENTERING", "DEFAULT_TITLE_ONLY_PENALTY", "HUB_NEIGHBOURS",
           "MAX_HUB_REFERENCES", "MIN_LANGUAGE_TEXTS", "MIN_HEARD_KEY", "MIN_LOANWORD_KEY", "MIN_SOUND_KEY",
           "SOUND_CONFIRM_DEPTH", "DenseRetriever", "DenseTitles", "script_margin", "script_shifts", "title_strings"]

DEFAULT_TITLE_ONLY_PENALTY = 0.02
"""Chosen on reddit-tomt train+validation (1,350 resolved queries, watched scope): dense Recall@10
0.073 -> 0.094 and MRR 0.038 -> 0.050 against no penalty; 0.01-0.08 all help, 0.02 is best."""
DEFAULT_HUB_PENALTY = 0.5
"""How much of a text's hubness (:meth:`DenseRetriever.fit_hubness`) comes off its cosine. Chosen on
marquee-ml:dev, full scope (53,095 titles), hybrid, from 0.5 / 0.75 / 1.0 / 1.5: Recall@10 0.601 -> 0.616,
MRR 0.489 -> 0.524 at 0.5 (0.75: 0.610 / 0.527; 1.5 falls below none); default scope MRR 0.610 -> 0.624."""
DEFAULT_LANGUAGE_CENTERING = 0.5
"""See :meth:`DenseRetriever.centered` for how it was chosen (0.25-1.0 tried; 0.5 and 0.75 tie on
cross-lingual recall, 0.5 costs same-language-only titles less)."""
MIN_LANGUAGE_TEXTS = 20
"""A description language needs this many texts in the index to get a centroid (for centring)."""
MIN_SOUND_KEY = 3
"""Consonant classes a query's sound key needs before it may confirm a title (``tnk``: Titanic)."""
MIN_LOANWORD_KEY = 4
"""Consonant classes a title's loanword key (:func:`search.langid.sound_key`, ``loanword=True``) needs to
confirm it: Terminator's ``tmnt`` may; Dunkirk's ``tnk`` would claim every タイタニック."""
SOUND_CONFIRM_DEPTH = 10
"""A title sounding like the query is a near-exact match when the title, plot or names channel ranks
it at most this deep (the encoder or the transliteration proposes, the sound confirms)."""
MIN_HEARD_KEY = 6
"""Consonant classes a query's sound key needs to match a title no channel proposed (any title string of
the scope): لا كاسا دي بابيل (``rkstpr``) is La casa de papel, which neither the encoder nor the
transliteration's BM25 ranked in its top 200. Over the full scope's title strings a key of six classes
is shared by 1.23 strings on average (three classes: 11.3); on marquee-ml:dev all 7 of the 98 queries in
other scripts with such a key matched their own title (Itaewon Class, Tonari no Totoro, Kabhi Khushi
Kabhie Gham...). Not for a query with Han ideographs: pinyin skeletons collide (三城记, a Chinese title of
A Tale of Three Cities, keys as Once a Thief; 2 of the catalog's 22 such Han titles met another title)."""


def script_shifts(vectors: np.ndarray, scripts: np.ndarray) -> dict[str, np.ndarray]:
    """Script other than Latin -> ``(d,)`` mean of the ``vectors`` whose text is in that script minus the
    others' mean (``scripts``: ``(r,)`` one script per row); a script held by none or all rows has none."""
    out: dict[str, np.ndarray] = {}
    for script in sorted({str(x) for x in scripts.tolist()} - {"latin", "unknown"}):
        same = scripts == script
        if same.any() and not same.all():
            out[script] = (vectors[same].mean(axis=0) - vectors[~same].mean(axis=0)).astype(np.float32)
    return out


def script_margin(query_embedding: np.ndarray, shift: np.ndarray | None) -> float:
    """How much nearer, on average, a query sits to the texts in a script than to the others: its product
    with that script's :func:`script_shifts` vector (the mean score difference in one dot product); 0 when
    there is no shift or the query is not nearer."""
    if shift is None:
        return 0.0
    q = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
    return max(0.0, float(q @ shift))


class DenseRetriever:
    """FAISS search over catalog texts; a title scores the maximum over its texts.

    Args:
        index: a vector index over text embeddings (``embeddings.index.VectorIndex``), ids = text ids.
        text_ids: ``(t,)`` int64 text ids.
        text_positions: ``(t,)`` int64 title position of each text (``-1`` for titles not in scope).
        text_langs: ``(t,)`` language of each text ("" for title-only texts).
        n_titles: number of title positions ``n``.
        title_only_penalty: subtracted from the cosine of title-only texts (titles without any
            description): short generic texts sit close to everything (DATA-NOTES, stub overviews).
        language_centering: how far a query in another language is moved from its language's
            centroid towards the catalog's main language's centroid before searching (see
            :meth:`centered`); 0 disables.
        single_thread: run faiss single-threaded in each thread that searches (see
            :func:`embeddings.index.faiss_single_thread`).
        text_scripts: ``(t,)`` the script (:func:`data.queries.script_of`) of the title each text begins
            with (``None``: all Latin); see :meth:`script_margin`.
        hub_penalty: times a text's hubness (learnt by :meth:`fit_hubness`), subtracted from its cosine.
    """

    def __init__(self, index: Any, text_ids: np.ndarray, text_positions: np.ndarray,
                 text_langs: Sequence[str], n_titles: int, *, title_only_penalty: float = 0.0,
                 language_centering: float = 0.0, single_thread: bool = True,
                 text_scripts: Sequence[str] | None = None, hub_penalty: float = 0.0) -> None:  # fmt: skip
        text_ids = np.asarray(text_ids, dtype=np.int64)
        text_positions = np.asarray(text_positions, dtype=np.int64)
        if text_ids.shape != text_positions.shape or len(text_langs) != text_ids.size:
            raise ValueError("text_ids, text_positions and text_langs must have the same length")
        if text_scripts is not None and len(text_scripts) != text_ids.size:
            raise ValueError(f"expected one script per text ({text_ids.size}); got {len(text_scripts)}")
        order = np.argsort(text_ids)
        self.index = index
        self._ids = text_ids[order]
        self._positions = text_positions[order]
        self._langs = np.asarray(list(text_langs), dtype=object)[order]
        self._title_only = np.asarray([lang == "" for lang in self._langs.tolist()], dtype=bool)
        scripts = ["latin"] * text_ids.size if text_scripts is None else [str(x) for x in text_scripts]
        self._scripts = np.asarray(scripts, dtype=object)[order]
        self._script_shift: dict[str, np.ndarray] = {}
        """Script other than Latin -> ``(d,)`` mean vector of the texts headed by a title in it minus the
        others' mean (:meth:`script_margin`), learnt by :meth:`fit_languages`."""
        self.title_only_penalty = float(title_only_penalty)
        self.hub_penalty = float(hub_penalty)
        self._hubness: np.ndarray | None = None
        """``(t,)`` each text's hubness over the median text's (:meth:`fit_hubness`), in sorted-id order."""
        self.language_centering = float(language_centering)
        self.single_thread = single_thread
        self.n_titles = n_titles
        self.texts_per_title = max(1.0, float((self._positions >= 0).sum()) / max(n_titles, 1))
        self._language_names: list[str] = []
        self._language_centroids: np.ndarray | None = None
        self.main_language: str | None = None
        self._level_shifts: np.ndarray | None = None
        """``(L, d)`` each text language's mean vector minus the main language's (title-only texts are a
        language ``""`` here), learnt by :meth:`fit_languages`; see :meth:`levels`."""
        self._level_rows: np.ndarray | None = None
        """``(r,)`` each index row's row in :attr:`_level_shifts` (0: no shift)."""
        self._levelled: np.ndarray | None = None
        self._levelled_lock = threading.Lock()
        self._levelled_half = LazyHalfShortlist(self._levelled_rows)
        """A float16 shortlist over the levelled vectors (:class:`embeddings.index.HalfShortlist`: the same
        top texts and scores as the float32 scan, or ``None`` and the scan runs)."""
        self._stored: tuple[np.ndarray, np.ndarray] | None = None
        self._rows = self._row_masks()
        """With an index that filters by row (``search_rows``): each index row's title position (``-1``:
        no text or out of scope) and, per language, which rows hold it; ``None`` otherwise."""
        self._lang_list: list[str] = [str(x) for x in self._langs.tolist()]
        self._scoped = self._scoped_table()
        """Text id -> index into the sorted arrays of a text in scope, ``-1`` otherwise; its last entry
        answers every id outside ``0..max id`` (``None`` for sparse or repeated ids: :meth:`_lookup`)."""
        self._script_masks: dict[str, np.ndarray] = {}
        self._costs: tuple[tuple[float, float, int], np.ndarray | None, np.ndarray | None] | None = None

    def fit_languages(self, min_texts: int = MIN_LANGUAGE_TEXTS) -> dict[str, int]:
        """Learn one centroid per description language from the index's own vectors.

        The multilingual encoder keeps a strong language signature (DATA-NOTES: same-language bias):
        :meth:`centered` moves a query in a language with a centroid towards the main language's
        (the query's language comes from :mod:`search.langid`, never from these centroids). Needs an index that can give its vectors back (faiss
        ``reconstruct_n``); returns the number of texts per learnt language (empty when it cannot).
        """
        faiss_index = getattr(self.index, "faiss_index", None)
        if faiss_index is None or not hasattr(faiss_index, "reconstruct_n"):
            return {}
        try:
            vectors = np.asarray(faiss_index.reconstruct_n(0, int(faiss_index.ntotal)), dtype=np.float32)
        except RuntimeError:  # e.g. an IVF index without a direct map
            return {}
        idx = self._lookup(np.asarray(self.index.ids, dtype=np.int64))
        self._stored = (vectors, np.where(idx >= 0, self._positions[np.maximum(idx, 0)], -1))
        langs = np.where(idx >= 0, self._langs[np.maximum(idx, 0)], "")
        scripts = np.where(idx >= 0, self._scripts[np.maximum(idx, 0)], "latin")
        self._script_shift = script_shifts(vectors, scripts)
        names, counts, centroids = [], {}, []
        for lang in sorted({str(x) for x in langs.tolist()} - {""}):
            rows = vectors[langs == lang]
            if rows.shape[0] < min_texts:
                continue
            centroid = rows.mean(axis=0)
            centroids.append(centroid / max(float(np.linalg.norm(centroid)), 1e-12))
            names.append(lang)
            counts[lang] = int(rows.shape[0])
        if len(names) >= 2:
            self._language_names = names
            self._language_centroids = np.stack(centroids).astype(np.float32)
            self.main_language = max(counts, key=lambda lang: counts[lang])
            self._fit_levels(vectors, langs, min_texts)
        return counts

    def _fit_levels(self, vectors: np.ndarray, langs: np.ndarray, min_texts: int) -> None:
        """Learn :attr:`_level_shifts`: every text language with ``min_texts`` texts (title-only texts
        included, as ``""``) gets its mean vector minus the main language's; the others none."""
        main = vectors[langs == self.main_language].mean(axis=0)
        known = sorted(lang for lang in {str(x) for x in langs.tolist()} if int((langs == lang).sum()) >= min_texts)
        shifts = [np.zeros_like(main)] + [vectors[langs == lang].mean(axis=0) - main for lang in known]
        self._level_shifts = np.stack(shifts).astype(np.float32)
        row_of = {lang: i + 1 for i, lang in enumerate(known)}
        self._level_rows = np.asarray([row_of.get(str(lang), 0) for lang in langs.tolist()], dtype=np.int64)
        self._levelled = None

    def _levelled_vectors(self) -> np.ndarray | None:
        """``(r, d)`` the index's rows each moved by its language's level shift, in the index's row
        order, computed on the first levelled query: ``q . (v - s)`` is the levelled score, so one
        exact scan ranks every text as :meth:`levels` says, whatever the shifts' sizes."""
        with self._levelled_lock:
            if self._levelled is None and self._stored is not None and self._level_shifts is not None:
                assert self._level_rows is not None
                vectors, _ = self._stored
                self._levelled = np.ascontiguousarray(vectors - self._level_shifts[self._level_rows], dtype=np.float32)
            return self._levelled

    def _levelled_rows(self) -> np.ndarray:
        vectors = self._levelled_vectors()
        assert vectors is not None
        return vectors

    def _levelled_search(self, query: np.ndarray, k: int, allowed_rows: np.ndarray | None,
                         allowed_ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
        """``(scores, ids)`` ``(1, m)`` the top ``k`` texts by levelled score (:meth:`_levelled_vectors`),
        among ``allowed_rows`` (a mask over the index's rows) or ``allowed_ids``; ``None`` before
        :meth:`fit_languages` has learnt the levels."""
        vectors = self._levelled_vectors()
        if vectors is None:
            return None
        ids = np.asarray(self.index.ids, dtype=np.int64)
        if allowed_rows is None and allowed_ids is not None:
            allowed_rows = np.isin(ids, allowed_ids)
        half = self._levelled_half.get(vectors.shape[0])
        if half is not None:
            found = half.top(query, k, None if allowed_rows is None else mask_selector(allowed_rows))
            if found is not None:
                rows, best = found
                return best[None], ids[rows][None]
        scores = inner_products(query, vectors)
        if allowed_rows is not None:
            scores = np.where(allowed_rows, scores, -np.inf).astype(np.float32)
        k = min(k, int(np.isfinite(scores).sum()))
        top = np.argpartition(-scores, k - 1)[:k] if 0 < k < scores.size else np.flatnonzero(np.isfinite(scores))
        top = top[np.lexsort((top, -scores[top]))]
        return scores[top][None], ids[top][None]

    def fit_hubness(self, references: np.ndarray, *, neighbours: int = HUB_NEIGHBOURS,
                    max_references: int = MAX_HUB_REFERENCES, seed: int = 0,
                    source: HubnessSource = text_hubness) -> bool:  # fmt: skip
        """Learn each text's hubness: its mean cosine to its ``neighbours`` nearest ``references``
        (``(r, d)`` query embeddings; the title strings, which are embedded as queries, in every language
        and script the catalog has), minus the median text's. Needs :meth:`fit_languages` first; returns
        whether it learnt.

        Some texts sit near every query whatever it says (hubs of the embedding space: a Danish stub, a
        title with a one-line overview); on the full scope they led the plot channel for queries in scripts
        the catalog barely uses (부산행 -> "Jacob Tingleff: Ulig", "DØD"). Subtracting ``hub_penalty``
        times a text's hubness from its cosine is the document side of cross-domain similarity local
        scaling (CSLS, Conneau et al. 2018; the query side is constant per query and cannot reorder).

        ``source`` gives the mean cosines per index row (:mod:`embeddings.hubness`): computed here by
        default (~1 s on the default scope, ~10 s on the full scope), or what the index version stored
        (:meth:`embeddings.job.IndexArtifacts.text_hubness`), which is the same computation done once.
        """
        if self._stored is None or references.ndim != 2 or references.shape[0] == 0:
            return False
        vectors, _ = self._stored
        config = HubnessConfig(neighbours=neighbours, max_references=max_references, seed=seed)
        by_row = np.asarray(source(vectors, references, config), dtype=np.float32)
        if by_row.shape != (vectors.shape[0],):
            raise ValueError(f"expected one hubness per index row ({vectors.shape[0]}); got shape {by_row.shape}")
        idx = self._lookup(np.asarray(self.index.ids, dtype=np.int64))
        known = idx >= 0
        hubness = np.zeros(self._ids.size, dtype=np.float32)
        if known.any():
            hubness[idx[known]] = by_row[known] - np.float32(np.median(by_row[known]))
        self._hubness = hubness
        return True

    def title_vector(self, position: int) -> np.ndarray | None:
        """``(d,)`` the normalised mean of a title's text vectors ("movies like <title>"); ``None``
        before :meth:`fit_languages` or for a title without texts."""
        if self._stored is None:
            return None
        vectors, positions = self._stored
        rows = vectors[positions == position]
        if rows.shape[0] == 0:
            return None
        mean = rows.mean(axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)

    def script_margin(self, query_embedding: np.ndarray, script: str | None) -> float:
        """How much nearer, on average, a query in ``script`` sits to the texts headed by a title written in
        that script than to the other texts (0 for Latin, an unknown script, or when they are not nearer).

        The encoder puts a query near every text in its own script whatever it says: the few texts whose
        title is in Hangul, Han or Thai (반드시 잡는다, 海的儿子, แผนร้ายนายเจ้าเล่ห์) led the plot channel for
        most Korean, Chinese and Thai queries. :meth:`search` takes this margin off those texts (the mean of
        the scores is the query's product with the mean vector, so it costs one dot product)."""
        return script_margin(query_embedding, self._script_shift.get(script or ""))

    def centres(self, language: str) -> bool:
        """Whether :meth:`centered` moves a query in ``language`` (a centroid, not the main language)."""
        return (self._language_centroids is not None and self.main_language is not None and bool(self.language_centering)
                and language != self.main_language and language in self._language_names)  # fmt: skip

    def centered(self, query_embedding: np.ndarray, language: str) -> np.ndarray:
        """``(d,)`` the query moved away from ``language``'s centroid towards the main language's.

        ``q' = normalise(q - a * (c_language - c_main))`` with ``a = language_centering``. The encoder
        puts a query close to texts in its own language whatever they say (DATA-NOTES: 75% of a
        French query's top 10 is French); removing part of the language direction lets the meaning
        reach the catalog's English descriptions. Measured on the catalog's own descriptions (a
        title's description in fr/de/es/it/pt/da as the query, its same-language text excluded,
        133 held-out cases; ``a`` chosen on 134 others): Recall@1 0.25 -> 0.52, Recall@10 0.43 ->
        0.68 at ``a = 0.5``, while same-language-only titles keep Recall@1 0.97 -> 0.96.
        """
        q = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
        if not self.centres(language) or self._language_centroids is None or self.main_language is None:
            return q
        names = self._language_names
        shift = self._language_centroids[names.index(language)] - self._language_centroids[names.index(self.main_language)]
        moved = q - np.float32(self.language_centering) * shift
        norm = float(np.linalg.norm(moved))
        return (moved / norm).astype(np.float32) if norm > 0 else q

    def _row_masks(self) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
        """``(row_positions, by_language)`` over the index's rows when it filters by row (see
        :attr:`_rows`); ``None`` for an index that only takes allowed ids."""
        if not hasattr(self.index, "search_rows"):
            return None
        idx = self._lookup(np.asarray(self.index.ids, dtype=np.int64))
        row_positions = np.where(idx >= 0, self._positions[np.maximum(idx, 0)], -1)
        row_langs = self._langs[np.maximum(idx, 0)]
        by_lang = {str(lang): (row_langs == lang) & (idx >= 0) for lang in set(self._langs.tolist())}
        return row_positions, by_lang

    def _scoped_table(self) -> np.ndarray | None:
        """See :attr:`_scoped`: a table as long as the ids' range (at most four slots per text)."""
        ids = self._ids
        if ids.size == 0 or ids[0] < 0 or int(ids[-1]) > 4 * ids.size + 1024 or not bool(np.all(ids[1:] > ids[:-1])):
            return None
        table = np.full(int(ids[-1]) + 2, -1, dtype=np.int64)
        scoped = np.flatnonzero(self._positions >= 0)
        table[ids[scoped]] = scoped
        return table

    def _static_costs(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(t,)`` float32 what the title-only penalty and the hub correction take off each text's cosine
        (``None``: nothing), computed once per penalty setting (the same products :meth:`search` took per
        hit before; the penalties are public attributes, so a change recomputes them)."""
        key = (self.title_only_penalty, self.hub_penalty, id(self._hubness))
        costs = self._costs
        if costs is None or costs[0] != key:
            title = np.float32(self.title_only_penalty) * self._title_only if self.title_only_penalty else None
            hub = (np.float32(self.hub_penalty) * self._hubness
                   if self._hubness is not None and self.hub_penalty > 0 else None)  # fmt: skip
            costs = (key, title, hub)
            self._costs = costs
        return costs[1], costs[2]

    def _script_mask(self, script: str | None) -> np.ndarray:
        """``(t,)`` texts headed by a title written in ``script``, computed once per script."""
        mask = self._script_masks.get(script or "")
        if mask is None:
            mask = np.asarray(self._scripts == script, dtype=bool)
            self._script_masks[script or ""] = mask
        return mask

    def _lookup(self, ids: np.ndarray) -> np.ndarray:
        """Indices into the sorted text arrays of ``ids`` (``-1`` where unknown)."""
        idx = np.searchsorted(self._ids, ids)
        idx = np.clip(idx, 0, max(self._ids.size - 1, 0))
        ok = (ids >= 0) & (self._ids.size > 0) & (self._ids[idx] == ids)
        return np.where(ok, idx, -1)

    def search_in_language(self, query_embedding: np.ndarray, language: str | None, top_k: int,
                           allowed: np.ndarray | None = None,
                           script: str | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:  # fmt: skip
        """Top titles for a query written in ``language`` (as :meth:`search`).

        Texts written in the query's own language are scored with the query as encoded; every other
        text with the query moved towards the main language (:meth:`centered`); a title keeps its
        best text. Centring closes the gap between languages, but it also moves the query away from
        what is written in its own language: scored centred, a French plot query lost the French
        description it paraphrases (marquee-ml:dev, plot queries found in the dense top 10: 0.63
        centred everywhere, 0.87 with this split; cross-lingual plots unchanged at 0.54). A language
        without a centroid, or ``None``, is the plain :meth:`search`. ``script``: the query's (see :meth:`search`).
        """
        if language is None or not self.centres(language):
            return self.search(query_embedding, top_k, allowed, script=script,
                               level=self.levels(language, script))  # fmt: skip
        own = self.search(query_embedding, top_k, allowed, only_language=language, script=script)
        other = self.search(self.centered(query_embedding, language), top_k, allowed, except_language=language,
                            script=script)  # fmt: skip
        # a title keeps its best score of the two (the own-language one on a tie), best first, then by position
        positions = np.concatenate([own[0], other[0]])
        scores = np.concatenate([own[1], other[1]])
        langs = [*own[2], *other[2]]
        by_score = np.lexsort((np.arange(positions.size), -scores))
        _, first = np.unique(positions[by_score], return_index=True)
        kept = by_score[first]
        kept = kept[np.lexsort((positions[kept], -scores[kept]))][:top_k]
        return positions[kept], scores[kept].astype(np.float32), [langs[i] for i in kept.tolist()]

    def levels(self, language: str | None, script: str | None) -> bool:
        """Whether :meth:`search` levels the description languages for a query in ``language`` (``None``:
        undecided) and ``script``: for a query in a language with no centroid of its own (Korean,
        Turkish...) or in a script other than Latin, never for the main language's.

        The encoder scores a text in one language against a query in another on that pair's own scale:
        for a Chinese, Korean or Hebrew plot the French, Spanish and Danish texts sat at the English
        ones' level or above, so the junk of seven languages hid the one English description that
        tells the story (一群欠债的人参加儿童游戏 输了就会死: Squid Game's English text ranks 24th among
        the English texts, nowhere in the top 100 of all). Levelled, each text loses the query's
        product with its language's mean vector minus the main language's (the mean score a language
        gets, one product per language), so the languages compete on what their texts say.
        Measured on marquee-ml:dev's 35 cross-lingual queries in scripts other than Latin (full
        scope, plot channel alone): Recall@10 14 -> 19, found in the top 100 21 -> 28; plots in a
        language with a centroid lose to it (French queries for French texts, 13 -> 8 of 20),
        which is why those keep :meth:`centered`."""
        if self._level_shifts is None or language == self.main_language:
            return False
        if script not in (None, "latin", "unknown"):
            return True
        return language is not None and language not in self._language_names

    def search(self, query_embedding: np.ndarray, top_k: int, allowed: np.ndarray | None = None, *,
               only_language: str | None = None, except_language: str | None = None,
               script: str | None = None, level: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:  # fmt: skip
        """Top titles for one query.

        Args:
            query_embedding: ``(d,)`` or ``(1, d)`` float32 unit vector.
            top_k: titles wanted.
            allowed: ``(n,)`` bool mask of allowed titles, or ``None`` for all.
            only_language / except_language: score only the texts in / not in this language.
            script: the query's script: texts headed by a title in it lose :meth:`script_margin`.
            level: the description languages are levelled for this query (:meth:`levels`).

        Returns:
            ``positions`` ``(m,)``, ``scores`` ``(m,)`` (cosine, best first, ``m <= top_k``) and the
            language of each title's best-matching text.
        """
        query = np.asarray(query_embedding, dtype=np.float32).reshape(1, -1)
        allowed_ids = None
        by_language = only_language is not None or except_language is not None
        allowed_rows = None
        rows = self._rows
        if (allowed is not None and not bool(allowed.all())) or by_language:
            if rows is not None:  # the same texts as a mask over the index's rows: no id look-up
                row_positions, by_lang = rows
                keep = row_positions >= 0
                if allowed is not None:
                    keep[keep] = allowed[row_positions[keep]]
                if only_language is not None:
                    keep &= by_lang.get(only_language, False)
                if except_language is not None and except_language in by_lang:
                    keep &= ~by_lang[except_language]
                allowed_rows = keep
            else:
                keep = self._positions >= 0
                if allowed is not None:
                    keep[keep] = allowed[self._positions[keep]]
                if only_language is not None:
                    keep &= self._langs == only_language
                if except_language is not None:
                    keep &= self._langs != except_language
                allowed_ids = self._ids[keep]
            if not keep.any():
                return np.empty(0, np.int64), np.empty(0, np.float32), []
        k_texts = int(math.ceil(top_k * self.texts_per_title * 1.5)) + 8
        k_texts = min(k_texts, max(self.index.ntotal, 1))
        if self.single_thread:
            faiss_single_thread()
        found = self._levelled_search(query, k_texts, allowed_rows, allowed_ids) if level else None
        if found is not None:
            scores, ids = found
        elif allowed_rows is not None:
            scores, ids = self.index.search_rows(query, k_texts, allowed_rows)
        else:
            scores, ids = self.index.search(query, k_texts, allowed_ids=allowed_ids)
        scores, ids = scores[0], ids[0]
        table = self._scoped
        if table is not None:  # one look-up: unknown ids, padding (-1) and texts out of scope drop together
            idx = table[np.where((ids >= 0) & (ids < table.size - 1), ids, table.size - 1)]
            keep = idx >= 0
            scores, idx = scores[keep], idx[keep]
            positions = self._positions[idx]
        else:
            valid = ids >= 0
            idx = self._lookup(ids[valid])
            scores = scores[valid][idx >= 0]
            idx = idx[idx >= 0]
            positions = self._positions[idx]
            in_scope = positions >= 0
            positions, scores, idx = positions[in_scope], scores[in_scope], idx[in_scope]
        margin = self.script_margin(query, script)
        title_cost, hub_cost = self._static_costs()
        if title_cost is not None or hub_cost is not None or margin:
            if title_cost is not None:
                scores = scores - title_cost[idx]
            if hub_cost is not None:
                scores = scores - hub_cost[idx]
            if margin:
                scores = scores - np.float32(margin) * self._script_mask(script)[idx]
            resort = np.argsort(-scores, kind="stable")
            positions, scores, idx = positions[resort], scores[resort], idx[resort]
        # results are sorted by score: the first occurrence of a title is its maximum
        first = _first_of_each(positions)[:top_k]
        langs = self._lang_list
        return positions[first], scores[first].astype(np.float32), [langs[i] for i in idx[first].tolist()]


def _first_of_each(positions: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct value of ``positions`` ``(m,)``, in order of
    appearance (``np.unique(..., return_index=True)``'s indices, sorted, without its overhead)."""
    if positions.size == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(positions, kind="stable")
    ranked = positions[order]
    lead = np.empty(ranked.size, dtype=bool)
    lead[0] = True
    np.not_equal(ranked[1:], ranked[:-1], out=lead[1:])
    return np.sort(order[lead])


class DenseTitles:
    """The dense title channel: exact cosine search over the embeddings of every title string.

    A multilingual encoder knows many titles across languages and scripts (``Титаник`` and
    ``טיטאניק`` are close to "Titanic", ``鱿鱼游戏`` to "Squid Game"). The strings are embedded as
    queries (:data:`embeddings.job.TITLE_STRINGS_EMBEDDED_AS`): a typed title and a title string are
    two short texts of the same kind. The index build embeds them and stores them with the version
    (:meth:`from_index`). A title scores the maximum over its strings.

    Args:
        vectors: ``(s, d)`` float32 unit rows, one per title string (query embeddings).
        positions: ``(s,)`` int64 title position of each string.
        langs: ``(s,)`` language tag of each string (see :func:`title_strings`).
        texts: the strings (for explanations).
        n_titles: number of title positions ``n``.
    """

    def __init__(self, vectors: np.ndarray, positions: np.ndarray, langs: Sequence[str], texts: Sequence[str],
                 n_titles: int) -> None:  # fmt: skip
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        positions = np.asarray(positions, dtype=np.int64)
        if vectors.ndim != 2 or vectors.shape[0] != positions.size or len(langs) != positions.size != len(texts):
            raise ValueError(f"expected one vector, language and text per title string; got {vectors.shape}, "
                             f"{positions.size} positions, {len(langs)} languages, {len(texts)} texts")  # fmt: skip
        if positions.size and (positions.min() < 0 or positions.max() >= n_titles):
            raise ValueError(f"title positions must be in 0..{n_titles - 1}")
        self.vectors = vectors
        self.positions = positions
        self.langs = list(langs)
        self.texts = list(texts)
        self.n_titles = n_titles
        self._sounds: tuple[dict[str, list[int]], dict[str, list[int]]] | None = None
        self._by_text: dict[str, list[int]] | None = None
        self._scripts: np.ndarray | None = None
        self._shift: dict[str, np.ndarray] | None = None
        self._half = LazyHalfShortlist(lambda: self.vectors)

    def _half_copy(self) -> HalfShortlist | None:
        """The float16 shortlist over the strings (:class:`embeddings.index.LazyHalfShortlist`)."""
        return self._half.get(self.vectors.shape[0])

    @classmethod
    def from_index(cls, stored: TitleStringVectors, position: Mapping[str, int], n_titles: int) -> DenseTitles:
        """The channel over the title strings stored with an index version
        (:class:`embeddings.job.TitleStringVectors`), for the titles in ``position`` (title id -> position)."""
        ids = stored.strings["title_id"].astype(str).tolist()
        rows = np.asarray([i for i, t in enumerate(ids) if t in position], dtype=np.int64)
        positions = np.asarray([position[ids[i]] for i in rows.tolist()], dtype=np.int64)
        langs = stored.strings["lang"].astype(str).to_numpy()[rows].tolist() if rows.size else []
        texts = stored.strings["text"].astype(str).to_numpy()[rows].tolist() if rows.size else []
        return cls(np.asarray(stored.vectors, dtype=np.float32)[rows], positions, langs, texts, n_titles)

    def _string_scripts(self) -> np.ndarray:
        """``(s,)`` the script of each string, computed once."""
        if self._scripts is None:
            from data.queries import script_of

            self._scripts = np.asarray([script_of(t) for t in self.texts], dtype=object)
        return self._scripts

    def _script_mask(self, script: str) -> np.ndarray:
        """``(s,)`` strings written in ``script``."""
        return np.asarray(self._string_scripts() == script, dtype=bool)

    def _shifts(self) -> dict[str, np.ndarray]:
        """:func:`script_shifts` of the strings, computed once."""
        if self._shift is None:
            self._shift = script_shifts(self.vectors, self._string_scripts())
        return self._shift

    def sound_matches(self, query_key: str, candidates: np.ndarray | None) -> np.ndarray:
        """The ``candidates`` (title positions; ``None``: every title) with a title string whose
        :func:`search.langid.sound_key` is ``query_key`` (or ``query_key`` without a final ``s``: Greek
        and Russian add case endings, ``Τιτανικός``), and every other title bearing such a string (a
        namesake the channels did not propose: on the full scope タイタニック proposed Titanic 1943, not
        1997); empty for a key under :data:`MIN_SOUND_KEY` classes, or under :data:`MIN_HEARD_KEY` with
        ``candidates`` ``None``."""
        floor = MIN_SOUND_KEY if candidates is not None else MIN_HEARD_KEY
        if len(query_key) < floor or (candidates is not None and candidates.size == 0):
            return np.empty(0, dtype=np.int64)
        plain, loanword = self._sound_index()
        keys = {query_key, query_key[:-1]} if query_key.endswith("s") and len(query_key) > MIN_SOUND_KEY else {query_key}
        found = [plain.get(key, ()) for key in keys]
        if len(query_key) >= MIN_LOANWORD_KEY:
            found += [loanword.get(key, ()) for key in keys]
        strings = np.asarray(sorted({i for rows in found for i in rows}), dtype=np.int64)
        if candidates is not None and strings.size:
            strings = strings[np.isin(self.positions[strings], candidates)]
        heard = {self.texts[i].casefold() for i in strings.tolist()}
        if not heard:
            return np.empty(0, dtype=np.int64)
        # the title heard, under every title that bears it (Titanic 1943 proposed, Titanic 1997 meant)
        return np.asarray(sorted({int(self.positions[i]) for text in heard for i in self._namesakes().get(text, ())}),
                          dtype=np.int64)  # fmt: skip

    def _sound_index(self) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """Each :func:`search.langid.sound_key` of the title strings (plain, loanword) -> the strings bearing
        it, built on first use: a key heard with no proposal is looked up, not scanned for (a scan of the
        full scope's 54,770 strings took 15.6 ms a query)."""
        index = self._sounds
        if index is None:
            from search.langid import sound_key

            plain: dict[str, list[int]] = {}
            loanword: dict[str, list[int]] = {}
            for i, text in enumerate(self.texts):
                plain.setdefault(sound_key(text), []).append(i)
                loanword.setdefault(sound_key(text, loanword=True), []).append(i)
            index = self._sounds = (plain, loanword)
        return index

    def best_scores(self, query_embedding: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``(m,)`` each title's best string score for the query (cosine, no script margin): a title the
        channel's top did not reach can still be scored as the channel would (:meth:`sound_matches`)."""
        q = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
        out = np.full(positions.size, -np.inf, dtype=np.float32)
        for k, position in enumerate(positions.tolist()):
            rows = np.flatnonzero(self.positions == position)
            if rows.size:
                out[k] = float((self.vectors[rows] @ q).max())
        return out

    def _namesakes(self) -> dict[str, list[int]]:
        """Case-folded title string -> the indices of the strings written so, built on first use."""
        if self._by_text is None:
            by_text: dict[str, list[int]] = {}
            for i, text in enumerate(self.texts):
                by_text.setdefault(text.casefold(), []).append(i)
            self._by_text = by_text
        return self._by_text

    def search(self, query_embedding: np.ndarray, top_k: int, allowed: np.ndarray | None = None,
               script: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """``positions`` ``(m,)``, ``scores`` ``(m,)`` (cosine, best first) and the index of each
        title's best string ``(m,)``, for the ``m <= top_k`` best allowed titles.

        ``script``: the query's script (:func:`data.queries.script_of`). The encoder puts a query near every
        string written in its own script, whatever it says (the few Hangul titles, 반드시 잡는다, sat near
        every Korean query): for a script other than Latin, strings in that script lose the margin by which
        they are nearer to the query, on average, than the other strings (marquee-ml:dev known-item hits@10
        0.689 -> 0.696; 進撃の巨人 2nd -> 1st). An exact or near-exact title in that script is still found by
        the lexical and sound tiers."""
        shift = self._shifts().get(script) if script is not None and script not in ("latin", "unknown") else None
        margin = np.float32(script_margin(query_embedding, shift))
        in_script = self._script_mask(str(script)) if margin else None
        want = min(self.vectors.shape[0], top_k * 4 + 16)
        if want == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.int64)
        found = None
        half = self._half_copy()
        if half is not None:
            faiss_single_thread()  # the strings' best rows from a float16 scan, rescored (same rows and scores)
            def lower(rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
                return scores if in_script is None else np.where(in_script[rows], scores - margin, scores)

            selector = None if allowed is None else mask_selector(allowed[self.positions])
            found = half.top(query_embedding, want, selector, lower)
        if found is not None:
            head, head_scores = found
        else:
            scores = inner_products(query_embedding, self.vectors)
            if in_script is not None:
                scores = np.where(in_script, scores - margin, scores)
            if allowed is not None:
                scores = np.where(allowed[self.positions], scores, -np.inf)
            head = np.argpartition(-scores, want - 1)[:want] if want < scores.size else np.arange(scores.size)
            head = np.sort(head)  # best first, ties by string index: a stable sort of the index-ordered head
            head = head[np.argsort(-scores[head], kind="stable")]
            head = head[np.isfinite(scores[head])]
            head_scores = scores[head]
        first = _first_of_each(self.positions[head])[:top_k]
        return self.positions[head[first]], head_scores[first].astype(np.float32), head[first]
