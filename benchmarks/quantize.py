"""Int8 dynamic quantization of the passage encoder vs the float model: cosine and throughput in one run.

The candidate: ``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear`` of the bundled
encoder (weights int8 per output channel, activations quantized per batch at run time), used for
catalog passages only (:func:`embeddings.encoder.quantize_item_model`). The baseline: the same
encoder in float32, the same texts, the same batching, the same process.

* Texts: real catalog passages exactly as the index job writes them (:func:`embeddings.job.catalog_texts`
  over the full catalog), a seeded sample of ``--per-language`` passages for every description
  language plus the title-only passages (``und``).
* Cosine: int8 vector vs float vector of each passage: min, p1, p5, mean, overall and per language.
* Throughput: passages/s of each side over the whole sample; rounds alternate which side goes first
  and the ratio is the median of the per-round ratios (the box is shared and noisy).

The issue's rule: adopt int8 for the full-scope build only when cosine >= 0.99 against the float model
(the ``adopt`` field says whether the measured min and p1 meet it).

    python benchmarks/quantize.py            # quick: 70 passages per language (~600), 2 rounds
    python benchmarks/quantize.py --full     # 300 passages per language, 3 rounds

Prints one JSON object as the last line and writes benchmarks/results/quantize.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import write_result  # noqa: E402

THRESHOLD = 0.99


def _sample_texts(catalog_dir: Path, per_language: int, seed: int) -> tuple[list[str], list[str]]:
    """(texts, languages): ``per_language`` passages of every description language and of ``und``."""
    from data.catalog import read_titles
    from embeddings.job import catalog_texts

    texts = catalog_texts(read_titles(catalog_dir))
    rng = np.random.default_rng(seed)
    out_texts: list[str] = []
    out_langs: list[str] = []
    for lang, group in sorted(texts.groupby("lang"), key=lambda kv: str(kv[0])):
        rows = rng.choice(len(group), size=min(per_language, len(group)), replace=False)
        for i in sorted(rows.tolist()):
            out_texts.append(str(group["text"].iloc[i]))
            out_langs.append(str(lang))
    return out_texts, out_langs


def _timed(encode: Any, texts: list[str]) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    vectors = encode(texts)
    return np.asarray(vectors, dtype=np.float32), time.perf_counter() - started


def _cosine_summary(cosines: np.ndarray) -> dict[str, float]:
    return {
        "min": round(float(cosines.min()), 5),
        "p1": round(float(np.percentile(cosines, 1)), 5),
        "p5": round(float(np.percentile(cosines, 5)), 5),
        "mean": round(float(cosines.mean()), 5),
        "count": int(len(cosines)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--per-language", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    per_language = args.per_language or (300 if args.full else 70)
    rounds = args.rounds or (3 if args.full else 2)

    from embeddings.encoder import load_encoder, quantized_item_encoder
    from services.settings import get_settings

    settings = get_settings()
    texts, langs = _sample_texts(settings.catalog_dir, per_language, args.seed)
    started = time.perf_counter()
    floating = load_encoder(settings.model, device="cpu", cache_dir=settings.cache_dir)
    load_float_s = time.perf_counter() - started
    started = time.perf_counter()
    int8 = quantized_item_encoder(floating)
    quantize_s = time.perf_counter() - started
    tokens = floating.token_counts(texts)

    float_seconds: list[float] = []
    int8_seconds: list[float] = []
    float_vectors = int8_vectors = np.empty((0, floating.dim), dtype=np.float32)
    for round_index in range(rounds):
        order = [("float", floating), ("int8", int8)]
        if round_index % 2:
            order.reverse()
        for name, encoder in order:
            vectors, seconds = _timed(encoder.encode_items, texts)
            if name == "float":
                float_vectors = vectors
                float_seconds.append(seconds)
            else:
                int8_vectors = vectors
                int8_seconds.append(seconds)
    cosines = np.sum(float_vectors * int8_vectors, axis=1)
    lang_array = np.asarray(langs)
    per_lang = {lang: _cosine_summary(cosines[lang_array == lang]) for lang in sorted(set(langs))}
    overall = _cosine_summary(cosines)
    round_ratios = [f / q for f, q in zip(float_seconds, int8_seconds, strict=True)]
    adopt = overall["min"] >= THRESHOLD and overall["p1"] >= THRESHOLD
    worst = int(np.argmin(cosines))

    results = {
        "texts": len(texts),
        "tokens_mean": round(float(np.mean(tokens)), 1),
        "tokens_max": int(np.max(tokens)),
        "float_passages_per_s": round(len(texts) / statistics.median(float_seconds), 2),
        "int8_passages_per_s": round(len(texts) / statistics.median(int8_seconds), 2),
        "float_seconds": [round(s, 2) for s in float_seconds],
        "int8_seconds": [round(s, 2) for s in int8_seconds],
        "cosine_int8_vs_float": overall,
        "cosine_by_language": per_lang,
        "worst_text": {"lang": langs[worst], "cosine": round(float(cosines[worst]), 5), "text": texts[worst][:160]},
        "load_float_s": round(load_float_s, 2),
        "quantize_s": round(quantize_s, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "threshold": THRESHOLD,
        "adopt": adopt,
    }
    ratios = {
        "int8_throughput_vs_float": round(statistics.median(round_ratios), 3),
        "int8_min_cosine_vs_threshold": round(overall["min"] / THRESHOLD, 4),
    }
    config = {"per_language": per_language, "rounds": rounds, "seed": args.seed, "languages": sorted(set(langs)),
              "quantization": "torch.ao.quantization.quantize_dynamic({nn.Linear}, qint8)",
              "max_item_tokens": floating.max_item_tokens, "batch_size": floating.batch_size,
              "max_batch_tokens": floating.max_batch_tokens}  # fmt: skip
    write_result("quantize", config, results, ratios)


if __name__ == "__main__":
    main()
