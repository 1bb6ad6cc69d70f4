"""The embedding job on Ray: the same index version as :func:`embeddings.job.build_index_version`,
with the texts embedded by a pool of encoder actors (optional extra ``distributed``).

Steps (the single-process job's contract is kept; only the embedding step is distributed):

1. the driver selects the scope's titles and their passages (:func:`embeddings.job.catalog_texts`),
   and looks every text up in the embedding cache by the same key as the single-process job
   (model fingerprint, :func:`data.embedding_cache.text_hash`);
2. the texts not in the cache are written to Parquet (``text_hash``, ``text``), sorted by length so
   each batch holds texts of similar length; Ray Data reads them and ``map_batches`` runs
   :class:`EncoderActor` over an ``ActorPoolStrategy`` pool: each actor loads the model once,
   with ``num_gpus=1`` per actor where the cluster has GPUs, else ``cpus_per_actor`` CPUs and as
   many torch threads;
3. the actors' output (``text_hash``, ``fingerprint``, ``vector``) is written as Parquet vector
   shards; the driver checks every shard was made by the same model fingerprint and puts the
   vectors into the cache;
4. :func:`embeddings.job.build_index_version` then builds, writes and activates the index version
   from the cache (same ids, manifest, sidecars and checks as the single-process job).

On one machine the shards go to a local folder; on a multi-node cluster ``shard_dir`` must be
storage every node and the driver can reach (NFS, or a URI Ray Data and pyarrow understand).

A driver that embeds again and again (incremental catalog updates, a benchmark's steady state) can
keep an :class:`EncoderPool` instead: Ray Core actors that load the model once when the pool starts
and stay warm between calls; ``embed_missing_with_ray(..., pool=pool)`` then sends the missing texts
to those actors in batches (longest first, so the last batches are the short ones) and skips the
Parquet round trip. Steps 1, 3 (fingerprint check, cache) and 4 are the same on both paths.

Each actor caps torch at ``EncoderSpec.num_threads`` threads and the tokenizer's thread pool
(``RAYON_NUM_THREADS``) at the same number, so actors sharing a machine do not oversubscribe it.
``ray`` is imported inside the functions: importing this module does not need the extra.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from data.embedding_cache import EmbeddingCache, text_hash
from embeddings.job import BuildReport, ItemEncoder, JobError, build_index_version

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_BATCH_TEXTS = 64
"""Texts per actor call: large enough that the call overhead is negligible (~1 ms vs ~2-4 s of
encoding on a CPU core), small enough that a pool's last batches finish close together."""


@dataclass(frozen=True)
class EncoderSpec:
    """How each actor loads its encoder (the arguments of :func:`embeddings.encoder.load_encoder`)."""

    model: str
    cache_dir: Path
    device: str = "auto"
    num_threads: int | None = None


@dataclass(frozen=True)
class RayEmbedConfig:
    """The actor pool: ``actors`` encoder actors of ``cpus_per_actor`` CPUs (or one GPU each when
    ``gpus`` is true), ``batch_texts`` texts per ``map_batches`` call, shards under ``shard_dir``
    (a temporary folder, removed afterwards, when None)."""

    actors: int = 1
    cpus_per_actor: int = 1
    gpus: bool = False
    batch_texts: int = DEFAULT_BATCH_TEXTS
    shard_dir: Path | None = None


@dataclass(frozen=True)
class RayEmbedReport:
    """What the Ray embedding step did: texts embedded by the actors, found in the cache, seconds."""

    embedded: int
    cached: int
    seconds: float
    actors: int
    shards: list[str] = field(default_factory=list)


class EncoderActor:
    """Loads the encoder once, then embeds batches: as a Ray Data callable class ``__call__`` takes
    and returns Arrow tables of (text_hash, text) -> (text_hash, fingerprint, vector); as an
    :class:`EncoderPool` actor ``encode`` takes texts and returns float32 (n, dim) unit rows."""

    def __init__(self, spec: EncoderSpec) -> None:
        import os

        if spec.num_threads is not None:
            # the fast tokenizer's Rayon pool would otherwise start one thread per host core in every actor
            os.environ.setdefault("RAYON_NUM_THREADS", str(spec.num_threads))
        from embeddings.encoder import load_encoder

        self.encoder = load_encoder(spec.model, device=spec.device, cache_dir=spec.cache_dir,
                                    num_threads=spec.num_threads, query_engine="torch")  # fmt: skip

    def fingerprint(self) -> str:
        """The loaded model's fingerprint (a pool's start-up waits on it: the model is loaded)."""
        return self.encoder.fingerprint

    def encode(self, texts: list[str]) -> np.ndarray:
        """Texts -> float32 (n, dim) unit rows (the object store passes the array without pickling it)."""
        return np.ascontiguousarray(self.encoder.encode_items(texts), dtype=np.float32)

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        texts = batch.column("text").to_pylist()
        vectors = np.ascontiguousarray(self.encoder.encode_items(texts), dtype=np.float32)
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        return pa.table({
            "text_hash": batch.column("text_hash"),
            "fingerprint": pa.array([self.encoder.fingerprint] * len(texts), type=pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
        })  # fmt: skip


class EncoderPool:
    """``config.actors`` warm encoder actors (Ray Core): each loads the model when the pool starts
    and keeps it until :meth:`close`. Ray must be initialised. Each actor reserves one GPU when
    ``config.gpus``, else ``config.cpus_per_actor`` CPUs, and runs torch with ``spec.num_threads``."""

    def __init__(self, spec: EncoderSpec, config: RayEmbedConfig) -> None:
        import ray

        if config.actors < 1 or config.cpus_per_actor < 1 or config.batch_texts < 1:
            raise JobError(f"actors={config.actors}, cpus_per_actor={config.cpus_per_actor}, "
                           f"batch_texts={config.batch_texts}; expected each >= 1")  # fmt: skip
        if config.gpus:
            remote = ray.remote(num_gpus=1, num_cpus=1)(EncoderActor)
        else:
            remote = ray.remote(num_cpus=config.cpus_per_actor)(EncoderActor)
        self.batch_texts = config.batch_texts
        self.actors: list[object] = [remote.remote(spec) for _ in range(config.actors)]
        fingerprints = set(ray.get([actor.fingerprint.remote() for actor in self.actors]))  # type: ignore[attr-defined]
        if len(fingerprints) != 1:
            raise JobError(f"the pool's actors loaded models with fingerprints {sorted(fingerprints)}; expected one")
        self.fingerprint: str = fingerprints.pop()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> float32 (n, dim) unit rows in input order. Batches of ``batch_texts`` go to
        whichever actor is free, longest texts first (the pool's tail is then the shortest work);
        each actor has two batches queued, so it never waits for the driver between batches."""
        import ray

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[start : start + self.batch_texts] for start in range(0, len(order), self.batch_texts)]
        pending: dict[object, tuple[object, int]] = {}
        next_batch = 0

        def submit(actor: object) -> None:
            nonlocal next_batch
            if next_batch < len(batches):
                ref = actor.encode.remote([texts[i] for i in batches[next_batch]])  # type: ignore[attr-defined]
                pending[ref] = (actor, next_batch)
                next_batch += 1

        for actor in self.actors * 2:
            submit(actor)
        out: np.ndarray | None = None
        while pending:
            [ready], _ = ray.wait(list(pending), num_returns=1)
            actor, number = pending.pop(ready)
            submit(actor)
            vectors = ray.get(ready)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[batches[number]] = vectors
        return out if out is not None else np.empty((0, 0), dtype=np.float32)

    def close(self) -> None:
        """Stop the actors (their models are released)."""
        import ray

        for actor in self.actors:
            ray.kill(actor)  # type: ignore[arg-type]
        self.actors = []


def ensure_ray(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Connect to ``address`` ("auto", "ray://host:port", a GCS address) or, when None, start a new local
    Ray (``num_cpus`` CPUs, node IP 127.0.0.1; never a cluster recorded in /tmp/ray); does nothing when
    Ray is already initialised."""
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(address="local", num_cpus=num_cpus, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)


def actor_cpus(requested: float, actors: int) -> float:
    """CPUs each of ``actors`` Ray Data actors may reserve: ``requested``, lowered so that one CPU of the
    connected cluster stays free for Ray Data's own read, repartition and write tasks (actors holding
    every CPU starve those tasks and the job never progresses: seen with 2 actors on a 2-CPU machine)."""
    import ray

    total = float(ray.cluster_resources().get("CPU", 0))
    spare = total - 1 if total >= 2 else total / 2
    return max(0.01, min(float(requested), spare / max(actors, 1)))


def cluster_has_gpus() -> bool:
    """Whether the connected Ray cluster advertises at least one GPU."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0)) >= 1


def embed_missing_with_ray(
    texts: Sequence[str],
    *,
    cache: EmbeddingCache,
    fingerprint: str,
    spec: EncoderSpec | None = None,
    config: RayEmbedConfig | None = None,
    pool: EncoderPool | None = None,
) -> RayEmbedReport:
    """Embed the texts missing from ``cache`` (for ``fingerprint``) on Ray and put them in the cache.

    Ray must be initialised (:func:`ensure_ray`). Without ``pool`` the texts go through Ray Data to
    ``config.actors`` actors started for this job from ``spec``; with ``pool`` they go to its warm
    actors (``spec`` and ``config`` are then not used). Raises :class:`JobError` when an actor's
    encoder has another fingerprint than ``fingerprint`` or a text comes back without a vector.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    started = time.perf_counter()
    config = config or RayEmbedConfig()
    if config.actors < 1 or config.cpus_per_actor < 1 or config.batch_texts < 1:
        raise JobError(f"actors={config.actors}, cpus_per_actor={config.cpus_per_actor}, "
                       f"batch_texts={config.batch_texts}; expected each >= 1")  # fmt: skip
    if pool is None and spec is None:
        raise JobError("embed_missing_with_ray needs an EncoderSpec (actors started for the job) or an EncoderPool")
    first_text: dict[bytes, str] = {}
    for text in texts:
        first_text.setdefault(text_hash(text), text)
    unique = list(first_text)
    found = cache.get_many(fingerprint, unique)
    missing = sorted((h for h in unique if h not in found), key=lambda h: len(first_text[h]))
    if not missing:
        return RayEmbedReport(0, len(unique), time.perf_counter() - started, 0)
    if pool is not None:
        if pool.fingerprint != fingerprint:
            raise JobError(f"the encoder pool's model fingerprint is {pool.fingerprint!r}; "
                           f"expected {fingerprint!r} (the driver's model)")  # fmt: skip
        vectors = pool.encode([first_text[h] for h in missing])
        cache.put_many(fingerprint, zip(missing, vectors, strict=True))
        return RayEmbedReport(len(missing), len(unique) - len(missing), time.perf_counter() - started,
                              len(pool.actors))  # fmt: skip

    root = Path(config.shard_dir) if config.shard_dir else Path(tempfile.mkdtemp(prefix="marquee-ray-embed-"))
    run_dir = root / f"run-{time.time_ns()}"
    inputs, outputs = run_dir / "texts", run_dir / "vectors"
    inputs.mkdir(parents=True)
    try:
        blocks = max(1, min(len(missing), config.actors * 4, -(-len(missing) // config.batch_texts)))
        per_file = -(-len(missing) // blocks)
        for number, start in enumerate(range(0, len(missing), per_file)):
            chunk = missing[start : start + per_file]
            pq.write_table(pa.table({"text_hash": pa.array(chunk, type=pa.binary()),
                                     "text": pa.array([first_text[h] for h in chunk], type=pa.string())}),
                           inputs / f"part-{number:05d}.parquet")  # fmt: skip
        # one block per input file, so every actor of the pool gets work
        dataset = ray.data.read_parquet(str(inputs), override_num_blocks=blocks).repartition(blocks).map_batches(
            EncoderActor,
            fn_constructor_kwargs={"spec": spec},
            compute=ray.data.ActorPoolStrategy(size=config.actors),
            batch_size=config.batch_texts,
            batch_format="pyarrow",
            num_gpus=1 if config.gpus else None,
            num_cpus=None if config.gpus else actor_cpus(config.cpus_per_actor, config.actors),
        )
        dataset.write_parquet(str(outputs))
        shards = sorted(outputs.glob("*.parquet"))
        table = pq.read_table(outputs) if shards else None
        if table is None or table.num_rows != len(missing):
            raise JobError(f"the Ray job returned {0 if table is None else table.num_rows} vectors; "
                           f"expected {len(missing)}")  # fmt: skip
        fingerprints = set(table.column("fingerprint").to_pylist())
        if fingerprints != {fingerprint}:
            raise JobError(f"the encoder actors report model fingerprints {sorted(fingerprints)}; "
                           f"expected {fingerprint!r} (the driver's model)")  # fmt: skip
        vector_column = table.column("vector").combine_chunks()
        dim = vector_column.type.list_size
        vectors = vector_column.flatten().to_numpy().astype(np.float32).reshape(-1, dim)
        hashes = [bytes(h) for h in table.column("text_hash").to_pylist()]
        if set(hashes) != set(missing):
            raise JobError("the Ray job's text hashes differ from the texts it was given")
        cache.put_many(fingerprint, zip(hashes, vectors, strict=True))
        shard_names = [p.name for p in shards]
    finally:
        if config.shard_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return RayEmbedReport(len(missing), len(unique) - len(missing), time.perf_counter() - started,
                          config.actors, shard_names)  # fmt: skip


class _CacheOnlyEncoder:
    """The driver's view of the encoder once Ray has filled the cache: fingerprint and dimension; the
    few short title strings (:func:`embeddings.job.catalog_title_strings`) are embedded by the driver's
    encoder as queries."""

    def __init__(self, encoder: ItemEncoder) -> None:
        self.fingerprint = encoder.fingerprint
        self.dim = encoder.dim
        self._encoder = encoder

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encoder.encode_queries(texts)

    def encode_items(self, texts: list[str]) -> np.ndarray:
        raise JobError(f"{len(texts)} texts are not in the embedding cache after the Ray job embedded them; "
                       "expected every text cached (was the cache written by another process?)")  # fmt: skip


def build_index_version_ray(
    *,
    titles: pd.DataFrame,
    catalog_version: str,
    scope: str,
    encoder: ItemEncoder,
    spec: EncoderSpec,
    cache: EmbeddingCache,
    index_dir: Path,
    config: RayEmbedConfig,
    kind: str = "auto",
) -> tuple[BuildReport, RayEmbedReport]:
    """Embed a scope of the catalog on Ray, then build and activate the index version as the
    single-process job does. ``encoder`` gives the fingerprint and dimension and embeds the title
    strings (queries); the passages are embedded by the actors."""
    from embeddings.job import catalog_texts, select_titles

    chosen = select_titles(titles, scope)
    if chosen.empty:
        raise JobError(f"scope {scope!r} selects no titles from a catalog of {len(titles)}")
    texts = catalog_texts(chosen)["text"].tolist()
    ray_report = embed_missing_with_ray(texts, cache=cache, fingerprint=encoder.fingerprint, spec=spec,
                                        config=config)  # fmt: skip
    report = build_index_version(titles=titles, catalog_version=catalog_version, scope=scope,
                                 encoder=_CacheOnlyEncoder(encoder), cache=cache,
                                 index_dir=index_dir, kind=kind)  # fmt: skip
    return report, ray_report
