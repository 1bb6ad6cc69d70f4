"""The embedding job: catalog texts -> cached vectors -> a versioned FAISS index with its sidecar.

Which text per title (the design choice):
  one passage per (title, description language): ``"{localized title} ({year}). {genres}. {description}"``
  with the title as the catalog writes it in that language, or just ``"{title} ({year}). {genres}."``
  for titles without any description. A French film with an English and a French overview gets
  two vectors, so an English query meets the English text and a French query the French one
  (the model has a strong same-language bias). Per language one description is kept, by source
  priority netflix > tmdb5000 > tmdb-lang. Cast and directors are left to lexical retrieval:
  names carry little meaning for the encoder. The index's integer ids are text ids; a title's
  score is the max over its texts; a title's own vector (for features, rows and ads) is the
  normalized mean of its texts' vectors.

Title strings (search's dense title channel): every distinct catalog, original and localized title
of the scope (:func:`catalog_title_strings`) is embedded as a query (:data:`TITLE_STRINGS_EMBEDDED_AS`)
and stored with the version (``title_strings-*.parquet`` and ``title_string_vectors-*.npy``, named
and checksummed in the same manifest), so serving loads them instead of embedding them at start.

Text hubness (search's plot-channel hub correction, :mod:`embeddings.hubness`): each text's mean cosine to
its nearest title strings is measured once with the version (``text_hubness-*.npy``, named, checksummed and
keyed in the manifest) instead of at every load. A version built before that, or a load with other
references, computes it once and caches it beside the version (:meth:`IndexArtifacts.text_hubness`).

Scopes (which titles are embedded):
  ``tiny`` (300 titles, for tests and smoke runs), ``netflix`` (8,807 titles),
  ``default`` (the Netflix catalog plus MovieLens titles with at least 10 ratings: 10,696 titles,
  10,908 texts, about 10 minutes on a 2-core CPU the first time), ``watched`` (Netflix plus every
  MovieLens title: 17,617 titles, 17,884 texts, the scope of the search and ranking evaluations)
  and ``full`` (every title, every description language: 53,094 titles, 53,430 texts).
  ``auto`` = ``full`` on a GPU, else ``default``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from data.catalog import as_lists
from data.embedding_cache import EmbeddingCache, text_hash
from embeddings.hubness import HubnessConfig, text_hubness

if TYPE_CHECKING:
    from embeddings.index import FaissVectorIndex

SCOPES = ("tiny", "netflix", "default", "watched", "full")
DEFAULT_MIN_RATINGS = 10
_SOURCE_PRIORITY = {"netflix": 0, "tmdb5000": 1, "tmdb-lang": 2}
SIDECAR_TEXTS = "texts-{digest}.parquet"
SIDECAR_VECTORS = "title_vectors-{digest}.npy"
SIDECAR_TITLE_STRINGS = "title_strings-{digest}.parquet"
SIDECAR_TITLE_STRING_VECTORS = "title_string_vectors-{digest}.npy"
SIDECAR_TEXT_HUBNESS = "text_hubness-{digest}.npy"
HUBNESS_CACHE = "text_hubness-{version}-{key}.npz"
"""A version's text hubness computed at load (built before it was stored, or other references / config):
``key`` is the first 20 hex digits of :meth:`embeddings.hubness.HubnessConfig.key`."""
TITLE_STRINGS_EMBEDDED_AS = "query"
"""Title strings are embedded as queries (e5's ``query:`` prefix on both sides of a symmetric task): a
typed title meets a title string as one short text meets another. Measured on marquee-ml:dev
known-item titles, the dense title channel alone finds the title in its top 10 for 0.63 of them with
query-embedded strings against 0.51 with passage-embedded ones (``Титаник``, ``טיטאניק``,
``Τιτανικός`` -> "Titanic" first instead of 99th, 18th, 31st)."""
CHUNK = 256

log = logging.getLogger(__name__)


class JobError(Exception):
    """The embedding job cannot run with what it was given."""


class ItemEncoder(Protocol):
    """What the job needs of an encoder (``encode_queries`` for the title strings)."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode_items(self, texts: list[str]) -> np.ndarray: ...

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...


def resolve_scope(scope: str, *, gpu: bool) -> str:
    """``auto`` -> ``full`` on a GPU, ``default`` on a CPU; other names are validated."""
    if scope == "auto":
        return "full" if gpu else "default"
    if scope not in SCOPES:
        raise JobError(f"unknown scope {scope!r}; expected one of {('auto', *SCOPES)}")
    return scope


def select_titles(titles: pd.DataFrame, scope: str) -> pd.DataFrame:
    """The titles of a scope, in title_id order."""
    if scope == "full":
        chosen = titles
    elif scope == "netflix":
        chosen = titles[titles["netflix_id"].notna()]
    elif scope == "default":
        chosen = titles[titles["netflix_id"].notna() | (titles["ml_rating_count"] >= DEFAULT_MIN_RATINGS)]
    elif scope == "watched":
        chosen = titles[titles["netflix_id"].notna() | titles["movielens_id"].notna()]
    elif scope == "tiny":
        watched = titles.sort_values(["ml_rating_count", "title_id"], ascending=[False, True]).head(150)
        shows = titles[titles["type"] == "show"].head(75)
        foreign = titles[titles["description_languages"].map(lambda v: any(x != "en" for x in as_lists(v)))].head(75)
        chosen = titles[titles["title_id"].isin(set(watched.title_id) | set(shows.title_id) | set(foreign.title_id))]
    else:
        raise JobError(f"unknown scope {scope!r}; expected one of {SCOPES}")
    return chosen.sort_values("title_id").reset_index(drop=True)


def _year(value: Any) -> str:
    return f" ({int(value)})" if value is not None and not pd.isna(value) else ""


def catalog_texts(titles: pd.DataFrame) -> pd.DataFrame:
    """One passage per (title, description language), or a title-only passage.

    Returns a DataFrame with text_id (0..n-1), title_id, lang, kind ("description" | "title"), text.
    """
    rows: list[tuple[str, str, str, str]] = []
    for rec in titles.itertuples(index=False):
        genres = ", ".join(as_lists(rec.genres))
        localized = {t["lang"]: t["title"] for t in as_lists(rec.localized_titles)}
        best: dict[str, dict[str, str]] = {}
        for desc in sorted(as_lists(rec.descriptions), key=lambda d: _SOURCE_PRIORITY.get(d["source"], 9)):
            best.setdefault(desc["lang"], desc)
        head_genres = f" {genres}." if genres else ""
        if not best:
            rows.append((rec.title_id, "und", "title", f"{rec.title}{_year(rec.year)}.{head_genres}"))
            continue
        for lang in sorted(best):
            name = localized.get(lang, rec.title) if lang != "en" else rec.title
            rows.append((rec.title_id, lang, "description",
                         f"{name}{_year(rec.year)}.{head_genres} {best[lang]['text']}"))  # fmt: skip
    frame = pd.DataFrame(rows, columns=["title_id", "lang", "kind", "text"])
    frame.insert(0, "text_id", np.arange(len(frame), dtype=np.int64))
    return frame


def title_strings(titles: Sequence[str], original_titles: Sequence[str | None],
                  localized: Sequence[Sequence[tuple[str, str]]]) -> tuple[np.ndarray, list[str], list[str]]:  # fmt: skip
    """Every distinct title string of ``n`` titles: the catalog title, the original title and each
    localized title (``(lang, text)`` pairs: TMDB language files, the original title of TMDB-5000,
    MovieLens alternative titles as ``und``).

    Returns ``positions`` ``(s,)`` int64 (the title of each string, ``0..n-1``), the strings'
    languages (``""`` for the catalog title, ``"original"``, or the localized title's code) and the
    strings. Whitespace is collapsed; strings are deduplicated per title after case-folding.
    """
    positions: list[int] = []
    langs: list[str] = []
    texts: list[str] = []
    for i, title in enumerate(titles):
        seen: set[str] = set()
        for lang, text in [("", title), ("original", original_titles[i] or ""), *localized[i]]:
            text = " ".join(str(text).split())
            key = text.casefold()
            if text and key not in seen:
                seen.add(key)
                positions.append(i)
                langs.append(lang)
                texts.append(text)
    return np.asarray(positions, dtype=np.int64), langs, texts


def catalog_title_strings(titles: pd.DataFrame) -> pd.DataFrame:
    """:func:`title_strings` of a titles DataFrame: ``title_id, lang, text``, one row per string."""
    originals = [None if v is None or pd.isna(v) else str(v) for v in titles["original_title"]] \
        if "original_title" in titles else [None] * len(titles)  # fmt: skip
    localized = [[(str(t["lang"]), str(t["title"])) for t in as_lists(v) if t.get("lang") and t.get("title")]
                 for v in titles["localized_titles"]]  # fmt: skip
    positions, langs, texts = title_strings([str(t) for t in titles["title"]], originals, localized)
    ids = titles["title_id"].astype(str).to_numpy()
    return pd.DataFrame({"title_id": ids[positions] if positions.size else [], "lang": langs, "text": texts})


def embed_with_cache(
    encoder: ItemEncoder,
    texts: list[str],
    cache: EmbeddingCache,
    *,
    progress: Callable[[int, int], None] | None = None,
    as_queries: bool = False,
) -> tuple[np.ndarray, int]:
    """Embed ``texts`` with ``encoder``, reading and filling ``cache``.

    Returns ``(vectors (n, dim) float32, number of texts actually embedded)``. Missing texts are
    embedded in chunks of ``CHUNK``, each committed to the cache before the next starts, so an
    interrupted run resumes; ``progress(done, total_missing)`` is called after each chunk. With
    ``as_queries`` the texts are embedded by ``encode_queries`` and cached under their own key
    (:func:`cache_key`).
    """
    key = cache_key(encoder.fingerprint, as_queries=as_queries)
    embed = encoder.encode_queries if as_queries else encoder.encode_items
    hashes, found, first_text, missing = _cache_lookup(cache, key, texts)
    chunks = [missing[start : start + CHUNK] for start in range(0, len(missing), CHUNK)]
    # a generator: each chunk is embedded only after the previous one is committed
    embedded = ((chunk, embed([first_text[h] for h in chunk])) for chunk in chunks)
    _commit_chunks(cache, key, embedded, found, len(missing), progress)
    return _in_order(hashes, found, encoder.dim), len(missing)


def _commit_chunks(cache: EmbeddingCache, key: str, embedded: Iterable[tuple[list[bytes], np.ndarray]],
                   found: dict[bytes, np.ndarray], total: int, progress: Callable[[int, int], None] | None) -> None:  # fmt: skip
    """Write each ``(hashes, vectors)`` chunk to ``cache`` under ``key`` as it arrives, add it to
    ``found`` and report ``progress(done, total)``."""
    done = 0
    for chunk, vectors in embedded:
        rows = np.asarray(vectors, dtype=np.float32)
        cache.put_many(key, zip(chunk, rows, strict=True))
        found.update(zip(chunk, rows, strict=True))
        done += len(chunk)
        if progress:
            progress(done, total)


def _cache_lookup(cache: EmbeddingCache, key: str, texts: list[str]
                  ) -> tuple[list[bytes], dict[bytes, np.ndarray], dict[bytes, str], list[bytes]]:  # fmt: skip
    """``(hashes of texts, cached vectors by hash, first text by hash, missing hashes)``; the missing ones
    sorted by length, so length-sorted chunks keep padding low (the encoder sorts within a call as well)."""
    hashes = [text_hash(t) for t in texts]
    unique = list(dict.fromkeys(hashes))
    found = cache.get_many(key, unique)
    first_text = {h: t for h, t in zip(hashes, texts, strict=True)}
    missing = sorted((h for h in unique if h not in found), key=lambda h: len(first_text[h]))
    return hashes, found, first_text, missing


def _in_order(hashes: list[bytes], found: dict[bytes, np.ndarray], dim: int) -> np.ndarray:
    out = np.empty((len(hashes), dim), dtype=np.float32)
    for i, hashed in enumerate(hashes):
        out[i] = found[hashed]
    return out


def cache_key(fingerprint: str, *, as_queries: bool = False) -> str:
    """The embedding cache's model key: the encoder's fingerprint, marked for query embeddings."""
    return f"{fingerprint}+query" if as_queries else fingerprint


@dataclass(frozen=True)
class WorkerEncoderSpec:
    """How each worker process loads its encoder (:func:`embeddings.encoder.load_encoder` arguments;
    always on CPU with one thread: torch for passages, the default query engine for queries)."""

    model: str
    cache_dir: Path


_WORKER_ENCODER: Any = None


def _init_worker(spec: WorkerEncoderSpec) -> None:
    import os

    # one thread per process: set before torch starts its OpenMP pool
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    from embeddings.encoder import load_encoder

    global _WORKER_ENCODER
    _WORKER_ENCODER = load_encoder(spec.model, device="cpu", cache_dir=spec.cache_dir, num_threads=1)


def _worker_embed(texts: list[str], as_queries: bool) -> tuple[str, np.ndarray]:
    embed = _WORKER_ENCODER.encode_queries if as_queries else _WORKER_ENCODER.encode_items
    return _WORKER_ENCODER.fingerprint, np.asarray(embed(texts), dtype=np.float32)


def embed_with_cache_in_processes(
    encoder: ItemEncoder,
    spec: WorkerEncoderSpec,
    texts: list[str],
    cache: EmbeddingCache,
    *,
    workers: int,
    progress: Callable[[int, int], None] | None = None,
    as_queries: bool = False,
) -> tuple[np.ndarray, int]:
    """:func:`embed_with_cache` with the missing texts embedded by ``workers`` CPU processes of one
    thread each (spawned; each loads the model once from ``spec``; ``as_queries`` as there).

    On a CPU shared with other work, one 2-thread torch process loses much of its time at OpenMP
    barriers whenever one of its threads is descheduled; single-thread processes do not wait for each
    other. ``encoder`` gives the fingerprint the vectors are cached under; every worker must report
    the same fingerprint (else :class:`JobError`). Chunks of ``CHUNK`` texts (length-sorted) are
    handed out in order, and each finished chunk is committed to the cache before the next result is
    read, so an interrupted run resumes. Returns what :func:`embed_with_cache` returns.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if workers < 1:
        raise JobError(f"workers={workers}; expected >= 1")
    key = cache_key(encoder.fingerprint, as_queries=as_queries)
    hashes, found, first_text, missing = _cache_lookup(cache, key, texts)
    chunks = [missing[start : start + CHUNK] for start in range(0, len(missing), CHUNK)]

    def checked(results: Iterable[tuple[str, np.ndarray]]) -> Iterator[tuple[list[bytes], np.ndarray]]:
        for chunk, (fingerprint, vectors) in zip(chunks, results, strict=True):
            if fingerprint != encoder.fingerprint:
                raise JobError(f"a worker's encoder has fingerprint {fingerprint[:12]}; expected "
                               f"{encoder.fingerprint[:12]} (the same model, lengths and quantization)")  # fmt: skip
            yield chunk, vectors

    if chunks:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=context,
                                 initializer=_init_worker, initargs=(spec,)) as pool:  # fmt: skip
            results = pool.map(_worker_embed, [[first_text[h] for h in chunk] for chunk in chunks],
                               [as_queries] * len(chunks))  # fmt: skip
            _commit_chunks(cache, key, checked(results), found, len(missing), progress)
    return _in_order(hashes, found, encoder.dim), len(missing)


def title_vectors(texts: pd.DataFrame, vectors: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Normalized mean of each title's text vectors. Returns (title_ids sorted, (n_titles, dim))."""
    codes, uniques = pd.factorize(texts["title_id"], sort=True)
    sums = np.zeros((len(uniques), vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, codes, vectors)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return [str(u) for u in uniques], (sums / norms).astype(np.float32)


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class TitleStringVectors:
    """Every title string of an index version's scope and its query embedding (search's dense title
    channel): ``strings`` (``title_id, lang, text``, see :func:`catalog_title_strings`) and
    ``vectors`` ``(s, dim)`` float32 unit rows in the same order."""

    strings: pd.DataFrame
    vectors: np.ndarray


@dataclass(frozen=True)
class IndexArtifacts:
    """A loaded index version with what search, rows and ads need beside it."""

    index: FaissVectorIndex
    texts: pd.DataFrame  # text_id, title_id, lang, kind
    title_ids: list[str]
    title_vectors: np.ndarray  # (n_titles, dim) float32 unit rows, aligned with title_ids
    manifest: dict[str, Any]
    version: str
    title_strings: TitleStringVectors | None = None
    """``None`` for a version built before title strings were embedded with the index."""

    index_dir: Path | None = None
    """Where the version was loaded from (:meth:`text_hubness` caches there); ``None``: nothing is cached."""

    def title_vector_map(self) -> dict[str, np.ndarray]:
        return dict(zip(self.title_ids, self.title_vectors, strict=True))

    def text_hubness(self, vectors: np.ndarray, references: np.ndarray, config: HubnessConfig) -> np.ndarray:
        """``(t,)`` float32 hubness of each index row (:func:`embeddings.hubness.text_hubness` of the index's
        ``(t, d)`` row ``vectors`` over the ``(r, d)`` ``references``), as the version stored it when its
        key (:meth:`~embeddings.hubness.HubnessConfig.key`) matches, else from this version's cache beside
        it (:data:`HUBNESS_CACHE`), else computed now and cached there (atomically).

        A stored sidecar that is missing or does not match its checksum raises ``IndexCorruptError``; a
        cache file that cannot be read or names another version, key or row count is logged, recomputed
        and replaced, never used. A cache that cannot be written (read-only folder) is logged."""
        from embeddings.index_errors import IndexCorruptError

        rows = int(self.index.ntotal)
        key = config.key(references)
        if self.index_dir is not None and self.manifest.get("text_hubness_key") == key:
            path = self.index_dir / "sidecars" / str(self.manifest["text_hubness_sidecar"])
            if not path.is_file():
                raise IndexCorruptError(f"{path} is missing; expected the sidecar named in the index manifest")
            if _digest(path.read_bytes()) != self.manifest.get("text_hubness_sha256"):
                raise IndexCorruptError(f"{path} does not match its sha256 in the index manifest (corrupted or replaced)")
            values = np.load(path, allow_pickle=False)
            if values.shape != (rows,) or values.dtype != np.float32:
                raise IndexCorruptError(f"{path} holds {values.dtype} {values.shape}; expected float32 ({rows},)")
            return values
        if self.index_dir is None:
            return text_hubness(vectors, references, config)
        path = self.index_dir / "sidecars" / HUBNESS_CACHE.format(version=self.version, key=key[:20])
        expected = {"version": self.version, "key": key, "rows": rows}
        cached = _read_hubness_cache(path, expected)
        if cached is not None:
            return cached
        values = text_hubness(vectors, references, config)
        _write_hubness_cache(path, values, expected)
        return values


@dataclass(frozen=True)
class BuildReport:
    version_dir: Path
    scope: str
    titles: int
    texts: int
    embedded: int
    cached: int
    embed_seconds: float
    total_seconds: float
    index_kind: str
    title_strings: int = 0
    title_strings_embedded: int = 0


def build_index_version(
    *,
    titles: pd.DataFrame,
    catalog_version: str,
    scope: str,
    encoder: ItemEncoder,
    cache: EmbeddingCache,
    index_dir: Path,
    kind: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    worker_spec: WorkerEncoderSpec | None = None,
) -> BuildReport:
    """Embed a scope of the catalog and write a new, activated index version under ``index_dir``.

    With ``workers`` > 1 (and ``worker_spec``), the passages and title strings missing from the cache
    are embedded by that many single-thread processes (:func:`embed_with_cache_in_processes`); else
    by ``encoder`` here.
    """
    from embeddings.index import build_index
    from embeddings.index_store import IndexStore

    started = time.perf_counter()
    chosen = select_titles(titles, scope)
    if chosen.empty:
        raise JobError(f"scope {scope!r} selects no titles from a catalog of {len(titles)}")
    texts = catalog_texts(chosen)
    t0 = time.perf_counter()
    if workers > 1:
        if worker_spec is None:
            raise JobError(f"workers={workers} needs a worker_spec (how each process loads the encoder)")
        vectors, embedded = embed_with_cache_in_processes(encoder, worker_spec, texts["text"].tolist(), cache,
                                                          workers=workers, progress=progress)  # fmt: skip
    else:
        vectors, embedded = embed_with_cache(encoder, texts["text"].tolist(), cache, progress=progress)
    embed_seconds = time.perf_counter() - t0
    index = build_index(vectors, texts["text_id"].to_numpy(), kind=kind)  # type: ignore[arg-type]
    ids, tvecs = title_vectors(texts, vectors)

    sidecar = index_dir / "sidecars"
    sidecar.mkdir(parents=True, exist_ok=True)
    meta = texts[["text_id", "title_id", "lang", "kind"]]
    tmp_texts = sidecar / f".tmp-texts-{time.time_ns()}.parquet"
    meta.to_parquet(tmp_texts, index=False)
    texts_digest = _digest(tmp_texts.read_bytes())[:20]
    texts_path = sidecar / SIDECAR_TEXTS.format(digest=texts_digest)
    tmp_texts.replace(texts_path)
    vec_payload = {"title_ids": ids}
    tmp_vec = sidecar / f".tmp-vectors-{time.time_ns()}.npy"
    np.save(tmp_vec, tvecs, allow_pickle=False)
    vec_digest = _digest(tmp_vec.read_bytes() + json.dumps(vec_payload).encode())[:20]
    vec_path = sidecar / SIDECAR_VECTORS.format(digest=vec_digest)
    tmp_vec.replace(vec_path)
    ids_path = sidecar / f"title_ids-{vec_digest}.json"
    ids_path.write_text(json.dumps(ids), encoding="utf-8")
    strings = catalog_title_strings(chosen)
    if workers > 1 and worker_spec is not None:
        string_vectors, strings_embedded = embed_with_cache_in_processes(
            encoder, worker_spec, strings["text"].tolist(), cache, workers=workers, as_queries=True)  # fmt: skip
    else:
        string_vectors, strings_embedded = embed_with_cache(encoder, strings["text"].tolist(), cache, as_queries=True)
    strings_path = _write_sidecar(sidecar, SIDECAR_TITLE_STRINGS, lambda p: strings.to_parquet(p, index=False))
    string_vectors_path = _write_sidecar(sidecar, SIDECAR_TITLE_STRING_VECTORS,
                                         lambda p: np.save(p, string_vectors, allow_pickle=False))  # fmt: skip
    hubness_fields: dict[str, str] = {}
    rows = _row_vectors(index)
    if rows is not None and len(string_vectors):
        # measured on the index's own rows as search reads them back, over every title string of the scope
        hub_config = HubnessConfig()
        hubness = text_hubness(rows, string_vectors, hub_config)
        hubness_path = _write_sidecar(sidecar, SIDECAR_TEXT_HUBNESS, lambda p: np.save(p, hubness, allow_pickle=False))
        hubness_fields = {"text_hubness_sidecar": hubness_path.name,
                          "text_hubness_sha256": _digest(hubness_path.read_bytes()),
                          "text_hubness_key": hub_config.key(string_vectors)}  # fmt: skip

    store = IndexStore(index_dir)
    version_dir = store.write_version(index, {
        "model_fingerprint": encoder.fingerprint,
        "catalog_version": catalog_version,
        "scope": scope,
        "titles": len(ids),
        "texts": len(texts),
        "texts_sidecar": texts_path.name,
        "texts_sha256": _digest(texts_path.read_bytes()),
        "title_vectors_sidecar": vec_path.name,
        "title_vectors_sha256": _digest(vec_path.read_bytes()),
        "title_ids_sidecar": ids_path.name,
        "title_ids_sha256": _digest(ids_path.read_bytes()),
        "title_strings_sidecar": strings_path.name,
        "title_strings_sha256": _digest(strings_path.read_bytes()),
        "title_string_vectors_sidecar": string_vectors_path.name,
        "title_string_vectors_sha256": _digest(string_vectors_path.read_bytes()),
        "title_strings_embedded_as": TITLE_STRINGS_EMBEDDED_AS,
        **hubness_fields,
        "text_policy": "one passage per (title, description language); title-only when no description",
    })  # fmt: skip
    store.prune(keep=3)
    return BuildReport(version_dir, scope, len(ids), len(texts), embedded, len(texts) - embedded,
                       embed_seconds, time.perf_counter() - started, index.kind, len(strings), strings_embedded)  # fmt: skip


def _write_sidecar(folder: Path, pattern: str, write: Callable[[Path], object]) -> Path:
    """Write a sidecar through a temporary file, then name it by its content digest (``pattern``)."""
    tmp = folder / f".tmp-{time.time_ns()}{Path(pattern).suffix}"
    write(tmp)
    path = folder / pattern.format(digest=_digest(tmp.read_bytes())[:20])
    tmp.replace(path)
    return path


def _read_hubness_cache(path: Path, expected: dict[str, Any]) -> np.ndarray | None:
    """The hubness cached at ``path`` when it is readable, its metadata equals ``expected`` and its values
    match their checksum; else ``None`` (a rejected file is logged with the reason)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            values = np.asarray(stored["hubness"])
            meta = json.loads(str(stored["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning("%s cannot be read (%s): recomputing the texts' hubness", path, err)
        return None
    found = {k: meta.get(k) for k in expected} if isinstance(meta, dict) else meta
    if found != expected:
        log.warning("%s was computed for %s, not %s: recomputing the texts' hubness", path, found, expected)
        return None
    if values.dtype != np.float32 or values.shape != (expected["rows"],) or _digest(values.tobytes()) != meta.get("sha256"):
        log.warning("%s holds %s %s that do not match its checksum: recomputing the texts' hubness",
                    path, values.dtype, values.shape)  # fmt: skip
        return None
    return values


def _write_hubness_cache(path: Path, values: np.ndarray, meta: dict[str, Any]) -> None:
    """Write ``values`` and ``meta`` (with their checksum) to ``path`` through a temporary file in the same
    folder, so a reader sees the old file or the whole new one."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{time.time_ns()}-{path.name}")
    try:
        with tmp.open("wb") as out:
            np.savez(out, hubness=values, meta=np.asarray(json.dumps({**meta, "sha256": _digest(values.tobytes())})))
        tmp.replace(path)
    except OSError as err:
        log.warning("cannot cache the texts' hubness at %s (%s): it will be computed again at the next load", path, err)
        tmp.unlink(missing_ok=True)


def _row_vectors(index: FaissVectorIndex) -> np.ndarray | None:
    """``(t, d)`` the index's stored row vectors, ``None`` when it cannot give them back (an IVF index)."""
    faiss_index = index.faiss_index
    if faiss_index is None or not hasattr(faiss_index, "reconstruct_n"):
        return None
    try:
        return np.asarray(faiss_index.reconstruct_n(0, int(faiss_index.ntotal)), dtype=np.float32)
    except RuntimeError:
        return None


def load_index_artifacts(index_dir: Path, expected_model_fingerprint: str | None = None, *,
                         version: str | None = None) -> IndexArtifacts:  # fmt: skip
    """Load the CURRENT index version (or ``version``) and its sidecars, verifying checksums and the model."""
    from embeddings.index_errors import IndexCorruptError
    from embeddings.index_store import IndexStore

    store = IndexStore(index_dir)
    if version is None:
        loaded = store.load_current(expected_model_fingerprint=expected_model_fingerprint)
    else:
        loaded = store.load_version(version, expected_model_fingerprint=expected_model_fingerprint)
    manifest = loaded.manifest
    sidecar = index_dir / "sidecars"
    texts_path = sidecar / manifest["texts_sidecar"]
    vec_path = sidecar / manifest["title_vectors_sidecar"]
    ids_path = sidecar / manifest["title_ids_sidecar"]
    for path, key in ((texts_path, "texts_sha256"), (vec_path, "title_vectors_sha256"), (ids_path, "title_ids_sha256")):
        if not path.is_file():
            raise IndexCorruptError(f"{path} is missing; expected the sidecar named in the index manifest")
        if _digest(path.read_bytes()) != manifest[key]:
            raise IndexCorruptError(f"{path} does not match its sha256 in the index manifest (corrupted or replaced)")
    texts = pd.read_parquet(texts_path)
    title_ids = json.loads(ids_path.read_text(encoding="utf-8"))
    vectors = np.load(vec_path, allow_pickle=False)
    if vectors.shape[0] != len(title_ids):
        raise IndexCorruptError(f"{vec_path} has {vectors.shape[0]} rows; expected {len(title_ids)} titles")
    return IndexArtifacts(loaded.index, texts, title_ids, vectors, manifest, loaded.version,
                          _load_title_strings(sidecar, manifest, vectors.shape[1]), index_dir)  # fmt: skip


def _load_title_strings(sidecar: Path, manifest: dict[str, Any], dim: int) -> TitleStringVectors | None:
    """The version's title strings and their vectors, checked like every sidecar; ``None`` for a
    version built before they were part of the index (its manifest names none)."""
    from embeddings.index_errors import IndexCorruptError

    if "title_strings_sidecar" not in manifest:
        return None
    if manifest.get("title_strings_embedded_as") != TITLE_STRINGS_EMBEDDED_AS:
        raise IndexCorruptError(f"title strings embedded as {manifest.get('title_strings_embedded_as')!r}; "
                                f"expected {TITLE_STRINGS_EMBEDDED_AS!r} (rebuild the index)")  # fmt: skip
    strings_path = sidecar / manifest["title_strings_sidecar"]
    vectors_path = sidecar / manifest["title_string_vectors_sidecar"]
    for path, key in ((strings_path, "title_strings_sha256"), (vectors_path, "title_string_vectors_sha256")):
        if not path.is_file():
            raise IndexCorruptError(f"{path} is missing; expected the sidecar named in the index manifest")
        if _digest(path.read_bytes()) != manifest[key]:
            raise IndexCorruptError(f"{path} does not match its sha256 in the index manifest (corrupted or replaced)")
    strings = pd.read_parquet(strings_path)
    vectors = np.load(vectors_path, allow_pickle=False)
    if vectors.shape != (len(strings), dim):
        raise IndexCorruptError(f"{vectors_path} has shape {vectors.shape}; expected ({len(strings)}, {dim})")
    return TitleStringVectors(strings, vectors)


def load_title_embeddings(index_dir: Path) -> tuple[list[str], np.ndarray]:
    """(title_ids, (n, dim) float32 unit vectors) of the CURRENT index version's scope."""
    artifacts = load_index_artifacts(index_dir)
    return artifacts.title_ids, artifacts.title_vectors
