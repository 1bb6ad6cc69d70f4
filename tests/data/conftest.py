"""A small synthetic data directory with each source's real quirks (and some malformed rows)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

NETFLIX_HEADER = "show_id,show_type,title,director,cast,countries,date_added,release_year,rating,duration,categories,description\n"
NETFLIX_ROWS = (
    's1,Movie,The Matrix,"Lana Wachowski, Lilly Wachowski","Keanu Reeves, Carrie-Anne Moss",United States,'
    '"November 1, 2019",1999,R,136 min,"Action & Adventure, Sci-Fi & Fantasy","A hacker learns the truth about reality."\n'
    's2,TV Show,La casa de papel,,"Úrsula Corberó, Álvaro Morte",Spain," April 3, 2020",2017,TV-MA,5 Seasons,'
    '"International TV Shows, Spanish-Language TV Shows, Crime TV Shows","Eight thieves take hostages in the Royal Mint of Spain."\n'
    's3,Movie,"Memphis Belle: A Story of a\nFlying Fortress",William Wyler,,United States,"March 31, 2017",1944,TV-PG,40 min,'
    'Documentaries,"A documentary about a B-17 crew."\n'
    's4,Movie,Louis C.K. 2017,Louis C.K.,Louis C.K.,United States,"April 4, 2017",2017,74 min,,Movies,"Stand-up."\n'
    's5,Movie,Consequences\u00a0,Ozren Milharcic,,Slovenia,"January 2, 2019",2018,TV-MA,106 min,Dramas,"A teen is sent to a juvenile center."\n'
    's6,Movie,Amélie,Jean-Pierre Jeunet,Audrey Tautou,France,"July 1, 2020",2001,R,122 min,"Comedies, Romantic Movies",'
    '"A shy waitress decides to change the lives of those around her."\n'
    's7,Movie,Kids Movie,,,,"July 1, 2020",2020,TV-Y,80 min,Children & Family Movies,"Puppies go to school."\n'
    's8,Movie,Broken row with too few fields\n'
    's9,Movie,Bad Year,,,,"July 1, 2020",soon,TV-Y,80 min,Dramas,"x"\n'
)
ML_MOVIES = (
    "movieId,title,genres\n"
    "1,\"Matrix, The (1999)\",Action|Sci-Fi|Thriller\n"
    "2,\"Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)\",Comedy|Romance\n"
    "3,Seven (a.k.a. Se7en) (1995),Mystery|Thriller\n"
    "4,Obscure Film (1990),(no genres listed)\n"
)
ML_LINKS = "movieId,imdbId,tmdbId\n1,0133093,603\n2,0211915,194\n3,0114369,807\n4,0099999,\n"
ML_RATINGS = (
    "userId,movieId,rating,timestamp\n"
    "1,1,5.0,964982703\n1,2,4.0,964982800\n2,1,3.5,1445714994\n2,3,4.5,1445715000\n2,4,9.0,1445715001\n"
)
ML_TAGS = "userId,movieId,tag,timestamp\n2,1,cyberpunk,1445714994\n2,1,Cyberpunk,1445714995\n"
TMDB_COLUMNS = ["budget", "genres", "homepage", "id", "keywords", "original_language", "original_title", "overview",
                "popularity", "production_companies", "production_countries", "release_date", "revenue", "runtime",
                "spoken_languages", "status", "tagline", "title", "vote_average", "vote_count"]  # fmt: skip


def _tmdb_csv() -> str:
    import csv

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(TMDB_COLUMNS)
    genres = json.dumps([{"id": 28, "name": "Action"}, {"id": 878, "name": "Science Fiction"}])
    countries = json.dumps([{"iso_3166_1": "US", "name": "United States of America"}])
    langs = json.dumps([{"iso_639_1": "en", "name": "English"}])
    writer.writerow([1, genres, "", 603, "[]", "en", "The Matrix", "Set in the 22nd century...", 104.3, "[]",
                     countries, "1999-03-30", 1, 136, langs, "Released", "Welcome", "The Matrix", 7.9, 8907])  # fmt: skip
    writer.writerow([1, '[{"id": 18, "name": "Drama"}]', "", 999, "[]", "ja", "シン・ゴジラ", "Godzilla returns.", 9.1,
                     "[]", "[]", "2016-07-29", 1, 120, "[]", "Released", "", "Shin Godzilla", 6.6, 300])  # fmt: skip
    writer.writerow([1, "not json", "", 1000, "[]", "en", "Broken", "", 1.0, "[]", "[]", "2000-01-01", 1, 90, "[]",
                     "Released", "", "Broken", 5.0, 1])  # fmt: skip
    return out.getvalue()


LANG_FR = (
    "id;title;overview;release_date;vote_average\n"
    "194;Le Fabuleux Destin d'Amélie Poulain;'Amélie, une jeune serveuse, décide de changer la vie des autres.';2001-04-25;7.9\n"
    "500;Intouchables;'À la suite d''un accident, un aristocrate engage un jeune de banlieue.';2011-11-02;8.3\n"
)
LANG_EN = (
    "id;title;overview;release_date;vote_average\r\n"
    "807;Se7en;Two detectives hunt a serial killer.;1995-09-22;8.4\r\n"
    "856;Who Framed Roger Rabbit;'Toon star Roger is worried;1988-06-21;7.5\r\n"
    "168903;Batman Returns;Batman faces the Penguin.;1992-06-19;6.9\r\n"
    "777;Closing;Closes the quote.';2000-01-01;5.0\r\n"
)
LANG_ES = (
    "id;title;overview;release_date;vote_average\n"
    "42;El Hoyo;Una prisión vertical.;2019-11-08;7.0\n"
    "42;El Hoyo;Duplicado.;2019-11-08;7.0\n"
)
REDDIT = [
    {"id": "abc", "title": "[TOMT][MOVIE] hacker in a simulation", "text": "Guy in black coat &amp; sunglasses",
     "imdb_url": "https://www.imdb.com/title/tt0133093"},
    {"id": "def", "title": "[TOMT] no answer", "text": "nothing", "imdb_url": ""},
]  # fmt: skip


@pytest.fixture
def synthetic_data_dir(tmp_path: Path) -> Path:
    """A data directory with every source laid out like ../shared/data, quirks included."""
    root = tmp_path / "data"
    (root / "netflix_titles").mkdir(parents=True)
    (root / "netflix_titles" / "netflix_titles.csv").write_text(NETFLIX_HEADER + NETFLIX_ROWS, encoding="utf-8")
    ml = root / "movielens-latest-small"
    ml.mkdir()
    (ml / "movies.csv").write_text(ML_MOVIES, encoding="utf-8")
    (ml / "links.csv").write_text(ML_LINKS)
    (ml / "ratings.csv").write_text(ML_RATINGS)
    (ml / "tags.csv").write_text(ML_TAGS)
    (root / "tmdb-5000").mkdir()
    with zipfile.ZipFile(root / "tmdb-5000" / "tmdb_5000_movies.csv.zip", "w") as archive:
        archive.writestr("tmdb_5000_movies.csv", _tmdb_csv())
        archive.writestr("__MACOSX/._tmdb_5000_movies.csv", b"\x00\x05junk")
    lang = root / "tmdb-language-specific"
    lang.mkdir()
    from data.sources.tmdb import LANGUAGE_FILES

    contents = {"fr": LANG_FR, "en": LANG_EN, "es": LANG_ES}
    for name, code in LANGUAGE_FILES.items():
        (lang / name).write_bytes(contents.get(code, "id;title;overview;release_date;vote_average\n").encode())
    tomt = root / "reddit-tomt"
    tomt.mkdir()
    with zipfile.ZipFile(tomt / "trec_dataset.zip", "w") as archive:
        for split in ("train", "validation", "test"):
            rows = REDDIT if split == "test" else REDDIT[:1]
            archive.writestr(f"trec_dataset/Movies/{split}.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
        archive.writestr("__MACOSX/trec_dataset/._.DS_Store", b"junk")
    with zipfile.ZipFile(tomt / "wikipage_id_to_imdb.json.zip", "w") as archive:
        archive.writestr("wikipage_id_to_imdb.json", json.dumps({"30007": ["tt0133093"], "324": ["ev0000003"]}))
    for split in ("2023/train", "2023/test", "2024/train", "2024/test-partial"):
        folder = root / "trec-tot" / "queries" / split
        folder.mkdir(parents=True)
        (folder / "queries.jsonl").write_text(
            json.dumps({"query_id": "1", "query": "Movie about a simulation .\n a man in a coat"}) + "\n"
            + json.dumps({"query_id": "2", "query": "An event, not a movie"}) + "\n")  # fmt: skip
        (folder / "qrel.txt").write_text("1 0 30007 1\n2 0 324 1\n")
    return root
