"""One problem+json (RFC 9457) shape for every error the API returns, declared in the OpenAPI document.

* :class:`Problem` is the body of every error response (``application/problem+json``); extra members
  (``errors``, ``allowed``, ``profile_id``...) may follow the five standard ones.
* :data:`DOMAIN_ERRORS` maps the lower layers' named exceptions to a status and a ``type`` slug, once:
  routers let them propagate. Each entry names its class by dotted path, resolved when the app is
  built (no heavy import at import time).
* :func:`install_error_handlers` registers those mappings, request validation (422, slug
  ``validation``), Starlette's HTTP errors (404, and 405 with its ``Allow`` header) and the catch-all 500.
* :class:`MethodNotAllowedMiddleware` answers 405 with ``Allow`` for a method a path does not declare,
  also where a literal path (``/v1/ads/openrtb``) would otherwise fall through to a templated one
  (``/v1/ads/{collection}``) that declares the method.
* :func:`document_errors` rewrites the app's OpenAPI document so that every operation declares the
  error statuses it can return, each with the :class:`Problem` schema under ``application/problem+json``:
  the statuses a router lists with :func:`problem_responses`, plus 422 for any parameter or body, 400
  and 413 for a body, 401/403/429 for an operation behind an API key, 503 for an area's operation and
  500 everywhere.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://marquee.dev/problems/"
VALIDATION_SLUG = "validation"
"""The ``type`` slug of a request that fails the documented schema (FastAPI's request validation)."""
log = logging.getLogger("marquee.errors")


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error response (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "type": "https://marquee.dev/problems/validation", "title": "Unprocessable Content", "status": 422,
        "detail": "query.limit: Input should be less than or equal to 100", "instance": "/v1/search",
        "errors": [{"loc": ["query", "limit"], "msg": "Input should be less than or equal to 100",
                    "type": "less_than_equal"}]}]})  # fmt: skip

    type: str = Field(description="A URI naming the kind of problem (``about:blank`` when there is none).")
    title: str = Field(description="The HTTP status phrase.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request, naming the value and what was expected.")
    instance: str | None = Field(default=None, description="The request path.")


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request: the body is not strict JSON (NaN, Infinity, duplicate keys, bad UTF-8) "
         "or a parameter cannot be used.",
    401: "No API key, an unknown one or a revoked one.",
    403: "The API key lacks the scope this operation needs.",
    404: "The named resource does not exist.",
    409: "The resource already exists.",
    410: "The resource (e.g. a tracking token) has expired.",
    413: "The request body is larger than the limit.",
    422: "The request does not match the documented schema, or names values the service does not know.",
    429: "Too many requests for this API key; retry after the number of seconds in Retry-After.",
    500: "An unexpected server error (it has been logged).",
    503: "The area serving this operation has not loaded its artifacts yet (see /readyz).",
}  # fmt: skip


class ProblemError(Exception):
    """Raised by services/ code for a client-facing error with a stable ``type`` slug."""

    def __init__(self, status: int, detail: str, *, slug: str = "about:blank",
                 headers: Mapping[str, str] | None = None, **extra: Any) -> None:  # fmt: skip
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.headers = dict(headers or {})
        self.extra = extra


def problem(status: int, detail: str, *, instance: str | None = None, slug: str | None = None,
            headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:  # fmt: skip
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": f"{PROBLEM_BASE}{slug}" if slug and slug != "about:blank" else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


# ------------------------------------------------------------------------------------------ domain errors


@dataclass(frozen=True)
class DomainError:
    """How one domain exception becomes a problem: status, slug and the attributes copied as members."""

    status: int
    slug: str
    members: tuple[str, ...] = ()
    status_of: Callable[[Exception], int] | None = None


def _token_status(exc: Exception) -> int:
    return 410 if getattr(exc, "expired", False) else 403


def _token_slug(exc: Exception) -> str:
    return "tracking-token-expired" if getattr(exc, "expired", False) else "tracking-token-invalid"


DOMAIN_ERRORS: dict[str, DomainError] = {
    # events and profiles
    "data.events.EventStoreError": DomainError(422, "invalid-batch"),
    "data.events.InvalidProfileError": DomainError(422, "invalid-profile"),
    "data.events.ProfileNotFoundError": DomainError(404, "unknown-profile", ("profile_id",)),
    # pages
    "ranking.page.InvalidPageRequestError": DomainError(422, "invalid-page-request"),
    "ranking.page.UnknownTitleError": DomainError(404, "unknown-title", ("title_id",)),
    # search (search.errors: all caused by the request)
    "search.errors.SearchError": DomainError(422, "invalid-filter"),
    "search.errors.EmptyQueryError": DomainError(422, "empty-query"),
    "search.errors.UnknownFilterValueError": DomainError(422, "unknown-filter-value", ("field", "unknown", "allowed")),
    # ads (the OpenRTB endpoint answers its own malformed requests with OpenRTB's 400 instead)
    "ads.errors.InvalidAdRequestError": DomainError(400, "invalid-tag"),
    # the signed token is the tracking call's credential: a forged or malformed one is refused (403)
    "ads.errors.InvalidTrackingTokenError": DomainError(403, "tracking-token-invalid", status_of=_token_status),
    "ads.errors.InvalidInventoryError": DomainError(422, "invalid-inventory", ("problems",)),
    "ads.errors.UnknownEntityError": DomainError(422, "unknown-reference"),
    "data.ads_store.EntityNotFoundError": DomainError(404, "not-found"),
}  # fmt: skip
"""Domain exception (dotted path) -> problem. The most specific class of an exception wins."""


def resolve_domain_errors() -> dict[type[Exception], DomainError]:
    """The classes of :data:`DOMAIN_ERRORS`; a module that cannot be imported is skipped with a warning."""
    out: dict[type[Exception], DomainError] = {}
    for path, mapping in DOMAIN_ERRORS.items():
        module_name, _, name = path.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError) as exc:
            log.warning("domain error %s is not mapped: %s", path, exc)
            continue
        out[cls] = mapping
    return out


def _domain_response(request: Request, exc: Exception, mapping: DomainError) -> JSONResponse:
    status = mapping.status_of(exc) if mapping.status_of else mapping.status
    slug = _token_slug(exc) if mapping.status_of is _token_status else mapping.slug
    members = {m: getattr(exc, m) for m in mapping.members if hasattr(exc, m)}
    return problem(status, str(exc), instance=request.url.path, slug=slug, **members)


# ------------------------------------------------------------------------------------------ handlers


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
    """Map every exception to problem+json and declare the error responses in the OpenAPI document."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(exc.status, exc.detail, instance=request.url.path, slug=exc.slug, headers=exc.headers,
                       **exc.extra)  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return problem(422, detail, instance=request.url.path, slug=VALIDATION_SLUG, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # keep the framework's headers: a 405 must say which methods are allowed (RFC 9110 §15.5.6)
        return problem(exc.status_code, str(exc.detail), instance=request.url.path, headers=exc.headers)

    for cls, mapping in resolve_domain_errors().items():

        async def _domain(request: Request, exc: Exception, mapping: DomainError = mapping) -> JSONResponse:
            return _domain_response(request, exc, mapping)

        app.add_exception_handler(cls, _domain)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "internal error; it has been logged", instance=request.url.path)

    document_errors(app)


# ------------------------------------------------------------------------------------------ OpenAPI


def problem_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the domain error statuses it returns, each a :class:`Problem`.

    ``descriptions`` overrides a status's description, keyed ``s404="..."``.
    """
    return {s: {"description": descriptions.get(f"s{s}", ERROR_DESCRIPTIONS.get(s, HTTPStatus(s).phrase)),
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for s in statuses}  # fmt: skip


OPENAPI_MODELS: dict[str, str] = {"BidRequest": "services.protocols.openrtb.BidRequest"}
"""Component schemas referenced by routes that parse their own body (name -> dotted path of a pydantic
model, imported only when the document is built)."""


def _add_models(schemas: dict[str, Any]) -> None:
    for name, path in OPENAPI_MODELS.items():
        module_name, _, attr = path.rpartition(".")
        model = getattr(importlib.import_module(module_name), attr)
        doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in doc.pop("$defs", {}).items():
            schemas.setdefault(def_name, definition)
        schemas[name] = doc


_UNTYPED_ERROR_SCHEMAS: tuple[dict[str, Any], ...] = ({}, {"$ref": "#/components/schemas/HTTPValidationError"})
HEALTH_TAG = "health"
"""Operations with this tag are not part of an area (no 503 unless they declare it)."""


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _declare(responses: dict[str, Any], status: int) -> None:
    """Declare ``status`` as a problem, or turn an undescribed/FastAPI-default error body into one."""
    entry = responses.setdefault(str(status), {"description": ERROR_DESCRIPTIONS.get(status, HTTPStatus(status).phrase)})
    content = entry.setdefault("content", {})
    json_schema = content.get("application/json", {}).get("schema")
    if "application/json" in content and json_schema in _UNTYPED_ERROR_SCHEMAS:
        del content["application/json"]  # FastAPI's default 422 shape, or a description without a body
        if status == 422:
            entry["description"] = ERROR_DESCRIPTIONS[422]
    if not content or status in (401, 403, 413, 429, 500, 503) or PROBLEM_JSON in content:
        content.update(_problem_content())


def error_statuses(operation: dict[str, Any]) -> list[int]:
    """The generic error statuses an operation can return, from its parameters, body, security and tags."""
    statuses = [500]
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.append(422)
    if operation.get("requestBody"):
        statuses += [400, 413]
    if operation.get("security"):
        statuses += [401, 403, 429]
    if HEALTH_TAG not in operation.get("tags", []):
        statuses.append(503)
    return statuses


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` declare every operation's error responses with the :class:`Problem` schema."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                             summary=app.summary, description=app.description, routes=app.routes,
                             tags=app.openapi_tags, servers=app.servers)  # fmt: skip
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        _add_models(schemas)
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                declared = [int(s) for s in responses if s.isdigit() and int(s) >= 400]
                for status in sorted(set(declared) | set(error_statuses(operation))):
                    _declare(responses, status)
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------------ 405


class MethodNotAllowedMiddleware:
    """405 + ``Allow`` for a method the OpenAPI document does not declare on a documented path, and 422
    for a query parameter the document declares as one value but the request repeats.

    A literal path (``/v1/ads/openrtb``) is judged by its own methods, even where a templated path
    (``/v1/ads/{collection}``) would match it too; among templates the most specific wins. HEAD is
    allowed wherever GET is; paths outside the document (``/metrics``, ``/docs``) pass through.
    """

    def __init__(self, app: ASGIApp, *, openapi: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self._openapi = openapi
        self._table: list[tuple[str, re.Pattern[str], dict[str, frozenset[str]]]] | None = None

    def _build(self) -> list[tuple[str, re.Pattern[str], dict[str, frozenset[str]]]]:
        table = []
        for path, item in self._openapi().get("paths", {}).items():
            methods: dict[str, frozenset[str]] = {}
            for method, op in item.items():
                if method.upper() not in _HTTP_METHODS or not isinstance(op, dict):
                    continue
                methods[method.upper()] = frozenset(
                    p["name"] for p in op.get("parameters", []) if p.get("in") == "query" and not _is_array(p))
            if "GET" in methods:
                methods.setdefault("HEAD", methods["GET"])
            regex, _, _ = compile_path(path)
            table.append((path, regex, methods))
        return table

    def _methods(self, path: str) -> dict[str, frozenset[str]] | None:
        """Declared method -> its single-valued query parameters, for the path's best-matching entries."""
        if self._table is None:
            self._table = self._build()
        entries = [m for p, _, m in self._table if p == path]
        if not entries:
            matched = [(len(p) - sum(len(x) for x in _PARAM.findall(p)), m) for p, regex, m in self._table
                       if regex.match(path)]  # fmt: skip
            if not matched:
                return None
            best = max(literal for literal, _ in matched)  # the most specific template, as the router picks it
            entries = [m for literal, m in matched if literal == best]
        out: dict[str, frozenset[str]] = {}
        for entry in entries:
            for method, scalars in entry.items():
                out[method] = out.get(method, frozenset()) | scalars
        return out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = self._methods(scope["path"])
            if allowed is not None and scope["method"] not in allowed:
                allow = ", ".join(sorted(allowed))
                response = problem(405, f"method {scope['method']} is not allowed here; expected one of {allow}",
                                   instance=scope["path"], slug="method-not-allowed", headers={"Allow": allow})  # fmt: skip
                await response(scope, receive, send)
                return
            if allowed is not None and scope.get("query_string"):
                names = [k for k, _ in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)]
                repeated = sorted({n for n in names if names.count(n) > 1} & allowed[scope["method"]])
                if repeated:
                    response = problem(422, f"query parameter {repeated[0]!r} given {names.count(repeated[0])} times; "
                                       "expected one value", instance=scope["path"], slug=VALIDATION_SLUG,
                                       errors=[{"loc": ["query", n], "msg": "expected one value", "type": "repeated"}
                                               for n in repeated])  # fmt: skip
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _is_array(parameter: dict[str, Any]) -> bool:
    schema = parameter.get("schema", {})
    return schema.get("type") == "array" or any(s.get("type") == "array" for s in schema.get("anyOf", []))


_PARAM = re.compile(r"\{[^}]*\}")
_HTTP_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"})
