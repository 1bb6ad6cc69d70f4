"""Text normalization, the shared genre vocabulary, the maturity ladder and the one rule that gives a title its
maturity (a US rating when a source has one, else a conservative inference from its genres)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


# ---------------------------------------------------------------- countries by language

NATIONAL_LANGUAGES: dict[str, tuple[str, ...]] = {
    "France": ("fr",), "South Korea": ("ko",), "Japan": ("ja",), "India": ("hi", "ta", "te", "ml", "kn", "bn", "mr"),
    "Germany": ("de",), "Italy": ("it",), "Turkey": ("tr",), "China": ("zh", "cn"), "Thailand": ("th",),
    "Russia": ("ru",), "Israel": ("he",), "Indonesia": ("id",), "Denmark": ("da",), "Sweden": ("sv",),
    "Norway": ("no", "nb"), "Poland": ("pl",), "Netherlands": ("nl",), "Greece": ("el",),
}  # fmt: skip
"""Original languages spoken mainly in one country: a title whose countries are unknown (MovieLens-only and
TMDB-language-file titles) but whose original language is one of these is that country's, for search's
country constraint and for the evaluation's intent sets alike ("french film" finds Comme un chef, which has no
country in the data)."""


def of_country(countries: Sequence[str], original_language: str | None, country: str) -> bool:
    """Whether a title is ``country``'s: listed among its ``countries``, or none listed and its original
    language one of the country's own (:data:`NATIONAL_LANGUAGES`)."""
    if country in countries:
        return True
    return not countries and bool(original_language) and original_language in NATIONAL_LANGUAGES.get(country, ())


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


MaturitySource = Literal["rating", "inferred", "unknown"]
"""Where a title's maturity comes from: a US rating, the genre inference below, or nothing (adults-only)."""

INFERENCE_EXCLUDED_GENRES: frozenset[str] = frozenset({"horror", "thriller", "crime", "war", "film-noir", "mystery"})
"""Any of these genres stops the inference, whatever else the title carries (MovieLens labels Himizu (2011), a
violent Japanese drama, Children|Crime|Drama; The Addams Family (1991) Children|Comedy|Fantasy|Horror)."""

INFERENCE_RULES: tuple[tuple[frozenset[str], MaturityName], ...] = (
    (frozenset({"children", "family"}), "older_kids"),
    (frozenset({"children", "animation"}), "teens"),
    (frozenset({"family", "animation"}), "teens"),
)
"""(genres all present, rung inferred), first match wins. Only two sources agreeing reach older_kids: MovieLens
says Children and TMDB says Family (neither source has the other's label). Checked against the 1,017
Netflix-rated titles that also carry MovieLens or TMDB genres (notes/kids-page.md): from those genres alone no
rated title gets a rung below its rating. Children+Family: 48 rated titles, none above older_kids but 41 of them
PG against 7 G, so no inference reaches the kids rung. One source's pair is weaker and reaches teens only:
Children+Animation (MovieLens) holds a PG-13 rated title (Bebe's Kids), Family+Animation (TMDB) an unrated
PG-13 film (The Simpsons Movie). One kids label alone gives nothing: MovieLens calls Sisters (2015), an R-rated comedy, Children|Comedy."""

INFERENCE_WITHHELD: frozenset[str] = frozenset({"tmdb:10748", "tmdb:268171"})
"""Titles the rules would place on a rung below their US theatrical rating, found by reading every inferred
title by hand (notes/kids-page.md); no source in the data rates them, so they stay unknown (adults-only):
St. Trinian's (2007) and Elsa & Fred (2014), both PG-13, both Children (MovieLens) and Family (TMDB)."""


@dataclass(frozen=True)
class TitleMaturity:
    """A title's maturity: rung ``name`` and ``level`` (``MATURITY_LEVELS``), where it comes from (``source``)
    and the US ``rating`` the source gives, if any ("NR" kept: a label that is no age rating)."""

    name: MaturityName
    level: int
    source: MaturitySource
    rating: str | None = None

    @property
    def rated(self) -> bool:
        """A source gives a US age rating (``source == "rating"``)."""
        return self.source == "rating"


def infer_maturity(genres: Iterable[str], title_id: str | None = None) -> MaturityName | None:
    """The rung ``INFERENCE_RULES`` give a title from its shared-vocabulary genres; None when they give none
    (an excluded genre, no rule matching, or ``title_id`` in ``INFERENCE_WITHHELD``)."""
    present = frozenset(genres)
    if present & INFERENCE_EXCLUDED_GENRES or title_id in INFERENCE_WITHHELD:
        return None
    for needed, rung in INFERENCE_RULES:
        if needed <= present:
            return rung
    return None


def title_maturity(rating: str | None, genres: Iterable[str], title_id: str | None = None) -> TitleMaturity:
    """The one rule for a title's maturity: its US rating when one maps to the ladder, else the rung its genres
    give (``infer_maturity``; never the kids rung), else adults-only with source "unknown"."""
    label = (rating or "").strip() or None
    name, level, known = maturity_of(label)
    if known:
        return TitleMaturity(name, level, "rating", label)  # type: ignore[arg-type]
    inferred = infer_maturity(genres, title_id)
    if inferred is not None:
        return TitleMaturity(inferred, MATURITY_LEVELS[inferred], "inferred", label)
    return TitleMaturity("adults", MATURITY_LEVELS["adults"], "unknown", label)
