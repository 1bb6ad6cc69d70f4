"""Serve the test deployment of :mod:`tests.services.world` with uvicorn, in its own process.

``python -m tests.services.serve_world ROOT PORT [--areas a,b] [--no-index] [--rate-limit EXPR]`` builds
the world under ROOT unless ROOT/artifacts exists, then serves it on 127.0.0.1:PORT until killed. Tests
that need a real server process (schemathesis over HTTP, kill -9) start it with :func:`start`.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(root: Path, port: int, *args: str, timeout: float = 120.0) -> subprocess.Popen[bytes]:
    """Start the server and wait until /readyz answers 200 (AssertionError with its stderr otherwise)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    log = open(root / f"server-{port}.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen([sys.executable, "-m", "tests.services.serve_world", str(root), str(port), *args],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {server_log(root, port)[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"server not ready after {timeout} s: {server_log(root, port)[-3000:]}")


def server_log(root: Path, port: int) -> str:
    path = root / f"server-{port}.log"
    return path.read_text(errors="replace") if path.is_file() else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("--areas", default="")
    parser.add_argument("--no-index", action="store_true")
    parser.add_argument("--rate-limit", default="100000/minute")
    args = parser.parse_args()

    import uvicorn

    import services.resources as shared
    from services.app import create_app
    from services.settings import Settings
    from tests.search.search_synthetic import ConceptEncoder
    from tests.services.world import API_KEYS, build_world

    overrides = {"api_rate_limit": args.rate_limit}
    if (args.root / "artifacts").is_dir():
        settings = Settings(artifacts_dir=args.root / "artifacts", cache_dir=args.root / "cache",
                            data_dir=args.root / "none", api_keys=API_KEYS, index_watch_s=0, **overrides)  # fmt: skip
    else:
        settings = build_world(args.root, index=not args.no_index, **overrides)
    shared.encoder = lambda resources: resources.get("encoder", ConceptEncoder)  # type: ignore[assignment]
    areas = tuple(a for a in args.areas.split(",") if a) or None
    uvicorn.run(create_app(settings, areas=areas), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
