"""The FastAPI application: ``create_app()`` with a lifespan that loads heavy state once.

Each product area lives in ``services/routers/<area>.py`` and exposes ``router`` (an APIRouter) and
optionally ``startup(resources)`` (called once, in order, at start) — see ``AREAS``. The console
(plain static files in ``services/console/``) is served at ``/console/``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from services.body_limit import BodyLimitMiddleware
from services.errors import MethodNotAllowedMiddleware, install_error_handlers, problem, problem_responses
from services.metrics import install_metrics
from services.settings import Settings, get_settings
from services.state import Resources

log = logging.getLogger("marquee")

AREAS: tuple[str, ...] = ("search", "events", "pages", "ads")
"""Router modules under services/routers/, started in this order (absent modules are skipped)."""
RAW_JSON_PATHS: tuple[str, ...] = ("/v1/ads/openrtb",)
"""Routes that parse their own JSON body strictly and answer malformed bodies in their own protocol."""
CONSOLE_DIR = Path(__file__).resolve().parent / "console"
"""The console's static files (HTML, CSS, JavaScript), served at /console/."""


def _area_modules() -> list[Any]:
    modules = []
    for area in AREAS:
        try:
            modules.append(importlib.import_module(f"services.routers.{area}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"services.routers.{area}":
                raise
    return modules


def create_app(settings: Settings | None = None, *, areas: tuple[str, ...] | None = None) -> FastAPI:
    """Build the app. ``settings`` defaults to the environment; ``areas`` limits which areas start."""
    settings = settings or get_settings()
    modules = [m for m in _area_modules() if areas is None or m.__name__.rsplit(".", 1)[1] in areas]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = Resources(settings)
        app.state.resources = resources
        for module in modules:
            name = module.__name__.rsplit(".", 1)[1]
            startup = getattr(module, "startup", None)
            try:
                if startup is not None:
                    startup(resources)
                resources.ready[name] = True
            except Exception as exc:  # an area that cannot load keeps the app alive but not ready
                log.exception("area %s failed to start", name)
                resources.ready[name] = False
                resources.errors[name] = f"{type(exc).__name__}: {exc}"
        yield
        resources.close()

    app = FastAPI(
        title="Marquee",
        version="0.1.0",
        summary="Multilingual search, personalized rows and ad selection for a streaming catalog.",
        lifespan=lifespan,
    )
    app.dependency_overrides[get_settings] = lambda: settings
    install_error_handlers(app)
    install_metrics(app)
    app.add_middleware(MethodNotAllowedMiddleware, openapi=lambda: app.openapi())
    # outermost: an oversized or non-strict-JSON body is refused before any route reads it
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, raw_paths=RAW_JSON_PATHS)

    @app.get("/livez", tags=["health"], summary="The process is up.")
    def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Every area has loaded its artifacts.", response_model=None,
             responses=problem_responses(503))
    def readyz(request: Request) -> JSONResponse | dict[str, Any]:
        resources: Resources | None = getattr(request.app.state, "resources", None)
        if resources is None or not resources.ready or not all(resources.ready.values()):
            errors = resources.errors if resources else {}
            return problem(503, f"not ready: {errors or 'starting'}", instance="/readyz", slug="not-ready")
        return {"status": "ready", "areas": resources.ready}

    @app.get("/v1/noop", tags=["health"], summary="Does nothing: the baseline for latency benchmarks.")
    def noop() -> dict[str, bool]:
        return {"ok": True}

    for module in modules:
        app.include_router(module.router)
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    _refine_openapi_when_started(app, modules)
    return app


def _refine_openapi_when_started(app: FastAPI, modules: list[Any]) -> None:
    """Let each area write what it loaded into the document (``refine_openapi(schema, resources)``, e.g.
    search's filter values); before the lifespan has run the document is served unrefined and not cached."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base()
        resources: Resources | None = getattr(app.state, "resources", None)
        if resources is None:
            app.openapi_schema = None
            return schema
        for module in modules:
            refine = getattr(module, "refine_openapi", None)
            if refine is not None:
                refine(schema, resources)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def get_resources(request: Request) -> Resources:
    """Dependency: the shared heavy state."""
    return request.app.state.resources  # type: ignore[no-any-return]


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
