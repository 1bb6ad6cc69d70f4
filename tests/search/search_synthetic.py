"""A seeded synthetic catalog with known answers, and a deterministic concept encoder, for search tests.

The catalog has the real titles.parquet columns. Descriptions are built from *concepts* that exist
in English, French and Spanish (``CONCEPTS``); :class:`ConceptEncoder` maps every word of any of the
three languages to its concept's seeded vector, so a French query meets an English description in
the dense space exactly as a multilingual model would (and meets nothing lexically). It implements
``encode_queries``/``encode_items`` (float32, unit rows) and counts calls. Test double: tests only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.normalize import GENRES, MATURITY_LEVELS

DIM = 48

# concept -> (en, fr, es)
CONCEPTS: dict[str, tuple[str, str, str]] = {
    "dog": ("dog", "chien", "perro"), "cat": ("cat", "chat", "gato"), "ship": ("ship", "navire", "barco"),
    "space": ("space", "espace", "espacio"), "war": ("war", "guerre", "guerra"),
    "love": ("love", "amour", "amor"), "robot": ("robot", "automate", "androide"),
    "island": ("island", "ile", "isla"), "king": ("king", "roi", "rey"), "ghost": ("ghost", "fantome", "fantasma"),
    "train": ("train", "wagon", "tren"), "city": ("city", "ville", "ciudad"), "school": ("school", "ecole", "escuela"),
    "family": ("family", "famille", "familia"), "detective": ("detective", "enqueteur", "investigador"),
    "dragon": ("dragon", "dragonne", "dragona"), "desert": ("desert", "sahara", "desierto"),
    "ocean": ("ocean", "mer", "mar"), "mountain": ("mountain", "montagne", "montana"),
    "wizard": ("wizard", "sorcier", "mago"), "soldier": ("soldier", "soldat", "soldado"),
    "thief": ("thief", "voleur", "ladron"), "doctor": ("doctor", "medecin", "medico"),
    "secret": ("secret", "cache", "oculto"), "journey": ("journey", "voyage", "viaje"),
    "forest": ("forest", "foret", "bosque"), "music": ("music", "musique", "musica"),
    "horse": ("horse", "cheval", "caballo"), "queen": ("queen", "reine", "reina"),
    "winter": ("winter", "hiver", "invierno"), "garden": ("garden", "jardin", "huerto"),
    "river": ("river", "fleuve", "rio"), "castle": ("castle", "chateau", "castillo"),
    "pirate": ("pirate", "flibustier", "corsario"), "alien": ("alien", "extraterrestre", "marciano"),
    "village": ("village", "hameau", "aldea"), "storm": ("storm", "tempete", "tormenta"),
    "prison": ("prison", "bagne", "carcel"), "circus": ("circus", "cirque", "circo"),
    "treasure": ("treasure", "tresor", "tesoro"),
}  # fmt: skip
_WORD_TO_CONCEPT = {w: c for c, words in CONCEPTS.items() for w in words}
LANGS = ("en", "fr", "es")
FILLER: dict[str, tuple[str, ...]] = {
    "en": ("the", "a", "of", "and", "in", "with", "who", "finds", "story", "about", "young", "old"),
    "fr": ("le", "la", "de", "et", "dans", "avec", "qui", "trouve", "histoire", "jeune", "vieux", "un"),
    "es": ("el", "la", "de", "y", "en", "con", "que", "encuentra", "historia", "joven", "viejo", "un"),
}
_WORD_TO_LANG = {w: lang for i, lang in enumerate(LANGS) for words in CONCEPTS.values() for w in [words[i]]}
for _lang, _words in FILLER.items():
    for _w in _words:
        _WORD_TO_LANG.setdefault(_w, _lang)
LANGUAGE_SIGNATURE = 0.2
"""Each word also carries its language's vector at this weight: like e5, the encoder is biased
towards same-language texts, and a query's language can be read off its embedding."""
FIRST = ("Anna", "Marco", "Lena", "Tom", "Sofia", "Omar", "Yuki", "Pierre", "Ines", "Kofi", "Maya", "Ivan")
LAST = ("Hansen", "Rossi", "Berg", "Dubois", "Garcia", "Okafor", "Tanaka", "Novak", "Silva", "Keller")
COUNTRIES = ("United States", "France", "Spain", "Japan", "Germany", "India", "Côte d'Ivoire")
_TOKEN = re.compile(r"\w+")
# index -> (title, type, maturity, concepts, description language, cast, year): known answers
SPECIALS: dict[int, tuple[str, str, str, list[str], str, list[str], float]] = {
    0: ("The Matrix", "movie", "adults", ["robot", "city", "war"], "en", [], 1999.0),
    1: ("Stranger Things", "show", "teens", ["ghost", "school", "secret"], "en", [], 2016.0),
    2: ("Amélie", "movie", "teens", ["love", "city", "secret"], "fr", [], 2001.0),
    3: ("Dragon Garden", "movie", "kids", ["dragon", "garden", "family"], "en", ["Tom Hanks"], 2005.0),
    4: ("Love", "movie", "adults", ["love", "storm"], "en", ["Tom Segura"], 2015.0),
}


def _seeded_unit(key: str, dim: int = DIM) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    vec = np.random.default_rng(seed).standard_normal(dim)
    return (vec / np.linalg.norm(vec)).astype(np.float32)


@dataclass
class ConceptEncoder:
    """Deterministic multilingual test encoder: a text is the normalised sum of its words' concept vectors.

    Words outside the concept table add a small hashed vector, so unrelated texts are not identical.
    """

    dim: int = DIM
    language_signature: float = LANGUAGE_SIGNATURE
    fingerprint: str = "concept-encoder-v1"
    query_calls: int = 0
    queries_encoded: list[str] = field(default_factory=list)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("wrap a single text in a list")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            vec = np.zeros(self.dim, dtype=np.float32)
            for word in _TOKEN.findall(text.lower()):
                concept = _WORD_TO_CONCEPT.get(word)
                vec += _seeded_unit(concept) if concept else 0.15 * _seeded_unit("w:" + word)
                if word in _WORD_TO_LANG:
                    vec += self.language_signature * _seeded_unit("lang:" + _WORD_TO_LANG[word])
            if not np.any(vec):
                vec = _seeded_unit("empty:" + text)
            out[i] = vec / np.linalg.norm(vec)
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.query_calls += 1
        self.queries_encoded.extend(texts)
        return self._encode(texts)

    def encode_items(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


def _describe(rng: np.random.Generator, concepts: Sequence[str], lang: int) -> str:
    words = []
    for concept in concepts:
        words.extend(rng.choice(FILLER[LANGS[lang]], size=2).tolist())
        words.append(CONCEPTS[concept][lang])
    return " ".join(words).capitalize() + "."


def synthetic_titles(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A titles DataFrame with the catalog's columns; titles ``i`` have concepts ``concepts_of(i)``.

    Built-in known answers: title 0 is "The Matrix" (adults), title 1 "Stranger Things" (a teens
    show), title 2 "Amélie" with French title "Le Fabuleux Destin d'Amélie Poulain" (French
    description only), title 3 a kids film "Dragon Garden" starring Tom Hanks, title 4 "Love" (adults).
    """
    rng = np.random.default_rng(seed)
    concept_names = list(CONCEPTS)
    rows = []
    levels = list(MATURITY_LEVELS.items())
    for i in range(n):
        concepts = concepts_of(i, concept_names)
        title = " ".join(c.capitalize() for c in concepts[:2]) + f" {i}"
        maturity, level = levels[int(rng.choice(4, p=[0.2, 0.15, 0.2, 0.45]))]
        desc_langs = ["en"] if i % 7 else ["en", "fr"]
        if i % 11 == 5:
            desc_langs = ["es"]
        cast = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(int(rng.integers(0, 4)))]
        rows.append({
            "title_id": f"tmdb:{1000 + i}" if i % 3 else f"netflix:s{i}",
            "type": "show" if i % 5 == 1 else "movie",
            "title": title,
            "original_title": title,
            "original_language": "fr" if "fr" in desc_langs else ("es" if "es" in desc_langs else "en"),
            "localized_titles": [{"lang": "en", "title": title}],
            "year": float(1960 + (i * 7) % 60) if i % 13 else np.nan,
            "duration_minutes": None if i % 5 == 1 or i % 9 == 0 else 60 + (i * 17) % 100,
            "genres": sorted({GENRES[(i * 3) % len(GENRES)], GENRES[(i * 5 + 1) % len(GENRES)]}),
            "cast": cast,
            "directors": [f"{rng.choice(FIRST)} {rng.choice(LAST)}"],
            "countries": [COUNTRIES[i % len(COUNTRIES)]],
            "descriptions": [{"lang": lang, "source": "tmdb5000",
                              "text": _describe(rng, concepts, LANGS.index(lang))}
                             for lang in desc_langs],  # fmt: skip
            "description_languages": desc_langs,
            "keywords": [],
            "tags": [],
            "maturity_rating": None,
            "maturity": maturity,
            "maturity_level": level,
            "maturity_known": True,
            "imdb_id": f"tt{9000000 + i}",
            "source_ids": [f"imdb:tt{9000000 + i}"],
            "sources": ["tmdb5000"],
        })  # fmt: skip
    for idx, (title, kind, maturity, concepts, lang, cast, year) in SPECIALS.items():
        row = rows[idx]
        row.update(title=title, original_title=title, type=kind, maturity=maturity,
                   maturity_level=MATURITY_LEVELS[maturity], cast=cast, year=year,
                   descriptions=[{"lang": lang, "source": "tmdb5000",
                                  "text": _describe(rng, concepts, LANGS.index(lang))}],
                   description_languages=[lang], original_language=lang,
                   localized_titles=[{"lang": "en", "title": title}])  # fmt: skip
    rows[2]["original_title"] = "Le Fabuleux Destin d'Amélie Poulain"
    rows[2]["localized_titles"] = [{"lang": "fr", "title": "Le Fabuleux Destin d'Amélie Poulain"},
                                   {"lang": "en", "title": "Amélie"}]  # fmt: skip
    return pd.DataFrame(rows)


def concepts_of(i: int, concept_names: Sequence[str] | None = None) -> list[str]:
    """The concepts title ``i`` is about (three distinct ones, deterministic)."""
    if i in SPECIALS:
        return list(SPECIALS[i][3])
    names = list(concept_names or CONCEPTS)
    k = len(names)
    picks = [i % k, (i * 7 + 3) % k, (i * 13 + 5) % k]
    if len(set(picks)) < 3:
        picks = [i % k, (i + 1) % k, (i + 2) % k]
    return [names[p] for p in picks]


def catalog_texts(titles: pd.DataFrame) -> pd.DataFrame:
    """One text per (title, description language), title-only without one (the embedding job's policy)."""
    rows = []
    for rec in titles.itertuples(index=False):
        descs = list(rec.descriptions)
        if not descs:
            rows.append((rec.title_id, "und", "title", rec.title))
        for d in descs:
            rows.append((rec.title_id, d["lang"], "description", f"{rec.title}. {d['text']}"))
    frame = pd.DataFrame(rows, columns=["title_id", "lang", "kind", "text"])
    frame.insert(0, "text_id", np.arange(len(frame), dtype=np.int64) * 3 + 7)  # ids need not be 0..n-1
    return frame


def build_engine(n: int = 240, seed: int = 0, signature: float = LANGUAGE_SIGNATURE,
                 **kwargs: object):  # type: ignore[no-untyped-def]  # fmt: skip
    """A SearchEngine over the synthetic catalog with a real exact FAISS index and the concept encoder
    (``signature``: the encoder's same-language bias)."""
    from embeddings.index import build_index
    from search.engine import SearchEngine

    titles = synthetic_titles(n, seed)
    texts = catalog_texts(titles)
    encoder = ConceptEncoder(language_signature=signature)
    vectors = encoder.encode_items(texts["text"].tolist())
    index = build_index(vectors, texts["text_id"].to_numpy(), kind="flat", use_gpu=False)
    engine = SearchEngine.build(titles, index=index, texts=texts[["text_id", "title_id", "lang", "kind"]],
                                encoder=encoder, **kwargs)  # type: ignore[arg-type]  # fmt: skip
    return engine, titles, encoder
