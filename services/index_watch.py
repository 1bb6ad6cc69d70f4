"""Serve a new index version without a restart: watch ``CURRENT``, build the new engine aside, swap.

``marquee index build`` writes a version next to the serving one and then swaps the store's
``CURRENT`` pointer atomically (``embeddings.index_store``). :class:`IndexWatcher` polls that pointer
from a daemon thread; when it names a version the service is not serving, it loads the version
(checksums and the encoder's model fingerprint are verified), builds a complete search engine from it
while the old one keeps answering, warms it with one query and then replaces the "search" resource in
one assignment. Requests already running finish on the engine they started with.

A version that fails to load (corrupt, another model, unreadable) is reported in :meth:`status` and
in the log, the old engine keeps serving, and that version is not retried until ``CURRENT`` moves
again. Only search follows the swap; features, pages and ads keep the title vectors they started
with until the next restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("marquee.index_watch")


class IndexWatcher:
    """Poll ``index_dir``'s CURRENT every ``interval_s`` seconds and swap the engine ``build`` makes.

    Args:
        index_dir: the index store.
        serving: the version the current engine was built from.
        build: ``version -> engine``; loads that version and builds a warmed engine (may raise).
        install: puts a built engine in service (one assignment).
        interval_s: polling period; the thread starts with :meth:`start`.
    """

    def __init__(self, index_dir: Path, serving: str | None, build: Callable[[str], Any],
                 install: Callable[[Any], None], *, interval_s: float) -> None:  # fmt: skip
        if interval_s <= 0:
            raise ValueError(f"interval_s={interval_s}; expected > 0 (0 means: do not watch)")
        self.index_dir = Path(index_dir)
        self.serving = serving
        self.interval_s = float(interval_s)
        self._build = build
        self._install = install
        self._failed: str | None = None
        self.last_error: str | None = None
        self.last_check: float | None = None
        self.swaps = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def current(self) -> str | None:
        from embeddings.index_store import IndexStore

        return IndexStore(self.index_dir).current_version()

    def check_once(self) -> bool:
        """Swap to CURRENT when it names a new, loadable version. Returns True when it swapped."""
        with self._lock:  # one build at a time (the thread and a manual call)
            self.last_check = time.time()
            try:
                version = self.current()
            except Exception as exc:  # an unreadable pointer: keep serving, say why
                self.last_error = f"cannot read CURRENT in {self.index_dir}: {exc}"
                return False
            if version is None or version == self.serving or version == self._failed:
                return False
            started = time.perf_counter()
            try:
                engine = self._build(version)
            except Exception as exc:
                self._failed = version
                self.last_error = f"index version {version} not served ({type(exc).__name__}: {exc}); still serving {self.serving}"
                log.error("%s", self.last_error)
                return False
            self._install(engine)
            log.info("now serving index version %s (was %s; built in %.1f s)", version, self.serving,
                     time.perf_counter() - started)  # fmt: skip
            self.serving, self._failed, self.last_error = version, None, None
            self.swaps += 1
            return True

    def status(self) -> dict[str, Any]:
        try:
            current = self.current()
        except Exception:
            current = None
        return {"serving_version": self.serving, "current_version": current, "watch_interval_s": self.interval_s,
                "swaps": self.swaps, "last_check": self.last_check, "last_error": self.last_error}  # fmt: skip

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="index-watch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check_once()
            except Exception:  # never let the watcher die
                log.exception("index watch check failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
