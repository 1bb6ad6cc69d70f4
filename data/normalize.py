"""Text normalization, the shared genre vocabulary and the maturity ladder."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal, get_args

_ARTICLE_SUFFIX = re.compile(
    r"^(?P<body>.+), (?P<article>The|A|An|Les|Le|La|L'|Il|Lo|I|Gli|Das|Der|Die|Den|Det|El|Los|Las|O|Os|As|Un|Une|Uno|Una|Ein|Eine)$"
)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Accent- and case-folded text with whitespace collapsed (for lexical matching)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def clean_text(text: str | None) -> str:
    """Strip control characters (keeps newlines as spaces), NBSP and surrounding whitespace."""
    if not text:
        return ""
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zs", "Zl", "Zp") else ch for ch in text)
    return " ".join(text.split())


def move_article(title: str) -> str:
    """'Matrix, The' -> 'The Matrix'; "Avventura, L'" -> "L'Avventura"."""
    match = _ARTICLE_SUFFIX.match(title)
    if not match:
        return title
    article = match.group("article")
    sep = "" if article.endswith("'") else " "
    return f"{article}{sep}{match.group('body')}"


def title_key(title: str) -> str:
    """Normalized title for entity resolution: folded, '&'->'and', punctuation removed, article moved."""
    folded = fold(move_article(clean_text(title))).replace("&", " and ")
    return _NON_ALNUM.sub(" ", folded).strip()


# ---------------------------------------------------------------- genres: one vocabulary

GENRES: tuple[str, ...] = (
    "action", "adventure", "animation", "anime", "children", "classic", "comedy", "crime", "cult",
    "documentary", "drama", "faith", "family", "fantasy", "film-noir", "history", "horror",
    "independent", "international", "lgbtq", "music", "musical", "mystery", "reality", "romance",
    "science-nature", "sci-fi", "sports", "stand-up", "talk-show", "teen", "thriller", "tv-movie",
    "war", "western",
)  # fmt: skip

NETFLIX_GENRES: dict[str, tuple[str, ...]] = {
    "International Movies": ("international",),
    "International TV Shows": ("international",),
    "Dramas": ("drama",),
    "TV Dramas": ("drama",),
    "Comedies": ("comedy",),
    "TV Comedies": ("comedy",),
    "Documentaries": ("documentary",),
    "Docuseries": ("documentary",),
    "Action & Adventure": ("action", "adventure"),
    "TV Action & Adventure": ("action", "adventure"),
    "Independent Movies": ("independent",),
    "Children & Family Movies": ("children", "family"),
    "Kids' TV": ("children",),
    "Romantic Movies": ("romance",),
    "Romantic TV Shows": ("romance",),
    "Thrillers": ("thriller",),
    "TV Thrillers": ("thriller",),
    "Crime TV Shows": ("crime",),
    "Music & Musicals": ("music", "musical"),
    "Horror Movies": ("horror",),
    "TV Horror": ("horror",),
    "Stand-Up Comedy": ("stand-up", "comedy"),
    "Stand-Up Comedy & Talk Shows": ("stand-up", "talk-show", "comedy"),
    "Reality TV": ("reality",),
    "Sci-Fi & Fantasy": ("sci-fi", "fantasy"),
    "TV Sci-Fi & Fantasy": ("sci-fi", "fantasy"),
    "Sports Movies": ("sports",),
    "Anime Series": ("anime", "animation"),
    "Anime Features": ("anime", "animation"),
    "Classic Movies": ("classic",),
    "Classic & Cult TV": ("classic", "cult"),
    "Cult Movies": ("cult",),
    "LGBTQ Movies": ("lgbtq",),
    "TV Mysteries": ("mystery",),
    "Science & Nature TV": ("science-nature", "documentary"),
    "Teen TV Shows": ("teen",),
    "Faith & Spirituality": ("faith",),
    # carry no genre: the country/language fields say it better
    "British TV Shows": (),
    "Spanish-Language TV Shows": (),
    "Korean TV Shows": (),
    "Movies": (),
    "TV Shows": (),
}

MOVIELENS_GENRES: dict[str, tuple[str, ...]] = {
    "Action": ("action",), "Adventure": ("adventure",), "Animation": ("animation",),
    "Children": ("children",), "Comedy": ("comedy",), "Crime": ("crime",),
    "Documentary": ("documentary",), "Drama": ("drama",), "Fantasy": ("fantasy",),
    "Film-Noir": ("film-noir",), "Horror": ("horror",), "Musical": ("musical",),
    "Mystery": ("mystery",), "Romance": ("romance",), "Sci-Fi": ("sci-fi",),
    "Thriller": ("thriller",), "War": ("war",), "Western": ("western",),
    "IMAX": (), "(no genres listed)": (),
}  # fmt: skip

TMDB_GENRES: dict[str, tuple[str, ...]] = {
    "Action": ("action",), "Adventure": ("adventure",), "Animation": ("animation",),
    "Comedy": ("comedy",), "Crime": ("crime",), "Documentary": ("documentary",),
    "Drama": ("drama",), "Family": ("family",), "Fantasy": ("fantasy",), "Foreign": ("international",),
    "History": ("history",), "Horror": ("horror",), "Music": ("music",), "Mystery": ("mystery",),
    "Romance": ("romance",), "Science Fiction": ("sci-fi",), "TV Movie": ("tv-movie",),
    "Thriller": ("thriller",), "War": ("war",), "Western": ("western",),
}  # fmt: skip


def map_genres(labels: list[str], vocabulary: dict[str, tuple[str, ...]]) -> tuple[list[str], list[str]]:
    """Map source labels to the shared vocabulary. Returns (genres sorted, unknown labels)."""
    genres: set[str] = set()
    unknown: list[str] = []
    for label in labels:
        label = label.strip()
        if not label:
            continue
        if label in vocabulary:
            genres.update(vocabulary[label])
        else:
            unknown.append(label)
    return sorted(genres), unknown


# ---------------------------------------------------------------- maturity ladder

MaturityName = Literal["kids", "older_kids", "teens", "adults"]
"""A rung's name as requests and responses spell it, lowest first."""

MATURITY_LEVELS: dict[str, int] = {name: level for level, name in enumerate(get_args(MaturityName))}
"""The ladder (kids 0 .. adults 3). A profile at level L may see titles whose level is <= L. Unknown ratings map to
adults: a title nobody rated is never kids-safe."""

_RATING_TO_MATURITY: dict[str, str] = {
    "TV-Y": "kids", "TV-G": "kids", "G": "kids",
    "TV-Y7": "older_kids", "TV-Y7-FV": "older_kids", "PG": "older_kids", "TV-PG": "older_kids",
    "PG-13": "teens", "TV-14": "teens",
    "R": "adults", "NC-17": "adults", "TV-MA": "adults",
}  # fmt: skip


def maturity_of(rating: str | None) -> tuple[str, int, bool]:
    """Map a US rating to (maturity name, level, known). Unknown/unrated -> ('adults', 3, False)."""
    name = _RATING_TO_MATURITY.get((rating or "").strip())
    if name is None:
        return "adults", MATURITY_LEVELS["adults"], False
    return name, MATURITY_LEVELS[name], True
