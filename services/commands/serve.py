"""``marquee serve``: run the API with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli_groups import app
from services.settings import get_settings


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: settings.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings.port).")] = None,
) -> None:
    """Start the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from services.app import create_app

    settings = get_settings()
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port, log_level="info")
