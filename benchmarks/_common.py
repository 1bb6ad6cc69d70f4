"""Shared helpers of the benchmark scripts: hardware description, percentiles, one JSON result format.

Every benchmark prints ONE JSON object as its last stdout line and writes the same object to
``benchmarks/results/<name>.json``::

    {"benchmark": ..., "hardware": {...}, "config": {...}, "results": {...}, "ratios": {...}}
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]


def hardware() -> dict[str, Any]:
    """CPU model, logical CPUs usable by this process, memory, Python, torch threads when torch is loaded."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info: dict[str, Any] = {"cpu": cpu, "logical_cpus": usable, "memory_gib": memory_gib,
                            "python": platform.python_version(), "platform": platform.platform()}  # fmt: skip
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = bool(torch.cuda.is_available())
    return info


def percentiles(values_s: Sequence[float], points: Sequence[float] = (50, 90, 99)) -> dict[str, float]:
    """Milliseconds at the given percentiles of latencies given in seconds, plus mean and count."""
    arr = np.asarray(values_s, dtype=np.float64) * 1000.0
    out = {
        f"p{int(p) if float(p).is_integer() else p}_ms": round(float(np.percentile(arr, p)), 3)
        for p in points
    }
    out["mean_ms"] = round(float(arr.mean()), 3)
    out["count"] = int(len(arr))
    return out


def write_result(name: str, config: dict[str, Any], results: dict[str, Any], ratios: dict[str, Any],
                 *, hardware_info: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Write ``benchmarks/results/<name>.json`` and print the object as the last stdout line."""
    payload = {"benchmark": name, "hardware": hardware_info or hardware(), "config": config, "results": results,
               "ratios": ratios, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(payload), flush=True)
    return payload


# ------------------------------------------------------------------------------ HTTP benchmarks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Poll ``/readyz`` until 200; fail fast when the server exits or reports a load error."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            response = httpx.get(f"{base}/readyz", timeout=2.0)
            if response.status_code == 200:
                return
            if response.status_code == 503 and "starting" not in response.text:
                raise RuntimeError(f"server not ready: {response.text}")
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server not ready after {timeout_s} s")


@contextmanager
def area_server(areas: Sequence[str], *, env: Mapping[str, str] | None = None,
                timeout_s: float = 600.0) -> Iterator[tuple[str, float]]:  # fmt: skip
    """Run ``create_app(areas=...)`` under uvicorn in a child process (settings from ``env`` over this
    process's environment); yields ``(base_url, startup_s)`` once ready and stops the server after."""
    port = free_port()
    code = ("import uvicorn; from services.app import create_app; "
            f"uvicorn.run(create_app(areas={tuple(areas)!r}), host='127.0.0.1', port={port}, "
            "log_level='warning', access_log=False)")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        wait_ready(base, proc, timeout_s)
        yield base, round(time.perf_counter() - started, 1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def http_latencies(base: str, paths: Sequence[str], concurrency: int) -> tuple[list[float], int, float]:
    """One GET per path, spread round-robin over ``concurrency`` threads with a keep-alive connection
    each: (latencies in s, responses other than 200, wall seconds)."""
    import httpx

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    chunks = [paths[i::concurrency] for i in range(concurrency)]

    def worker(index: int) -> None:
        nonlocal errors
        local: list[float] = []
        bad = 0
        with httpx.Client(base_url=base, timeout=60.0) as client:
            for path in chunks[index]:
                started = time.perf_counter()
                response = client.get(path)
                local.append(time.perf_counter() - started)
                bad += response.status_code != 200
        with lock:
            latencies.extend(local)
            errors += bad

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return latencies, errors, time.perf_counter() - started


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh schema on the PostgreSQL server at ``url``, dropped afterwards;
    RuntimeError naming why when psycopg or the server is missing (``make postgres`` starts one)."""
    import secrets

    try:
        import psycopg
    except ImportError as exc:
        raise RuntimeError("psycopg is not installed (pip install -e '.[postgres]')") from exc
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        raise RuntimeError(f"no PostgreSQL server at {url}: start one with `make postgres` ({str(exc).strip()[:160]})") from exc
    schema = f"bench_{secrets.token_hex(5)}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()
