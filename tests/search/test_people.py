"""The people gazetteer on the real catalog's cast and directors (default-scope artifacts): names typed in
other scripts and in inflected forms are read as the person, ordinary words are not."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from search.people import People
from search.understand import understand

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture(scope="module")
def people(default_artifacts_dir: Path) -> People:
    from data.catalog import read_titles

    titles = read_titles(default_artifacts_dir / "catalog")
    names = [name for column in ("cast", "directors") for names in titles[column] for name in names]
    credits = Counter(name for cast, directors in zip(titles["cast"], titles["directors"], strict=True)
                      for name in {*cast, *directors})  # fmt: skip
    return People(names, credits)


def persons(query: str, people: People) -> list[str]:
    return [c.value for c in understand(query, people=people.find).of("person")]


@pytest.mark.parametrize(("query", "person"), [
    ("фильмы с Киану Ривзом", "Keanu Reeves"),  # Russian instrumental case
    ("Киану Ривз", "Keanu Reeves"),  # nominative
    ("фильмы Брэда Питта", "Brad Pitt"),  # genitive
    ("ταινίες του Γιώργου Λάνθιμου", "Yorgos Lanthimos"),  # Greek genitive, γι read as "y"
    ("Γιώργος Λάνθιμος", "Yorgos Lanthimos"),  # nominative
    ("Μπραντ Πιτ", "Brad Pitt"),  # μπ/ντ: b/d
    ("Τροία ταινία με τον Μπραντ Πιτ", "Brad Pitt"),  # not Mae Tan: "με τον" are function words
    ("หนังของโทนี่ จา", "Tony Jaa"),  # Thai: ของ ("of") glued to the name, จ read as "j"
    ("סדרות עם ליאור רז", "Lior Raz"),  # Hebrew: ו as a vowel
    ("cem yılmaz'ın filmleri", "Cem Yılmaz"),  # Turkish case suffix after an apostrophe
    ("Том Хэнкс", "Tom Hanks"),  # х for "h"
    ("Джеки Чан", "Jackie Chan"),  # дж for "j"
    ("Τζάκι Τσαν", "Jackie Chan"),  # τζ, τσ
    ("בראד פיט", "Brad Pitt"),  # ב opening a word is "b"
    ("براد بيت", "Brad Pitt"),  # ب writes "p"
    ("توم هانكس", "Tom Hanks"),  # و inside a word is a vowel
    ("송중기 작품", "Song Joong-ki"),  # read as one word (unchanged)
    # Hangul spells English names as loanwords: a silent ㅡ between consonants, ㄹ for r, ㅅ for a final t
    ("브래드 피트", "Brad Pitt"), ("브래드 피트 영화", "Brad Pitt"), ("맷 데이먼", "Matt Damon"),
    ("키아누 리브스", "Keanu Reeves"), ("애덤 샌들러", "Adam Sandler"), ("드웨인 존슨", "Dwayne Johnson"),
    ("니콜라스 케이지", "Nicolas Cage"),
    ("शाहरुख खान की फिल्में", "Shah Rukh Khan"),
])  # fmt: skip
def test_a_name_in_any_script_or_case_is_read_as_the_person(people: People, query: str, person: str) -> None:
    assert persons(query, people) == [person]


@pytest.mark.parametrize("query", [
    # queries of the multilingual set and catalog titles whose words sound like a name word by word
    "कभी खुशी कभी ग़म",  # Chevy Chase, Kiyoshi Kobayashi
    "군대에서 탈영병을 잡으러 다니는 헌병 이야기",  # Sibylla Deen
    "шахматистка-сирота из приюта становится гроссмейстером",  # Zoe Berriatúa
    "Трудно быть богом",  # Bidita Bag
    "Το γκάμπι της βασίλισσας",  # Tetsuya Chiba
    "האופה מברלין",  # Pope Francis
    "لا كاسا دي بابيل",  # Gys de Villiers
    "про врачей",  # Pablo Bracho
    "الروابي دي",  # Ruby Dee: the article opens the word with a vowel
    "בין חרדית",  # Ian Hart
    "कभी अलविदा ना कहना",  # Anna Akana, Neha Khan
    "기생충",  # "parasite" sounds like Ka Sang Cheung, credited once: only names credited twice are read by sound
    "周星驰的喜剧",  # Stephen Chow: Han characters are never read by sound, and the catalog has no Chinese names
])  # fmt: skip
def test_ordinary_words_are_not_people(people: People, query: str) -> None:
    assert persons(query, people) == []


@pytest.mark.parametrize(("query", "person"), [
    ("brad pit movies", "Brad Pitt"), ("tom hank", "Tom Hanks"), ("jonny depp films", "Johnny Depp"),
    ("morgan freman", "Morgan Freeman"), ("keanu reves", "Keanu Reeves"), ("mery streep", "Meryl Streep"),
    ("nicholas cage", "Nicolas Cage"), ("denzel washingtn", "Denzel Washington"),
    ("leonardo di caprio", "Leonardo DiCaprio"),  # the name's words run together
])  # fmt: skip
def test_a_misspelt_name_is_read_as_the_person(people: People, query: str, person: str) -> None:
    assert persons(query, people) == [person]


@pytest.mark.parametrize("query", ["the crown", "star wars", "stranger things", "money heist", "dark night",
                                   "good will hunting", "omar si", "charlie and the chocolate factory"])  # fmt: skip
def test_words_near_no_name_are_no_one(people: People, query: str) -> None:
    """A near spelling needs eight letters or more, the name's first or last word as it is spelt, and a
    person credited twice: titles and ordinary words stay what they are."""
    assert persons(query, people) == []
