"""The offline page metric on a synthetic held-out split."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from data.events import History
from features import ProfileFeatures, TitleFeatures
from ranking.page import PageRequest
from ranking.page_eval import HeldOutViewer, PageEvalReport, evaluate_pages, format_table
from tests.ranking.page_synthetic import Synthetic, make_synthetic


def _split(synth: Synthetic, held_out: int = 30) -> tuple[pd.DataFrame, list[HeldOutViewer]]:
    profiles = sorted(synth.events["profile_id"].unique())
    rng = np.random.default_rng(0)
    chosen = set(rng.choice(profiles, size=held_out, replace=False))
    train = synth.events[~synth.events["profile_id"].isin(chosen)]
    viewers = []
    for pid in sorted(chosen):
        part = synth.events[synth.events["profile_id"] == pid].sort_values("timestamp", kind="stable")
        cut = int(round(0.8 * len(part)))
        fed = part.iloc[:cut]
        viewers.append(HeldOutViewer(pid, History(pid, fed["title_id"].tolist(), fed["timestamp"].to_numpy(float),
                                                  fed["kind"].tolist(), cut),
                                     frozenset(part.iloc[cut:]["title_id"])))  # fmt: skip
    return train, viewers


@lru_cache(maxsize=1)
def report() -> tuple[Synthetic, PageEvalReport]:
    synth = make_synthetic()
    train, viewers = _split(synth)
    result = evaluate_pages(synth.titles, train, viewers, embeddings=synth.embeddings,
                            request=PageRequest(rows=5, per_row=6), servable_sources=None)  # fmt: skip
    return synth, result


def test_every_system_gets_the_same_viewers_and_page_size() -> None:
    _, result = report()
    page = result.system("page")
    assert result.viewers == 30 and page.viewers == 30
    assert 0 < page.titles <= 30 and 0 < page.titles_top3 <= 18
    for system in result.systems:
        assert system.viewers == 30
        assert system.titles <= page.titles + 1e-9  # never more titles than the built page
        assert 0 <= system.hits_top3 <= system.hits and 0 <= system.recall_top3 <= system.recall <= 1
    assert result.system("model").titles == page.titles and result.system("popularity").titles == page.titles


def test_personal_systems_beat_popularity_on_clustered_viewers() -> None:
    _, result = report()
    assert result.system("page").hits > result.system("popularity").hits
    assert result.system("model").hits > result.system("popularity").hits
    assert result.best_single_row in {s.system for s in result.systems} - {"page", "popularity"}


def test_hits_by_row_kind_and_the_table() -> None:
    _, result = report()
    assert abs(sum(result.hits_by_row_kind.values()) - 1.0) < 1e-3
    assert set(result.hits_by_row_kind) <= set(result.rows_by_kind)
    table = format_table(result)
    assert "(best single row)" in table and table.count("\n| ") == len(result.systems) + 1
    assert result.as_dict()["systems"][0]["system"] == "page"


def test_a_plugged_in_scorer_factory_is_used() -> None:
    synth = make_synthetic()
    train, viewers = _split(synth, held_out=10)
    calls: list[int] = []

    class Oracle:
        """Knows each viewer's future: the page metric must reach its maximum share of hits."""

        name = "oracle"

        def __init__(self, features: TitleFeatures) -> None:
            self.future = {v.profile_id: set(features.rows(sorted(v.future)).tolist()) for v in viewers}

        def score(self, profile: ProfileFeatures, title_rows: np.ndarray) -> np.ndarray:
            return np.array([r in self.future[profile.profile_id] for r in title_rows], dtype=np.float32)

    def factory(features: TitleFeatures, history: pd.DataFrame) -> Oracle:
        calls.append(len(history))
        return Oracle(features)

    result = evaluate_pages(synth.titles, train, viewers, scorer_factory=factory, servable_sources=None,
                            request=PageRequest(rows=4, per_row=10), single_rows=())  # fmt: skip
    assert calls == [len(train) + sum(len(v.fed) for v in viewers)]
    assert result.scorer == "oracle"
    model = result.system("model")
    eligible_future = np.mean([len(v.future - set(v.fed.title_ids)) / max(len(v.future), 1) for v in viewers])
    assert model.recall > 0.9 * eligible_future
    assert model.hits >= result.system("popularity").hits
