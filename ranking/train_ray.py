"""The ranker trained on Ray Train: ``TorchTrainer``, data-parallel over ``workers`` workers (gloo on
CPU, NCCL on GPUs), the same model and stages as :func:`ranking.train.train_ranker`.

The caller reads the Parquet event export, the catalog and the title embeddings once; they go to
the workers through Ray's object store (``ray.put``: one copy per node). Every worker runs
``train_ranker`` on them with the same seed and a
:class:`TorchDataParallel` hook: in the tower stage (the only costly one) each worker takes an equal
share of the seeded sample order and gradients are averaged with ``all_reduce`` before each step, so
the replicas stay identical (the closed-form item-item, head and refit stages are replicated: they
are cheap and deterministic). The per-worker batch is ``batch_size / workers``, so one step sees the
same number of samples as in one process. Rank 0 writes the artifact (``TrainedRanker.save``), which
the server loads as any other. ``ray`` is imported inside the functions (extra ``distributed``).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ranking.train import TrainConfig


class TorchDataParallel:
    """:class:`ranking.train.DataParallel` over an initialised ``torch.distributed`` process group."""

    def __init__(self, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank={rank}, world_size={world_size}; expected 0 <= rank < world_size")
        self.rank = rank
        self.world_size = world_size

    def shard(self, order: np.ndarray) -> np.ndarray:
        """This worker's share of ``order``: equal sizes on every worker (the remainder is dropped)."""
        usable = len(order) // self.world_size * self.world_size
        return order[:usable][self.rank :: self.world_size]

    def average_gradients(self, parameters: Any) -> None:
        import torch
        import torch.distributed as dist

        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()


@dataclass(frozen=True)
class RayTrainReport:
    """Where the artifact went, the validation metrics of rank 0, workers and wall seconds."""

    artifact: Path
    validation: dict[str, Any]
    workers: int
    seconds: float


def _train_loop(loop_config: dict[str, Any]) -> None:
    import ray
    import ray.train

    from ranking.train import train_ranker

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    events, titles, embeddings = ray.get(loop_config["inputs"])
    result = train_ranker(events, titles, embeddings=embeddings, config=TrainConfig(**loop_config["config"]),
                          data_version=loop_config["data_version"], data_parallel=TorchDataParallel(rank, world))  # fmt: skip
    if rank == 0:
        result.ranker.manifest["trainer"] = {"engine": "ray", "workers": world,
                                             "per_worker_batch": loop_config["config"]["batch_size"]}  # fmt: skip
        result.ranker.save(Path(loop_config["out_dir"]))
    ray.train.report({"rank": rank})


def train_ranker_ray(
    events: pd.DataFrame,
    titles: pd.DataFrame,
    *,
    embeddings: tuple[Sequence[str], np.ndarray] | None,
    out_dir: Path,
    config: TrainConfig,
    workers: int = 2,
    use_gpu: bool = False,
    data_version: str | None = None,
    storage_dir: Path | None = None,
) -> RayTrainReport:
    """Train as :func:`ranking.train.train_ranker` does, on Ray Train (Ray must be initialised), and
    write the artifact to ``out_dir``.

    ``config.batch_size`` is the global batch; each worker uses ``batch_size // workers``.
    """
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    if workers < 1:
        raise ValueError(f"workers={workers}; expected >= 1")
    started = time.perf_counter()
    worker_config = replace(config, batch_size=max(1, config.batch_size // workers), threads=1)
    storage = storage_dir or Path(tempfile.mkdtemp(prefix="marquee-ray-train-"))
    trainer = TorchTrainer(
        _train_loop,
        train_loop_config={"config": asdict(worker_config), "inputs": ray.put((events, titles, embeddings)),
                           "out_dir": str(out_dir), "data_version": data_version},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(name="marquee-ranker", storage_path=str(storage)),
    )  # fmt: skip
    trainer.fit()
    # rank 0's validation figures, as the artifact's manifest records them
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    validation = manifest["metrics"]["validation"]
    return RayTrainReport(out_dir, validation, workers, time.perf_counter() - started)
