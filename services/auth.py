"""Partner API keys: scopes, revocation and a rate limit per key.

* Keys and their scopes come from ``MARQUEE_API_KEYS`` (``key:scope`` pairs, comma-separated; a key may
  appear once per scope). Scopes: ``decide`` (ad decisions: OpenRTB, VAST tags) and ``admin`` (the
  inventory API and status). A decide key cannot reach an admin operation (403), and vice versa.
* A key listed in ``MARQUEE_API_KEYS_REVOKED`` is refused (401, slug ``api-key-revoked``) even if it
  is still in ``MARQUEE_API_KEYS``; a missing key is 401 ``api-key-required``, an unknown one 401
  ``api-key-invalid``, a known key without the scope 403 ``api-key-scope``.
* Each accepted key may make ``MARQUEE_API_RATE_LIMIT`` requests (a ``limits`` expression such as
  ``200/second`` or ``200/second;5000/minute``, a moving window per key, in this process's memory);
  past it the answer is 429 with ``Retry-After`` (whole seconds until the window lets one more in).
* A key is presented as ``X-API-Key``, as ``Authorization: Bearer <key>``, or — only where players
  cannot send headers (the VAST tag) — as the ``key`` query parameter. The dependencies below
  declare these as OpenAPI security schemes, so the document says which operations need a key.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from services.errors import ProblemError
from services.settings import Settings
from services.state import Resources

SCOPES = ("decide", "admin")

_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKeyHeader",
                       description="A partner API key.")  # fmt: skip
_bearer = HTTPBearer(auto_error=False, scheme_name="BearerKey", description="The same key as a bearer token.")
_query = APIKeyQuery(name="key", auto_error=False, scheme_name="ApiKeyQuery",
                     description="The key as a query parameter (VAST tags: players cannot send headers).")  # fmt: skip


def parse_api_keys(spec: str) -> dict[str, frozenset[str]]:
    """'k1:decide,k2:admin,k1:admin' -> {key: scopes}; ValueError naming a malformed pair."""
    keys: dict[str, set[str]] = {}
    for pair in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, scope = pair.rpartition(":")
        if not sep or not key or scope not in SCOPES:
            raise ValueError(f"api key entry {pair!r}: expected 'key:scope' with scope in {', '.join(SCOPES)}")
        keys.setdefault(key, set()).add(scope)
    return {k: frozenset(v) for k, v in keys.items()}


def parse_revoked(spec: str) -> frozenset[str]:
    """'k1,k2' -> the revoked keys."""
    return frozenset(filter(None, (k.strip() for k in spec.split(","))))


@dataclass
class KeyRing:
    """The keys with their scopes, the revoked ones, and a moving-window limiter per key."""

    keys: dict[str, frozenset[str]]
    revoked: frozenset[str] = frozenset()
    rate_limit: str = "200/second"
    clock: Callable[[], float] = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        from limits import parse_many
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self._items = parse_many(self.rate_limit) if self.rate_limit.strip() else []
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        return cls(parse_api_keys(settings.api_keys), parse_revoked(settings.api_keys_revoked),
                   settings.api_rate_limit)  # fmt: skip

    def authorize(self, key: str | None, scope: str) -> None:
        """Raise the 401/403/429 problem for ``key`` and ``scope``; return when the request may go on."""
        if not key:
            raise ProblemError(401, "an API key is required: send it as 'X-API-Key' or 'Authorization: Bearer'",
                               slug="api-key-required", headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        if key in self.revoked:
            raise ProblemError(401, "this API key has been revoked", slug="api-key-revoked",
                               headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        scopes = self.keys.get(key)
        if scopes is None:
            raise ProblemError(401, "unknown API key", slug="api-key-invalid", headers={"WWW-Authenticate": "Bearer"})
        if scope not in scopes:
            raise ProblemError(403, f"this API key has scopes {sorted(scopes)}; expected '{scope}'", slug="api-key-scope")
        self._throttle(key)

    def accepts(self, key: str, scope: str) -> bool:
        """True when ``key`` is known, not revoked and has ``scope`` (no rate limit is charged)."""
        return key not in self.revoked and scope in self.keys.get(key, frozenset())

    def _throttle(self, key: str) -> None:
        for item in self._items:
            with self._lock:
                allowed = self._limiter.hit(item, "api-key", key)
            if not allowed:
                reset, _ = self._limiter.get_window_stats(item, "api-key", key)
                retry = max(1, math.ceil(reset - self.clock()))
                raise ProblemError(429, f"rate limit {item} exceeded for this API key; retry in {retry} s",
                                   slug="rate-limited", headers={"Retry-After": str(retry)})  # fmt: skip


def key_ring(resources: Resources) -> KeyRing:
    """The app's shared :class:`KeyRing` (built from the settings on first use)."""
    return resources.get("api_keys", lambda: KeyRing.from_settings(resources.settings))


def _ring(request: Request) -> KeyRing:
    resources: Resources | None = getattr(request.app.state, "resources", None)
    if resources is None:
        raise ProblemError(503, "the service is starting; see /readyz", slug="not-ready")
    return key_ring(resources)


KeyRingDep = Annotated[KeyRing, Depends(_ring)]


def _presented(header: str | None, bearer: HTTPAuthorizationCredentials | None, query: str | None) -> str | None:
    if header:
        return header
    if bearer is not None and bearer.credentials:
        return bearer.credentials.strip()
    return query or None


def require(scope: str, *, allow_query: bool = False) -> Callable[..., None]:
    """A dependency that admits a request only with a valid, unrevoked, unthrottled key of ``scope``."""
    if scope not in SCOPES:
        raise ValueError(f"scope={scope!r}: expected one of {', '.join(SCOPES)}")
    if allow_query:

        def with_query(request: Request, header: Annotated[str | None, Depends(_header)],
                       bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                       query: Annotated[str | None, Depends(_query)]) -> None:  # fmt: skip
            _ring(request).authorize(_presented(header, bearer, query), scope)

        return with_query

    def headers_only(request: Request, header: Annotated[str | None, Depends(_header)],
                     bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:  # fmt: skip
        _ring(request).authorize(_presented(header, bearer, None), scope)

    return headers_only
