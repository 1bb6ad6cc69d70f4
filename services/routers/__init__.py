"""One router module per product area (see services.app.AREAS)."""
