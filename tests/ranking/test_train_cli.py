"""``marquee train ranker`` end to end on a synthetic catalog: export, train, artifact, --if-missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.features.synthetic import make_world, write_catalog


@pytest.mark.slow
def test_train_ranker_writes_an_artifact_with_a_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.cli import _load_commands
    from services.cli_groups import app
    from services.settings import get_settings

    world = make_world(n_titles=40, n_users=30, events_per_user=8, dim=8)
    write_catalog(world, tmp_path / "artifacts" / "catalog")
    monkeypatch.setenv("MARQUEE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MARQUEE_EVENTS_DB", str(tmp_path / "events.db"))
    monkeypatch.setenv("MARQUEE_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    try:
        _load_commands()
        runner = CliRunner()
        result = runner.invoke(app, ["train", "ranker", "--epochs", "1", "--device", "cpu"])
        assert result.exit_code == 0, result.output
        artifact = tmp_path / "artifacts" / "models" / "ranker"
        manifest = json.loads((artifact / "manifest.json").read_text())
        assert manifest["seed"] == 0 and manifest["train_config"]["epochs"] == 1
        assert manifest["embeddings_used"] is False, "no index was built, and the manifest says so"
        assert manifest["events"] == len(world.events) and "catalog synthetic-1" in manifest["data_version"]
        assert {"model.pt", "itemitem.npy", "vocab.json"} <= {p.name for p in artifact.iterdir()}
        assert (tmp_path / "artifacts" / "events" / "events_export.parquet").is_file()
        again = runner.invoke(app, ["train", "ranker", "--if-missing"])
        assert again.exit_code == 0 and "nothing to do" in again.output
        # an artifact of the old format (no recorded head inputs) is refused at load and retrained
        from ranking.model import RankerFormatError, TrainedRanker

        old = {k: v for k, v in manifest.items() if k != "head_inputs"}
        (artifact / "manifest.json").write_text(json.dumps(old))
        with pytest.raises(RankerFormatError, match="older format"):
            TrainedRanker.load(artifact)
        healed = runner.invoke(app, ["train", "ranker", "--if-missing", "--epochs", "1", "--device", "cpu"])
        assert healed.exit_code == 0 and "retraining" in healed.output, healed.output
        assert "head_inputs" in json.loads((artifact / "manifest.json").read_text())
        TrainedRanker.load(artifact)
        # an artifact written before the unified model (no tasks, no model_format) is refused too
        healed_manifest = json.loads((artifact / "manifest.json").read_text())
        assert healed_manifest["tasks"] == ["top_picks", "because_you_watched", "similar", "search"]
        (artifact / "manifest.json").write_text(json.dumps({k: v for k, v in healed_manifest.items()
                                                            if k not in ("tasks", "model_format")}))  # fmt: skip
        with pytest.raises(RankerFormatError, match="tasks"):
            TrainedRanker.load(artifact)
    finally:
        get_settings.cache_clear()
