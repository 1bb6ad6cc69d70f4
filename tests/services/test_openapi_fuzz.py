"""Schemathesis against the app's own OpenAPI document: every operation, every check, every phase.

A real server process (uvicorn over the test deployment of ``world.py``, every area started) is fuzzed
over loopback by the schemathesis CLI with the project's settings (``schemathesis.toml`` beside this
file: every check on by default, no ``--checks`` on the command line so that the file's two stated, scoped
allowances apply: the inventory writes' cross-field 422s, and no negative-data check on the lenient VAST tag). Bounded: ``MARQUEE_FUZZ_EXAMPLES`` examples per
operation (default 25) and ``MARQUEE_FUZZ_MAX_TIME_S`` (default 240 s: fuzzing and stateful phases repeat until it is spent); the run must end with 0 failures. The CLI's JSON report
gives the figures printed at the end (operations, cases, failures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.serve_world import free_port, server_log, start
from tests.services.world import BOTH_KEY

HERE = Path(__file__).resolve().parent
EXAMPLES = int(os.environ.get("MARQUEE_FUZZ_EXAMPLES", "25"))
MAX_TIME_S = int(os.environ.get("MARQUEE_FUZZ_MAX_TIME_S", "240"))


def run_schemathesis(base: str, report: Path, *, examples: int, seed: int) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml"), "run",
               f"{base}/openapi.json", "--phases", "examples,coverage,fuzzing,stateful",
               "--max-examples", str(examples), "--seed", str(seed), "--workers", "1",
               "--max-time", str(MAX_TIME_S), "--request-timeout", "30", "-H", f"X-API-Key: {BOTH_KEY}",
               "--report", "json", "--report-json-path", str(report), "--no-color"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=MAX_TIME_S + 120, check=False)


@pytest.mark.slow
def test_schemathesis_finds_no_failure(tmp_path: Path) -> None:
    port = free_port()
    server = start(tmp_path, port)
    try:
        report = tmp_path / "schemathesis.json"
        result = run_schemathesis(f"http://127.0.0.1:{port}", report, examples=EXAMPLES, seed=20261206)
    finally:
        server.kill()
        server.wait()
    summary = result.stdout[result.stdout.rfind("SUMMARY"):]
    assert report.is_file(), f"{result.stdout[-5000:]}\n{result.stderr[-3000:]}"
    figures = json.loads(report.read_text())
    failures = f"{summary}\n{result.stdout[:12000]}\n{server_log(tmp_path, port)[-3000:]}"
    assert figures["complete"] and figures["operations"]["tested"] == figures["operations"]["total"] >= 25, failures
    assert figures["test_cases"]["generated"] >= 25 * figures["operations"]["total"], failures
    assert figures["test_cases"]["unique_failures"] == 0 and figures["failures"] == [], failures
    assert figures["errors"] == [] and result.returncode == 0, failures
    print(summary)
    print(json.dumps({"operations": figures["operations"]["tested"], "cases": figures["test_cases"]["generated"],
                      "failures": figures["test_cases"]["unique_failures"], "seconds": round(figures["running_time"], 1)}))
