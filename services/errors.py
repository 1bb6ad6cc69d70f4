"""One problem+json (RFC 9457) shape for every error the API returns."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to problem+json; domain exceptions are mapped by the routers' own handlers."""

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
