"""A real Marquee server in a subprocess (uvicorn on a free loopback port) over built artifacts, and the
headless Debian Chromium the browser tests drive (``make browser`` installs both it and Playwright)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
REQUIRED = ("catalog/titles.parquet", "index/CURRENT", "events.db", "ads.db", "models/ranker/manifest.json")
"""What a default-scope ``make artifacts`` leaves, and the console's screens read."""


def built_artifacts() -> Path:
    """``$MARQUEE_ARTIFACTS_DIR`` or the repository's ``artifacts/``, checked complete (AssertionError naming
    what is missing: ``make artifacts`` builds it, and ``make test`` runs it first)."""
    root = Path(os.environ.get("MARQUEE_ARTIFACTS_DIR") or REPO / "artifacts")
    missing = [name for name in REQUIRED if not (root / name).exists()]
    assert not missing, f"{root} lacks {missing}: run `make artifacts` first"
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(artifacts: Path, scratch: Path, *, timeout_s: float = 300.0) -> Iterator[str]:
    """Serve every area from ``artifacts`` (read only: the two SQLite stores the server writes are copied
    into ``scratch`` first); yields the base URL once ``/readyz`` answers 200, stops the process after."""
    scratch.mkdir(parents=True, exist_ok=True)
    events_db, ads_db = scratch / "events.db", scratch / "ads.db"
    shutil.copyfile(artifacts / "events.db", events_db)
    shutil.copyfile(artifacts / "ads.db", ads_db)
    port = free_port()
    # SQLite copies and the demo keys, whatever the calling environment sets for other tests
    inherited = {k: v for k, v in os.environ.items() if k not in ("MARQUEE_DATABASE_URL", "MARQUEE_API_KEYS")}
    env = dict(inherited, MARQUEE_ARTIFACTS_DIR=str(artifacts), MARQUEE_EVENTS_DB=str(events_db),
               MARQUEE_ADS_DB=str(ads_db), MARQUEE_INDEX_WATCH_S="0", OMP_NUM_THREADS="1",
               TOKENIZERS_PARALLELISM="false")  # fmt: skip
    code = ("import uvicorn; from services.app import create_app; "
            f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')")  # fmt: skip
    log = (scratch / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited with {proc.returncode}: "
                                     f"{(scratch / 'server.log').read_text(errors='replace')[-3000:]}")  # fmt: skip
            try:
                if httpx.get(f"{base}/readyz", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready after {timeout_s:.0f} s")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
