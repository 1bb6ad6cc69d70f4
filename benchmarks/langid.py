"""Language identification of short queries: lingua (what search uses) vs py3langid, side by side.

Labelled short texts, three sources:

* the dev half of the multilingual query set, ``marquee-ml:dev`` (hand-written viewer queries with
  their ``lang``; the test half is left out, since the fusion's confidence threshold is chosen here);
* catalog description snippets: the first 3 and the first 6 words of descriptions in each of the
  catalog's description languages (``--per-language`` per language and length; seeded sample);
* :data:`SHORT`: a few short viewer-style queries per language in the scripts the catalog's
  descriptions do not use (written for this benchmark).

Both detectors choose among the same languages (``search.langid.LANGUAGES``). Reported per
detector: accuracy overall, by source, by script, by language, by length (words); precision and
coverage of the answers at or above the confidence thresholds the fusion may use; in-process
latency per query (p50/p99, microseconds) after the models are loaded; load time.

    python benchmarks/langid.py            # quick: 60 snippets per language and length
    python benchmarks/langid.py --full     # 400 per language and length

Prints one JSON object as the last line and writes benchmarks/results/langid.json.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import write_result  # noqa: E402

SHORT: dict[str, list[str]] = {
    "ru": ["фильм про войну", "комедия для всей семьи", "сериал о мафии", "страшный фильм ужасов", "мультфильм про собаку"],
    "uk": ["фільм про кохання", "серіал про лікарів", "комедія для дітей", "фільм жахів про будинок"],
    "el": ["ταινία τρόμου", "κωμωδία για όλη την οικογένεια", "σειρά με ντετέκτιβ", "ταινία για τον πόλεμο"],
    "he": ["סרט אימה", "קומדיה רומנטית", "סדרה על משטרה", "סרט על מלחמה"],
    "ar": ["فيلم رعب", "مسلسل كوميدي", "فيلم عن الحرب", "أفلام وثائقية عن الطبيعة", "فيلم رومانسي مصري"],
    "fa": ["فیلم ترسناک", "سریال کمدی", "فیلم درباره جنگ", "فیلم عاشقانه ایرانی"],
    "hi": ["डरावनी फिल्म", "कॉमेडी फिल्म", "बॉलीवुड रोमांस फिल्म", "युद्ध पर फिल्म"],
    "th": ["หนังผี", "ซีรีส์เกาหลี", "หนังตลก", "หนังสงคราม"],
    "ja": ["怖い映画", "ゾンビ映画", "韓国のドラマ", "アニメ映画 子供向け", "戦争映画"],
    "ko": ["공포 영화", "한국 드라마 추천", "좀비 영화", "로맨틱 코미디"],
    "zh": ["恐怖电影", "韩国电视剧", "爱情喜剧", "战争电影", "动画片"],
    "tr": ["korku filmi", "romantik komedi", "savaş filmi", "türk dizisi"],
    "nl": ["griezelfilm", "romantische komedie", "film over de oorlog", "nederlandse serie"],
    "sv": ["skräckfilm", "romantisk komedi", "film om kriget", "svensk deckare"],
}  # fmt: skip


def _lingua(languages: tuple[str, ...]) -> tuple[Callable[[str], tuple[str | None, float]], float]:
    from search.langid import LanguageIdentifier

    started = time.perf_counter()
    identifier = LanguageIdentifier(languages)
    load = time.perf_counter() - started

    def detect(text: str) -> tuple[str | None, float]:
        found = identifier.identify(text)
        return found.code, found.confidence

    return detect, load


def _py3langid(languages: tuple[str, ...]) -> tuple[Callable[[str], tuple[str | None, float]], float]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    started = time.perf_counter()
    identifier = LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(languages))
    load = time.perf_counter() - started

    def detect(text: str) -> tuple[str | None, float]:
        lang, prob = identifier.classify(text)
        return str(lang), float(prob)

    return detect, load


def samples(catalog_dir: Path, per_language: int, seed: int) -> list[dict[str, str]]:
    """``{"text", "lang", "source"}`` labelled short texts (see the module docstring)."""
    from data.catalog import as_lists, read_titles
    from data.queries import read_queries

    out = [{"text": q.query, "lang": q.lang, "source": "marquee-ml:dev"} for q in read_queries("marquee-ml:dev") if q.lang]
    titles = read_titles(catalog_dir)
    by_lang: dict[str, list[str]] = defaultdict(list)
    for cell in titles["descriptions"]:
        for desc in as_lists(cell):
            words = str(desc["text"]).split()
            if len(words) >= 8:
                by_lang[str(desc["lang"])].append(" ".join(words))
    rng = random.Random(seed)
    for lang, texts in sorted(by_lang.items()):
        picked = rng.sample(texts, min(per_language, len(texts)))
        for n_words in (3, 6):
            out += [{"text": " ".join(t.split()[:n_words]), "lang": lang, "source": f"snippet-{n_words}w"} for t in picked]
    out += [{"text": t, "lang": lang, "source": "short"} for lang, texts in SHORT.items() for t in texts]
    return out


def evaluate(detect: Callable[[str], tuple[str | None, float]], data: list[dict[str, str]],
             thresholds: tuple[float, ...]) -> dict[str, Any]:  # fmt: skip
    from data.queries import script_of

    for row in data:  # warm up: the first call per language and length builds caches; time the second pass
        detect(row["text"])
    groups: dict[str, dict[str, list[int]]] = {k: defaultdict(list) for k in ("source", "script", "lang", "words")}
    times, answers = [], []
    for row in data:
        started = time.perf_counter()
        code, confidence = detect(row["text"])
        times.append(time.perf_counter() - started)
        ok = int(code == row["lang"])
        answers.append((ok, confidence))
        words = len(row["text"].split())
        keys = {"source": row["source"], "script": script_of(row["text"]), "lang": row["lang"],
                "words": "1" if words == 1 else "2-3" if words <= 3 else "4-6" if words <= 6 else "7+"}  # fmt: skip
        for group, key in keys.items():
            groups[group][key].append(ok)
    at = {}
    for threshold in thresholds:
        kept = [ok for ok, conf in answers if conf >= threshold]
        at[str(threshold)] = {"coverage": round(len(kept) / len(answers), 4),
                              "precision": round(sum(kept) / len(kept), 4) if kept else None}  # fmt: skip
    times_us = sorted(t * 1e6 for t in times)
    return {
        "accuracy": round(sum(ok for ok, _ in answers) / len(answers), 4),
        "by": {g: {k: {"n": len(v), "accuracy": round(sum(v) / len(v), 4)} for k, v in sorted(d.items())}
               for g, d in groups.items()},  # fmt: skip
        "at_confidence": at,
        "latency_us": {"p50": round(times_us[len(times_us) // 2], 1), "p99": round(times_us[int(len(times_us) * 0.99)], 1)},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--per-language", type=int, default=None)
    parser.add_argument("--catalog-dir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from search.langid import LANGUAGES
    from services.settings import Settings

    catalog_dir = args.catalog_dir or Settings().catalog_dir
    per_language = args.per_language or (400 if args.full else 60)
    data = samples(catalog_dir, per_language, args.seed)
    thresholds = (0.0, 0.2, 0.3, 0.4, 0.5)
    results: dict[str, Any] = {}
    for name, factory in (("lingua", _lingua), ("py3langid", _py3langid)):
        detect, load = factory(LANGUAGES)
        results[name] = {"load_s": round(load, 2), **evaluate(detect, data, thresholds)}
    ratios = {
        "accuracy_lingua_over_py3langid": round(results["lingua"]["accuracy"] / max(results["py3langid"]["accuracy"], 1e-9), 3),
        "p50_latency_lingua_over_py3langid": round(results["lingua"]["latency_us"]["p50"]
                                                    / max(results["py3langid"]["latency_us"]["p50"], 1e-9), 3),
    }  # fmt: skip
    config = {"languages": list(LANGUAGES), "per_language": per_language, "texts": len(data), "seed": args.seed,
              "sources": sorted({row["source"] for row in data})}  # fmt: skip
    return write_result("langid", config, results, ratios)


if __name__ == "__main__":
    main()
