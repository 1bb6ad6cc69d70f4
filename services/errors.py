"""One problem+json (RFC 9457) shape for every error the API returns.

Domain errors from the layers below are mapped here, once: search's (:mod:`search.errors`, all
caused by the request) become 422 with a stable ``type`` slug.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from search.errors import EmptyQueryError, SearchError, UnknownFilterValueError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("marquee.errors")


class ProblemError(Exception):
    """Raised by routers for a client-facing error with a stable ``type`` slug."""

    def __init__(self, status: int, detail: str, *, slug: str = "about:blank", **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.extra = extra


def problem(status: int, detail: str, *, instance: str | None = None, slug: str | None = None,
            **extra: Any) -> JSONResponse:  # fmt: skip
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": f"https://marquee.dev/problems/{slug}" if slug and slug != "about:blank" else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        item = {"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
        ctx = err.get("ctx") or {}
        if "expected" in ctx:
            item["expected"] = str(ctx["expected"])
        out.append(item)
    return out


def search_problem(exc: SearchError) -> tuple[int, str, dict[str, Any]]:
    """``(status, slug, extra members)`` of a search domain error."""
    if isinstance(exc, EmptyQueryError):
        return 422, "empty-query", {}
    if isinstance(exc, UnknownFilterValueError):
        return 422, "unknown-filter-value", {"field": exc.field, "unknown": exc.unknown, "allowed": exc.allowed}
    return 422, "invalid-filter", {}


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to problem+json (domain errors of the layers below included)."""

    @app.exception_handler(SearchError)
    async def _search(request: Request, exc: SearchError) -> JSONResponse:
        status, slug, extra = search_problem(exc)
        return problem(status, str(exc), instance=request.url.path, slug=slug, **extra)

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(exc.status, exc.detail, instance=request.url.path, slug=exc.slug, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return problem(422, detail, instance=request.url.path, slug="validation", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "internal error; it has been logged", instance=request.url.path)
