"""Query understanding: each constraint kind in several languages, and how the engine applies it."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from data.normalize import MATURITY_LEVELS, fold
from search.engine import SearchEngine
from search.request import SearchFilters, SearchPage, Viewer
from search.understand import understand, without_sources
from tests.search.search_synthetic import build_engine


def kinds(query: str) -> set[tuple[str, str, str]]:
    return {(c.kind, c.value, c.effect) for c in understand(query).constraints}


@pytest.mark.parametrize(("query", "expected"), [
    ("90s french comedy", {("years", "1990-1999", "boost"), ("country", "France", "boost"), ("genre", "comedy", "boost")}),
    ("comedias francesas de los años 90", {("years", "1990-1999", "boost"), ("country", "France", "boost"),
                                           ("genre", "comedy", "boost")}),
    ("韓国のゾンビ映画 電車", {("country", "South Korea", "boost"), ("type", "movie", "boost")}),
    ("한국 드라마 추천", {("country", "South Korea", "boost"), ("type", "show", "boost")}),
    ("دراما تركية", {("country", "Turkey", "boost"), ("genre", "drama", "boost")}),
    ("bollywood romance", {("country", "India", "boost"), ("genre", "romance", "boost")}),
    ("फ्रेंच कॉमेडी फिल्म", {("country", "France", "boost"), ("genre", "comedy", "boost"), ("type", "movie", "boost")}),
    ("фильм ужасов для детей", {("type", "movie", "boost"), ("genre", "horror", "boost"),
                                ("audience", "older_kids", "filter")}),
    ("ταινία τρόμου", {("type", "movie", "boost"), ("genre", "horror", "boost")}),
    ("סרט אימה", {("type", "movie", "boost"), ("genre", "horror", "boost")}),
    ("หนังผี", {("type", "movie", "boost"), ("genre", "horror", "boost")}),
    ("comedies for kids before 2000", {("audience", "older_kids", "filter"), ("years", "-1999", "filter"),
                                       ("genre", "comedy", "boost")}),
    ("deutsche krimi serie nach 2010", {("country", "Germany", "boost"), ("genre", "crime", "boost"),
                                        ("type", "show", "boost"), ("years", "2010-", "filter")}),
    ("comedias francesas de los 90", {("years", "1990-1999", "boost"), ("country", "France", "boost"),
                                      ("genre", "comedy", "boost")}),
    ("scary for halloween", {("genre", "horror", "boost")}),
    # plurals and elided articles; Turkish "belgesel" (documentary) is not Belgium, French "belges" is
    ("deutsche Dramen", {("country", "Germany", "boost"), ("genre", "drama", "boost")}),
    ("films d'horreur", {("type", "movie", "boost"), ("genre", "horror", "boost")}),
    ("film d’azione", {("type", "movie", "boost"), ("genre", "action", "boost")}),
    ("documentales españoles", {("country", "Spain", "boost"), ("genre", "documentary", "boost")}),
    ("filmes policiais", {("type", "movie", "boost"), ("genre", "crime", "boost")}),
    ("películas policiacas", {("type", "movie", "boost"), ("genre", "crime", "boost")}),
    ("cartoni animati", {("genre", "animation", "boost")}),
    ("türk belgeselleri", {("country", "Turkey", "boost"), ("genre", "documentary", "boost")}),
    ("films belges", {("type", "movie", "boost"), ("country", "Belgium", "boost")}),
    ("something feel good", {("genre", "comedy", "boost")}),
    ("movies like inception", {("like", "inception", "boost"), ("type", "movie", "boost")}),
    ("películas como amelie", {("like", "amelie", "boost"), ("type", "movie", "boost")}),
    ("インセプションのような映画", {("like", "インセプション", "boost"), ("type", "movie", "boost")}),
    ("the matrix", set()),
    ("tom hanks", set()),
    ("a movie i like about dogs", {("type", "movie", "boost")}),
    # stems, glued scripts (Hangul folds to jamo), compounds, numerals, postfix "like"
    ("российские сериалы", {("country", "Russia", "boost"), ("type", "show", "boost")}),
    ("한국 공포영화", {("country", "South Korea", "boost"), ("genre", "horror", "boost"), ("type", "movie", "boost")}),
    ("九十年代的战争片", {("years", "1990-1999", "boost"), ("genre", "war", "boost"), ("type", "movie", "boost")}),
    ("2000 के दशक की बॉलीवुड म्यूज़िकल फिल्में", {("years", "2000-2009", "boost"), ("country", "India", "boost"),
                                           ("genre", "musical", "boost"), ("type", "movie", "boost")}),
    ("Kriegsfilme aus den 90ern", {("years", "1990-1999", "boost"), ("genre", "war", "boost"), ("type", "movie", "boost")}),
    ("mısır filmleri", {("country", "Egypt", "boost"), ("type", "movie", "boost")}),
    ("סרטים ישראליים", {("country", "Israel", "boost"), ("type", "movie", "boost")}),
    ("ซีรีส์เกาหลีแนวโรแมนติก", {("country", "South Korea", "boost"), ("genre", "romance", "boost"),
                                ("type", "show", "boost")}),
    ("commedie italiane", {("country", "Italy", "boost"), ("genre", "comedy", "boost")}),
    ("مسلسلات تركية درامية", {("country", "Turkey", "boost"), ("genre", "drama", "boost"), ("type", "show", "boost")}),
    ("アニメ映画", {("genre", "anime", "boost"), ("type", "movie", "boost")}),
    ("films between 1990 and 2000", {("years", "1990-2000", "filter"), ("type", "movie", "boost")}),
    ("películas familiares", {("audience", "older_kids", "boost"), ("type", "movie", "boost")}),
    ("인셉션 같은 영화", {("like", "인셉션", "boost"), ("type", "movie", "boost")}),
    ("inception gibi filmler", {("like", "inception", "boost"), ("type", "movie", "boost")}),
    ("korean movies like train to busan", {("like", "train to busan", "boost"), ("country", "South Korea", "boost"),
                                           ("type", "movie", "boost")}),
    ("series como narcos", {("like", "narcos", "boost"), ("type", "show", "boost")}),
    ("korean dramas", {("country", "South Korea", "boost"), ("genre", "drama", "boost"), ("type", "show", "boost")}),
    ("french dramas", {("country", "France", "boost"), ("genre", "drama", "boost")}),
    ("family movies", {("audience", "older_kids", "boost"), ("type", "movie", "boost")}),
    ("family comedies", {("audience", "older_kids", "boost"), ("genre", "comedy", "boost")}),
    ("mafia family drama", {("genre", "drama", "boost")}),  # a drama about a (crime) family, not for one
    # a decade after "in"/"dans les"/"nos"/"in den" in a description is when the story is set, not released
    ("une orpheline surdouée aux échecs dans les années 60", set()),
    ("menina órfã prodígio do xadrez nos anos 60", set()),
    ("a heist in the 1920s", set()),
    ("ein Mädchen in den 80ern", set()),
    # ...but in a long tip-of-the-tongue post it is when the viewer saw the film or it came out
    ("looking for a movie I saw as a kid sometime in the 2000s about a teen girl who hunts a diamond thief",
     {("years", "2000-2009", "boost"), ("type", "movie", "boost")}),  # "as a kid": when, not for whom
    ("a cartoon I watched when I was a kid about a dog", {("genre", "animation", "boost")}),
    ("i think it came out between 2005 and 2010 and it was about a guy who wakes up in a hospital and the city "
     "is empty", {("years", "2005-2010", "boost")}),  # a remembered range in a long post: a hint, not a filter
    ("films between 2005 and 2010", {("years", "2005-2010", "filter"), ("type", "movie", "boost")}),
    # a bare audience word asks for children's titles only beside a type or genre (or alone)
    ("poor people play deadly versions of kids games for a huge cash prize", set()),  # Squid Game
    ("gente endeudada juega juegos infantiles mortales por mucho dinero", set()),
    ("一群欠债的人参加儿童游戏 输了就会死", set()),
    ("kids", {("audience", "older_kids", "filter")}),
    ("movies for young kids", {("audience", "older_kids", "filter"), ("type", "movie", "boost")}),
    ("películas para niños pequeños", {("audience", "older_kids", "filter"), ("type", "movie", "boost")}),
    ("儿童电影", {("audience", "older_kids", "filter"), ("type", "movie", "boost")}),
    ("หนังเด็ก", {("audience", "older_kids", "filter"), ("type", "movie", "boost")}),
    ("어린이 영화", {("audience", "older_kids", "filter"), ("type", "movie", "boost")}),
    ("películas infantiles", {("audience", "older_kids", "filter"), ("type", "movie", "boost")}),
    ("kids movie about a dog", {("audience", "older_kids", "filter"), ("type", "movie", "boost")}),
    ("movies in the 90s", {("years", "1990-1999", "boost"), ("type", "movie", "boost")}),
    ("french comedies in the 90s", {("years", "1990-1999", "boost"), ("country", "France", "boost"),
                                    ("genre", "comedy", "boost")}),
    ("comedias de los años 90", {("years", "1990-1999", "boost"), ("genre", "comedy", "boost")}),
    ("family thriller", {("genre", "thriller", "boost")}),
    # decades glued to what follows (CJK, Hangul) or after a Greek, Hebrew or Turkish phrase; audiences and
    # animation in Korean, Chinese, Hindi, Greek and Hebrew phrasings
    ("90年代のフランス映画", {("years", "1990-1999", "boost"), ("country", "France", "boost"), ("type", "movie", "boost")}),
    ("在90年代的香港电影", {("years", "1990-1999", "boost"), ("country", "Hong Kong", "boost"),
                      ("type", "movie", "boost")}),
    ("90년대의 영화", {("years", "1990-1999", "boost"), ("type", "movie", "boost")}),
    ("κωμωδίες της δεκαετίας του 90", {("years", "1990-1999", "boost"), ("genre", "comedy", "boost")}),
    ("סרטי אימה משנות ה-80", {("years", "1980-1989", "boost"), ("genre", "horror", "boost"), ("type", "movie", "boost")}),
    ("סרטים משנות ה90", {("years", "1990-1999", "boost"), ("type", "movie", "boost")}),
    ("90'ların türk filmleri", {("years", "1990-1999", "boost"), ("country", "Turkey", "boost"),
                                ("type", "movie", "boost")}),
    ("ταινίες κινουμένων σχεδίων", {("genre", "animation", "boost"), ("type", "movie", "boost")}),
    ("סרטים מצוירים", {("genre", "animation", "boost"), ("type", "movie", "boost")}),
    ("बच्चों के लिए कार्टून", {("audience", "older_kids", "filter"), ("genre", "animation", "boost")}),
    ("아이들을 위한 애니메이션", {("audience", "older_kids", "filter"), ("genre", "animation", "boost")}),
    ("适合孩子的动画片", {("audience", "older_kids", "filter"), ("genre", "animation", "boost"), ("type", "movie", "boost")}),
    ("가족 영화", {("audience", "older_kids", "boost"), ("type", "movie", "boost")}),
    ("sf 영화", {("genre", "sci-fi", "boost"), ("type", "movie", "boost")}),
    # a running time bound, in minutes or hours, before the number or after its unit
    ("short horror under 90 minutes", {("runtime", "-90", "filter"), ("genre", "horror", "boost")}),
    ("movies less than 2 hours", {("runtime", "-120", "filter"), ("type", "movie", "boost")}),
    ("30 minutes or less", set()),  # a title (30 Minutes or Less, 83 minutes): no bound that would hide it
    ("películas de menos de 90 minutos", {("runtime", "-90", "filter"), ("type", "movie", "boost")}),
    ("films de moins de 2 heures", {("runtime", "-120", "filter"), ("type", "movie", "boost")}),
    ("Filme unter 90 Minuten", {("runtime", "-90", "filter"), ("type", "movie", "boost")}),
    ("фильмы больше 2 часов", {("runtime", "120-", "filter"), ("type", "movie", "boost")}),
    ("ταινίες κάτω από 90 λεπτά", {("runtime", "-90", "filter"), ("type", "movie", "boost")}),
    ("סרטים של פחות מ-90 דקות", {("runtime", "-90", "filter"), ("type", "movie", "boost")}),
    ("أفلام أقل من 90 دقيقة", {("runtime", "-90", "filter"), ("type", "movie", "boost")}),
    ("90 मिनट से कम की फिल्में", {("runtime", "-90", "filter"), ("type", "movie", "boost")}),
    ("หนังไม่เกิน 90 นาที", {("runtime", "-90", "filter"), ("type", "movie", "boost")}),
    ("90 dakikadan kısa filmler", {("runtime", "-90", "filter"), ("type", "movie", "boost")}),
    ("90分以内の映画", {("runtime", "-90", "filter"), ("type", "movie", "boost")}),
    ("不超过90分钟的电影", {("runtime", "-90", "filter"), ("type", "movie", "boost")}),
    ("2시간 이상 영화", {("runtime", "120-", "filter"), ("type", "movie", "boost")}),
    ("movies over 2.5 hours", {("runtime", "150-", "filter"), ("type", "movie", "boost")}),
    ("comedy under 1,5 h", {("runtime", "-90", "filter"), ("genre", "comedy", "boost")}),
    ("documentaries under an hour", {("runtime", "-60", "filter"), ("genre", "documentary", "boost")}),
    ("films de moins de deux heures", {("runtime", "-120", "filter"), ("type", "movie", "boost")}),
    ("movies under a minute", {("type", "movie", "boost")}),  # a number word counts only before hours
    ("24 hours", set()),  # a duration with no bound is a title or a plot word
    ("over 9000 minutes", set()),  # outside 1..1000 minutes: no bound
    # words that only look like constraints
    ("a family moves into a haunted house", set()),
    ("la vida de una empleada en una familia de clase media", set()),
    ("indiana jones", set()),
    ("animal farm", set()),
    ("new york stories", set()),
    ("2012", set()),
    ("1999 2000 1998", {("years", "1999-1999", "boost")}),
])  # fmt: skip
def test_constraints_in_many_languages(query: str, expected: set[tuple[str, str, str]]) -> None:
    assert kinds(query) == expected


def test_sources_are_the_query_words() -> None:
    parsed = understand("90s French comedy")
    assert {c.source for c in parsed.constraints} == {"90s", "french", "comedy"}
    assert parsed.rest == ""


@pytest.mark.parametrize(("query", "low", "high"), [
    ("90s french comedy", 1.0, 1.0),
    ("日本のホラー映画", 1.0, 1.0),  # "の" is a particle, not a word left over
    ("comédies françaises des années 90", 1.0, 1.0),
    ("film français sur un chef cuisinier", 0.3, 0.6),
    ("a movie i like about dogs", 0.2, 0.5),
    ("the shawshank redemption", 0.0, 0.0),
])  # fmt: skip
def test_share_says_how_much_of_the_query_the_constraints_explain(query: str, low: float, high: float) -> None:
    assert low <= understand(query).share <= high


def test_topic_is_what_the_query_says_beyond_its_constraints() -> None:
    assert understand("film français sur un chef cuisinier").topic == "chef cuisinier"
    assert understand("90s french comedy").topic == ""


@pytest.mark.parametrize(("query", "reading"), [
    ("ταινίες τρόμου", "horror movies"), ("סרטי אימה", "horror movies"), ("한국 드라마", "series from South Korea"),
    ("90s french comedy", "comedy titles from France"), ("tom hanks comedies", ""), ("before 2000", ""),
])  # fmt: skip
def test_the_reading_says_the_constraints_in_english(query: str, reading: str) -> None:
    people = {"tom hanks": "Tom Hanks"}
    assert understand(query, people=lambda words: people.get(words)).reading == reading


@pytest.mark.parametrize(("query", "typed"), [
    ("韓国のゾンビ映画 電車", "のゾンビ 電車"),  # fold() reads ゾンビ as ソンヒ: the encoder must not
    ("ผู้ชายกลับจากสงครามมาอยู่กับเมีย หนัง", "ผู้ชายกลับจาก มาอยู่กับเมีย"),  # Thai vowel and tone marks
    ("조선시대 좀비 사극", "조선시대 좀비"),  # composed Hangul, not jamo
    ("film français sur un chef cuisinier", "chef cuisinier"),
    ("Straße der Ölbäume film", "Straße Ölbäume"),  # casefold widens ß: spans still line up
    ("90s french comedy", ""),
])  # fmt: skip
def test_the_topic_as_typed_keeps_what_folding_removes(query: str, typed: str) -> None:
    parsed = understand(query)
    assert parsed.typed_topic == typed


def test_people_come_from_the_gazetteer_the_caller_passes() -> None:
    people = {"omar sy": "Omar Sy", "shah rukh khan": "Shah Rukh Khan"}.get
    assert {(c.kind, c.value) for c in understand("films avec Omar Sy", people=people).constraints} == {
        ("type", "movie"), ("person", "Omar Sy")}
    parsed = understand("shah rukh khan romance", people=people)
    assert ("person", "Shah Rukh Khan", "shah rukh khan") in {(c.kind, c.value, c.source) for c in parsed.constraints}
    assert parsed.share == 1.0
    assert not understand("films avec Omar Sy").of("person")  # no gazetteer, no people
    assert not understand("omar", people=people).of("person")  # one word is never a name


@pytest.mark.parametrize("query", ["", "   ", "!!!", "🎬🍿", "\x00\u200b", "s" * 5000, "90", "'s", "1990-1980",
                                   "like", "movies like", "のような", "before", "between 2000 and"])  # fmt: skip
def test_bad_input_never_raises_and_reads_nothing_wrong(query: str) -> None:
    parsed = understand(query)
    assert 0.0 <= parsed.share <= 1.0
    assert not parsed.of("like") and not [c for c in parsed.constraints if c.kind == "years" and c.effect == "filter"]


@pytest.fixture(scope="module")
def engine() -> SearchEngine:
    built, _, _ = build_engine()
    return built


def test_for_kids_filters_and_an_explicit_request_filter_wins(engine: SearchEngine) -> None:
    page = engine.search("dragon for kids", limit=50)
    assert page.hits and all(MATURITY_LEVELS[h.maturity] <= MATURITY_LEVELS["older_kids"] for h in page.hits)
    assert ("audience", "filter") in {(u.kind, u.effect) for u in page.understood}
    explicit = engine.search("dragon for kids", filters=SearchFilters(max_maturity="teens"), limit=50)
    assert ("audience", "boost") in {(u.kind, u.effect) for u in explicit.understood}
    assert any(h.maturity == "teens" for h in explicit.hits)


def test_a_kids_profile_never_gets_more_through_a_parsed_intent(engine: SearchEngine) -> None:
    kid = Viewer(profile_id="k", maturity_level=MATURITY_LEVELS["kids"])
    for query in ("adult horror for adults after 1990", "90s thriller", "movies like the matrix"):
        page = engine.search(query, viewer=kid, limit=50)
        assert all(h.maturity == "kids" for h in page.hits)


def test_years_filter_and_understanding_off(engine: SearchEngine) -> None:
    page = engine.search("dragon before 2000", limit=50)
    assert page.hits and all(h.year is not None and h.year < 2000 for h in page.hits)
    off = engine.search("dragon before 2000", limit=50, understand=False)
    assert off.understood == ()
    assert any(h.year is None or h.year >= 2000 for h in off.hits)


@pytest.mark.parametrize(("query", "left"), [
    ("dog movies under 90 minutes", "dog movies"), ("Películas de TERROR de menos de 90 minutos", "Películas de TERROR"),
    ("90分以内のアニメ映画", "のアニメ映画"), ("2시간 이상 영화", "영화"), ("short horror  under 90 minutes!", "short horror !"),
    ("under 90 minutes", "under 90 minutes"),  # nothing would be left: the query itself
])  # fmt: skip
def test_the_channels_read_the_query_without_its_running_time(query: str, left: str) -> None:
    assert without_sources(query, [c.source for c in understand(query).of("runtime")]) == left
    assert SearchEngine.channel_text(query, understand(query)) == left


def test_a_running_time_bound_filters_and_an_explicit_one_wins(engine: SearchEngine) -> None:
    runtimes = engine.catalog.runtimes

    def minutes(page: SearchPage) -> list[float]:
        return [float(runtimes[engine.catalog.position[h.title_id]]) for h in page.hits]

    page = engine.search("dragon under 90 minutes", limit=50)
    assert ("runtime", "-90", "filter") in {(u.kind, u.value, u.effect) for u in page.understood}
    assert page.hits and all(m <= 90 for m in minutes(page))  # unknown running times (NaN) fail the comparison
    assert all(h.runtime_minutes is not None and h.runtime_minutes <= 90 for h in page.hits)
    explicit = engine.search("dragon under 90 minutes", filters=SearchFilters(runtime_min=120), limit=50)
    assert ("runtime", "boost") in {(u.kind, u.effect) for u in explicit.understood}
    assert explicit.hits and all(m >= 120 for m in minutes(explicit))
    off = engine.search("dragon under 90 minutes", limit=50, understand=False)
    assert off.understood == () and any(not m <= 90 for m in minutes(off))
    kid = Viewer(profile_id="k", maturity_level=MATURITY_LEVELS["kids"])
    assert all(h.maturity == "kids" for h in engine.search("movies over 2 hours", viewer=kid, limit=50).hits)


def test_a_parsed_genre_lifts_titles_of_that_genre(engine: SearchEngine) -> None:
    on = engine.search("dragon horror", limit=10)
    off = engine.search("dragon horror", limit=10, understand=False)
    genres = engine.catalog.genre_masks["horror"]
    share = lambda page: sum(bool(genres[engine.catalog.position[h.title_id]]) for h in page.hits)  # noqa: E731
    assert share(on) > share(off)


def test_a_query_that_asks_for_a_set_ranks_every_matching_title_first(engine: SearchEngine) -> None:
    cat = engine.catalog
    match = cat.country_masks["Japan"] & (cat.types == "movie")
    assert 3 <= match.sum() < 60
    for query in ("japanese movies", "películas japonesas", "japanische Filme", "日本の映画", "фильмы японские"):
        page = engine.search(query, limit=100)
        flags = [bool(match[cat.position[h.title_id]]) for h in page.hits]
        n = int(match.sum())
        assert flags[:n] == [True] * n, query  # the whole set first (no exact title in the way)
        assert {(u.kind, u.value) for u in page.understood} == {("country", "Japan"), ("type", "movie")}
    off = engine.search("japanese movies", limit=20, understand=False)
    assert sum(bool(match[cat.position[h.title_id]]) for h in off.hits) < 20 and off.understood == ()


def test_an_exact_title_still_comes_first_in_a_set_query(engine: SearchEngine) -> None:
    assert engine.search("love", limit=3).hits[0].display_title == "Love"
    assert engine.search("Dragon Garden", limit=3).hits[0].display_title == "Dragon Garden"


def test_a_person_query_puts_the_persons_titles_first(engine: SearchEngine) -> None:
    page = engine.search("tom hanks movies", limit=5)
    assert ("person", "Tom Hanks", "boost") in {(u.kind, u.value, u.effect) for u in page.understood}
    assert page.hits[0].display_title == "Dragon Garden"


def test_movies_like_a_title_answer_with_its_neighbours(engine: SearchEngine) -> None:
    page = engine.search("movies like the matrix", limit=10)
    assert ("like", "the matrix") in {(u.kind, u.value) for u in page.understood}
    assert page.hits[0].display_title == "The Matrix"
    matrix = engine.catalog.position[page.hits[0].title_id]
    retrieved = engine.retrieve("movies like the matrix", None, 50, None)
    engine.intent_channels(engine.understand("movies like the matrix"), retrieved, np.ones(engine.catalog.n, bool), 50)
    like_pos, _ = retrieved.channels["like"]
    assert like_pos[0] == matrix and "names" not in retrieved.channels  # the words "movies like" are no evidence
    for query in ("películas como the matrix", "films comme the matrix"):
        assert engine.search(query, limit=1).hits[0].title_id == engine.catalog.title_ids[matrix]
    unknown = engine.search("movies like zzqqxx", limit=5)  # nothing named: no like channel, no error,
    assert {(u.kind, u.value) for u in unknown.understood} == {("type", "movie")}  # and no chip for a title it is not


def test_an_explicit_year_filter_wins_over_a_parsed_bound(engine: SearchEngine) -> None:
    page = engine.search("dragon before 2000", filters=SearchFilters(year_min=2000), limit=50)
    assert ("years", "boost") in {(u.kind, u.effect) for u in page.understood}
    assert page.hits and all(h.year is not None and h.year >= 2000 for h in page.hits)


def test_a_kids_profile_stays_within_its_level_for_set_person_and_family_queries(engine: SearchEngine) -> None:
    kid = Viewer(profile_id="k", maturity_level=MATURITY_LEVELS["kids"])
    for query in ("japanese movies", "tom hanks", "películas familiares", "90s thriller shows", "movies like love"):
        page = engine.search(query, viewer=kid, limit=100)
        assert all(h.maturity == "kids" for h in page.hits), query


def test_a_kids_profile_asking_for_someone_it_may_not_watch_gets_an_empty_page(engine: SearchEngine) -> None:
    """Tom Segura is credited on Love only (adults): a kids profile asking for him gets no title (not
    another Tom's kids titles read as his), the chip still names him; an adult gets Love; Tom Hanks's kids
    title stays on the kids page."""
    cast = engine.catalog.cast
    segura = [i for i, c in enumerate(cast) if "Tom Segura" in c]
    assert [engine.catalog.maturity[i] for i in segura] == ["adults"]
    assert any("Tom" in name and name != "Tom Segura" for i, c in enumerate(cast) for name in c
               if engine.catalog.maturity[i] == "kids")  # fmt: skip
    kid = Viewer(profile_id="k", maturity_level=MATURITY_LEVELS["kids"])
    for query in ("tom segura", "tom segura movies"):
        page = engine.search(query, viewer=kid, limit=20)
        assert page.hits == [] and page.total == 0, [h.display_title for h in page.hits]
        assert ("person", "Tom Segura") in {(u.kind, u.value) for u in page.understood}
        adult = engine.search(query, limit=20)
        assert adult.hits and adult.hits[0].display_title == "Love"
    hanks = engine.search("tom hanks", viewer=kid, limit=20)
    assert hanks.hits[0].display_title == "Dragon Garden"
    # a person with a topic is no set query: the topic still finds kids titles
    assert engine.search("tom segura dragon garden", viewer=kid, limit=20).hits


@pytest.mark.parametrize("query", ["톰 행크스 영화", "トム・ハンクスの映画", "トム・ハンクス"])
def test_a_name_credited_once_is_not_read_by_sound(engine: SearchEngine, query: str) -> None:
    # the synthetic catalog credits Tom Hanks once (Dragon Garden): read by sound, a name credited once is far
    # more often ordinary words (기생충 sounded like Ka Sang Cheung); the real catalog's Tom Hanks, credited
    # many times, is read from the same queries (tests/search/test_scripts_realdata.py, test_people.py)
    assert sum("Tom Hanks" in cast for cast in engine.catalog.cast) == 1
    assert not engine.understand(query).of("person")


@pytest.mark.parametrize("query", [
    "톰 행크스가 나오는 영화 같은 이야기를 찾고 있어요 정말로",  # a long sentence names no one by sound
    "汤姆汉克斯",  # Han: pinyin is not how the catalog romanizes names
    "tomhanks",  # one Latin word is never a name
])  # fmt: skip
def test_sound_never_reads_a_name_where_it_should_not(engine: SearchEngine, query: str) -> None:
    assert not engine.understand(query).of("person")


@pytest.mark.parametrize(("query", "gloss"), [
    ("韓国のゾンビ映画 電車", "zombie train"),
    ("películas coreanas de zombis en un tren", "zombie train"),
    ("ταινία με καρχαρία", "shark"),
    ("zombie train korean movie", ""),  # already English: nothing to add
    ("90s french comedy", ""),
    ("películas de navidad", "christmas"), ("Weihnachtsfilme", "christmas"), ("クリスマス映画", "christmas"),
    ("크리스마스 영화", "christmas"), ("рождественские фильмы", "christmas"), ("films de Noël", "christmas"),
    ("noel fielding", ""),  # Noël is Christmas, Noel a name
    ("一个小偷潜入别人的梦里 偷取秘密", "thief dream"), ("군대에서 탈영병을 잡으러 다니는 헌병 이야기", "army soldier"),
    ("日军占领佛山时 一位咏春拳师傅被迫和日本将军比武", "martial arts kung fu"),
    ("末日后全人类坐在一列不停环绕地球的火车上", "train apocalypse"), ("фильм про шпионов", "spy"),
    ("a movie about viruses", ""), ("kung fu panda", ""),  # English words get no gloss
    ("les films de noel", ""),  # without its accent the word is the name
])  # fmt: skip
def test_subjects_named_in_another_language_get_their_english_words(query: str, gloss: str) -> None:
    parsed = understand(query)
    assert parsed.gloss == gloss
    assert not gloss or parsed.encoded_topic.endswith(gloss)
    assert "zombie" not in {c.value for c in parsed.constraints}  # a subject is no constraint


@pytest.mark.parametrize(("query", "moods", "text"), [
    ("something to cry at", [("drama", "to cry at")], "a sad, moving, emotional story"),
    ("scary for halloween", [("horror", "scary for halloween")], "a scary, frightening horror story"),
    ("feel good movies", [("comedy", "feel good")], "a funny, light-hearted, feel-good story"),
    ("películas para llorar", [("drama", "llorar")], "a sad, moving, emotional story"),
    ("sad korean dramas", [("drama", "sad")], "a sad, moving, emotional story"),
    ("películas para sentirse bien", [("comedy", "para sentirse bien")], "a funny, light-hearted, feel-good story"),
    ("films qui font du bien", [("comedy", "qui font du bien")], "a funny, light-hearted, feel-good story"),
    ("фильмы для хорошего настроения", [("comedy", "хорошего настроения")], "a funny, light-hearted, feel-good story"),
    ("страшные фильмы на хэллоуин", [("horror", "страшные")], "a scary, frightening horror story"),
    ("무서운 영화", [("horror", fold("무서운"))], "a scary, frightening horror story"),
    ("感人的电影", [("drama", "感人")], "a sad, moving, emotional story"),
    ("סרטים מצחיקים", [("comedy", "מצחיקים")], "a funny, light-hearted, feel-good story"),
    ("90s french comedy", [], ""),  # a genre's name is no mood
    ("horror movies", [], ""),
])  # fmt: skip
def test_moods_are_genres_read_from_how_a_film_feels(query: str, moods: list[tuple[str, str]], text: str) -> None:
    parsed = understand(query)
    assert [(c.value, c.source) for c in parsed.moods] == moods
    assert parsed.mood_text == text


@pytest.mark.parametrize(("query", "read"), [
    ("films de noël", "christmas"),  # the accented subject is read as its gloss alone ("noel" is a name)
    ("películas de navidad", "navidad christmas"),
    ("zombie movies", "zombie"),
])  # fmt: skip
def test_the_description_words_read_the_topic_with_its_subjects_glosses(query: str, read: str) -> None:
    assert understand(query).glossed_topic == read


@pytest.mark.parametrize(("query", "source"), [
    ("old movies", "old"), ("classic horror", "classic"), ("old black and white movies", "black and white"),
    ("películas antiguas", "antiguas"), ("films classiques", "classiques"), ("старые фильмы", "старые"),
    ("古い映画", "古い"), ("옛날 영화", "옛날"), ("黑白电影", "黑白"), ("eski filmler", "eski"),
])  # fmt: skip
def test_classic_and_old_titles_are_read_as_an_era(query: str, source: str) -> None:
    parsed = understand(query)
    assert [(c.value, unicodedata.normalize("NFC", c.source), c.effect) for c in parsed.of("years")] == [
        ("-1979", source, "boost")]


@pytest.mark.parametrize("query", ["old boy", "the old guard", "no country for old men", "old school",
                                   "ซีรีส์เกาหลีแนวโรแมนติก"])  # fmt: skip
def test_old_without_a_type_word_is_a_title_word(query: str) -> None:
    """"old" alone is a title word (Old Boy, The Old Guard); only next to a type word is it an era."""
    assert not understand(query).of("years")
