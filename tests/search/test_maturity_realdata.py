"""Search's maturity ceiling on the real catalog reads the catalog's one maturity (a rating, else the rung
inferred from the genres by ``data.normalize.title_maturity``): a kids profile finds only rated kids titles, an
older-kids profile finds the family films inferred for it and nothing above its rung (lexical side only)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.catalog import read_titles
from data.normalize import MATURITY_LEVELS
from search.engine import SearchEngine
from search.request import Viewer

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture(scope="module")
def real(real_catalog_dir: Path) -> tuple[SearchEngine, pd.DataFrame]:
    titles = read_titles(real_catalog_dir)
    watched = titles[titles["netflix_id"].notna() | titles["movielens_id"].notna()]
    return SearchEngine.build(titles, scope_title_ids=watched["title_id"].tolist()), titles.set_index("title_id")


@pytest.mark.parametrize("query", ["toy story", "finding nemo", "the lion king", "himizu", "sisters", "cars"])
def test_a_kids_profile_finds_only_rated_kids_titles(real: tuple[SearchEngine, pd.DataFrame], query: str) -> None:
    engine, titles = real
    hits = engine.search(query, viewer=Viewer(profile_id="demo:kids", maturity_level=0), limit=50).hits
    for hit in hits:
        truth = titles.loc[hit.title_id]
        assert hit.maturity == "kids" and truth["maturity_level"] == 0 and truth["maturity_source"] == "rating"
    assert "tmdb:862" not in {h.title_id for h in hits}  # Toy Story is inferred older_kids, not kids


def test_an_older_kids_profile_finds_inferred_family_films(real: tuple[SearchEngine, pd.DataFrame]) -> None:
    engine, titles = real
    viewer = Viewer(profile_id="older-kid", maturity_level=MATURITY_LEVELS["older_kids"])
    for query, title_id in (("toy story", "tmdb:862"), ("finding nemo", "tmdb:12"), ("the lion king", "tmdb:8587")):
        hits = engine.search(query, viewer=viewer, limit=20).hits
        assert hits[0].title_id == title_id and hits[0].maturity == "older_kids", (query, hits[:3])
        assert all(titles.loc[h.title_id, "maturity_level"] <= 1 for h in hits)
    for query, title_id in (("himizu", "tmdb:98631"), ("sisters", "tmdb:266294"), ("beauty and the beast", "tmdb:10020")):
        hits = engine.search(query, viewer=viewer, limit=50).hits
        assert title_id not in {h.title_id for h in hits}  # unknown (adults) or inferred teens: above the ceiling
    teen = engine.search("beauty and the beast", viewer=Viewer(profile_id="teen", maturity_level=2), limit=5).hits
    assert "tmdb:10020" in {h.title_id for h in teen}
