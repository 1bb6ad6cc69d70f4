"""Row titles and reasons in the viewer's UI language: a small message catalog.

Every row kind has a title template and one reason template per reason code, in each language of
:data:`UI_LANGUAGES`: English, French, Spanish and German inline here, and Italian, Portuguese, Dutch,
Polish, Russian, Turkish, Greek, Hebrew, Arabic, Hindi, Thai, Japanese, Korean and Chinese from
:mod:`ranking.row_messages` (merged into the same tables at import). Unsupported UI languages fall back to English
(:func:`resolve_ui_language`). Genre and language names are translated here too, so a genre row reads
"Comédies" in French and a language row "Series en coreano" in Spanish.

Templates use ``str.format`` fields: ``{title}`` (an evidence title), ``{genre}``, ``{language}``,
``{share}`` (a percentage), ``{count}``, ``{days}``.
"""

from __future__ import annotations

from typing import Any

from data.events import language_subtag
from ranking.row_messages import GENRE_ORDER, LANGUAGE_ORDER, MESSAGES

__all__ = [
    "DEFAULT_UI_LANGUAGE",
    "GENRE_NAMES",
    "LANGUAGE_NAMES",
    "REASONS",
    "TITLES",
    "UI_LANGUAGES",
    "genre_name",
    "language_name",
    "reason_text",
    "resolve_ui_language",
    "row_title",
]

UI_LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "de", *MESSAGES)
"""UI languages with a full message catalog."""
DEFAULT_UI_LANGUAGE = "en"

TITLES: dict[str, dict[str, str]] = {
    "continue_watching": {"en": "Continue Watching", "fr": "Reprendre la lecture", "es": "Seguir viendo",
                          "de": "Weiterschauen"},
    "top_picks": {"en": "Top Picks for You", "fr": "Nos meilleurs choix pour vous",
                  "es": "Nuestras mejores recomendaciones para ti", "de": "Top-Empfehlungen für dich"},
    "because_you_watched": {"en": "Because You Watched {title}", "fr": "Parce que vous avez regardé {title}",
                            "es": "Porque viste {title}", "de": "Weil du {title} angesehen hast"},
    "trending": {"en": "Trending Now", "fr": "Tendances actuelles", "es": "Tendencias ahora",
                 "de": "Aktuell im Trend"},
    "new_arrivals": {"en": "New Arrivals", "fr": "Nouveautés", "es": "Novedades", "de": "Neu hinzugefügt"},
    "popular": {"en": "Popular on Marquee", "fr": "Populaires sur Marquee", "es": "Populares en Marquee",
                "de": "Beliebt auf Marquee"},
    "genre": {"en": "{genre}", "fr": "{genre}", "es": "{genre}", "de": "{genre}"},
    "language_movie": {"en": "{language} Movies", "fr": "Films en {language}", "es": "Películas en {language}",
                       "de": "Filme auf {language}"},
    "language_show": {"en": "{language} Series", "fr": "Séries en {language}", "es": "Series en {language}",
                      "de": "Serien auf {language}"},
    "rewatch": {"en": "Watch It Again", "fr": "À revoir", "es": "Volver a ver", "de": "Nochmal ansehen"},
}  # fmt: skip
"""Row title templates by row kind (language rows by ``language_<type>``) and UI language."""

REASONS: dict[str, dict[str, str]] = {
    "in_progress": {"en": "You started {count} of these and have not finished them",
                    "fr": "Vous avez commencé {count} de ces titres sans les terminer",
                    "es": "Empezaste {count} de estos títulos y no los terminaste",
                    "de": "Du hast {count} dieser Titel begonnen und nicht beendet"},
    "model_top": {"en": "The titles the ranking model scores highest for you",
                  "fr": "Les titres que le modèle de classement juge les meilleurs pour vous",
                  "es": "Los títulos que el modelo de ranking puntúa más alto para ti",
                  "de": "Die Titel, die das Ranking-Modell für dich am höchsten bewertet"},
    "similar_to_watched": {"en": "Similar to {title}, which you watched recently",
                           "fr": "Proches de {title}, que vous avez regardé récemment",
                           "es": "Parecidos a {title}, que viste hace poco",
                           "de": "Ähnlich wie {title}, das du kürzlich gesehen hast"},
    "similar_to_liked": {"en": "Similar to {title}, which you said you like",
                         "fr": "Proches de {title}, que vous avez dit aimer",
                         "es": "Parecidos a {title}, que dijiste que te gusta",
                         "de": "Ähnlich wie {title}, das dir laut deiner Auswahl gefällt"},
    "trending": {"en": "Gaining viewers fastest right now",
                 "fr": "Ceux qui gagnent le plus de spectateurs en ce moment",
                 "es": "Los que más espectadores están ganando ahora",
                 "de": "Gewinnen gerade am schnellsten Zuschauer"},
    "recently_added": {"en": "Added to the catalog in the last {days} days",
                       "fr": "Ajoutés au catalogue ces {days} derniers jours",
                       "es": "Añadidos al catálogo en los últimos {days} días",
                       "de": "In den letzten {days} Tagen zum Katalog hinzugefügt"},
    "latest_added": {"en": "The most recent additions to the catalog",
                     "fr": "Les derniers ajouts au catalogue",
                     "es": "Las incorporaciones más recientes al catálogo",
                     "de": "Die neuesten Titel im Katalog"},
    "popular": {"en": "The most watched titles suitable for this profile",
                "fr": "Les titres les plus regardés adaptés à ce profil",
                "es": "Los títulos más vistos adecuados para este perfil",
                "de": "Die meistgesehenen Titel, die zu diesem Profil passen"},
    "genre_affinity": {"en": "{genre}: {share}% of your recent viewing",
                       "fr": "{genre} : {share} % de vos visionnages récents",
                       "es": "{genre}: el {share} % de lo que has visto últimamente",
                       "de": "{genre}: {share} % deiner zuletzt gesehenen Titel"},
    "genre_liked": {"en": "You said you like {genre}", "fr": "Vous avez dit aimer : {genre}",
                    "es": "Dijiste que te gusta: {genre}", "de": "Du magst laut deiner Auswahl: {genre}"},
    "genre_explore": {"en": "A popular genre, to learn what you like",
                      "fr": "Un genre populaire, pour découvrir vos goûts",
                      "es": "Un género popular, para conocer tus gustos",
                      "de": "Ein beliebtes Genre, um deinen Geschmack kennenzulernen"},
    "language_preferred": {"en": "{language} is one of your preferred languages",
                           "fr": "Le {language} fait partie de vos langues préférées",
                           "es": "El {language} es uno de tus idiomas preferidos",
                           "de": "{language} ist eine deiner bevorzugten Sprachen"},
    "language_affinity": {"en": "You often watch titles in {language}",
                          "fr": "Vous regardez souvent des titres en {language}",
                          "es": "Ves a menudo títulos en {language}",
                          "de": "Du schaust oft Titel auf {language}"},
    "similar_to_title": {"en": "Similar to {title}", "fr": "Proche de {title}", "es": "Parecido a {title}",
                         "de": "Ähnlich wie {title}"},
    "rewatch": {"en": "Titles you finished and may enjoy again",
                "fr": "Des titres terminés que vous aimerez peut-être revoir",
                "es": "Títulos que terminaste y que quizá quieras volver a ver",
                "de": "Titel, die du beendet hast und vielleicht nochmal sehen möchtest"},
}  # fmt: skip
"""Reason templates by reason code and UI language."""

GENRE_NAMES: dict[str, tuple[str, str, str, str]] = {
    # genre: (en, fr, es, de) — plural display names, usable both as a row title and inside a sentence
    "action": ("Action", "Action", "Acción", "Action"),
    "adventure": ("Adventure", "Aventure", "Aventura", "Abenteuer"),
    "animation": ("Animation", "Animation", "Animación", "Animation"),
    "anime": ("Anime", "Anime", "Anime", "Anime"),
    "children": ("Kids' Picks", "Pour les enfants", "Para niños", "Für Kinder"),
    "classic": ("Classics", "Classiques", "Clásicos", "Klassiker"),
    "comedy": ("Comedies", "Comédies", "Comedias", "Komödien"),
    "crime": ("Crime", "Policiers", "Crimen", "Krimis"),
    "cult": ("Cult Favorites", "Films cultes", "De culto", "Kultfilme"),
    "documentary": ("Documentaries", "Documentaires", "Documentales", "Dokumentationen"),
    "drama": ("Dramas", "Drames", "Dramas", "Dramen"),
    "faith": ("Faith & Spirituality", "Foi et spiritualité", "Fe y espiritualidad", "Glaube & Spiritualität"),
    "family": ("Family", "En famille", "En familia", "Familie"),
    "fantasy": ("Fantasy", "Fantastique", "Fantasía", "Fantasy"),
    "film-noir": ("Film Noir", "Films noirs", "Cine negro", "Film noir"),
    "history": ("History", "Histoire", "Historia", "Geschichte"),
    "horror": ("Horror", "Horreur", "Terror", "Horror"),
    "independent": ("Independent", "Indépendants", "Independientes", "Independent"),
    "international": ("International", "International", "Internacional", "International"),
    "lgbtq": ("LGBTQ", "LGBTQ", "LGBTQ", "LGBTQ"),
    "music": ("Music", "Musique", "Música", "Musik"),
    "musical": ("Musicals", "Comédies musicales", "Musicales", "Musicals"),
    "mystery": ("Mysteries", "Mystère", "Misterio", "Mystery"),
    "reality": ("Reality TV", "Téléréalité", "Telerrealidad", "Reality-TV"),
    "romance": ("Romance", "Romance", "Romance", "Romantik"),
    "science-nature": ("Science & Nature", "Science et nature", "Ciencia y naturaleza", "Wissenschaft & Natur"),
    "sci-fi": ("Sci-Fi", "Science-fiction", "Ciencia ficción", "Science-Fiction"),
    "sports": ("Sports", "Sport", "Deportes", "Sport"),
    "stand-up": ("Stand-Up Comedy", "Stand-up", "Monólogos", "Stand-up-Comedy"),
    "talk-show": ("Talk Shows", "Talk-shows", "Programas de entrevistas", "Talkshows"),
    "teen": ("Teen", "Ados", "Adolescentes", "Teenager"),
    "thriller": ("Thrillers", "Thrillers", "Suspense", "Thriller"),
    "tv-movie": ("TV Movies", "Téléfilms", "Películas para TV", "Fernsehfilme"),
    "war": ("War", "Guerre", "Bélicas", "Krieg"),
    "western": ("Westerns", "Westerns", "Wésterns", "Western"),
}  # fmt: skip
"""Display names of ``data.normalize.GENRES`` in en, fr, es, de."""

LANGUAGE_NAMES: dict[str, tuple[str, str, str, str]] = {
    # ISO 639-1: (en adjective, fr, es, de) — the forms the language-row templates expect
    "en": ("English", "anglais", "inglés", "Englisch"),
    "fr": ("French", "français", "francés", "Französisch"),
    "es": ("Spanish", "espagnol", "español", "Spanisch"),
    "de": ("German", "allemand", "alemán", "Deutsch"),
    "it": ("Italian", "italien", "italiano", "Italienisch"),
    "pt": ("Portuguese", "portugais", "portugués", "Portugiesisch"),
    "pl": ("Polish", "polonais", "polaco", "Polnisch"),
    "da": ("Danish", "danois", "danés", "Dänisch"),
    "nl": ("Dutch", "néerlandais", "neerlandés", "Niederländisch"),
    "sv": ("Swedish", "suédois", "sueco", "Schwedisch"),
    "no": ("Norwegian", "norvégien", "noruego", "Norwegisch"),
    "fi": ("Finnish", "finnois", "finés", "Finnisch"),
    "ru": ("Russian", "russe", "ruso", "Russisch"),
    "ja": ("Japanese", "japonais", "japonés", "Japanisch"),
    "ko": ("Korean", "coréen", "coreano", "Koreanisch"),
    "zh": ("Chinese", "chinois", "chino", "Chinesisch"),
    "hi": ("Hindi", "hindi", "hindi", "Hindi"),
    "ar": ("Arabic", "arabe", "árabe", "Arabisch"),
    "tr": ("Turkish", "turc", "turco", "Türkisch"),
}  # fmt: skip
"""Names of the languages language rows can be built for, in en, fr, es, de."""

_COLUMN = {lang: i for i, lang in enumerate(UI_LANGUAGES[:4])}
_EXTRA_GENRES: dict[str, dict[str, str]] = {}
_EXTRA_LANGUAGES: dict[str, dict[str, str]] = {}
for _lang, _table in MESSAGES.items():
    for _key, _text in _table["titles"].items():  # type: ignore[attr-defined]
        TITLES[_key][_lang] = _text
    for _key, _text in _table["reasons"].items():  # type: ignore[attr-defined]
        REASONS[_key][_lang] = _text
    _EXTRA_GENRES[_lang] = dict(zip(GENRE_ORDER, _table["genres"], strict=True))  # type: ignore[call-overload]
    _EXTRA_LANGUAGES[_lang] = dict(zip(LANGUAGE_ORDER, _table["languages"], strict=True))  # type: ignore[call-overload]


def resolve_ui_language(requested: str | None, fallback: str | None = None) -> str:
    """The first of ``requested``, ``fallback`` (e.g. the profile's UI language) with a message catalog,
    else English. Region subtags are ignored (``fr-CA`` -> ``fr``)."""
    for candidate in (requested, fallback):
        if candidate:
            base = language_subtag(candidate)
            if base in UI_LANGUAGES:
                return base
    return DEFAULT_UI_LANGUAGE


def genre_name(genre: str, ui_language: str) -> str:
    """Display name of a genre; unknown genres are title-cased."""
    names = GENRE_NAMES.get(genre)
    if ui_language in _EXTRA_GENRES and genre in _EXTRA_GENRES[ui_language]:
        return _EXTRA_GENRES[ui_language][genre]
    return names[_COLUMN.get(ui_language, 0)] if names else genre.replace("-", " ").title()


def language_name(language: str, ui_language: str) -> str:
    """Name of a content language in the UI language (the code itself when unknown)."""
    names = LANGUAGE_NAMES.get(language)
    if ui_language in _EXTRA_LANGUAGES and language in _EXTRA_LANGUAGES[ui_language]:
        return _EXTRA_LANGUAGES[ui_language][language]
    return names[_COLUMN.get(ui_language, 0)] if names else language


def _render(table: dict[str, dict[str, str]], key: str, ui_language: str, params: dict[str, Any]) -> str:
    if key not in table:
        raise KeyError(f"no message {key!r}; expected one of {sorted(table)}")
    templates = table[key]
    template = templates.get(ui_language) or templates[DEFAULT_UI_LANGUAGE]
    return template.format(**params)


def _localized_params(ui_language: str, params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    if "genre" in out:
        out["genre"] = genre_name(str(out["genre"]), ui_language)
    if "language" in out:
        out["language"] = language_name(str(out["language"]), ui_language)
    return out


def row_title(kind: str, ui_language: str, **params: Any) -> str:
    """The human title of a row of ``kind`` (``language_movie``/``language_show`` for language rows).

    ``genre`` and ``language`` params are codes (``"comedy"``, ``"ko"``), translated here."""
    return _render(TITLES, kind, ui_language, _localized_params(ui_language, params))


def reason_text(code: str, ui_language: str, **params: Any) -> str:
    """The human explanation of a reason code (see :data:`REASONS`)."""
    return _render(REASONS, code, ui_language, _localized_params(ui_language, params))
