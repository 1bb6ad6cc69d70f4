"""embeddings.serial.SerialBatcher: one engine thread, concurrent callers batched, errors delivered."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from embeddings.serial import SerialBatcher


class RecordingEngine:
    """Embeds a text as [len, hash-ish, thread id] and records which thread ran each call and its size."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.threads: set[int] = set()
        self.batch_sizes: list[int] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.threads.add(threading.get_ident())
        self.batch_sizes.append(len(texts))
        time.sleep(self.delay_s)
        return np.asarray([[len(t), sum(map(ord, t)) % 997] for t in texts], dtype=np.float32)


def expected(texts: list[str]) -> np.ndarray:
    return np.asarray([[len(t), sum(map(ord, t)) % 997] for t in texts], dtype=np.float32)


def test_every_caller_gets_its_own_rows_from_one_engine_thread() -> None:
    engine = RecordingEngine(delay_s=0.005)
    batcher = SerialBatcher(engine, max_batch=16)
    queries = [[f"query {i}", f"q{i}{'x' * (i % 7)}"] if i % 3 == 0 else [f"single {i}"] for i in range(120)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(batcher, queries))
    for texts, rows in zip(queries, results, strict=True):
        np.testing.assert_array_equal(rows, expected(texts))
    assert len(engine.threads) == 1 and threading.get_ident() not in engine.threads
    # callers that waited were embedded together, never more than max_batch texts at once (a caller's
    # two texts are never split, so a batch may end one text over the cap only when it starts with them)
    assert batcher.calls == len(engine.batch_sizes) < len(queries)
    assert max(engine.batch_sizes) <= 16 + 1 and sum(engine.batch_sizes) == sum(map(len, queries))
    batcher.close()


def test_a_lone_caller_is_not_kept_waiting_for_company() -> None:
    engine = RecordingEngine()
    batcher = SerialBatcher(engine)
    for i in range(5):
        np.testing.assert_array_equal(batcher([f"t{i}"]), expected([f"t{i}"]))
    assert engine.batch_sizes == [1] * 5
    batcher.close()


def test_an_engine_error_reaches_the_callers_of_that_batch_and_the_thread_survives() -> None:
    calls = {"n": 0}

    def flaky(texts: list[str]) -> np.ndarray:
        calls["n"] += 1
        if any("boom" in t for t in texts):
            raise ValueError("engine failed on boom")
        return expected(texts)

    batcher = SerialBatcher(flaky)
    with pytest.raises(ValueError, match="boom"):
        batcher(["boom"])
    np.testing.assert_array_equal(batcher(["fine"]), expected(["fine"]))
    batcher.close()


def test_a_wrong_row_count_is_an_error_not_a_silent_misalignment() -> None:
    batcher = SerialBatcher(lambda texts: np.zeros((len(texts) + 1, 2), dtype=np.float32))
    with pytest.raises(RuntimeError, match="rows"):
        batcher(["a", "b"])
    batcher.close()


def test_closed_batchers_refuse_new_work() -> None:
    batcher = SerialBatcher(RecordingEngine())
    batcher(["warm"])
    batcher.close()
    batcher.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        batcher(["late"])
    with pytest.raises(ValueError, match="max_batch"):
        SerialBatcher(RecordingEngine(), max_batch=0)
