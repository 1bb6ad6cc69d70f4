"""Titles typed in every script, through the HTTP API, on the default-scope artifacts ``make artifacts``
builds (the real catalog, the bundled encoder and the index with its title strings).

Each query is typed as a viewer would (a transliteration or the title in that language, never the
catalog's spelling); its title must be in the first three hits. The issue's queries that still fail
(``韓国のゾンビ映画 電車``, ``el juego del calamar``, ``좀비 영화``) are not here: see the search notes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from services.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

QUERIES: list[tuple[str, str, str]] = [
    # (script, query, the title a viewer means); the table first
    ("arabic", "تيتانيك", "Titanic"),
    ("hangul", "타이타닉", "Titanic"),
    ("devanagari", "कुछ कुछ होता है", "Kuch Kuch Hota Hai"),
    ("cjk", "タイタニック", "Titanic"),
    ("cjk", "インセプション", "Inception"),
    ("cjk", "ダンケルク", "Dunkirk"),
    ("cjk", "鱿鱼游戏", "Squid Game"),
    ("cjk", "千と千尋の神隠し", "Spirited Away"),
    ("cjk", "卧虎藏龙", "Crouching Tiger, Hidden Dragon"),
    ("hangul", "인셉션", "Inception"),
    ("hangul", "인터스텔라", "Interstellar"),
    ("hangul", "이태원 클라쓰", "Itaewon Class"),
    ("hangul", "옥자", "Okja"),
    ("arabic", "انترستلر", "Interstellar"),
    ("arabic", "مدرسة الروابي للبنات", "AlRawabi School for Girls"),
    ("arabic", "الهيبة", "Al Hayba"),
    ("devanagari", "थ्री इडियट्स", "3 Idiots"),
    ("devanagari", "ज़िंदगी ना मिलेगी दोबारा", "Zindagi Na Milegi Dobara"),
    ("cyrillic", "Титаник", "Titanic"),
    ("cyrillic", "Интерстеллар", "Interstellar"),
    ("cyrillic", "Матрица", "The Matrix"),
    ("cyrillic", "Довлатов", "Dovlatov"),
    ("thai", "ไททานิค", "Titanic"),
    ("thai", "อินเตอร์สเตลลาร์", "Interstellar"),
    ("greek", "Τιτανικός", "Titanic"),
    ("greek", "Ιντερστέλαρ", "Interstellar"),
    ("greek", "Τζόκερ", "Joker"),
    ("greek", "Το γκάμπι της βασίλισσας", "The Queen's Gambit"),
    ("hebrew", "טיטאניק", "Titanic"),
    ("hebrew", "אינטרסטלר", "Interstellar"),
    ("hebrew", "פאודה", "Fauda"),
    ("hebrew", "שטיסל", "Shtisel"),
]


@pytest.fixture(scope="module")
def client(default_artifacts_dir: Path) -> Iterator[TestClient]:
    app = create_app(Settings(artifacts_dir=default_artifacts_dir), areas=("search",))
    with TestClient(app) as test_client:
        yield test_client


def test_every_script_is_covered() -> None:
    from data.queries import script_of

    assert {script for script, _, _ in QUERIES} == {"cjk", "hangul", "arabic", "devanagari", "cyrillic", "thai",
                                                    "greek", "hebrew"}  # fmt: skip
    assert all(script_of(query) == script for script, query, _ in QUERIES)


@pytest.mark.parametrize(("script", "query", "title"), QUERIES, ids=[f"{s}-{q}" for s, q, _ in QUERIES])
def test_a_title_typed_in_its_script_is_in_the_first_three(client: TestClient, script: str, query: str,
                                                           title: str) -> None:  # fmt: skip
    response = client.get("/v1/search", params={"q": query, "limit": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    shown = [hit["title"] for hit in body["results"]]
    assert title in shown, (query, shown)
    assert body["query_language"] is not None
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True), (query, shown, scores)  # a pinned title never scores below
