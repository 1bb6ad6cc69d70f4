"""The ranker trained on Ray Train (2 CPU workers, gloo) vs in one process, on the synthetic world:
the artifact loads and ranks, its validation figures sit next to the single-process trainer's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ranking.model import TrainedRanker
from ranking.train import TrainConfig, train_ranker
from tests.features.synthetic import make_world

pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[distributed]')")

TINY = TrainConfig(epochs=4, head_epochs=6, dim=16, max_len=10, cuts_per_user=4, batch_size=32, threads=1,
                   lam=5.0, itemitem_min_count=1, device="cpu")  # fmt: skip


def test_shards_are_disjoint_and_equal_in_size() -> None:
    from ranking.train_ray import TorchDataParallel

    order = np.random.default_rng(0).permutation(11)
    shards = [TorchDataParallel(rank, 3).shard(order) for rank in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]
    assert len(set(np.concatenate(shards).tolist())) == 9
    with pytest.raises(ValueError, match="rank=3"):
        TorchDataParallel(3, 3)


@pytest.mark.slow
@pytest.mark.xdist_group("encoder")
def test_ray_trainer_artifact_loads_and_ranks_like_the_single_process_one(ray_local: None, tmp_path: Path) -> None:
    from ranking.train_ray import train_ranker_ray

    world = make_world(n_titles=80, n_users=120, n_clusters=4, events_per_user=14, dim=16, seed=1)
    single = train_ranker(world.events, world.titles, embeddings=world.embeddings, config=TINY)
    report = train_ranker_ray(world.events, world.titles, embeddings=world.embeddings, out_dir=tmp_path / "ranker",
                              config=TINY, workers=2, storage_dir=tmp_path / "ray-train")  # fmt: skip
    loaded = TrainedRanker.load(tmp_path / "ranker")
    assert loaded.manifest["trainer"] == {"engine": "ray", "workers": 2, "per_worker_batch": 16}
    assert set(report.validation) == set(single.validation)
    ndcg_ray, ndcg_single = report.validation["marquee"]["ndcg@10"], single.validation["marquee"]["ndcg@10"]
    # the synthetic world's clusters are easy: both trainers find them (random ranking scores ~0.1)
    assert ndcg_ray > 0.3 and ndcg_single > 0.3
    assert abs(ndcg_ray - ndcg_single) < 0.15
