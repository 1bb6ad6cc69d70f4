"""``marquee eval page``: the same held-out viewers as the ranking evaluation, and an end-to-end run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ranking.splits import held_out_users_split
from services.commands.page import evaluation_order, held_out_viewers
from services.settings import get_settings
from tests.ranking.page_synthetic import make_synthetic, write_catalog


def test_held_out_viewers_are_the_ranking_evaluations_users() -> None:
    synth = make_synthetic(n_viewers=60)
    shuffled = synth.events.sample(frac=1.0, random_state=1)  # the catalog orders profiles as strings
    ordered = evaluation_order(shuffled)
    ids = list(dict.fromkeys(ordered["profile_id"]))
    assert ids == sorted(ids, key=lambda p: int(p.split(":")[1]))  # users by MovieLens userId
    split, viewers = held_out_viewers(ordered, held_out=15, seed=0)
    expected = held_out_users_split(ordered, n_test=15, seed=0)
    assert [v.profile_id for v in viewers] == [u.profile_id for u in expected.users]
    for viewer, user in zip(viewers, expected.users, strict=True):
        assert viewer.future == frozenset(user.held) and viewer.fed.title_ids == user.fed.title_ids
        assert not viewer.future & set(viewer.fed.title_ids)
    assert not set(split.train_events["profile_id"]) & {v.profile_id for v in viewers}
    timestamps = [np.diff(v.fed.timestamps) for v in viewers]
    assert all((d >= 0).all() for d in timestamps)


@pytest.fixture
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    write_catalog(make_synthetic(n_viewers=80), tmp_path / "artifacts" / "catalog")
    monkeypatch.setenv("MARQUEE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    get_settings.cache_clear()
    yield tmp_path / "artifacts"
    get_settings.cache_clear()


def test_eval_page_command_prints_the_side_by_side_json(artifacts: Path) -> None:
    from services.cli import app

    result = CliRunner().invoke(app, ["eval", "page", "--json", "--scorer", "heuristic", "--held-out", "20",
                                      "--rows", "4", "--per-row", "5", "--servable", "watched"])  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    systems = {s["system"]: s for s in payload["systems"]}
    assert {"page", "model", "popularity"} <= set(systems)
    assert payload["best_single_row"] in systems and payload["scorer"] == "heuristic"
    assert (
        payload["split"]["n_test_users"] == 20 and payload["viewers"] == payload["split"]["users_evaluated"]
    )
    assert systems["page"]["titles"] == systems["popularity"]["titles"] > 0
    assert payload["embeddings"] is False


def test_eval_page_command_rejects_bad_options(artifacts: Path) -> None:
    from services.cli import app

    for args in (["--scorer", "magic"], ["--servable", "everything"], ["--rows", "0"]):
        result = CliRunner().invoke(app, ["eval", "page", *args])
        assert result.exit_code == 2, (args, result.output)
