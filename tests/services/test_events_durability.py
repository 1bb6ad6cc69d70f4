"""Durability under a real process kill: every acknowledged event survives SIGKILL of the server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from data.events import open_event_store
from tests.features.synthetic import make_world, write_catalog

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready")


@pytest.mark.slow
def test_sigkill_mid_stream_loses_no_acknowledged_event(tmp_path: Path) -> None:
    world = make_world(n_titles=30, n_users=4, events_per_user=5, dim=8)
    write_catalog(world, tmp_path / "artifacts" / "catalog")
    db = tmp_path / "events.db"
    port = _free_port()
    env = dict(os.environ, MARQUEE_ARTIFACTS_DIR=str(tmp_path / "artifacts"), MARQUEE_EVENTS_DB=str(db),
               MARQUEE_CACHE_DIR=str(tmp_path / "cache"), OMP_NUM_THREADS="1")  # fmt: skip
    code = ("import uvicorn; from services.app import create_app; "
            f"uvicorn.run(create_app(areas=('events',)), host='127.0.0.1', port={port}, log_level='warning')")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    acknowledged: list[str] = []
    sent: list[str] = []
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(base_url=base, timeout=10.0) as http:
            batch = 0
            while not stop.is_set():
                ids = [f"w{worker}-b{batch}-{i}" for i in range(50)]
                sent.extend(ids)
                body = {"events": [{"event_id": e, "profile_id": "movielens:1", "title_id": "tmdb:1001",
                                    "timestamp": 1.7e9 + i, "kind": "play"} for i, e in enumerate(ids)]}  # fmt: skip
                try:
                    r = http.post("/v1/events", json=body)
                except httpx.HTTPError:
                    return  # the server died under us: this batch was never acknowledged
                if r.status_code == 200:
                    acknowledged.extend(x["event_id"] for x in r.json()["results"] if x["status"] in ("stored", "duplicate"))
                batch += 1

    try:
        _wait_ready(base, proc)
        workers = [threading.Thread(target=client, args=(w,)) for w in range(3)]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 1500 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # no shutdown hooks, no flush: only what is on disk survives
        proc.wait(timeout=10)
        stop.set()
        for w in workers:
            w.join(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(acknowledged) >= 500, "the load did not run long enough to mean anything"
    assert len(sent) > len(acknowledged), "the kill should land while batches are in flight"
    store = open_event_store(db)
    stored = store.has_events(acknowledged)
    store.close()
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged events were lost, e.g. {sorted(missing)[:3]}"
