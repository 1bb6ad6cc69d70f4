"""Request bodies: an explicit size limit (413) and strict JSON (400), before any route sees them.

:class:`BodyLimitMiddleware` (pure ASGI) answers, as problem+json:

* **413** when ``Content-Length`` announces more than ``max_bytes`` (default :data:`MAX_BODY_BYTES`,
  2 MiB), or when a body streamed without a length grows past it (it stops reading there);
* **400** when a POST/PUT/PATCH body sent as JSON (``application/json``, ``*+json`` or no content
  type) is not *strict* JSON: invalid UTF-8, a syntax error, ``NaN``/``Infinity``, a number that
  overflows a float (``1e999``), a duplicate key in one object, or nesting deeper than
  :data:`MAX_JSON_DEPTH`. Python's ``json`` accepts all of these silently (and keeps the last of
  two duplicate keys), which would let a request mean something other than what it says.

Paths in ``raw_paths`` skip the JSON check (the OpenRTB endpoint parses its own body with
:func:`strict_json_loads` and answers in OpenRTB's format) but not the size limit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BeforeValidator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.errors import problem

MAX_BODY_BYTES = 2 * 1024 * 1024
"""Largest request body accepted (2 MiB: a full batch of 1,000 events is about 200 KB)."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects accepted in a JSON body (OpenRTB requests use about 5)."""
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


INTEGRAL = BeforeValidator(_integral)
JsonInt = Annotated[int, INTEGRAL]
"""An integer as JSON Schema defines one, for ``strict`` request models: ``5`` and ``5.0`` are integers;
``true``, ``"5"`` and ``5.5`` are not (pydantic's lax mode would take the first two, strict mode refuses
``5.0``). A constrained optional one is written ``Annotated[int, Field(ge=1), INTEGRAL] | None`` so that
the constraint reaches the JSON schema as ``minimum``."""


class MalformedJSONError(ValueError):
    """A body that is not strict JSON; the message says where and why."""


def _no_constant(name: str) -> Any:
    raise MalformedJSONError(f"{name} is not a JSON number; expected a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedJSONError(f"number {text[:40]} overflows a 64-bit float; expected a finite number")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedJSONError(f"duplicate key {key[:80]!r} in one object; expected each key once")
        out[key] = value
    return out


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_OPEN = {0x5B: 1, 0x7B: 1, 0x5D: -1, 0x7D: -1}


def _depth_exceeds(raw: bytes, limit: int) -> bool:
    """True when brackets outside strings nest deeper than ``limit`` (C-speed: regex and numpy, no recursion)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    import numpy as np

    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    steps = np.frombuffer(brackets, dtype=np.uint8)
    depth = np.cumsum(np.where((steps == 0x5B) | (steps == 0x7B), 1, -1))
    return bool(depth.size) and int(depth.max()) > limit


_NOT_BRACKETS = bytes(b for b in range(256) if b not in _OPEN)


def strict_json_loads(raw: bytes | str) -> Any:
    """Parse JSON strictly (see the module docstring); raises :class:`MalformedJSONError`."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if _depth_exceeds(data, MAX_JSON_DEPTH):
        raise MalformedJSONError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJSONError(f"body is not UTF-8 at byte {exc.start}") from None
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float,
                          object_pairs_hook=_unique_keys)  # fmt: skip
    except MalformedJSONError:
        raise
    except json.JSONDecodeError as exc:
        raise MalformedJSONError(f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python's 4,300-digit conversion limit
        raise MalformedJSONError(f"body is not usable JSON: {exc}") from None
    except RecursionError:
        raise MalformedJSONError("JSON nested too deeply") from None


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI parses a body without a content type as JSON
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class BodyLimitMiddleware:
    """Reject oversized bodies (413) and non-strict JSON bodies (400) with problem+json."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES, raw_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)
        self.raw_paths = frozenset(raw_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(scope, receive, send, path)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send, path)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body and path not in self.raw_paths and _is_json(headers.get("content-type")):
            try:
                strict_json_loads(body)
            except MalformedJSONError as exc:
                await problem(400, str(exc), instance=path, slug="malformed-json")(scope, receive, send)
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        response = problem(413, f"request body larger than {self.max_bytes} bytes; expected at most that",
                           instance=path, slug="body-too-large", limit_bytes=self.max_bytes)  # fmt: skip
        await response(scope, receive, send)
