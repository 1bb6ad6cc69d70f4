"""The ranker trained on Ray Train (TorchTrainer, data-parallel, CPU workers, gloo) vs the
single-process trainer, in one run, on the same Parquet event export, catalog and title embeddings.

Reports each trainer's validation figures (the head-validation users at the evaluation cut, as
recorded in the artifact manifest: NDCG@10, Recall@10/20, coverage), wall seconds, and the
run-to-run noise of the single-process trainer (the same trainer with another seed), so the gap
between the two trainers can be read against it.

    python benchmarks/ray_train.py          # quick: the default artifacts, 2 workers, 4 tower epochs
    python benchmarks/ray_train.py --full   # TrainConfig defaults (8 tower epochs)

Reads MARQUEE_ARTIFACTS_DIR (catalog, index, events/events_export.parquet); writes only under a
temporary folder and benchmarks/results/ray_train.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on loopback only

from benchmarks._common import hardware, write_result  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import ray

    from data.catalog import read_titles
    from data.events import read_event_export
    from embeddings.job import load_title_embeddings
    from ranking.train import TrainConfig, train_ranker
    from ranking.train_ray import train_ranker_ray
    from services.settings import Settings

    settings = Settings()
    export = settings.artifacts_dir / "events" / "events_export.parquet"
    events = read_event_export(export)
    titles = read_titles(settings.catalog_dir)
    embeddings = load_title_embeddings(settings.index_dir)
    config = TrainConfig(device="cpu")
    if not args.full:
        config = replace(config, epochs=4)

    results: dict[str, dict] = {}
    for name, seed in (("single_seed0", 0), ("single_seed1", 1)):
        started = time.perf_counter()
        result = train_ranker(events, titles, embeddings=embeddings, config=replace(config, seed=seed))
        results[name] = {"seconds": round(time.perf_counter() - started, 1), "validation": result.validation}
        print(name, results[name], file=sys.stderr, flush=True)
    ray.init(address="local", num_cpus=args.workers, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        report = train_ranker_ray(events, titles, embeddings=embeddings, out_dir=Path(tmp) / "ranker",
                                  config=config, workers=args.workers, storage_dir=Path(tmp) / "ray")  # fmt: skip
    ray.shutdown()
    results["ray_seed0"] = {"seconds": round(report.seconds, 1), "validation": report.validation}
    print("ray", results["ray_seed0"], file=sys.stderr, flush=True)

    def ndcg(name: str) -> float:
        return float(results[name]["validation"]["marquee"]["ndcg@10"])

    write_result(
        "ray_train",
        {"events": len(events), "profiles": int(events["profile_id"].nunique()), "export": str(export),
         "epochs": config.epochs, "head_epochs": config.head_epochs, "global_batch": config.batch_size,
         "ray_workers": args.workers, "ray": ray.__version__, "device": "cpu",
         "validation": "head-validation users of the training split (manifest metrics.validation)"},
        results,
        {"ndcg@10_ray_vs_single": round(ndcg("ray_seed0") / ndcg("single_seed0"), 4),
         "ndcg@10_single_seed1_vs_seed0": round(ndcg("single_seed1") / ndcg("single_seed0"), 4),
         "seconds_ray_vs_single": round(results["ray_seed0"]["seconds"] / results["single_seed0"]["seconds"], 3)},
        hardware_info=hardware(),
    )  # fmt: skip


if __name__ == "__main__":
    main()
