"""Heavy shared state, built once in the lifespan and shared by the routers.

``Resources.get(name, factory)`` builds a resource on first use and caches it, so the catalog,
encoder, index, event store, features, ranker and ad engine are each loaded once even though
several areas use them. Names in use: "catalog", "encoder", "index", "search", "event_store",
"features", "ranker", "pages", "ads".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from services.settings import Settings

T = TypeVar("T")


class Resources:
    """A small thread-safe registry of lazily built singletons."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._items: dict[str, Any] = {}
        self._lock = threading.RLock()
        self.ready: dict[str, bool] = {}
        self.errors: dict[str, str] = {}

    def get(self, name: str, factory: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._items:
                self._items[name] = factory()
            return self._items[name]  # type: ignore[no-any-return]

    def put(self, name: str, value: Any) -> None:
        with self._lock:
            self._items[name] = value

    def peek(self, name: str) -> Any | None:
        return self._items.get(name)

    def close(self) -> None:
        for value in reversed(list(self._items.values())):
            closer = getattr(value, "close", None)
            if callable(closer):
                closer()
        self._items.clear()
