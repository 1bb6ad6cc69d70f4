"""Prometheus metrics: request counts and latency histograms per route."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


def install_metrics(app: FastAPI) -> CollectorRegistry:
    """Add a middleware recording every request and a ``GET /metrics`` endpoint. Each app has its own registry."""
    registry = CollectorRegistry()
    requests = Counter("marquee_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry)
    latency = Histogram(
        "marquee_http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    )  # fmt: skip

    @app.middleware("http")
    async def _record(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            latency.labels(request.method, path).observe(time.perf_counter() - started)
            requests.labels(request.method, path, str(status)).inc()

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
