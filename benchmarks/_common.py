"""Shared helpers of the benchmark scripts: hardware description, percentiles, one JSON result format.

Every benchmark prints ONE JSON object as its last stdout line and writes the same object to
``benchmarks/results/<name>.json``::

    {"benchmark": ..., "hardware": {...}, "config": {...}, "results": {...}, "ratios": {...}}
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"


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
