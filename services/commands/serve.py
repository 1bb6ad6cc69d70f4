"""``marquee serve``: run the API with uvicorn, in one process or ``--workers N`` processes.

Several processes (``--workers N`` behind one port, or several ``marquee serve`` replicas on different
ports or machines) agree because everything they share lives in the database: events, profiles, ad
budgets, frequency caps, reservations and tracking idempotency (``MARQUEE_DATABASE_URL`` for
PostgreSQL; by default one SQLite file in WAL mode, which processes on one machine share). No server
is needed for the default.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from services.cli_groups import app
from services.settings import get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

_AREAS_ENV = "MARQUEE_SERVE_AREAS"


def _areas(spec: str | None) -> tuple[str, ...] | None:
    return tuple(a.strip() for a in spec.split(",") if a.strip()) if spec else None


def worker_app() -> FastAPI:
    """The app one worker process builds (uvicorn's ``--workers`` needs an import string)."""
    from services.app import create_app

    return create_app(get_settings(), areas=_areas(os.environ.get(_AREAS_ENV)))


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: settings.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings.port).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes sharing the port; they share state "
                                                     "through the database (MARQUEE_DATABASE_URL or the SQLite files).")] = 1,
    areas: Annotated[str | None, typer.Option(help="Comma-separated areas to start (e.g. 'events,ads'); "
                                                   "default: all.")] = None,
) -> None:
    """Start the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    settings = get_settings()
    bind, at = host or settings.host, port or settings.port
    if workers == 1:
        from services.app import create_app

        uvicorn.run(create_app(settings, areas=_areas(areas)), host=bind, port=at, log_level="info")
        return
    if areas:
        os.environ[_AREAS_ENV] = areas
    uvicorn.run("services.commands.serve:worker_app", factory=True, workers=workers, host=bind, port=at,
                log_level="info")  # fmt: skip
